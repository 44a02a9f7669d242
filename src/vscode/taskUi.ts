// How the task runner (src/core/tasks/runner.ts) shows and asks things in the editor: progress with a cancel button,
// warnings, the second yes for a secrets file, "Run Locally" after a cloud failure; and the result documents.
import * as vscode from 'vscode';
import { formatGrams } from '../core/carbon/dashboardData';
import type { TaskOutcome } from '../core/tasks/calls';
import type { TaskUi } from '../core/tasks/runner';
import { withAbortSignal } from './cancellation';

export const editorTaskUi: TaskUi = {
  progress: (title, work) =>
    Promise.resolve(
      vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `Verdant: ${title}`, cancellable: true },
        (progress, token) => withAbortSignal(token, (signal) => work(signal, (chars) => progress.report({ message: `${chars} characters` }))),
      ),
    ),
  warn: (message) => void vscode.window.showWarningMessage(`Verdant: ${message}`),
  error: (message) => void vscode.window.showErrorMessage(`Verdant: ${message}`),
  confirmSecretsFile: async (reason, host) => {
    const yes = 'Send Redacted';
    return (
      (await vscode.window.showWarningMessage(`Verdant: ${reason}. Send it to ${host} with every value redacted?`, { modal: true }, yes)) === yes
    );
  },
  offerLocal: async (message) => (await vscode.window.showErrorMessage(`Verdant: ${message}`, 'Run Locally')) === 'Run Locally',
};

/** "Route: local (local: 0.2 g vs cloud 0.9 g, confidence 0.81) · model m · 0.2 g CO2e" */
export function routeLine(o: TaskOutcome): string {
  return `Route: ${o.route} (${o.reason}) · model ${o.model}${o.grams !== undefined ? ` · ${formatGrams(o.grams)} CO2e` : ''}`;
}

/** A result as a markdown document beside the editor, its route line on top. */
export async function showMarkdown(title: string, o: TaskOutcome): Promise<void> {
  const header = `<!-- Verdant -->\n# ${title}\n\n*${routeLine(o)}*\n\n`;
  const doc = await vscode.workspace.openTextDocument({ language: 'markdown', content: header + o.text });
  await vscode.window.showTextDocument(doc, { preview: false, viewColumn: vscode.ViewColumn.Beside });
}

/** Appends streamed text to a document, batched so a fast stream does not queue an edit per token. */
export function streamInto(doc: vscode.TextDocument): { write: (text: string) => void; flush: () => Promise<void> } {
  let pending = '';
  let chain: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    clearTimeout(timer);
    timer = undefined;
    const text = pending;
    pending = '';
    if (text) chain = chain.then(() => appendTo(doc, text));
    return chain;
  };
  return {
    write: (text) => {
      pending += text;
      timer ??= setTimeout(() => void flush(), 80);
    },
    flush,
  };
}

export async function appendTo(doc: vscode.TextDocument, text: string): Promise<void> {
  const edit = new vscode.WorkspaceEdit();
  edit.insert(doc.uri, doc.positionAt(doc.getText().length), text);
  await vscode.workspace.applyEdit(edit);
}
