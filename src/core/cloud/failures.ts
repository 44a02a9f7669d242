// Maps every way a cloud request fails to ONE CloudError whose message names the fix, and says which failures
// are worth retrying. Server text is shortened and redacted: some servers echo the request, key included.
import { serverMessageOf, StreamFormatError, StreamServerError } from '../net/stream';
import { CloudError } from './errors';
import { redact } from './endpoint';
import { formatBytes, LimitExceeded } from '../net/bounded';
import { DataIdle } from '../net/watchdog';
import type { Oversized } from './limits';

export const KEY_COMMAND = 'Verdant: Set Cloud API Key';
const ENDPOINT_SETTING = 'verdant.cloud.endpoint';
const MODEL_SETTING = 'verdant.cloud.model';
const DEADLINE_SETTING = 'verdant.cloud.requestTimeoutSeconds';

/** Statuses that mean "try again later": overload, rate limits, a gateway that lost its upstream. */
const RETRY_STATUSES = new Set([429, 500, 502, 503, 504]);
/** Network failures that happen before a request is processed, so sending it again is safe. */
const RETRY_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'UND_ERR_SOCKET']);

const retryable = new WeakSet<CloudError>();

export function isRetryable(e: CloudError): boolean {
  return retryable.has(e);
}

function markRetryable(e: CloudError): CloudError {
  retryable.add(e);
  return e;
}

export interface FailureContext {
  /** Endpoint host as shown to the user. */
  readonly host: string;
  readonly model: string;
  /** Strings never to show (the API key). */
  readonly secrets: readonly (string | undefined)[];
  readonly timeouts: { readonly connectMs: number; readonly headersMs: number; readonly bodyIdleMs: number; readonly deadlineMs: number };
  /** Whether an API key was sent (a 401 without one asks to set it, not to set it again). */
  readonly hadKey: boolean;
  readonly usingProxy: boolean;
}

/** A non-2xx answer, as read from the response. */
export interface HttpFailure {
  readonly status: number;
  readonly path: string;
  /** The error body (a bounded prefix). */
  readonly body: string;
  readonly retryAfterMs?: number;
}

/** A 400 that says the server cannot stream (or does not take stream_options): ask again without streaming. */
export function refusesStreaming(f: HttpFailure): boolean {
  return f.status === 400 && /stream/i.test(f.body);
}

export function httpFailure(ctx: FailureContext, f: HttpFailure): CloudError {
  const said = shortSaid(ctx, f);
  const at = `The endpoint at ${ctx.host}`;
  const details = { status: f.status, ...(f.retryAfterMs !== undefined ? { retryAfterMs: f.retryAfterMs } : {}) };
  if (f.status === 401 || f.status === 403) {
    const msg = ctx.hadKey
      ? `${at} refused the API key (${said}): set it again with ${KEY_COMMAND}.`
      : `${at} needs an API key (${said}): set it with ${KEY_COMMAND}.`;
    return new CloudError('unauthorized', msg, details);
  }
  if (f.status === 404) {
    const aboutModel = /model/i.test(f.body) || f.path.endsWith('/chat/completions');
    return new CloudError(
      'not-found',
      aboutModel
        ? `${at} has no model "${ctx.model}" (${said}): check ${MODEL_SETTING} against the provider's model list.`
        : `${at} has no ${f.path} endpoint (${said}): check that ${ENDPOINT_SETTING} is the API's base URL (usually ending in /v1).`,
      details,
    );
  }
  if (f.status === 429) {
    const wait = f.retryAfterMs !== undefined ? `${seconds(f.retryAfterMs)}` : 'a minute';
    return markRetryable(
      new CloudError('rate-limited', `${at} is rate-limiting requests (${said}): wait ${wait} and try again, or check your plan's limits.`, details),
    );
  }
  if (f.status >= 500) {
    const e = new CloudError('server', `${at} failed (${said}): try again in a moment, or use the local model until the provider recovers.`, details);
    return RETRY_STATUSES.has(f.status) ? markRetryable(e) : e;
  }
  if (f.status === 408) {
    return markRetryable(new CloudError('timeout', `${at} timed out reading the request (${said}): try again.`, details));
  }
  return new CloudError(
    'bad-response',
    `${at} rejected the request (${said}): check ${MODEL_SETTING} and that ${ENDPOINT_SETTING} is an OpenAI-compatible API.`,
    details,
  );
}

/** A Retry-After longer than we are willing to wait. */
export function retryAfterTooLong(ctx: FailureContext, f: HttpFailure, retryAfterMs: number, nowMs: number): CloudError {
  const when = new Date(nowMs + retryAfterMs).toISOString().replace(/\.\d+Z$/, 'Z');
  return new CloudError(
    'rate-limited',
    `The endpoint at ${ctx.host} is rate-limiting requests and asks to wait ${seconds(retryAfterMs)}: try again after ${when}, or use the local model until then.`,
    { status: f.status, retryAfterMs },
  );
}

/**
 * Failures thrown while connecting, waiting or reading: undici/network errors, broken streams, the client's own caps,
 * and anything else reading the answer threw (a RangeError or TypeError never reaches the caller as it is).
 */
export function transportFailure(ctx: FailureContext, e: unknown, partialText: string): CloudError {
  const at = `The endpoint at ${ctx.host}`;
  const partial = { partialText, cause: e };
  if (e instanceof CloudError) return e.withPartialText(partialText);
  if (e instanceof LimitExceeded) return tooLarge(ctx, e, partialText);
  if (e instanceof DataIdle) return idleTimeout(ctx, partialText, e);
  if (e instanceof StreamFormatError) {
    return new CloudError(
      'bad-response',
      `${at} sent a malformed answer (${e.detail}): try again, and check that ${ENDPOINT_SETTING} is an OpenAI-compatible API.`,
      partial,
    );
  }
  if (e instanceof StreamServerError) {
    return new CloudError(
      'server',
      `${at} reported an error while answering (${redact(e.serverMessage, ctx.secrets)}): try again in a moment.`,
      partial,
    );
  }
  const codes = errorCodes(e);
  if (codes.length === 0) {
    const what = e instanceof Error ? e.name : typeof e;
    return new CloudError(
      'bad-response',
      `${at} sent an answer Verdant could not read (${what}): try again, and check that ${ENDPOINT_SETTING} is an OpenAI-compatible API.`,
      partial,
    );
  }
  const has = (...cs: string[]) => cs.some((c) => codes.includes(c));
  const via = ctx.usingProxy ? ' (through the proxy in http.proxy)' : '';
  if (has('UND_ERR_CONNECT_TIMEOUT', 'ETIMEDOUT')) {
    return new CloudError(
      'timeout',
      `Could not connect to ${ctx.host}${via} within ${seconds(ctx.timeouts.connectMs)}: check your network connection and proxy settings.`,
      partial,
    );
  }
  if (has('UND_ERR_HEADERS_TIMEOUT')) {
    return new CloudError(
      'timeout',
      `${at} did not start answering within ${seconds(ctx.timeouts.headersMs)}: it may be overloaded; try again in a moment.`,
      partial,
    );
  }
  if (has('UND_ERR_BODY_TIMEOUT')) return idleTimeout(ctx, partialText, e);
  if (has('ENOTFOUND', 'EAI_AGAIN', 'EAI_NONAME', 'EAI_FAIL')) {
    return new CloudError(
      'network',
      `The host ${ctx.host} could not be found${via}: check ${ENDPOINT_SETTING} and your network connection.`,
      partial,
    );
  }
  const cut = partialText !== '' ? ' in the middle of the answer' : '';
  const error = new CloudError(
    'network',
    has('ECONNREFUSED')
      ? `${ctx.host} refused the connection${via}: check ${ENDPOINT_SETTING} and that the service is up.`
      : `The connection to ${ctx.host}${via} failed${cut} (${codes[0]}): check your network connection and try again.`,
    partial,
  );
  // After text was shown, sending again would duplicate it.
  return partialText === '' && has(...RETRY_CODES) ? markRetryable(error) : error;
}

/** No data for the idle time in the middle of a body (undici's byte-level timeout, or the stream's data watch). */
function idleTimeout(ctx: FailureContext, partialText: string, cause: unknown): CloudError {
  return new CloudError(
    'idle-timeout',
    `The endpoint at ${ctx.host} stopped sending for ${seconds(ctx.timeouts.bodyIdleMs)} in the middle of the answer: try again.`,
    { partialText, cause },
  );
}

/** The whole call (connect, headers, body, retries and their waits) took longer than the deadline. */
export function deadlinePassed(ctx: FailureContext, partialText: string): CloudError {
  return new CloudError(
    'deadline',
    `The endpoint at ${ctx.host} did not finish answering within ${seconds(ctx.timeouts.deadlineMs)}: try again, or ask for less; a slow endpoint may need a longer ${DEADLINE_SETTING}.`,
    { partialText },
  );
}

const OVERSIZED: Readonly<Record<Oversized, string>> = { answer: 'an answer', 'model list': 'a model list', event: 'a streamed event' };

function tooLarge(ctx: FailureContext, e: LimitExceeded, partialText: string): CloudError {
  const sent = OVERSIZED[e.what as Oversized] ?? `a ${e.what}`;
  const fix = `check that ${ENDPOINT_SETTING} points to an OpenAI-compatible API`;
  return new CloudError(
    e.what === 'event' ? 'event-too-large' : 'response-too-large',
    `The endpoint at ${ctx.host} sent ${sent} of more than ${formatBytes(e.limitBytes)}: ${fix}.`,
    { partialText, cause: e },
  );
}

export function cancelled(partialText: string): CloudError {
  return new CloudError('cancelled', 'The cloud request was cancelled.', { partialText });
}

function shortSaid(ctx: FailureContext, f: HttpFailure): string {
  // Redacted before shortening, so a cut cannot leave half a key behind.
  const text = redact(serverMessageOf(redact(f.body, ctx.secrets)), ctx.secrets);
  return text === '' ? `HTTP ${f.status}` : `HTTP ${f.status}: ${text}`;
}

/** 65536 -> "64 KiB", 8388608 -> "8 MiB". */
function seconds(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`;
}

/** Error codes along the cause chain (undici wraps socket errors; Node may aggregate connection attempts). */
function errorCodes(e: unknown, depth = 0): string[] {
  if (depth > 4 || typeof e !== 'object' || e === null) return [];
  const out: string[] = [];
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'string') out.push(code);
  out.push(...errorCodes((e as { cause?: unknown }).cause, depth + 1));
  const inner = (e as { errors?: unknown }).errors;
  if (Array.isArray(inner)) for (const x of inner) out.push(...errorCodes(x, depth + 1));
  return out;
}
