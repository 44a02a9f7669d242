// How long to wait after a keystroke before asking the engine. Shorter when the engine answers fast and suggestions
// get accepted; longer while suggestions are ignored (after a run of ignored ones, as Cody's artificial delay does)
// and on battery, where every engine call costs charge.

export interface DebounceSettings {
  /** Fixed delay in ms; 0 = adaptive. */
  readonly fixedMs: number;
  readonly minMs: number;
  readonly maxMs: number;
}

export const DEFAULT_DEBOUNCE: DebounceSettings = { fixedMs: 0, minMs: 20, maxMs: 600 };

const IGNORED_BEFORE_PENALTY = 5;
const PENALTY_STEP_MS = 100;
const PENALTY_MAX_MS = 800;
const LATENCY_WEIGHT = 0.5;
const EMA_ALPHA = 0.3;
const BATTERY_FACTOR = 2;
const BATTERY_MIN_MS = 200;
// Until the first engine call is measured.
const ASSUMED_LATENCY_MS = 50;

export class AdaptiveDebounce {
  private latencyEma: number | undefined;
  private ignoredInARow = 0;

  constructor(private readonly settings: () => DebounceSettings = () => DEFAULT_DEBOUNCE) {}

  /** An engine call took this long (ms), from request to result. */
  observeLatency(ms: number): void {
    this.latencyEma = this.latencyEma === undefined ? ms : this.latencyEma + EMA_ALPHA * (ms - this.latencyEma);
  }

  /** A shown suggestion was accepted (Tab, or accept word/line). */
  accepted(): void {
    this.ignoredInARow = 0;
  }

  /** A shown suggestion was typed over or dismissed. */
  ignored(): void {
    this.ignoredInARow++;
  }

  delayMs(onBattery: boolean): number {
    const s = this.settings();
    if (s.fixedMs > 0) return onBattery ? Math.max(s.fixedMs, BATTERY_MIN_MS) : s.fixedMs;
    // Waiting a fraction of what the engine takes anyway costs little latency and saves calls while typing fast.
    const latency = (this.latencyEma ?? ASSUMED_LATENCY_MS) * LATENCY_WEIGHT;
    const penalty = Math.min(PENALTY_MAX_MS, Math.max(0, this.ignoredInARow - IGNORED_BEFORE_PENALTY + 1) * PENALTY_STEP_MS);
    let ms = Math.min(s.maxMs, Math.max(s.minMs, latency + penalty));
    if (onBattery) ms = Math.max(BATTERY_MIN_MS, ms * BATTERY_FACTOR);
    return Math.round(ms);
  }

  get state(): { readonly latencyEmaMs: number | null; readonly ignoredInARow: number } {
    return { latencyEmaMs: this.latencyEma ?? null, ignoredInARow: this.ignoredInARow };
  }
}
