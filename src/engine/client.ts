// The client side of the shared engine worker, used by each VS Code window (and by tests and the CLI). It finds the
// machine's worker through the lock file or starts one, speaks the versioned protocol, streams text back, cancels on
// AbortSignal, and supervises: when the worker dies, pending requests fail with a clear error and the worker is
// restarted (with backoff) and the last model reloaded, without ever blocking the caller's event loop. Each request
// says the priority it needs (Efficiency Mode), and a worker this client starts runs at the priority of the work
// that started it; when a worker started low makes way for one at normal priority ('draining'), requests already
// sent to it are answered there and the next go to its replacement.
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { enginePriority, type EfficiencyMode, type EnginePriority } from '../core/power/efficiency';
import { FEATURE_COUNT } from '../core/routing/features';
import { deserializeError, EngineError } from './errors';
import { readMessages, writeMessage } from './framing';
import { engineKey, keyPathFor, newNonce, proofMatches, proofOf } from './handshake';
import type { ModelConfig } from './llama/engine';
import { clearStaleLock, lockHolder, lockPathFor, pidAlive, readLock, type LockInfo } from './lock';
import { currentOwner, socketProblem } from './rendezvous';
import { MAX_ROUTE_ROWS, PROTOCOL_VERSION, type ClientMessage, type WorkerMessage, type WorkerStatus } from './protocol';
import type { BackendInfo, GenerateOptions, GenerateRequest, GenerateResult, WorkPurpose } from './types';
import { errorMessage } from '../core/errors';

export interface EngineClientOptions {
  /** Folder for the lock file and the worker's log (the extension's global storage). */
  readonly stateDir: string;
  /** Path of dist/engine-worker.js. */
  readonly workerScript: string;
  /** Runtime for the worker: the extension host's own binary (Electron runs it as Node). */
  readonly execPath?: string;
  readonly clientName: string;
  readonly idleMs?: number;
  readonly startTimeoutMs?: number;
  /** Extra environment for a worker this client starts (e.g. GGML_VK_VISIBLE_DEVICES). */
  readonly workerEnv?: Readonly<Record<string, string>>;
  /** verdant.local.efficiencyMode, read at each request (default 'background'). */
  readonly efficiencyMode?: () => EfficiencyMode;
  readonly log?: (message: string) => void;
  /** Told when the worker died under us and when it is back. */
  readonly onWorkerEvent?: (event: { type: 'crashed'; pendingFailed: number } | { type: 'restarted'; pid: number }) => void;
}

interface Pending {
  readonly conn: Connection;
  readonly resolve: (value: never) => void;
  readonly reject: (error: Error) => void;
  readonly expect: WorkerMessage['type'];
  readonly onText?: (text: string) => void;
}

interface Connection {
  readonly socket: net.Socket;
  readonly pid: number;
  readonly since: number;
  /** The worker is making way for another: no new request goes here, and it is closed once its requests are answered. */
  draining: boolean;
}

/** Nothing is sent to the other end of the socket: it is not private, or what answered could not prove the key. */
export class Untrusted extends Error {}

const RESTART_DELAYS_MS = [250, 1000, 4000, 15000, 30000];
const STABLE_MS = 60000;

export class EngineClient {
  private connection: Connection | undefined;
  /** Connections to workers making way, until their requests are answered. */
  private readonly draining = new Set<Connection>();
  private connecting: Promise<Connection> | undefined;
  /** Someone waiting for the connection being made is interactive: a worker started for it runs at their priority. */
  private interactiveWaiting = false;
  /** A worker made way for interactive work: the next one this client starts runs at interactive priority. */
  private replacing = false;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private crashes = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private lastConfig: ModelConfig | undefined;
  private disposed = false;
  private readonly lockPath: string;

  constructor(private readonly options: EngineClientOptions) {
    this.lockPath = lockPathFor(options.stateDir);
  }

  get workerPid(): number | undefined {
    return this.connection?.pid;
  }

  async generate(config: ModelConfig, request: GenerateRequest, options: GenerateOptions = {}): Promise<GenerateResult> {
    const purpose = options.purpose ?? 'interactive';
    this.lastConfig = config;
    const conn = await this.connect(purpose);
    // Aborted before it was sent (while connecting, or between keystrokes): send nothing. A cancel sent after the
    // request could reach a busy worker only after a short generation had run to its end.
    if (options.signal?.aborted) return notSent(config);
    const id = this.nextId++;
    const onAbort = () => this.send(conn, { type: 'cancel', id });
    options.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return await this.request<GenerateResult>(
        conn,
        { type: 'generate', id, config, request, priority: this.priority(purpose) },
        'result',
        options.onText,
      );
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
    }
  }

  /** Loads (and warms up) the model now, so the first completion does not pay for it. */
  async load(config: ModelConfig, purpose: WorkPurpose = 'interactive'): Promise<BackendInfo> {
    this.lastConfig = config;
    const conn = await this.connect(purpose);
    return this.request<BackendInfo>(conn, { type: 'load', id: this.nextId++, config, priority: this.priority(purpose) }, 'loaded');
  }

  async status(): Promise<WorkerStatus> {
    const conn = await this.connect('interactive');
    return this.request<WorkerStatus>(conn, { type: 'status', id: this.nextId++ }, 'status');
  }

  /**
   * The router classifier, run in the worker: P(the local model suffices) for each feature vector, and the ONNX
   * execution provider that computed it. Rows are checked here so a bad one gets a precise error.
   */
  async route(features: readonly Float32Array[]): Promise<{ p: number[]; provider: string }> {
    if (features.length === 0) throw new EngineError('bad-request', 'route: no feature rows given.');
    const rows = features.map((f, i) => {
      if (f.length !== FEATURE_COUNT) throw new EngineError('bad-request', `route: row ${i} has ${f.length} features, expected ${FEATURE_COUNT}.`);
      const at = f.findIndex((x) => !Number.isFinite(x));
      if (at >= 0) throw new EngineError('bad-request', `route: row ${i} feature ${at} is ${f[at]}, not a finite number.`);
      return Array.from(f);
    });
    const conn = await this.connect('interactive');
    const batches: number[][][] = [];
    for (let i = 0; i < rows.length; i += MAX_ROUTE_ROWS) batches.push(rows.slice(i, i + MAX_ROUTE_ROWS));
    const answers = await Promise.all(
      batches.map((batch) => this.request<{ p: number[]; provider: string }>(conn, { type: 'route', id: this.nextId++, features: batch }, 'routed')),
    );
    return { p: answers.flatMap((a) => a.p), provider: answers[0]!.provider }; // one batch or more: features is not empty
  }

  /** Asks the worker to exit (all windows lose it; they restart it on their next request). */
  async shutdownWorker(): Promise<void> {
    const conn = this.connection;
    if (!conn) return;
    this.send(conn, { type: 'shutdown' });
    await new Promise<void>((r) => conn.socket.once('close', () => r()));
  }

  dispose(): void {
    this.disposed = true;
    clearTimeout(this.restartTimer);
    this.connection?.socket.destroy();
    this.connection = undefined;
    for (const conn of this.draining) conn.socket.destroy();
    this.draining.clear();
    this.failPending(new EngineError('cancelled', 'Verdant is shutting down.'));
  }

  private priority(purpose: WorkPurpose): EnginePriority {
    return enginePriority(this.options.efficiencyMode?.() ?? 'background', purpose);
  }

  private request<T>(
    conn: Connection,
    message: ClientMessage & { id: number },
    expect: WorkerMessage['type'],
    onText?: (text: string) => void,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.set(message.id, { conn, resolve: resolve as (v: never) => void, reject, expect, onText });
      if (!this.send(conn, message)) {
        this.pending.delete(message.id);
        this.closeIfDrained(conn);
        reject(new EngineError('worker-unavailable', 'The local engine connection is closed; try again.'));
      }
    });
  }

  private send(conn: Connection, message: ClientMessage): boolean {
    return writeMessage(conn.socket, message);
  }

  private async connect(purpose: WorkPurpose): Promise<Connection> {
    // A connection whose worker began making way while it was being made is skipped: its lock is gone by then.
    for (;;) {
      if (this.disposed) throw new EngineError('cancelled', 'Verdant is shutting down.');
      if (this.connection && !this.connection.socket.destroyed) return this.connection;
      if (purpose === 'interactive') this.interactiveWaiting = true;
      this.connecting ??= this.establish().finally(() => {
        this.connecting = undefined;
        this.interactiveWaiting = false;
      });
      const conn = await this.connecting;
      if (!conn.draining) return conn;
    }
  }

  /** Connects to the machine's worker, starting one if there is none (or only a stale lock). */
  private async establish(): Promise<Connection> {
    // Monotonic time: a wall clock moved back an hour must not make a window wait an hour for its worker.
    const deadline = performance.now() + (this.options.startTimeoutMs ?? 20000);
    let spawned: { exited: Promise<number | null> } | undefined;
    // What the last look at the lock found, for the error if nothing answers in time.
    let found = 'no engine.lock';
    for (let round = 0; ; round++) {
      const lock = await readLock(this.lockPath);
      const holder = lock ? lockHolder(lock) : undefined;
      if (lock && holder?.alive) {
        if (lock.protocol !== PROTOCOL_VERSION) {
          await this.retireOldWorker(lock);
        } else {
          const conn = await this.dial(lock.socket, lock.pid).catch((e: unknown) => {
            if (e instanceof Untrusted) {
              throw new EngineError(
                'unauthorized',
                `Verdant did not use the local engine: ${e.message}. If no Verdant engine is running, delete ${this.lockPath}; see the engine log at ${path.join(this.options.stateDir, 'engine.log')}.`,
              );
            }
            found = `engine.lock names process ${lock.pid}, which is running but did not answer on ${lock.socket} (${errorMessage(e)}); if that is not Verdant's engine, delete ${this.lockPath}`;
            return undefined;
          });
          if (conn) return conn;
        }
      } else if (!spawned) {
        if (lock && holder && !holder.alive) this.options.log?.(`engine: removing a stale engine.lock: ${holder.why}`);
        await clearStaleLock(this.lockPath);
        spawned = this.spawnWorker();
        found = 'the engine worker Verdant started has not answered yet';
      }
      if (spawned && performance.now() > deadline - 1000) {
        // Give an early crash of our own spawn a chance to explain itself.
        // Exit code 0 is a worker that found another one already serving: not a failure, keep connecting.
        const code = await Promise.race([spawned.exited, sleep(50).then(() => undefined)]);
        if (code !== undefined && code !== 0)
          throw new EngineError('worker-unavailable', `The local engine exited at start (code ${code}): ${await this.logTail()}`);
      }
      if (performance.now() > deadline) {
        throw new EngineError(
          'worker-unavailable',
          `The local engine did not start within ${Math.round((this.options.startTimeoutMs ?? 20000) / 1000)} s (${found}); see its log at ${path.join(this.options.stateDir, 'engine.log')}.`,
        );
      }
      await sleep(Math.min(50 * (round + 1), 250));
    }
  }

  private spawnWorker(): { exited: Promise<number | null> } {
    const priority = this.priority(this.interactiveWaiting || this.replacing ? 'interactive' : 'background');
    this.replacing = false;
    const args = [this.options.workerScript, '--state-dir', this.options.stateDir, '--priority', priority];
    if (this.options.idleMs) args.push('--idle-ms', String(this.options.idleMs));
    this.options.log?.(`starting the engine worker: ${path.basename(this.options.workerScript)} at ${priority} priority`);
    // Detached: the worker outlives the window that started it and serves the others; it exits when idle.
    const child = spawn(this.options.execPath ?? process.execPath, args, {
      detached: true,
      stdio: 'ignore',
      windowsHide: true,
      env: { ...process.env, ...this.options.workerEnv, ELECTRON_RUN_AS_NODE: '1' },
    });
    const exited = new Promise<number | null>((r) => {
      child.once('exit', (code) => r(code));
      child.once('error', () => r(-1));
    });
    child.unref();
    return { exited };
  }

  /**
   * Connects and authenticates: the socket must be private to this user (else another user could be listening), and
   * the worker must prove it holds the engine key before it is sent anything but a nonce. Rejects with Untrusted
   * when either fails for good; with another error while the worker may still be starting.
   */
  private async dial(socketPath: string, pid: number): Promise<Connection> {
    const problem = await socketProblem(socketPath);
    // A lock is written before its worker listens: no socket yet is a worker starting, anything else is refused.
    if (problem && !/\(ENOENT\)$/.test(problem)) throw new Untrusted(`the engine socket is not private to this user (${problem})`);
    if (problem) throw new Error(problem);
    const key = await engineKey(keyPathFor(this.options.stateDir), currentOwner());
    // A worker already making way says so right after 'ready', before the connection below exists.
    const early: { conn?: Connection; draining?: string } = {};
    const { socket, greeting } = await authenticate(
      socketPath,
      key,
      this.options.clientName,
      (m) => {
        if (early.conn) this.dispatch(m, early.conn);
        else if (m.type === 'draining') early.draining = m.reason;
      },
      (reason) => this.options.log?.(`engine: ${reason}`),
    );
    const conn: Connection = { socket, pid: greeting.pid, since: performance.now(), draining: false };
    early.conn = conn;
    if (greeting.pid !== pid) this.options.log?.(`engine worker pid ${greeting.pid} (lock said ${pid})`);
    socket.on('error', () => {
      /* close follows */
    });
    socket.once('close', () => this.onClose(conn));
    this.connection = conn;
    if (early.draining !== undefined) this.onDraining(conn, early.draining);
    return conn;
  }

  private dispatch(m: WorkerMessage, conn: Connection): void {
    if (m.type === 'hello' || m.type === 'ready') return;
    if (m.type === 'draining') return this.onDraining(conn, m.reason);
    if (m.id === null) {
      if (m.type === 'error') this.options.log?.(`engine error: ${m.error.message}`);
      return;
    }
    const p = this.pending.get(m.id);
    if (!p) return;
    if (m.type === 'text') {
      p.onText?.(m.text);
      return;
    }
    this.pending.delete(m.id);
    this.closeIfDrained(p.conn);
    if (m.type === 'error') p.reject(deserializeError(m.error));
    else if (m.type === p.expect)
      p.resolve(
        (m.type === 'result'
          ? m.result
          : m.type === 'loaded'
            ? m.info
            : m.type === 'routed'
              ? { p: [...m.p], provider: m.provider }
              : m.status) as never,
      );
    else p.reject(new EngineError('internal', `engine answered ${m.type} to a request expecting ${p.expect}`));
  }

  /**
   * The worker is making way for one at normal priority: requests already sent are answered there, new ones go to
   * its replacement, which is started now with the last model loaded, so the next keystroke does not wait for it.
   */
  private onDraining(conn: Connection, reason: string): void {
    if (conn.draining) return;
    conn.draining = true;
    this.draining.add(conn);
    if (this.connection === conn) this.connection = undefined;
    this.replacing = true;
    this.options.log?.(`engine worker ${conn.pid} is making way for another: ${reason}`);
    this.closeIfDrained(conn);
    const config = this.lastConfig;
    if (config && !this.disposed)
      this.load(config, 'interactive').catch((e: unknown) =>
        this.options.log?.(`engine: could not start the replacement worker: ${errorMessage(e)}`),
      );
  }

  private closeIfDrained(conn: Connection): void {
    if (!conn.draining) return;
    for (const p of this.pending.values()) if (p.conn === conn) return;
    conn.socket.destroy();
  }

  private onClose(conn: Connection): void {
    if (this.connection === conn) this.connection = undefined;
    this.draining.delete(conn);
    if (this.disposed) return;
    const failed = this.failPending(
      new EngineError('worker-crashed', 'The local engine stopped unexpectedly; Verdant is restarting it. Try again in a moment.'),
      conn,
    );
    if (conn.draining && failed === 0) return; // closed by us once its requests were answered
    if (performance.now() - conn.since > STABLE_MS) this.crashes = 0;
    const workerGone = !pidAlive(conn.pid);
    this.options.log?.(
      `engine worker ${conn.pid} ${workerGone ? 'exited' : 'closed the connection'}${failed ? `; ${failed} request(s) failed` : ''}`,
    );
    if (failed > 0 || workerGone) this.options.onWorkerEvent?.({ type: 'crashed', pendingFailed: failed });
    // Restart only when work was lost or a model was in use; an idle exit needs no restart until the next request.
    // Work the user lost is work they wait on: the replacement starts at normal priority.
    if (failed > 0 && this.lastConfig) this.scheduleRestart(this.lastConfig, 'interactive');
  }

  private scheduleRestart(config: ModelConfig, purpose: WorkPurpose): void {
    clearTimeout(this.restartTimer);
    const delay = RESTART_DELAYS_MS[Math.min(this.crashes, RESTART_DELAYS_MS.length - 1)];
    this.crashes++;
    this.restartTimer = setTimeout(() => {
      this.load(config, purpose).then(
        () => this.options.onWorkerEvent?.({ type: 'restarted', pid: this.connection?.pid ?? -1 }),
        (e) => this.options.log?.(`engine restart failed: ${errorMessage(e)}`),
      );
    }, delay);
  }

  /** Asks a worker of another protocol version to exit, after the handshake (which every version since 4 keeps). */
  private async retireOldWorker(lock: LockInfo): Promise<void> {
    this.options.log?.(`engine worker ${lock.pid} speaks protocol ${lock.protocol}, not ${PROTOCOL_VERSION}; asking it to exit`);
    if (lock.protocol < 4) return this.retireUnauthenticatedWorker(lock);
    try {
      if (await socketProblem(lock.socket)) throw new Untrusted('its socket is not private to this user');
      const key = await engineKey(keyPathFor(this.options.stateDir), currentOwner());
      const { socket } = await authenticate(lock.socket, key, this.options.clientName, () => {});
      await new Promise<void>((resolve) => {
        socket.on('error', () => resolve());
        socket.on('close', () => resolve());
        writeMessage(socket, { type: 'shutdown' });
        setTimeout(() => {
          socket.destroy();
          resolve();
        }, 3000);
      });
    } catch (e) {
      // Versions before 4 had no handshake and could not be told to exit safely; its idle timeout ends it.
      this.options.log?.(`engine worker ${lock.pid} was not asked to exit: ${errorMessage(e)}`);
      return;
    }
    for (let i = 0; i < 50 && pidAlive(lock.pid); i++) await sleep(100);
  }

  /**
   * A worker from before the handshake (protocol 3 and older) in the shared temp folder: it is told only to exit (a
   * hello in its own protocol, then shutdown), and nothing else is sent, so it does not matter who listens there.
   */
  private async retireUnauthenticatedWorker(lock: LockInfo): Promise<void> {
    await new Promise<void>((resolve) => {
      const socket = net.connect(lock.socket, () => {
        writeMessage(socket, { type: 'hello', protocol: lock.protocol, client: this.options.clientName });
        writeMessage(socket, { type: 'shutdown' });
      });
      socket.on('error', () => resolve());
      socket.on('close', () => resolve());
      setTimeout(() => {
        socket.destroy();
        resolve();
      }, 3000);
    });
    for (let i = 0; i < 50 && pidAlive(lock.pid); i++) await sleep(100);
  }

  /** Fails the requests pending on `conn` (every connection's when omitted); returns how many. */
  private failPending(error: EngineError, conn?: Connection): number {
    const failed = [...this.pending.entries()].filter(([, p]) => !conn || p.conn === conn);
    for (const [id] of failed) this.pending.delete(id);
    for (const [, p] of failed) p.reject(error);
    return failed.length;
  }

  private async logTail(): Promise<string> {
    try {
      const text = await fs.readFile(path.join(this.options.stateDir, 'engine.log'), 'utf8');
      return text.trim().split('\n').slice(-3).join(' | ').slice(-500);
    } catch {
      return 'no log written';
    }
  }
}

/** The result of a request cancelled before it reached the worker: no work was done, nothing to record. */
function notSent(config: ModelConfig): GenerateResult {
  return {
    text: '',
    stopReason: 'abort',
    usedFim: false,
    backend: 'llama.cpp',
    model: path.basename(config.modelPath),
    contextTokens: null,
    timing: { promptTokens: 0, evaluatedTokens: 0, generatedTokens: 0, ttftMs: 0, totalMs: 0, tokensPerSecond: 0 },
    confidence: { meanLogProb: null, meanEntropy: null },
  };
}

type Greeting = Extract<WorkerMessage, { type: 'hello' }>;

/**
 * The client's half of the handshake (handshake.ts) on a new connection to `socketPath`: resolves with the socket once
 * the worker has proved the key and accepted this client's proof; every later message goes to `onMessage`.
 */
export function authenticate(
  socketPath: string,
  key: Buffer,
  clientName: string,
  onMessage: (m: WorkerMessage) => void,
  onBadLine: (reason: string) => void = () => {},
): Promise<{ socket: net.Socket; greeting: Greeting }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath);
    const nonce = newNonce();
    let greeting: Greeting | undefined;
    let ready = false;
    const fail = (e: Error) => {
      if (ready) return;
      clearTimeout(timer);
      socket.destroy();
      reject(e);
    };
    const onClose = () => fail(new Error('the engine closed the connection during the handshake'));
    const timer = setTimeout(() => fail(new Error('handshake timed out')), 3000);
    socket.once('error', fail);
    socket.once('close', onClose);
    socket.once('connect', () =>
      writeMessage(socket, { type: 'hello', protocol: PROTOCOL_VERSION, client: clientName, nonce } satisfies ClientMessage),
    );
    readMessages(
      socket,
      (raw) => {
        const m = raw as WorkerMessage;
        if (ready) return onMessage(m);
        if (m.type === 'error') return fail(m.error.code === 'unauthorized' ? new Untrusted(m.error.message) : new Error(m.error.message));
        if (!greeting) {
          if (m.type !== 'hello' || !proofMatches(key, 'worker', nonce, m.nonce, m.proof)) {
            return fail(new Untrusted(`the process answering on ${socketPath} could not prove it is Verdant's engine`));
          }
          greeting = m;
          writeMessage(socket, { type: 'auth', proof: proofOf(key, 'client', nonce, m.nonce) } satisfies ClientMessage);
          return;
        }
        if (m.type !== 'ready') return fail(new Error(`unexpected ${m.type} during the handshake`));
        ready = true;
        clearTimeout(timer);
        socket.off('error', fail);
        socket.off('close', onClose);
        resolve({ socket, greeting });
      },
      (reason) => (ready ? onBadLine(reason) : fail(new Error(reason))),
    );
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
