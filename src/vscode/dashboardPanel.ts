// The carbon dashboard webview panel. It owns no data: the caller passes getData (the ledger and intensity source
// behind it) and runCommand, and keeps the one instance per window (no module state here).
//
// Messages, webview -> extension: { type: 'ready' } once the script runs (and again after every reload: the
// context is not retained while hidden), { type: 'command', command } for a button, { type: 'rendered',
// generatedAt, error? } after each message drawn (generatedAt null: an error was shown; error: drawing failed).
// Extension -> webview: { type: 'data', data } and { type: 'error', message } when the data could not be read.
import * as vscode from 'vscode';
import type { DashboardData } from '../core/carbon/dashboardData';
import { dashboardHtml, newNonce } from './dashboardHtml';
import { errorMessage } from '../core/errors';

export const DASHBOARD_VIEW_TYPE = 'verdant.dashboard';

/** The only commands the page may ask for; anything else is logged and dropped. */
export const DASHBOARD_COMMANDS: readonly string[] = ['verdant.setGridZone', 'verdant.exportCarbonReport', 'verdant.refreshCarbon'];

export interface DashboardDeps {
  readonly extensionUri: vscode.Uri;
  readonly getData: () => Promise<DashboardData>;
  readonly runCommand: (id: string) => Thenable<unknown>;
  readonly log: vscode.LogOutputChannel;
}

/** What the page reports after drawing: the data's generatedAt, or null with the error when it could not draw. */
export interface RenderReport {
  readonly generatedAt: string | null;
  readonly error?: string;
}

export class DashboardPanel implements vscode.Disposable {
  readonly panel: vscode.WebviewPanel;
  /** Resolves when the page first draws posted data (e2e tests wait on it); rejects if closed before. */
  readonly rendered: Promise<RenderReport>;
  private readonly renderEmitter = new vscode.EventEmitter<RenderReport>();
  /** Every drawing after a data message. */
  readonly onDidRender = this.renderEmitter.event;
  private readonly disposables: vscode.Disposable[] = [this.renderEmitter];
  private disposed = false;
  private wasVisible = true;
  private posting: Promise<void> | undefined;
  private postAgain = false;

  static show(deps: DashboardDeps, existing?: DashboardPanel): DashboardPanel {
    if (existing && !existing.disposed) {
      existing.panel.reveal();
      void existing.refresh();
      return existing;
    }
    const media = vscode.Uri.joinPath(deps.extensionUri, 'media');
    const panel = vscode.window.createWebviewPanel(DASHBOARD_VIEW_TYPE, 'Verdant Carbon', vscode.ViewColumn.Active, {
      enableScripts: true,
      localResourceRoots: [media],
      retainContextWhenHidden: false,
    });
    return new DashboardPanel(panel, media, deps);
  }

  private constructor(
    panel: vscode.WebviewPanel,
    media: vscode.Uri,
    private readonly deps: DashboardDeps,
  ) {
    this.panel = panel;
    panel.iconPath = vscode.Uri.joinPath(media, 'verdant.png');
    const webview = panel.webview;
    webview.html = dashboardHtml({
      cspSource: webview.cspSource,
      nonce: newNonce(),
      scriptUri: webview.asWebviewUri(vscode.Uri.joinPath(media, 'dashboard.js')).toString(),
      styleUri: webview.asWebviewUri(vscode.Uri.joinPath(media, 'dashboard.css')).toString(),
      title: 'Verdant Carbon',
    });
    this.rendered = new Promise<RenderReport>((resolve, reject) => {
      const first = this.onDidRender((r) => {
        first.dispose();
        resolve(r);
      });
      const closed = panel.onDidDispose(() => {
        closed.dispose();
        reject(new Error('The carbon dashboard was closed before it rendered.'));
      });
      this.disposables.push(first, closed);
    });
    this.rendered.catch(() => undefined); // awaiting it is optional; a close must not be an unhandled rejection
    this.disposables.push(
      webview.onDidReceiveMessage((m: unknown) => this.onMessage(m)),
      panel.onDidChangeViewState(({ webviewPanel }) => {
        // Hidden panels do no work; catch up when shown again.
        if (webviewPanel.visible && !this.wasVisible) void this.refresh();
        this.wasVisible = webviewPanel.visible;
      }),
      panel.onDidDispose(() => this.dispose()),
    );
  }

  get html(): string {
    return this.panel.webview.html;
  }

  /** Runs when the user closes the panel (or dispose() is called): the caller forgets its instance. */
  onDidDispose(listener: () => void): vscode.Disposable {
    return this.panel.onDidDispose(listener);
  }

  /** Re-reads and posts the data; nothing while the panel is hidden. */
  refresh(): Promise<void> {
    if (this.disposed || !this.panel.visible) return Promise.resolve();
    return this.post();
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.panel.dispose();
    for (const d of this.disposables.splice(0)) d.dispose();
  }

  private onMessage(m: unknown): void {
    if (typeof m !== 'object' || m === null) return;
    const msg = m as { type?: unknown; command?: unknown; generatedAt?: unknown; error?: unknown };
    if (msg.type === 'ready') {
      void this.post();
    } else if (msg.type === 'command') {
      if (typeof msg.command === 'string' && DASHBOARD_COMMANDS.includes(msg.command)) {
        this.deps
          .runCommand(msg.command)
          .then(undefined, (err: unknown) => this.deps.log.error(`Dashboard command ${msg.command} failed: ${errorMessage(err)}`));
      } else {
        this.deps.log.warn(`Dashboard asked for a command that is not allowed: ${String(msg.command).slice(0, 100)}`);
      }
    } else if (msg.type === 'rendered') {
      const report: RenderReport = {
        generatedAt: typeof msg.generatedAt === 'string' ? msg.generatedAt : null,
        ...(typeof msg.error === 'string' ? { error: msg.error } : {}),
      };
      if (report.error) this.deps.log.error(`The carbon dashboard could not draw: ${report.error}`);
      this.renderEmitter.fire(report);
    }
  }

  /** One read-and-post at a time; requests that arrive meanwhile fold into one more round after it. */
  private post(): Promise<void> {
    if (this.posting) {
      this.postAgain = true;
      return this.posting;
    }
    this.posting = (async () => {
      do {
        this.postAgain = false;
        await this.postOnce();
      } while (this.postAgain && !this.disposed);
    })().finally(() => {
      this.posting = undefined;
    });
    return this.posting;
  }

  private async postOnce(): Promise<void> {
    let message: { type: 'data'; data: DashboardData } | { type: 'error'; message: string };
    try {
      message = { type: 'data', data: await this.deps.getData() };
    } catch (err) {
      this.deps.log.error(`Could not read the carbon dashboard data: ${errorMessage(err)}`);
      message = { type: 'error', message: `Could not read the carbon data: ${errorMessage(err)}` };
    }
    if (this.disposed) return;
    // Fails only when the webview went away meanwhile; its next 'ready' asks again.
    await this.panel.webview
      .postMessage(message)
      .then(undefined, (err: unknown) => this.deps.log.warn(`Dashboard post failed: ${errorMessage(err)}`));
  }
}
