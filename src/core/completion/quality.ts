// How the completion model has done lately (#21): of the suggestions shown in the last day, how many were accepted,
// and the median time the engine took to produce one. Kept by the pipeline as it shows, accepts and calls the engine;
// in memory, bounded (the oldest events go first), so it covers the last day of this session.
import { median } from '../median';

export const DAY_MS = 24 * 60 * 60 * 1000;
const MAX_EVENTS = 5000;

export interface QualitySummary {
  readonly shown: number;
  readonly accepted: number;
  /** accepted / shown; null with nothing shown. */
  readonly acceptanceRate: number | null;
  /** Median engine time of the suggestions it computed (cache hits excluded), ms; null with none. */
  readonly medianLatencyMs: number | null;
  readonly engineCalls: number;
}

type Event = { readonly at: number } & ({ readonly kind: 'shown' | 'accepted' } | { readonly kind: 'latency'; readonly ms: number });

export class CompletionQuality {
  private events: Event[] = [];

  shown(at: number): void {
    this.push({ at, kind: 'shown' });
  }

  accepted(at: number): void {
    this.push({ at, kind: 'accepted' });
  }

  /** An engine call that produced a suggestion, and how long it took. */
  latency(at: number, ms: number): void {
    this.push({ at, kind: 'latency', ms });
  }

  summary(now: number, windowMs = DAY_MS): QualitySummary {
    const recent = this.events.filter((e) => e.at > now - windowMs && e.at <= now);
    const shown = recent.filter((e) => e.kind === 'shown').length;
    const accepted = recent.filter((e) => e.kind === 'accepted').length;
    const times = recent.flatMap((e) => (e.kind === 'latency' ? [e.ms] : []));
    return {
      shown,
      accepted,
      acceptanceRate: shown > 0 ? Math.min(1, accepted / shown) : null,
      medianLatencyMs: median(times),
      engineCalls: times.length,
    };
  }

  private push(e: Event): void {
    this.events.push(e);
    if (this.events.length > MAX_EVENTS) this.events = this.events.slice(-MAX_EVENTS);
  }
}

/** The summary in one line, for the engine status and the dashboard. */
export function describeQuality(q: QualitySummary): string {
  if (q.shown === 0 && q.engineCalls === 0) return 'last 24 h: no suggestions yet';
  const rate = q.acceptanceRate === null ? '' : `, ${Math.round(q.acceptanceRate * 100)}% accepted`;
  const latency = q.medianLatencyMs === null ? '' : `, median engine latency ${Math.round(q.medianLatencyMs)} ms`;
  return `last 24 h: ${q.shown} suggestion(s) shown${rate}${latency}`;
}
