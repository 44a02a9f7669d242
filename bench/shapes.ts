// PLACEHOLDER (drop on merge): the real bench/shapes.ts, written on another branch (#20), caches GGUF files with a
// real model's architecture and vocabulary and random weights. This stub only lets bench/peers.ts compile its
// `--shape NAME` option until that file lands here.
export type ShapeName = 'qwen2.5-coder-0.5b-q8_0' | 'qwen2.5-coder-1.5b-q8_0';

export function realisticModel(name: ShapeName): Promise<string> {
  return Promise.reject(new Error(`--shape ${name}: bench/shapes.ts is not yet on this branch (a placeholder); use --model PATH`));
}
