// Shared plumbing for the HTTP inference servers (Ollama, LM Studio, mlx_lm.server, Lemonade Server, llama-server):
// undici requests with timeouts and cancellation, line readers for NDJSON and server-sent events, client-side stop
// strings, the timing/confidence bookkeeping every backend reports, and the mapping of each failure to ONE
// EngineError whose message says what went wrong and what to do.
// The server at verdant.local.serverUrl may be buggy or hostile (another local user's process can hold that port),
// so it cannot exhaust memory or hold a request forever: bodies, lines and events are read only up to caps
// (ServerLimits, core/net/bounded.ts), an answer ends on the client past maxTokens, and every request has a deadline
// and a data-idle timeout that keep-alives do not restart (core/net/watchdog.ts).
import { Agent, request, type Dispatcher } from 'undici';
import {
  cappedLines,
  clip,
  formatBytes,
  LimitExceeded,
  MAX_CHARS_PER_TOKEN,
  readCapped,
  type Framing,
  type ReadLimits,
} from '../../core/net/bounded';
import { asArray, asNumber, asObject, asString, type JsonObject } from '../../core/net/json';
import {
  firstHeader,
  ndjsonMessages,
  readSome,
  serverMessageOf,
  shorten,
  sseMessages,
  StreamFormatError,
  StreamServerError,
  type StreamMessage,
} from '../../core/net/stream';
import { CallSignal, DataIdle, DeadlinePassed, Watchdog } from '../../core/net/watchdog';
import { isLoopbackHost } from '../../core/cloud/endpoint';
import { EngineError } from '../errors';
import { PlainHttpRefused, plainHttpGuard, type Resolve } from './plainHttp';
import type { GenerateResult, StopReason } from '../types';
import { errorMessage } from '../../core/errors';

/** The settings that point Verdant at a local inference server and its model (named in errors). */
// Shared with the cloud client; kept importable from here for the backends.
export {
  asArray,
  asNumber,
  asObject,
  asString,
  firstHeader,
  ndjsonMessages,
  readSome,
  serverMessageOf,
  sseMessages,
  StreamFormatError,
  StreamServerError,
};
export type { JsonObject, StreamMessage };
export { parseStreamData, SseParser, type SseEvent } from '../../core/net/stream';

export const SERVER_URL_SETTING = 'verdant.local.serverUrl';
export const SERVER_MODEL_SETTING = 'verdant.local.serverModel';

/** How one kind of server is named and started, for messages the user can act on. */
export interface ServerProfile {
  /** Name as the user knows it, e.g. "Ollama"; starts a sentence. */
  readonly product: string;
  /** Shell command that starts the server, e.g. "ollama serve". */
  readonly startCommand: string;
  /** What to do when the server lacks a model, e.g. "get it with `ollama pull x`". */
  readonly modelHint: (model: string) => string;
  /**
   * What makes it take connections from other machines (the WSL or container host, a machine on the LAN), e.g.
   * "start it listening on the network (`OLLAMA_HOST=0.0.0.0:11434 ollama serve`)"; said when a server at another
   * address does not answer.
   */
  readonly listen?: string;
}

// ---------------------------------------------------------------------------------------------------------------
// Stop strings and the bookkeeping of one generation

/**
 * Applies stop strings to streamed text on the client (servers differ in whether and how they do): text that could
 * still become a stop string is held back, so the caller never shows text it must take back.
 */
export class StopMatcher {
  private readonly stops: readonly string[];
  private pending = '';
  private hit = false;

  constructor(stops: readonly string[]) {
    this.stops = stops.filter((s) => s !== '');
  }

  get stopped(): boolean {
    return this.hit;
  }

  /** Feeds generated text; returns the part that is now safe to show (none once a stop string was seen). */
  push(piece: string): string {
    if (this.hit) return '';
    this.pending += piece;
    let cut = -1;
    for (const s of this.stops) {
      const i = this.pending.indexOf(s);
      if (i >= 0 && (cut < 0 || i < cut)) cut = i;
    }
    if (cut >= 0) {
      this.hit = true;
      const out = this.pending.slice(0, cut);
      this.pending = '';
      return out;
    }
    const keep = this.heldBack();
    const out = this.pending.slice(0, this.pending.length - keep);
    this.pending = this.pending.slice(this.pending.length - keep);
    return out;
  }

  /** The text still held back (generation ended without completing a stop string). */
  flush(): string {
    const out = this.pending;
    this.pending = '';
    return out;
  }

  /** Length of the longest tail of the pending text that starts some stop string. */
  private heldBack(): number {
    for (let k = Math.min(this.pending.length, this.maxStopLength() - 1); k > 0; k--) {
      const tail = this.pending.slice(this.pending.length - k);
      if (this.stops.some((s) => s.startsWith(tail))) return k;
    }
    return 0;
  }

  private maxStopLength(): number {
    return this.stops.reduce((m, s) => Math.max(m, s.length), 0);
  }
}

/** What a server said about a finished generation; anything missing is derived from what the client saw. */
export interface ServerStats {
  readonly promptTokens?: number;
  readonly evaluatedTokens?: number | null;
  readonly generatedTokens?: number;
  readonly tokensPerSecond?: number;
}

export interface ResultMeta {
  readonly stopReason: StopReason;
  readonly usedFim: boolean;
  readonly backend: string;
  readonly model: string;
  /** The server's context size as the backend knows it (its info(), or the answer itself); null when unknown. */
  readonly contextTokens: number | null;
}

/** A context size a server states: a positive whole number of tokens, else null (not known). */
export function contextTokensOf(v: unknown): number | null {
  const n = asNumber(v);
  return n !== undefined && Number.isSafeInteger(n) && n > 0 ? n : null;
}

/**
 * Text, stop strings, timing and log-probabilities of one streamed generation. The text the server sends is taken
 * only up to `maxChars` (a server that ignores the token limit); what it holds stays bounded however long the stream
 * (log-probabilities are kept as a sum).
 */
export class Generation {
  private readonly matcher: StopMatcher;
  private readonly startedAt: number;
  private firstTextAt: number | null = null;
  private text = '';
  private pieces = 0;
  /** Characters taken from the server, before stop strings. */
  private received = 0;
  private reachedCap = false;
  private logProbSum = 0;
  private logProbCount = 0;

  constructor(
    stops: readonly string[],
    private readonly onText: ((text: string) => void) | undefined,
    private readonly maxChars = Infinity,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.matcher = new StopMatcher(stops);
    this.startedAt = now();
  }

  /** True once a stop string ended the generation: the caller should stop reading. */
  get stopped(): boolean {
    return this.matcher.stopped;
  }

  /** True once the text reached maxChars: the caller should stop reading (stopReason 'maxTokens'). */
  get capped(): boolean {
    return this.reachedCap;
  }

  /** Number of non-empty text pieces seen (each is one token on every supported server). */
  get pieceCount(): number {
    return this.pieces;
  }

  addText(piece: string): void {
    if (piece === '' || this.matcher.stopped || this.reachedCap) return;
    const kept = clip(piece, this.maxChars - this.received);
    this.reachedCap = kept.length < piece.length;
    if (kept === '') return;
    this.received += kept.length;
    this.pieces++;
    if (this.firstTextAt === null) this.firstTextAt = this.now();
    this.emit(this.matcher.push(kept));
  }

  addLogProbs(values: readonly number[]): void {
    if (this.matcher.stopped || this.reachedCap) return;
    for (const v of values) {
      if (!Number.isFinite(v)) continue;
      this.logProbSum += v;
      this.logProbCount++;
    }
  }

  finish(meta: ResultMeta, stats: ServerStats = {}): GenerateResult {
    const endedAt = this.now();
    this.emit(this.matcher.flush());
    const totalMs = endedAt - this.startedAt;
    const ttftMs = this.firstTextAt === null ? totalMs : this.firstTextAt - this.startedAt;
    const generatedTokens = stats.generatedTokens ?? this.pieces;
    const decodeMs = this.firstTextAt === null ? 0 : endedAt - this.firstTextAt;
    const tokensPerSecond = stats.tokensPerSecond ?? (generatedTokens > 1 && decodeMs > 0 ? (generatedTokens - 1) / (decodeMs / 1000) : 0);
    const meanLogProb = this.logProbCount === 0 ? null : this.logProbSum / this.logProbCount;
    return {
      text: this.text,
      stopReason: meta.stopReason,
      usedFim: meta.usedFim,
      backend: meta.backend,
      model: meta.model,
      contextTokens: meta.contextTokens,
      timing: {
        promptTokens: stats.promptTokens ?? 0,
        evaluatedTokens: stats.evaluatedTokens ?? null,
        generatedTokens,
        ttftMs,
        totalMs,
        tokensPerSecond,
      },
      // Servers give at most top-k probabilities, so the entropy of the full distribution is not known.
      confidence: { meanLogProb, meanEntropy: null },
    };
  }

  private emit(text: string): void {
    if (text === '') return;
    this.text += text;
    this.onText?.(text);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Failures -> EngineError

/** A non-2xx answer; kept apart from EngineError so a backend can fall back (e.g. no FIM support) before mapping. */
export class HttpStatusError extends Error {
  override readonly name = 'HttpStatusError';
  constructor(
    readonly status: number,
    readonly path: string,
    /** The server's own error text, shortened; never contains request headers. */
    readonly serverMessage: string,
    readonly retryAfterSeconds: number | null,
  ) {
    super(`HTTP ${status} for ${path}${serverMessage ? `: ${serverMessage}` : ''}`);
  }
}

function seconds(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`;
}

/** Network error codes along an error's cause chain (undici wraps socket errors; Node may aggregate them). */
function errorCodes(e: unknown): string[] {
  return causes(e).flatMap((c) => {
    const code = (c as { code?: unknown }).code;
    return typeof code === 'string' ? [code] : [];
  });
}

/** The error and what it wraps (`cause`, an AggregateError's `errors`), a few levels deep. */
function causes(e: unknown, depth = 0): object[] {
  if (depth > 4 || typeof e !== 'object' || e === null) return [];
  const inner = [(e as { cause?: unknown }).cause, ...asArray((e as { errors?: unknown }).errors)];
  return [e, ...inner.flatMap((i) => causes(i, depth + 1))];
}

export interface FailureContext {
  readonly profile: ServerProfile;
  /** The server URL as shown to the user (no credentials). */
  readonly url: string;
  readonly connectTimeoutMs: number;
  readonly timeoutMs: number;
  readonly idleMs: number;
  /** Strings that must never appear in a message (the API key). */
  readonly secrets: readonly string[];
}

/** The message for a model the server does not have. */
export function modelNotFound(ctx: FailureContext, model: string): EngineError {
  const { product, modelHint } = ctx.profile;
  return new EngineError(
    'backend-unavailable',
    `${product} at ${ctx.url} has no model "${model}": ${modelHint(model)}, or change ${SERVER_MODEL_SETTING}.`,
  );
}

/** What the server did wrong, as the client noticed it (a protocol break, or a cap or timer of our own). */
function isServerFault(e: unknown): boolean {
  return (
    e instanceof HttpStatusError ||
    e instanceof StreamFormatError ||
    e instanceof StreamServerError ||
    e instanceof LimitExceeded ||
    e instanceof DataIdle ||
    e instanceof DeadlinePassed
  );
}

/** Maps any failure of a request or stream to one EngineError; EngineErrors pass through. */
export function describeFailure(ctx: FailureContext, e: unknown, model: string): EngineError {
  if (e instanceof EngineError) return e;
  if (!isServerFault(e) && errorCodes(e).length === 0) {
    // Not a network or protocol failure (those carry a code): a bug, e.g. in an onText callback; do not blame the server.
    const detail = errorMessage(e);
    return new EngineError('internal', redact(`The ${ctx.profile.product} backend failed internally (${shorten(detail)}).`, ctx.secrets), {
      cause: e,
    });
  }
  const msg = redact(failureMessage(ctx, e, model), ctx.secrets);
  // A 4xx that no server state explains (not auth, not a missing model, not overload) is a request we got wrong.
  const code =
    e instanceof HttpStatusError && e.status >= 400 && e.status < 500 && ![401, 403, 404, 408, 429].includes(e.status)
      ? 'bad-request'
      : 'backend-unavailable';
  return new EngineError(code, msg, { cause: e });
}

function failureMessage(ctx: FailureContext, e: unknown, model: string): string {
  const { product, startCommand } = ctx.profile;
  const at = `${product} at ${ctx.url}`;
  if (e instanceof HttpStatusError) {
    const said = e.serverMessage ? `: ${e.serverMessage}` : '';
    const status = `HTTP ${e.status}${said}`;
    if (e.status === 401 || e.status === 403) return `${at} refused the request (${status}): check the API key for this server.`;
    if (e.status === 404) {
      return model !== '' && /model/i.test(e.serverMessage)
        ? modelNotFound(ctx, model).message
        : `${at} has no ${e.path} endpoint (${status}): check that ${SERVER_URL_SETTING} points at ${product}, and update it if it is old.`;
    }
    if (e.status === 429) {
      const wait = e.retryAfterSeconds != null ? `${e.retryAfterSeconds} s` : 'a few seconds';
      return `${at} is busy (${status}): wait ${wait} and try again.`;
    }
    if (e.status === 503 && /loading/i.test(e.serverMessage)) {
      return `${at} is still loading the model (${status}): try again when it has finished.`;
    }
    if (e.status === 503) return `${at} is unavailable (${status}): it may be loading a model or overloaded; try again in a few seconds.`;
    if (e.status >= 500) return `${at} failed (${status}): try again, and check its log if it keeps failing.`;
    return `${at} rejected the request (${status}): check the model name and that ${product} is up to date.`;
  }
  if (e instanceof StreamFormatError) {
    return `${at} sent a malformed response (${e.detail}): try again, and update ${product} if it keeps happening.`;
  }
  if (e instanceof StreamServerError) {
    return `${at} reported an error while generating (${e.serverMessage}): try again, and check its log if it keeps happening.`;
  }
  if (e instanceof LimitExceeded) {
    const sent = e.what === 'response' ? 'a response' : `a streamed ${e.what}`;
    return `${at} sent ${sent} of more than ${formatBytes(e.limitBytes)}: check that ${SERVER_URL_SETTING} points at ${product} (another program may be listening on that port).`;
  }
  if (e instanceof DataIdle) return noData(ctx);
  if (e instanceof DeadlinePassed) {
    return `${at} did not finish answering within ${seconds(e.ms)}: it is too slow or stuck; restart it, and check that ${SERVER_URL_SETTING} points at ${product}.`;
  }
  const refused = causes(e).find((c): c is PlainHttpRefused => c instanceof PlainHttpRefused);
  if (refused) {
    return `Nothing was sent to ${ctx.url}: ${refused.message}, and plain http goes only to this machine or a private network; use that machine's private address or https in ${SERVER_URL_SETTING}.`;
  }
  const codes = errorCodes(e);
  const has = (...cs: string[]) => cs.some((c) => codes.includes(c));
  const elsewhere = listenHint(ctx);
  if (has('ECONNREFUSED')) {
    return elsewhere
      ? `${product} is not running at ${ctx.url}, or takes no connections from other machines: ${elsewhere}, or change ${SERVER_URL_SETTING}.`
      : `${product} is not running at ${ctx.url}: start it with \`${startCommand}\`, or change ${SERVER_URL_SETTING}.`;
  }
  if (has('ENOTFOUND', 'EAI_AGAIN', 'EAI_NONAME', 'EAI_FAIL')) {
    return `${product} is not reachable at ${ctx.url} (the host name does not resolve): check ${SERVER_URL_SETTING}, and start it with \`${startCommand}\`.`;
  }
  if (has('UND_ERR_CONNECT_TIMEOUT', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH')) {
    const check = elsewhere ? `${elsewhere}; check` : `check that it is running (\`${startCommand}\`) and`;
    return `${product} did not accept a connection at ${ctx.url} within ${seconds(ctx.connectTimeoutMs)}: ${check} that ${SERVER_URL_SETTING} is right.`;
  }
  if (has('UND_ERR_HEADERS_TIMEOUT')) {
    return `${at} did not answer within ${seconds(ctx.timeoutMs)}: it may be loading the model or busy; try again in a moment.`;
  }
  if (has('UND_ERR_BODY_TIMEOUT')) return noData(ctx);
  if (has('UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE', 'UND_ERR_CLOSED')) {
    return `${at} closed the connection without answering: check that ${SERVER_URL_SETTING} points at ${product}, and look at its log.`;
  }
  if (has('UND_ERR_DESTROYED')) return `The ${product} backend was shut down; try again.`;
  const detail = errorMessage(e);
  return `The request to ${at} failed (${shorten(detail)}): check that it is running and that ${SERVER_URL_SETTING} is right.`;
}

/**
 * For a server at another machine's address (the Windows host of WSL, a container's host, the LAN): how to make it
 * take connections from here, and the firewall on its side; undefined for a server on this machine.
 */
function listenHint(ctx: FailureContext): string | undefined {
  let url: URL;
  try {
    url = new URL(ctx.url);
  } catch {
    return undefined;
  }
  if (!ctx.profile.listen || isLoopbackHost(url.hostname)) return undefined;
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  return `on that machine, ${ctx.profile.listen} and let port ${port} through its firewall`;
}

/** No data for the idle time in the middle of a body (undici's byte-level timeout, or the stream's data watch). */
function noData(ctx: FailureContext): string {
  return `${ctx.profile.product} at ${ctx.url} sent no data for ${seconds(ctx.idleMs)} in the middle of an answer: try again, and restart it if it keeps happening.`;
}

function redact(text: string, secrets: readonly string[]): string {
  let out = text.replace(/Bearer\s+\S+/gi, 'Bearer ***');
  for (const s of secrets) if (s.length >= 4) out = out.split(s).join('***');
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// The HTTP client

const KiB = 1024;
const MiB = 1024 * KiB;

/** Caps on what is read from a local server. */
export type ServerLimits = ReadLimits;

/**
 * A non-streamed answer (info()'s JSON: Ollama's /api/show, with the template and licence, is tens of KB) up to 8 MiB;
 * a streamed line (NDJSON) or event (SSE) up to 4 MiB: most are a few hundred bytes, but Ollama's last /api/generate
 * line carries `context` (every token id of prompt and answer) and llama-server's last event echoes the prompt, about
 * 1 MB for a 128k-token context.
 */
export const DEFAULT_SERVER_LIMITS: ServerLimits = {
  maxResponseBytes: 8 * MiB,
  maxErrorBytes: 16 * KiB,
  maxEventBytes: 4 * MiB,
  charsPerToken: MAX_CHARS_PER_TOKEN,
};

/** How to reach a server and how long to wait for it: what every backend passes on to its HttpClient. */
export interface ServerConnectionOptions {
  /** Sent as `Authorization: Bearer …`; never logged or put in a message. */
  readonly apiKey?: string;
  /** Longest wait for the connection's response headers (default 120 s: loading a model is slow). */
  readonly timeoutMs?: number;
  /** Longest wait for the next data in a body; keep-alives (blank lines, `: ping` comments) do not count (default timeoutMs). */
  readonly idleMs?: number;
  /**
   * The whole request: connection, headers and body (default: two timeoutMs, for a model load and the prompt, plus
   * half a second per token asked for; a server slower than 2 tokens/s is of no use for coding anyway).
   */
  readonly deadlineMs?: number;
  readonly limits?: Partial<ServerLimits>;
  /** How a host name in a plain-http URL is looked up (default dns.lookup; only private answers are used either way). */
  readonly resolve?: Resolve;
}

export interface HttpClientOptions extends ServerConnectionOptions {
  readonly baseUrl: string;
  readonly profile: ServerProfile;
  /** Longest wait for the TCP connection (default the smaller of timeoutMs and 5 s; local servers accept at once). */
  readonly connectTimeoutMs?: number;
}

/** The connection options of a backend's options (which also name its URL, model and so on). */
export function connectionOptions(o: ServerConnectionOptions): ServerConnectionOptions {
  return { apiKey: o.apiKey, timeoutMs: o.timeoutMs, idleMs: o.idleMs, deadlineMs: o.deadlineMs, limits: o.limits, resolve: o.resolve };
}

export const DEFAULT_TIMEOUT_MS = 120_000;
/** The deadline's allowance per token asked for (2 tokens/s). */
const DEADLINE_MS_PER_TOKEN = 500;

/** An open streaming response. */
export interface OpenStream {
  readonly lines: AsyncGenerator<string>;
  /** Stops reading and closes the connection (no-op once the body has ended); `error` is what the reader then throws. */
  close(error?: Error): void;
}

/** undici requests to one server, with its own connection pool (closed by close()). */
export class HttpClient {
  readonly baseUrl: string;
  readonly failure: FailureContext;
  readonly limits: ServerLimits;
  private readonly agent: Agent;
  private readonly headers: Record<string, string>;
  private readonly deadlineMs: number | undefined;
  /** Set for a plain-http URL to a public address: nothing is sent (the settings refuse one; this holds for any caller). */
  private readonly refusal: string | undefined;
  private closed = false;

  constructor(options: HttpClientOptions) {
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const idleMs = options.idleMs ?? timeoutMs;
    const connectTimeoutMs = options.connectTimeoutMs ?? Math.min(timeoutMs, 5_000);
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.limits = { ...DEFAULT_SERVER_LIMITS, ...options.limits };
    this.deadlineMs = options.deadlineMs;
    this.failure = {
      profile: options.profile,
      url: displayUrl(this.baseUrl),
      connectTimeoutMs,
      timeoutMs,
      idleMs,
      secrets: options.apiKey ? [options.apiKey] : [],
    };
    const guard = plainHttpGuard(this.baseUrl, options.resolve);
    this.refusal = guard.refusal;
    // undici's body timeout restarts on any byte; the data-idle watch of runStream is the one keep-alives cannot feed.
    this.agent = new Agent({
      connect: { timeout: connectTimeoutMs, ...(guard.lookup ? { lookup: guard.lookup } : {}) },
      headersTimeout: timeoutMs,
      bodyTimeout: idleMs,
    });
    this.headers = { 'content-type': 'application/json', accept: 'application/json, application/x-ndjson, text/event-stream' };
    if (options.apiKey) this.headers.authorization = `Bearer ${options.apiKey}`;
  }

  /** The whole request's time limit, for an answer of up to `maxTokens` tokens (0 for a JSON request). */
  deadlineFor(maxTokens: number): number {
    return this.deadlineMs ?? 2 * this.failure.timeoutMs + maxTokens * DEADLINE_MS_PER_TOKEN;
  }

  /** A Generation whose text stops at maxTokens x charsPerToken characters. */
  generation(maxTokens: number, stops: readonly string[], onText: ((text: string) => void) | undefined): Generation {
    return new Generation(stops, onText, maxTokens * this.limits.charsPerToken);
  }

  /** POSTs JSON and returns the body as lines, each line (and SSE event) capped; a non-2xx answer throws HttpStatusError. */
  async openStream(path: string, body: unknown, framing: Framing, signal: AbortSignal): Promise<OpenStream> {
    const res = await this.send('POST', path, body, signal);
    return { lines: cappedLines(res.body, this.limits.maxEventBytes, framing), close: (error) => res.body.destroy(error) };
  }

  /**
   * A JSON request (GET when body is undefined), read up to maxResponseBytes and within the deadline; a non-2xx answer
   * throws HttpStatusError.
   */
  async json(path: string, body?: unknown, signal?: AbortSignal): Promise<unknown> {
    const call = new CallSignal(this.deadlineFor(0), signal);
    let text: string;
    try {
      text = await this.readBody(await this.send(body === undefined ? 'GET' : 'POST', path, body, call.signal));
    } catch (e) {
      throw call.expired ? new DeadlinePassed(this.deadlineFor(0)) : e;
    } finally {
      call.dispose();
    }
    try {
      return JSON.parse(text);
    } catch {
      throw new StreamFormatError(`${path} did not return JSON`);
    }
  }

  /** The one EngineError for a failure of this client's requests. */
  toEngineError(e: unknown, model: string): EngineError {
    return describeFailure(this.failure, e, model);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.agent.destroy();
  }

  /** A whole body up to the cap (refused at once when its Content-Length says more); the connection is closed past it. */
  private async readBody(res: Dispatcher.ResponseData): Promise<string> {
    const declared = firstHeader(res.headers['content-length']);
    try {
      return await readCapped(res.body, 'response', this.limits.maxResponseBytes, declared === '' ? undefined : declared);
    } finally {
      if (!res.body.readableEnded) res.body.destroy(); // a connection left mid-body cannot be reused: close it
    }
  }

  private async send(method: 'GET' | 'POST', path: string, body: unknown, signal?: AbortSignal): Promise<Dispatcher.ResponseData> {
    if (this.closed) throw new EngineError('internal', `The ${this.failure.profile.product} backend was disposed; create a new one.`);
    if (this.refusal) {
      throw new EngineError('backend-unavailable', `Nothing was sent to ${this.failure.url}: ${this.refusal}; change ${SERVER_URL_SETTING}.`);
    }
    const res = await request(`${this.baseUrl}${path}`, {
      method,
      headers: this.headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
      dispatcher: this.agent,
    });
    if (res.statusCode >= 200 && res.statusCode < 300) return res;
    const text = await readSome(res.body, this.limits.maxErrorBytes);
    // Retry-After in seconds; the HTTP-date form is rare from local servers and is ignored.
    const retryHeader = firstHeader(res.headers['retry-after']).trim();
    const retry = /^\d+$/.test(retryHeader) ? Number(retryHeader) : null;
    throw new HttpStatusError(res.statusCode, path, redact(serverMessageOf(text), this.failure.secrets), retry);
  }
}

/** The URL without user info, for messages. */
export function displayUrl(base: string): string {
  try {
    const u = new URL(base);
    u.username = '';
    u.password = '';
    return u.toString().replace(/\/+$/, '');
  } catch {
    return base;
  }
}

/** The server's host port as a number, or null when the URL names none. */
export function urlPort(base: string): number | null {
  try {
    const port = new URL(base).port;
    return port === '' ? null : Number(port);
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Running one streamed generation

/** 'final' marks the message that completes the answer (more, such as usage, may follow); 'end' stops reading. */
export type MessageVerdict = 'more' | 'final' | 'end';
/** 'length': the client's cap on the text (maxTokens x charsPerToken) ended the answer. */
export type StreamOutcome = 'complete' | 'stop' | 'abort' | 'length';

export interface StreamSpec {
  readonly path: string;
  readonly body: unknown;
  readonly format: Framing;
  /** The request's maxTokens: the deadline allows for it. */
  readonly maxTokens: number;
  readonly onMessage: (message: StreamMessage) => MessageVerdict;
}

/** The stop reason an outcome decides by itself; undefined for 'complete', where the server's last message says. */
export function outcomeStopReason(outcome: StreamOutcome): StopReason | undefined {
  switch (outcome) {
    case 'abort':
      return 'abort';
    case 'stop':
      return 'stop';
    case 'length':
      return 'maxTokens';
    case 'complete':
      return undefined;
  }
}

/**
 * Streams one request into `generation`. Resolves 'abort' when `signal` fires (the request is aborted at once, so
 * the server sees the connection close), 'stop' when a stop string ended it, 'length' when the generation's cap on
 * the text did (the connection is closed then too), else 'complete'. Failures are thrown as they are
 * (HttpStatusError, StreamFormatError, LimitExceeded, network errors), DataIdle when no message came for the idle
 * time (keep-alives do not count) and DeadlinePassed past the request's deadline, so the caller can fall back before
 * mapping them with HttpClient.toEngineError.
 */
export async function runStream(
  client: HttpClient,
  spec: StreamSpec,
  generation: Generation,
  signal: AbortSignal | undefined,
): Promise<StreamOutcome> {
  if (signal?.aborted) return 'abort';
  const deadlineMs = client.deadlineFor(spec.maxTokens);
  const call = new CallSignal(deadlineMs, signal);
  let stream: OpenStream | undefined;
  const idle = new Watchdog(client.failure.idleMs, () => stream?.close(new DataIdle()));
  let opened = false;
  try {
    stream = await client.openStream(spec.path, spec.body, spec.format, call.signal);
    opened = true;
    idle.touch();
    const messages = spec.format === 'ndjson' ? ndjsonMessages(stream.lines) : sseMessages(stream.lines);
    let final = false;
    for await (const message of messages) {
      idle.touch(); // only messages: blank lines and comments never reach here
      const verdict = spec.onMessage(message);
      if (generation.stopped) return 'stop';
      if (generation.capped) return 'length';
      if (verdict !== 'more') final = true;
      if (verdict === 'end') break;
    }
    if (!final) throw new StreamFormatError('the stream ended before the final message');
    return 'complete';
  } catch (e) {
    if (call.cancelled) return 'abort';
    // Our own stops, whatever error they surfaced as.
    if (call.expired) throw new DeadlinePassed(deadlineMs);
    if (idle.expired) throw new DataIdle();
    // A connection that drops mid-answer is a stream cut short, not a server that never answered.
    if (
      opened &&
      !(e instanceof StreamFormatError || e instanceof StreamServerError) &&
      errorCodes(e).some((c) => ['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE', 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH'].includes(c))
    ) {
      throw new StreamFormatError('the connection closed before the final message');
    }
    throw e;
  } finally {
    idle.stop();
    call.dispose();
    stream?.close(); // a connection left mid-answer cannot be reused: the server sees it close
  }
}
