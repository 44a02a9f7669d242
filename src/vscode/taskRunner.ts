// The task runner as the editor builds it: the router, this workspace's consent, the engine (worker or local server),
// the configured cloud endpoint, the ledger (through the usage log for local runs), the editor's UI, and the offer
// of a cleaner window that queues a deferrable task on the scheduler.
import * as vscode from 'vscode';
import type { Config } from '../config';
import type { RouteDecision } from '../core/routing/policy';
import type { Job, JobSpec } from '../core/scheduling/queue';
import { CloudClients } from '../core/cloud/pool';
import type { CloudAccess } from '../core/tasks/calls';
import { TaskRunner } from '../core/tasks/runner';
import { DEFERRED_TASK_MINUTES, type TaskContext, type TaskKind } from '../core/tasks/table';
import type { UsageLog } from '../core/usage';
import type { CarbonAccounting } from './carbonAccounting';
import type { CloudConsent } from './cloudConsent';
import type { EngineHttpModule } from './engineHttp';
import type { LocalEngine } from './localEngine';
import type { Router } from './router';
import type { CloudKeyStore } from './secrets';
import { editorTaskUi } from './taskUi';

export interface EditorRunnerDeps {
  readonly config: Config;
  readonly engine: Pick<LocalEngine, 'generate'>;
  readonly carbon: Pick<CarbonAccounting, 'recordOf' | 'recordCloud'>;
  readonly usage: UsageLog;
  readonly keys: CloudKeyStore;
  readonly consent: CloudConsent;
  readonly log: vscode.LogOutputChannel;
  /** The cloud client lives in the lazily loaded HTTP bundle. */
  readonly engineHttp: () => EngineHttpModule;
  readonly router: Router;
  /** Queues a job on the scheduler (created after the runner: called only when a task is deferred). */
  readonly enqueue: (spec: JobSpec, withinMinutes: number, durationMinutes: number) => Promise<Job>;
}

/** The runner, and what to dispose with the extension (the cloud clients it keeps open between requests). */
export function editorTaskRunner(d: EditorRunnerDeps): { runner: TaskRunner; disposable: vscode.Disposable } {
  // One client (one connection pool, its TLS sessions) per endpoint configuration, shared by every task and chat.
  const clients = new CloudClients((options) => new (d.engineHttp().CloudClient)(options));
  const runner = new TaskRunner({
    router: d.router,
    consent: d.consent,
    local: {
      // Tasks, drafts, plans and chat are the planner's work (its own model, else the completion model's).
      generate: (request, options) => d.engine.generate(request, options, 'planner'),
      // The usage log feeds the ledger (and the dashboard); recordOf is that usage's own record.
      record: (usage) => {
        d.usage.record(usage);
        return d.carbon.recordOf(usage);
      },
    },
    cloud: editorCloud(d, clients),
    ui: editorTaskUi,
    log: d.log,
    defer: (kind, ctx, decision) => offerLater(d, kind, ctx, decision),
  });
  return { runner, disposable: { dispose: () => void clients.dispose() } };
}

function editorCloud(d: EditorRunnerDeps, clients: CloudClients): CloudAccess {
  const target = () => d.config.settings.cloud;
  return {
    target,
    chat: (request, options) => {
      const s = target();
      const config = {
        baseUrl: s.endpoint,
        model: s.model,
        apiKey: () => d.keys.get(),
        proxyUrl: proxyOf(),
        timeouts: { deadlineMs: s.requestTimeoutSeconds * 1000 },
      };
      return clients.use(config, (client) => client.chat(request, options));
    },
    record: (attempt) => d.carbon.recordCloud(attempt),
  };
}

/** Offers the router's cleaner window; queues the task there when the user takes it. */
async function offerLater(
  d: EditorRunnerDeps,
  kind: TaskKind,
  ctx: TaskContext,
  decision: RouteDecision,
): Promise<{ at: number; label: string } | undefined> {
  const later = decision.options.find((o) => o.route === 'later');
  if (!later) return undefined;
  const at = Date.now() + later.latencyMs;
  const time = new Date(at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  const then = `Run at ${time}`;
  const choice = await vscode.window.showInformationMessage(`Verdant: ${kind} could run in a cleaner window (${decision.reason}).`, then, 'Run Now');
  if (choice !== then) return undefined;
  const label = `${kind} ${ctx.filePath}`;
  const spec: JobSpec = { kind: 'task', task: kind, payload: ctx, label };
  const job = await d.enqueue(spec, d.config.settings.routing.deferWithinHours * 60, DEFERRED_TASK_MINUTES);
  d.log.info(`task ${kind} queued: ${job.plan.reason}`);
  return { at: job.plan.start, label };
}

/** VS Code's proxy setting, when set (the client never proxies loopback). */
function proxyOf(): string | undefined {
  return vscode.workspace.getConfiguration('http').get<string>('proxy') || undefined;
}
