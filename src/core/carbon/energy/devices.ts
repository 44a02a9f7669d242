// Power profiles of the machines that run Verdant's local inference, and how to pick one from what Node can see
// (os.cpus()[0].model, the thread count) and the backend that answered. Every figure says where it comes from and
// whether it is measured or modelled: no chip here has a published J/token figure for this workload, so most are
// modelled package powers with wide ranges (see ../shared/notes/carbon-data.md §3a, §3c and §7).
import * as os from 'node:os';

/** What does the arithmetic during inference. 'soc': Apple's CPU+GPU package; 'unknown': a server backend on an unknown accelerator. */
export type Accelerator = 'cpu' | 'igpu' | 'npu' | 'dgpu' | 'soc' | 'unknown';

/** 'measured': the typical value is a published measurement; 'modelled': our estimate from TDPs and anchors; 'tdp': CodeCarbon's TDP load model. */
export type PowerBasis = 'measured' | 'modelled' | 'tdp';

export interface Watts {
  readonly typical: number;
  readonly low: number;
  readonly high: number;
}

/** The device's embodied emissions (manufacture, transport, end of life) and the lifetime they are spread over. */
export interface EmbodiedProfile {
  readonly kgCO2e: number;
  readonly rangeKg: readonly [number, number];
  readonly lifetimeYears: number;
  readonly source: string;
}

export interface DeviceProfile {
  readonly id: string;
  readonly label: string;
  readonly accelerator: Accelerator;
  /** Power while inference runs: package power for laptops (what RAPL sees), wall power where the source says so. */
  readonly watts: Watts;
  readonly basis: PowerBasis;
  /** EnergyEstimate.method for estimates made from this profile. */
  readonly method: 'device-profile' | 'tdp-model';
  readonly source: string;
  readonly embodied: EmbodiedProfile;
}

/** A profile chosen for this machine and backend, with the reason (shown in the ledger's methodology view). */
export interface DetectedDevice extends DeviceProfile {
  readonly cpuModel: string;
  readonly backend: string;
  readonly reason: string;
}

// ---- embodied emissions ----------------------------------------------------------------------------------------

/**
 * 16" laptop (Framework 16, MacBook Pro 16"). Apple's Product Environmental Report for the MacBook Pro 16" (M2 Pro,
 * 512 GB, Jan 2023) gives 300 kg CO2e over the life cycle, 356 kg for M2 Max/1 TB, 361 kg for the 2021 model
 * (reported by ZDNet Korea, 2023-01-18). Those totals include the use phase, which Verdant counts separately, and
 * production is about 80 % of a laptop's footprint (cruisetech.co.uk, circularcomputing.com), hence the low end 240.
 * Dell's PCF of a mainstream laptop: 300–400 kg over 4 years (O'Connell & Stutz, Dell). Lifetime: 4 years, as both
 * Apple's and Dell's assessments assume.
 */
const LAPTOP_16: EmbodiedProfile = {
  kgCO2e: 300,
  rangeKg: [240, 360],
  lifetimeYears: 4,
  source: 'Apple MacBook Pro 16" PER 2023 (300 kg life cycle); Dell laptop PCF 300-400 kg/4 y (O\'Connell & Stutz)',
};

/**
 * 13–14" laptop (Framework 13, MacBook Air/Pro 14"). Apple: MacBook Pro 14" (2021) 209 kg for production and
 * transport (Apple PER 2021, via climatecallgame.com); MacBook Air (2018) 176 kg life cycle (Apple PER). Boavizta's
 * mean over business laptops: 280 kg, 150–500 (via reverberate.earth).
 */
const LAPTOP_14: EmbodiedProfile = {
  kgCO2e: 200,
  rangeKg: [150, 260],
  lifetimeYears: 4,
  source: 'Apple MacBook Pro 14" PER 2021 (209 kg production+transport); MacBook Air 2018 PER (176 kg)',
};

/**
 * Desktop with a discrete GPU. No product footprint of a GPU desktop was found; Dell's OptiPlex 780 tower (no dGPU,
 * 2010) is 800 kg over its life cycle including 4 years of use (Dell/PE International whitepaper). Modelled, wide.
 */
const DESKTOP: EmbodiedProfile = {
  kgCO2e: 450,
  rangeKg: [300, 900],
  lifetimeYears: 4,
  source: 'modelled; Dell OptiPlex 780 PCF 800 kg life cycle incl. use (2010); no dGPU desktop PCF found',
};

/** Unknown machine: the laptop figure with the widest range above. */
const UNKNOWN_MACHINE: EmbodiedProfile = {
  kgCO2e: 300,
  rangeKg: [150, 900],
  lifetimeYears: 4,
  source: 'unknown machine: 16" laptop figure, range spanning laptops to GPU desktops',
};

// ---- power profiles ----------------------------------------------------------------------------------------------

interface ProfileSpec {
  readonly label: string;
  readonly accelerator: Accelerator;
  readonly watts: Watts;
  readonly basis: PowerBasis;
  readonly source: string;
  readonly embodied: EmbodiedProfile;
}

const w = (typical: number, low: number, high: number): Watts => ({ typical, low, high });

/**
 * Power during single-request inference. Sources: CodeCarbon `data/hardware/cpu_power.csv` TDPs (stored copy
 * mlco2/codecarbon@071eb772), vendor specifications, and the anchors of carbon-data.md §3c. None of the laptop
 * figures is a measurement of this workload on that chip; measure with RAPL where it is readable.
 */
export const PROFILES = {
  // Ryzen 7 7840HS / Radeon 780M / XDNA NPU (Phoenix, Framework 16 class). TDP 54 W (CodeCarbon cpu_power.csv per
  // carbon-data.md §3a; AMD cTDP 35-54 W). llama.cpp decode keeps every physical core busy but is memory-bound, so
  // the package sits below the 54 W limit; §3c assumes 25-45 W for laptop inference.
  'phoenix-hs-cpu': {
    label: 'AMD Ryzen 7040/8040 HS (Phoenix), CPU',
    accelerator: 'cpu',
    watts: w(38, 25, 54),
    basis: 'modelled',
    source: 'modelled: 7840HS TDP 54 W (CodeCarbon cpu_power.csv, notes §3a), memory-bound decode below the limit',
    embodied: LAPTOP_16,
  },
  // §3c: Llama 3.1 8B Q4_K_M on the 780M (Vulkan) runs at 9.8-16.3 tok/s (normiebench #6, #10) at an assumed
  // 25-45 W. Whether the RAPL package domain includes the iGPU is unverified (§7).
  'phoenix-hs-igpu': {
    label: 'AMD Radeon 780M iGPU (Vulkan)',
    accelerator: 'igpu',
    watts: w(35, 25, 45),
    basis: 'modelled',
    source: 'modelled: notes §3c assumes 25-45 W package power for 780M inference (unmeasured)',
    embodied: LAPTOP_16,
  },
  // No J/token or power figure for XDNA inference was found (§7). The NPU itself draws a few watts; the package
  // (SoC, memory controller) adds to it. Very wide on purpose.
  'phoenix-npu': {
    label: 'AMD XDNA NPU (Ryzen AI)',
    accelerator: 'npu',
    watts: w(15, 6, 30),
    basis: 'modelled',
    source: 'modelled: no NPU inference power found (notes §7); wide range',
    embodied: LAPTOP_16,
  },
  // Ryzen 7 7840U (Framework 13 class): AMD default TDP 28 W, cTDP 15-30 W (amd.com product page).
  'phoenix-u-cpu': {
    label: 'AMD Ryzen 7040/8040 U (Phoenix), CPU',
    accelerator: 'cpu',
    watts: w(24, 15, 30),
    basis: 'modelled',
    source: 'modelled: 7840U TDP 28 W, cTDP 15-30 W (AMD spec)',
    embodied: LAPTOP_14,
  },
  'phoenix-u-igpu': {
    label: 'AMD Radeon 760M/780M iGPU at 15-30 W (Vulkan)',
    accelerator: 'igpu',
    watts: w(22, 15, 30),
    basis: 'modelled',
    source: 'modelled: 7840U cTDP 15-30 W (AMD spec)',
    embodied: LAPTOP_14,
  },
  // Apple Silicon: CPU and GPU share one package. CodeCarbon's csv lists Apple M1 at 10 W; §3c's measured anchor
  // (qerty2006.github.io, 2025) is a MacBook Air at about 40 W running Gemma 3 4B, which sets the high end.
  'apple-m': {
    label: 'Apple M1-M4',
    accelerator: 'soc',
    watts: w(20, 8, 40),
    basis: 'modelled',
    source: 'modelled: CodeCarbon cpu_power.csv Apple M1 10 W; MacBook Air ~40 W measured anchor (notes §3c)',
    embodied: LAPTOP_14,
  },
  'apple-m-pro': {
    label: 'Apple M1-M4 Pro',
    accelerator: 'soc',
    watts: w(35, 15, 60),
    basis: 'modelled',
    source: 'modelled: larger GPU than the base chip; no published inference power',
    embodied: LAPTOP_16,
  },
  'apple-m-max': {
    label: 'Apple M1-M4 Max/Ultra',
    accelerator: 'soc',
    watts: w(55, 25, 100),
    basis: 'modelled',
    source: 'modelled: largest GPUs; no published inference power',
    embodied: LAPTOP_16,
  },
  // Core Ultra H (Meteor Lake): processor base power 28 W, max turbo 115 W (Intel ARK, Core Ultra 7 155H).
  'intel-ultra-h-cpu': {
    label: 'Intel Core Ultra H, CPU',
    accelerator: 'cpu',
    watts: w(35, 20, 65),
    basis: 'modelled',
    source: 'modelled: Core Ultra 7 155H base 28 W, turbo 115 W (Intel spec)',
    embodied: LAPTOP_16,
  },
  'intel-ultra-h-igpu': {
    label: 'Intel Arc iGPU (Core Ultra H, Vulkan)',
    accelerator: 'igpu',
    watts: w(30, 18, 50),
    basis: 'modelled',
    source: 'modelled: Core Ultra 7 155H base 28 W (Intel spec)',
    embodied: LAPTOP_16,
  },
  'intel-ultra-npu': {
    label: 'Intel NPU (Core Ultra)',
    accelerator: 'npu',
    watts: w(12, 5, 25),
    basis: 'modelled',
    source: 'modelled: no NPU inference power found; wide range',
    embodied: LAPTOP_16,
  },
  // Generic laptop tiers by the part's power class (CodeCarbon cpu_power.csv: i7-8550U 15 W, i7-1165G7 28 W,
  // i7-10750H 45 W, Ryzen 7 5800H 54 W; Intel spec: i7-1360P base 28 W, turbo 64 W).
  'laptop-15w-cpu': {
    label: 'Laptop, 15-28 W class (U/G), CPU',
    accelerator: 'cpu',
    watts: w(18, 10, 30),
    basis: 'modelled',
    source: 'modelled: U-series TDP 15-28 W (CodeCarbon cpu_power.csv)',
    embodied: LAPTOP_14,
  },
  'laptop-15w-igpu': {
    label: 'Laptop, 15-28 W class (U/G), iGPU',
    accelerator: 'igpu',
    watts: w(16, 10, 28),
    basis: 'modelled',
    source: 'modelled: U-series TDP 15-28 W (CodeCarbon cpu_power.csv)',
    embodied: LAPTOP_14,
  },
  'laptop-28w-cpu': {
    label: 'Laptop, 28 W class (P), CPU',
    accelerator: 'cpu',
    watts: w(30, 18, 45),
    basis: 'modelled',
    source: 'modelled: i7-1360P base 28 W, turbo 64 W (Intel spec)',
    embodied: LAPTOP_14,
  },
  'laptop-28w-igpu': {
    label: 'Laptop, 28 W class (P), iGPU',
    accelerator: 'igpu',
    watts: w(25, 15, 40),
    basis: 'modelled',
    source: 'modelled: i7-1360P base 28 W (Intel spec)',
    embodied: LAPTOP_14,
  },
  'laptop-45w-cpu': {
    label: 'Laptop, 35-54 W class (H/HS/HX), CPU',
    accelerator: 'cpu',
    watts: w(45, 30, 70),
    basis: 'modelled',
    source: 'modelled: H-series TDP 45-54 W (CodeCarbon cpu_power.csv: i7-10750H 45, Ryzen 7 5800H 54)',
    embodied: LAPTOP_16,
  },
  'laptop-45w-igpu': {
    label: 'Laptop, 35-54 W class (H/HS/HX), iGPU',
    accelerator: 'igpu',
    watts: w(35, 20, 55),
    basis: 'modelled',
    source: 'modelled: H-series TDP 45-54 W (CodeCarbon cpu_power.csv)',
    embodied: LAPTOP_16,
  },
  // Laptop with a discrete GPU (CUDA): laptop GPUs are sold at 60-150 W TGP, plus the CPU feeding them.
  'laptop-dgpu': {
    label: 'Laptop with a discrete GPU',
    accelerator: 'dgpu',
    watts: w(110, 60, 180),
    basis: 'modelled',
    source: 'modelled: laptop GPU TGP 60-150 W plus CPU',
    embodied: LAPTOP_16,
  },
  // Desktop CPUs: CodeCarbon cpu_power.csv Ryzen 9 5900X 105 W, i7-11700K 125 W, Ryzen 5 5600X 65 W.
  'desktop-cpu': {
    label: 'Desktop, CPU',
    accelerator: 'cpu',
    watts: w(90, 50, 150),
    basis: 'modelled',
    source: 'modelled: desktop TDP 65-125 W (CodeCarbon cpu_power.csv)',
    embodied: DESKTOP,
  },
  // Measured at the wall: Mistral 7B on a desktop (Ryzen 9 7900 + RX 7800 XT) drew 234 W (wattlab, notes §3c).
  'desktop-dgpu': {
    label: 'Desktop with a discrete GPU (wall power)',
    accelerator: 'dgpu',
    watts: w(234, 120, 450),
    basis: 'measured',
    source: 'measured anchor: 234 W at the wall, Mistral 7B, Ryzen 9 7900 + RX 7800 XT (wattlab, notes §3c)',
    embodied: DESKTOP,
  },
  // A GPU backend on a CPU we cannot place: anything from an iGPU to a 450 W card.
  'generic-gpu': {
    label: 'Unknown GPU',
    accelerator: 'unknown',
    watts: w(60, 10, 350),
    basis: 'modelled',
    source: 'modelled: unknown GPU, range spans iGPUs to desktop cards',
    embodied: UNKNOWN_MACHINE,
  },
} as const satisfies Record<string, ProfileSpec>;

export type ProfileId = keyof typeof PROFILES;

export function profile(id: ProfileId): DeviceProfile {
  return { id, method: 'device-profile', ...PROFILES[id] };
}

// ---- CodeCarbon's TDP fallback -------------------------------------------------------------------------------

/** CodeCarbon `DEFAULT_POWER_PER_CORE = 4` (core/cpu.py): W per thread for a CPU absent from the table. */
export const WATTS_PER_THREAD = 4;
/** CodeCarbon `POWER_CONSTANT = 85` (external/hardware.py): W when the CPU model cannot be detected. */
export const UNDETECTED_TDP = 85;
/** CodeCarbon `CONSUMPTION_PERCENTAGE_CONSTANT = 0.5`: share of TDP in constant mode (no load information). */
export const CONSTANT_MODE_SHARE = 0.5;

/**
 * TDPs (W) of common laptop and desktop CPUs, by normalised model name. From CodeCarbon's
 * `codecarbon/data/hardware/cpu_power.csv` (stored copy mlco2/codecarbon@071eb772) except where noted.
 */
export const CPU_TDP: Readonly<Record<string, number>> = {
  // carbon-data.md §3a (CodeCarbon cpu_power.csv as of 2026-08); newer than the stored copy read here.
  'AMD Ryzen 7 7840HS': 54,
  'AMD Ryzen 7 4800H': 54,
  'AMD Ryzen 7 5800H': 54,
  'AMD Ryzen 9 5900HX': 45,
  'AMD Ryzen 7 4700U': 25,
  'AMD Ryzen 5 5500U': 25,
  'AMD Ryzen 5 5600X': 65,
  'AMD Ryzen 7 3700X': 65,
  'AMD Ryzen 7 5800X': 105,
  'AMD Ryzen 9 5900X': 105,
  'AMD Ryzen 9 5950X': 105,
  'Apple M1': 10,
  'Intel Core i5-8250U': 15,
  'Intel Core i7-8550U': 15,
  'Intel Core i7-8565U': 28,
  'Intel Core i7-10510U': 25,
  'Intel Core i5-1135G7': 28,
  'Intel Core i7-1165G7': 28,
  'Intel Core i7-1185G7': 28,
  'Intel Core i7-8750H': 45,
  'Intel Core i7-9750H': 45,
  'Intel Core i7-10750H': 45,
  'Intel Core i7-8700K': 95,
  'Intel Core i9-9900K': 95,
  'Intel Core i7-11700K': 125,
  'Intel Core i9-10900K': 125,
};

/** "13th Gen Intel(R) Core(TM) i7-1360P" -> "Intel Core i7-1360P"; "AMD Ryzen 7 7840HS w/ Radeon 780M Graphics" -> "AMD Ryzen 7 7840HS". */
export function normalizeCpuModel(model: string): string {
  return model
    .replace(/\((?:R|TM)\)|[®™]/gi, '')
    .replace(/^\s*\d+(?:st|nd|rd|th) Gen\s+/i, '')
    .replace(/\s+(?:w\/|with)\s+Radeon.*$/i, '')
    .replace(/\s*(?:CPU\s*)?@\s*[\d.]+\s*GHz.*$/i, '')
    .replace(/\b\d+-Core Processor\b|\bProcessor\b|\bCPU\b/gi, '')
    .replace(/\s+/g, ' ')
    .trim();
}

/** The table's TDP for a CPU model string: exact normalised name, else the longest table name contained in it as whole words. */
export function lookupTdp(model: string, table: Readonly<Record<string, number>> = CPU_TDP): { name: string; watts: number } | undefined {
  const norm = normalizeCpuModel(model).toLowerCase();
  if (norm === '') return undefined;
  let best: { name: string; watts: number } | undefined;
  for (const [name, watts] of Object.entries(table)) {
    const key = name.toLowerCase();
    if (key === norm) return { name, watts };
    const at = norm.indexOf(key);
    const end = at + key.length;
    const bounded = at >= 0 && (at === 0 || norm[at - 1] === ' ') && (end === norm.length || /[\s,]/.test(norm.charAt(end)));
    if (bounded && (best === undefined || name.length > best.name.length)) best = { name, watts };
  }
  return best;
}

/** CodeCarbon's machine-mode load curve (external/hardware.py): TDP x (0.1 + 0.9 x load³), load in 0..1. */
export function tdpLoadWatts(tdp: number, load: number): number {
  const l = Math.min(1, Math.max(0, load));
  return tdp * (0.1 + 0.9 * l ** 3);
}

// ---- machine facts and detection --------------------------------------------------------------------------------

export interface OsFacts {
  /** `os.cpus()[0].model`; '' when the OS does not say. */
  readonly cpuModel: string;
  /** `os.cpus().length` (logical CPUs); 0 when unknown. */
  readonly logicalCpus: number;
  readonly platform: NodeJS.Platform;
  readonly arch: string;
  /** Physical cores when known; otherwise estimated (see physicalCoresOf). */
  readonly physicalCores?: number;
  /** Threads the engine runs inference on, when known. */
  readonly engineThreads?: number;
}

type OsSource = Pick<typeof os, 'cpus' | 'platform' | 'arch'>;

export function osFacts(source: OsSource = os): OsFacts {
  const cpus = source.cpus();
  return { cpuModel: cpus[0]?.model?.trim() ?? '', logicalCpus: cpus.length, platform: source.platform(), arch: source.arch() };
}

/** Physical cores: given, else logical/2 on x86 (2-way SMT; rough on hybrid Intel parts), logical on Arm. */
export function physicalCoresOf(facts: OsFacts): number {
  if (facts.physicalCores !== undefined && facts.physicalCores > 0) return facts.physicalCores;
  if (facts.logicalCpus <= 0) return 0;
  return facts.arch === 'arm64' || facts.arch === 'arm' ? facts.logicalCpus : Math.max(1, Math.floor(facts.logicalCpus / 2));
}

/**
 * CPU load of single-request llama.cpp inference for the TDP curve: busy threads / physical cores. llama.cpp runs one
 * thread per physical core (Verdant's default: physical - 1) and SMT siblings add little power, so we count physical
 * cores, not the logical CPUs psutil would (which would put a fully busy 8-core part at load 7/16 and 17 % of TDP).
 * Undefined when the machine gives no core count.
 */
export function inferenceLoad(facts: OsFacts): number | undefined {
  const physical = physicalCoresOf(facts);
  if (physical <= 0) return undefined;
  const threads = facts.engineThreads !== undefined && facts.engineThreads > 0 ? facts.engineThreads : Math.max(1, physical - 1);
  return Math.min(1, threads / physical);
}

/**
 * Range around a TDP-model figure, by how much we know: a catalogued TDP (x0.6-1.4: turbo limits and memory-bound
 * decode), a per-thread guess (x0.4-1.6), an undetected CPU (x0.25-1.5). Verdant's own choices, not CodeCarbon's.
 */
const TDP_RANGE = { table: [0.6, 1.4], perThread: [0.4, 1.6], undetected: [0.25, 1.5] } as const;

function tdpProfile(facts: OsFacts, kind: keyof typeof TDP_RANGE, tdp: number, what: string, embodied: EmbodiedProfile): DeviceProfile {
  const load = inferenceLoad(facts);
  const typical = load === undefined ? tdp * CONSTANT_MODE_SHARE : tdpLoadWatts(tdp, load);
  const [lo, hi] = TDP_RANGE[kind];
  const curve = load === undefined ? `${CONSTANT_MODE_SHARE * 100} % of TDP (no core count)` : `TDP x (0.1 + 0.9 x load³), load ${load.toFixed(2)}`;
  return {
    id: `tdp-${kind}`,
    label: `${what}, TDP model`,
    accelerator: 'cpu',
    watts: w(typical, typical * lo, typical * hi),
    basis: 'tdp',
    method: 'tdp-model',
    source: `CodeCarbon fallback: ${tdp} W (${what}); ${curve}`,
    embodied,
  };
}

type LaptopClass = 'phoenix-hs' | 'phoenix-u' | 'intel-ultra-h' | 'laptop-15w' | 'laptop-28w' | 'laptop-45w';
type AppleClass = 'apple-m' | 'apple-m-pro' | 'apple-m-max';
export type CpuClass = LaptopClass | AppleClass | 'desktop';

/** The CPU's class from its model string, or undefined when we cannot place it. */
export function classifyCpu(model: string): CpuClass | undefined {
  const m = normalizeCpuModel(model);
  const apple = /\bApple M\d+(?:\s+(Pro|Max|Ultra))?\b/i.exec(m);
  if (apple) {
    const tier = apple[1]?.toLowerCase();
    return tier === 'pro' ? 'apple-m-pro' : tier === 'max' || tier === 'ultra' ? 'apple-m-max' : 'apple-m';
  }
  // Phoenix / Hawk Point: Ryzen 5/7/9 7x40 and 8x40/8x45 with the 740M..780M (not 7945HX: Dragon Range). The power
  // class only: which of them have an NPU (not the x440U/x540U, Phoenix 2) is npu.ts's question.
  const phoenix = /\bRyzen [3579] (?:PRO )?(?:7[4-9]40|8[4-9]4[05])(HS|H|U)\b/i.exec(m)?.[1];
  if (phoenix !== undefined) return phoenix.toUpperCase() === 'U' ? 'phoenix-u' : 'phoenix-hs';
  // Ryzen AI 300 (Strix Point): 28 W default TDP class.
  if (/\bRyzen AI [579] (?:PRO )?(?:HX )?\d{3}\b/i.test(m)) return 'laptop-28w';
  const ultra = /\bCore Ultra [3579] \d{3}([A-Z]*)\b/i.exec(m)?.[1];
  if (ultra !== undefined) return /^H/i.test(ultra) ? 'intel-ultra-h' : 'laptop-15w';
  const intel = /\bCore i[3579]-\d{4,5}([A-Z]*\d?)\b/i.exec(m)?.[1];
  if (intel !== undefined) return tierOfSuffix(intel.toUpperCase());
  const ryzen = /\bRyzen [3579] (?:PRO )?\d{4}([A-Z]*)\b/i.exec(m)?.[1];
  if (ryzen !== undefined) return tierOfSuffix(ryzen.toUpperCase());
  return undefined;
}

function tierOfSuffix(suffix: string): CpuClass {
  if (suffix.startsWith('U') || /^G\d/.test(suffix) || suffix === 'Y') return 'laptop-15w';
  if (suffix === 'P') return 'laptop-28w';
  if (suffix.startsWith('H')) return 'laptop-45w';
  return 'desktop';
}

type Engine = 'cpu' | 'gpu' | 'cuda' | 'npu' | 'server';

/**
 * What the backend string says about the accelerator: 'llama.cpp (cpu)' -> cpu; '(vulkan)' or '(metal)' -> gpu;
 * '(cuda)' -> cuda; an NPU runtime -> npu; 'ollama', 'lm studio', 'mlx', 'lemonade', 'llama-server' -> server (not said:
 * Lemonade's recipe may put a model on the GPU, the NPU or the CPU).
 */
export function engineOf(backend: string): Engine {
  const b = backend.toLowerCase();
  if (/\b(npu|xdna|ryzen ai|vitisai)\b/.test(b)) return 'npu';
  const inner = /\(([^)]+)\)/.exec(b)?.[1]?.trim() ?? '';
  if (inner === 'cpu') return 'cpu';
  if (inner === 'vulkan' || inner === 'metal') return 'gpu';
  if (inner === 'cuda') return 'cuda';
  return 'server';
}

const LAPTOP_PROFILES: Readonly<Record<LaptopClass, { cpu: ProfileId; igpu: ProfileId; npu?: ProfileId }>> = {
  'phoenix-hs': { cpu: 'phoenix-hs-cpu', igpu: 'phoenix-hs-igpu', npu: 'phoenix-npu' },
  'phoenix-u': { cpu: 'phoenix-u-cpu', igpu: 'phoenix-u-igpu', npu: 'phoenix-npu' },
  'intel-ultra-h': { cpu: 'intel-ultra-h-cpu', igpu: 'intel-ultra-h-igpu', npu: 'intel-ultra-npu' },
  'laptop-15w': { cpu: 'laptop-15w-cpu', igpu: 'laptop-15w-igpu' },
  'laptop-28w': { cpu: 'laptop-28w-cpu', igpu: 'laptop-28w-igpu' },
  'laptop-45w': { cpu: 'laptop-45w-cpu', igpu: 'laptop-45w-igpu' },
};

/** Chips with their own profiles, which win over the TDP table. */
const CHIP_SPECIFIC: ReadonlySet<CpuClass> = new Set<CpuClass>(['phoenix-hs', 'phoenix-u', 'intel-ultra-h', 'apple-m', 'apple-m-pro', 'apple-m-max']);

/** Either of two profiles: the first's typical value, the widest range. For a server backend whose accelerator we cannot see. */
function eitherOf(a: DeviceProfile, b: DeviceProfile): DeviceProfile {
  return {
    ...a,
    id: `${a.id}|${b.id}`,
    label: `${a.label} or ${b.label}`,
    accelerator: 'unknown',
    watts: w(a.watts.typical, Math.min(a.watts.low, b.watts.low), Math.max(a.watts.high, b.watts.high)),
    basis: a.basis === 'measured' && b.basis === 'measured' ? 'measured' : a.basis === 'tdp' ? 'tdp' : 'modelled',
    source: `${a.source}; or ${b.source}`,
  };
}

/** CPU profile for a class (desktop included) or, for an uncatalogued CPU, CodeCarbon's fallbacks. */
function cpuProfile(facts: OsFacts, cls: CpuClass | undefined): DeviceProfile {
  if (cls === 'desktop') return profile('desktop-cpu');
  if (cls === 'apple-m' || cls === 'apple-m-pro' || cls === 'apple-m-max') return profile(cls);
  if (cls !== undefined) return profile(LAPTOP_PROFILES[cls].cpu);
  if (facts.cpuModel === '' || facts.logicalCpus <= 0) {
    return tdpProfile(facts, 'undetected', UNDETECTED_TDP, facts.cpuModel || 'undetected CPU', UNKNOWN_MACHINE);
  }
  const tdp = WATTS_PER_THREAD * facts.logicalCpus;
  return tdpProfile(facts, 'perThread', tdp, `${facts.cpuModel}, ${facts.logicalCpus} threads x ${WATTS_PER_THREAD} W`, UNKNOWN_MACHINE);
}

function gpuProfile(cls: CpuClass | undefined): DeviceProfile {
  if (cls === 'desktop') return profile('desktop-dgpu');
  if (cls === 'apple-m' || cls === 'apple-m-pro' || cls === 'apple-m-max') return profile(cls);
  if (cls !== undefined) return profile(LAPTOP_PROFILES[cls].igpu);
  return profile('generic-gpu');
}

/**
 * Picks the power profile for one machine and engine backend:
 * 1. Apple Silicon: its SoC profile, whatever the backend (CPU and GPU share the package).
 * 2. CUDA: a discrete GPU (laptop or desktop by the CPU class).
 * 3. NPU backend on a chip with a known NPU: its NPU profile.
 * 4. CPU inference on a catalogued CPU without its own profile: the TDP through CodeCarbon's load curve.
 * 5. The CPU class's CPU or GPU profile (Vulkan/Metal: the iGPU on laptops, a discrete card on desktops).
 * 6. Uncatalogued CPU: 4 W per thread; undetected: 85 W (CodeCarbon); GPU backends on it: a wide generic GPU.
 * Server backends (Ollama, LM Studio, Lemonade, llama-server) do not say what they run on: the range spans CPU and GPU.
 */
export function detectDevice(facts: OsFacts, backend: string): DetectedDevice {
  const cpuModel = facts.cpuModel;
  const engine = engineOf(backend);
  const cls = classifyCpu(cpuModel);
  const name = normalizeCpuModel(cpuModel) || 'an undetected CPU';
  const done = (p: DeviceProfile, reason: string): DetectedDevice => ({ ...p, cpuModel, backend, reason });

  if (cls === 'apple-m' || cls === 'apple-m-pro' || cls === 'apple-m-max') {
    return done(profile(cls), `${name}: CPU and GPU share one package`);
  }
  if (engine === 'cuda') {
    const laptop = cls !== undefined && cls !== 'desktop';
    return done(profile(laptop ? 'laptop-dgpu' : 'desktop-dgpu'), `CUDA: a discrete NVIDIA GPU${laptop ? ' in a laptop' : ''}`);
  }
  if (engine === 'npu' && cls !== undefined && cls !== 'desktop') {
    const npu = LAPTOP_PROFILES[cls].npu;
    if (npu !== undefined) return done(profile(npu), `NPU backend on ${name}`);
  }
  if ((engine === 'cpu' || engine === 'npu') && (cls === undefined || !CHIP_SPECIFIC.has(cls))) {
    const hit = lookupTdp(cpuModel);
    if (hit) {
      const embodied = cls === undefined ? UNKNOWN_MACHINE : cpuProfile(facts, cls).embodied;
      return done(tdpProfile(facts, 'table', hit.watts, hit.name, embodied), `${hit.name}: catalogued TDP ${hit.watts} W`);
    }
  }
  const cpu = cpuProfile(facts, cls);
  const gpu = gpuProfile(cls);
  if (engine === 'gpu') return done(gpu, `${backend} on ${name}: ${gpu.label}`);
  if (engine === 'server') return done(eitherOf(cpu, gpu), `${backend} does not say whether it runs on the CPU or a GPU`);
  return done(cpu, `CPU inference on ${name}: ${cpu.label}`);
}
