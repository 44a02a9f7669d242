// Measured package energy from Linux RAPL (powercap sysfs): /sys/class/powercap/intel-rapl:N/energy_uj, which AMD
// CPUs expose too since kernel 5.8 (CodeCarbon docs/explanation/rapl.md). Since CVE-2020-8694 the counters are
// root-only on most distributions, so "not readable" is the normal case and the caller falls back to a device
// profile. Only package domains are summed, like CodeCarbon: core/uncore subdomains are inside the package, 'psys'
// covers the whole platform and would double count, and DRAM is left out.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';

export const POWERCAP_ROOT = '/sys/class/powercap';

export interface RaplDeps {
  readonly root?: string;
  readonly readFile?: (file: string) => Promise<string>;
  readonly readdir?: (dir: string) => Promise<string[]>;
}

export interface RaplDomainReading {
  /** Directory name, e.g. 'intel-rapl:0'. */
  readonly domain: string;
  /** Contents of its `name` file, e.g. 'package-0'. */
  readonly name: string;
  readonly energyUj: number;
  /** `max_energy_range_uj`: the counter wraps to 0 after this; 0 when the file is missing. */
  readonly maxEnergyRangeUj: number;
}

export interface RaplReading {
  readonly totalUj: number;
  readonly domains: readonly RaplDomainReading[];
}

/** Top-level domains only: 'intel-rapl:0', 'amd-rapl:0', 'intel-rapl-mmio:0' (not 'intel-rapl:0:0' subdomains). */
const TOP_LEVEL = /^(?:intel|amd)-rapl(-mmio)?:\d+$/;

/**
 * Reads every package domain's energy counter. Null when powercap is absent or nothing is readable (permissions,
 * containers, macOS/Windows). MMIO domains duplicate the MSR package on some Intel laptops and are used only when
 * no MSR package domain of the same name exists.
 */
export async function readRaplMicrojoules(deps: RaplDeps = {}): Promise<RaplReading | null> {
  const root = deps.root ?? POWERCAP_ROOT;
  const read = deps.readFile ?? ((f: string) => fs.readFile(f, 'utf8'));
  const list = deps.readdir ?? ((d: string) => fs.readdir(d));
  let entries: string[];
  try {
    entries = (await list(root)).filter((e) => TOP_LEVEL.test(e)).sort();
  } catch {
    return null;
  }
  const found: (RaplDomainReading & { mmio: boolean })[] = [];
  for (const domain of entries) {
    const dir = path.join(root, domain);
    const name = (await read(path.join(dir, 'name')).catch(() => '')).trim();
    if (!name.startsWith('package')) continue;
    const energyUj = parseCounter(await read(path.join(dir, 'energy_uj')).catch(() => ''));
    if (energyUj === undefined) continue;
    const maxEnergyRangeUj = parseCounter(await read(path.join(dir, 'max_energy_range_uj')).catch(() => '')) ?? 0;
    found.push({ domain, name, energyUj, maxEnergyRangeUj, mmio: TOP_LEVEL.exec(domain)?.[1] !== undefined });
  }
  const msrNames = new Set(found.filter((d) => !d.mmio).map((d) => d.name));
  const domains = found.filter((d) => !d.mmio || !msrNames.has(d.name)).map(({ mmio: _mmio, ...d }) => d);
  if (domains.length === 0) return null;
  return { totalUj: domains.reduce((n, d) => n + d.energyUj, 0), domains };
}

function parseCounter(text: string): number | undefined {
  const t = text.trim();
  if (!/^\d+$/.test(t)) return undefined;
  const n = Number(t);
  return Number.isSafeInteger(n) ? n : undefined;
}

/**
 * Microjoules between two readings of one counter. When the end is below the start the counter wrapped once:
 * (max - start) + end. Several wraps within one span cannot be seen; at 50 W a typical 262 kJ range wraps every
 * ~1.5 h, far longer than one request.
 */
export function counterDeltaUj(startUj: number, endUj: number, maxEnergyRangeUj: number): number {
  if (endUj >= startUj) return endUj - startUj;
  return maxEnergyRangeUj > 0 ? maxEnergyRangeUj - startUj + endUj : 0;
}

export interface RaplMeasurement {
  readonly joules: number;
  readonly measured: true;
  readonly method: 'rapl';
  /** Per package domain, J. */
  readonly domains: readonly { readonly domain: string; readonly name: string; readonly joules: number }[];
}

/**
 * Measures package energy over a span: start() before the request, stop() after. It measures the whole package,
 * including anything else running at the time; the ledger attributes it all to the request (an upper bound).
 */
export class RaplMeter {
  private startReading: RaplReading | null = null;

  constructor(private readonly deps: RaplDeps = {}) {}

  /** Whether RAPL is readable on this machine. */
  async available(): Promise<boolean> {
    return (await readRaplMicrojoules(this.deps)) !== null;
  }

  /** Takes the start reading; false when RAPL is not readable (stop() will then return null). */
  async start(): Promise<boolean> {
    this.startReading = await readRaplMicrojoules(this.deps);
    return this.startReading !== null;
  }

  /** Energy since start(); null when either reading failed or the domains changed in between. */
  async stop(): Promise<RaplMeasurement | null> {
    const begin = this.startReading;
    this.startReading = null;
    if (begin === null) return null;
    const end = await readRaplMicrojoules(this.deps);
    if (end === null) return null;
    const domains: { domain: string; name: string; joules: number }[] = [];
    for (const d of begin.domains) {
      const after = end.domains.find((e) => e.domain === d.domain);
      if (after === undefined) return null;
      const range = after.maxEnergyRangeUj || d.maxEnergyRangeUj;
      domains.push({ domain: d.domain, name: d.name, joules: counterDeltaUj(d.energyUj, after.energyUj, range) / 1e6 });
    }
    return { joules: domains.reduce((n, d) => n + d.joules, 0), measured: true, method: 'rapl', domains };
  }
}
