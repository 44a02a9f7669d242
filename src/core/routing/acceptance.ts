// The "recent acceptance" signal: how often the user kept local results, per kind of request. A result that is
// applied or kept counts as accepted; "Retry in cloud" after a local result counts as rejected; "Retry locally"
// after a cloud result says the user expects the local model to do, and counts as accepted. An exponential moving
// average, so the last few dozen outcomes matter most. Plain data in and out: the VS Code adapter persists it.
import { ROUTING_KINDS, type RoutingKind } from './features';

/** Weight of each new outcome: the last ~20 outcomes carry most of the average. */
export const ACCEPTANCE_ALPHA = 0.1;
/** Fewer outcomes than this: no signal yet (the feature then sits at 0.5). */
export const MIN_OUTCOMES = 3;

export interface AcceptanceEntry {
  readonly rate: number;
  readonly count: number;
}

export type AcceptanceState = Partial<Record<RoutingKind, AcceptanceEntry>>;

export class AcceptanceTracker {
  private state: Record<string, AcceptanceEntry> = {};

  /** Restores a persisted state; anything malformed is dropped rather than trusted. */
  constructor(saved?: unknown) {
    if (typeof saved !== 'object' || saved === null) return;
    for (const kind of ROUTING_KINDS) {
      const e = (saved as Record<string, unknown>)[kind] as Partial<AcceptanceEntry> | undefined;
      if (e && typeof e.rate === 'number' && e.rate >= 0 && e.rate <= 1 && Number.isInteger(e.count) && (e.count as number) > 0) {
        this.state[kind] = { rate: e.rate, count: e.count as number };
      }
    }
  }

  record(kind: RoutingKind, accepted: boolean): void {
    const x = accepted ? 1 : 0;
    const prev = this.state[kind];
    // The first outcomes are averaged plainly, so one early rejection does not weigh 90 %.
    const alpha = prev ? Math.max(ACCEPTANCE_ALPHA, 1 / (prev.count + 1)) : 1;
    this.state[kind] = { rate: prev ? prev.rate + alpha * (x - prev.rate) : x, count: (prev?.count ?? 0) + 1 };
  }

  /** The acceptance rate of local results for this kind, or undefined while there are too few outcomes. */
  rate(kind: RoutingKind): number | undefined {
    const e = this.state[kind];
    return e && e.count >= MIN_OUTCOMES ? e.rate : undefined;
  }

  toJSON(): AcceptanceState {
    return { ...this.state };
  }
}
