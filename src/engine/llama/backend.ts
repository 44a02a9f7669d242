// Chooses the llama.cpp backend. A GPU backend is accepted only when it really offloads (a device is listed);
// otherwise 'auto' falls back to the CPU. Prebuilt binaries only (build: 'never'): the engine never compiles or
// downloads anything on the user's machine.
import type { GpuChoice } from '../../core/settings';
import { EngineError } from '../errors';
import type { Llama, LlamaModule } from './binding';
import { errorMessage } from '../../core/errors';

export type GpuBackend = 'vulkan' | 'cuda' | 'metal';

export interface SelectedBackend {
  readonly llama: Llama;
  /** 'cpu' or the GPU backend in use. */
  readonly backend: 'cpu' | GpuBackend;
  readonly devices: readonly string[];
  readonly vramBytes: number | null;
  readonly threads: number;
  /** Why auto picked what it picked (for the status report). */
  readonly notes: readonly string[];
}

export interface SelectOptions {
  readonly gpu: GpuChoice;
  /** 0 = automatic: physical cores minus one, at least 1 (keeps the editor responsive). */
  readonly threads: number;
  readonly platform?: NodeJS.Platform;
  readonly log?: (message: string) => void;
}

/** GPU backends to try for 'auto', best first. CUDA ships separately (not in the vsix); trying it fails fast. */
export function autoCandidates(platform: NodeJS.Platform): GpuBackend[] {
  return platform === 'darwin' ? ['metal'] : ['cuda', 'vulkan'];
}

export function resolveThreads(setting: number, cpuMathCores: number): number {
  return setting > 0 ? setting : Math.max(1, cpuMathCores - 1);
}

export async function selectBackend(mod: LlamaModule, options: SelectOptions): Promise<SelectedBackend> {
  const notes: string[] = [];
  const log = options.log ?? (() => {});
  const wanted: GpuBackend[] =
    options.gpu === 'cpu' ? [] : options.gpu === 'auto' ? autoCandidates(options.platform ?? process.platform) : [options.gpu];
  for (const gpu of wanted) {
    let llama: Llama | undefined;
    try {
      llama = await mod.getLlama({ gpu, build: 'never', logLevel: mod.LlamaLogLevel.error, progressLogs: false, usePrebuiltBinaries: true });
      const devices = llama.gpu === gpu && llama.supportsGpuOffloading ? await llama.getGpuDeviceNames() : [];
      if (devices.length > 0) {
        const vram = await llama.getVramState();
        const threads = resolveThreads(options.threads, llama.cpuMathCores);
        llama.maxThreads = threads;
        log(`backend ${gpu}: ${devices.join(', ')}, ${Math.round(vram.total / 2 ** 20)} MiB VRAM`);
        return { llama, backend: gpu, devices, vramBytes: vram.total, threads, notes };
      }
      notes.push(`${gpu}: no usable device`);
    } catch (e) {
      notes.push(`${gpu}: ${firstLine(e)}`);
    }
    await llama?.dispose().catch(() => {});
    log(`backend ${gpu} rejected: ${notes[notes.length - 1]}`);
    if (options.gpu !== 'auto') {
      throw new EngineError(
        'backend-unavailable',
        `The ${gpu} backend cannot be used on this machine (${notes[notes.length - 1]}); set verdant.local.gpu to "auto" or "cpu".`,
      );
    }
  }
  const llama = await mod.getLlama({ gpu: false, build: 'never', logLevel: mod.LlamaLogLevel.error, progressLogs: false, usePrebuiltBinaries: true });
  const threads = resolveThreads(options.threads, llama.cpuMathCores);
  llama.maxThreads = threads;
  log(`backend cpu, ${threads} threads${notes.length ? ` (${notes.join('; ')})` : ''}`);
  return { llama, backend: 'cpu', devices: [], vramBytes: null, threads, notes };
}

function firstLine(e: unknown): string {
  return errorMessage(e).split('\n')[0]!.slice(0, 200);
}
