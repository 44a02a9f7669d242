// Local engine benchmark through the real path (EngineClient -> shared worker process -> node-llama-cpp):
// worker start, model load + warm-up, time to first token, decode speed, worker RSS, and prompt tokens evaluated
// when a request extends a cached prefix. Writes bench/results/engine.json.
//   node out/bench/engine.js [--model PATH] [--gpu cpu|vulkan|auto] [--threads N] [--runs N]
// Default model: the test model (stories260K) and its FIM variant; pass a real model (e.g. Qwen2.5-Coder) for
// numbers that mean something for completions.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import type { GpuChoice } from '../src/core/settings';
import { EngineClient } from '../src/engine/client';
import type { ModelConfig } from '../src/engine/llama/engine';
import { testModels } from '../test/support/models';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    gpu: { type: 'string', default: 'cpu' },
    threads: { type: 'string', default: '0' },
    runs: { type: 'string', default: '5' },
  },
});
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const round = (n: number) => Math.round(n * 10) / 10;

const PREFIX = 'Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day,';
const SUFFIX = '\nThe end.';

async function main(): Promise<void> {
  const model = values.model ?? (await testModels()).fim;
  const config: ModelConfig = { modelPath: model, gpu: values.gpu as GpuChoice, threads: Number(values.threads), contextSize: 2048, sequences: 4 };
  const runs = Number(values.runs);
  const stateDir = mkdtempSync(path.join(os.tmpdir(), 'verdant-bench-'));
  const client = new EngineClient({ stateDir, workerScript: path.resolve('dist/engine-worker.js'), clientName: 'bench', idleMs: 5000 });
  try {
    const t0 = performance.now();
    const first = await client.status();
    const workerStartMs = performance.now() - t0;
    const t1 = performance.now();
    const info = await client.load(config);
    const loadWallMs = performance.now() - t1;
    const loaded = (await client.status()).model!;

    const ttft: number[] = [];
    const tps: number[] = [];
    for (let i = 0; i < runs; i++) {
      // A new document each run: the whole prompt is evaluated (the cold path of a first keystroke).
      const r = await client.generate(config, {
        kind: 'fim',
        prefix: `Story ${i}. ${PREFIX}`,
        suffix: SUFFIX,
        maxTokens: 128,
        sessionKey: `cold-${i}`,
      });
      ttft.push(r.timing.ttftMs);
      if (r.timing.generatedTokens > 8) tps.push(r.timing.tokensPerSecond);
    }

    const key = 'file:///bench/typing.ts';
    const base = await client.generate(config, { kind: 'fim', prefix: PREFIX, suffix: SUFFIX, maxTokens: 16, sessionKey: key });
    const typed = await client.generate(config, { kind: 'fim', prefix: `${PREFIX} she`, suffix: SUFFIX, maxTokens: 16, sessionKey: key });
    const same = await client.generate(config, { kind: 'fim', prefix: `${PREFIX} she`, suffix: SUFFIX, maxTokens: 16, sessionKey: key });
    const status = await client.status();

    const result = {
      date: new Date().toISOString(),
      machine: {
        cpu: os.cpus()[0]?.model,
        logicalCores: os.availableParallelism(),
        memoryGiB: round(os.totalmem() / 2 ** 30),
        platform: `${process.platform}-${process.arch}`,
      },
      model: path.basename(model),
      backend: info.backend,
      devices: info.devices,
      threads: info.threads,
      usedFim: base.usedFim,
      workerStartMs: round(workerStartMs),
      workerPid: first.pid,
      loadMs: round(loaded.loadMs),
      warmupMs: round(loaded.warmupMs),
      loadWallMs: round(loadWallMs),
      ttftMs: { median: round(median(ttft)), runs: ttft.map(round) },
      tokensPerSecond: { median: round(median(tps)), runs: tps.map(round) },
      workerRssMiB: round(status.rssBytes / 2 ** 20),
      prefixReuse: {
        promptTokens: typed.timing.promptTokens,
        firstRequestEvaluated: base.timing.evaluatedTokens,
        afterTypingEvaluated: typed.timing.evaluatedTokens,
        identicalRequestEvaluated: same.timing.evaluatedTokens,
        afterTypingTtftMs: round(typed.timing.ttftMs),
      },
    };
    mkdirSync('bench/results', { recursive: true });
    writeFileSync(`bench/results/engine-${info.backend.replace(/\W+/g, '-').replace(/-+$/, '')}.json`, JSON.stringify(result, null, 2) + '\n');
    console.log(JSON.stringify(result, null, 2));
    await client.shutdownWorker();
  } finally {
    client.dispose();
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
