// Memory over a long editing session (`npm run bench -- memory`). Writes bench/results/memory.json.
// 10,000 completions through the real inline-completion pipeline (CompletionPipeline: cache, typing-through, output
// rules, usage records, the extra-context ring) with the real engine in this process (LlamaEngine, node-llama-cpp,
// the FIM variant of the test model, 1 thread, cpu), on scripted edits of five realistic TypeScript files: typing
// (partly the suggestion's own first character, i.e. typing-through), backspaces, new lines, cut lines (files keep
// their size), jumps among a file's last lines and switches between files (five files, four KV sequences: the sequence pool reassigns too). The edits stay
// near the end of each file on purpose: in the PSM layout every keystroke re-evaluates the suffix, and a long suffix
// would make this a decode benchmark of 10,000 long prompts (minutes per thousand) instead of a memory one.
// After a warm-up of 500 completions, heap used (after a forced GC) and RSS are sampled every 500 completions. The
// slope (least squares, bytes per 1,000 completions) times 10 is the growth over the run; below the noise threshold
// the verdict is "no growth beyond noise". Above it, the second half's slope tells a rise that stopped (buffers and
// the allocator reaching their high-water marks: "rose early, then flat") from one that goes on ("GROWTH").
//   node --expose-gc out/bench/memory.js [--n 10000] [--warmup 500] [--every 500] [--model PATH] [--max-tokens 16]
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { ExtraContextRing } from '../src/core/completion/extraContext';
import { cutWindows, type CompletionInput } from '../src/core/completion/input';
import { CompletionPipeline, DEFAULT_COMPLETION_SETTINGS, type CompletionSettings } from '../src/core/completion/pipeline';
import type { LocalUsageRecord } from '../src/core/usage';
import { LlamaEngine } from '../src/engine/llama/engine';
import { testModels } from '../test/support/models';
import { leastSquares, machine, MiB, rng, round, spread, writeResult } from './util';

const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '10000' },
    warmup: { type: 'string', default: '500' },
    every: { type: 'string', default: '500' },
    model: { type: 'string' },
    'max-tokens': { type: 'string', default: '16' },
  },
});
const N = Number(values.n);
const WARMUP = Number(values.warmup);
const EVERY = Number(values.every);
const MAX_TOKENS = Number(values['max-tokens']);
const CONTEXT = 4096;
/** Blocks of 12 lines per file: ~40 lines, ~1,500 characters, ~650 tokens of prefix at the end of the file. */
const BLOCKS = 3;
/**
 * Growth over the run that counts as noise: the larger of 5 % of the baseline and a floor (heap 2 MiB, RSS 8 MiB).
 * Why: after a forced GC, heap used still moves by a few hundred KB between samples (V8 keeps code, inline caches
 * and feedback vectors it compiled meanwhile), and RSS moves by MiBs (glibc malloc arenas and node-llama-cpp's
 * native buffers are not returned to the OS at once, the V8 heap grows in 256 KiB pages). A real leak of anything
 * tied to a completion is far above this: keeping one prompt window (~8 KB) or one usage record per completion
 * would add ~80 MB or ~5 MB over 10,000 completions. So the test detects leaks of >= ~200 B (heap) per completion.
 */
const THRESHOLD = { heap: { share: 0.05, floorBytes: 2 * MiB }, rss: { share: 0.05, floorBytes: 8 * MiB } };

const gc = (globalThis as { gc?: () => void }).gc;
const never = new AbortController().signal;
const noWait = async () => {};

/** A TypeScript module of about `blocks` * 12 lines, different per seed. */
function sourceFile(seed: number, blocks: number): string[] {
  const r = rng(seed);
  const nouns = ['order', 'invoice', 'basket', 'parcel', 'ticket', 'story', 'garden', 'ball'];
  const names = ['Lily', 'Tom', 'Sue', 'Ben', 'Max', 'Mia'];
  const lines = [
    `// ${nouns[seed % nouns.length]}s: totals, discounts and notes (module ${seed}).`,
    "import { readFile } from 'node:fs/promises';",
    '',
  ];
  for (let b = 0; b < blocks; b++) {
    const noun = nouns[Math.floor(r() * nouns.length)];
    const Noun = noun[0].toUpperCase() + noun.slice(1);
    const who = names[Math.floor(r() * names.length)];
    lines.push(
      `/** Once upon a time, ${who} counted every ${noun} twice before saying how much it cost. */`,
      `export interface ${Noun}${b} {`,
      '  id: string;',
      `  items: { price: number; quantity: number; label: string }[];`,
      '}',
      '',
      `export function total${Noun}${b}(${noun}: ${Noun}${b}, discount = ${(r() * 0.3).toFixed(2)}): number {`,
      '  let sum = 0;',
      `  for (const item of ${noun}.items) sum += item.price * item.quantity;`,
      `  return Math.round(sum * (1 - discount) * 100) / 100;`,
      '}',
      '',
    );
  }
  return lines;
}

/** What the scripted user types, character by character, when not taking the suggestion's next character. */
const TYPED = [
  'const total = items.reduce((sum, item) => sum + item.price, 0);',
  'if (order.items.length === 0) return 0;',
  "console.log('She saw a big, red ball in the park.');",
  'for (const item of basket.items) count += item.quantity;',
  'return { id, label: name.trim(), price: Number(price) };',
].join(' ');

interface Doc {
  readonly key: string;
  readonly path: string;
  readonly lines: string[];
  line: number;
  col: number;
}

async function main(): Promise<void> {
  const model = values.model ?? (await testModels()).fim;
  const engine = await LlamaEngine.load({ modelPath: model, gpu: 'cpu', threads: 1, contextSize: CONTEXT, sequences: 4 });
  try {
    const ring = new ExtraContextRing();
    let records = 0;
    let recordTokens = 0;
    let lastUsage: LocalUsageRecord | undefined;
    const settings: CompletionSettings = { ...DEFAULT_COMPLETION_SETTINGS, maxTokens: MAX_TOKENS };
    const pipeline = new CompletionPipeline({
      engine,
      settings: () => settings,
      sleep: noWait,
      extraContext: (input) => ring.snapshot(input.filePath),
      repoName: () => 'bench',
      record: (u: LocalUsageRecord) => {
        records++;
        recordTokens += u.generatedTokens;
        lastUsage = u;
      },
      onBusy: () => {},
      log: () => {},
    });

    const INITIAL_LINES = sourceFile(1, BLOCKS).length;
    const docs: Doc[] = Array.from({ length: 5 }, (_, i) => {
      const lines = sourceFile(i + 1, BLOCKS);
      const line = lines.length - 1;
      return { key: `file:///work/src/module${i}.ts`, path: `src/module${i}.ts`, lines, line, col: lines[line].length };
    });
    const r = rng(20261127);
    let doc = docs[0];
    let typedAt = 0;
    let lastText: string | undefined;
    const actions = { typeSuggested: 0, type: 0, backspace: 0, newline: 0, deleteLine: 0, jump: 0, switchFile: 0 };

    const insert = (d: Doc, ch: string) => {
      const l = d.lines[d.line];
      d.lines[d.line] = l.slice(0, d.col) + ch + l.slice(d.col);
      d.col += ch.length;
    };
    const newline = (d: Doc) => {
      const l = d.lines[d.line];
      const indent = /^\s*/.exec(l)![0];
      d.lines.splice(d.line + 1, 0, indent + l.slice(d.col));
      d.lines[d.line] = l.slice(0, d.col);
      d.line++;
      d.col = indent.length;
      actions.newline++;
    };
    /** One scripted edit of the current state. */
    const edit = () => {
      const x = r();
      const l = doc.lines[doc.line];
      if (l.length > 80) return newline(doc);
      // Cut a line above the cursor once a file has grown by 8 lines, so files (and prompts) keep their size.
      if (doc.lines.length > INITIAL_LINES + 8 && doc.line > 0) {
        doc.lines.splice(doc.line - 1, 1);
        doc.line--;
        actions.deleteLine++;
        return;
      }
      if (lastText && x < 0.35) {
        insert(doc, lastText[0] === '\n' ? ' ' : lastText[0]);
        actions.typeSuggested++;
      } else if (x < 0.78) {
        insert(doc, TYPED[typedAt++ % TYPED.length]);
        actions.type++;
      } else if (x < 0.86) {
        if (doc.col > 0) {
          doc.lines[doc.line] = l.slice(0, doc.col - 1) + l.slice(doc.col);
          doc.col--;
        }
        actions.backspace++;
      } else if (x < 0.91) {
        newline(doc);
      } else if (x < 0.98) {
        doc.line = Math.max(0, doc.lines.length - 1 - (r() < 0.5 ? 0 : Math.floor(r() * 8)));
        doc.col = r() < 0.7 ? doc.lines[doc.line].length : Math.floor(r() * (doc.lines[doc.line].length + 1));
        actions.jump++;
      } else {
        ring.addAround(doc.path, doc.lines, doc.line);
        doc = docs[(docs.indexOf(doc) + 1 + Math.floor(r() * (docs.length - 1))) % docs.length];
        actions.switchFile++;
      }
    };
    const input = (d: Doc): CompletionInput => ({
      documentKey: d.key,
      languageId: 'typescript',
      filePath: d.path,
      manual: false,
      ...cutWindows(d.lines, d.line, d.col, '\n'),
    });

    const latencies: number[] = [];
    /** Completions after which RSS rose by 1 MiB or more at once: what was going on there. */
    const rssSteps: {
      completion: number;
      stepMiB: number;
      rssMiB: number;
      action: string;
      promptTokens: number | null;
      evaluatedTokens: number | null;
    }[] = [];
    let count = -WARMUP;
    let rssPrev = process.memoryUsage.rss();
    const complete = async () => {
      const before = { ...actions };
      edit();
      const action = (Object.keys(actions) as (keyof typeof actions)[]).find((k) => actions[k] !== before[k]) ?? '?';
      lastUsage = undefined;
      const t0 = performance.now();
      const s = await pipeline.complete(input(doc), never);
      latencies.push(performance.now() - t0);
      lastText = s?.text;
      count++;
      const rss = process.memoryUsage.rss();
      if (rss - rssPrev >= MiB && count > 0) {
        const u = lastUsage as LocalUsageRecord | undefined;
        rssSteps.push({
          completion: count,
          stepMiB: round((rss - rssPrev) / MiB, 1),
          rssMiB: round(rss / MiB, 1),
          action,
          promptTokens: u?.promptTokens ?? null,
          evaluatedTokens: u?.evaluatedTokens ?? null,
        });
      }
      rssPrev = rss;
    };

    const samples: { completions: number; heapUsed: number; rss: number; external: number; arrayBuffers: number }[] = [];
    const sample = (completions: number) => {
      if (gc) {
        gc();
        gc();
      }
      const m = process.memoryUsage();
      samples.push({ completions, heapUsed: m.heapUsed, rss: m.rss, external: m.external, arrayBuffers: m.arrayBuffers });
      console.log(`  ${String(completions).padStart(5)} completions: heap ${(m.heapUsed / MiB).toFixed(2)} MiB, rss ${(m.rss / MiB).toFixed(1)} MiB`);
    };

    const loadBefore = os.loadavg();
    const t0 = performance.now();
    // High-water marks first: llama.cpp allocates its compute buffers at load for the largest batch, and the OS maps
    // their pages on first use, so RSS steps up the first time a long prompt is evaluated (tens of MiB: without flash
    // attention the KQ scores of a 512-token batch over a ~4,000-token cache). One prompt that fills the context,
    // in each sequence, reaches that mark before anything is sampled; a leak would still grow after it.
    const fill = sourceFile(99, 40).join('\n');
    const rssBeforeFill = process.memoryUsage().rss;
    for (let q = 0; q < 4; q++) await engine.generate({ kind: 'fim', prefix: fill, suffix: '\n', maxTokens: 0, sessionKey: `\0fill-${q}` });
    const rssAfterFill = process.memoryUsage().rss;
    for (let i = 0; i < WARMUP; i++) await complete();
    const warmupStats = { ...pipeline.stats };
    const warmupRecords = { records, recordTokens };
    latencies.length = 0;
    const t1 = performance.now();
    sample(0);
    for (let i = 1; i <= N; i++) {
      await complete();
      if (i % EVERY === 0) sample(i);
    }
    const runMs = performance.now() - t1;

    const xs = samples.map((s) => s.completions / 1000);
    const trend = (key: 'heapUsed' | 'rss', limit: { share: number; floorBytes: number }) => {
      const ys = samples.map((s) => s[key]);
      const fit = leastSquares(xs, ys);
      const baseline = ys[0];
      const thresholdBytes = Math.max(limit.share * baseline, limit.floorBytes);
      const growth = fit.slope * (N / 1000);
      // The second half alone: a leak keeps its slope there; a high-water mark reached early does not.
      const half = Math.floor(samples.length / 2);
      const late = leastSquares(xs.slice(half), ys.slice(half));
      return {
        firstMiB: round(ys[0] / MiB),
        lastMiB: round(ys[ys.length - 1] / MiB),
        maxMiB: round(Math.max(...ys) / MiB),
        slopeBytesPer1000: Math.round(fit.slope),
        growthOverRunMiB: round(growth / MiB),
        secondHalfSlopeBytesPer1000: Math.round(late.slope),
        residualSdMiB: round(fit.residualSd / MiB),
        noiseThresholdMiB: round(thresholdBytes / MiB),
        thresholdRule: `max(${limit.share * 100} % of the first sample, ${limit.floorBytes / MiB} MiB)`,
        secondHalfGrowthMiB: round((late.slope * (N / 1000)) / MiB),
        // A rise that stops (allocator and buffer high-water marks) is told apart from one that goes on (a leak).
        verdict:
          growth < thresholdBytes
            ? 'no growth beyond noise'
            : late.slope * (N / 1000) < thresholdBytes
              ? 'rose early, then flat: no growth beyond noise in the second half'
              : 'GROWTH beyond noise',
      };
    };
    const s = pipeline.stats;
    const result = {
      date: new Date().toISOString(),
      machine: machine(),
      model: path.basename(model),
      engine: { inProcess: true, backend: (await engine.info()).backend, threads: 1, contextSize: CONTEXT, sequences: 4, maxTokens: MAX_TOKENS },
      completions: N,
      warmup: WARMUP,
      sampleEvery: EVERY,
      gcForcedBeforeSample: gc !== undefined,
      loadAverage: { before: loadBefore.map((x) => round(x, 2)), after: os.loadavg().map((x) => round(x, 2)) },
      contextFill: { sequences: 4, rssBeforeMiB: round(rssBeforeFill / MiB, 1), rssAfterMiB: round(rssAfterFill / MiB, 1) },
      runSeconds: round((performance.now() - t0) / 1000, 1),
      measuredSeconds: round(runMs / 1000, 1),
      completionMs: spread(latencies),
      pipeline: {
        engineCalls: s.engineCalls - warmupStats.engineCalls,
        typingThrough: s.typingThrough - warmupStats.typingThrough,
        cacheHits: s.cacheHits - warmupStats.cacheHits,
        empty: s.empty - warmupStats.empty,
        shown: s.shown - warmupStats.shown,
        usageRecords: records - warmupRecords.records,
        generatedTokens: recordTokens - warmupRecords.recordTokens,
      },
      edits: actions,
      heapUsed: trend('heapUsed', THRESHOLD.heap),
      rss: trend('rss', THRESHOLD.rss),
      rssSteps,
      samples: samples.map((x) => ({
        completions: x.completions,
        heapUsedMiB: round(x.heapUsed / MiB),
        rssMiB: round(x.rss / MiB, 1),
        externalMiB: round(x.external / MiB),
        arrayBuffersMiB: round(x.arrayBuffers / MiB),
      })),
      note: "one process: the pipeline and the engine (LlamaEngine in-process, as the CLI runs it), so RSS includes llama.cpp's native memory; heap used is the V8 heap after a forced GC",
    };
    writeResult('memory', result);
  } finally {
    await engine.dispose();
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.stack : e);
  process.exit(1);
});
