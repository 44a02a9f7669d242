import * as assert from 'node:assert/strict';
import type { IntensityForecast } from '../../src/core/carbon/types';
import { averageOver, findCleanestWindow, parseDuration, WindowError } from '../../src/core/carbon/window';

const T0 = Date.parse('2026-11-26T12:00:00Z');
const at = (min: number) => new Date(T0 + min * 60_000).toISOString();
function forecast(values: number[], pointMinutes = 30): IntensityForecast {
  return {
    zone: 'GB',
    source: 'uk-carbon-intensity',
    signal: 'average',
    pointMinutes,
    points: values.map((v, i) => ({ at: at(i * pointMinutes), gPerKWh: v })),
  };
}

describe('clean window', () => {
  it('averages a piecewise-constant forecast weighted by overlap', () => {
    const f = forecast([100, 200, 300]);
    assert.equal(averageOver(f, T0, T0 + 60 * 60_000), 150);
    // 15 min of 100, 30 of 200, 15 of 300 -> (1500 + 6000 + 4500) / 60 = 200
    assert.equal(averageOver(f, T0 + 15 * 60_000, T0 + 75 * 60_000), 200);
    assert.equal(averageOver(f, T0, T0 + 120 * 60_000), undefined, 'beyond the forecast');
  });

  it('finds the lowest rolling average before the deadline, with the saving against now', () => {
    // 30-min points: 300 300 200 100 100 250 ; a 60-min task, deadline 3 h away.
    const f = forecast([300, 300, 200, 100, 100, 250]);
    const w = findCleanestWindow(f, { durationMinutes: 60, from: T0, deadline: T0 + 180 * 60_000 });
    assert.equal(w.start, at(90));
    assert.equal(w.end, at(150));
    assert.equal(w.avgGPerKWh, 100);
    assert.equal(w.nowGPerKWh, 300);
    assert.equal(w.savingPct, 66.67);
  });

  it('weights a partial point when now is inside a period', () => {
    // now = 12:10; 90-min task: 20 min of 300, 30 of 300, 30 of 200, 10 of 100 -> (6000+9000+6000+1000)/90 = 244.44
    const f = forecast([300, 300, 200, 100, 100, 250]);
    const w = findCleanestWindow(f, { durationMinutes: 90, from: T0 + 10 * 60_000, deadline: T0 + 180 * 60_000 });
    assert.equal(w.nowGPerKWh, 244.44);
    // Best start 12:30 (300 200 100 -> 200) vs 13:00 (200 100 100 -> 133.33) vs 13:30 (100 100 250 -> 150)
    assert.equal(w.start, at(60));
    assert.equal(w.avgGPerKWh, 133.33);
  });

  it('keeps now on a tie and when nothing is cleaner', () => {
    const f = forecast([100, 200, 100, 200]);
    const w = findCleanestWindow(f, { durationMinutes: 30, from: T0, deadline: T0 + 120 * 60_000 });
    assert.equal(w.start, at(0));
    assert.equal(w.savingPct, 0);
  });

  it('says clearly when the task cannot fit or the forecast is too short', () => {
    const f = forecast([100, 200]);
    assert.throws(() => findCleanestWindow(f, { durationMinutes: 90, from: T0, deadline: T0 + 60 * 60_000 }), WindowError);
    assert.throws(() => findCleanestWindow(f, { durationMinutes: 90, from: T0, deadline: T0 + 600 * 60_000 }), /does not cover the next 90 minutes/);
  });

  it('parses durations', () => {
    assert.equal(parseDuration('90m'), 90);
    assert.equal(parseDuration('1.5h'), 90);
    assert.equal(parseDuration('2h30m'), 150);
    assert.equal(parseDuration('45'), 45);
    assert.equal(parseDuration('1d'), 1440);
    assert.throws(() => parseDuration('soon'), /not a duration/);
  });
});
