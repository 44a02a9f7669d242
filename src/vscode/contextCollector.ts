// Feeds the extra-context ring from what the user does: a chunk around the last edit when a file is saved, around the
// cursor of the editor being left, and the clipboard when it changes. When the ring changed and the user has paused,
// it warms the engine's KV cache with the new layout so the next keystroke does not pay for it.
import * as vscode from 'vscode';
import type { ExtraContextRing } from '../core/completion/extraContext';
import type { CompletionPipeline } from '../core/completion/pipeline';
import { relativePath, toInput } from './inlineCompletions';
import { errorMessage } from '../core/errors';

export interface CollectorDeps {
  readonly ring: ExtraContextRing;
  readonly pipeline: CompletionPipeline;
  readonly enabled: () => boolean;
  readonly log: vscode.LogOutputChannel;
}

const IDLE_MS = 3000;
const TICK_MS = 1000;
const MIN_CLIPBOARD_LINES = 3;
const SCHEMES = new Set(['file', 'untitled', 'vscode-remote']);

export class ContextCollector implements vscode.Disposable {
  private readonly disposables: vscode.Disposable[] = [];
  private readonly lastEditLine = new Map<string, number>();
  private previous: { document: vscode.TextDocument; line: number } | undefined;
  // A monotonic clock: a wall clock stepped back would hold off the idle warm-up for as long as it moved.
  private lastActivity = performance.now();
  private warmedRevision = -1;
  private clipboard = '';
  private readonly timer: NodeJS.Timeout;
  private ticking = false;

  constructor(private readonly deps: CollectorDeps) {
    this.disposables.push(
      vscode.workspace.onDidChangeTextDocument((e) => {
        const change = e.contentChanges[0];
        if (change) this.lastEditLine.set(e.document.uri.toString(), change.range.start.line);
        this.lastActivity = performance.now();
      }),
      vscode.workspace.onDidSaveTextDocument((doc) => this.addAround(doc, this.lastEditLine.get(doc.uri.toString()) ?? 0)),
      vscode.window.onDidChangeActiveTextEditor((editor) => {
        if (this.previous) this.addAround(this.previous.document, this.previous.line);
        this.previous = editor ? { document: editor.document, line: editor.selection.active.line } : undefined;
      }),
      vscode.window.onDidChangeTextEditorSelection((e) => {
        const primary = e.selections[0]; // VS Code always gives an editor one selection or more
        if (e.textEditor === vscode.window.activeTextEditor && primary)
          this.previous = { document: e.textEditor.document, line: primary.active.line };
      }),
      vscode.workspace.onDidCloseTextDocument((doc) => this.lastEditLine.delete(doc.uri.toString())),
    );
    this.timer = setInterval(() => void this.tick(), TICK_MS);
  }

  dispose(): void {
    clearInterval(this.timer);
    for (const d of this.disposables) d.dispose();
  }

  private addAround(document: vscode.TextDocument, line: number): void {
    if (!SCHEMES.has(document.uri.scheme) || !this.deps.enabled()) return;
    const first = Math.max(0, line - 64);
    const last = Math.min(document.lineCount - 1, line + 64);
    const lines: string[] = [];
    for (let i = first; i <= last; i++) lines.push(document.lineAt(i).text);
    this.deps.ring.addAround(relativePath(document.uri), lines, line - first);
  }

  /** Once a second: pick up a new clipboard, and warm the engine when the ring changed and the user is idle. */
  private async tick(): Promise<void> {
    if (this.ticking || !this.deps.enabled() || !vscode.window.state.focused) return;
    this.ticking = true;
    try {
      // In a browser (code-server, vscode.dev) reading the clipboard can raise a permission prompt: desktop only.
      const text = vscode.env.uiKind === vscode.UIKind.Desktop ? await vscode.env.clipboard.readText() : this.clipboard;
      if (text !== this.clipboard) {
        this.clipboard = text;
        if (text.split('\n').length >= MIN_CLIPBOARD_LINES) this.deps.ring.add({ path: 'clipboard', text });
      }
      const editor = vscode.window.activeTextEditor;
      // Warm only a model already in use: loading one is the first completion's job, not an idle timer's.
      if (this.deps.pipeline.stats.engineCalls === 0) return;
      if (!editor || performance.now() - this.lastActivity < IDLE_MS || this.warmedRevision === this.deps.ring.revision) return;
      if (!SCHEMES.has(editor.document.uri.scheme)) return;
      this.warmedRevision = this.deps.ring.revision;
      await this.deps.pipeline.warmUp(toInput(editor.document, editor.selection.active, false));
    } catch (e) {
      this.deps.log.debug(`context collector: ${errorMessage(e)}`);
    } finally {
      this.ticking = false;
    }
  }
}
