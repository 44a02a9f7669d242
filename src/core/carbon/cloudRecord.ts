// The SCI record of one cloud request: EcoLogits energy for the model at the endpoint's data centre (its zone from
// endpointZone, the intensity the caller read for that zone or else its annual average; its PUE), against the
// all-cloud baseline at the same place. A model of unknown size is still recorded, at a declared, named or assumed
// size with a wider range (resolveModelSize), never dropped. The provider's claims are labels only. Shared by the
// extension and `verdant ask`.
import { carbonContext, presetForUrl } from '../cloud/presets';
import { endpointZone, type EndpointZone } from '../cloud/zone';
import { BASELINE, estimateCloud, estimateCloudSized, resolveModelSize, type DeclaredSize } from './energy/cloud';
import { buildSciRecord, type SciIntensity } from './sci';
import { lookupGridAverage } from './sources';
import type { SciRecord } from './types';

export interface CloudRequestFacts {
  readonly feature: string;
  readonly endpoint: string;
  readonly model: string;
  readonly tokensIn: number;
  readonly tokensOut: number;
  readonly latencyMs: number;
  /** Epoch ms when the request started. */
  readonly at: number;
  /** The user's zone, for self-hosted endpoints (their grid is the user's). */
  readonly localZone: string;
  /** verdant.cloud.zone ('' or absent = from the preset). */
  readonly zoneSetting?: string;
  /** verdant.cloud.modelParams, parsed; absent = from the catalogue or the name. */
  readonly declaredSize?: DeclaredSize;
  /** The intensity read (live or embedded) for cloudZone(...).zone; absent = that zone's annual average. */
  readonly intensity?: SciIntensity;
}

/** The endpoint's zone for these facts (the caller reads the intensity for it). */
export function cloudZone(r: Pick<CloudRequestFacts, 'endpoint' | 'localZone' | 'zoneSetting'>): EndpointZone {
  return endpointZone({ endpoint: r.endpoint, zoneSetting: r.zoneSetting ?? '', localZone: r.localZone });
}

/** The zone's annual average from the embedded table (the World average for an unknown zone). */
export function annualIntensity(zone: string): SciIntensity {
  return { gPerKWh: lookupGridAverage(zone).gPerKWh, source: 'embedded', zone, signal: 'average', isEstimated: true };
}

export function cloudSciRecord(r: CloudRequestFacts): SciRecord {
  const preset = presetForUrl(r.endpoint);
  const ctx = preset ? carbonContext(preset, r.model) : undefined;
  const where = cloudZone(r);
  const intensity = r.intensity ?? annualIntensity(where.zone);
  const size = resolveModelSize(ctx?.catalogModel ?? r.model, r.declaredSize);
  const est = estimateCloudSized(size, { outputTokens: r.tokensOut, inputTokens: r.tokensIn, pue: ctx?.pue, latencySeconds: r.latencyMs / 1000 });
  const base = estimateCloud({
    model: BASELINE.model,
    pue: BASELINE.pue,
    pueRange: [BASELINE.pue, BASELINE.pue],
    outputTokens: r.tokensOut,
    inputTokens: r.tokensIn,
  });
  return buildSciRecord({
    ts: new Date(r.at).toISOString(),
    route: 'cloud',
    feature: r.feature,
    model: r.model,
    tokens: { in: r.tokensIn, out: r.tokensOut },
    energy: est.energy,
    embodiedG: est.embodiedG,
    embodiedRangeG: est.embodiedRangeG,
    intensity,
    baseline: { model: BASELINE.model, energy: base.energy, embodiedG: base.embodiedG, embodiedRangeG: base.embodiedRangeG, intensity },
    labels: [...(ctx?.labels ?? []), where.detail, ...(size.method === 'catalog' ? [] : [size.detail])],
  });
}
