// Which attention kernel and batch size the engine should use on the CPU, per model shape (#20): prompt evaluation
// (tokens/s over a ~1,000-token prompt) and decoding (ms per token after it), flash attention on and off, batch 128
// and 512 (node-llama-cpp's default), one thread, on the test model (8-wide heads) and the realistic Qwen2.5-Coder
// shapes (64- and 128-wide heads, bench/shapes.ts). Writes bench/results/kernels.json; the engine's choice
// (cpuBatchSize in src/engine/llama/engine.ts) follows it. The variants alternate, runs times each, so load on
// a shared machine falls on all of them alike; medians.
//   node out/bench/kernels.js [--runs 2] [--prompt 1000] [--shapes qwen2.5-coder-0.5b-q8_0,qwen2.5-coder-1.5b-q8_0]
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { importLlama, type LlamaModel } from '../src/engine/llama/binding';
import { readGguf } from '../src/engine/gguf';
import { testModels } from '../test/support/models';
import { realisticModel, shapeName } from './shapes';
import { machine, spread, writeResult } from './util';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '2' },
    prompt: { type: 'string', default: '1000' },
    shapes: { type: 'string', default: 'qwen2.5-coder-0.5b-q8_0,qwen2.5-coder-1.5b-q8_0' },
  },
});
const RUNS = Number(values.runs);
const PROMPT = Number(values.prompt);
const DECODE = 32;
const VARIANTS = [
  { flashAttention: false, batchSize: 512 },
  { flashAttention: true, batchSize: 512 },
  { flashAttention: false, batchSize: 128 },
  { flashAttention: true, batchSize: 128 },
];
const LINE = 'export async function load(url: string, retries = 3): Promise<Response> { return fetch(url); }\n';

async function measure(model: LlamaModel, variant: (typeof VARIANTS)[number]) {
  const context = await model.createContext({ contextSize: PROMPT + DECODE + 64, sequences: 1, threads: 1, ...variant });
  try {
    const prompt = model.tokenize(LINE.repeat(Math.ceil(PROMPT / 4))).slice(0, PROMPT);
    const sequence = context.getSequence();
    let t = performance.now();
    await sequence.evaluateWithoutGeneratingNewTokens(prompt);
    const promptMs = performance.now() - t;
    t = performance.now();
    let n = 0;
    for await (const _ of sequence.evaluateWithMetadata([prompt.at(-1)!], {}, { temperature: 0 })) if (++n >= DECODE) break;
    return { promptTokPerS: (prompt.length * 1000) / promptMs, decodeMsPerToken: (performance.now() - t) / n };
  } finally {
    await context.dispose();
  }
}

async function main(): Promise<void> {
  const mod = await importLlama();
  const llama = await mod.getLlama({ gpu: false, build: 'never', logLevel: mod.LlamaLogLevel.error, progressLogs: false });
  const files = [(await testModels()).base, ...(values.shapes ? values.shapes.split(',') : []).map((s) => shapeName(s))];
  const models = [];
  for (const entry of files) {
    const file = entry.endsWith('.gguf') ? entry : await realisticModel(shapeName(entry));
    const info = await readGguf(file);
    const model = await llama.loadModel({ modelPath: file, gpuLayers: 0 });
    try {
      const samples = VARIANTS.map(() => ({ prompt: [] as number[], decode: [] as number[] }));
      for (let run = 0; run < RUNS; run++)
        for (const [i, v] of VARIANTS.entries()) {
          const m = await measure(model, v);
          samples[i]!.prompt.push(m.promptTokPerS);
          samples[i]!.decode.push(m.decodeMsPerToken);
        }
      const variants = VARIANTS.map((v, i) => ({
        ...v,
        promptTokPerS: spread(samples[i]!.prompt, 1).median,
        decodeMsPerToken: spread(samples[i]!.decode, 1).median,
      }));
      models.push({ model: entry.endsWith('.gguf') ? path.basename(entry) : entry, headWidth: info.keyLength, variants });
      console.log(JSON.stringify(models.at(-1)));
    } finally {
      await model.dispose();
    }
  }
  await llama.dispose();
  writeResult('kernels', {
    date: new Date().toISOString(),
    machine: machine(),
    threads: 1,
    promptTokens: PROMPT,
    decodeTokens: DECODE,
    runs: RUNS,
    models,
  });
}

main().catch((e) => {
  console.error(e instanceof Error ? e.stack : e);
  process.exit(1);
});
