// Energy and embodied emissions of one cloud LLM request with the EcoLogits parametric model
// (mlco2/ecologits `ecologits/impacts/llm.py`, `docs/methodology/llm_inference.md`; methodology update 2025-11):
// vLLM on 8xH100 servers, fitted to the ML.ENERGY leaderboard. Per request:
//   GPUs      = 2^ceil(log2(ceil(1.2 x P_total x 16/8 GB / 80 GB)))
//   E_GPU     = T_out x (alpha x e^(beta x B) x P_active + gamma) Wh, per GPU
//   dT        = min(T_out x (a x P_active + b x B + c) s, measured request latency)
//   E_server  = dT/3600 x 1.2 kW x GPUs/8 / B
//   E_request = PUE x (E_server + GPUs x E_GPU)
//   M         = dT / (B x 3 years) x (GPUs/8 x 5700 kg + GPUs x 273 kg)
// Only output tokens enter: EcoLogits' 2025.11 model does not count input tokens (its 2026-09 Impact'IA update
// models prefill from input tokens with per-model OpenRouter TTFT medians, which Verdant does not have).
import type { EnergyEstimate } from '../types';

/** Constants as in ecologits/impacts/llm.py and ecologits/data/hardware_defaults.json. */
export const ECOLOGITS = {
  /** GPU energy per output token per GPU: alpha x e^(beta x B) x P_active[B params] + gamma, Wh. */
  gpuEnergyAlpha: 1.1665273170451914e-6,
  gpuEnergyBeta: -0.011205921025579175,
  gpuEnergyGamma: 4.052928146734005e-5,
  /** Latency per output token (ML.ENERGY fallback, used when no OpenRouter TTFT/TPS): a x P_active + b x B + c, s. */
  latencyAlpha: 0.0006785088094353663,
  latencyBeta: 0.0003119310311688259,
  latencyGamma: 0.019473717579473387,
  quantizationBits: 16,
  /** Memory overhead on the weights (EleutherAI "Transformer Math 101"). */
  memoryOverhead: 1.2,
  gpuMemoryGB: 80,
  batchSize: 64,
  serverGpus: 8,
  /** Server without GPUs, kW (p5.48xlarge via BoaviztAPI). */
  serverPowerKW: 1.2,
  /** Server without GPUs, kg CO2e (p5.48xlarge via BoaviztAPI). */
  serverEmbodiedKg: 5700,
  /**
   * One H100 80GB, kg CO2e: 273 (Lees-Perasso et al. 2026, ADEME GPU LCA), the current value in llm.py and
   * hardware_defaults.json. The 2025.11 release used 164 (NVIDIA HGX H100 PCF per GPU); the docs now say 273.
   */
  gpuEmbodiedKg: 273,
  /** 3 years, s (94,608,000). */
  hardwareLifespanSeconds: 3 * 365 * 24 * 60 * 60,
} as const;

/** EnergyEstimate.method for cloud estimates: the energy formulas of EcoLogits' 2025.11 methodology. */
export const ECOLOGITS_METHOD = 'ecologits-2025.11';

/**
 * Verdant's uncertainty on B: providers do not publish their batch sizes, EcoLogits fixes B = 64 and gives no
 * range for open models with known sizes. We report B in [32, 128] (half to double) as the range; the point value
 * stays EcoLogits' B = 64. Pass batchRange: [64, 64] to get EcoLogits' point estimate as the range.
 */
export const DEFAULT_BATCH_RANGE: readonly [number, number] = [32, 128];

export interface CloudModel {
  readonly activeParamsB: number;
  readonly totalParamsB: number;
  readonly moe: boolean;
  readonly source: string;
}

/** Models Verdant's cloud presets serve (carbon-data.md §6). Parameter counts from the model cards. */
export const CLOUD_MODELS = {
  'llama-3.1-8b-instruct': { activeParamsB: 8.03, totalParamsB: 8.03, moe: false, source: 'huggingface.co/meta-llama/Llama-3.1-8B-Instruct (8.03B)' },
  'llama-3.3-70b-instruct': {
    activeParamsB: 70.6,
    totalParamsB: 70.6,
    moe: false,
    source: 'huggingface.co/meta-llama/Llama-3.3-70B-Instruct (70.6B)',
  },
  'mistral-small-3.2-24b-instruct': {
    activeParamsB: 24,
    totalParamsB: 24,
    moe: false,
    source: 'huggingface.co/mistralai/Mistral-Small-3.2-24B-Instruct-2506 (24B)',
  },
  'gemma-3-27b-it': {
    activeParamsB: 27.4,
    totalParamsB: 27.4,
    moe: false,
    source: 'huggingface.co/google/gemma-3-27b-it (27.4B incl. vision encoder)',
  },
  'qwen3-32b': { activeParamsB: 32.8, totalParamsB: 32.8, moe: false, source: 'huggingface.co/Qwen/Qwen3-32B (32.8B)' },
  'gpt-oss-120b': { activeParamsB: 5.1, totalParamsB: 117, moe: true, source: 'OpenAI gpt-oss model card (117B total, 5.1B active)' },
  'qwen3-235b-a22b': { activeParamsB: 22, totalParamsB: 235, moe: true, source: 'huggingface.co/Qwen/Qwen3-235B-A22B (235B total, 22B active)' },
  'deepseek-r1': { activeParamsB: 37, totalParamsB: 671, moe: true, source: 'huggingface.co/deepseek-ai/DeepSeek-R1 (671B total, 37B active)' },
} as const satisfies Record<string, CloudModel>;

export type CloudModelId = keyof typeof CLOUD_MODELS;

/** Catalogue key for a provider's model name: 'meta-llama/Llama-3.3-70B-Instruct', 'Meta-Llama-3_3-70B-Instruct' -> 'llama-3.3-70b-instruct'. */
export function resolveCloudModel(name: string): CloudModelId | undefined {
  const key = (s: string) =>
    s
      .toLowerCase()
      .replace(/^.*\//, '')
      .replace(/_/g, '.')
      .replace(/-(?:fp8|awq|gptq|bf16)$/, '')
      .replace(/-\d{4}$/, '')
      .replace(/^meta-llama-/, 'llama-')
      .replace(/^llama-?(\d)[.-](\d)-/, 'llama-$1.$2-')
      .replace(/-(?:instruct|it)$/, '');
  const wanted = key(name);
  return (Object.keys(CLOUD_MODELS) as CloudModelId[]).find((id) => key(id) === wanted);
}

export type ProviderId = 'scaleway' | 'ovhcloud' | 'infomaniak' | 'nebius' | 'exoscale' | 'google' | 'aws' | 'azure' | 'default';

export interface ProviderPue {
  readonly pue: number;
  readonly range: readonly [number, number];
  readonly verified: boolean;
  readonly source: string;
}

/** Data-centre PUE per provider (carbon-data.md §2, §6). Unverified values keep the 1.2 default with a wide range. */
export const PROVIDER_PUE: Readonly<Record<ProviderId, ProviderPue>> = {
  scaleway: {
    pue: 1.25,
    range: [1.15, 1.37],
    verified: false,
    source: 'Scaleway: <1.15 new sites, 1.3 older (scaleway.com); DC5 1.25 / fleet 1.37 via makemode.eu [unverified]',
  },
  ovhcloud: { pue: 1.28, range: [1.1, 1.3], verified: true, source: 'OVHcloud 1.28 average (channelnews.fr); FY2021 1.1-1.3 (silicon.fr)' },
  infomaniak: { pue: 1.2, range: [1.1, 1.4], verified: false, source: 'no published PUE found: default 1.2 [unverified]' },
  nebius: {
    pue: 1.1,
    range: [1.03, 1.2],
    verified: false,
    source: 'Nebius Mantsala "just above 1.0" (royalhaskoningdhv.com); serverless region not guaranteed [unverified]',
  },
  exoscale: { pue: 1.2, range: [1.1, 1.4], verified: false, source: 'no published PUE found: default 1.2 [unverified]' },
  google: { pue: 1.09, range: [1.09, 1.1], verified: true, source: 'EcoLogits provider table 1.09; Cloud Carbon Footprint 1.1' },
  aws: { pue: 1.135, range: [1.135, 1.14], verified: true, source: 'Cloud Carbon Footprint 1.135; EcoLogits AWS/Google 1.09-1.14' },
  azure: { pue: 1.2, range: [1.16, 1.2], verified: true, source: 'EcoLogits Microsoft 1.20 (Sweden 1.16); Cloud Carbon Footprint 1.185' },
  default: { pue: 1.2, range: [1.1, 1.4], verified: false, source: 'default when the provider is unknown (carbon-data.md §6)' },
};

/**
 * The all-cloud baseline every "saved" figure is measured against: Llama 3.3 70B Instruct at a typical provider
 * (PUE 1.2). It is the model every green preset serves (Scaleway, OVHcloud, Nebius), open-weight so its size is
 * known rather than guessed, a capable coding assistant a user would otherwise call, and the example of carbon-data.md §5.
 */
export const BASELINE = { model: 'llama-3.3-70b-instruct', provider: 'default', pue: 1.2 } as const satisfies {
  model: CloudModelId;
  provider: ProviderId;
  pue: number;
};

export interface CloudInput {
  /** A catalogue model or a provider's name for one; or give activeParamsB and totalParamsB. */
  readonly model?: string;
  readonly activeParamsB?: number;
  readonly totalParamsB?: number;
  readonly outputTokens: number;
  /** Recorded for the SCI record; EcoLogits' 2025.11 model does not use input tokens. */
  readonly inputTokens?: number;
  readonly provider?: ProviderId;
  /** Overrides the provider's PUE (then the range is [pue, pue] unless pueRange is given). */
  readonly pue?: number;
  readonly pueRange?: readonly [number, number];
  /** Measured request latency, s: an upper bound on the generation time dT (EcoLogits). */
  readonly latencySeconds?: number;
  readonly batchSize?: number;
  readonly batchRange?: readonly [number, number];
}

export interface CloudEstimate {
  /** kWh includes the PUE; the range spans the batch-size and PUE ranges. */
  readonly energy: EnergyEstimate;
  /** Embodied share of servers and GPUs, g CO2e. */
  readonly embodiedG: number;
  readonly embodiedRangeG: readonly [number, number];
  readonly gpus: number;
  /** Generation time dT at the point batch size, s. */
  readonly latencySeconds: number;
  /** GPUs x E_GPU, before PUE, kWh. */
  readonly gpuKWh: number;
  /** Server without GPUs, before PUE, kWh. */
  readonly serverKWh: number;
  readonly activeParamsB: number;
  readonly totalParamsB: number;
  readonly model: CloudModelId | null;
  readonly pue: number;
}

/** GPUs to hold the weights at 16 bits with 1.2x overhead on 80 GB cards, rounded up to a power of two. */
export function gpuCount(totalParamsB: number): number {
  const memoryGB = (ECOLOGITS.memoryOverhead * totalParamsB * ECOLOGITS.quantizationBits) / 8;
  const needed = Math.max(1, Math.ceil(memoryGB / ECOLOGITS.gpuMemoryGB));
  let gpus = 1;
  while (gpus < needed) gpus *= 2;
  return gpus;
}

interface Point {
  readonly kWh: number;
  readonly gpuKWh: number;
  readonly serverKWh: number;
  readonly latencySeconds: number;
  readonly embodiedG: number;
}

function atBatch(activeB: number, totalB: number, outputTokens: number, pue: number, batch: number, latencyCap: number): Point {
  const E = ECOLOGITS;
  const gpus = gpuCount(totalB);
  const whPerTokenPerGpu = E.gpuEnergyAlpha * Math.exp(E.gpuEnergyBeta * batch) * activeB + E.gpuEnergyGamma;
  const gpuKWh = (gpus * outputTokens * whPerTokenPerGpu) / 1000;
  const latencySeconds = Math.min(outputTokens * (E.latencyAlpha * activeB + E.latencyBeta * batch + E.latencyGamma), latencyCap);
  const serverKWh = ((latencySeconds / 3600) * E.serverPowerKW * (gpus / E.serverGpus)) / batch;
  const hardwareKg = (gpus / E.serverGpus) * E.serverEmbodiedKg + gpus * E.gpuEmbodiedKg;
  const embodiedG = (1000 * hardwareKg * latencySeconds) / (E.hardwareLifespanSeconds * batch);
  return { kWh: pue * (serverKWh + gpuKWh), gpuKWh, serverKWh, latencySeconds, embodiedG };
}

function positive(name: string, v: number | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!Number.isFinite(v) || v <= 0) throw new RangeError(`${name} must be a positive number, got ${v}`);
  return v;
}

/** EcoLogits energy and embodied emissions of one request; throws when the model is unknown and no sizes are given. */
export function estimateCloud(input: CloudInput): CloudEstimate {
  const id = input.model !== undefined ? (resolveCloudModel(input.model) ?? null) : null;
  const known = id !== null ? CLOUD_MODELS[id] : undefined;
  const activeB = positive('activeParamsB', input.activeParamsB) ?? known?.activeParamsB;
  const totalB = positive('totalParamsB', input.totalParamsB) ?? known?.totalParamsB ?? activeB;
  if (activeB === undefined || totalB === undefined) {
    throw new Error(
      `Unknown cloud model '${input.model ?? ''}': pass activeParamsB and totalParamsB (billions), or use one of ${Object.keys(CLOUD_MODELS).join(', ')}.`,
    );
  }
  if (totalB < activeB) throw new RangeError(`totalParamsB (${totalB}) must be >= activeParamsB (${activeB})`);
  const out = input.outputTokens;
  if (!Number.isFinite(out) || out < 0) throw new RangeError(`outputTokens must be >= 0, got ${out}`);

  const provider = PROVIDER_PUE[input.provider ?? 'default'];
  const pue = positive('pue', input.pue) ?? provider.pue;
  const pueRange = input.pueRange ?? (input.pue !== undefined ? ([pue, pue] as const) : provider.range);
  const batch = positive('batchSize', input.batchSize) ?? ECOLOGITS.batchSize;
  const batchRange = input.batchRange ?? (input.batchSize !== undefined ? ([batch, batch] as const) : DEFAULT_BATCH_RANGE);
  const cap = positive('latencySeconds', input.latencySeconds) ?? Infinity;

  const point = atBatch(activeB, totalB, out, pue, batch, cap);
  const corners: Point[] = [];
  for (const b of [batchRange[0], batch, batchRange[1]]) {
    for (const p of [pueRange[0], pueRange[1]]) corners.push(atBatch(activeB, totalB, out, p, b, cap));
  }
  const span = (f: (p: Point) => number): [number, number] => [Math.min(...corners.map(f)), Math.max(...corners.map(f))];
  return {
    energy: { kWh: point.kWh, rangeKWh: span((p) => p.kWh), method: ECOLOGITS_METHOD, measured: false, pue },
    embodiedG: point.embodiedG,
    embodiedRangeG: span((p) => p.embodiedG),
    gpus: gpuCount(totalB),
    latencySeconds: point.latencySeconds,
    gpuKWh: point.gpuKWh,
    serverKWh: point.serverKWh,
    activeParamsB: activeB,
    totalParamsB: totalB,
    model: id,
    pue,
  };
}

/**
 * Where a model's parameter counts come from: the catalogue; the user's verdant.cloud.modelParams (or --model-params);
 * the name ('Qwen2.5-Coder-32B' -> 32B); or nothing known, so ASSUMED_SIZE.
 */
export type SizeMethod = 'catalog' | 'declared' | 'name' | 'assumed';

export interface ModelSize {
  readonly activeParamsB: number;
  readonly totalParamsB: number;
  readonly method: SizeMethod;
  readonly catalog: CloudModelId | null;
  /** Low and high multipliers on both counts, for the range: the less sure the size, the wider. */
  readonly sizeFactor: readonly [number, number];
  /** For the record's labels. */
  readonly detail: string;
  /** Said beside an estimate (the router's cloud option) when the size is not the catalogue's: 'size 32B declared', 'size unknown, assumed 70.6B (8B-405B)'. */
  readonly note?: string;
}

/** Size multipliers per method: a declared size may be rounded or quantised; a name may hide a mixture of experts. */
export const SIZE_FACTORS: Readonly<Record<SizeMethod, readonly [number, number]>> = {
  catalog: [1, 1],
  declared: [0.8, 1.25],
  name: [0.5, 1.5],
  // 8B to 405B dense around 70B: the small and the largest open models a coding endpoint commonly serves.
  assumed: [8 / 70.6, 405 / 70.6],
};

/** No catalogue entry, no declared size, none in the name: the baseline's 70.6B dense, with the widest range. */
export const ASSUMED_SIZE = { activeParamsB: 70.6, totalParamsB: 70.6 } as const;

/** A declared size: a catalogue name ('qwen3-32b'), 'TOTAL' or 'TOTAL/ACTIVE' in billions ('32', '235/22', '235B/22B'). */
export type DeclaredSize = { readonly catalog: CloudModelId } | { readonly totalParamsB: number; readonly activeParamsB: number };

/** Parses verdant.cloud.modelParams / --model-params; a sentence saying what is wrong when it cannot. */
export function parseModelParams(text: string): DeclaredSize | { readonly error: string } {
  const t = text.trim();
  const catalog = resolveCloudModel(t);
  if (catalog) return { catalog };
  const m = /^(\d+(?:\.\d+)?)\s*b?\s*(?:\/\s*(\d+(?:\.\d+)?)\s*b?)?$/i.exec(t);
  const total = m ? Number(m[1]) : NaN;
  const active = m?.[2] !== undefined ? Number(m[2]) : total;
  if (!(total > 0 && total <= 100_000 && active > 0 && active <= total)) {
    return {
      error: `model size must be billions of parameters, TOTAL or TOTAL/ACTIVE (e.g. 32 or 235/22, active not above total), or a catalogue name (${Object.keys(CLOUD_MODELS).join(', ')}); not "${t.slice(0, 60)}"`,
    };
  }
  return { totalParamsB: total, activeParamsB: active };
}

/** '…-32B-…' -> 32B dense; '…-235B-A22B' -> 235B total, 22B active; undefined when the name says no size. */
export function sizeFromName(name: string): { totalParamsB: number; activeParamsB: number } | undefined {
  const base = name.toLowerCase().replace(/^.*\//, '');
  const m = /(?:^|[-_.])(\d+(?:\.\d+)?)b(?:-a(\d+(?:\.\d+)?)b)?(?=$|[-_.])/.exec(base);
  if (!m) return undefined;
  const total = Number(m[1]);
  const active = m[2] !== undefined ? Number(m[2]) : total;
  return total > 0 && active > 0 && active <= total ? { totalParamsB: total, activeParamsB: active } : undefined;
}

/** A declared size from validated text ('' or invalid: undefined, so the catalogue, the name or the assumption decide). */
export function declaredSize(text: string): DeclaredSize | undefined {
  if (text.trim() === '') return undefined;
  const parsed = parseModelParams(text);
  return 'error' in parsed ? undefined : parsed;
}

/** The parameter counts to estimate `model` with: declared first (the user knows best), then catalogue, name, assumed. */
export function resolveModelSize(model: string, declared?: DeclaredSize): ModelSize {
  const sized = (
    method: SizeMethod,
    c: { totalParamsB: number; activeParamsB: number },
    catalog: CloudModelId | null,
    detail: string,
    note?: string,
  ): ModelSize => ({
    activeParamsB: c.activeParamsB,
    totalParamsB: c.totalParamsB,
    method,
    catalog,
    sizeFactor: SIZE_FACTORS[method],
    detail,
    ...(note ? { note } : {}),
  });
  const counts = (c: { totalParamsB: number; activeParamsB: number }) =>
    c.activeParamsB === c.totalParamsB ? `${c.totalParamsB}B` : `${c.totalParamsB}B total, ${c.activeParamsB}B active`;
  if (declared && 'catalog' in declared)
    return sized('catalog', CLOUD_MODELS[declared.catalog], declared.catalog, `model size of ${declared.catalog} (declared catalogue name)`);
  if (declared)
    return sized(
      'declared',
      declared,
      null,
      `model size ${counts(declared)} as declared, range x${SIZE_FACTORS.declared.join('-x')}`,
      `size ${counts(declared)} declared`,
    );
  const id = resolveCloudModel(model);
  if (id) return sized('catalog', CLOUD_MODELS[id], id, `model size of ${id} (catalogue)`);
  const named = sizeFromName(model);
  if (named)
    return sized(
      'name',
      named,
      null,
      `model size ${counts(named)} read from the name '${model}', range x${SIZE_FACTORS.name.join('-x')}`,
      `size ${counts(named)} from the name`,
    );
  return sized(
    'assumed',
    ASSUMED_SIZE,
    null,
    `model size unknown for '${model}': assumed ${ASSUMED_SIZE.totalParamsB}B dense, range 8B-405B; set verdant.cloud.modelParams`,
    `size unknown, assumed ${ASSUMED_SIZE.totalParamsB}B (8B-405B)`,
  );
}

/**
 * estimateCloud for a resolved size: the point at the size, the range also over the size's factors, and the method
 * saying how the size was found ('ecologits-2025.11' for the catalogue, else e.g. 'ecologits-2025.11+name-size').
 */
export function estimateCloudSized(size: ModelSize, input: Omit<CloudInput, 'model' | 'activeParamsB' | 'totalParamsB'>): CloudEstimate {
  const at = (f: number) => estimateCloud({ ...input, activeParamsB: size.activeParamsB * f, totalParamsB: size.totalParamsB * f });
  const point = at(1);
  const ends = [at(size.sizeFactor[0]), point, at(size.sizeFactor[1])];
  const lo = (f: (e: CloudEstimate) => number) => Math.min(...ends.map(f));
  const hi = (f: (e: CloudEstimate) => number) => Math.max(...ends.map(f));
  const method = size.method === 'catalog' ? ECOLOGITS_METHOD : `${ECOLOGITS_METHOD}+${size.method}-size`;
  return {
    ...point,
    model: size.catalog,
    energy: { ...point.energy, method, rangeKWh: [lo((e) => e.energy.rangeKWh[0]), hi((e) => e.energy.rangeKWh[1])] },
    embodiedRangeG: [lo((e) => e.embodiedRangeG[0]), hi((e) => e.embodiedRangeG[1])],
  };
}
