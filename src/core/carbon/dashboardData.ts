// Everything the status-bar gauge and the dashboard show, computed in one place from the ledger and the intensity
// source, as plain data (the dashboard webview receives it as JSON).
import type { Ledger } from './ledger';
import type { IntensityForecast, IntensityReading, SciRecord } from './types';
import { findCleanestWindow, type CleanWindow } from './window';
import { WORLD_AVERAGE } from './data/gridAverages';
import type { QualitySummary } from '../completion/quality';

export type IntensityLevel = 'low' | 'medium' | 'high';

export interface DayRow {
  readonly day: string;
  readonly localG: number;
  readonly cloudG: number;
  /** Baseline minus actual: what routing avoided against the all-cloud baseline (negative when it cost more). */
  readonly savedG: number;
  readonly requests: number;
}

export interface TaskRow {
  readonly feature: string;
  readonly route: 'local' | 'cloud';
  readonly requests: number;
  readonly sciG: number;
  readonly energyWh: number;
  readonly savedG: number;
  readonly rangeG: readonly [number, number];
}

export interface TodayTotals {
  /** Requests someone asked for (completions, tasks, ...). */
  readonly requests: number;
  /** Engine overhead nobody asked for: cache warm-ups (their grams are in the totals, their count is kept apart). */
  readonly warmUps: number;
  readonly localG: number;
  readonly cloudG: number;
  readonly localWh: number;
  readonly cloudWh: number;
  readonly savedG: number;
  readonly baselineG: number;
  readonly rangeG: readonly [number, number];
  readonly baselineModel: string | null;
}

export interface MethodNote {
  readonly title: string;
  readonly text: string;
}

export interface DashboardData {
  readonly generatedAt: string;
  readonly zone: string;
  readonly intensity: IntensityReading;
  /** Where the grid stands on a fixed global scale (globalLevel): the gauge's colour and its first word. */
  readonly level: IntensityLevel;
  /** What the level was judged against. */
  readonly levelBasis: string;
  /** Where it stands for this zone: against its own forecast range, or its annual average (intensityLevel). */
  readonly zoneLevel: IntensityLevel;
  readonly zoneBasis: string;
  readonly forecast: IntensityForecast;
  /** Cleanest 60-minute window in the next 24 h (null when the forecast is flat or too short). */
  readonly window: (CleanWindow & { readonly durationMinutes: number }) | null;
  readonly today: TodayTotals;
  /** Last 30 local days, oldest first. */
  readonly days: readonly DayRow[];
  readonly tasks: readonly TaskRow[];
  readonly methods: readonly MethodNote[];
  /** Ledger lines that could not be read (reported, not fatal). */
  readonly problems: number;
  /** The completion model's last day, when the editor keeps one (not from the ledger: it has no acceptance). */
  readonly completions?: QualitySummary;
}

/**
 * The fixed global scale, g/kWh: low up to the first (hydro, nuclear, wind grids), high from the second (coal-heavy
 * ones); the world average sits between.
 */
export const GLOBAL_SCALE = { lowUpTo: 150, highFrom: 550 } as const;

/**
 * Where `now` sits on a fixed global scale, the same for every zone (#21: Sweden's 36 g/kWh read "medium" against its
 * own average, though few grids anywhere are cleaner). The world average is about 473 g/kWh (Ember 2024).
 */
export function globalLevel(nowG: number): { level: IntensityLevel; basis: string } {
  const level = nowG <= GLOBAL_SCALE.lowUpTo ? 'low' : nowG >= GLOBAL_SCALE.highFrom ? 'high' : 'medium';
  return {
    level,
    basis: `a fixed global scale (low up to ${GLOBAL_SCALE.lowUpTo}, high from ${GLOBAL_SCALE.highFrom} g/kWh; the world average is about ${Math.round(WORLD_AVERAGE.gPerKWh)})`,
  };
}

/**
 * Where `now` sits for its zone: in the day's forecast (lowest third = low, highest third = high) when the forecast
 * varies; otherwise against the zone's annual average (within ±15% = medium).
 */
export function intensityLevel(nowG: number, forecast: readonly number[], annualAverage: number): { level: IntensityLevel; basis: string } {
  const values = forecast.filter((v) => Number.isFinite(v));
  const min = Math.min(...values);
  const max = Math.max(...values);
  if (values.length >= 4 && max - min >= 5) {
    const sorted = [...values].sort((a, b) => a - b);
    // Both in range: there are 4 or more values.
    const lowCut = sorted[Math.floor(sorted.length / 3)]!;
    const highCut = sorted[Math.ceil((2 * sorted.length) / 3) - 1]!;
    const level = nowG <= lowCut ? 'low' : nowG >= highCut ? 'high' : 'medium';
    return { level, basis: `the next ${values.length} forecast points (${Math.round(min)}–${Math.round(max)} g/kWh)` };
  }
  const level = nowG <= annualAverage * 0.85 ? 'low' : nowG >= annualAverage * 1.15 ? 'high' : 'medium';
  return { level, basis: `the annual average (${Math.round(annualAverage)} g/kWh)` };
}

/** 0.0042 g -> "4.2 mg", 12.345 g -> "12.3 g", 4321 g -> "4.32 kg". */
export function formatGrams(g: number): string {
  const a = Math.abs(g);
  if (a < 5e-6) return '0 g'; // rounds to 0.00 mg: never "-0.00 mg" (#22: a warm-up's saving)
  if (a < 1) return `${trim(g * 1000)} mg`;
  if (a < 1000) return `${trim(g)} g`;
  return `${(g / 1000).toFixed(2)} kg`;
}

export function formatWh(wh: number): string {
  const a = Math.abs(wh);
  if (a === 0) return '0 Wh';
  if (a < 1) return `${trim(wh * 1000)} mWh`;
  if (a < 1000) return `${trim(wh)} Wh`;
  return `${(wh / 1000).toFixed(2)} kWh`;
}

function trim(n: number): string {
  const a = Math.abs(n);
  return a >= 100 ? n.toFixed(0) : a >= 10 ? n.toFixed(1) : n.toFixed(2);
}

export function localDay(ms: number, utcOffsetMinutes: number): string {
  return new Date(ms + utcOffsetMinutes * 60_000).toISOString().slice(0, 10);
}

export interface BuildInput {
  readonly records: readonly SciRecord[];
  readonly intensity: IntensityReading;
  readonly forecast: IntensityForecast;
  /** The zone's embedded annual average, for the level when there is no usable forecast. */
  readonly annualAverage: number;
  readonly now: number;
  readonly utcOffsetMinutes: number;
  readonly problems?: number;
}

export function buildDashboardData(input: BuildInput): DashboardData {
  const { records, intensity, forecast, now, utcOffsetMinutes } = input;
  const today = localDay(now, utcOffsetMinutes);
  const todays = records.filter((r) => localDay(Date.parse(r.ts), utcOffsetMinutes) === today);
  const byRoute = (route: 'local' | 'cloud') => todays.filter((r) => r.route === route);
  const sum = (rs: readonly SciRecord[], f: (r: SciRecord) => number) => rs.reduce((n, r) => n + f(r), 0);

  const days = new Map<string, { localG: number; cloudG: number; savedG: number; requests: number }>();
  for (let i = 29; i >= 0; i--) days.set(localDay(now - i * 86_400_000, utcOffsetMinutes), { localG: 0, cloudG: 0, savedG: 0, requests: 0 });
  for (const r of records) {
    const d = days.get(localDay(Date.parse(r.ts), utcOffsetMinutes));
    if (!d) continue;
    if (r.route === 'local') d.localG += r.sciG;
    else d.cloudG += r.sciG;
    d.savedG += r.savedG;
    d.requests++;
  }

  const tasks = new Map<
    string,
    { feature: string; route: 'local' | 'cloud'; requests: number; sciG: number; energyWh: number; savedG: number; lo: number; hi: number }
  >();
  for (const r of records) {
    const key = `${r.feature}\u0000${r.route}`;
    const t = tasks.get(key) ?? { feature: r.feature, route: r.route, requests: 0, sciG: 0, energyWh: 0, savedG: 0, lo: 0, hi: 0 };
    t.requests++;
    t.sciG += r.sciG;
    t.energyWh += r.energy.kWh * 1000;
    t.savedG += r.savedG;
    t.lo += r.rangeG[0];
    t.hi += r.rangeG[1];
    tasks.set(key, t);
  }

  const next24h = forecast.points.filter((p) => Date.parse(p.at) + forecast.pointMinutes * 60_000 > now && Date.parse(p.at) < now + 86_400_000);
  const zone = intensityLevel(
    intensity.gPerKWh,
    next24h.map((p) => p.gPerKWh),
    input.annualAverage,
  );
  const global = globalLevel(intensity.gPerKWh);
  let window: DashboardData['window'] = null;
  const first = next24h[0];
  const varies = first !== undefined && next24h.some((p) => Math.abs(p.gPerKWh - first.gPerKWh) > 1e-9);
  if (varies) {
    try {
      window = { ...findCleanestWindow(forecast, { durationMinutes: 60, from: now, deadline: now + 86_400_000 }), durationMinutes: 60 };
    } catch {
      window = null;
    }
  }

  const local = byRoute('local');
  const cloud = byRoute('cloud');
  return {
    generatedAt: new Date(now).toISOString(),
    zone: intensity.zone,
    intensity,
    level: global.level,
    levelBasis: global.basis,
    zoneLevel: zone.level,
    zoneBasis: zone.basis,
    forecast,
    window,
    today: {
      requests: todays.filter((r) => r.feature !== 'warm-up').length,
      warmUps: todays.filter((r) => r.feature === 'warm-up').length,
      localG: sum(local, (r) => r.sciG),
      cloudG: sum(cloud, (r) => r.sciG),
      localWh: sum(local, (r) => r.energy.kWh * 1000),
      cloudWh: sum(cloud, (r) => r.energy.kWh * 1000),
      savedG: sum(todays, (r) => r.savedG),
      baselineG: sum(todays, (r) => r.baseline.sciG),
      rangeG: [sum(todays, (r) => r.rangeG[0]), sum(todays, (r) => r.rangeG[1])],
      baselineModel: todays[todays.length - 1]?.baseline.model ?? records[records.length - 1]?.baseline.model ?? null,
    },
    days: [...days.entries()].map(([day, d]) => ({ day, ...d })),
    tasks: [...tasks.values()]
      .sort((a, b) => b.sciG - a.sciG)
      .map((t) => ({
        feature: t.feature,
        route: t.route,
        requests: t.requests,
        sciG: t.sciG,
        energyWh: t.energyWh,
        savedG: t.savedG,
        rangeG: [t.lo, t.hi] as const,
      })),
    methods: methodNotes(intensity, forecast),
    problems: input.problems ?? 0,
  };
}

/** How each figure is computed, shown under the charts. */
export function methodNotes(intensity: IntensityReading, forecast: IntensityForecast): MethodNote[] {
  return [
    {
      title: 'Grid intensity',
      text: `${Math.round(intensity.gPerKWh)} gCO2e/kWh, ${intensity.signal}, location-based, from ${intensity.source}${intensity.detail ? ` (${intensity.detail})` : ''}${intensity.isEstimated ? ', estimated' : ', measured'}, for ${intensity.at}.${intensity.fallbackReason ? ` Live data unavailable: ${intensity.fallbackReason}` : ''}`,
    },
    {
      title: 'Forecast and clean window',
      text: `${forecast.points.length} points of ${forecast.pointMinutes} minutes from ${forecast.source}${forecast.fallbackReason ? ` (flat: ${forecast.fallbackReason})` : ''}. The cleanest window is the start with the lowest time-weighted average over the task (the Carbon Aware SDK method); the saving is against starting now.`,
    },
    {
      title: 'Local energy',
      text: "Engine time of each request x the power of the device profile detected for your CPU/GPU (or CodeCarbon's TDP model), with the profile's low and high power as the range; RAPL-measured package energy where readable.",
    },
    {
      title: 'Cloud energy',
      text: "EcoLogits parametric model: GPU energy per output token from the model's active parameters, GPU count from its total parameters, the server's share and the data centre's PUE; range over batch sizes 32-128 and the provider's PUE range.",
    },
    {
      title: 'Embodied emissions',
      text: "Local: the device's manufacturing footprint spread over its lifetime by the time it spent on the request. Cloud: servers and GPUs per EcoLogits.",
    },
    {
      title: 'SCI and savings',
      text: 'Per request, SCI = energy x intensity + embodied (GSF SCI v1.1, R = one request). "Saved" compares each request with the same tokens on the named all-cloud baseline model, by the same method; it is negative when the request cost more. Market-based claims (RECs, "100% renewable") never reduce a number.',
    },
  ];
}

/**
 * Reads what buildDashboardData needs from the ledger: 30 days, up to the end of today in any time zone. A record
 * stamped further ahead was written by a clock that was wrong; it belongs to no day shown, so it stays out of the
 * per-task table too (it is still in the ledger and its exports).
 */
export async function readRecentRecords(ledger: Ledger, now: number): Promise<{ records: SciRecord[]; problems: number }> {
  const { records, problems } = await ledger.read({ since: new Date(now - 31 * 86_400_000), until: new Date(now + 2 * 86_400_000) });
  return { records, problems: problems.length };
}
