// Messages between clients (extension host windows, tests) and the shared engine worker: newline-delimited JSON
// over a local socket (a named pipe on Windows). Every connection starts with the handshake (handshake.ts): hello
// with the client's nonce, hello with the worker's nonce and proof, auth with the client's proof, ready. That much
// stays the same across versions; past it, a client never talks to a worker of another protocol version, it asks
// that worker to shut down and starts its own.
import type { EnginePriority } from '../core/power/efficiency';
import { FEATURE_COUNT } from '../core/routing/features';
import type { SwapEvent } from './enginePool';
import type { SerializedError } from './errors';
import type { ModelConfig } from './llama/engine';
import type { PriorityStatus } from './priority';
import type { BackendInfo, GenerateRequest, GenerateResult } from './types';

/**
 * 6: generate and load say the priority they need, and a worker started low that the OS will not raise answers
 * 'draining' (a worker of 5 would ignore the priority, so it is replaced).
 * 7: the worker holds a model per role (#21): status lists every loaded model and the swaps between them.
 */
export const PROTOCOL_VERSION = 7;

/** Most feature rows one 'route' message may carry (a caller batching more splits them). */
export const MAX_ROUTE_ROWS = 1024;

export type ClientMessage =
  | { readonly type: 'hello'; readonly protocol: number; readonly client: string; readonly nonce: string }
  /** The client's proof that it holds the engine key (after the worker's hello). */
  | { readonly type: 'auth'; readonly proof: string }
  /** priority 'normal' (the default) raises a worker started low; 'low' never lowers one. */
  | {
      readonly type: 'generate';
      readonly id: number;
      readonly config: ModelConfig;
      readonly request: GenerateRequest;
      readonly priority?: EnginePriority;
    }
  | { readonly type: 'cancel'; readonly id: number }
  | { readonly type: 'load'; readonly id: number; readonly config: ModelConfig; readonly priority?: EnginePriority }
  | { readonly type: 'status'; readonly id: number }
  /** The router classifier: P(local suffices) for each FEATURE_COUNT-long row. */
  | { readonly type: 'route'; readonly id: number; readonly features: readonly (readonly number[])[] }
  | { readonly type: 'shutdown' };

export interface LoadedModelStatus extends BackendInfo {
  readonly modelPath: string;
  readonly loadMs: number;
  readonly warmupMs: number;
  /** Weights and KV cache as estimated before loading, bytes. */
  readonly memoryBytes: number;
  readonly sequencesUsed: number;
  readonly evictions: number;
}

export interface WorkerStatus {
  readonly pid: number;
  readonly version: string;
  readonly node: string;
  readonly uptimeMs: number;
  readonly clients: number;
  readonly activeRequests: number;
  /** Generate requests since the worker started, by how they ended (cancelled ones count as aborted). */
  readonly requests: { readonly finished: number; readonly aborted: number; readonly failed: number };
  readonly rssBytes: number;
  /** The loaded models, the most recently used first. */
  readonly models: readonly LoadedModelStatus[];
  readonly loading: string | null;
  /** Models unloaded to make room for another (memory, or the most the worker holds), and the latest. */
  readonly swaps: { readonly count: number; readonly last: SwapEvent | null };
  /** The router classifier, once a 'route' request has loaded it. */
  readonly router: { readonly provider: string; readonly loadMs: number } | null;
  readonly lastError: SerializedError | null;
  /** The worker's OS priority; draining: it is making way for a worker at normal priority. */
  readonly priority: PriorityStatus & { readonly draining: boolean };
}

export type WorkerMessage =
  | {
      readonly type: 'hello';
      readonly protocol: number;
      readonly version: string;
      readonly pid: number;
      readonly node: string;
      readonly nonce: string;
      readonly proof: string;
    }
  /** The client's proof was good: requests may follow. */
  | { readonly type: 'ready' }
  | { readonly type: 'text'; readonly id: number; readonly text: string }
  | { readonly type: 'result'; readonly id: number; readonly result: GenerateResult }
  | { readonly type: 'loaded'; readonly id: number; readonly info: BackendInfo }
  | { readonly type: 'status'; readonly id: number; readonly status: WorkerStatus }
  | { readonly type: 'routed'; readonly id: number; readonly p: readonly number[]; readonly provider: string }
  | { readonly type: 'error'; readonly id: number | null; readonly error: SerializedError }
  /**
   * Sent to every client when this worker makes way for another (it was started low and the OS will not raise it):
   * its lock is already gone, what was sent to it is still answered, and it exits once every client has closed.
   */
  | { readonly type: 'draining'; readonly reason: string };

const CLIENT_TYPES = new Set(['hello', 'auth', 'generate', 'cancel', 'load', 'status', 'route', 'shutdown']);

function featureRows(v: unknown): boolean {
  return (
    Array.isArray(v) &&
    v.length >= 1 &&
    v.length <= MAX_ROUTE_ROWS &&
    v.every((row) => Array.isArray(row) && row.length === FEATURE_COUNT && row.every((x) => typeof x === 'number' && Number.isFinite(x)))
  );
}

/** Shape check at the trust boundary (anything on this machine can connect to the socket). */
export function parseClientMessage(m: unknown): ClientMessage | undefined {
  if (typeof m !== 'object' || m === null) return undefined;
  const o = m as Record<string, unknown>;
  if (typeof o.type !== 'string' || !CLIENT_TYPES.has(o.type)) return undefined;
  if (o.type === 'hello') return typeof o.protocol === 'number' && typeof o.client === 'string' ? (m as ClientMessage) : undefined;
  if (o.type === 'auth') return typeof o.proof === 'string' ? (m as ClientMessage) : undefined;
  if (o.type !== 'shutdown' && typeof o.id !== 'number') return undefined;
  if (
    (o.type === 'generate' || o.type === 'load') &&
    (typeof o.config !== 'object' || o.config === null || typeof (o.config as ModelConfig).modelPath !== 'string')
  )
    return undefined;
  if (o.type === 'generate' && (typeof o.request !== 'object' || o.request === null)) return undefined;
  if (o.type === 'route' && !featureRows(o.features)) return undefined;
  if ((o.type === 'generate' || o.type === 'load') && o.priority !== undefined && o.priority !== 'low' && o.priority !== 'normal') return undefined;
  return m as ClientMessage;
}
