// The extension host's handle on local inference. It never loads native code itself: Verdant's own engine runs in the
// shared worker process (EngineClient), and server backends are reached over HTTP. Everything starts lazily, on the
// first request or an explicit command, never at activation.
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { Config } from '../config';
import type { LocalSettings } from '../core/settings';
import { EngineClient } from '../engine/client';
import { EngineError } from '../engine/errors';
import type { ModelConfig } from '../engine/llama/engine';
import type { WorkerStatus } from '../engine/protocol';
import type { BackendInfo, GenerateOptions, GenerateRequest, GenerateResult, InferenceBackend } from '../engine/types';
import type { EngineHttpModule } from './engineHttp';
import { errorMessage } from '../core/errors';

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

export interface EngineReport {
  readonly backend: LocalSettings['backend'];
  /** llama.cpp: the worker's status; null when no model is configured. */
  readonly worker: WorkerStatus | null;
  /** A server backend's info, or the loaded model's. */
  readonly info: BackendInfo | null;
  readonly problem: string | null;
}

export class LocalEngine implements vscode.Disposable {
  private client: EngineClient | undefined;
  private server: { key: string; backend: InferenceBackend } | undefined;
  private lastVram: number | null = null;
  private lastContext: number | null = null;

  constructor(private readonly deps: LocalEngineDeps) {}

  /** Runs one request on whichever local backend the settings choose; its result updates knownContextTokens. */
  async generate(request: GenerateRequest, options?: GenerateOptions): Promise<GenerateResult> {
    const local = this.deps.config.settings.local;
    const result =
      local.backend === 'llama.cpp'
        ? await this.engineClient().generate(this.modelConfig(local), request, options)
        : await (await this.serverBackend(local)).generate(request, options);
    this.lastContext = result.contextTokens ?? this.lastContext;
    return result;
  }

  /** Loads and warms up the model now (llama.cpp), or checks the server answers. */
  async load(): Promise<BackendInfo> {
    const local = this.deps.config.settings.local;
    const info =
      local.backend === 'llama.cpp' ? await this.engineClient().load(this.modelConfig(local)) : await (await this.serverBackend(local)).info();
    this.lastVram = info.vramBytes ?? this.lastVram;
    this.lastContext = info.contextSize ?? this.lastContext;
    return info;
  }

  /**
   * The context size of the local model, tokens, as the last answer, load or status said (null until one has, or
   * while a server backend has not said).
   */
  get knownContextTokens(): number | null {
    return this.lastContext;
  }

  /** The GPU memory the engine last reported (null until a GPU backend has loaded a model). */
  get knownVramBytes(): number | null {
    return this.lastVram;
  }

  async report(): Promise<EngineReport> {
    const local = this.deps.config.settings.local;
    try {
      if (local.backend !== 'llama.cpp')
        return { backend: local.backend, worker: null, info: await (await this.serverBackend(local)).info(), problem: null };
      if (!local.modelPath)
        return { backend: local.backend, worker: null, info: null, problem: 'No local model chosen yet: run "Verdant: Select Local Model".' };
      const worker = await this.engineClient().status();
      this.lastVram = worker.model?.vramBytes ?? this.lastVram;
      this.lastContext = worker.model?.contextSize ?? this.lastContext;
      return { backend: local.backend, worker, info: worker.model, problem: worker.lastError?.message ?? null };
    } catch (e) {
      return { backend: local.backend, worker: null, info: null, problem: errorMessage(e) };
    }
  }

  /** Stops the shared worker (every window's next request starts a fresh one). */
  async stopWorker(): Promise<void> {
    await this.client?.shutdownWorker();
  }

  dispose(): void {
    this.client?.dispose();
    this.closeServerBackend();
  }

  /** Closes the local server backend's connections; nothing waits on that, so a failure is only logged. */
  private closeServerBackend(): void {
    const server = this.server;
    server?.backend
      .dispose()
      .catch((e: unknown) => this.deps.log.warn(`engine: could not close the local server backend (${server.key}): ${errorMessage(e)}`));
  }

  private modelConfig(local: LocalSettings): ModelConfig {
    if (!local.modelPath) throw new EngineError('model-not-found', 'No local model chosen yet: run "Verdant: Select Local Model".');
    return { modelPath: local.modelPath, gpu: local.gpu, threads: local.threads };
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

  private async serverBackend(local: LocalSettings): Promise<InferenceBackend> {
    const kind = local.backend as Exclude<LocalSettings['backend'], 'llama.cpp'>;
    const key = `${kind} ${local.serverUrl} ${local.serverModel}`;
    if (this.server?.key !== key) {
      const { createHttpBackend } = this.deps.engineHttp();
      this.closeServerBackend();
      this.server = { key, backend: createHttpBackend(kind, { url: local.serverUrl || undefined, model: local.serverModel }) };
    }
    return this.server.backend;
  }
}

export function workerScriptPath(extensionPath: string): string {
  return path.join(extensionPath, 'dist', 'engine-worker.js');
}
