// The cleanest time to run a task of a given duration before a deadline, from a forecast: the start whose
// time-weighted average intensity over the task is lowest (the Carbon Aware SDK's rolling-average approach, points
// partly inside a window weighted by their overlap; candidate starts: now, each point's start, each start that ends
// the task at a point's end, and the latest start before the deadline).
import type { ForecastPoint, IntensityForecast } from './types';

export interface WindowQuery {
  readonly durationMinutes: number;
  /** Earliest start, epoch ms (usually now). */
  readonly from: number;
  /** The task must end by then, epoch ms. */
  readonly deadline: number;
}

export interface CleanWindow {
  readonly start: string;
  readonly end: string;
  readonly avgGPerKWh: number;
  /** The same task started at `from`. */
  readonly nowGPerKWh: number;
  /** How much lower the window's average is than starting now, in percent (0 when now is best). */
  readonly savingPct: number;
}

export class WindowError extends Error {}

const MINUTE = 60_000;

/** Time-weighted average of a piecewise-constant forecast over [a, b); undefined when part of it is not covered. */
export function averageOver(forecast: IntensityForecast, a: number, b: number): number | undefined {
  const len = forecast.pointMinutes * MINUTE;
  let covered = 0;
  let sum = 0;
  for (const p of forecast.points) {
    const start = Date.parse(p.at);
    const overlap = Math.min(b, start + len) - Math.max(a, start);
    if (overlap > 0) {
      covered += overlap;
      sum += overlap * p.gPerKWh;
    }
  }
  // Points may not overlap; a shortfall means a gap in the forecast inside the window.
  return covered >= b - a - 1 ? sum / covered : undefined;
}

/**
 * The forecast's points in time order, after checking that a plan can trust them: a point length of more than 0
 * minutes, a time and a finite intensity of 0 or more in every point, no two points at the same time and none that
 * overlaps the next (either would count part of the time twice). Throws WindowError naming the first bad point.
 */
export function checkedPoints(forecast: IntensityForecast): ForecastPoint[] {
  const name = `The ${forecast.source} forecast`;
  const minutes = forecast.pointMinutes;
  if (typeof minutes !== 'number' || !Number.isFinite(minutes) || minutes <= 0) {
    throw new WindowError(`${name} has points of ${String(minutes)} minutes; each point must last more than 0 minutes.`);
  }
  const points = forecast.points
    .map((p, i) => {
      const at = typeof p?.at === 'string' ? Date.parse(p.at) : Number.NaN;
      if (!Number.isFinite(at)) throw new WindowError(`${name} has point ${i} at ${JSON.stringify(p?.at)}, which is not a date and time.`);
      const g = p.gPerKWh;
      if (typeof g !== 'number' || !Number.isFinite(g) || g < 0) {
        throw new WindowError(`${name} has point ${i} (${p.at}) with ${String(g)} gCO2e/kWh; an intensity must be a number of 0 or more.`);
      }
      return { p, at };
    })
    .sort((a, b) => a.at - b.at);
  const len = minutes * MINUTE;
  for (let i = 1; i < points.length; i++) {
    const prev = points[i - 1]!;
    const cur = points[i]!;
    if (cur.at === prev.at) throw new WindowError(`${name} has two points at ${new Date(cur.at).toISOString()}; give one value per time.`);
    if (cur.at < prev.at + len) {
      throw new WindowError(
        `${name} has overlapping points: ${new Date(prev.at).toISOString()} lasts ${minutes} minutes, past the next point at ${new Date(cur.at).toISOString()}.`,
      );
    }
  }
  return points.map((x) => x.p);
}

export function findCleanestWindow(given: IntensityForecast, q: WindowQuery): CleanWindow {
  if (!(q.durationMinutes > 0)) throw new WindowError('The task duration must be more than 0 minutes.');
  const forecast: IntensityForecast = { ...given, points: checkedPoints(given) };
  const duration = q.durationMinutes * MINUTE;
  if (q.from + duration > q.deadline) {
    throw new WindowError(`A ${q.durationMinutes}-minute task cannot finish before the deadline ${new Date(q.deadline).toISOString()}.`);
  }
  const nowAvg = averageOver(forecast, q.from, q.from + duration);
  if (nowAvg === undefined) throw new WindowError(`The ${forecast.source} forecast does not cover the next ${q.durationMinutes} minutes.`);
  // The average is piecewise linear in the start, so its minimum is where the window's start or end meets a point
  // boundary, or at either end of the range (now, or ending exactly at a deadline that is not on a boundary).
  const len = forecast.pointMinutes * MINUTE;
  const latest = q.deadline - duration;
  const boundaries = forecast.points.flatMap((p) => [Date.parse(p.at), Date.parse(p.at) + len - duration]);
  const starts = [q.from, ...[...boundaries, latest].filter((t) => t > q.from && t <= latest).sort((a, b) => a - b)];
  let best = { start: q.from, avg: nowAvg };
  for (const start of starts) {
    const avg = averageOver(forecast, start, start + duration);
    // Strictly lower: on a tie the earliest start wins (sooner is better for the user).
    if (avg !== undefined && avg < best.avg - 1e-9) best = { start, avg };
  }
  return {
    start: new Date(best.start).toISOString(),
    end: new Date(best.start + duration).toISOString(),
    avgGPerKWh: round(best.avg),
    nowGPerKWh: round(nowAvg),
    savingPct: nowAvg > 0 ? round(((nowAvg - best.avg) / nowAvg) * 100) : 0,
  };
}

/** "90m", "1.5h", "2h30m", "45" (minutes) -> minutes. */
export function parseDuration(text: string): number {
  const t = text.trim().toLowerCase();
  if (/^\d+(\.\d+)?$/.test(t)) return Number(t);
  const m = /^(?:(\d+(?:\.\d+)?)d)?\s*(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m(?:in)?)?$/.exec(t);
  if (!m || (!m[1] && !m[2] && !m[3])) throw new WindowError(`"${text}" is not a duration; write e.g. 90m, 1.5h or 2h30m.`);
  return Number(m[1] ?? 0) * 1440 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0);
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
