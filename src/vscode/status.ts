// Keeps the status bar true: recomputes the StatusView when settings, workspace trust or the stored key change.
import * as vscode from 'vscode';
import type { Config } from '../config';
import type { LocalRole, RoleFacts } from '../core/localRoles';
import { describeStatus, type StatusView } from '../core/status';
import type { CloudKeyStore } from './secrets';
import type { StatusBar } from './statusBar';
import { errorMessage } from '../core/errors';

export interface StatusDeps {
  readonly version: string;
  readonly config: Config;
  readonly keys: CloudKeyStore;
  readonly bar: StatusBar;
  readonly log: vscode.LogOutputChannel;
  /** What this window has measured of each role's model (LocalEngine.facts). */
  readonly roleFacts?: (role: LocalRole) => RoleFacts;
}

/** A request still running after this long shows the busy icon (#22: a 1.2 s request never did at 400 ms). */
export const BUSY_AFTER_MS = 300;

export class StatusService implements vscode.Disposable {
  private view: StatusView;
  private hasCloudKey = false;
  private engine: { busy: boolean; problem?: string; onBattery?: boolean } = { busy: false };
  private busyTimer: NodeJS.Timeout | undefined;
  private readonly subscriptions: vscode.Disposable[] = [];
  private generation = 0;

  constructor(private readonly deps: StatusDeps) {
    this.view = this.compute();
    deps.bar.render(this.view);
    this.reportProblems();
    this.subscriptions.push(
      deps.config.onDidChange(() => {
        this.reportProblems();
        this.refreshInBackground();
      }),
      vscode.workspace.onDidGrantWorkspaceTrust(() => this.refreshInBackground()),
      deps.keys.onDidChange(() => this.refreshInBackground()),
    );
    // Reading the secret store is a round trip to the main process: only worth it once cloud is switched on.
    if (deps.config.settings.cloud.enable) this.refreshInBackground();
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

  /** refresh() for events nobody awaits: the secret store can fail (no OS keyring); that is logged, the view kept. */
  private refreshInBackground(): void {
    this.refresh().catch((e: unknown) => this.deps.log.warn(`status: could not read the cloud API key: ${errorMessage(e)}`));
  }

  /**
   * The engine started or finished working. Busy shows only after a moment, so fast completions do not make the
   * status bar flicker.
   */
  setEngineBusy(busy: boolean): void {
    clearTimeout(this.busyTimer);
    if (!busy) return this.update({ busy: false });
    this.busyTimer = setTimeout(() => this.update({ busy: true }), BUSY_AFTER_MS);
  }

  setEngineProblem(problem: string | undefined): void {
    if (problem !== this.engine.problem) this.update({ problem });
  }

  setOnBattery(onBattery: boolean | undefined): void {
    if (onBattery !== this.engine.onBattery) this.update({ onBattery });
  }

  dispose(): void {
    clearTimeout(this.busyTimer);
    for (const d of this.subscriptions) d.dispose();
  }

  private update(change: Partial<typeof this.engine>): void {
    this.engine = { ...this.engine, ...change };
    this.view = this.compute();
    this.deps.bar.render(this.view);
  }

  private compute(): StatusView {
    const { config, version } = this.deps;
    return describeStatus({
      version,
      settings: config.settings,
      problems: config.problems,
      trusted: vscode.workspace.isTrusted,
      hasCloudKey: this.hasCloudKey,
      engineBusy: this.engine.busy,
      engineProblem: this.engine.problem,
      onBattery: this.engine.onBattery,
      roleFacts: this.deps.roleFacts,
    });
  }

  private reportProblems(): void {
    for (const p of this.deps.config.problems) this.deps.log.warn(`setting ${p.key}: ${p.message}`);
  }
}
