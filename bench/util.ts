// Shared by the benchmarks in bench/: machine description, percentiles, least squares, a seeded random source, and
// writing a result to bench/results/. (Built to out/bench/util.js like every bench/*.ts; it runs nothing itself.)
import { mkdirSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export function machine() {
  return {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    logicalCores: os.availableParallelism(),
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    platform: `${process.platform}-${process.arch}`,
    node: process.versions.node,
  };
}

/** The p-th percentile (nearest rank, 0..100) of xs. */
export function pct(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

export const median = (xs: readonly number[]) => pct(xs, 50);

export const round = (n: number, digits = 3) => {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
};

/** Median, p90, p99, min, max of a sample of milliseconds, rounded. */
export function spread(xs: readonly number[], digits = 3) {
  return {
    n: xs.length,
    median: round(pct(xs, 50), digits),
    p90: round(pct(xs, 90), digits),
    p99: round(pct(xs, 99), digits),
    min: round(Math.min(...xs), digits),
    max: round(Math.max(...xs), digits),
  };
}

/** Least-squares line y = intercept + slope * x, and the residuals' standard deviation. */
export function leastSquares(xs: readonly number[], ys: readonly number[]): { slope: number; intercept: number; residualSd: number } {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += (xs[i] - mx) * (ys[i] - my);
    sxx += (xs[i] - mx) ** 2;
  }
  const slope = sxx === 0 ? 0 : sxy / sxx;
  const intercept = my - slope * mx;
  const ss = xs.reduce((a, x, i) => a + (ys[i] - (intercept + slope * x)) ** 2, 0);
  return { slope, intercept, residualSd: n > 2 ? Math.sqrt(ss / (n - 2)) : 0 };
}

/** mulberry32: a fixed seed, so every run measures the same inputs. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const MiB = 2 ** 20;

/** Writes bench/results/<name>.json (relative to the repository root, where `npm run bench` runs) and prints it. */
export function writeResult(name: string, result: object): void {
  const dir = path.resolve('bench', 'results');
  mkdirSync(dir, { recursive: true });
  const text = JSON.stringify(result, null, 2) + '\n';
  writeFileSync(path.join(dir, `${name}.json`), text);
  console.log(text);
}
