// The extension host's handle on local inference. It never loads native code itself: Verdant's own engine runs in the
// shared worker process (EngineClient), and server backends are reached over HTTP. Each request names its role
// (completion or planner, src/core/localRoles.ts) and runs on the model that serves it. Everything starts lazily, on the
// first request or an explicit command, never at activation.
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { Config } from '../config';
import { assignRole, LOCAL_ROLES, roleModelKey, type LocalRole, type RoleAssignment, type RoleFacts, type RoleModel } from '../core/localRoles';
import type { LocalBackendKind, LocalSettings } from '../core/settings';
import { EngineClient } from '../engine/client';
import { EngineError } from '../engine/errors';
import type { ModelConfig } from '../engine/llama/engine';
import type { WorkerStatus } from '../engine/protocol';
import type { BackendInfo, GenerateOptions, GenerateRequest, GenerateResult, InferenceBackend } from '../engine/types';
import type { EngineHttpModule } from './engineHttp';
import { errorMessage } from '../core/errors';
import { median } from '../core/median';

export interface LocalEngineDeps {
  readonly config: Config;
  readonly log: vscode.LogOutputChannel;
  /** Global storage: the worker's lock file and log, and downloaded models. */
  readonly stateDir: string;
  readonly workerScript: string;
  readonly clientName: string;
  /** Server backends live in the separately loaded HTTP bundle. */
  readonly engineHttp: () => EngineHttpModule;
}

/** One role's part of the report: who serves it, and that model's info once loaded (or its server answered). */
export interface RoleReport {
  readonly assignment: RoleAssignment;
  readonly info: BackendInfo | null;
  /** Median decode speed of this role's recent requests in this window, tokens/s; null before any. */
  readonly tokensPerSecond: number | null;
  readonly problem: string | null;
}

/** Decode speeds kept per role for the status (the most recent ones). */
const SPEED_SAMPLES = 20;

export interface EngineReport {
  /** The completion role's backend and info (the NPU placement line describes that one). */
  readonly backend: LocalSettings['backend'];
  /** llama.cpp: the worker's status; null when no role uses Verdant's own engine. */
  readonly worker: WorkerStatus | null;
  readonly info: BackendInfo | null;
  readonly roles: readonly RoleReport[];
  readonly problem: string | null;
}

export class LocalEngine implements vscode.Disposable {
  private client: EngineClient | undefined;
  /** Server backends by roleModelKey: at most one per role. */
  private readonly servers = new Map<string, InferenceBackend>();
  private lastVram: number | null = null;
  /** Each role's context size, tokens, as its last answer, load or status said. */
  private readonly lastContext: Record<LocalRole, number | null> = { completion: null, planner: null };
  private speeds: Record<LocalRole, number[]> = { completion: [], planner: [] };
  /** The backend that last answered for each role, e.g. "llama.cpp (vulkan)". */
  private readonly lastBackend: Record<LocalRole, string | null> = { completion: null, planner: null };
  /** The model (roleModelKey) the speeds and backend above are of: another model starts them afresh. */
  private readonly measuredKey: Record<LocalRole, string | null> = { completion: null, planner: null };

  constructor(private readonly deps: LocalEngineDeps) {}

  /**
   * Runs one request on the model that serves the role (its own, else the other role's); the result updates what is
   * known of that role's model (knownContextTokens, facts).
   */
  async generate(request: GenerateRequest, options?: GenerateOptions, role: LocalRole = 'completion'): Promise<GenerateResult> {
    const model = this.modelFor(role);
    const result =
      model.backend === 'llama.cpp'
        ? await this.engineClient().generate(modelConfig(model), request, options)
        : await this.serverBackend(model).generate(request, options);
    const key = roleModelKey(model);
    if (this.measuredKey[role] !== key) {
      this.measuredKey[role] = key;
      this.speeds[role] = [];
    }
    this.lastContext[role] = result.contextTokens ?? this.lastContext[role];
    this.lastBackend[role] = result.backend;
    if (result.timing.generatedTokens >= 2 && result.timing.tokensPerSecond > 0) {
      const speeds = this.speeds[role];
      speeds.push(result.timing.tokensPerSecond);
      if (speeds.length > SPEED_SAMPLES) speeds.shift();
    }
    return result;
  }

  /** Loads and warms up the role's model now (llama.cpp), or checks its server answers. */
  async load(role: LocalRole = 'completion'): Promise<BackendInfo> {
    const model = this.modelFor(role);
    const info = model.backend === 'llama.cpp' ? await this.engineClient().load(modelConfig(model)) : await this.serverBackend(model).info();
    this.lastVram = info.vramBytes ?? this.lastVram;
    this.lastContext[role] = info.contextSize ?? this.lastContext[role];
    return info;
  }

  /** What this window has seen of the role's model: the backend that last answered and its median speed. */
  facts(role: LocalRole): RoleFacts {
    return { backend: this.lastBackend[role], tokensPerSecond: median(this.speeds[role]) };
  }

  /** Who serves the role now, from the settings. */
  assignment(role: LocalRole): RoleAssignment {
    return assignRole(this.deps.config.settings, role);
  }

  /**
   * The context size of the model serving the role, tokens, as the last answer, load or status said (null until one
   * has, or while a server backend has not said).
   */
  knownContextTokens(role: LocalRole): number | null {
    return this.lastContext[role];
  }

  /** The GPU memory the engine last reported (null until a GPU backend has loaded a model). */
  get knownVramBytes(): number | null {
    return this.lastVram;
  }

  async report(): Promise<EngineReport> {
    const settings = this.deps.config.settings;
    const assignments = LOCAL_ROLES.map((role) => assignRole(settings, role));
    let worker: WorkerStatus | null = null;
    let workerProblem: string | null = null;
    if (assignments.some((a) => a.model?.backend === 'llama.cpp')) {
      try {
        worker = await this.engineClient().status();
        workerProblem = worker.lastError?.message ?? null;
      } catch (e) {
        workerProblem = errorMessage(e);
      }
    }
    const roles = await Promise.all(assignments.map((a) => this.roleReport(a, worker, workerProblem)));
    const completion = roles[0]!; // LOCAL_ROLES starts with 'completion'
    this.lastVram = roles.find((r) => r.info?.vramBytes)?.info?.vramBytes ?? this.lastVram;
    for (const r of roles) this.lastContext[r.assignment.role] = r.info?.contextSize ?? this.lastContext[r.assignment.role];
    const problem = completion.problem ?? (completion.assignment.model ? null : 'No local model chosen yet: run "Verdant: Select Local Model".');
    return { backend: settings.local.backend, worker, info: completion.info, roles, problem };
  }

  /** Stops the shared worker (every window's next request starts a fresh one). */
  async stopWorker(): Promise<void> {
    await this.client?.shutdownWorker();
  }

  dispose(): void {
    this.client?.dispose();
    for (const key of [...this.servers.keys()]) this.closeServerBackend(key);
  }

  private async roleReport(assignment: RoleAssignment, worker: WorkerStatus | null, workerProblem: string | null): Promise<RoleReport> {
    const model = assignment.model;
    const tokensPerSecond = median(this.speeds[assignment.role]);
    if (!model) return { assignment, info: null, tokensPerSecond, problem: null };
    if (model.backend === 'llama.cpp') {
      const loaded = worker?.models.find((m) => m.modelPath === model.modelPath) ?? null;
      return { assignment, info: loaded, tokensPerSecond, problem: worker ? null : workerProblem };
    }
    try {
      return { assignment, info: await this.serverBackend(model).info(), tokensPerSecond, problem: null };
    } catch (e) {
      return { assignment, info: null, tokensPerSecond, problem: errorMessage(e) };
    }
  }

  private modelFor(role: LocalRole): RoleModel {
    const { model } = this.assignment(role);
    if (!model) throw new EngineError('model-not-found', 'No local model chosen yet: run "Verdant: Select Local Model".');
    return model;
  }

  /** Closes a local server backend's connections; nothing waits on that, so a failure is only logged. */
  private closeServerBackend(key: string): void {
    const backend = this.servers.get(key);
    this.servers.delete(key);
    backend?.dispose().catch((e: unknown) => this.deps.log.warn(`engine: could not close the local server backend (${key}): ${errorMessage(e)}`));
  }

  private engineClient(): EngineClient {
    this.client ??= new EngineClient({
      stateDir: this.deps.stateDir,
      workerScript: this.deps.workerScript,
      clientName: this.deps.clientName,
      efficiencyMode: () => this.deps.config.settings.local.efficiencyMode,
      log: (m) => this.deps.log.info(`engine: ${m}`),
      onWorkerEvent: (e) => {
        if (e.type === 'crashed') this.deps.log.warn(`engine worker stopped unexpectedly (${e.pendingFailed} request(s) failed); restarting`);
        else this.deps.log.info(`engine worker restarted (pid ${e.pid})`);
      },
    });
    return this.client;
  }

  /**
   * The server backend for a role's model. A new one means the settings changed: backends no role names any more are
   * closed then (not on every request: this is the keystroke path).
   */
  private serverBackend(model: RoleModel): InferenceBackend {
    const key = roleModelKey(model);
    const known = this.servers.get(key);
    if (known) return known;
    const inUse = new Set(LOCAL_ROLES.map((r) => this.assignment(r).model).flatMap((m) => (m ? [roleModelKey(m)] : [])));
    for (const k of [...this.servers.keys()]) if (!inUse.has(k)) this.closeServerBackend(k);
    const { createHttpBackend } = this.deps.engineHttp();
    const kind = model.backend as Exclude<LocalBackendKind, 'llama.cpp'>;
    const backend = createHttpBackend(kind, { url: model.serverUrl || undefined, model: model.serverModel });
    this.servers.set(key, backend);
    return backend;
  }
}

function modelConfig(model: RoleModel): ModelConfig {
  return { modelPath: model.modelPath, gpu: model.gpu, threads: model.threads };
}

export function workerScriptPath(extensionPath: string): string {
  return path.join(extensionPath, 'dist', 'engine-worker.js');
}
