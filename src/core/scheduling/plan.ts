// When a deferred job should start: the cleanest window of the grid forecast that ends before the deadline (the
// Carbon Aware SDK's rolling average, src/core/carbon/window.ts), or now, with the reason in words. Without a real
// forecast (the embedded annual average, or a source that failed and fell back to a flat line) it runs now rather
// than guess; past its deadline it runs now. Pure.
import type { IntensityForecast } from '../carbon/types';
import { averageOver, checkedPoints, findCleanestWindow, WindowError } from '../carbon/window';

const MINUTE = 60_000;

export interface PlanInput {
  readonly forecast: IntensityForecast;
  /** Epoch ms. */
  readonly now: number;
  /** How long the job is expected to run, minutes (> 0). */
  readonly durationMinutes: number;
  /** The job must have finished by then, epoch ms. */
  readonly deadline: number;
}

export interface JobPlan {
  /** When to start, epoch ms (== now when runNow). */
  readonly start: number;
  readonly end: number;
  /** Average intensity over the chosen window; null without a forecast. */
  readonly windowGPerKWh: number | null;
  /** The same job started now; null without a forecast. */
  readonly nowGPerKWh: number | null;
  /** How much lower the window is than now, percent (0 when running now). */
  readonly savingPct: number;
  readonly runNow: boolean;
  /** One sentence, shown in the queue and the CLI. */
  readonly reason: string;
  /** The forecast's source ('embedded' when there was none). */
  readonly source: string;
  readonly zone: string;
  readonly plannedAt: number;
}

/** True when the forecast is only the embedded average (or a flat fallback): nothing to plan against. */
export function hasRealForecast(f: IntensityForecast): boolean {
  return f.source !== 'embedded' && f.fallbackReason === undefined && f.points.length > 0;
}

function clock(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace(/:\d\d\.\d{3}Z$/, 'Z')
    .replace('T', ' ');
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

export function planJob(input: PlanInput): JobPlan {
  const { forecast, now, durationMinutes, deadline } = input;
  if (!(durationMinutes > 0) || !Number.isFinite(durationMinutes))
    throw new RangeError(`The job's duration must be more than 0 minutes, not ${durationMinutes}.`);
  if (!Number.isFinite(now) || !Number.isFinite(deadline)) throw new RangeError('now and deadline must be times (epoch ms).');
  const duration = durationMinutes * MINUTE;
  const base = { source: forecast.source, zone: forecast.zone, plannedAt: now };
  const runNow = (reason: string, nowG: number | null = null): JobPlan => ({
    ...base,
    start: now,
    end: now + duration,
    windowGPerKWh: nowG,
    nowGPerKWh: nowG,
    savingPct: 0,
    runNow: true,
    reason,
  });
  if (now >= deadline) return runNow('past its deadline: running now');
  if (now + duration > deadline) return runNow('it cannot finish before its deadline even if started now: running now');
  if (now + duration === deadline) return runNow('it must start now to finish by its deadline');
  if (!hasRealForecast(forecast)) {
    const why = forecast.fallbackReason ? ` (${forecast.fallbackReason})` : '';
    return runNow(`no grid forecast for ${forecast.zone || 'this zone'}${why}: running now rather than guessing`);
  }
  try {
    checkedPoints(forecast); // out of order is fine (sorted); duplicates, overlaps, NaN or negative values are not
  } catch (e) {
    if (e instanceof WindowError) return runNow(`${e.message} Running now.`);
    throw e;
  }
  // The forecast may end before the deadline: plan within what it covers, and run now if it does not cover now.
  const len = forecast.pointMinutes * MINUTE;
  const covered = Math.max(...forecast.points.map((p) => Date.parse(p.at) + len));
  const until = Math.min(deadline, covered);
  const nowAvg = averageOver(forecast, now, now + duration);
  if (nowAvg === undefined || now + duration > until) {
    return runNow(`the ${forecast.source} forecast does not cover the next ${durationMinutes} minutes: running now`);
  }
  try {
    const w = findCleanestWindow(forecast, { durationMinutes, from: now, deadline: until });
    const start = Date.parse(w.start);
    if (start <= now) return runNow(`now is already the cleanest time before the deadline (${round(nowAvg)} g/kWh)`, round(nowAvg));
    return {
      ...base,
      start,
      end: Date.parse(w.end),
      windowGPerKWh: w.avgGPerKWh,
      nowGPerKWh: w.nowGPerKWh,
      savingPct: w.savingPct,
      runNow: false,
      reason: `cleanest window ${clock(start)} to ${clock(Date.parse(w.end))}: ${w.avgGPerKWh} g/kWh vs ${w.nowGPerKWh} now (${w.savingPct} % less, ${forecast.source})`,
    };
  } catch (e) {
    if (e instanceof WindowError) return runNow(`${e.message} Running now.`);
    throw e;
  }
}
