// A deferred job's plan for tests that need a job but not its planning: due at `at`, no forecast, run now.
import type { JobPlan } from '../../src/core/scheduling/plan';

export function runNowPlan(at: number, zone = 'FR'): JobPlan {
  return {
    start: at,
    end: at + 60_000,
    windowGPerKWh: null,
    nowGPerKWh: null,
    savingPct: 0,
    runNow: true,
    reason: 'now',
    source: 'embedded',
    zone,
    plannedAt: at,
  };
}
