// What each local inference cost in measured engine time: the input for the carbon ledger, which turns time x device
// power x grid intensity into grams. Until the ledger exists, records go to any subscriber of a UsageLog.
import type { GenerateResult } from './inference/types';

export interface LocalUsageRecord {
  /** Epoch ms when the request started. */
  readonly at: number;
  readonly feature: 'inline-completion' | 'warm-up' | 'task' | 'refactor-plan' | 'refactor-step' | 'chat' | 'cli-complete';
  readonly backend: string;
  readonly model: string;
  /** Engine wall time (prompt evaluation + decoding), ms. */
  readonly engineMs: number;
  readonly promptTokens: number;
  readonly evaluatedTokens: number | null;
  readonly generatedTokens: number;
  /** RAPL-measured package energy of this request, J, when the engine could measure it on its own. */
  readonly measuredJoules?: number;
  /** Whether the result was used; undefined until known. */
  readonly outcome?: 'shown' | 'discarded' | 'cancelled';
}

/** The usage record of one local generation that started at `at` (epoch ms). */
export function usageOf(
  at: number,
  feature: LocalUsageRecord['feature'],
  r: GenerateResult,
  outcome?: LocalUsageRecord['outcome'],
): LocalUsageRecord {
  return {
    at,
    feature,
    backend: r.backend,
    model: r.model,
    engineMs: r.timing.totalMs,
    promptTokens: r.timing.promptTokens,
    evaluatedTokens: r.timing.evaluatedTokens,
    generatedTokens: r.timing.generatedTokens,
    ...(r.timing.packageJoules !== undefined ? { measuredJoules: r.timing.packageJoules } : {}),
    ...(outcome ? { outcome } : {}),
  };
}

export type UsageListener = (record: LocalUsageRecord) => void;

/** A bounded in-memory log of usage records with listeners (the ledger subscribes). */
export class UsageLog {
  private readonly records: LocalUsageRecord[] = [];
  private readonly listeners = new Set<UsageListener>();

  constructor(private readonly capacity = 1000) {}

  record(r: LocalUsageRecord): void {
    this.records.push(r);
    if (this.records.length > this.capacity) this.records.shift();
    for (const l of this.listeners) l(r);
  }

  subscribe(listener: UsageListener): { dispose(): void } {
    this.listeners.add(listener);
    return {
      dispose: () => {
        this.listeners.delete(listener);
      },
    };
  }

  recent(): readonly LocalUsageRecord[] {
    return this.records;
  }

  totalEngineMs(since = 0): number {
    return this.records.filter((r) => r.at >= since).reduce((n, r) => n + r.engineMs, 0);
  }
}
