// The client's own bounds on what an endpoint sends, so that a hostile or broken one cannot exhaust memory: a
// non-streamed body and each streamed line or event are read only up to a cap (never buffered whole), and an answer
// ends on the client once it runs past what max_tokens allows. Readers over the body's chunks; past a cap they throw
// LimitExceeded, which failures.ts turns into a CloudError.
import { LineSplitter } from '../../engine/backends/http';

const KiB = 1024;
const MiB = 1024 * KiB;

export interface CloudLimits {
  /** Largest non-streamed answer or model list (a completion is kilobytes; the longest model lists about 2 MB). */
  readonly maxResponseBytes: number;
  /** Largest part of an error body read; only its first sentence is shown. */
  readonly maxErrorBytes: number;
  /** Largest streamed line, or event (its data lines together); a chunk of an answer is a few hundred bytes. */
  readonly maxEventBytes: number;
  /**
   * Characters per token of max_tokens after which the client ends a streamed answer itself (a server that ignores
   * max_tokens). Real text averages 3 to 5 characters per token; 16 leaves room for long tokens such as runs of spaces.
   */
  readonly charsPerToken: number;
}

export const DEFAULT_LIMITS: CloudLimits = { maxResponseBytes: 8 * MiB, maxErrorBytes: 16 * KiB, maxEventBytes: 1 * MiB, charsPerToken: 16 };

/** What passed a cap. */
export type Oversized = 'answer' | 'model list' | 'event';

/** A body, line or event that passed its cap; what was read of it is dropped. */
export class LimitExceeded extends Error {
  override readonly name = 'LimitExceeded';
  constructor(readonly what: Oversized, readonly limitBytes: number) {
    super(`${what} over ${limitBytes} bytes`);
  }
}

/**
 * A whole body as text, read chunk by chunk and given up (the rest unread) as soon as it passes `maxBytes`, or at once
 * when its Content-Length says it will. Invalid UTF-8 becomes U+FFFD rather than an exception.
 */
export async function readCapped(body: AsyncIterable<Uint8Array>, what: Oversized, maxBytes: number, declaredLength?: string): Promise<string> {
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
 * The lines of an event stream (as readLines), with no line and no event longer than `maxChars` (UTF-16 units, each
 * at least one byte on the wire): the line being received is checked after every chunk, so at most one chunk past
 * the cap is ever held. Comment lines do not add to an event (they are not part of it).
 */
export async function* cappedLines(chunks: AsyncIterable<Uint8Array>, maxChars: number): AsyncGenerator<string> {
  const decoder = new TextDecoder('utf-8');
  const splitter = new LineSplitter();
  let event = 0;
  const checked = (lines: readonly string[]): readonly string[] => {
    for (const line of lines) {
      if (line === '') event = 0;
      else if (!line.startsWith(':')) event += line.length;
      if (event > maxChars || line.length > maxChars) throw new LimitExceeded('event', maxChars);
    }
    return lines;
  };
  for await (const chunk of chunks) {
    yield* checked(splitter.push(decoder.decode(chunk, { stream: true })));
    if (event + splitter.pendingLength > maxChars) throw new LimitExceeded('event', maxChars);
  }
  yield* checked(splitter.push(decoder.decode()));
  yield* checked(splitter.end());
}

/** The start of `text` that fits in `room` characters, never ending between the two halves of a surrogate pair. */
export function clip(text: string, room: number): string {
  if (text.length <= room) return text;
  if (room <= 0) return '';
  const end = /[\uD800-\uDBFF]/.test(text[room - 1]) ? room - 1 : room;
  return text.slice(0, end);
}
