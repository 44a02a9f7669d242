// What the machine offers for local inference, without loading any native module (safe and fast anywhere).
import { existsSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface PackageInfo {
  readonly installed: boolean;
  readonly version?: string;
  readonly dir?: string;
}

export interface MachineInfo {
  readonly platform: string;
  readonly arch: string;
  readonly node: string;
  readonly cpu: string;
  readonly logicalCores: number;
  readonly memoryGiB: number;
  readonly freeMemoryGiB: number;
  readonly packages: Readonly<Record<string, PackageInfo>>;
}

export const INFERENCE_PACKAGES = ['node-llama-cpp', 'onnxruntime-node'] as const;

/** Finds an installed package by walking node_modules folders up from `fromDir` (exports maps hide package.json). */
export function findPackage(name: string, fromDir: string): PackageInfo {
  for (let dir = fromDir; ; dir = path.dirname(dir)) {
    const manifest = path.join(dir, 'node_modules', name, 'package.json');
    if (existsSync(manifest)) {
      try {
        const { version } = JSON.parse(readFileSync(manifest, 'utf8')) as { version?: string };
        return { installed: true, version, dir: path.dirname(manifest) };
      } catch {
        return { installed: false, dir: path.dirname(manifest) };
      }
    }
    if (path.dirname(dir) === dir) return { installed: false };
  }
}

export function machineInfo(fromDir: string): MachineInfo {
  const cpus = os.cpus();
  const gib = (b: number) => Math.round((b / 2 ** 30) * 10) / 10;
  return {
    platform: process.platform,
    arch: process.arch,
    node: process.versions.node,
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    logicalCores: os.availableParallelism?.() ?? cpus.length,
    memoryGiB: gib(os.totalmem()),
    freeMemoryGiB: gib(os.freemem()),
    packages: Object.fromEntries(INFERENCE_PACKAGES.map((n) => [n, findPackage(n, fromDir)])),
  };
}
