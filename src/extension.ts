// Entry point. activate() builds every service once, wires them with explicit dependencies and pushes each
// disposable to context.subscriptions. It must stay cheap: no native module, no model, no network here; the local
// engine and the router load lazily on first use, in their own process.
import * as vscode from 'vscode';
import { Config } from './config';
import { VERSION } from './core/version';
import * as path from 'node:path';
import { COMMANDS, registerCommands } from './vscode/commands';
import { UsageLog } from './core/usage';
import { CarbonAccounting } from './vscode/carbonAccounting';
import { CarbonUi } from './vscode/carbonUi';
import { CloudConsent } from './vscode/cloudConsent';
import { chatResponder, registerChatProvider } from './vscode/chatProvider';
import { registerCloudSetup } from './vscode/cloudSetup';
import type { Job, JobSpec } from './core/scheduling/queue';
import { Refactors } from './vscode/refactor';
import { Router } from './vscode/router';
import { hmacSigner } from './core/scheduling/signing';
import { DeferredJobs, TAKE_OVER_AFTER_MS, workspaceIdentity } from './vscode/scheduler';
import { OsHandoff } from './core/scheduling/osHandoff';
import { taskModelFlags } from './core/localRoles';
import { osSchedulerOnce } from './core/scheduling/osScheduler';
import { hostOf } from './core/cloud/endpoint';
import { describeQuality } from './core/completion/quality';
import { editorTaskRunner } from './vscode/taskRunner';
import { Tasks } from './vscode/tasks';
import { Completions } from './vscode/completions';
import { engineHttpLoader } from './vscode/engineHttp';
import { thisMachinesNpu } from './vscode/engineStatus';
import { offerFirstSteps } from './vscode/firstStart';
import { LocalEngine, workerScriptPath } from './vscode/localEngine';
import { CloudKeyStore } from './vscode/secrets';
import { StatusService } from './vscode/status';
import { StatusBar } from './vscode/statusBar';

/** What activate() returns to other extensions (and to the e2e suite). */
export interface VerdantApi {
  readonly version: string;
  /** Local inference (the shared engine worker or a local server), for other parts and the e2e suite. */
  readonly engine: LocalEngine;
  /** Milliseconds activate() took, measured inside the extension host. */
  readonly activationMs: number;
  /** Whether this start showed the first-start hint (no model chosen yet, not shown before). */
  readonly firstStartHint: Promise<boolean>;
  /** Current status-bar text. */
  statusText(): string;
  /** The inline-completion pipeline (its stats show cache hits, engine calls, cancellations). */
  readonly completions: Completions;
  /** Measured local inference time per request, for the carbon ledger. */
  readonly usage: UsageLog;
  /** SCI records of every request, in the ledger. */
  readonly carbon: CarbonAccounting;
  /** The status-bar gauge, dashboard and report export. */
  readonly carbonUi: CarbonUi;
  /** Palette tasks (explain, refactor, ask) and what was last sent to the cloud. */
  readonly tasks: Tasks;
  /** This workspace's consent to cloud requests. */
  readonly consent: CloudConsent;
  /** Local/cloud routing decisions and the routing log. */
  readonly router: Router;
  /** Deferred jobs (verdant tasks, Run Task When Clean) and their queue. */
  readonly jobs: DeferredJobs;
  /** Planned multi-file refactors. */
  readonly refactors: Refactors;
  /** What the chat model provider answers with (the provider API itself needs VS Code 1.104+). */
  readonly chat: ReturnType<typeof chatResponder>;
  /** Where this extension's state (ledger, queue, models, worker lock) and logs are, for diagnostics. */
  readonly stateDir: string;
  readonly logDir: string;
}

export function activate(context: vscode.ExtensionContext): VerdantApi {
  const t0 = performance.now();
  const log = vscode.window.createOutputChannel('Verdant', { log: true });
  const config = new Config();
  const keys = new CloudKeyStore(context.secrets);
  const bar = new StatusBar(COMMANDS.showStatus);
  // The worker is shared by every window on this machine through files in global storage; nothing starts here.
  const stateDir = context.globalStorageUri.fsPath;
  const engineHttp = engineHttpLoader(context.extensionPath);
  const engine = new LocalEngine({
    config,
    log,
    stateDir,
    engineHttp,
    workerScript: workerScriptPath(context.extensionPath),
    clientName: `${vscode.env.appName} window ${vscode.env.sessionId.slice(0, 8)}`,
  });
  const status = new StatusService({ version: VERSION, config, keys, bar, log, roleFacts: (role) => engine.facts(role) });
  const usage = new UsageLog();
  const carbon = new CarbonAccounting({ config, usage, secrets: context.secrets, stateDir, log });
  const completions = new Completions({
    config,
    engine,
    status,
    usage,
    log,
    selectModelCommand: COMMANDS.selectLocalModel,
    showLogCommand: COMMANDS.showLog,
  });
  const completionQuality = () => completions.pipeline.quality.summary(Date.now());
  const carbonUi = new CarbonUi({
    config,
    carbon,
    log,
    extensionUri: context.extensionUri,
    engineLine: () => `${status.current.lines.find((l) => l.startsWith('Inline completions')) ?? ''} · ${describeQuality(completionQuality())}`,
    completionQuality,
  });
  const consent = new CloudConsent(context.workspaceState);
  const router = new Router({
    config,
    engine,
    carbon,
    keys,
    globalState: context.globalState,
    extensionPath: context.extensionPath,
    log,
    onBattery: () => completions.onBatteryNow,
  });
  // Tasks and refactors queue work on the scheduler, and the scheduler runs it when due: it is called only later.
  const enqueue = (spec: JobSpec, within: number, duration: number): Promise<Job> => jobs.enqueue(spec, within, duration);
  const { runner, disposable: cloudClients } = editorTaskRunner({ config, engine, carbon, usage, keys, consent, log, engineHttp, router, enqueue });
  const tasks = new Tasks({ runner, consent, router });
  const refactors: Refactors = new Refactors({
    runner,
    router,
    consent,
    log,
    cloudHost: () => hostOf(config.settings.cloud.endpoint),
    defer: enqueue,
  });
  // The job queue's key: in SecretStorage, so a file dropped into global storage cannot have a job run.
  const JOB_KEY = 'verdant.jobKey';
  const signer = hmacSigner({ get: async () => context.secrets.get(JOB_KEY), set: async (v) => context.secrets.store(JOB_KEY, v) });
  const forgetJobKey = context.secrets.onDidChange((e) => {
    if (e.key === JOB_KEY) signer.forget();
  });
  const jobs: DeferredJobs = new DeferredJobs({
    config,
    carbon,
    tasks,
    refactors,
    stateDir,
    log,
    signer,
    origin: () => ({ workspace: workspaceIdentity(), trusted: vscode.workspace.isTrusted, consent: consent.value }),
    handoff: new OsHandoff({
      scheduler: osSchedulerOnce(),
      queueDir: path.join(stateDir, 'jobs'),
      // VS Code's own runtime (Electron as Node on the desktop, Node in a remote or code-server) runs the CLI it ships.
      launcher: { program: process.execPath, script: path.join(context.extensionPath, 'dist', 'cli.js'), env: { ELECTRON_RUN_AS_NODE: '1' } },
      delayMs: TAKE_OVER_AFTER_MS,
      wake: () => config.settings.scheduler.wakeToRun,
      loggedOff: () => config.settings.scheduler.runWhenLoggedOff,
      taskModel: () => taskModelFlags(config.settings),
      log: (m) => log.info(`scheduler: ${m}`),
    }),
    globalState: context.globalState,
  });
  const chatDeps = { config, runner, router, consent, log };
  context.subscriptions.push(
    log,
    config,
    bar,
    status,
    engine,
    completions,
    carbon,
    carbonUi,
    consent,
    router,
    tasks,
    cloudClients,
    jobs,
    refactors,
    forgetJobKey,
    registerCloudSetup({ keys, log, engineHttp }),
    ...[registerChatProvider(chatDeps)].filter((d): d is vscode.Disposable => d !== undefined),
    ...registerCommands({
      extensionId: context.extension.id,
      config,
      status,
      keys,
      log,
      engine,
      npu: thisMachinesNpu,
      completionQuality,
      engineHttp,
      modelsDir: path.join(stateDir, 'models'),
    }),
  );
  const activationMs = performance.now() - t0;
  log.info(
    `Verdant ${VERSION} activated in ${activationMs.toFixed(1)} ms (${vscode.env.appName} ${vscode.version}, ` +
      `${vscode.env.remoteName ? `remote ${vscode.env.remoteName}, ` : ''}trusted: ${vscode.workspace.isTrusted})`,
  );
  // After activation returns: the hint is a notification nobody waits for.
  const firstStartHint = offerFirstSteps({
    config,
    globalState: context.globalState,
    extensionId: context.extension.id,
    selectModelCommand: COMMANDS.selectLocalModel,
    log,
  });
  return {
    version: VERSION,
    firstStartHint,
    engine,
    completions,
    usage,
    carbon,
    carbonUi,
    tasks,
    consent,
    router,
    jobs,
    refactors,
    chat: chatResponder(chatDeps),
    stateDir,
    logDir: context.logUri.fsPath,
    activationMs,
    statusText: () => status.current.text,
  };
}

export function deactivate(): void {
  // Everything is disposed through context.subscriptions.
}
