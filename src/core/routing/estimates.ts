// What each route would cost for one request: grams CO2e (with a range), energy and expected latency, from the
// Carbon core's estimators (device power x engine time for local, EcoLogits for the cloud: the ledger's own
// functions, so a prediction and the record of the same request share their method). Pure and cheap (a few
// microseconds), so the policy can weigh every option on every request.
import { estimateCloudSized, resolveModelSize, type DeclaredSize } from '../carbon/energy/cloud';
import type { DeviceProfile } from '../carbon/energy/devices';
import { estimateLocal } from '../carbon/energy/local';
import { localEmbodied } from '../carbon/sci';
import type { RoutingKind } from './features';

export type Route = 'local' | 'cloud' | 'later';

export interface OptionEstimate {
  readonly route: Route;
  readonly gCO2e: number;
  readonly rangeG: readonly [number, number];
  readonly kWh: number;
  /** Time to the whole answer, ms (for 'later': until the window starts plus the run). */
  readonly latencyMs: number;
  /** How the energy is estimated, as the ledger records it (EnergyEstimate.method): 'device-profile', 'ecologits-2025.11+assumed-size'. */
  readonly method: string;
  /** Said with the option when its estimate rests on a guess: the cloud model's size declared, read from its name or assumed. */
  readonly note?: string;
}

export interface LocalSide {
  readonly device: Pick<DeviceProfile, 'watts' | 'method' | 'embodied'>;
  /** Measured decode speed, tokens/s; undefined or 0 when not measured yet (DEFAULT_LOCAL_TPS is used). */
  readonly tokensPerSecond?: number;
  /** Measured prompt-evaluation speed, tokens/s (else PREFILL_FACTOR x decode speed). */
  readonly prefillTokensPerSecond?: number;
  /** The user's grid now, g/kWh. */
  readonly gPerKWh: number;
}

export interface CloudSide {
  /**
   * The endpoint's model name (the preset's catalogue model when it lists one). Sized as the ledger sizes it
   * (resolveModelSize): declaredSize, else the catalogue, else a size in the name, else an assumed 70.6B.
   */
  readonly model: string;
  /** verdant.cloud.modelParams (or --model-params), parsed; wins over the catalogue and the name, as in the ledger. */
  readonly declaredSize?: DeclaredSize;
  /** The data centre's PUE (the preset's), else the provider default. */
  readonly pue?: number;
  /** The endpoint's grid, g/kWh. */
  readonly gPerKWh: number;
  readonly tokensPerSecond?: number;
  readonly ttftMs?: number;
}

/**
 * A 1.5B Q4 model on a Radeon 780M (Vulkan) decodes at roughly 25-45 tok/s and on 8 Zen 4 cores at 15-25; 20 is a
 * cautious default until the engine has measured this machine.
 */
export const DEFAULT_LOCAL_TPS = 20;
/** Prompt evaluation is batched and runs about an order of magnitude faster than decoding on the same device. */
export const PREFILL_FACTOR = 8;
/** Hosted 24-70B models stream at about 40-80 tok/s after a first token in 0.5-1 s (Artificial Analysis, 2025). */
export const DEFAULT_CLOUD_TPS = 50;
export const DEFAULT_CLOUD_TTFT_MS = 800;
/** Server-side prompt processing, tokens/s (large batched prefill on data-centre GPUs). */
const CLOUD_PREFILL_TPS = 4000;
/** Characters per token of source code (BPE tokenizers average 3-4 on code). */
export const CHARS_PER_TOKEN = 3.5;

/** Typical answer lengths, tokens: what each kind of request usually generates. */
const OUTPUT_TOKENS: Record<RoutingKind, number> = {
  completion: 32,
  explain: 350,
  refactor: 0, // from the selection: the rewritten code is about as long as the original
  tests: 700,
  summarize: 250,
  commit: 60,
  ask: 400,
};

/** Expected output tokens of a request: the kind's typical length; a refactor rewrites its selection (+10 %). */
export function expectedOutputTokens(kind: RoutingKind, selectionChars: number): number {
  if (kind === 'refactor') return Math.min(2048, Math.max(80, Math.round((selectionChars / CHARS_PER_TOKEN) * 1.1)));
  return OUTPUT_TOKENS[kind];
}

function positiveOr(v: number | undefined, fallback: number): number {
  return v !== undefined && Number.isFinite(v) && v > 0 ? v : fallback;
}

function nonNegative(name: string, v: number): number {
  if (!Number.isFinite(v) || v < 0) throw new RangeError(`${name} must be a finite number >= 0, got ${v}`);
  return v;
}

/** The local model: engine time from the (measured or default) speeds, x the device's watts, + embodied share. */
export function estimateLocalOption(tokensIn: number, tokensOut: number, local: LocalSide): OptionEstimate {
  const decode = positiveOr(local.tokensPerSecond, DEFAULT_LOCAL_TPS);
  const prefill = positiveOr(local.prefillTokensPerSecond, decode * PREFILL_FACTOR);
  const engineMs = 1000 * (nonNegative('tokensIn', tokensIn) / prefill + nonNegative('tokensOut', tokensOut) / decode);
  const energy = estimateLocal({ engineMs, device: local.device });
  const embodied = localEmbodied(local.device, engineMs / 1000);
  const g = nonNegative('local gPerKWh', local.gPerKWh);
  return {
    route: 'local',
    gCO2e: energy.kWh * g + embodied.g,
    rangeG: [energy.rangeKWh[0] * g + embodied.rangeG[0], energy.rangeKWh[1] * g + embodied.rangeG[1]],
    kWh: energy.kWh,
    latencyMs: engineMs,
    method: energy.method,
  };
}

/**
 * The cloud model: EcoLogits energy (PUE included) x the endpoint's grid + embodied share, at the size and with the
 * method and range the ledger's record of the request will have (cloudSciRecord: resolveModelSize, estimateCloudSized;
 * the record also caps the generation time at the measured latency); latency from typical speeds.
 */
export function estimateCloudOption(tokensIn: number, tokensOut: number, cloud: CloudSide): OptionEstimate {
  const size = resolveModelSize(cloud.model, cloud.declaredSize);
  const est = estimateCloudSized(size, {
    outputTokens: nonNegative('tokensOut', tokensOut),
    inputTokens: nonNegative('tokensIn', tokensIn),
    pue: cloud.pue,
  });
  const g = nonNegative('cloud gPerKWh', cloud.gPerKWh);
  const latencyMs =
    positiveOr(cloud.ttftMs, DEFAULT_CLOUD_TTFT_MS) +
    (1000 * tokensIn) / CLOUD_PREFILL_TPS +
    (1000 * tokensOut) / positiveOr(cloud.tokensPerSecond, DEFAULT_CLOUD_TPS);
  return {
    route: 'cloud',
    gCO2e: est.energy.kWh * g + est.embodiedG,
    rangeG: [est.energy.rangeKWh[0] * g + est.embodiedRangeG[0], est.energy.rangeKWh[1] * g + est.embodiedRangeG[1]],
    kWh: est.energy.kWh,
    latencyMs,
    method: est.energy.method,
    ...(size.note ? { note: size.note } : {}),
  };
}

/** The same local run in a cleaner window: only the grid changes; latency adds the wait until the window opens. */
export function estimateLaterOption(local: OptionEstimate, windowGPerKWh: number, nowGPerKWh: number, startsInMs: number): OptionEstimate {
  const operational = local.kWh * nowGPerKWh;
  const embodied = local.gCO2e - operational;
  const w = nonNegative('window gPerKWh', windowGPerKWh);
  const scale = nowGPerKWh > 0 ? w / nowGPerKWh : 1;
  return {
    route: 'later',
    gCO2e: local.kWh * w + embodied,
    rangeG: [Math.max(0, (local.rangeG[0] - embodied) * scale + embodied), (local.rangeG[1] - embodied) * scale + embodied],
    kWh: local.kWh,
    latencyMs: nonNegative('startsInMs', startsInMs) + local.latencyMs,
    method: local.method,
  };
}
