// Task results (Summarize File, Explain, Ask) as read-only documents with a real title (#22: an untitled document named
// "<!-- Verdant --> Untitled-1" asked to be saved when closed). A content provider serves each result from memory under
// verdant-result:/<n>/<title>.md, so the tab shows the title, the editor is read-only and closing asks nothing; an
// answer that streams in is appended and VS Code re-reads the document.
import * as vscode from 'vscode';

export const RESULT_SCHEME = 'verdant-result';
/** Results kept for reopening; the oldest goes first beyond this. */
const KEPT = 50;

export interface ResultDocument {
  readonly uri: vscode.Uri;
  /** Adds text at the end; VS Code is told in batches, so a fast stream does not re-read the document per token. */
  append(text: string): void;
  /** Tells VS Code about what was appended and waits until the document shows it. */
  flush(): Promise<void>;
}

export class ResultDocuments implements vscode.Disposable {
  private readonly contents = new Map<string, string>();
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  private readonly registration: vscode.Disposable;
  private next = 1;

  constructor() {
    this.registration = vscode.workspace.registerTextDocumentContentProvider(RESULT_SCHEME, {
      onDidChange: this.changed.event,
      provideTextDocumentContent: (uri) => this.contents.get(uri.toString()) ?? '',
    });
  }

  /** Opens a read-only markdown result titled `title` beside the editor, in one editor group. */
  async open(title: string, text: string): Promise<ResultDocument> {
    const uri = vscode.Uri.from({ scheme: RESULT_SCHEME, path: `/${this.next++}/${fileName(title)}.md` });
    this.contents.set(uri.toString(), text);
    while (this.contents.size > KEPT) this.contents.delete(this.contents.keys().next().value!);
    const doc = await vscode.workspace.openTextDocument(uri);
    await vscode.window.showTextDocument(doc, { preview: false, viewColumn: vscode.ViewColumn.Beside });
    let timer: NodeJS.Timeout | undefined;
    const key = uri.toString();
    const flush = async () => {
      clearTimeout(timer);
      timer = undefined;
      const want = this.contents.get(key) ?? '';
      // A result the user closed meanwhile is not re-read: nothing to wait for.
      if (doc.isClosed || doc.getText() === want) return;
      const shown = new Promise<void>((resolve) => {
        const subs = [
          vscode.workspace.onDidChangeTextDocument((e) => {
            if (e.document.uri.toString() === key && e.document.getText() === want) done();
          }),
          vscode.workspace.onDidCloseTextDocument((d) => {
            if (d.uri.toString() === key) done();
          }),
        ];
        const done = () => {
          for (const s of subs) s.dispose();
          resolve();
        };
      });
      this.changed.fire(uri);
      await shown;
    };
    return {
      uri,
      append: (more) => {
        this.contents.set(key, (this.contents.get(key) ?? '') + more);
        timer ??= setTimeout(() => void flush(), 80);
      },
      flush,
    };
  }

  dispose(): void {
    this.registration.dispose();
    this.changed.dispose();
  }
}

/** The title as a file name a tab can show: no path separators or characters file systems refuse. */
function fileName(title: string): string {
  return (
    title
      .replace(/[\\/:*?"<>|\u0000-\u001f]+/g, ' ')
      .replace(/\s+/g, ' ')
      .trim()
      .slice(0, 100) || 'Verdant result'
  );
}
