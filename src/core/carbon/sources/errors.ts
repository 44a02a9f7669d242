// One failure of a live grid-intensity source, already worded as the sentence the user reads as `fallbackReason`:
// what went wrong and what fixes it. The kind drives the back-off in ResilientSource.

import { errorMessage } from '../../errors';

export type FailureKind =
  | 'network' // offline, DNS, connection refused or reset
  | 'timeout'
  | 'cancelled' // the caller's AbortSignal
  | 'auth' // 401/403 on a credential
  | 'no-credentials'
  | 'not-available' // the plan does not include it (Electricity Maps forecast, WattTime MOER outside the free region)
  | 'not-found' // unknown zone
  | 'rate-limited' // 429
  | 'server' // 5xx
  | 'http' // any other non-2xx
  | 'bad-response' // cut-off body, not JSON, unexpected shape
  | 'unsupported-zone'
  | 'config'; // e.g. no address for the self-hosted Carbon Aware SDK

export interface SourceErrorDetails {
  readonly status?: number;
  /** From a 429/503 Retry-After header. */
  readonly retryAfterMs?: number;
  /** Ask again no sooner than this, when the failure will not fix itself soon (plan limits). */
  readonly backoffMs?: number;
}

export class SourceError extends Error {
  override readonly name = 'SourceError';
  constructor(
    readonly kind: FailureKind,
    /** One sentence: what happened, then after a colon what to do. */
    message: string,
    readonly details: SourceErrorDetails = {},
  ) {
    super(message);
  }
}

/** How a source is named in messages and what fixes its usual problems. */
export interface SourceProfile {
  /** Starts a sentence, e.g. "Electricity Maps". */
  readonly name: string;
  /** What the credential is called, e.g. "token"; absent for sources without one. */
  readonly credential?: string;
  /** e.g. "check the token in Verdant: Set Electricity Maps Token". */
  readonly credentialFix?: string;
  /** e.g. "check the carbon zone setting (Electricity Maps zone keys such as DE or SE-SE3)". */
  readonly zoneFix: string;
  /** What to do when it answers something unreadable, e.g. "update Verdant if this persists". */
  readonly responseFix: string;
  /** What to do when it cannot be reached at all. */
  readonly reachFix: string;
}

/** "45 s" / "3 min": how long Verdant waits, for messages. */
export function formatWait(ms: number): string {
  const s = Math.max(1, Math.round(ms / 1000));
  return s < 120 ? `${s} s` : `${Math.round(s / 60)} min`;
}

/** The message for a non-2xx status that the source did not special-case. */
export function statusError(profile: SourceProfile, status: number, retryAfterMs: number | undefined): SourceError {
  const { name } = profile;
  if ((status === 401 || status === 403) && profile.credential && profile.credentialFix) {
    return new SourceError('auth', `${name} refused the ${profile.credential} (${status}): ${profile.credentialFix}.`, { status });
  }
  if (status === 404) {
    return new SourceError('not-found', `${name} has no data for this zone (404): ${profile.zoneFix}.`, { status });
  }
  if (status === 429) {
    const wait = retryAfterMs !== undefined ? formatWait(retryAfterMs) : 'a few minutes';
    return new SourceError('rate-limited', `${name} is limiting requests (429): Verdant waits at least ${wait} before asking again.`, {
      status,
      retryAfterMs,
    });
  }
  if (status >= 500) {
    return new SourceError('server', `${name} had a server error (${status}): nothing to fix on your side; Verdant asks again in a few minutes.`, {
      status,
      retryAfterMs,
    });
  }
  return new SourceError('http', `${name} answered HTTP ${status}: ${profile.zoneFix}.`, { status });
}

/** An answer that parsed but does not have the fields we need. */
export function shapeError(profile: SourceProfile, what: string): SourceError {
  return new SourceError('bad-response', `${profile.name} sent data in an unexpected shape (${what}): ${profile.responseFix}.`);
}

/** Anything a source threw, as a SourceError (a bug or an unforeseen error still yields one sentence). */
export function toSourceError(profile: SourceProfile, err: unknown): SourceError {
  if (err instanceof SourceError) return err;
  const what = errorMessage(err);
  return new SourceError('bad-response', `${profile.name} failed unexpectedly (${what}): ${profile.responseFix}.`);
}
