import * as assert from 'node:assert/strict';
import { buildDashboardData, formatGrams, formatWh, globalLevel, intensityLevel } from '../../src/core/carbon/dashboardData';
import type { IntensityForecast, IntensityReading, SciRecord } from '../../src/core/carbon/types';

const NOW = Date.parse('2026-11-26T12:10:00Z');

describe('gauge levels and formatting', () => {
  it("places now in the day's forecast by thirds", () => {
    const day = [100, 120, 140, 160, 180, 200, 220, 240, 260];
    assert.equal(intensityLevel(110, day, 500).level, 'low');
    assert.equal(intensityLevel(190, day, 500).level, 'medium');
    assert.equal(intensityLevel(250, day, 500).level, 'high');
    assert.match(intensityLevel(250, day, 500).basis, /9 forecast points \(100–260 g\/kWh\)/);
  });

  it('uses the annual average (±15%) when the forecast is flat or missing', () => {
    assert.equal(intensityLevel(80, [100, 100, 100, 100], 100).level, 'low');
    assert.equal(intensityLevel(110, [], 100).level, 'medium');
    assert.equal(intensityLevel(116, [], 100).level, 'high');
    assert.match(intensityLevel(116, [], 100).basis, /annual average \(100 g\/kWh\)/);
  });

  it('places now on a fixed global scale too, whatever the zone: a clean grid reads low even against its own average', () => {
    assert.equal(globalLevel(36).level, 'low');
    assert.equal(intensityLevel(36, [], 35).level, 'medium', "Sweden's 36 g/kWh against its own ~35 average");
    assert.equal(globalLevel(150).level, 'low');
    assert.equal(globalLevel(300).level, 'medium');
    assert.equal(globalLevel(473).level, 'medium', 'the world average');
    assert.equal(globalLevel(550).level, 'high');
  });

  it('formats grams and energy with sensible units', () => {
    assert.equal(formatGrams(0), '0 g');
    assert.equal(formatGrams(-0.000001), '0 g', 'a warm-up saving -1 µg: not "-0.00 mg"');
    assert.equal(formatGrams(0.0042), '4.20 mg');
    assert.equal(formatGrams(0.5), '500 mg');
    assert.equal(formatGrams(12.345), '12.3 g');
    assert.equal(formatGrams(4321), '4.32 kg');
    assert.equal(formatGrams(-0.02), '-20.0 mg');
    assert.equal(formatWh(0.0005), '0.50 mWh');
    assert.equal(formatWh(2.5), '2.50 Wh');
    assert.equal(formatWh(1500), '1.50 kWh');
  });
});

describe('dashboard data', () => {
  const intensity: IntensityReading = {
    zone: 'GB',
    gPerKWh: 250,
    at: '2026-11-26T12:00:00Z',
    source: 'uk-carbon-intensity',
    isEstimated: false,
    signal: 'average',
  };
  const forecast: IntensityForecast = {
    zone: 'GB',
    source: 'uk-carbon-intensity',
    signal: 'average',
    pointMinutes: 30,
    points: [250, 240, 200, 120, 100, 110, 180, 220].map((g, i) => ({
      at: new Date(Date.parse('2026-11-26T12:00:00Z') + i * 1_800_000).toISOString(),
      gPerKWh: g,
    })),
  };
  const rec = (ts: string, route: 'local' | 'cloud', sciG: number, savedG: number, feature = 'inline-completion'): SciRecord => ({
    id: `${ts}-${route}-${sciG}`,
    ts,
    route,
    feature,
    model: 'm',
    tokens: { in: 1, out: 1 },
    energy: { kWh: sciG / 250, rangeKWh: [sciG / 500, sciG / 125], method: 'device-profile', measured: false },
    intensity: { gPerKWh: 250, source: 'uk-carbon-intensity', zone: 'GB', signal: 'average', isEstimated: false },
    operationalG: sciG,
    embodiedG: 0,
    sciG,
    rangeG: [sciG / 2, sciG * 2],
    baseline: { route: 'cloud', model: 'llama-3.3-70b-instruct', sciG: sciG + savedG },
    savedG,
  });

  it('totals today by route, builds 30 days and a per-task table, and finds the clean hour', () => {
    const records = [
      rec('2026-11-26T09:00:00Z', 'local', 0.5, 1),
      rec('2026-11-26T10:00:00Z', 'cloud', 2, 0.5, 'refactor'),
      rec('2026-11-26T10:30:00Z', 'local', 0, 0, 'warm-up'),
      rec('2026-11-25T10:00:00Z', 'local', 1, 2),
      rec('2026-10-01T10:00:00Z', 'local', 9, 9),
    ];
    const d = buildDashboardData({ records, intensity, forecast, annualAverage: 215, now: NOW, utcOffsetMinutes: 0 });
    assert.equal(d.today.requests, 2, 'what someone asked for');
    assert.equal(d.today.warmUps, 1, 'engine overhead, counted apart');
    assert.equal(d.today.localG, 0.5);
    assert.equal(d.today.cloudG, 2);
    assert.equal(d.today.savedG, 1.5);
    assert.equal(d.today.baselineModel, 'llama-3.3-70b-instruct');
    assert.equal(d.days.length, 30);
    assert.deepEqual(d.days[29], { day: '2026-11-26', localG: 0.5, cloudG: 2, savedG: 1.5, requests: 3 });
    assert.deepEqual(d.days[28], { day: '2026-11-25', localG: 1, cloudG: 0, savedG: 2, requests: 1 });
    assert.equal(d.tasks[0]!.feature, 'inline-completion', 'sorted by grams');
    assert.equal(d.tasks[0]!.requests, 3);
    assert.equal(d.zoneLevel, 'high', "250 g/kWh is the top of this zone's day");
    assert.equal(d.level, 'medium', 'and in the middle of the global scale');
    assert.match(d.levelBasis, /^a fixed global scale \(low up to 150, high from 550 g\/kWh; the world average is about 473\)$/);
    assert.equal(d.window?.start, '2026-11-26T14:00:00.000Z'); // (100 + 110) / 2 beats 13:30's (120 + 100) / 2
    assert.equal(d.window?.avgGPerKWh, 105);
    assert.ok(d.methods.some((m) => /Market-based claims/.test(m.text)));
  });

  it('uses local days for "today" and has no clean hour on a flat forecast', () => {
    const flat: IntensityForecast = { ...forecast, points: forecast.points.map((p) => ({ ...p, gPerKWh: 250 })) };
    const d = buildDashboardData({
      records: [rec('2026-11-26T23:30:00Z', 'local', 1, 1)],
      intensity,
      forecast: flat,
      annualAverage: 215,
      now: Date.parse('2026-11-27T00:30:00Z'),
      utcOffsetMinutes: 60,
    });
    assert.equal(d.today.requests, 1, '23:30 UTC is 00:30 on the 27th at UTC+1');
    assert.equal(d.window, null);
    assert.match(d.zoneBasis, /annual average/);
  });
});
