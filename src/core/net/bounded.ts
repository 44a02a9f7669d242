// Reading what an untrusted server sends without letting it exhaust memory: a whole body, and each streamed line or
// event, is read only up to a cap (never buffered whole), and past it the reader throws LimitExceeded so that the
// caller hangs up. Shared by the cloud client (src/core/cloud) and the local server backends (src/engine/backends),
// each of which turns LimitExceeded into its own error with its own fix.
import { LineSplitter } from './lines';

/**
 * Characters per token of max_tokens after which a client ends an answer itself (a server that ignores max_tokens).
 * Real text averages 3 to 5 characters per token; 16 leaves room for long tokens such as runs of spaces.
 */
export const MAX_CHARS_PER_TOKEN = 16;

/** A client's caps on what it reads from a server; each client sets its own defaults, and tests make them small. */
export interface ReadLimits {
  /** Largest non-streamed answer. */
  readonly maxResponseBytes: number;
  /** Largest part of an error body read; only its first sentence is shown. */
  readonly maxErrorBytes: number;
  /** Largest streamed line, or event (its data lines together). */
  readonly maxEventBytes: number;
  /** Characters per token of max_tokens after which the client ends an answer itself (MAX_CHARS_PER_TOKEN). */
  readonly charsPerToken: number;
}

/** A body, line or event that passed its cap; what was read of it is dropped. `what` names it for the message. */
export class LimitExceeded extends Error {
  override readonly name = 'LimitExceeded';
  constructor(
    readonly what: string,
    readonly limitBytes: number,
  ) {
    super(`${what} over ${limitBytes} bytes`);
  }
}

/** A cap for a message: "64 KiB", "8 MiB". */
export function formatBytes(n: number): string {
  if (n >= 1024 * 1024) return `${Math.round((n / (1024 * 1024)) * 10) / 10} MiB`;
  return n >= 1024 ? `${Math.round((n / 1024) * 10) / 10} KiB` : `${n} bytes`;
}

/**
 * A whole body as text, read chunk by chunk and given up (the rest unread) as soon as it passes `maxBytes`, or at once
 * when its Content-Length says it will. Invalid UTF-8 becomes U+FFFD rather than an exception.
 */
export async function readCapped(body: AsyncIterable<Uint8Array>, what: string, maxBytes: number, declaredLength?: string): Promise<string> {
  if (declaredLength !== undefined && Number(declaredLength) > maxBytes) throw new LimitExceeded(what, maxBytes);
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.byteLength;
    if (size > maxBytes) throw new LimitExceeded(what, maxBytes);
    chunks.push(chunk);
  }
  return new TextDecoder('utf-8').decode(Buffer.concat(chunks, size));
}

/**
 * How lines group: 'sse', server-sent events, whose data lines up to a blank line make one event (comments are not
 * part of it), so the event is capped as a whole; 'ndjson', where every line stands alone.
 */
export type Framing = 'sse' | 'ndjson';

/**
 * The lines of a body (as readLines), with no line, and with 'sse' no event, longer than `maxChars` (UTF-16 units,
 * each at least one byte on the wire): the line being received is checked after every chunk, so at most one chunk
 * past the cap is ever held. Past the cap: LimitExceeded naming an 'event' ('sse') or a 'line' ('ndjson').
 */
export async function* cappedLines(chunks: AsyncIterable<Uint8Array>, maxChars: number, framing: Framing): AsyncGenerator<string> {
  const what = framing === 'sse' ? 'event' : 'line';
  const decoder = new TextDecoder('utf-8');
  const splitter = new LineSplitter();
  let event = 0;
  const checked = (lines: readonly string[]): readonly string[] => {
    for (const line of lines) {
      if (framing === 'ndjson' || line === '') event = 0;
      else if (!line.startsWith(':')) event += line.length;
      if (event > maxChars || line.length > maxChars) throw new LimitExceeded(what, maxChars);
    }
    return lines;
  };
  for await (const chunk of chunks) {
    yield* checked(splitter.push(decoder.decode(chunk, { stream: true })));
    if (event + splitter.pendingLength > maxChars) throw new LimitExceeded(what, maxChars);
  }
  yield* checked(splitter.push(decoder.decode()));
  yield* checked(splitter.end());
}

/** The start of `text` that fits in `room` characters, never ending between the two halves of a surrogate pair. */
export function clip(text: string, room: number): string {
  if (text.length <= room) return text;
  if (room <= 0) return '';
  const end = /[\uD800-\uDBFF]/.test(text[room - 1]!) ? room - 1 : room; // 0 < room < text.length
  return text.slice(0, end);
}
