// planJob on a 48-hour GB Carbon Intensity API forecast in the API's own JSON (test/fixtures/carbon/uk-fw48h.json:
// /intensity/{from}/fw48h, 96 half-hour periods from Thursday 2026-11-26 08:00Z, an evening peak near 270 g/kWh and
// a windy second night near 75), read through the real UK source with a stubbed fetch.
import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { FetchLike } from '../../src/core/carbon/sources/http';
import { UkCarbonIntensitySource } from '../../src/core/carbon/sources/ukCarbonIntensity';
import type { IntensityForecast } from '../../src/core/carbon/types';
import { hasRealForecast, planJob } from '../../src/core/scheduling/plan';

const MIN = 60_000;
const HOUR = 60 * MIN;
const T0 = Date.parse('2026-11-26T08:00:00Z');
const FIXTURE = readFileSync(path.resolve(process.cwd(), 'test/fixtures/carbon/uk-fw48h.json'), 'utf8');
const ms = (iso: string) => Date.parse(iso);

async function recordedForecast(now = T0): Promise<{ forecast: IntensityForecast; urls: string[] }> {
  const urls: string[] = [];
  const fetch: FetchLike = async (url) => {
    urls.push(url);
    return { status: 200, headers: { get: () => null }, text: async () => FIXTURE };
  };
  const source = new UkCarbonIntensitySource({ fetch, now: () => now, timeoutMs: 2000 }, 'http://127.0.0.1:9');
  return { forecast: await source.forecast('GB'), urls };
}

/** The forecast value at a time (piecewise constant), or undefined outside it. Independent of window.ts. */
function valueAt(f: IntensityForecast, t: number): number | undefined {
  const len = f.pointMinutes * MIN;
  const p = f.points[Math.floor((t - ms(f.points[0]!.at)) / len)];
  return p && ms(p.at) <= t && t < ms(p.at) + len ? p.gPerKWh : undefined;
}

/** Brute force over every whole-minute start: the lowest average and the earliest start reaching it. */
function bruteForce(f: IntensityForecast, now: number, durationMinutes: number, deadline: number): { start: number; avg: number } {
  const minutes = Math.floor((deadline - now) / MIN);
  const values = Array.from({ length: minutes }, (_, m) => valueAt(f, now + m * MIN));
  let best = { start: NaN, avg: Infinity };
  for (let i = 0; i + durationMinutes <= minutes; i++) {
    const window = values.slice(i, i + durationMinutes);
    if (window.some((v) => v === undefined)) continue;
    const avg = (window as number[]).reduce((a, b) => a + b, 0) / durationMinutes;
    if (avg < best.avg - 1e-9) best = { start: now + i * MIN, avg };
  }
  return best;
}

describe('scheduler planning on a recorded GB forecast', () => {
  let f: IntensityForecast;
  before(async () => {
    f = (await recordedForecast()).forecast;
  });

  it('reads the API response through the UK source: 96 half-hour points from 08:00Z', async () => {
    const { urls } = await recordedForecast(T0 + 10 * MIN);
    assert.deepEqual(urls, ['http://127.0.0.1:9/intensity/2026-11-26T08:10Z/fw48h']);
    assert.equal(f.source, 'uk-carbon-intensity');
    assert.equal(f.pointMinutes, 30);
    assert.equal(f.points.length, 96);
    assert.equal(f.points[0]!.at, '2026-11-26T08:00:00.000Z');
    assert.equal(f.points[0]!.gPerKWh, 214);
    assert.equal(f.points[95]!.at, '2026-11-28T07:30:00.000Z');
    assert.ok(hasRealForecast(f));
  });

  it('chooses the cleanest window: the same as a brute force over every minute, for many jobs', () => {
    const cases: Array<[now: number, duration: number, withinHours: number]> = [];
    for (const now of [T0, T0 + 10 * MIN, T0 + 13 * HOUR + 7 * MIN]) {
      for (const duration of [30, 60, 90, 180]) for (const within of [4, 12, 24, 40]) cases.push([now, duration, within]);
    }
    for (const [now, duration, within] of cases) {
      const deadline = now + within * HOUR;
      const plan = planJob({ forecast: f, now, durationMinutes: duration, deadline });
      const best = bruteForce(f, now, duration, deadline);
      const what = `now ${new Date(now).toISOString()}, ${duration} min within ${within} h`;
      assert.equal(plan.start, best.start, `${what}: ${plan.reason}`);
      assert.equal(plan.end, plan.start + duration * MIN, what);
      assert.ok(plan.end <= deadline, what);
      assert.equal(plan.windowGPerKWh, Math.round(best.avg * 100) / 100, what);
      assert.equal(plan.runNow, plan.start === now, what);
    }
  });

  it('puts a 2-hour job in the windy small hours of Friday, with the saving against now', () => {
    const plan = planJob({ forecast: f, now: T0, durationMinutes: 120, deadline: T0 + 24 * HOUR });
    assert.equal(new Date(plan.start).toISOString(), '2026-11-27T03:00:00.000Z'); // 79 81 75 75
    assert.equal(plan.windowGPerKWh, 77.5);
    assert.equal(plan.nowGPerKWh, 211.5); // 214 209 210 213
    assert.equal(plan.savingPct, 63.36);
    assert.equal(plan.runNow, false);
    assert.match(
      plan.reason,
      /^cleanest window 2026-11-27 03:00Z to 2026-11-27 05:00Z: 77\.5 g\/kWh vs 211\.5 now \(63\.36 % less, uk-carbon-intensity\)$/,
    );
    assert.equal(plan.zone, 'GB');
    assert.equal(plan.plannedAt, T0);
  });

  it('a deadline of exactly now + duration runs now', () => {
    const plan = planJob({ forecast: f, now: T0, durationMinutes: 60, deadline: T0 + 60 * MIN });
    assert.equal(plan.runNow, true);
    assert.equal(plan.start, T0);
    assert.equal(plan.reason, 'it must start now to finish by its deadline');
  });

  it('a deadline already passed runs now, saying so', () => {
    for (const deadline of [T0, T0 - HOUR]) {
      const plan = planJob({ forecast: f, now: T0, durationMinutes: 30, deadline });
      assert.equal(plan.runNow, true);
      assert.equal(plan.reason, 'past its deadline: running now');
    }
  });

  it('a deadline beyond the forecast plans within what the forecast covers', () => {
    const end = ms('2026-11-28T08:00:00Z');
    const plan = planJob({ forecast: f, now: T0, durationMinutes: 60, deadline: T0 + 72 * HOUR });
    assert.equal(plan.runNow, false);
    assert.ok(plan.end <= end);
    assert.deepEqual(plan.start, bruteForce(f, T0, 60, end).start);
    assert.equal(new Date(plan.start).toISOString(), '2026-11-27T04:00:00.000Z');
  });

  it('a window that ends exactly at the deadline is allowed, also off the half-hour grid', () => {
    const deadline = ms('2026-11-27T05:00:00Z');
    const plan = planJob({ forecast: f, now: T0, durationMinutes: 60, deadline });
    assert.equal(new Date(plan.start).toISOString(), '2026-11-27T04:00:00.000Z'); // 75 75
    assert.equal(plan.end, deadline);
    // A minute earlier: 03:59 to 04:59 (1 min of 81, 59 of 75) beats every half-hour start.
    const earlier = planJob({ forecast: f, now: T0, durationMinutes: 60, deadline: deadline - MIN });
    assert.equal(new Date(earlier.start).toISOString(), '2026-11-27T03:59:00.000Z');
    assert.equal(earlier.end, deadline - MIN);
    assert.equal(earlier.windowGPerKWh, 75.1);
  });

  it('a tie goes to the earliest window', () => {
    // 04:00 and 04:30 on Friday are both 75: the earlier one.
    const plan = planJob({ forecast: f, now: T0, durationMinutes: 30, deadline: T0 + 40 * HOUR });
    assert.equal(new Date(plan.start).toISOString(), '2026-11-27T04:00:00.000Z');
    // Two equal lows far apart: still the earlier.
    const points = f.points.map((p) => (p.at === '2026-11-26T22:00:00.000Z' || p.at === '2026-11-27T13:00:00.000Z' ? { ...p, gPerKWh: 20 } : p));
    const tied = planJob({ forecast: { ...f, points }, now: T0, durationMinutes: 30, deadline: T0 + 40 * HOUR });
    assert.equal(new Date(tied.start).toISOString(), '2026-11-26T22:00:00.000Z');
  });

  it('runs now when now is already the cleanest time', () => {
    const now = ms('2026-11-27T04:00:00Z');
    const plan = planJob({ forecast: f, now, durationMinutes: 60, deadline: now + 6 * HOUR });
    assert.equal(plan.runNow, true);
    assert.equal(plan.reason, 'now is already the cleanest time before the deadline (75 g/kWh)');
  });

  it('without a real forecast (embedded average, or a flat fallback) runs now: "no grid forecast"', () => {
    const embedded: IntensityForecast = {
      zone: 'GB',
      source: 'embedded',
      signal: 'average',
      pointMinutes: 60,
      points: [{ at: new Date(T0).toISOString(), gPerKWh: 238 }],
    };
    let plan = planJob({ forecast: embedded, now: T0, durationMinutes: 60, deadline: T0 + 12 * HOUR });
    assert.equal(plan.runNow, true);
    assert.equal(plan.reason, 'no grid forecast for GB: running now rather than guessing');
    const flat: IntensityForecast = {
      ...f,
      points: f.points.map((p) => ({ ...p, gPerKWh: 238 })),
      fallbackReason: 'GB Carbon Intensity API did not answer within 10 s',
    };
    plan = planJob({ forecast: flat, now: T0, durationMinutes: 60, deadline: T0 + 12 * HOUR });
    assert.equal(plan.runNow, true);
    assert.equal(plan.reason, 'no grid forecast for GB (GB Carbon Intensity API did not answer within 10 s): running now rather than guessing');
    assert.equal(plan.windowGPerKWh, null);
  });

  it('runs now when the forecast does not cover now (a stale or future forecast)', () => {
    for (const now of [T0 - HOUR, ms('2026-11-28T07:45:00Z'), ms('2026-11-29T00:00:00Z')]) {
      const plan = planJob({ forecast: f, now, durationMinutes: 60, deadline: now + 12 * HOUR });
      assert.equal(plan.runNow, true, new Date(now).toISOString());
      assert.equal(plan.reason, 'the uk-carbon-intensity forecast does not cover the next 60 minutes: running now');
    }
  });

  it('rejects a duration that is not a positive number of minutes', () => {
    for (const d of [0, -5, NaN, Infinity])
      assert.throws(() => planJob({ forecast: f, now: T0, durationMinutes: d, deadline: T0 + HOUR }), RangeError);
  });
});
