// Cloud failures carry a stable code for callers (routing falls back to the local model on some of them) and a
// one-sentence message that names the fix, fit to show as is. The API key never appears in one.

export type CloudErrorCode =
  | 'unauthorized' // 401/403: the key is missing, wrong or revoked
  | 'rate-limited' // 429, after the retries (or a Retry-After beyond the cap)
  | 'server' // 5xx after the retries, or an error the server reported inside a stream
  | 'timeout' // connect or headers timeout
  | 'idle-timeout' // no data for too long in the middle of an answer (keep-alive comments do not count)
  | 'deadline' // the whole call (connect, headers, body, retries) took longer than allowed
  | 'response-too-large' // a non-streamed answer or model list larger than the client reads
  | 'event-too-large' // one streamed line or event larger than the client reads
  | 'network' // refused, reset, DNS, or a stream cut short
  | 'bad-response' // malformed JSON/SSE, or a 4xx that says the request was wrong
  | 'insecure' // plain http to a host other than this machine; refused before any request
  | 'not-found' // unknown model or endpoint
  | 'cancelled'; // the caller's AbortSignal fired

export interface CloudErrorDetails {
  readonly status?: number;
  /** How long the server asked us to wait before trying again. */
  readonly retryAfterMs?: number;
  /** Text already streamed (and shown) before the failure, so nothing is lost. */
  readonly partialText?: string;
  readonly cause?: unknown;
}

export class CloudError extends Error {
  override readonly name = 'CloudError';
  readonly status?: number;
  readonly retryAfterMs?: number;
  readonly partialText?: string;

  constructor(
    readonly code: CloudErrorCode,
    message: string,
    details: CloudErrorDetails = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    if (details.status !== undefined) this.status = details.status;
    if (details.retryAfterMs !== undefined) this.retryAfterMs = details.retryAfterMs;
    if (details.partialText !== undefined && details.partialText !== '') this.partialText = details.partialText;
  }

  /** The same failure with the text streamed so far attached. */
  withPartialText(text: string): CloudError {
    if (text === '' || this.partialText !== undefined) return this;
    return new CloudError(this.code, this.message, { status: this.status, retryAfterMs: this.retryAfterMs, partialText: text, cause: this.cause });
  }
}
