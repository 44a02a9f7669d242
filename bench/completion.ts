// Inline-completion pipeline benchmark. Writes bench/results/completion.json:
// - pipeline overhead per request, engine compute excluded (an engine that answers instantly; plus the real
//   engine's wall time minus its own measured time), target p50 <= 2 ms, p99 <= 10 ms;
// - cache-hit latency (target < 1 ms);
// - prompt tokens evaluated after a one-character edit at the end of a ~1,500-token prefix (target <= 8);
// - engine calls saved by typing-through over a scripted typing session.
//   node out/bench/completion.js [--model PATH] [--threads N]
import { mkdirSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import { parseArgs } from 'node:util';
import { cutWindows, type CompletionInput } from '../src/core/completion/input';
import { CompletionPipeline, type CompletionEngine } from '../src/core/completion/pipeline';
import { LlamaEngine } from '../src/engine/llama/engine';
import type { FimRequest, GenerateResult } from '../src/engine/types';
import { testModels } from '../test/support/models';

const { values } = parseArgs({ options: { model: { type: 'string' }, threads: { type: 'string', default: '1' } } });
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const r3 = (n: number) => Math.round(n * 1000) / 1000;
const noWait = async () => {};
const never = new AbortController().signal;

const STORY =
  'Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball. She wanted to play with it, but it was too high.';

/** A realistic editor state: a 2,000-line file, cursor in the middle, windows cut as the VS Code adapter does. */
function sourceFile(): string[] {
  return Array.from({ length: 2000 }, (_, i) => `  const value${i} = compute(${i}, "${'x'.repeat(i % 40)}"); // line ${i}`);
}

function inputAt(lines: string[], line: number, documentKey = 'file:///bench.ts'): CompletionInput {
  const w = cutWindows(lines, line, lines[line].length, '\n');
  return { documentKey, languageId: 'typescript', filePath: 'bench.ts', manual: false, ...w };
}

async function pipelineOverhead() {
  const canned: GenerateResult = {
    text: ' + offset;\n  return total;',
    stopReason: 'eos',
    usedFim: true,
    backend: 'instant',
    model: 'none',
    contextTokens: 4096,
    timing: { promptTokens: 1500, evaluatedTokens: 4, generatedTokens: 8, ttftMs: 0, totalMs: 0, tokensPerSecond: 0 },
    confidence: { meanLogProb: -0.1, meanEntropy: null },
  };
  const instant: CompletionEngine = { generate: async () => canned };
  const p = new CompletionPipeline({ engine: instant, sleep: noWait });
  const lines = sourceFile();
  const miss: number[] = [];
  const hit: number[] = [];
  for (let i = 0; i < 2000; i++) {
    const line = 100 + (i % 1800);
    lines[line] += 'a'; // a keystroke: a new state every time (no cache hit)
    const t0 = performance.now();
    await p.complete(inputAt(lines, line), never);
    miss.push(performance.now() - t0);
    const t1 = performance.now();
    const again = await p.complete(inputAt(lines, line), never);
    hit.push(performance.now() - t1);
    if (again?.source !== 'cache') throw new Error('expected a cache hit');
  }
  return { miss: miss.slice(100), hit: hit.slice(100) };
}

async function main(): Promise<void> {
  const { miss, hit } = await pipelineOverhead();
  const model = values.model ?? (await testModels()).fim;
  const engine = await LlamaEngine.load({ modelPath: model, gpu: 'cpu', threads: Number(values.threads), contextSize: 2048, sequences: 4 });
  try {
    // Real engine: pipeline wall time minus the engine's own time (IPC excluded: in-process engine).
    const realOverhead: number[] = [];
    const timed: CompletionEngine = {
      generate: async (req: FimRequest, opts) => {
        const r = await engine.generate(req, opts);
        lastEngineMs = r.timing.totalMs;
        return r;
      },
    };
    let lastEngineMs = 0;
    const rp = new CompletionPipeline({ engine: timed, sleep: noWait });
    const lines = sourceFile();
    for (let i = 0; i < 60; i++) {
      const line = 300 + i * 7;
      lines[line] += ' +';
      const t0 = performance.now();
      await rp.complete(inputAt(lines, line, `file:///real-${i % 4}.ts`), never);
      realOverhead.push(performance.now() - t0 - lastEngineMs);
    }

    // One-character edit at the end of a ~1,500-token prefix.
    let prefix = '';
    while (prefix.length < 4400) prefix += STORY + ' ';
    const suffix = '\n';
    const key = 'file:///long.txt';
    const first = await engine.generate({ kind: 'fim', prefix, suffix, maxTokens: 8, sessionKey: key });
    const edited = await engine.generate({ kind: 'fim', prefix: prefix + 'T', suffix, maxTokens: 8, sessionKey: key });

    // Scripted typing: a user types STORY character by character; each keystroke asks the pipeline.
    const typing = new CompletionPipeline({ engine, sleep: noWait });
    let keystrokes = 0;
    for (let n = 20; n <= STORY.length; n++) {
      keystrokes++;
      await typing.complete(
        {
          documentKey: 'file:///typing.txt',
          languageId: 'plaintext',
          filePath: 'typing.txt',
          prefix: STORY.slice(0, n),
          suffix: '',
          linePrefix: STORY.slice(0, n),
          lineSuffix: '',
          manual: false,
        },
        never,
      );
    }
    const s = typing.stats;

    const result = {
      date: new Date().toISOString(),
      machine: {
        cpu: os.cpus()[0]?.model,
        logicalCores: os.availableParallelism(),
        platform: `${process.platform}-${process.arch}`,
        node: process.versions.node,
      },
      model: model.split(/[\\/]/).pop(),
      pipelineOverheadMs: {
        instantEngine: { p50: r3(pct(miss, 50)), p99: r3(pct(miss, 99)), requests: miss.length, targets: { p50: 2, p99: 10 } },
        realEngineWallMinusEngine: { p50: r3(pct(realOverhead, 50)), p99: r3(pct(realOverhead, 99)), requests: realOverhead.length },
        note: 'prefix/suffix windows cut from a 2,000-line file, cache lookup with walk-back, request building, output rules, cache insert',
      },
      cacheHitMs: { p50: r3(pct(hit, 50)), p99: r3(pct(hit, 99)), target: 1 },
      oneCharEditAtEndOfPrefix: {
        promptTokens: edited.timing.promptTokens,
        firstRequestEvaluated: first.timing.evaluatedTokens,
        evaluatedAfterEdit: edited.timing.evaluatedTokens,
        target: 8,
        note: 'PSM layout: the edit, the suffix and the FIM tokens after it are re-evaluated; suffix here is one newline',
      },
      typingSession: {
        keystrokes,
        engineCalls: s.engineCalls,
        servedByTypingThrough: s.typingThrough,
        servedByCache: s.cacheHits,
        callsSavedRatio: r3(1 - s.engineCalls / keystrokes),
      },
    };
    mkdirSync('bench/results', { recursive: true });
    writeFileSync('bench/results/completion.json', JSON.stringify(result, null, 2) + '\n');
    console.log(JSON.stringify(result, null, 2));
  } finally {
    await engine.dispose();
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.stack : e);
  process.exit(1);
});
