// Keeps the status bar true: recomputes the StatusView when settings, workspace trust or the stored key change.
import * as vscode from 'vscode';
import type { Config } from '../config';
import { describeStatus, type StatusView } from '../core/status';
import type { CloudKeyStore } from './secrets';
import type { StatusBar } from './statusBar';

export interface StatusDeps {
  readonly version: string;
  readonly config: Config;
  readonly keys: CloudKeyStore;
  readonly bar: StatusBar;
  readonly log: vscode.LogOutputChannel;
}

export class StatusService implements vscode.Disposable {
  private view: StatusView;
  private hasCloudKey = false;
  private readonly subscriptions: vscode.Disposable[] = [];
  private generation = 0;

  constructor(private readonly deps: StatusDeps) {
    this.view = this.compute();
    deps.bar.render(this.view);
    this.reportProblems();
    this.subscriptions.push(
      deps.config.onDidChange(() => { this.reportProblems(); void this.refresh(); }),
      vscode.workspace.onDidGrantWorkspaceTrust(() => void this.refresh()),
      deps.keys.onDidChange(() => void this.refresh()),
    );
    // Reading the secret store is a round trip to the main process: only worth it once cloud is switched on.
    if (deps.config.settings.cloud.enable) void this.refresh();
  }

  get current(): StatusView {
    return this.view;
  }

  /** Re-reads what can change behind our back (the stored key) and re-renders. */
  async refresh(): Promise<StatusView> {
    const generation = ++this.generation;
    const hasKey = this.deps.config.settings.cloud.enable ? await this.deps.keys.has() : false;
    if (generation !== this.generation) return this.view; // a newer refresh started meanwhile
    this.hasCloudKey = hasKey;
    this.view = this.compute();
    this.deps.bar.render(this.view);
    return this.view;
  }

  dispose(): void {
    for (const d of this.subscriptions) d.dispose();
  }

  private compute(): StatusView {
    const { config, version } = this.deps;
    return describeStatus({
      version,
      settings: config.settings,
      problems: config.problems,
      trusted: vscode.workspace.isTrusted,
      hasCloudKey: this.hasCloudKey,
    });
  }

  private reportProblems(): void {
    for (const p of this.deps.config.problems) this.deps.log.warn(`setting ${p.key}: ${p.message}`);
  }
}
