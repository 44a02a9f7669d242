// The inline-completion provider: turns the document and cursor into a CompletionInput, asks the pipeline (which
// owns caching, debounce, reuse and cancellation), and hands VS Code one item. Accepting runs an item command so the
// pipeline learns what was accepted; accept-word / accept-line are VS Code's own commands.
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { Config } from '../config';
import { cutWindows, type CompletionInput } from '../core/completion/input';
import type { CompletionPipeline } from '../core/completion/pipeline';
import { EngineError } from '../engine/errors';
import { abortSignalOf } from './cancellation';

export const ACCEPTED_COMMAND = 'verdant.completionAccepted';

export interface ProviderDeps {
  readonly config: Config;
  readonly pipeline: CompletionPipeline;
  readonly log: vscode.LogOutputChannel;
  /** Told about engine errors (no model, worker down…) so the status bar and a notification can say so. */
  readonly onError: (error: EngineError | Error) => void;
}

/** Schemes worth completing: files and untitled buffers, not output panes, diff views' originals or the SCM box. */
const SCHEMES = new Set(['file', 'untitled', 'vscode-remote', 'vscode-userdata']);

export class InlineCompletionProvider implements vscode.InlineCompletionItemProvider {
  constructor(private readonly deps: ProviderDeps) {}

  async provideInlineCompletionItems(
    document: vscode.TextDocument,
    position: vscode.Position,
    context: vscode.InlineCompletionContext,
    token: vscode.CancellationToken,
  ): Promise<vscode.InlineCompletionItem[] | undefined> {
    const manual = context.triggerKind === vscode.InlineCompletionTriggerKind.Invoke;
    if (!this.wanted(document, manual)) return undefined;
    // While the suggest widget is open, its choice decides what is typed next: do not compete (unless asked), and
    // stop a request already running for this document rather than spend energy on a suggestion nobody sees.
    if (context.selectedCompletionInfo && !manual) {
      this.deps.pipeline.yieldToSuggestWidget(document.uri.toString());
      return undefined;
    }
    const input = toInput(document, position, manual);
    const cancel = abortSignalOf(token);
    try {
      const suggestion = await this.deps.pipeline.complete(input, cancel.signal);
      if (!suggestion || token.isCancellationRequested) return undefined;
      return [
        new vscode.InlineCompletionItem(suggestion.text, new vscode.Range(position, position), {
          command: ACCEPTED_COMMAND,
          title: 'Accepted',
          arguments: [suggestion.id],
        }),
      ];
    } catch (e) {
      this.deps.onError(e instanceof Error ? e : new Error(String(e)));
      return undefined;
    } finally {
      cancel.dispose();
    }
  }

  private wanted(document: vscode.TextDocument, manual: boolean): boolean {
    const s = this.deps.config.settings;
    if (!s.enable || (!s.completions.enable && !manual)) return false;
    if (!SCHEMES.has(document.uri.scheme)) return false;
    if (s.completions.disabledLanguages.includes(document.languageId)) return false;
    return !s.completions.exclude.some((glob) => vscode.languages.match({ pattern: glob }, document) > 0);
  }
}

export function relativePath(uri: vscode.Uri): string {
  const folder = vscode.workspace.getWorkspaceFolder(uri);
  return folder ? path.posix.relative(folder.uri.path, uri.path) : path.posix.basename(uri.path) || uri.toString();
}

/** Reads only the window's lines (not the whole document) on every keystroke. */
export function toInput(document: vscode.TextDocument, position: vscode.Position, manual: boolean): CompletionInput {
  const first = Math.max(0, position.line - 256);
  const last = Math.min(document.lineCount - 1, position.line + 64);
  const lines: string[] = [];
  for (let i = first; i <= last; i++) lines.push(document.lineAt(i).text);
  const eol = document.eol === vscode.EndOfLine.CRLF ? '\r\n' : '\n';
  const w = cutWindows(lines, position.line - first, position.character, eol, { prefixLines: 256, suffixLines: 64, firstLine: first });
  return { documentKey: document.uri.toString(), languageId: document.languageId, filePath: relativePath(document.uri), manual, ...w };
}
