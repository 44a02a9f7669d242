// One request's Software Carbon Intensity record (GSF SCI v1.1, R = one request): SCI = E x I + M, with the same
// request on the all-cloud baseline computed the same way, and the grams saved. Location-based intensity only:
// market-based claims (RECs, PPAs, "100 % renewable") travel as labels and never change a number.
import { randomUUID } from 'node:crypto';
import type { LocalUsageRecord } from '../usage';
import { BASELINE, estimateCloud } from './energy/cloud';
import type { DeviceProfile } from './energy/devices';
import { estimateLocal } from './energy/local';
import type { EnergyEstimate, IntensityReading, Route, SciRecord } from './types';

export type SciIntensity = Pick<IntensityReading, 'gPerKWh' | 'source' | 'zone' | 'signal' | 'isEstimated'>;

export interface SciSide {
  readonly energy: EnergyEstimate;
  /** Embodied share M, g. */
  readonly embodiedG: number;
  /** Defaults to [embodiedG, embodiedG]. */
  readonly embodiedRangeG?: readonly [number, number];
  readonly intensity: SciIntensity;
}

export interface SciInput extends SciSide {
  readonly id?: string;
  /** ISO 8601 time the request started. */
  readonly ts: string;
  readonly route: Route;
  readonly feature: string;
  readonly model: string;
  readonly tokens: { readonly in: number; readonly out: number };
  readonly baseline: SciSide & { readonly model: string };
  /**
   * Relative uncertainty of the intensity (0.14 = ±14 %), widening rangeG only. 0 by default: the sources give no
   * error bars. Callers may pass e.g. 0.05 for a forecast (arXiv:2407.02390: forecast error adds ~5 % temporally).
   */
  readonly intensityUncertainty?: number;
  readonly labels?: readonly string[];
}

interface SideResult {
  readonly operationalG: number;
  readonly embodiedG: number;
  readonly sciG: number;
  readonly rangeG: readonly [number, number];
}

function nonNegative(name: string, v: number): number {
  if (!Number.isFinite(v) || v < 0) throw new RangeError(`${name} must be a finite number >= 0, got ${v}`);
  return v;
}

function pairOf(name: string, [lo, hi]: readonly [number, number]): [number, number] {
  return [nonNegative(`${name}[0]`, lo), nonNegative(`${name}[1]`, hi)];
}

/** O = E x I, M as given, SCI = O + M; range = low energy x low intensity + low M .. high x high + high M. */
function sideOf(side: SciSide, uncertainty: number, what: string): SideResult {
  const kWh = nonNegative(`${what} energy.kWh`, side.energy.kWh);
  const [kLo, kHi] = pairOf(`${what} energy.rangeKWh`, side.energy.rangeKWh);
  const g = nonNegative(`${what} intensity.gPerKWh`, side.intensity.gPerKWh);
  const embodiedG = nonNegative(`${what} embodiedG`, side.embodiedG);
  const [mLo, mHi] = pairOf(`${what} embodiedRangeG`, side.embodiedRangeG ?? [embodiedG, embodiedG]);
  const operationalG = kWh * g;
  return {
    operationalG,
    embodiedG,
    sciG: operationalG + embodiedG,
    rangeG: [
      Math.min(kLo, kWh) * g * (1 - uncertainty) + Math.min(mLo, embodiedG),
      Math.max(kHi, kWh) * g * (1 + uncertainty) + Math.max(mHi, embodiedG),
    ],
  };
}

export function buildSciRecord(input: SciInput, newId: () => string = randomUUID): SciRecord {
  const u = input.intensityUncertainty ?? 0;
  if (!Number.isFinite(u) || u < 0 || u >= 1) throw new RangeError(`intensityUncertainty must be in [0, 1), got ${u}`);
  const own = sideOf(input, u, 'request');
  const base = sideOf(input.baseline, u, 'baseline');
  const { gPerKWh, source, zone, signal, isEstimated } = input.intensity;
  return {
    id: input.id ?? newId(),
    ts: input.ts,
    route: input.route,
    feature: input.feature,
    model: input.model,
    tokens: { in: input.tokens.in, out: input.tokens.out },
    energy: input.energy,
    intensity: { gPerKWh, source, zone, signal, isEstimated },
    operationalG: own.operationalG,
    embodiedG: own.embodiedG,
    sciG: own.sciG,
    rangeG: own.rangeG,
    baseline: { route: 'cloud', model: input.baseline.model, sciG: base.sciG },
    savedG: base.sciG - own.sciG,
    ...(input.labels !== undefined && input.labels.length > 0 ? { labels: [...input.labels] } : {}),
  };
}

const SECONDS_PER_YEAR = 365.25 * 24 * 3600;

/**
 * The device's embodied share for a span of use (SCI M = TE x TiR/EL, with RR/ToR = 1: the whole machine is
 * attributed to the request while it runs). EL is calendar lifetime, as in the SCI specification's examples.
 */
export function localEmbodied(device: Pick<DeviceProfile, 'embodied'>, seconds: number): { g: number; rangeG: readonly [number, number] } {
  const share = nonNegative('seconds', seconds) / (device.embodied.lifetimeYears * SECONDS_PER_YEAR);
  return {
    g: device.embodied.kgCO2e * 1000 * share,
    rangeG: [device.embodied.rangeKg[0] * 1000 * share, device.embodied.rangeKg[1] * 1000 * share],
  };
}

export interface LocalSciOptions {
  /** RAPL-measured package energy of this request, J. */
  readonly measuredJoules?: number;
  readonly id?: string;
  readonly labels?: readonly string[];
  readonly newId?: () => string;
}

/**
 * The SCI record of one local inference, with the same tokens on the all-cloud baseline (BASELINE: Llama 3.3 70B,
 * PUE 1.2). The baseline's grid defaults to the local reading (same grid, so only model and hardware differ).
 * A warm-up generates no tokens, so its baseline is 0 operational grams and its savings negative.
 */
export function sciForLocalUsage(
  usage: LocalUsageRecord,
  device: DeviceProfile,
  intensity: SciIntensity,
  baselineIntensity?: SciIntensity,
  options: LocalSciOptions = {},
): SciRecord {
  const energy = estimateLocal({ engineMs: usage.engineMs, device, measuredJoules: options.measuredJoules });
  const embodied = localEmbodied(device, usage.engineMs / 1000);
  const cloud = estimateCloud({
    model: BASELINE.model,
    pue: BASELINE.pue,
    pueRange: [BASELINE.pue, BASELINE.pue],
    outputTokens: usage.generatedTokens,
    inputTokens: usage.promptTokens,
  });
  return buildSciRecord(
    {
      id: options.id,
      ts: new Date(usage.at).toISOString(),
      route: 'local',
      feature: usage.feature,
      model: usage.model,
      tokens: { in: usage.promptTokens, out: usage.generatedTokens },
      energy,
      embodiedG: embodied.g,
      embodiedRangeG: embodied.rangeG,
      intensity,
      baseline: {
        model: BASELINE.model,
        energy: cloud.energy,
        embodiedG: cloud.embodiedG,
        embodiedRangeG: cloud.embodiedRangeG,
        intensity: baselineIntensity ?? intensity,
      },
      labels: options.labels,
    },
    options.newId,
  );
}
