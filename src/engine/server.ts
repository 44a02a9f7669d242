// The engine worker's socket server: one per machine, shared by every VS Code window. It owns the loaded models
// (enginePool.ts: a completion and a planner model at once when memory allows), serves requests from all clients,
// cancels a client's requests when that client disconnects (a window that dies leaves nothing running), and exits after an idle period with no clients. A connection is served only once the
// client has proved it holds the engine key (handshake.ts); anything else on this machine that connects gets nothing.
import * as net from 'node:net';
import * as os from 'node:os';
import { EngineError, serializeError, type SerializedError } from './errors';
import { readMessages, writeMessage } from './framing';
import { EnginePool } from './enginePool';
import type { LlamaEngine, ModelConfig } from './llama/engine';
import { memoryNeed } from './llama/engine';
import { bootTime } from '../core/process/times';
import { engineKey, isNonce, newNonce, proofMatches, proofOf } from './handshake';
import { acquireLock, releaseLock } from './lock';
import { LOW_PRIORITY, type WorkerPriority } from './priority';
import { currentOwner, removeSocket } from './rendezvous';
import { parseClientMessage, PROTOCOL_VERSION, type ClientMessage, type WorkerMessage, type WorkerStatus } from './protocol';
import { TextBatcher } from './textBatcher';
import { errorMessage } from '../core/errors';

export interface ServerOptions {
  /** A fresh path from newSocketPath() (rendezvous.ts): nobody else can have made it. */
  readonly socketPath: string;
  readonly lockPath: string;
  /** engine.key (keyPathFor): read at each handshake, so a key replaced meanwhile is the one that counts. */
  readonly keyPath: string;
  /** Exit after this long with no client connected. */
  readonly idleMs: number;
  readonly version: string;
  readonly log: (message: string) => void;
  readonly loadEngine: (config: ModelConfig) => Promise<LlamaEngine>;
  /** Bytes a model would take loaded; default: from its GGUF header (memoryNeed). */
  readonly memoryNeed?: (config: ModelConfig) => Promise<number>;
  /** Bytes of memory available now; default: os.freemem(). */
  readonly availableMemory?: () => number;
  /** Most models held at once (default MAX_MODELS). */
  readonly maxModels?: number;
  /** Loads the router classifier; called on the first 'route' request (onnxruntime-node stays unloaded till then). */
  readonly loadRouter?: () => Promise<RouterModel>;
  /** The worker's OS priority (worker.ts); absent, the process's priority is left alone (a server inside a test). */
  readonly priority?: WorkerPriority;
}

/** What the server needs of the router classifier (OnnxRouter satisfies it; tests may pass their own). */
export interface RouterModel {
  predict(features: Float32Array[]): Promise<number[]>;
  /** The execution provider in use first ('cpu', 'dml'). */
  readonly providers: readonly string[];
  dispose(): Promise<void>;
}

interface LoadedRouter {
  readonly model: RouterModel;
  readonly loadMs: number;
}

/** Models held at once: a completion model and a planner model (#21). */
export const MAX_MODELS = 2;

/** A connection that has not proved the key by then is closed (it holds the worker awake otherwise). */
const HANDSHAKE_MS = 10_000;

type Handshake =
  | { readonly phase: 'hello' }
  | { readonly phase: 'proving'; readonly key: Buffer; readonly clientNonce: string; readonly workerNonce: string; readonly protocol: number }
  | { readonly phase: 'ready'; readonly protocol: number };

interface Client {
  readonly socket: net.Socket;
  readonly requests: Map<number, AbortController>;
  handshake: Handshake;
  readonly handshakeTimer: NodeJS.Timeout;
}

export class EngineServer {
  private readonly server = net.createServer((socket) => this.accept(socket));
  private readonly clients = new Set<Client>();
  private readonly engines: EnginePool<LlamaEngine>;
  private router: LoadedRouter | undefined;
  /** The one router load (in progress or done) that concurrent first requests share; cleared when it fails. */
  private routerLoad: Promise<LoadedRouter> | undefined;
  private active = 0;
  private readonly requests = { finished: 0, aborted: 0, failed: 0 };
  private lastError: SerializedError | null = null;
  private idleTimer: NodeJS.Timeout | undefined;
  private readonly startedAt = Date.now();
  /** For the uptime: monotonic, so it stays a duration when the wall clock moves. */
  private readonly startedMono = performance.now();
  private stopping = false;
  private drainStarted = false;
  /** Why this worker is making way for another, once its lock is released. */
  private draining: string | undefined;

  constructor(private readonly options: ServerOptions) {
    const need = options.memoryNeed ?? memoryNeed;
    this.engines = new EnginePool({
      load: async (config) => {
        try {
          const engine = await options.loadEngine(config);
          this.lastError = null;
          return engine;
        } catch (e) {
          throw this.loadFailed(e);
        }
      },
      // Reading the file's header is the first step of a load: a missing or corrupt file fails here.
      need: (config) => need(config).catch((e: unknown) => Promise.reject(this.loadFailed(e))),
      available: options.availableMemory ?? (() => os.freemem()),
      max: options.maxModels ?? MAX_MODELS,
      log: options.log,
    });
  }

  /**
   * Takes the machine-wide lock, then listens. False when another live worker holds the lock (this one should
   * exit). The lock comes first: a worker that listened before locking could have its socket file removed by a
   * second worker starting at the same moment.
   */
  async start(): Promise<boolean> {
    const { socketPath, lockPath } = this.options;
    const locked = await acquireLock(lockPath, {
      pid: process.pid,
      socket: socketPath,
      protocol: PROTOCOL_VERSION,
      version: this.options.version,
      startedAt: this.startedAt,
      boot: bootTime(),
    });
    if (!locked) {
      await removeSocket(socketPath); // its folder, made for nothing
      return false;
    }
    try {
      await engineKey(this.options.keyPath, currentOwner()); // made now, so the first client need not race for it
      await new Promise<void>((resolve, reject) => {
        this.server.once('error', reject);
        this.server.listen(socketPath, () => {
          this.server.off('error', reject);
          resolve();
        });
      });
    } catch (e) {
      await removeSocket(socketPath);
      await releaseLock(lockPath);
      throw e;
    }
    this.options.log(`engine worker ${process.pid} listening on ${socketPath}`);
    this.armIdleTimer();
    return true;
  }

  /** stop(), then exit with `code`; with 1 when the stop failed (logged), rather than stay half stopped. */
  stopAndExit(reason: string, code: number): void {
    this.stop(reason).then(
      () => process.exit(code),
      (e: unknown) => {
        this.options.log(`engine worker could not stop cleanly: ${errorMessage(e)}`);
        process.exit(1);
      },
    );
  }

  async stop(reason: string): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.options.log(`engine worker stopping: ${reason}`);
    clearTimeout(this.idleTimer);
    for (const c of this.clients) {
      for (const ac of c.requests.values()) ac.abort();
      c.socket.destroy();
    }
    await releaseLock(this.options.lockPath);
    await new Promise<void>((r) => this.server.close(() => r()));
    await removeSocket(this.options.socketPath);
    await this.engines.disposeAll();
    const router = await this.routerLoad?.catch(() => undefined);
    this.router = undefined;
    this.routerLoad = undefined;
    await router?.model.dispose();
  }

  private accept(socket: net.Socket): void {
    const client: Client = {
      socket,
      requests: new Map(),
      handshake: { phase: 'hello' },
      handshakeTimer: setTimeout(() => socket.destroy(), HANDSHAKE_MS),
    };
    this.clients.add(client);
    clearTimeout(this.idleTimer);
    readMessages(
      socket,
      (raw) => void this.handle(client, raw),
      (reason) => {
        this.send(client, { type: 'error', id: null, error: { code: 'bad-request', message: reason } });
      },
    );
    socket.on('error', () => {
      /* the close handler cleans up */
    });
    socket.on('close', () => {
      clearTimeout(client.handshakeTimer);
      // The window went away: stop everything it asked for.
      for (const ac of client.requests.values()) ac.abort();
      this.clients.delete(client);
      this.armIdleTimer();
    });
  }

  private armIdleTimer(): void {
    clearTimeout(this.idleTimer);
    if (this.clients.size > 0 || this.stopping) return;
    if (this.draining) return this.stopAndExit(`drained: ${this.draining}`, 0);
    this.idleTimer = setTimeout(() => {
      if (this.clients.size === 0) this.stopAndExit(`no clients for ${this.options.idleMs} ms`, 0);
    }, this.options.idleMs);
  }

  private send(client: Client, message: WorkerMessage): void {
    writeMessage(client.socket, message);
  }

  private async handle(client: Client, raw: unknown): Promise<void> {
    const message = parseClientMessage(raw);
    if (client.handshake.phase !== 'ready') return this.authenticate(client, message);
    if (!message) {
      // Echo a numeric id so a client awaiting that request fails now instead of waiting forever.
      const id = typeof (raw as { id?: unknown } | null)?.id === 'number' ? (raw as { id: number }).id : null;
      this.send(client, { type: 'error', id, error: { code: 'bad-request', message: `unknown message ${JSON.stringify(raw)?.slice(0, 120)}` } });
      return;
    }
    // A client of another version may only ask this worker to make way.
    if (client.handshake.protocol !== PROTOCOL_VERSION && message.type !== 'shutdown') {
      this.send(client, {
        type: 'error',
        id: 'id' in message ? message.id : null,
        error: { code: 'protocol-mismatch', message: `this engine speaks protocol ${PROTOCOL_VERSION}, not ${client.handshake.protocol}` },
      });
      return;
    }
    switch (message.type) {
      case 'hello':
      case 'auth':
        this.send(client, { type: 'error', id: null, error: { code: 'bad-request', message: 'already authenticated' } });
        return;
      case 'generate':
        this.prioritize(message.priority);
        return this.generate(client, message);
      case 'cancel':
        client.requests.get(message.id)?.abort();
        return;
      case 'load':
        this.prioritize(message.priority);
        try {
          const info = await this.engines.use(message.config, (engine) => engine.info());
          this.send(client, { type: 'loaded', id: message.id, info });
        } catch (e) {
          this.send(client, { type: 'error', id: message.id, error: serializeError(e) });
        }
        return;
      case 'status':
        this.send(client, { type: 'status', id: message.id, status: await this.status() });
        return;
      case 'route':
        return this.route(client, message);
      case 'shutdown':
        this.stopAndExit('asked to shut down', 0);
        return;
    }
  }

  /** The handshake: hello (both nonces, the worker's proof), then the client's proof; anything else ends it. */
  private async authenticate(client: Client, message: ClientMessage | undefined): Promise<void> {
    const refuse = (why: string) => {
      this.options.log(`refused a connection: ${why}`);
      this.send(client, { type: 'error', id: null, error: { code: 'unauthorized', message: `The engine refused this connection: ${why}.` } });
      client.socket.end();
    };
    const hs = client.handshake;
    if (hs.phase === 'hello' && message?.type === 'hello') {
      if (!isNonce(message.nonce)) return refuse(`a client of protocol ${message.protocol} sent no nonce (an older Verdant: reload its window)`);
      let key: Buffer;
      try {
        key = await engineKey(this.options.keyPath, currentOwner());
      } catch (e) {
        return refuse(errorMessage(e));
      }
      const workerNonce = newNonce();
      client.handshake = { phase: 'proving', key, clientNonce: message.nonce, workerNonce, protocol: message.protocol };
      this.send(client, {
        type: 'hello',
        protocol: PROTOCOL_VERSION,
        version: this.options.version,
        pid: process.pid,
        node: process.versions.node,
        nonce: workerNonce,
        proof: proofOf(key, 'worker', message.nonce, workerNonce),
      });
      return;
    }
    if (hs.phase === 'proving' && message?.type === 'auth') {
      if (!proofMatches(hs.key, 'client', hs.clientNonce, hs.workerNonce, message.proof))
        return refuse('the client could not prove it holds the engine key');
      client.handshake = { phase: 'ready', protocol: hs.protocol };
      clearTimeout(client.handshakeTimer);
      this.send(client, { type: 'ready' });
      if (this.draining) this.send(client, { type: 'draining', reason: this.draining });
      return;
    }
    refuse(hs.phase === 'hello' ? 'it did not start with hello' : 'it did not answer hello with its proof');
  }

  /**
   * A request the user waits on (priority 'normal') raises a worker started low. Where the OS refuses, this worker
   * makes way: it serves this request and everything already sent to it, and a worker at normal priority replaces
   * it, so completions are not slowed for the rest of the session by a background job that happened to start it.
   */
  private prioritize(priority: 'low' | 'normal' | undefined): void {
    const control = this.options.priority;
    if (priority === 'low' || !control || control.raise()) return;
    this.drain(`it runs at low priority (${LOW_PRIORITY}) and the OS refused to raise it for interactive work`).catch((e: unknown) =>
      this.options.log(`could not make way for another engine worker: ${errorMessage(e)}`),
    );
  }

  /**
   * Makes way for another worker without dropping a request: the lock goes first (so a client's next request starts
   * a new worker, not this one), then every client is told; each closes its connection once its requests here are
   * answered, and the last close ends this worker (armIdleTimer).
   */
  private async drain(reason: string): Promise<void> {
    if (this.drainStarted || this.stopping) return;
    this.drainStarted = true;
    this.options.log(`making way for another engine worker: ${reason}`);
    try {
      await releaseLock(this.options.lockPath);
    } catch (e) {
      // Drain all the same: a client that finds the lock still naming this worker skips it once told it drains.
      this.options.log(`could not remove engine.lock while making way (${errorMessage(e)})`);
    }
    this.draining = reason;
    for (const c of this.clients) if (c.handshake.phase === 'ready') this.send(c, { type: 'draining', reason });
    this.armIdleTimer();
  }

  private async generate(client: Client, message: Extract<ClientMessage, { type: 'generate' }>): Promise<void> {
    const ac = new AbortController();
    client.requests.set(message.id, ac);
    this.active++;
    const text = new TextBatcher((t) => this.send(client, { type: 'text', id: message.id, text: t }));
    try {
      const result = await this.engines.use(message.config, (engine) =>
        engine.generate(message.request, {
          signal: ac.signal,
          onText: (t) => text.push(t),
        }),
      );
      text.flush();
      this.requests[result.stopReason === 'abort' ? 'aborted' : 'finished']++;
      this.send(client, { type: 'result', id: message.id, result });
    } catch (e) {
      text.flush();
      this.requests.failed++;
      const error = serializeError(e);
      if (error.code !== 'bad-request') this.lastError = error;
      this.send(client, { type: 'error', id: message.id, error });
    } finally {
      this.active--;
      client.requests.delete(message.id);
    }
  }

  private async route(client: Client, message: Extract<ClientMessage, { type: 'route' }>): Promise<void> {
    try {
      const { model } = await this.loadedRouter();
      const p = await model.predict(message.features.map((row) => Float32Array.from(row)));
      this.send(client, { type: 'routed', id: message.id, p, provider: model.providers[0] ?? 'unknown' });
    } catch (e) {
      const error = serializeError(e);
      if (error.code !== 'bad-request') this.lastError = error;
      this.send(client, { type: 'error', id: message.id, error });
    }
  }

  /** The router classifier, loaded once on first use; a failed load is forgotten so the next request retries. */
  private loadedRouter(): Promise<LoadedRouter> {
    if (this.router) return Promise.resolve(this.router);
    const load = this.options.loadRouter;
    if (!load)
      return Promise.reject(
        new EngineError('router-unavailable', 'This engine worker has no router classifier; update Verdant or restart the engine worker.'),
      );
    if (!this.routerLoad) {
      const promise = (async (): Promise<LoadedRouter> => {
        const t0 = performance.now();
        this.options.log('loading the router classifier');
        let model: RouterModel;
        try {
          model = await load();
        } catch (e) {
          const text = errorMessage(e);
          // OnnxRouter's messages already name the model file and the fix; anything else (say, onnxruntime-node
          // missing) gets the context added.
          throw new EngineError('router-unavailable', /router model/i.test(text) ? text : `Could not load the router classifier: ${text}`, {
            cause: e,
          });
        }
        if (this.stopping) {
          await model.dispose();
          throw new EngineError('worker-unavailable', 'The engine worker is shutting down; try again.');
        }
        const loaded = { model, loadMs: Math.round(performance.now() - t0) };
        this.router = loaded;
        if (this.lastError?.code === 'router-unavailable') this.lastError = null;
        this.options.log(`router classifier loaded in ${loaded.loadMs} ms`);
        return loaded;
      })();
      this.routerLoad = promise;
      promise.catch((e: unknown) => {
        if (this.routerLoad === promise) this.routerLoad = undefined;
        this.options.log(`router load failed: ${errorMessage(e)}`);
      });
    }
    return this.routerLoad;
  }

  /** Keeps a failed load as the status's lastError and logs it; the error to send back. */
  private loadFailed(e: unknown): EngineError {
    this.lastError = serializeError(e);
    this.options.log(`load failed: ${this.lastError.message}`);
    return e instanceof EngineError ? e : new EngineError('model-load-failed', this.lastError.message);
  }

  private async status(): Promise<WorkerStatus> {
    const models = await Promise.all(
      this.engines.engines().map(async (engine) => ({
        ...(await engine.info()),
        ...engine.stats,
        modelPath: engine.config.modelPath,
        sequencesUsed: engine.poolStats.used,
        evictions: engine.poolStats.evictions,
      })),
    );
    return {
      pid: process.pid,
      version: this.options.version,
      node: process.versions.node,
      uptimeMs: Math.round(performance.now() - this.startedMono),
      clients: this.clients.size,
      activeRequests: this.active,
      requests: { ...this.requests },
      rssBytes: process.memoryUsage().rss,
      models,
      loading: this.engines.loadingPath,
      swaps: { count: this.engines.swaps, last: this.engines.lastSwap },
      router: this.router ? { provider: this.router.model.providers[0] ?? 'unknown', loadMs: this.router.loadMs } : null,
      lastError: this.lastError,
      priority: {
        ...(this.options.priority?.status() ?? { level: 'normal', value: os.getPriority(), group: null, startedLow: false, raiseRefused: null }),
        draining: this.draining !== undefined,
      },
    };
  }
}
