// GET-and-parse-JSON for the live sources over an injected fetch (Node 20's global fetch by default), with a
// timeout that covers the body too, the caller's AbortSignal, and every failure turned into ONE SourceError whose
// message names the fix. Nothing here retries or caches: ResilientSource decides that.
import { SourceError, statusError, type SourceProfile } from './errors';

/** The part of a fetch Response we use; the global fetch satisfies it. */
export interface ResponseLike {
  readonly status: number;
  readonly headers: { get(name: string): string | null };
  text(): Promise<string>;
}

export interface FetchInit {
  readonly method: 'GET';
  readonly headers: Record<string, string>;
  readonly signal: AbortSignal;
}

export type FetchLike = (url: string, init: FetchInit) => Promise<ResponseLike>;

/** What every live source needs to talk HTTP. */
export interface HttpContext {
  readonly fetch: FetchLike;
  /** Epoch ms; used for Retry-After dates and timestamps. */
  readonly now: () => number;
  /** Whole request including the body. */
  readonly timeoutMs: number;
}

export interface GetJsonOptions {
  readonly headers?: Record<string, string>;
  readonly signal?: AbortSignal;
  /** Special-cases a non-2xx status (e.g. "not on this plan"); undefined falls through to the usual wording. */
  readonly onStatus?: (status: number, retryAfterMs: number | undefined) => SourceError | undefined;
}

/** Retry-After as delta-seconds or an HTTP date, in ms from now; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null, now: number): number | undefined {
  if (value == null || value.trim() === '') return undefined;
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

function errorCode(err: unknown): string | undefined {
  const e = err as { code?: unknown; cause?: { code?: unknown; errors?: Array<{ code?: unknown }> } } | undefined;
  const code = e?.cause?.code ?? e?.cause?.errors?.[0]?.code ?? e?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Says what an unparseable body looked like without echoing it. */
function describeBody(text: string): string {
  const t = text.trimStart();
  if (t === '') return 'an empty body';
  if (t.startsWith('<')) return 'an HTML page, not JSON';
  if (t.startsWith('{') || t.startsWith('[')) return 'JSON that was cut off or malformed';
  return 'a body that is not JSON';
}

export async function getJson(ctx: HttpContext, profile: SourceProfile, url: string, opts: GetJsonOptions = {}): Promise<unknown> {
  const { name } = profile;
  if (opts.signal?.aborted) throw new SourceError('cancelled', `The request to ${name} was cancelled: nothing to fix.`);
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, ctx.timeoutMs);
  const onAbort = (): void => controller.abort();
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  const interrupted = (): SourceError | undefined => {
    if (timedOut) {
      return new SourceError(
        'timeout',
        `${name} did not answer within ${Math.round(ctx.timeoutMs / 100) / 10} s: check your network; Verdant asks again in a few minutes.`,
      );
    }
    if (opts.signal?.aborted) return new SourceError('cancelled', `The request to ${name} was cancelled: nothing to fix.`);
    return undefined;
  };
  try {
    let res: ResponseLike;
    try {
      res = await ctx.fetch(url, { method: 'GET', headers: { accept: 'application/json', ...opts.headers }, signal: controller.signal });
    } catch (err) {
      throw (
        interrupted() ??
        new SourceError(
          'network',
          `${name} could not be reached (${errorCode(err) ?? (err instanceof Error ? err.message : 'network error')}): ${profile.reachFix}.`,
        )
      );
    }
    if (res.status < 200 || res.status > 299) {
      const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'), ctx.now());
      await res.text().catch(() => undefined); // frees the connection; bounded by the timer
      throw opts.onStatus?.(res.status, retryAfterMs) ?? statusError(profile, res.status, retryAfterMs);
    }
    let text: string;
    try {
      text = await res.text();
    } catch {
      throw interrupted() ?? new SourceError('bad-response', `${name}'s response was cut off before its end: ${profile.reachFix}.`);
    }
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new SourceError('bad-response', `${name} sent ${describeBody(text)}: ${profile.responseFix}.`);
    }
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', onAbort);
  }
}

/** Joins a base URL (with or without a trailing slash or a path such as /v3) and a path. */
export function joinUrl(base: string, path: string): string {
  return base.replace(/\/+$/, '') + path;
}
