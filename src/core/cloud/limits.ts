// The client's own bounds on what an endpoint sends, so that a hostile or broken one cannot exhaust memory: a
// non-streamed body and each streamed line or event are read only up to a cap (never buffered whole, by the readers
// of core/net/bounded.ts), and an answer ends on the client once it runs past what max_tokens allows. Past a cap the
// readers throw LimitExceeded, which failures.ts turns into a CloudError.
import { MAX_CHARS_PER_TOKEN, type ReadLimits } from '../net/bounded';

const KiB = 1024;
const MiB = 1024 * KiB;

export type CloudLimits = ReadLimits;

/**
 * A non-streamed answer or model list up to 8 MiB (a completion is kilobytes; the longest model lists about 2 MB), a
 * streamed line or event up to 1 MiB (a chunk of an answer is a few hundred bytes).
 */
export const DEFAULT_LIMITS: CloudLimits = {
  maxResponseBytes: 8 * MiB,
  maxErrorBytes: 16 * KiB,
  maxEventBytes: 1 * MiB,
  charsPerToken: MAX_CHARS_PER_TOKEN,
};

/** What passed a cap, as LimitExceeded.what names it in the cloud client. */
export type Oversized = 'answer' | 'model list' | 'event';
