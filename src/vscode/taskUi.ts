// How the task runner (src/core/tasks/runner.ts) shows and asks things in the editor: progress with a cancel button,
// warnings, the second yes for a secrets file, "Run Locally" after a cloud failure; and the route line of a result
// (the result documents themselves: resultDocuments.ts).
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

/**
 * "Route: local · model m · 0.2 g CO2e recorded · decided on the estimates: local: 0.2 g vs cloud 0.9 g, confidence
 * 0.81": what ran and what the ledger recorded first, then the router's reason, its figures named as estimates (#22:
 * two unlabelled gram figures, in nested parentheses, read as a contradiction).
 */
export function routeLine(o: TaskOutcome): string {
  const recorded = o.grams !== undefined ? ` · ${formatGrams(o.grams)} CO2e recorded` : '';
  return `Route: ${o.route} · model ${o.model}${recorded} · decided on the estimates: ${o.reason}`;
}
