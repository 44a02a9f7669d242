// The client's own bounds on what an endpoint sends, so that a hostile or broken one cannot exhaust memory: a
// non-streamed body and each streamed line or event are read only up to a cap (never buffered whole, by the readers
// of core/net/bounded.ts), and an answer ends on the client once it runs past what max_tokens allows. Past a cap the
// readers throw LimitExceeded, which failures.ts turns into a CloudError.

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

/** What passed a cap, as LimitExceeded.what names it in the cloud client. */
export type Oversized = 'answer' | 'model list' | 'event';
