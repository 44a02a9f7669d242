// Will a model fit this machine, and where should it run? A deliberately simple, explainable estimate made before
// anything is downloaded or loaded: weights + KV cache for the context + llama.cpp's compute buffers, against
// dedicated GPU memory, the shared memory an integrated GPU can borrow, or free RAM with room left for the
// system and the editor. The loader still has the last word ('model-too-big' when it refuses).
import type { KvShape, ModelPreset, ModelRole } from './catalog';

export interface MachineFacts {
  readonly totalMemoryBytes: number;
  /** RAM the OS can hand out now (MemAvailable on Linux), which is what os.freemem() reports. */
  readonly freeMemoryBytes: number;
  /**
   * Memory that belongs to the GPU. A discrete card: its VRAM. An integrated GPU (Radeon 780M): the BIOS carve-out
   * ("UMA frame buffer"), often 512 MB to 4 GB, which the OS does not count in totalMemoryBytes; 0 when it has none
   * of its own (Apple silicon). null: no GPU backend usable.
   */
  readonly vramBytes: number | null;
  /** The GPU shares system RAM (an iGPU or Apple silicon), so it can also borrow from freeMemoryBytes. */
  readonly unifiedMemory?: boolean;
}

/** A catalog preset, or a local GGUF of which only the size is known. */
export interface ModelFootprint {
  readonly sizeBytes: number;
  readonly kv?: KvShape;
}

export interface FitOptions {
  /** Context the model will be loaded with; inline completion needs a few thousand tokens. Default 4096. */
  readonly contextTokens?: number;
}

export type Placement = 'gpu' | 'cpu' | 'none';

export interface FitResult {
  readonly fits: boolean;
  readonly where: Placement;
  /** One sentence with the numbers, fit to show as is. */
  readonly reason: string;
  /** Weights + KV cache + compute buffers. */
  readonly requiredBytes: number;
  /** What the chosen place can give (for 'none': what the CPU could). */
  readonly availableBytes: number;
}

export const DEFAULT_CONTEXT_TOKENS = 4096;
const MiB = 2 ** 20;
const GiB = 2 ** 30;

/** f16 K and V for every layer and KV head; for an unknown architecture a rough 10% of the weights per 4k tokens. */
export function kvCacheBytes(model: ModelFootprint, contextTokens: number): number {
  if (model.kv) return 2 * model.kv.layers * model.kv.kvHeads * model.kv.headDim * 2 * contextTokens;
  return Math.round(model.sizeBytes * 0.1 * (contextTokens / 4096));
}

/**
 * llama.cpp's compute buffers: dominated by the logits of one batch over the vocabulary (Qwen's is 152k tokens,
 * ~300 MB at batch 512), plus a little per weight for scratch space.
 */
function runtimeOverheadBytes(model: ModelFootprint): number {
  return 384 * MiB + Math.round(model.sizeBytes * 0.05);
}

export function requiredBytes(model: ModelFootprint, options: FitOptions = {}): number {
  const ctx = options.contextTokens ?? DEFAULT_CONTEXT_TOKENS;
  return model.sizeBytes + kvCacheBytes(model, ctx) + runtimeOverheadBytes(model);
}

/** RAM left alone for the OS, VS Code and the user's other programs. */
export function systemHeadroomBytes(machine: MachineFacts): number {
  return Math.max(1 * GiB, Math.round(machine.totalMemoryBytes * 0.1));
}

interface Budgets {
  readonly cpu: number;
  readonly gpu: number;
  readonly gpuLabel: string;
}

function budgets(machine: MachineFacts): Budgets {
  const headroom = systemHeadroomBytes(machine);
  const cpu = Math.max(0, machine.freeMemoryBytes - headroom);
  const vram = machine.vramBytes;
  if (vram == null) return { cpu, gpu: 0, gpuLabel: 'no GPU' };
  if (machine.unifiedMemory) {
    // An iGPU uses its carve-out plus "shared GPU memory" taken from RAM, which Windows caps at half of it; the
    // reported VRAM alone (the carve-out) would wrongly rule out models that run fine.
    const shared = Math.min(cpu, machine.totalMemoryBytes / 2);
    return {
      cpu,
      gpu: vram + shared,
      gpuLabel:
        vram > 0
          ? `${formatBytes(vram)} reserved + ${formatBytes(shared)} shared for the integrated GPU`
          : `${formatBytes(shared)} shared for the GPU`,
    };
  }
  // A discrete card also holds the desktop and other programs' buffers.
  const gpu = Math.max(0, vram - Math.max(512 * MiB, vram * 0.1));
  return { cpu, gpu, gpuLabel: `${formatBytes(gpu)} of GPU memory usable` };
}

export function fitModel(model: ModelFootprint, machine: MachineFacts, options: FitOptions = {}): FitResult {
  const need = requiredBytes(model, options);
  const b = budgets(machine);
  const head = `${formatBytes(model.sizeBytes)} model (${formatBytes(need)} with context and buffers)`;
  if (b.gpu > 0 && need <= b.gpu) {
    const where = machine.unifiedMemory ? 'fits on the integrated GPU' : 'fits on the GPU';
    return { fits: true, where: 'gpu', requiredBytes: need, availableBytes: b.gpu, reason: `${head}, ${b.gpuLabel}: ${where}` };
  }
  const free = `${formatBytes(machine.freeMemoryBytes)} RAM free`;
  const keep = formatBytes(systemHeadroomBytes(machine));
  if (need <= b.cpu) {
    const gpuNote = b.gpu > 0 ? ` (too big for the GPU's ${formatBytes(b.gpu)})` : '';
    return { fits: true, where: 'cpu', requiredBytes: need, availableBytes: b.cpu, reason: `${head}, ${free}: fits on the CPU${gpuNote}` };
  }
  const everything = Math.max(0, machine.totalMemoryBytes - systemHeadroomBytes(machine));
  const fix =
    need <= everything
      ? 'close other programs or choose a smaller model'
      : `it would not fit even with everything else closed (${formatBytes(machine.totalMemoryBytes)} RAM); choose a smaller model`;
  return {
    fits: false,
    where: 'none',
    requiredBytes: need,
    availableBytes: b.cpu,
    reason: `${head}, ${free} of which ${keep} stays for the system: does not fit; ${fix}`,
  };
}

export interface RankedPreset {
  readonly preset: ModelPreset;
  readonly fit: FitResult;
}

export interface RecommendOptions extends FitOptions {
  /** Only presets for this role. */
  readonly role?: ModelRole;
}

// On the CPU, decoding reads every weight per token, so speed falls with file size: inline completion must answer
// in well under a second, chat can wait a little longer.
const CPU_PREFERRED_MAX_BYTES: Readonly<Record<ModelRole, number>> = { completion: 2e9, chat: 2.5e9 };

/**
 * Orders presets best first: those that fit before those that do not; the GPU before the CPU; then the most
 * capable (largest) model among those that fit comfortably (room to spare, and on the CPU small enough to be
 * quick), then the rest smallest first.
 */
export function recommendPresets(catalog: readonly ModelPreset[], machine: MachineFacts, options: RecommendOptions = {}): RankedPreset[] {
  const ranked = catalog
    .filter((p) => options.role == null || p.role === options.role)
    .map((preset) => ({ preset, fit: fitModel(preset, machine, options) }));
  const key = ({ preset, fit }: RankedPreset): number[] => {
    const share = fit.where === 'gpu' && !machine.unifiedMemory ? 0.9 : 0.6;
    const comfortable =
      fit.fits &&
      fit.requiredBytes <= fit.availableBytes * share &&
      (fit.where === 'gpu' || preset.sizeBytes <= CPU_PREFERRED_MAX_BYTES[preset.role]);
    return [fit.fits ? 0 : 1, fit.where === 'gpu' ? 0 : 1, comfortable ? 0 : 1, comfortable ? -preset.sizeBytes : preset.sizeBytes];
  };
  return ranked
    .map((r) => ({ r, k: key(r) }))
    .sort((a, b) => {
      for (let i = 0; i < a.k.length; i++) if (a.k[i] !== b.k[i]) return a.k[i]! - b.k[i]!; // every key has four numbers
      return 0;
    })
    .map(({ r }) => r);
}

/** Decimal units, as Hugging Face and download dialogs show sizes: "1.6 GB", "531 MB". */
export function formatBytes(bytes: number): string {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(1)} GB`;
  if (bytes >= 1e8) return `${Math.round(bytes / 1e6)} MB`;
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(1)} MB`;
  if (bytes >= 1e3) return `${Math.round(bytes / 1e3)} KB`;
  return `${bytes} bytes`;
}
