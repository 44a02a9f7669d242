// Wraps a live source so that callers always get an answer and the provider is asked rarely:
// - answers are cached (current 10 min, forecast 30 min by default);
// - at most one request per (kind, zone) per minimum interval, whatever happens; concurrent callers share the one
//   in flight (it runs without any caller's AbortSignal, so one caller giving up does not cancel it for others);
// - after a failure nothing is requested until the later of the minimum interval, a 429's Retry-After and the
//   failure's own back-off (plan limits: an hour); meanwhile callers get the same fallback and reason;
// - on any failure the answer is the embedded default with `fallbackReason` set; a forecast falls back to a flat
//   24 h forecast at the embedded value (so callers need no second code path: its flatness plus the reason say it
//   carries no timing information). Nothing here ever rejects.
import type { IntensityForecast, IntensityReading, IntensitySource, SourceId } from '../types';
import { flatForecast, type EmbeddedSource } from './embedded';
import { SourceError, toSourceError, type FailureKind, type SourceProfile } from './errors';

export interface ResiliencePolicy {
  readonly currentTtlMs: number;
  readonly forecastTtlMs: number;
  /** No two requests for the same kind and zone closer than this. */
  readonly minIntervalMs: number;
  /** Upper bound for Retry-After and back-offs. */
  readonly maxWaitMs: number;
}

export const DEFAULT_RESILIENCE_POLICY: ResiliencePolicy = {
  currentTtlMs: 10 * 60_000,
  forecastTtlMs: 30 * 60_000,
  minIntervalMs: 3 * 60_000,
  maxWaitMs: 60 * 60_000,
};

export interface ResilientSourceOptions {
  readonly live: IntensitySource;
  /** How the live source is named in reasons for unforeseen errors. */
  readonly profile: SourceProfile;
  readonly fallback: EmbeddedSource;
  readonly now: () => number;
  readonly policy?: Partial<ResiliencePolicy>;
  /** The embedded zone for a live zone (a WattTime region such as CAISO_NORTH is no country). Default: the same. */
  readonly fallbackZone?: (zone: string) => string;
}

type Outcome<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: SourceError };

interface Slot<T> {
  value?: T;
  fetchedAt?: number;
  lastRequestAt?: number;
  failure?: SourceError;
  blockedUntil?: number;
  inFlight?: Promise<Outcome<T>>;
}

/** Failures found before any request was sent: re-checking them costs nothing, so they do not block. */
const LOCAL_FAILURES: ReadonlySet<FailureKind> = new Set(['unsupported-zone', 'config', 'no-credentials', 'cancelled']);

export class ResilientSource implements IntensitySource {
  readonly id: SourceId;
  private readonly policy: ResiliencePolicy;
  private readonly slots = new Map<string, Slot<unknown>>();

  constructor(private readonly opts: ResilientSourceOptions) {
    this.id = opts.live.id;
    this.policy = { ...DEFAULT_RESILIENCE_POLICY, ...opts.policy };
  }

  async current(zone: string, signal?: AbortSignal): Promise<IntensityReading> {
    const live = this.opts.live;
    const outcome = await this.fetch<IntensityReading>('current', zone, this.policy.currentTtlMs, () => live.current(zone), signal);
    return outcome.ok ? outcome.value : this.fallbackReading(zone, outcome.error.message);
  }

  async forecast(zone: string, signal?: AbortSignal): Promise<IntensityForecast> {
    const live = this.opts.live;
    if (!live.forecast) {
      return flatForecast(
        this.fallbackReading(zone),
        this.opts.now(),
        `${this.opts.profile.name} has no forecast: Verdant shows a flat forecast at the annual average; choose a source with forecasts for timing advice.`,
      );
    }
    const forecast = live.forecast.bind(live);
    const outcome = await this.fetch<IntensityForecast>('forecast', zone, this.policy.forecastTtlMs, () => forecast(zone), signal);
    return outcome.ok ? outcome.value : flatForecast(this.fallbackReading(zone), this.opts.now(), outcome.error.message);
  }

  /** Forgets cached answers and back-offs, e.g. after the user set a new token. */
  reset(): void {
    this.slots.clear();
  }

  private fallbackReading(zone: string, fallbackReason?: string): IntensityReading {
    const embeddedZone = this.opts.fallbackZone?.(zone) ?? zone;
    const reading = { ...this.opts.fallback.read(embeddedZone), zone: zone.trim() };
    return fallbackReason === undefined ? reading : { ...reading, fallbackReason };
  }

  private fetch<T>(kind: string, zone: string, ttlMs: number, call: () => Promise<T>, signal: AbortSignal | undefined): Promise<Outcome<T>> {
    const key = `${kind}\n${zone.trim()}`;
    let slot = this.slots.get(key) as Slot<T> | undefined;
    if (!slot) {
      slot = {};
      this.slots.set(key, slot);
    }
    if (slot.inFlight) return this.race(slot.inFlight, signal);
    const t = this.opts.now();
    if ((slot.lastRequestAt ?? -Infinity) > t || (slot.fetchedAt ?? -Infinity) > t) {
      // The clock moved back (a correction, a resumed machine): the ages are unknown and would read as negative,
      // keeping an answer or a back-off for as long again as the clock moved. Nothing is fresh or blocked.
      slot.fetchedAt = slot.lastRequestAt = slot.blockedUntil = undefined;
    }
    if (slot.value !== undefined && slot.fetchedAt !== undefined && t - slot.fetchedAt < ttlMs)
      return Promise.resolve({ ok: true, value: slot.value });
    if (slot.failure && slot.blockedUntil !== undefined && t < slot.blockedUntil) return Promise.resolve({ ok: false, error: slot.failure });
    if (slot.lastRequestAt !== undefined && t - slot.lastRequestAt < this.policy.minIntervalMs && slot.value !== undefined) {
      return Promise.resolve({ ok: true, value: slot.value }); // a TTL shorter than the interval: keep the last answer
    }
    const s = slot;
    s.lastRequestAt = t;
    s.inFlight = this.settle(call).then((outcome) => {
      s.inFlight = undefined;
      const done = this.opts.now();
      if (outcome.ok) {
        s.value = outcome.value;
        s.fetchedAt = done;
        s.failure = undefined;
        s.blockedUntil = undefined;
      } else if (LOCAL_FAILURES.has(outcome.error.kind)) {
        s.lastRequestAt = undefined;
      } else {
        const { retryAfterMs = 0, backoffMs = 0 } = outcome.error.details;
        const wait = Math.min(this.policy.maxWaitMs, Math.max(this.policy.minIntervalMs, retryAfterMs, backoffMs));
        s.failure = outcome.error;
        s.blockedUntil = done + wait;
        s.value = undefined; // a failure means the fallback from now on, not an older live answer
      }
      return outcome;
    });
    return this.race(s.inFlight, signal);
  }

  private async settle<T>(call: () => Promise<T>): Promise<Outcome<T>> {
    try {
      return { ok: true, value: await call() };
    } catch (err) {
      return { ok: false, error: toSourceError(this.opts.profile, err) };
    }
  }

  /** The shared request, or a cancellation outcome as soon as this caller's signal aborts. */
  private race<T>(shared: Promise<Outcome<T>>, signal: AbortSignal | undefined): Promise<Outcome<T>> {
    if (!signal) return shared;
    const cancelled: Outcome<T> = {
      ok: false,
      error: new SourceError('cancelled', `The request to ${this.opts.profile.name} was cancelled: nothing to fix.`),
    };
    if (signal.aborted) return Promise.resolve(cancelled);
    return new Promise((resolve) => {
      const onAbort = (): void => resolve(cancelled);
      signal.addEventListener('abort', onAbort, { once: true });
      void shared.then((outcome) => {
        signal.removeEventListener('abort', onAbort);
        resolve(outcome);
      });
    });
  }
}
