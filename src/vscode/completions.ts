// Inline completions, wired: the pipeline over the local engine, the provider, the extra-context collector, the
// battery probe, the commands (trigger, pause/resume, accepted), and status/notification of engine problems.
import * as vscode from 'vscode';
import type { Config } from '../config';
import { ExtraContextRing } from '../core/completion/extraContext';
import { CompletionPipeline, type CompletionSettings } from '../core/completion/pipeline';
import { PowerProbe } from '../core/power/battery';
import type { UsageLog } from '../core/usage';
import { EngineError } from '../engine/errors';
import { ContextCollector } from './contextCollector';
import { ACCEPTED_COMMAND, InlineCompletionProvider } from './inlineCompletions';
import type { LocalEngine } from './localEngine';
import type { StatusService } from './status';
import { showFailure } from './unawaited';

export const COMPLETION_COMMANDS = { trigger: 'verdant.triggerCompletion', toggle: 'verdant.toggleCompletions' } as const;

export interface CompletionsDeps {
  readonly config: Config;
  readonly engine: LocalEngine;
  readonly status: StatusService;
  readonly usage: UsageLog;
  readonly log: vscode.LogOutputChannel;
  /** Command ids for the buttons of error notifications. */
  readonly selectModelCommand: string;
  readonly showLogCommand: string;
}

const BATTERY_POLL_MS = 60000;

export class Completions implements vscode.Disposable {
  readonly pipeline: CompletionPipeline;
  readonly ring = new ExtraContextRing();
  private readonly disposables: vscode.Disposable[] = [];
  private battery: boolean | undefined;
  private batteryTimer: NodeJS.Timeout | undefined;
  private readonly power = new PowerProbe();
  private readonly notified = new Set<string>();
  private lastError: string | undefined;

  constructor(private readonly deps: CompletionsDeps) {
    const { config, engine, status, usage, log } = deps;
    this.pipeline = new CompletionPipeline({
      engine: {
        generate: async (request, options) => {
          const result = await engine.generate(request, options, 'completion');
          status.setEngineProblem(undefined);
          this.lastError = undefined;
          return result;
        },
      },
      settings: () => this.settings(),
      extraContext: (input) => this.ring.snapshot(input.filePath),
      repoName: () => vscode.workspace.workspaceFolders?.[0]?.name,
      onBattery: () => {
        this.watchBattery();
        return this.battery === true;
      },
      record: (r) => usage.record(r),
      onBusy: (busy) => status.setEngineBusy(busy),
      log: (m) => log.debug(m),
    });
    const provider = new InlineCompletionProvider({ config, pipeline: this.pipeline, log, onError: (e) => this.reportError(e) });
    this.disposables.push(
      vscode.languages.registerInlineCompletionItemProvider({ pattern: '**' }, provider),
      new ContextCollector({
        ring: this.ring,
        pipeline: this.pipeline,
        enabled: () => config.settings.enable && config.settings.completions.enable,
        log,
      }),
      vscode.commands.registerCommand(ACCEPTED_COMMAND, (id: number) => this.pipeline.accepted(id)),
      vscode.commands.registerCommand(COMPLETION_COMMANDS.trigger, () => vscode.commands.executeCommand('editor.action.inlineSuggest.trigger')),
      vscode.commands.registerCommand(COMPLETION_COMMANDS.toggle, async () => {
        const enable = !config.settings.completions.enable;
        await vscode.workspace.getConfiguration('verdant').update('completions.enable', enable, vscode.ConfigurationTarget.Global);
        log.info(`inline completions ${enable ? 'resumed' : 'paused'}`);
        return enable;
      }),
    );
  }

  /** Starts polling the power state on the first completion (on Windows that spawns PowerShell: not at activation). */
  private watchBattery(): void {
    if (this.batteryTimer) return;
    this.batteryTimer = setInterval(() => void this.pollBattery(), BATTERY_POLL_MS);
    void this.pollBattery();
  }

  /** The last polled power state: true on battery, undefined until the first completion started the polling. */
  get onBatteryNow(): boolean | undefined {
    return this.battery;
  }

  dispose(): void {
    clearInterval(this.batteryTimer);
    for (const d of this.disposables) d.dispose();
  }

  private settings(): CompletionSettings {
    const c = this.deps.config.settings.completions;
    return {
      maxLines: c.maxLines,
      maxTokens: c.maxTokens,
      debounce: { fixedMs: c.debounceMs, minMs: 20, maxMs: 600 },
      onBattery: c.onBattery,
    };
  }

  private async pollBattery(): Promise<void> {
    this.battery = await this.power.onBattery();
    this.deps.status.setOnBattery(this.battery);
    // The OS cannot say (no PowerShell, as under Wine): stop polling rather than spawn for nothing every minute.
    if (this.power.gaveUp) {
      clearInterval(this.batteryTimer);
      this.deps.log.info('power state: the OS does not say whether this machine is on battery; not asking again');
    }
  }

  /** One clear sentence in the status bar; a notification with the fix once per kind of problem per session. */
  private reportError(e: EngineError | Error): void {
    const code = e instanceof EngineError ? e.code : 'internal';
    // Every keystroke meets the same problem until it is fixed: log it once, not per keystroke.
    if (e.message !== this.lastError) this.deps.log.warn(`inline completion: ${e.message}`);
    this.lastError = e.message;
    this.deps.status.setEngineProblem(e.message);
    if (this.notified.has(code) || code === 'cancelled') return;
    this.notified.add(code);
    const fix = code === 'model-not-found' || code === 'model-invalid' || code === 'model-too-big' ? 'Select Local Model' : 'Show Log';
    void vscode.window.showWarningMessage(`Verdant: ${e.message}`, fix).then(
      (choice) => {
        if (choice === 'Select Local Model') showFailure(vscode.commands.executeCommand(this.deps.selectModelCommand));
        else if (choice === 'Show Log') showFailure(vscode.commands.executeCommand(this.deps.showLogCommand));
      },
      () => {},
    );
  }
}
