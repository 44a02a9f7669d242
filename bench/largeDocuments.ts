// Large-document benchmark: what a 10 MB file costs per keystroke. Writes bench/results/large-documents.json:
// - building the completion request from the document (cutting the windows, the pipeline up to the engine call),
//   target under 200 ms;
// - the whole keystroke with the real engine and the FIM test model, target under 2 s;
// - the extra-context ring taking a visit to a 10 MB file and a 10 MB clipboard, target under 1 s.
// - typing through documents 1/4, 1, 4 and 20 times the context window (in tokens), the cursor 16 lines from the
//   end so every size has the same suffix: tokens evaluated per keystroke and the keystroke's latency p50/p90 (every
//   keystroke reaches the engine: the suggestion cache is cleared; 16 tokens at most per suggestion), against the target that a large document's p90
//   is at most 1.5x the small one's. A prefix longer than the window is cut at a point that must not move on every
//   keystroke, or the whole window is evaluated again each time.
// These were timed assertions in test/integration/hardening-completion.test.ts; the test keeps the sizes bounded,
// this measures the speed (a test must not fail because the machine is busy).
//   node out/bench/largeDocuments.js [--runs 5] [--threads 1] [--context 2048] [--keystrokes 92]
//     [--model PATH | --shape NAME]   (NAME: a realistic-shape model from bench/shapes.ts, default
//     qwen2.5-coder-0.5b-q8_0; `toy`: the test model, quick)
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { ExtraContextRing } from '../src/core/completion/extraContext';
import { CompletionPipeline, DEFAULT_COMPLETION_SETTINGS, type CompletionEngine, type CompletionSettings } from '../src/core/completion/pipeline';
import { LlamaEngine } from '../src/engine/llama/engine';
import type { FimRequest, GenerateOptions } from '../src/engine/types';
import { BIG_DOCUMENTS, manyLines, MB10, minified, toInput } from '../test/support/bigDocuments';
import { testModels } from '../test/support/models';
import { benchModel } from './shapes';
import { machine, spread, writeResult } from './util';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    threads: { type: 'string', default: '1' },
    context: { type: 'string', default: '2048' },
    model: { type: 'string' },
    shape: { type: 'string' },
    keystrokes: { type: 'string' },
  },
});
const runs = Number(values.runs);
const TARGETS = { buildMs: 200, keystrokeMs: 2000, extraContextMs: 1000, largeOverSmallP90: 1.5 };
/** Document sizes as multiples of the context window; the first is the small document the others are held to. */
const MULTIPLES = [0.25, 1, 4, 20];
/** Typed at the cursor, one character per keystroke: two lines of code, so the lines above grow too. */
const TYPED = '    const total = items.reduce((sum, item) => sum + item.price, 0);\n    if (total > limit) {';

async function main(): Promise<void> {
  // The 10 MB rows measure Verdant's own handling of huge documents (bounded windows, request building), so they run
  // the test model; typing through the window multiples measures what a real model costs per keystroke.
  const model = (await testModels()).fim;
  const typingModel = (await benchModel(values, async () => model)).path;
  const threads = Number(values.threads);
  const engine = await LlamaEngine.load({ modelPath: model, gpu: 'cpu', threads, contextSize: 512, sequences: 2 });
  try {
    const shapes = [];
    for (const [shape, make, cursor] of BIG_DOCUMENTS) {
      const doc = make();
      const { line, character } = cursor(doc);
      const build: number[] = [];
      const keystroke: number[] = [];
      for (let i = 0; i < runs; i++) {
        let calledAt = 0;
        const timed: CompletionEngine = {
          generate: (request: FimRequest, options: GenerateOptions) => {
            calledAt = performance.now();
            return engine.generate(request, options);
          },
        };
        const p = new CompletionPipeline({ engine: timed, sleep: async () => {} });
        const t0 = performance.now();
        // A new document key each run: no cache or typing-through answers it.
        await p.complete(toInput(doc, line, character, `file:///big-${shape.length}-${i}.js`), new AbortController().signal);
        keystroke.push(performance.now() - t0);
        build.push(calledAt - t0);
      }
      shapes.push({ shape, buildMs: spread(build, 1), keystrokeMs: spread(keystroke, 1) });
    }
    const extra: number[] = [];
    const many = manyLines();
    const mini = minified();
    const clipboard = `first\nsecond\n${'x'.repeat(MB10)}\nlast`;
    for (let i = 0; i < runs; i++) {
      const ring = new ExtraContextRing();
      const t0 = performance.now();
      ring.addAround('big.min.js', mini, 1);
      ring.add({ path: 'clipboard', text: clipboard });
      ring.addAround('big.js', many, 100_000);
      extra.push(performance.now() - t0);
    }
    const worst = (key: 'buildMs' | 'keystrokeMs') => Math.max(...shapes.map((s) => s[key].median));
    writeResult('large-documents', {
      date: new Date().toISOString(),
      machine: machine(),
      model: model.split(/[\\/]/).pop(),
      threads: Number(values.threads),
      runs,
      shapes,
      extraContextMs: spread(extra, 1),
      targets: TARGETS,
      met: {
        build: worst('buildMs') < TARGETS.buildMs,
        keystroke: worst('keystrokeMs') < TARGETS.keystrokeMs,
        extraContext: spread(extra, 1).median < TARGETS.extraContextMs,
      },
      typing: { model: path.basename(typingModel), ...(await typingThrough(typingModel, threads)) },
      note: 'medians over the runs; the document is generated once per shape, as an editor holds it in memory',
    });
  } finally {
    await engine.dispose();
  }
}

/** Numbered lines of code (no two alike, so no cut lines up with the cache by chance). */
function codeLine(i: number): string {
  return `  const item${i} = await store.load("key-${(i * 7919) % 10007}", { retries: ${i % 5}, timeout: ${100 + (i % 900)} });`;
}

/** Typing through documents of several window multiples: tokens evaluated and latency per keystroke. */
async function typingThrough(modelPath: string, threads: number) {
  const contextSize = Number(values.context);
  const engine = await LlamaEngine.load({ modelPath, gpu: 'cpu', threads, contextSize, sequences: 2 });
  try {
    // Tokens per line, from the model's own tokenizer (a prompt-only request reports the prompt's size).
    const probe = Array.from({ length: 20 }, (_, i) => codeLine(i)).join('\n');
    const perLine = (await engine.generate({ kind: 'completion', prompt: probe, maxTokens: 0 })).timing.promptTokens / 20;
    let evaluated = 0;
    const counting: CompletionEngine = {
      generate: async (request: FimRequest, options: GenerateOptions) => {
        const r = await engine.generate(request, options);
        evaluated += r.timing.evaluatedTokens ?? 0;
        return r;
      },
    };
    // 16 tokens at most, as the peer bench: the prompt's cost is what differs between sizes, and a random-weight
    // shape never stops on its own (it would time 96 tokens of nonsense per keystroke).
    const settings: CompletionSettings = { ...DEFAULT_COMPLETION_SETTINGS, maxTokens: 16 };
    const pipeline = new CompletionPipeline({ engine: counting, sleep: async () => {}, settings: () => settings });
    const never = new AbortController().signal;
    const typed = TYPED.slice(0, values.keystrokes ? Number(values.keystrokes) : undefined);
    const sizes = [];
    for (const multiple of MULTIPLES) {
      const total = Math.max(24, Math.round((multiple * contextSize) / perLine));
      const doc = Array.from({ length: total }, (_, i) => codeLine(i));
      let line = total - 16;
      doc.splice(line, 0, '');
      let character = 0;
      const key = `file:///typing-${multiple}.ts`;
      const keystroke = async () => {
        pipeline.cache.clear();
        evaluated = 0;
        const t0 = performance.now();
        await pipeline.complete(toInput(doc, line, character, key), never);
        return { ms: performance.now() - t0, evaluated };
      };
      const cold = await keystroke();
      const ms: number[] = [];
      const tokens: number[] = [];
      for (const ch of typed) {
        if (ch === '\n') {
          doc.splice(line + 1, 0, doc[line]!.slice(character));
          doc[line] = doc[line]!.slice(0, character);
          line++;
          character = 0;
        } else {
          doc[line] = doc[line]!.slice(0, character) + ch + doc[line]!.slice(character);
          character++;
        }
        const k = await keystroke();
        ms.push(k.ms);
        tokens.push(k.evaluated);
      }
      sizes.push({
        multiple,
        lines: total,
        approxTokens: Math.round(total * perLine),
        coldMs: Math.round(cold.ms),
        keystrokes: typed.length,
        evaluatedTokens: spread(tokens, 1),
        latencyMs: spread(ms, 1),
      });
      console.log(
        `${multiple}x window: evaluated p50 ${spread(tokens, 1).median} p90 ${spread(tokens, 1).p90}, latency p50 ${spread(ms, 1).median} p90 ${spread(ms, 1).p90} ms`,
      );
    }
    const small = sizes[0]!.latencyMs.p90;
    const worstRatio = Math.max(...sizes.slice(1).map((s) => s.latencyMs.p90 / small));
    return {
      contextSize,
      tokensPerLine: Math.round(perLine * 10) / 10,
      suffixLines: 16,
      sizes,
      largeOverSmallP90: Math.round(worstRatio * 100) / 100,
      met: worstRatio <= TARGETS.largeOverSmallP90,
    };
  } finally {
    await engine.dispose();
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.stack : e);
  process.exit(1);
});
