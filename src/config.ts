// VS Code side of the typed settings: reads `verdant.*` through the validated reader in core/settings.ts and tells
// listeners when any of it changes. Scopes are declared in package.json: settings that choose where code goes or
// what runs (model path, GPU backend, endpoint) are machine-scoped so an opened repository cannot redirect them.
import * as vscode from 'vscode';
import { readSettings, tightened, TIGHTEN_ONLY, type SettingProblem, type VerdantSettings } from './core/settings';

export const SECTION = 'verdant';

export class Config implements vscode.Disposable {
  private snapshot = Config.read();
  private readonly changed = new vscode.EventEmitter<void>();
  private readonly listener: vscode.Disposable;
  /** Fires after any `verdant.*` setting changed and the snapshot was re-read. */
  readonly onDidChange = this.changed.event;

  constructor() {
    this.listener = vscode.workspace.onDidChangeConfiguration((e) => {
      if (!e.affectsConfiguration(SECTION)) return;
      this.snapshot = Config.read();
      this.changed.fire();
    });
  }

  get settings(): VerdantSettings {
    return this.snapshot.settings;
  }

  get problems(): readonly SettingProblem[] {
    return this.snapshot.problems;
  }

  /** Turns Verdant on or off for this user (global scope, so one repository cannot switch it for all). */
  async setEnabled(enabled: boolean): Promise<void> {
    await vscode.workspace.getConfiguration(SECTION).update('enable', enabled, vscode.ConfigurationTarget.Global);
  }

  dispose(): void {
    this.listener.dispose();
    this.changed.dispose();
  }

  private static read() {
    const cfg = vscode.workspace.getConfiguration(SECTION);
    // Exclusions and off-switches: a repository's settings may add to the user's, never take them away.
    return readSettings((key) => (key in TIGHTEN_ONLY ? tightened(key, cfg.inspect(key) ?? {}) : cfg.get(key)));
  }
}
