// Generation streams from OpenAI-compatible and local servers: SSE events and NDJSON lines into JSON messages, the
// server's own error text, and the start of an error body. Pure (no network): shared by the cloud client and the
// local backends, unit-tested on its own.
import type { Dispatcher } from 'undici';
import { asObject, type JsonObject } from './json';

export interface SseEvent {
  /** The `event:` field, "message" when absent. */
  readonly event: string;
  /** The `data:` lines joined with "\n". */
  readonly data: string;
}

/** Server-sent events (WHATWG rules) from lines: comments skipped, multi-line data joined, blank line dispatches. */
export class SseParser {
  private data: string[] = [];
  private event = '';

  /** Feeds one line; returns the event it completes, if any. */
  push(line: string): SseEvent | undefined {
    if (line === '') return this.dispatch();
    if (line.startsWith(':')) return undefined; // comment, e.g. a keep-alive
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.event = value;
    else if (field === 'error') {
      // Older llama-server builds wrote mid-stream errors as an `error:` field rather than `data:`.
      this.event = 'error';
      this.data.push(value);
    }
    return undefined; // id, retry and unknown fields do not matter here
  }

  /** End of input: a last event that lacks its blank line still counts (some servers omit it). */
  end(): SseEvent | undefined {
    return this.dispatch();
  }

  private dispatch(): SseEvent | undefined {
    const data = this.data;
    const event = this.event || 'message';
    this.data = [];
    this.event = '';
    return data.length === 0 ? undefined : { event, data: data.join('\n') };
  }
}

/** One message of a generation stream: a JSON object, or the OpenAI-style `[DONE]` sentinel. */
export type StreamMessage = { readonly done: true } | { readonly done: false; readonly value: JsonObject };

/** The server's stream broke the protocol (bad JSON, cut short); `detail` says how, without echoing content. */
export class StreamFormatError extends Error {
  override readonly name = 'StreamFormatError';
  constructor(readonly detail: string) {
    super(detail);
  }
}

/** The server reported an error inside a stream that had started fine. */
export class StreamServerError extends Error {
  override readonly name = 'StreamServerError';
  constructor(readonly serverMessage: string) {
    super(serverMessage);
  }
}

/**
 * A server's JSON text as an object (undefined for other JSON); StreamFormatError with `notJson` when it is not
 * JSON, StreamServerError when it carries an `error`.
 */
export function serverJson(text: string, notJson: string): JsonObject | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new StreamFormatError(notJson);
  }
  const value = asObject(parsed);
  if (value?.error != null) throw new StreamServerError(serverMessageOf(value) || 'unknown error');
  return value;
}

/** Parses one NDJSON line or SSE data payload; throws StreamFormatError / StreamServerError. */
export function parseStreamData(text: string): StreamMessage {
  if (text.trim() === '[DONE]') return { done: true };
  const value = serverJson(text, 'a line that is not JSON');
  if (!value) throw new StreamFormatError('a line that is not a JSON object');
  return { done: false, value };
}

export async function* ndjsonMessages(lines: AsyncIterable<string>): AsyncGenerator<StreamMessage> {
  for await (const line of lines) {
    if (line.trim() !== '') yield parseStreamData(line);
  }
}

export async function* sseMessages(lines: AsyncIterable<string>): AsyncGenerator<StreamMessage> {
  const parser = new SseParser();
  const toMessage = (ev: SseEvent): StreamMessage => {
    if (ev.event === 'error') throw new StreamServerError(serverMessageOf(ev.data) || 'unknown error');
    return parseStreamData(ev.data);
  };
  for await (const line of lines) {
    const ev = parser.push(line);
    if (ev) yield toMessage(ev);
  }
  const last = parser.end();
  if (last) yield toMessage(last);
}

/** The server's error text from a JSON or plain body: `error`, `error.message`, `message` or `detail`. */
export function serverMessageOf(body: unknown): string {
  let value = body;
  if (typeof body === 'string') {
    try {
      value = JSON.parse(body);
    } catch {
      // A proxy's HTML error page: its text, not its markup.
      return shorten(body.replace(/<(script|style)[\s\S]*?<\/\1>/gi, ' ').replace(/<[^>]*>/g, ' '));
    }
  }
  const o = asObject(value);
  if (!o) return typeof value === 'string' ? shorten(value) : '';
  const error = o.error;
  const candidates = [error, asObject(error)?.message, o.message, o.detail];
  const found = candidates.find((c): c is string => typeof c === 'string' && c.trim() !== '');
  return found ? shorten(found) : '';
}

/** Server text for a message: one line, no trailing period, at most `max` characters. */
export function shorten(text: string, max = 160): string {
  const flat = text
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/[.\s]+$/, '');
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

export function firstHeader(v: string | string[] | undefined): string {
  return Array.isArray(v) ? (v[0] ?? '') : (v ?? '');
}

/** The start of an error body (bounded: a proxy's error page can be large); the body is released after. */
export async function readSome(body: Dispatcher.ResponseData['body'], limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body) {
      const b = Buffer.from(chunk as Uint8Array);
      chunks.push(b);
      size += b.length;
      if (size >= limit) break;
    }
  } catch {
    // An error body cut short still says enough.
  } finally {
    if (!body.readableEnded) body.destroy();
  }
  return Buffer.concat(chunks).toString('utf8').slice(0, limit);
}
