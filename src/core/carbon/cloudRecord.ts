// The SCI record of one cloud request: EcoLogits energy for the model at the endpoint's data centre (its zone's
// grid from the built-in averages, its PUE), against the all-cloud baseline at the same place. The provider's
// renewable or heat-reuse claims are labels only. Shared by the extension and `verdant ask`.
import { carbonContext, presetForUrl } from '../cloud/presets';
import { BASELINE, estimateCloud } from './energy/cloud';
import { buildSciRecord } from './sci';
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
}

export function cloudSciRecord(r: CloudRequestFacts): SciRecord {
  const preset = presetForUrl(r.endpoint);
  const ctx = preset ? carbonContext(preset, r.model, r.localZone) : undefined;
  const zone = ctx?.zone ?? '';
  const grid = lookupGridAverage(zone);
  const intensity = { gPerKWh: grid.gPerKWh, source: 'embedded' as const, zone, signal: 'average' as const, isEstimated: true };
  const est = estimateCloud({ model: ctx?.catalogModel ?? r.model, outputTokens: r.tokensOut, inputTokens: r.tokensIn, pue: ctx?.pue, latencySeconds: r.latencyMs / 1000 });
  const base = estimateCloud({ model: BASELINE.model, pue: BASELINE.pue, pueRange: [BASELINE.pue, BASELINE.pue], outputTokens: r.tokensOut, inputTokens: r.tokensIn });
  return buildSciRecord({
    ts: new Date(r.at).toISOString(), route: 'cloud', feature: r.feature, model: r.model, tokens: { in: r.tokensIn, out: r.tokensOut },
    energy: est.energy, embodiedG: est.embodiedG, embodiedRangeG: est.embodiedRangeG, intensity,
    baseline: { model: BASELINE.model, energy: base.energy, embodiedG: base.embodiedG, embodiedRangeG: base.embodiedRangeG, intensity },
    labels: ctx?.labels,
  });
}
