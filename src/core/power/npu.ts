// Which NPU this machine has, and whether anything Verdant can drive runs language models on it, told from what the
// OS says: the CPU's model name (os.cpus()[0].model) and, on Linux, the kernel's accelerator devices
// (/sys/class/accel/accel*/device/uevent: the amdxdna or intel_vpu driver and the PCI id). No I/O of its own: the
// reads come in, so tests hand it a folder of their own.
// Facts behind the wording (../shared/notes/peers.md: "Ryzen AI NPU (XDNA1, 7840HS) largely unsupported"): AMD's Ryzen AI software and FastFlowLM
// run language models only on XDNA 2 (Ryzen AI 300 and later); Lemonade Server's FAQ says no inference engine plans
// to support the earlier NPUs (Ryzen 7040/8040/8000G/200, XDNA 1). Lemonade runs NPU models through FastFlowLM on
// Linux (amdxdna, in the kernel since 6.14) and through Ryzen AI software or FastFlowLM on Windows.
import type { LocalBackendKind } from '../settings';
import type { BackendInfo } from '../inference/types';
import { engineOf, normalizeCpuModel } from '../carbon/energy/devices';

export type NpuGeneration = 'xdna1' | 'xdna2' | 'intel' | 'none' | 'unknown';

export interface NpuDetection {
  readonly generation: NpuGeneration;
  /** What it is, for people: "AMD Ryzen AI NPU, XDNA 1 (Phoenix / Hawk Point)", "none". */
  readonly label: string;
  /** Whether a runtime Verdant can reach (Lemonade Server) runs language models on it on this machine. */
  readonly usable: boolean;
  /** One clause saying why (or why not), naming the evidence. */
  readonly why: string;
}

export interface NpuReads {
  /** The names in a folder; rejects when it does not exist. */
  readonly readDir: (dir: string) => Promise<string[]>;
  readonly readFile: (file: string) => Promise<string>;
  /** Where the kernel lists compute accelerators (default /sys/class/accel). */
  readonly accelRoot?: string;
}

const LABELS: Readonly<Record<Exclude<NpuGeneration, 'none' | 'unknown'>, string>> = {
  xdna1: 'AMD Ryzen AI NPU, XDNA 1 (Phoenix / Hawk Point)',
  xdna2: 'AMD Ryzen AI NPU, XDNA 2 (Strix / Krackan / Strix Halo)',
  intel: 'Intel NPU (Core Ultra)',
};

const XDNA1_WHY = 'no maintained runtime runs language models on this NPU today';

/**
 * The NPU a CPU model name implies; 'none' when the name is of a chip without one (or one Verdant does not know),
 * 'unknown' when the OS gave no name.
 */
export function npuOfCpu(cpuModel: string): NpuGeneration {
  const m = normalizeCpuModel(cpuModel);
  if (m === '') return 'unknown';
  // Ryzen 7040 (Phoenix) and 8040 (Hawk Point) with Ryzen AI: x640..x940 in U/H/HS (x540U and x440U are Phoenix 2,
  // without one); the 8000G desktops 8600G/8700G; the 2025 Ryzen 200 renames 230..270 (210 and 220: none).
  if (/\bRyzen [3579] (?:PRO )?(?:7[6-9]40|8[6-9]4[05])(?:HS|H|U)\b/i.test(m)) return 'xdna1';
  if (/\bRyzen [57] (?:PRO )?8[67]00GE?\b/i.test(m)) return 'xdna1';
  if (/\bRyzen [3579] (?:PRO )?2[3-7]0\b/i.test(m)) return 'xdna1';
  // Ryzen AI 300/400 (Strix Point, Krackan Point, Gorgon Point) and Ryzen AI Max (Strix Halo): the name says "Ryzen AI".
  if (/\bRyzen AI (?:[3579]|MAX)\b/i.test(m)) return 'xdna2';
  // Core Ultra: Meteor Lake (1xx), Lunar Lake (2xxV), Arrow Lake (2xx), Panther Lake (3xx) all carry Intel's NPU.
  if (/\bCore Ultra [3579]\b/i.test(m)) return 'intel';
  return 'none';
}

/** What the Linux kernel lists: each accelerator's driver and PCI id ("1022:1502"). */
export async function accelDevices(reads: NpuReads): Promise<{ driver: string; pciId: string }[]> {
  const root = reads.accelRoot ?? '/sys/class/accel';
  const names = await reads.readDir(root).catch(() => [] as string[]);
  const found: { driver: string; pciId: string }[] = [];
  for (const name of names.filter((n) => /^accel\d+$/.test(n)).sort()) {
    const uevent = await reads.readFile(`${root}/${name}/device/uevent`).catch(() => '');
    const field = (key: string) => new RegExp(`^${key}=(.*)$`, 'm').exec(uevent)?.[1]?.trim().toLowerCase() ?? '';
    if (uevent !== '') found.push({ driver: field('DRIVER'), pciId: field('PCI_ID') });
  }
  return found;
}

/** amdxdna's PCI device ids (drivers/accel/amdxdna): 0x1502 is NPU1 (XDNA 1), 0x17f0 NPU4-6 (XDNA 2). */
function generationOfPciId(pciId: string): NpuGeneration | undefined {
  if (pciId === '1022:1502') return 'xdna1';
  if (pciId === '1022:17f0') return 'xdna2';
  return undefined;
}

/** This machine's NPU: on Linux the kernel's driver listing wins over the CPU name; elsewhere the name decides. */
export async function detectNpu(machine: { readonly cpuModel: string; readonly platform: NodeJS.Platform }, reads: NpuReads): Promise<NpuDetection> {
  const fromName = npuOfCpu(machine.cpuModel);
  const name = normalizeCpuModel(machine.cpuModel);
  if (machine.platform !== 'linux') return fromCpuName(fromName, name, machine.platform);

  const accel = await accelDevices(reads);
  const amd = accel.find((d) => d.driver === 'amdxdna');
  const intel = accel.find((d) => d.driver === 'intel_vpu');
  if (amd) {
    const generation = generationOfPciId(amd.pciId) ?? (fromName === 'xdna1' || fromName === 'xdna2' ? fromName : undefined);
    if (generation === undefined) {
      return {
        generation: 'unknown',
        label: `AMD NPU (amdxdna, PCI ${amd.pciId || 'id not given'})`,
        usable: false,
        why: 'Verdant does not know this NPU generation',
      };
    }
    if (generation === 'xdna1') return { generation, label: LABELS.xdna1, usable: false, why: `${XDNA1_WHY} (the amdxdna driver is loaded)` };
    return {
      generation,
      label: LABELS.xdna2,
      usable: true,
      why: 'the amdxdna driver is loaded; Lemonade Server can run NPU models on it (FastFlowLM)',
    };
  }
  if (intel)
    return {
      generation: 'intel',
      label: LABELS.intel,
      usable: false,
      why: 'the intel_vpu driver is loaded, but Verdant runs nothing on the Intel NPU',
    };
  if (fromName === 'xdna1')
    return { generation: fromName, label: LABELS.xdna1, usable: false, why: `${XDNA1_WHY} (and the amdxdna driver is not loaded)` };
  if (fromName === 'xdna2') {
    return {
      generation: fromName,
      label: LABELS.xdna2,
      usable: false,
      why: `${name} has one, but the amdxdna driver is not loaded (Linux 6.14 or later has it), so nothing can reach it`,
    };
  }
  return fromCpuName(fromName, name, machine.platform);
}

/** Where the OS offers no driver listing Verdant reads (Windows, macOS), or none named an NPU: the CPU name decides. */
function fromCpuName(generation: NpuGeneration, name: string, platform: NodeJS.Platform): NpuDetection {
  switch (generation) {
    case 'xdna1':
      return { generation, label: LABELS.xdna1, usable: false, why: XDNA1_WHY };
    case 'xdna2':
      // Windows: AMD's NPU driver, which Verdant does not look for, comes with Ryzen AI laptops.
      return {
        generation,
        label: LABELS.xdna2,
        usable: true,
        why: `${name} has one; Lemonade Server can run NPU models on it (Ryzen AI software or FastFlowLM, with AMD's NPU driver)`,
      };
    case 'intel':
      return { generation, label: LABELS.intel, usable: false, why: 'Verdant runs nothing on the Intel NPU' };
    case 'unknown':
      return { generation, label: 'unknown', usable: false, why: 'the OS does not name the CPU' };
    case 'none':
      if (platform === 'darwin' && /\bApple M\d/i.test(name)) {
        return { generation, label: 'Apple Neural Engine', usable: false, why: 'Verdant runs nothing on the Neural Engine' };
      }
      return { generation, label: 'none', usable: false, why: `no NPU that Verdant knows of on ${name}` };
  }
}

// ---------------------------------------------------------------------------------------------------------------
// What runs where, for Show Engine Status

/** Lemonade recipes that put a language model on the NPU, and where exactly (oga-*: releases before ryzenai-llm). */
const NPU_RECIPES: ReadonlyMap<string, string> = new Map([
  ['flm', 'the NPU'],
  ['oga-npu', 'the NPU'],
  ['ryzenai-llm', 'the NPU (a hybrid model also uses the iGPU)'],
  ['oga-hybrid', 'the NPU and the iGPU'],
]);

export interface EngineFacts {
  /** verdant.local.backend. */
  readonly backend: LocalBackendKind;
  /** What the backend reported; null when nothing is loaded or the server did not answer. */
  readonly info: BackendInfo | null;
}

/** "NPU: …" and "Runs on: …": what the NPU does for Verdant, and where the language model and the router run. */
export function describePlacement(npu: NpuDetection, engine: EngineFacts): string[] {
  return [`NPU: ${npuState(npu, engine)}`, `Runs on: ${modelPlace(engine)}; the router on the CPU`];
}

/** The devices a backend reported; "CPU only" only where the backend would have named a GPU (llama.cpp, a loaded Ollama model). */
export function devicesText({ backend, info }: EngineFacts): string {
  if (info && info.devices.length > 0) return info.devices.join(', ');
  const saysCpu = backend === 'llama.cpp' || (backend === 'ollama' && info !== null && info.vramBytes !== null);
  return saysCpu ? 'CPU only' : 'not reported by the server';
}

function npuState(npu: NpuDetection, { backend, info }: EngineFacts): string {
  if (npu.generation === 'none') return npu.label === 'none' ? `none found (${npu.why})` : `${npu.label}, not used: ${npu.why}`;
  if (npu.generation === 'unknown') return `unknown (${npu.why})`;
  if (npu.generation === 'intel') return `${npu.label}, not used by Verdant`;
  if (npu.generation === 'xdna1') return `${npu.label}, not used: ${XDNA1_WHY}`;
  // XDNA 2: in use only when Lemonade is the backend and says the model's recipe runs on the NPU.
  if (!npu.usable) return `${npu.label}, not used: ${npu.why}`;
  if (backend !== 'lemonade') return `${npu.label}, not used: reachable through Lemonade Server (set verdant.local.backend to lemonade)`;
  const recipe = info?.recipe;
  if (recipe === undefined)
    return `${npu.label}, reachable through Lemonade Server; whether it runs the model depends on the model's recipe, which Lemonade has not reported`;
  if (NPU_RECIPES.has(recipe)) return `${npu.label}, in use: Lemonade Server runs ${info?.model ?? 'the model'} on it (recipe ${recipe})`;
  return `${npu.label}, not used: Lemonade Server runs ${info?.model ?? 'the model'} with the ${recipe} recipe; choose an NPU model in Lemonade to use it`;
}

const SERVER_NAMES: Readonly<Record<Exclude<LocalBackendKind, 'llama.cpp'>, string>> = {
  ollama: 'Ollama',
  lmstudio: 'LM Studio',
  mlx: 'mlx_lm.server',
  lemonade: 'Lemonade Server',
  'llama-server': 'llama-server',
};

/** Where the language model runs, as far as the backend said. */
function modelPlace({ backend, info }: EngineFacts): string {
  if (backend === 'llama.cpp') return info ? `the language model on ${engineDevice(info)}` : 'no language model loaded yet';
  return `the language model on ${info ? serverDevice(backend, info) : `${SERVER_NAMES[backend]}, which did not answer`}`;
}

/** Verdant's engine names its llama.cpp backend ('llama.cpp (vulkan)') and the GPUs it offloads to. */
function engineDevice(info: BackendInfo): string {
  const devices = info.devices.length > 0 ? ` (${info.devices.join(', ')})` : '';
  const api = /\(([^)]+)\)/.exec(info.backend)?.[1] ?? '';
  const engine = engineOf(info.backend);
  if (engine === 'cpu') return 'the CPU';
  if (engine === 'cuda') return `the GPU via CUDA${devices}`;
  if (engine === 'gpu') return `the GPU via ${api === 'metal' ? 'Metal' : 'Vulkan'}${devices}`;
  return `${info.backend}${devices}`;
}

function serverDevice(backend: Exclude<LocalBackendKind, 'llama.cpp'>, info: BackendInfo): string {
  if (backend === 'ollama') {
    if (info.vramBytes === null) return 'Ollama (the model is not loaded yet)';
    return info.devices.length > 0 ? 'a GPU through Ollama (it reports VRAM in use)' : 'the CPU through Ollama (it reports no VRAM in use)';
  }
  if (backend === 'mlx') return 'the Apple GPU through mlx_lm.server';
  if (backend === 'lemonade' && info.recipe !== undefined) {
    const npu = NPU_RECIPES.get(info.recipe);
    return npu ? `${npu} through Lemonade Server (recipe ${info.recipe})` : `a GPU or the CPU through Lemonade Server (recipe ${info.recipe})`;
  }
  return `${SERVER_NAMES[backend]}, which does not tell Verdant which device`;
}
