// The green-cloud client: an OpenAI-compatible /v1/chat/completions client on undici, with its own connection
// pool (or a proxy agent), streaming with a non-streaming fallback, connect/headers/data-idle timeouts and a deadline
// for the whole call, retries with full-jitter backoff that honour Retry-After, and cancellation end to end. Plain
// Node: no 'vscode'.
//
// Rules that protect the user: plain http only to this machine (checked before any request); the API key only in
// the Authorization header and redacted from anything a server sends back; never a retry once text was streamed
// (the caller has shown it; a retry would duplicate it): the error carries `partialText` instead. A hostile endpoint
// cannot exhaust memory or hold a call forever: bodies, lines and events are read only up to caps (limits.ts), an
// answer ends on the client past max_tokens, and only data (not keep-alive comments) counts as progress.
import { Agent, ProxyAgent, request, type Dispatcher } from 'undici';
import { asArray, asObject, asString } from '../net/json';
import { firstHeader, readSome, serverJson, sseMessages, StreamFormatError } from '../net/stream';
import { VERSION } from '../version';
import { bypassesProxy, parseEndpoint, type CloudEndpoint } from './endpoint';
import { CloudError } from './errors';
import {
  cancelled,
  deadlinePassed,
  httpFailure,
  isRetryable,
  refusesStreaming,
  retryAfterTooLong,
  transportFailure,
  type FailureContext,
  type HttpFailure,
} from './failures';
import { cappedLines, clip, readCapped } from '../net/bounded';
import { CallSignal, DataIdle, Watchdog } from '../net/watchdog';
import { DEFAULT_LIMITS, type CloudLimits, type Oversized } from './limits';
import { abortableSleep, backoffMs, DEFAULT_RETRY_POLICY, parseRetryAfter, type RetryPolicy, type Sleep } from './retry';
import { chatBody, estimateTokens, readChunk, readCompletion, type CloudChatRequest, type WirePiece } from './wire';

export { CloudError, type CloudErrorCode } from './errors';
export { DEFAULT_LIMITS, type CloudLimits } from './limits';
export type { CloudChatRequest } from './wire';
export type { RetryPolicy, Sleep } from './retry';

export interface CloudTimeouts {
  /** TCP (+ TLS, + proxy tunnel) connection. */
  readonly connectMs: number;
  /** From sending the request to the response headers. */
  readonly headersMs: number;
  /** Longest silence between two pieces of a body; in a stream, between two data events (comments do not count). */
  readonly bodyIdleMs: number;
  /** The whole call: connection, headers, body, and any retries with their waits. */
  readonly deadlineMs: number;
}

/** Five minutes for a whole answer: 4,096 tokens at 15 tokens/s, with room for a slow start. */
export const DEFAULT_TIMEOUTS: CloudTimeouts = { connectMs: 10_000, headersMs: 60_000, bodyIdleMs: 30_000, deadlineMs: 300_000 };

export interface CloudClientOptions {
  /** e.g. https://api.example.com/v1 (with or without /v1). */
  readonly baseUrl: string;
  /** Read before each request, so a key set meanwhile is used; undefined sends no Authorization header. */
  readonly apiKey?: () => Promise<string | undefined>;
  readonly model: string;
  readonly timeouts?: Partial<CloudTimeouts>;
  /** Caps on what is read from the endpoint (tests make them small). */
  readonly limits?: Partial<CloudLimits>;
  readonly retries?: Partial<RetryPolicy>;
  /** VS Code's http.proxy; loopback endpoints never use it. */
  readonly proxyUrl?: string;
  /** NO_PROXY-style host list that also bypasses the proxy. */
  readonly noProxy?: string;
  /** A dispatcher to use instead of our own pool; the caller owns it (close() leaves it open). */
  readonly fetchDispatcher?: Dispatcher;
  /** Wall clock in epoch ms (timings, and Retry-After dates). */
  readonly now?: () => number;
  readonly sleep?: Sleep;
  /** In [0, 1), for backoff jitter. */
  readonly random?: () => number;
}

export interface CloudChatOptions {
  readonly signal?: AbortSignal;
  /** Each new piece of text as it arrives. */
  readonly onText?: (text: string) => void;
}

export interface CloudUsage {
  readonly promptTokens: number;
  readonly completionTokens: number;
  /** True when the server gave no usage and we estimated it (characters / 4). */
  readonly counted: boolean;
}

/** Tokens a chat template adds around each message, and around the whole prompt, at the most. */
const TEMPLATE_TOKENS_PER_MESSAGE = 16;
const TEMPLATE_TOKENS = 64;

/**
 * The server's token counts, kept within what was sent and received: a token is at least one UTF-8 byte, so a
 * prompt cannot have more tokens than its bytes (plus the chat template's), nor an answer more than its bytes or
 * the max_tokens asked for (hidden reasoning counts against that). A hostile or broken endpoint's 1e15 would
 * otherwise be tonnes of CO2e in the ledger; a negative or non-finite count is replaced by the estimate.
 */
type TokenCounts = { readonly promptTokens: number; readonly completionTokens: number };

export function plausibleUsage(server: TokenCounts, estimated: TokenCounts, req: CloudChatRequest, received: string): CloudUsage {
  const sentBytes = req.messages.reduce((n, m) => n + Buffer.byteLength(m.content) + TEMPLATE_TOKENS_PER_MESSAGE, TEMPLATE_TOKENS);
  const within = (v: number, max: number, estimate: number) => (Number.isFinite(v) && v >= 0 ? Math.min(Math.round(v), max) : estimate);
  return {
    promptTokens: within(server.promptTokens, sentBytes, estimated.promptTokens),
    completionTokens: within(server.completionTokens, Math.max(Buffer.byteLength(received), req.maxTokens), estimated.completionTokens),
    counted: false,
  };
}

export interface CloudResult {
  readonly text: string;
  /** The model that answered, as the server names it. */
  readonly model: string;
  /**
   * e.g. "stop", "length"; "unknown" when the server did not say. "length" also when the client cut an answer that
   * ran past what max_tokens allows (`text` is then what came until the cut).
   */
  readonly finishReason: string;
  readonly usage: CloudUsage;
  readonly ms: number;
  /** Until the first text (the whole call when there was none), retries and backoff included. */
  readonly ttftMs: number;
  /** Requests sent, retries included. */
  readonly attempts: number;
  readonly endpointHost: string;
}

export interface ConnectionTest {
  readonly ok: boolean;
  readonly models?: readonly string[];
  readonly message: string;
}

const CHAT_PATH = '/v1/chat/completions';
const MODELS_PATH = '/v1/models';

/** A non-2xx answer, thrown inside the client and mapped by the retry loop. */
class HttpFailureSignal extends Error {
  constructor(readonly failure: HttpFailure) {
    super(`HTTP ${failure.status}`);
  }
}

/** The caller's onText threw: its error goes back to the caller as it is, not as the server's fault. */
class CallbackFailure extends Error {
  constructor(readonly error: unknown) {
    super('the onText callback threw');
  }
}

/** Text streamed so far in one chat() call, across attempts. */
interface Progress {
  text: string;
  firstTextAt?: number;
}

/** What one chat() call carries through its attempts. */
interface ChatCall {
  readonly request: CloudChatRequest;
  readonly key: string | undefined;
  readonly ctx: FailureContext;
  /** The caller's signal and the deadline's, as one. */
  readonly signal: CallSignal;
  readonly progress: Progress;
  readonly onText: ((text: string) => void) | undefined;
}

export class CloudClient {
  private readonly model: string;
  private readonly endpoint: CloudEndpoint | undefined;
  /** Why no request may be sent (insecure URL, bad proxy URL); thrown by every call. */
  private readonly refusal: CloudError | undefined;
  private readonly dispatcher: Dispatcher | undefined;
  private readonly ownsDispatcher: boolean;
  private readonly usingProxy: boolean;
  private readonly timeouts: CloudTimeouts;
  private readonly limits: CloudLimits;
  private readonly policy: RetryPolicy;
  private readonly apiKey: () => Promise<string | undefined>;
  private readonly now: () => number;
  private readonly sleep: Sleep;
  private readonly random: () => number;
  /** The server refused to stream once: later calls ask for one JSON answer straight away. */
  private streamRefused = false;
  private closed = false;

  constructor(options: CloudClientOptions) {
    this.model = options.model;
    this.timeouts = { ...DEFAULT_TIMEOUTS, ...options.timeouts };
    this.limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.policy = { ...DEFAULT_RETRY_POLICY, ...options.retries };
    this.apiKey = options.apiKey ?? (() => Promise.resolve(undefined));
    this.now = options.now ?? Date.now;
    this.sleep = options.sleep ?? abortableSleep;
    this.random = options.random ?? Math.random;
    let endpoint: CloudEndpoint | undefined;
    let refusal: CloudError | undefined;
    let dispatcher: Dispatcher | undefined;
    let usingProxy = false;
    try {
      endpoint = parseEndpoint(options.baseUrl);
      usingProxy = !options.fetchDispatcher && !!options.proxyUrl && !bypassesProxy(new URL(endpoint.origin).hostname, options.noProxy);
      dispatcher = options.fetchDispatcher ?? this.createDispatcher(usingProxy ? options.proxyUrl : undefined);
    } catch (e) {
      refusal =
        e instanceof CloudError
          ? e
          : new CloudError('network', "The proxy URL in http.proxy is not valid: fix it in VS Code's settings, or clear it.", { cause: e });
    }
    this.endpoint = endpoint;
    this.refusal = refusal;
    this.dispatcher = dispatcher;
    this.ownsDispatcher = !options.fetchDispatcher;
    this.usingProxy = usingProxy;
  }

  /** One chat completion, streamed unless `request.stream` is false; rejects with CloudError. */
  async chat(chatRequest: CloudChatRequest, options: CloudChatOptions = {}): Promise<CloudResult> {
    const { signal, onText } = options;
    const endpoint = this.usable();
    const started = this.now();
    if (signal?.aborted) throw cancelled('');
    const key = await this.apiKey();
    const call: ChatCall = {
      request: chatRequest,
      key,
      ctx: this.failureContext(endpoint, key),
      signal: new CallSignal(this.timeouts.deadlineMs, signal),
      progress: { text: '' },
      onText,
    };
    try {
      const { piece, attempts } = await this.withRetries(call);
      return this.result(chatRequest, piece, call.progress, started, attempts, endpoint);
    } finally {
      call.signal.dispose();
    }
  }

  private async withRetries(call: ChatCall): Promise<{ piece: WirePiece; attempts: number }> {
    const { ctx, progress } = call;
    let stream = (call.request.stream ?? true) && !this.streamRefused;
    let attempts = 0;
    let retries = 0;
    for (;;) {
      attempts++;
      let error: CloudError;
      try {
        return { piece: await this.attempt(call, chatBody(this.model, call.request, stream)), attempts };
      } catch (e) {
        if (e instanceof CallbackFailure) throw e.error; // not the server's or the network's fault
        const ours = endedByUs(call.signal, ctx, progress.text);
        if (ours) throw ours;
        if (this.closed)
          throw new CloudError('cancelled', 'The cloud request was cancelled because Verdant closed the connection.', { partialText: progress.text });
        if (e instanceof HttpFailureSignal) {
          if (stream && refusesStreaming(e.failure)) {
            stream = false;
            this.streamRefused = true;
            continue;
          }
          error = httpFailure(ctx, e.failure);
          if (error.retryAfterMs !== undefined && error.retryAfterMs > this.policy.maxRetryAfterMs) {
            throw retryAfterTooLong(ctx, e.failure, error.retryAfterMs, this.now());
          }
        } else {
          error = transportFailure(ctx, e, progress.text);
        }
      }
      if (!isRetryable(error) || progress.text !== '' || retries >= this.policy.max) throw error;
      const wait = error.retryAfterMs ?? backoffMs(retries, this.policy, this.random);
      retries++;
      try {
        await this.sleep(wait, call.signal.signal);
      } catch (e) {
        throw endedByUs(call.signal, ctx, '') ?? e;
      }
      const ours = endedByUs(call.signal, ctx, '');
      if (ours) throw ours;
    }
  }

  /**
   * Checks the endpoint, key and model: GET /v1/models, then a 1-token chat when the list does not show the model
   * (some providers list only part of what they serve, some have no list). Never rejects.
   */
  async testConnection(signal?: AbortSignal): Promise<ConnectionTest> {
    let models: string[] | undefined;
    try {
      const endpoint = this.usable();
      const key = await this.apiKey();
      const ctx = this.failureContext(endpoint, key);
      const call = new CallSignal(this.timeouts.deadlineMs, signal);
      try {
        models = await this.listModels(key, call.signal);
      } catch (e) {
        const ours = endedByUs(call, ctx, '');
        if (ours) throw ours;
        if (!(e instanceof HttpFailureSignal)) throw transportFailure(ctx, e, '');
        // A key the server refuses fails the same way for chat; a missing list is no verdict: ask the model.
        if (e.failure.status === 401 || e.failure.status === 403) throw httpFailure(ctx, e.failure);
      } finally {
        call.dispose();
      }
      const withModels = models ? { models } : {};
      if (models?.includes(this.model)) {
        return { ok: true, ...withModels, message: `Connected to ${endpoint.host}: model "${this.model}" is available.` };
      }
      await this.chat({ messages: [{ role: 'user', content: 'Reply with OK.' }], maxTokens: 1, stream: false }, signal ? { signal } : {});
      return { ok: true, ...withModels, message: `Connected to ${endpoint.host}: model "${this.model}" answered.` };
    } catch (e) {
      if (!(e instanceof CloudError)) throw e;
      return { ok: false, ...(models ? { models } : {}), message: e.message };
    }
  }

  /** Closes every connection of our pool (a caller-supplied dispatcher is left to its owner). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ownsDispatcher) await this.dispatcher?.destroy();
  }

  // -------------------------------------------------------------------------------------------------------------

  private createDispatcher(proxyUrl: string | undefined): Dispatcher {
    const { connectMs, headersMs, bodyIdleMs } = this.timeouts;
    const common = { headersTimeout: headersMs, bodyTimeout: bodyIdleMs };
    if (proxyUrl) {
      return new ProxyAgent({ uri: proxyUrl, ...common, proxyTls: { timeout: connectMs }, requestTls: { timeout: connectMs } });
    }
    return new Agent({ ...common, connect: { timeout: connectMs } });
  }

  private usable(): CloudEndpoint {
    if (this.refusal) throw this.refusal;
    if (this.closed || !this.endpoint)
      throw new CloudError('cancelled', 'The cloud client was closed: Verdant creates a new one when the settings change; try again.');
    return this.endpoint;
  }

  private failureContext(endpoint: CloudEndpoint, key: string | undefined): FailureContext {
    return { host: endpoint.host, model: this.model, secrets: [key], timeouts: this.timeouts, hadKey: !!key, usingProxy: this.usingProxy };
  }

  private async send(
    path: string,
    method: 'GET' | 'POST',
    body: unknown,
    key: string | undefined,
    signal: AbortSignal | undefined,
  ): Promise<Dispatcher.ResponseData> {
    const endpoint = this.usable();
    const headers: Record<string, string> = {
      accept: 'text/event-stream, application/json',
      'user-agent': `Verdant/${VERSION}`,
    };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (key) headers.authorization = `Bearer ${key}`;
    const res = await request(`${endpoint.origin}${endpoint.basePath}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
      dispatcher: this.dispatcher,
    });
    if (res.statusCode >= 200 && res.statusCode < 300) return res;
    const text = await readSome(res.body, this.limits.maxErrorBytes);
    const retryAfterMs = parseRetryAfter(firstHeader(res.headers['retry-after']), this.now());
    throw new HttpFailureSignal({ status: res.statusCode, path, body: text, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) });
  }

  private async attempt(call: ChatCall, body: unknown): Promise<WirePiece> {
    const { ctx, progress } = call;
    const res = await this.send(CHAT_PATH, 'POST', body, call.key, call.signal.signal);
    const maxChars = call.request.maxTokens * this.limits.charsPerToken;
    /** Adds the part of `text` within the answer's cap; false when the cap cut it (the answer is over). */
    const emit = (text: string): boolean => {
      const kept = clip(text, maxChars - progress.text.length);
      if (kept !== '') {
        progress.firstTextAt ??= this.now();
        progress.text += kept;
        try {
          call.onText?.(kept);
        } catch (e) {
          throw new CallbackFailure(e);
        }
      }
      return kept.length === text.length;
    };
    try {
      // Decided by what came back, not what we asked: some servers ignore `stream` either way.
      if (/text\/event-stream/i.test(firstHeader(res.headers['content-type']))) {
        return await readStream(res.body, { secrets: ctx.secrets, emit, maxEventChars: this.limits.maxEventBytes, idleMs: this.timeouts.bodyIdleMs });
      }
      const piece = readWhole(redactText(await this.readBody(res, 'answer'), ctx.secrets));
      return emit(piece.text) ? piece : { ...piece, finishReason: 'length' };
    } finally {
      if (!res.body.readableEnded) res.body.destroy(); // a connection left mid-body cannot be reused: close it
    }
  }

  private async listModels(key: string | undefined, signal: AbortSignal): Promise<string[]> {
    const res = await this.send(MODELS_PATH, 'GET', undefined, key, signal);
    let text: string;
    try {
      text = await this.readBody(res, 'model list');
    } finally {
      if (!res.body.readableEnded) res.body.destroy();
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new StreamFormatError(`${MODELS_PATH} did not return JSON`);
    }
    return asArray(asObject(json)?.data)
      .map((d) => asString(asObject(d)?.id))
      .filter((id) => id !== '');
  }

  /** A whole non-streamed body, up to the cap (LimitExceeded past it). */
  private readBody(res: Dispatcher.ResponseData, what: Oversized): Promise<string> {
    const declared = firstHeader(res.headers['content-length']);
    return readCapped(res.body, what, this.limits.maxResponseBytes, declared === '' ? undefined : declared);
  }

  private result(
    req: CloudChatRequest,
    piece: WirePiece,
    progress: Progress,
    started: number,
    attempts: number,
    endpoint: CloudEndpoint,
  ): CloudResult {
    const ended = this.now();
    const estimated = {
      promptTokens: estimateTokens(req.messages.reduce((n, m) => n + m.content.length, 0)),
      completionTokens: estimateTokens(progress.text.length),
    };
    const usage: CloudUsage = piece.usage ? plausibleUsage(piece.usage, estimated, req, progress.text) : { ...estimated, counted: true };
    return {
      text: progress.text,
      model: piece.model ?? this.model,
      finishReason: piece.finishReason ?? 'unknown',
      usage,
      ms: ended - started,
      ttftMs: (progress.firstTextAt ?? ended) - started,
      attempts,
      endpointHost: endpoint.host,
    };
  }
}

interface StreamReading {
  readonly secrets: readonly (string | undefined)[];
  /** Takes a piece of text; false once the answer's cap cut it. */
  readonly emit: (text: string) => boolean;
  readonly maxEventChars: number;
  /** Longest wait for the next data event; comments and blank lines do not count. */
  readonly idleMs: number;
}

/**
 * Reads an SSE answer to its end, or to the client's cap on its length (finish reason "length"; the caller then
 * closes the connection); the text goes to `emit` as it arrives. Returns what the chunks said.
 */
async function readStream(body: Dispatcher.ResponseData['body'], r: StreamReading): Promise<WirePiece> {
  let finishReason: string | undefined;
  let model: string | undefined;
  let usage: WirePiece['usage'];
  const said = () => ({ text: '', ...(finishReason ? { finishReason } : {}), ...(model ? { model } : {}), ...(usage ? { usage } : {}) });
  let done = false;
  const idle = new Watchdog(r.idleMs, () => body.destroy(new DataIdle()));
  idle.touch();
  try {
    for await (const message of sseMessages(redactLines(cappedLines(body, r.maxEventChars, 'sse'), r.secrets))) {
      idle.touch();
      // After [DONE], read on to the end so the connection goes back to the pool; but no more events.
      if (done) return said();
      if (message.done) {
        done = true;
        continue;
      }
      const piece = readChunk(message.value);
      finishReason = piece.finishReason ?? finishReason;
      model = piece.model ?? model;
      usage = piece.usage ?? usage;
      if (!r.emit(piece.text)) {
        finishReason = 'length';
        return said();
      }
    }
  } catch (e) {
    // After [DONE] the answer is complete; a connection dropped while draining costs nothing.
    if (!done) throw idle.expired ? new DataIdle() : e;
  } finally {
    idle.stop();
  }
  if (!done && finishReason === undefined) {
    // Ended without [DONE] or a finish reason: a cut that a proxy made look like a clean end.
    throw new StreamFormatError('the stream ended before the answer was complete');
  }
  return said();
}

/** The call ended on our side: the caller cancelled it, or its deadline passed. */
function endedByUs(call: CallSignal, ctx: FailureContext, partialText: string): CloudError | undefined {
  if (call.cancelled) return cancelled(partialText);
  return call.expired ? deadlinePassed(ctx, partialText) : undefined;
}

/** A whole JSON answer (the non-streaming form). */
function readWhole(text: string): WirePiece {
  const o = serverJson(text, 'an answer that is neither JSON nor an event stream');
  const piece = o ? readCompletion(o) : undefined;
  if (!piece) throw new StreamFormatError('an answer without choices[0].message');
  return piece;
}

/** Removes the key from every line a server sends (some echo the request in errors); other text is untouched. */
async function* redactLines(lines: AsyncIterable<string>, secrets: readonly (string | undefined)[]): AsyncGenerator<string> {
  for await (const line of lines) yield redactText(line, secrets);
}

function redactText(text: string, secrets: readonly (string | undefined)[]): string {
  let out = text;
  for (const s of secrets) if (s && s.length >= 4 && out.includes(s)) out = out.split(s).join('***');
  return out;
}
