// Verdant's FIM path against llama.cpp's llama-server /infill as llama.vscode drives it (`npm run bench -- peers`).
// Writes bench/results/peers.json. Same model file, same prompts, same machine, one run each; both run side by side
// and the requests alternate between them (one at a time, never two at once), so background load on a shared machine
// falls on both alike:
// - Verdant: CompletionPipeline -> EngineClient -> the shared engine worker (dist/engine-worker.js, a separate
//   process, as in the extension) -> node-llama-cpp; no debounce; the pipeline's suggestion cache is cleared before
//   each request in the compared rows, so every request reaches the engine (as every request reaches llama-server).
// - llama-server: started here on 127.0.0.1 and a free port, POST /infill with llama.vscode's payload: input_prefix
//   (the lines above the cursor), prompt (the cursor line up to the cursor), input_suffix, input_extra [], n_predict,
//   cache_prompt true, id_slot 0, t_max_prompt_ms/t_max_predict_ms 500, top_k 40, top_p 0.99 -- but greedy
//   (temperature 0 with the temperature sampler in the chain) instead of llama.vscode's random top_k/top_p/infill
//   sampling, so both sides decode the same tokens; n_cmpl 1 (llama.vscode asks 3).
// Rows (#20: earlier ratios compared different kernels and batch sizes), each at every --threads count:
// - parity: the same CPU kernels, byte for byte (build the server with scripts/build-llama-server.mjs: node-llama-cpp's
//   llama.cpp source and its prebuilt's GGML_BACKEND_DL + all-CPU-variants layout; the row then runs it beside
//   node-llama-cpp's own prebuilt libggml-cpu-*.so, see serverWithVerdantKernels, so both load the same file),
//   the same physical batch (--parity-batch: Verdant's batchSize, which node-llama-cpp uses as n_batch = n_ubatch;
//   the server's -ub), flash attention off on both, context CONTEXT with one slot on the server. The server's -b stays
//   1024: in /infill n_batch also sizes the prompt window (3/4 of it for the prefix, 1/4 for the suffix), so a smaller
//   -b would make the server evaluate a much shorter prompt than Verdant.
// - asShipped: each side's defaults: Verdant's engine as the extension configures it (context, sequences and batch
//   left to the engine), llama-server with llama.vscode's README CPU-only flags (-b/-ub 512 for the 1.5B model, 1024
//   for the 0.5B one and the toy model, --ctx-size 0, --cache-reuse 256; slots and flash attention its defaults).
// Each side's loaded CPU variant is recorded from evidence: the libggml-cpu-*.so mapped in the process
// (/proc/<pid>/maps) with its sha256, and the server's "loaded CPU backend" log line; batch, context, slots and flash attention from
// the server's log and Verdant's engine log.
// Scenarios: cold (a new document, nothing cached), one-character edit (the same document with one character typed
// at the cursor right after its cold request), typing-through (each next request's prefix is the previous one plus
// the previous suggestion's first character), and large document (typing-through in a document whose prefix is about
// 4x the parity context, cursor near the end: each side trims as it does). Latency = the client's wall time for one
// request, median and p90; tokens evaluated per request as each side reports them (Verdant evaluatedTokens,
// llama-server timings.prompt_n). Also, informational: Verdant's typing-through with its cache on (as shipped;
// llama.vscode has a similar client cache, which this bench does not run, so no ratio is given for it).
// The llama-server binary is $LLAMA_SERVER; without it the server side is { skipped } and Verdant's is still measured.
//   LLAMA_SERVER=$(node scripts/build-llama-server.mjs) node out/bench/peers.js [--docs 20] [--keystrokes 40]
//     [--typing-docs 3] [--large-docs 1] [--max-tokens 16] [--sequences 4] [--threads 1,N] [--parity-batch 128]
//     [--rows parity,asShipped] [--model PATH | --shape NAME]  (NAME from bench/shapes.ts, default
//     qwen2.5-coder-0.5b-q8_0; `toy`: the test model)
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  copyFileSync,
  existsSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import type { CompletionInput } from '../src/core/completion/input';
import { CompletionPipeline, DEFAULT_COMPLETION_SETTINGS, type CompletionEngine, type CompletionSettings } from '../src/core/completion/pipeline';
import { finalizeCompletion } from '../src/core/completion/postprocess';
import type { LocalUsageRecord } from '../src/core/usage';
import { EngineClient } from '../src/engine/client';
import type { ModelConfig } from '../src/engine/llama/engine';
import type { GenerateResult } from '../src/engine/types';
import { testModels } from '../test/support/models';
import { benchModel, DEFAULT_BENCH_SHAPE } from './shapes';
import { machine, MiB, rng, round, spread, writeResult } from './util';

const { values } = parseArgs({
  options: {
    docs: { type: 'string', default: '20' },
    keystrokes: { type: 'string', default: '40' },
    'typing-docs': { type: 'string', default: '3' },
    'large-docs': { type: 'string', default: '1' },
    'max-tokens': { type: 'string', default: '16' },
    model: { type: 'string' },
    shape: { type: 'string' },
    sequences: { type: 'string', default: '4' },
    // 1 thread, and all but one of the logical cores (the editor and the rest keep one); the same count on both sides.
    threads: { type: 'string', default: `1,${Math.max(1, os.availableParallelism() - 1)}` },
    'parity-batch': { type: 'string', default: '128' },
    rows: { type: 'string', default: 'parity,asShipped' },
  },
});
const DOCS = Number(values.docs);
const KEYS = Number(values.keystrokes);
const TYPING_DOCS = Number(values['typing-docs']);
const LARGE_DOCS = Number(values['large-docs']);
const MAX_TOKENS = Number(values['max-tokens']);
/** The parity row's context (tokens per sequence on Verdant's side, of the one slot on the server's). */
const CONTEXT = 2048;
/** KV sequences of Verdant's engine in the parity row (the extension's default is 4: one per recently used document). */
const SEQUENCES = Number(values.sequences);
/** Distinct thread counts, in order: on a 2-core machine "1,N" is just [1], and is recorded so. */
const THREADS = [...new Set(values.threads.split(',').map((t) => Number(t.trim())))].filter((t) => Number.isInteger(t) && t > 0);
const PARITY_BATCH = Number(values['parity-batch']);
const ROWS = values.rows.split(',').map((r) => r.trim()) as RowName[];
/** llama-server's logical batch in the parity row: it sizes /infill's prompt window, as llama.vscode's 1024 does. */
const PARITY_SERVER_BATCH = 1024;
const MAX_LINES = DEFAULT_COMPLETION_SETTINGS.maxLines;
const SKIPPED_NO_SERVER =
  'LLAMA_SERVER is not set: point it at a llama-server binary (node scripts/build-llama-server.mjs builds one) to measure the peer side';

type RowName = 'parity' | 'asShipped';
for (const r of ROWS) if (r !== 'parity' && r !== 'asShipped') throw new Error(`--rows: ${r} is not parity or asShipped`);
if (THREADS.length === 0) throw new Error(`--threads ${values.threads}: give thread counts such as 1,3`);
if (!(PARITY_BATCH > 0)) throw new Error(`--parity-batch ${values['parity-batch']}: give a positive token count`);

// ---- the documents ----

const SENTENCES = [
  'Once upon a time, there was a little girl named Lily.',
  'She loved to play outside in the park.',
  'One day, she saw a big, red ball.',
  'She wanted to play with it, but it was too high.',
  'Her mom said, "Let us ask the man with the long stick."',
  'The man smiled and got the ball down for her.',
  'Lily was very happy and said thank you.',
  'Tom had a small dog named Spot.',
  'Spot liked to run and jump in the grass.',
  'The sun was warm and the sky was blue.',
  'They went home and ate some cake.',
  'The bird sang a song in the tree.',
];

/** A cursor state, split the way llama.vscode splits it: the lines above, the cursor line up to the cursor, the rest. */
interface State {
  readonly key: string;
  readonly above: string;
  readonly linePrefix: string;
  readonly suffix: string;
}

/**
 * A story of about 1,300 characters above the cursor (or `aboveChars`) and ~240 below (with the toy model's 512-token
 * vocabulary, ~2.2 characters a token: ~600 + ~110 tokens, under llama-server's /infill caps at -b 1024 of 768 prefix
 * and 248 suffix tokens, so neither side trims), lines wrapped at 72.
 */
function doc(i: number, label: string, aboveChars = 1300): State {
  const r = rng(1000 + i);
  const pick = () => SENTENCES[Math.floor(r() * SENTENCES.length)];
  const wrap = (text: string) => {
    const lines: string[] = [];
    let line = '';
    for (const w of text.split(' ')) {
      if (line && line.length + 1 + w.length > 72) {
        lines.push(line);
        line = w;
      } else line = line ? `${line} ${w}` : w;
    }
    if (line) lines.push(line);
    return lines;
  };
  let body = `Story ${i} (${label}): ${pick()}`;
  while (body.length < aboveChars) body += ` ${pick()}`;
  const lines = wrap(body);
  let after = pick();
  while (after.length < 240) after += ` ${pick()}`;
  const cut = 'She saw a big'; // the cursor sits in a sentence being written
  return {
    key: `file:///stories/${label}-${i}.txt`,
    above: lines.join('\n') + '\n\n',
    linePrefix: cut,
    suffix: '\n\n' + wrap(after).join('\n') + '\n',
  };
}

function typed(s: State, ch: string): State {
  return ch === '\n' ? { ...s, above: s.above + s.linePrefix + '\n', linePrefix: '' } : { ...s, linePrefix: s.linePrefix + ch };
}

const FALLBACK = ' and they played all day.';

/**
 * The large document's prefix: about 4x the parity context in tokens, at the toy model's ~2.2 characters a token
 * (a real coder vocabulary packs more characters per token, so with --shape the prefix is over 4x larger still).
 */
const LARGE_CHARS = Math.round(4 * CONTEXT * 2.2);

/** The next character a user types: the suggestion's first, else the next of a fixed text. */
function nextChar(suggestion: string | undefined, k: number): string {
  return suggestion && suggestion.length > 0 ? suggestion[0] : FALLBACK[k % FALLBACK.length];
}

// ---- one side ----

interface Sample {
  readonly ms: number;
  /** Engine (or server) reported time for the request, ms. */
  readonly engineMs: number;
  /** Of which: evaluating the prompt (Verdant: to the first token; llama-server: prompt_ms), and decoding the rest. */
  readonly promptPhaseMs: number;
  readonly decodePhaseMs: number;
  readonly prompt: number | null;
  readonly evaluated: number | null;
  readonly generated: number;
  readonly text: string | undefined;
}

interface Side {
  /** A suggestion for this state (post-processed by the same output rules). */
  complete(s: State, opts?: { keepCache?: boolean }): Promise<Sample>;
}

interface ScenarioResults {
  cold: Sample[];
  edit: Sample[];
  typing: Sample[];
  large: Sample[];
  typedText: string[];
}

/**
 * Runs the scenarios on every side, interleaved request by request (the order alternating), so that both sides meet
 * the same background load on this shared machine; each side still sees only its own requests, one at a time.
 */
async function runScenarios(sides: readonly Side[]): Promise<ScenarioResults[]> {
  const out: ScenarioResults[] = sides.map(() => ({ cold: [], edit: [], typing: [], large: [], typedText: [] }));
  let turn = 0;
  const each = async (fn: (side: Side, k: number) => Promise<void>) => {
    const order = sides.map((_, k) => k);
    if (turn++ % 2 === 1) order.reverse();
    for (const k of order) await fn(sides[k], k);
  };
  // Warm-up: one request on a document of its own, not measured.
  await each(async (side) => {
    await side.complete(doc(9999, 'warmup'));
  });
  for (let i = 0; i < DOCS; i++) {
    const s = doc(i, 'cold');
    await each(async (side, k) => {
      out[k].cold.push(await side.complete(s));
    });
    await each(async (side, k) => {
      out[k].edit.push(await side.complete(typed(s, 'e')));
    });
  }
  // Typing through a document: each side types what it itself suggested.
  const typeThrough = async (start: State, into: 'typing' | 'large') => {
    const state = sides.map(() => start);
    const last: (Sample | undefined)[] = sides.map(() => undefined);
    const text = sides.map(() => '');
    await each(async (side, k) => {
      last[k] = await side.complete(state[k]);
    }); // the session's cold start, not counted
    for (let n = 0; n < KEYS; n++) {
      await each(async (side, k) => {
        const ch = nextChar(last[k]?.text, n);
        text[k] += ch;
        state[k] = typed(state[k], ch);
        last[k] = await side.complete(state[k]);
        out[k][into].push(last[k]!);
      });
    }
    if (into === 'typing') text.forEach((t, k) => out[k].typedText.push(t));
  };
  for (let d = 0; d < TYPING_DOCS; d++) await typeThrough(doc(100 + d, 'typing'), 'typing');
  for (let d = 0; d < LARGE_DOCS; d++) await typeThrough(doc(300 + d, 'large', LARGE_CHARS), 'large');
  return out;
}

function summary(samples: readonly Sample[]) {
  const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);
  const evaluated = samples.map((x) => x.evaluated).filter((x): x is number => x !== null);
  const prompt = samples.map((x) => x.prompt).filter((x): x is number => x !== null);
  return {
    latencyMs: spread(samples.map((x) => x.ms)),
    engineReportedMs: spread(samples.map((x) => x.engineMs)),
    promptPhaseMs: spread(samples.map((x) => x.promptPhaseMs)),
    decodePhaseMs: spread(samples.map((x) => x.decodePhaseMs)),
    meanPromptTokens: prompt.length ? round(mean(prompt), 1) : null,
    meanEvaluatedPromptTokens: evaluated.length ? round(mean(evaluated), 1) : null,
    evaluatedTokens: evaluated.length ? spread(evaluated, 1) : null,
    meanGeneratedTokens: round(mean(samples.map((x) => x.generated)), 1),
    emptySuggestions: samples.filter((x) => x.text === undefined).length,
  };
}

// ---- Verdant ----

/** What a side actually ran with, read back from the process and its log rather than from what was asked. */
interface Settings {
  /** The libggml-cpu-<variant>.so mapped in the process (e.g. "zen4"); null where none could be read. */
  readonly cpuVariant: string | null;
  readonly cpuVariantEvidence: string;
  /** sha256 of the mapped libggml-cpu-*.so (one per file, joined by "+"); null where none could be read. */
  readonly cpuLibrarySha256: string | null;
  /** Logical / physical batch (node-llama-cpp: one batchSize for both). */
  readonly batch: number | null;
  readonly ubatch: number | null;
  /** Tokens of context a request can use (per sequence or slot), and the sequences or slots. */
  readonly context: number | null;
  readonly sequences: number | null;
  readonly threads: number | null;
  readonly flashAttention: string | null;
  readonly model: string;
  readonly rssMiB: number | null;
}

interface Running {
  readonly side: Side;
  info(): Promise<Settings & Record<string, unknown>>;
  stop(): Promise<void>;
}

/**
 * The CPU backend variants mapped into a process: with GGML_BACKEND_DL, ggml's loader scores every
 * libggml-cpu-<variant>.so beside it and keeps the best this CPU runs, so the mapping is the evidence of which
 * kernels run (Linux only; elsewhere none). Each file's sha256 tells whether two sides ran the very same bytes: the
 * same source and variant built by another compiler is not the same kernels (#20: node-llama-cpp's GCC 11 prebuilt
 * evaluated prompts ~6% slower than the same source built here with GCC 12).
 */
function mappedCpuVariants(pid: number | undefined): { variants: string[]; files: string[]; sha256: string[]; evidence: string } {
  if (pid === undefined) return { variants: [], files: [], sha256: [], evidence: 'no process id' };
  let maps: string;
  try {
    maps = readFileSync(`/proc/${pid}/maps`, 'utf8');
  } catch (e) {
    return { variants: [], files: [], sha256: [], evidence: `/proc/${pid}/maps unreadable (${e instanceof Error ? e.message : String(e)})` };
  }
  const found = new Set<string>();
  for (const line of maps.split('\n')) {
    const file = line.split(/\s+/)[5];
    if (file && /^libggml-cpu-.+\.so$/.test(path.basename(file))) found.add(file);
  }
  const files = [...found];
  const variants = files.map((f) => /^libggml-cpu-(.+)\.so$/.exec(path.basename(f))![1]);
  const sha256 = files.map((f) => {
    try {
      return createHash('sha256').update(readFileSync(f)).digest('hex');
    } catch {
      return 'unreadable';
    }
  });
  const listed = files.map((f, i) => `${f} (sha256 ${sha256[i].slice(0, 12)})`).join(', ');
  return { variants, files, sha256, evidence: `/proc/${pid}/maps: ${listed || 'no libggml-cpu-*.so mapped'}` };
}

/**
 * The parity row's server runs Verdant's own CPU kernels, byte for byte: a folder with a copy of the server binary
 * (ggml looks for backends beside the resolved executable), copies of every libggml-cpu-*.so from the folder that
 * Verdant's worker mapped its variant from (node-llama-cpp's prebuilt), and libggml-base.so pointing at the server's
 * own (a second copy of ggml-base in one process aborts). The backend plugins come from the same llama.cpp tag as the
 * server (scripts/build-llama-server.mjs), so their interface matches. Undefined where Verdant's kernels are unknown
 * (no /proc maps): the row then runs the server's own build, and the evidence shows it.
 */
function serverWithVerdantKernels(binary: string, verdantCpuLibraries: readonly string[]): { binary: string; dir: string } | undefined {
  if (verdantCpuLibraries.length !== 1) return undefined;
  const from = path.dirname(verdantCpuLibraries[0]);
  const base = path.join(path.dirname(binary), 'libggml-base.so');
  if (!existsSync(base)) return undefined;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'verdant-bench-llama-server-kernels-'));
  copyFileSync(binary, path.join(dir, path.basename(binary)));
  chmodSync(path.join(dir, path.basename(binary)), 0o755);
  for (const f of readdirSync(from)) if (/^libggml-cpu-.+\.so$/.test(f)) copyFileSync(path.join(from, f), path.join(dir, f));
  symlinkSync(realpathSync(base), path.join(dir, 'libggml-base.so'));
  return { binary: path.join(dir, path.basename(binary)), dir };
}

async function startVerdant(config: ModelConfig): Promise<Running & { typingWithCache(): Promise<Record<string, unknown>> }> {
  const stateDir = mkdtempSync(path.join(os.tmpdir(), 'verdant-bench-peers-'));
  // Efficiency Mode off: the server runs at normal priority, so the worker does too (no low start, no raise).
  const client = new EngineClient({
    stateDir,
    workerScript: path.resolve('dist/engine-worker.js'),
    clientName: 'bench-peers',
    idleMs: 10000,
    efficiencyMode: () => 'off',
  });
  const stop = async () => {
    await client.shutdownWorker().catch(() => {});
    client.dispose();
    rmSync(stateDir, { recursive: true, force: true });
  };
  try {
    await client.load(config);
  } catch (e) {
    await stop();
    throw e;
  }
  let lastTiming: GenerateResult['timing'] | undefined;
  const engine: CompletionEngine = {
    generate: async (req, opts) => {
      const res = await client.generate(config, req, opts);
      lastTiming = res.timing;
      return res;
    },
  };
  let lastUsage: LocalUsageRecord | undefined;
  const settings: CompletionSettings = { ...DEFAULT_COMPLETION_SETTINGS, maxTokens: MAX_TOKENS, maxLines: MAX_LINES };
  const pipeline = new CompletionPipeline({
    engine,
    settings: () => settings,
    sleep: async () => {},
    record: (u) => {
      lastUsage = u;
    },
  });
  const never = new AbortController().signal;
  const side: Side = {
    async complete(s, opts = {}) {
      if (!opts.keepCache) pipeline.cache.clear();
      lastUsage = undefined;
      lastTiming = undefined;
      const input: CompletionInput = {
        documentKey: s.key,
        languageId: 'plaintext',
        filePath: s.key.slice('file:///'.length),
        manual: false,
        prefix: s.above + s.linePrefix,
        suffix: s.suffix,
        linePrefix: s.linePrefix,
        lineSuffix: '',
      };
      const t0 = performance.now();
      const out = await pipeline.complete(input, never);
      const ms = performance.now() - t0;
      const u = lastUsage as LocalUsageRecord | undefined;
      const t = lastTiming as GenerateResult['timing'] | undefined;
      return {
        ms,
        engineMs: u?.engineMs ?? 0,
        promptPhaseMs: t?.ttftMs ?? 0,
        decodePhaseMs: t ? t.totalMs - t.ttftMs : 0,
        prompt: u?.promptTokens ?? null,
        evaluated: u?.evaluatedTokens ?? null,
        generated: u?.generatedTokens ?? 0,
        text: out?.text,
      };
    },
  };
  return {
    side,
    stop,
    async info() {
      const status = await client.status();
      const mapped = mappedCpuVariants(client.workerPid);
      // The engine's load line: "loaded F on cpu (T threads, context C x S, batch B, flash attention X)".
      let log = '';
      try {
        log = readFileSync(path.join(stateDir, 'engine.log'), 'utf8');
      } catch {
        /* none written */
      }
      const loaded = [...log.matchAll(/loaded .+? on \w+ \((\d+) threads, context (\d+) x (\d+), batch (\d+), flash attention (\w+)\)/g)].at(-1);
      const n = (i: number) => (loaded ? Number(loaded[i]) : null);
      return {
        cpuVariant: mapped.variants.length === 1 ? mapped.variants[0] : mapped.variants.length ? mapped.variants.join('+') : null,
        cpuVariantEvidence: mapped.evidence,
        cpuLibrarySha256: mapped.sha256.join('+') || null,
        cpuLibraries: mapped.files,
        batch: n(4),
        ubatch: n(4),
        context: n(2),
        sequences: n(3),
        threads: n(1),
        flashAttention: loaded ? loaded[5] : null,
        model: path.basename(config.modelPath),
        rssMiB: round(status.rssBytes / MiB, 1),
        backend: status.model?.backend ?? '?',
        config: { ...config, modelPath: path.basename(config.modelPath) },
      };
    },
    /** As shipped: typing-through with the suggestion cache on. */
    async typingWithCache() {
      const cached: Sample[] = [];
      const before = { ...pipeline.stats };
      for (let d = 0; d < TYPING_DOCS; d++) {
        let s = doc(200 + d, 'typing-cached');
        let last = await side.complete(s, { keepCache: true });
        for (let k = 0; k < KEYS; k++) {
          s = typed(s, nextChar(last.text, k));
          last = await side.complete(s, { keepCache: true });
          cached.push(last);
        }
      }
      return {
        ...summary(cached),
        engineCalls: pipeline.stats.engineCalls - before.engineCalls - TYPING_DOCS,
        servedByTypingThrough: pipeline.stats.typingThrough - before.typingThrough,
      };
    },
  };
}

// ---- llama-server ----

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function post(port: number, pathName: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const data = Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path: pathName,
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': data.length },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          try {
            resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown> });
          } catch (e) {
            reject(e);
          }
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

function getStatus(port: number, pathName: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: pathName }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    req.setTimeout(2000, () => {
      req.destroy();
      resolve(0);
    });
  });
}

function rssOf(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? round((Number(m[1]) * 1024) / MiB, 1) : null;
  } catch {
    return null;
  }
}

async function stop(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

/** llama-server's startup log: the CPU backend it loaded and the context it made, as evidence for peers.json. */
function serverLogSettings(logText: string) {
  const last = (re: RegExp) => [...logText.matchAll(re)].at(-1)?.[1] ?? null;
  const num = (re: RegExp) => {
    const v = last(re);
    return v === null ? null : Number(v);
  };
  const backend = last(/load_backend: loaded CPU backend from (\S+)/g);
  return {
    backendLine: backend,
    cpuVariant: backend ? (/libggml-cpu-(.+)\.so$/.exec(path.basename(backend))?.[1] ?? null) : null,
    batch: num(/llama_context: n_batch\s+= (\d+)/g),
    ubatch: num(/llama_context: n_ubatch\s+= (\d+)/g),
    contextTotal: num(/llama_context: n_ctx\s+= (\d+)/g),
    contextPerSequence: num(/llama_context: n_ctx_seq\s+= (\d+)/g) ?? num(/llama_context: n_ctx_per_seq\s+= (\d+)/g),
    slotContext: num(/new slot.*?n_ctx(?:_slot)? = (\d+)/g),
    slots: num(/n_slots = (\d+)/g),
    threads: num(/system_info: n_threads = (\d+)/g),
    // "auto" is resolved later in the log ("resolve_fused_ops: Flash Attention enabled"; older: "... was auto, set to").
    flashAttention: last(/Flash Attention (?:was auto, set to )?(enabled|disabled)/g) ?? last(/llama_context: flash_attn\s+= (\w+)/g),
  };
}

/**
 * The settings llama.cpp resolved (batch, ubatch, context, flash attention "auto") are logged only at debug verbosity,
 * which also logs every request: a short probe start with the same flags and -lv 4 reads them, so the measured
 * server runs at its default verbosity.
 */
async function probeServerLog(binary: string, args: readonly string[]): Promise<string> {
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'verdant-bench-llama-server-probe-'));
  const file = path.join(dir, 'probe.log');
  const fd = openSync(file, 'w');
  const proc = spawn(binary, [...args.map((a, i) => (args[i - 1] === '--port' ? String(port) : a)), '-lv', '4'], { stdio: ['ignore', fd, fd] });
  try {
    const deadline = Date.now() + 120000;
    while ((await getStatus(port, '/health')) !== 200 && proc.exitCode === null && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    return readFileSync(file, 'utf8');
  } finally {
    await stop(proc);
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
}

async function startLlamaServer(binary: string, model: string, rowArgs: readonly string[]): Promise<Running> {
  const help = spawnSync(binary, ['--help'], { encoding: 'utf8', timeout: 30000 });
  const helpText = `${help.stdout ?? ''}${help.stderr ?? ''}`;
  const version = spawnSync(binary, ['--version'], { encoding: 'utf8', timeout: 30000 });
  const versionText =
    `${version.stdout ?? ''}${version.stderr ?? ''}`
      .split('\n')
      .find((l) => /version/.test(l))
      ?.trim() ?? 'unknown';
  const port = await freePort();
  const args = ['-m', model, '--host', '127.0.0.1', '--port', String(port), ...rowArgs];
  if (/--no-webui/.test(helpText)) args.push('--no-webui');
  // Older servers take -fa as a bare switch, off unless given: there "-fa off" is dropped (off all the same).
  const fa = args.indexOf('-fa');
  if (fa >= 0 && !/--flash-attn \[on\|off\|auto\]/.test(helpText)) args.splice(fa, 2);
  const probeLog = /--log-verbosity/.test(helpText) ? await probeServerLog(binary, args) : '';
  const logDir = mkdtempSync(path.join(os.tmpdir(), 'verdant-bench-llama-server-'));
  const logFile = path.join(logDir, 'server.log');
  const log = openSync(logFile, 'w');
  const proc = spawn(binary, args, { stdio: ['ignore', log, log] });
  const cleanup = () => {
    try {
      proc.kill('SIGKILL');
    } catch {
      /* gone */
    }
  };
  process.once('exit', cleanup);
  const shutdown = async () => {
    agent.destroy();
    await stop(proc);
    process.removeListener('exit', cleanup);
    rmSync(logDir, { recursive: true, force: true });
  };
  try {
    const deadline = Date.now() + 120000;
    while ((await getStatus(port, '/health')) !== 200) {
      if (proc.exitCode !== null || Date.now() > deadline)
        throw new Error(`llama-server did not become healthy:\n${readFileSync(logFile, 'utf8').slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const side: Side = {
      async complete(s) {
        const body = {
          id_slot: 0,
          input_prefix: s.above,
          input_suffix: s.suffix,
          input_extra: [],
          prompt: s.linePrefix,
          n_predict: MAX_TOKENS,
          top_k: 40,
          top_p: 0.99,
          temperature: 0,
          samplers: ['top_k', 'top_p', 'temperature'],
          stream: false,
          cache_prompt: true,
          t_max_prompt_ms: 500,
          t_max_predict_ms: 500,
        };
        const t0 = performance.now();
        const { status, json } = await post(port, '/infill', body);
        const ms = performance.now() - t0;
        if (status !== 200) throw new Error(`llama-server /infill answered ${status}: ${JSON.stringify(json).slice(0, 500)}`);
        const timings = (json.timings ?? {}) as Record<string, number>;
        const content = typeof json.content === 'string' ? json.content : '';
        const text = finalizeCompletion(content, { linePrefix: s.linePrefix, lineSuffix: '', suffix: s.suffix, maxLines: MAX_LINES });
        const promptTokens = typeof json.tokens_evaluated === 'number' ? json.tokens_evaluated : null;
        return {
          ms,
          engineMs: (timings.prompt_ms ?? 0) + (timings.predicted_ms ?? 0),
          promptPhaseMs: timings.prompt_ms ?? 0,
          decodePhaseMs: timings.predicted_ms ?? 0,
          prompt: promptTokens,
          evaluated: timings.prompt_n ?? null,
          generated: timings.predicted_n ?? 0,
          text,
        };
      },
    };
    return {
      side,
      stop: shutdown,
      info: async () => {
        const fromLog = serverLogSettings(`${probeLog}\n${readFileSync(logFile, 'utf8')}`);
        const mapped = mappedCpuVariants(proc.pid);
        return {
          cpuVariant: mapped.variants.length === 1 ? mapped.variants[0] : mapped.variants.length ? mapped.variants.join('+') : fromLog.cpuVariant,
          cpuVariantEvidence: fromLog.backendLine ? `${mapped.evidence}; log: loaded CPU backend from ${fromLog.backendLine}` : mapped.evidence,
          cpuLibrarySha256: mapped.sha256.join('+') || null,
          batch: fromLog.batch,
          ubatch: fromLog.ubatch,
          context: fromLog.slotContext ?? fromLog.contextPerSequence,
          sequences: fromLog.slots,
          threads: fromLog.threads,
          flashAttention: fromLog.flashAttention,
          model: path.basename(model),
          rssMiB: rssOf(proc.pid),
          contextTotal: fromLog.contextTotal,
          binary,
          version: versionText,
          args: args.filter((a, i) => a !== '--port' && args[i - 1] !== '--port').map((a) => (a === model ? path.basename(model) : a)),
        };
      },
    };
  } catch (e) {
    await shutdown();
    throw e;
  }
}

// ---- rows ----

interface RowSpec {
  readonly row: RowName;
  readonly threads: number;
  readonly verdant: ModelConfig;
  /** llama-server flags besides -m, --host and --port. */
  readonly server: string[];
}

/** llama.vscode's README, CPU-only configs: -b/-ub 512 for Qwen2.5-Coder 1.5B, 1024 for 0.5B (the toy model too). */
const llamaVscodeCpuBatch = (model: string) => (/1\.5b/i.test(path.basename(model)) ? 512 : 1024);

function rowSpec(row: RowName, threads: number, model: string): RowSpec {
  const t = String(threads);
  if (row === 'parity') {
    return {
      row,
      threads,
      verdant: { modelPath: model, gpu: 'cpu', threads, contextSize: CONTEXT, sequences: SEQUENCES, batchSize: PARITY_BATCH },
      server: [
        ...['-t', t, '-tb', t, '-c', String(CONTEXT), '-np', '1'],
        ...['-b', String(PARITY_SERVER_BATCH), '-ub', String(PARITY_BATCH), '--cache-reuse', '256', '-fa', 'off'],
      ],
    };
  }
  const b = String(llamaVscodeCpuBatch(model));
  return {
    row,
    threads,
    // The extension's ModelConfig (src/vscode/localEngine.ts): context, sequences and batch left to the engine; the
    // CPU named, as the GPU probe finds none here.
    verdant: { modelPath: model, gpu: 'cpu', threads },
    server: ['-t', t, '-tb', t, '-ub', b, '-b', b, '--ctx-size', '0', '--cache-reuse', '256'],
  };
}

// ---- main ----

async function resolveModel(): Promise<{ path: string; source: string }> {
  return benchModel(values, async () => (await testModels()).fim);
}

async function runRow(spec: RowSpec, model: string, binary: string | undefined) {
  const verdant = await startVerdant(spec.verdant);
  let kernels: { binary: string; dir: string } | undefined;
  let server: Running | undefined;
  let serverWhy: { skipped: string } | { failed: string } | undefined;
  if (!binary) serverWhy = { skipped: SKIPPED_NO_SERVER };
  else if (!existsSync(binary)) serverWhy = { failed: `LLAMA_SERVER is ${binary}, but there is no file there` };
  else {
    try {
      if (spec.row === 'parity') {
        const libraries = (await verdant.info()).cpuLibraries;
        kernels = serverWithVerdantKernels(binary, Array.isArray(libraries) ? libraries.map(String) : []);
      }
      server = await startLlamaServer(kernels?.binary ?? binary, model, spec.server);
    } catch (e) {
      serverWhy = { failed: e instanceof Error ? e.message : String(e) };
    }
  }
  let results: ScenarioResults[];
  let verdantInfo: Record<string, unknown>;
  let serverInfo: Record<string, unknown> | undefined;
  let typingWithCache: Record<string, unknown> | undefined;
  try {
    console.log(`${spec.row}, ${spec.threads} thread(s): ${server ? 'Verdant and llama-server, interleaved' : 'Verdant'}…`);
    // Read while both run: the mapped CPU variant is only visible in a live process.
    verdantInfo = await verdant.info();
    serverInfo = await server?.info();
    try {
      results = await runScenarios(server ? [verdant.side, server.side] : [verdant.side]);
    } catch (e) {
      if (!server) throw e;
      // A server that fails a request (e.g. a context too small for its prompt) fails its side of the row, not the run.
      serverWhy = { failed: e instanceof Error ? e.message : String(e) };
      await server.stop();
      server = undefined;
      results = await runScenarios([verdant.side]);
    }
    await server?.stop();
    server = undefined;
    if (spec.row === 'asShipped') typingWithCache = await verdant.typingWithCache();
    verdantInfo = { ...verdantInfo, rssMiB: (await verdant.info()).rssMiB };
  } finally {
    await server?.stop();
    await verdant.stop();
    if (kernels) rmSync(kernels.dir, { recursive: true, force: true });
  }
  const [v, peer] = results;
  const scenario = (key: 'cold' | 'edit' | 'typing' | 'large') => {
    const verdantSide = summary(v[key]);
    if (!peer) return { verdant: verdantSide, llamaServer: serverWhy };
    const p = summary(peer[key]);
    return {
      verdant: verdantSide,
      llamaServer: p,
      ratio: { median: round(verdantSide.latencyMs.median / p.latencyMs.median, 2), p90: round(verdantSide.latencyMs.p90 / p.latencyMs.p90, 2) },
    };
  };
  return {
    row: spec.row,
    threads: spec.threads,
    verdant: verdantInfo,
    llamaServer: peer && serverInfo ? serverInfo : (serverWhy ?? serverInfo),
    scenarios: {
      cold: scenario('cold'),
      oneCharEdit: scenario('edit'),
      typingThrough: scenario('typing'),
      largeDocument: scenario('large'),
    },
    ...(typingWithCache ? { verdantTypingWithCache: typingWithCache } : {}),
    typedText: { verdant: v.typedText, llamaServer: peer ? peer.typedText : null },
    failed: serverWhy && 'failed' in serverWhy ? serverWhy.failed : undefined,
  };
}

async function main(): Promise<void> {
  const model = await resolveModel();
  const loadBefore = os.loadavg();
  const binary = process.env.LLAMA_SERVER;
  if (!binary) console.log(`llama-server: skipped (${SKIPPED_NO_SERVER})`);
  const rows = [];
  for (const threads of THREADS) for (const row of ROWS) rows.push(await runRow(rowSpec(row, threads, model.path), model.path, binary));
  const result = {
    date: new Date().toISOString(),
    machine: machine(),
    loadAverage: { before: loadBefore.map((x) => round(x, 2)), after: os.loadavg().map((x) => round(x, 2)) },
    model: path.basename(model.path),
    modelSource: model.source,
    maxTokens: MAX_TOKENS,
    docs: DOCS,
    typingSessions: { documents: TYPING_DOCS, keystrokes: KEYS },
    largeDocument: { documents: LARGE_DOCS, keystrokes: KEYS, prefixChars: LARGE_CHARS, parityContextTokens: CONTEXT },
    threads: THREADS,
    parityBatch: { batch: PARITY_BATCH, ubatch: PARITY_BATCH, serverBatch: PARITY_SERVER_BATCH },
    interleaved: rows.some((r) => r.typedText.llamaServer !== null),
    rows: rows.map(({ failed: _failed, ...r }) => r),
    note: "ratio = Verdant / llama-server (below 1: Verdant is faster). Latency is the client's wall time per request: Verdant through its pipeline, socket IPC and the engine worker; llama-server through HTTP on loopback. Requests alternate between the two sides.",
  };
  // The default shape's result is peers.json; another model's sits beside it (the report shows each).
  writeResult(model.source === `shape ${DEFAULT_BENCH_SHAPE}` ? 'peers' : `peers-${path.basename(model.path, '.gguf')}`, result);
  const failed = rows.filter((r) => r.failed);
  for (const r of failed) console.error(`peers: llama-server failed in ${r.row} (${r.threads} thread(s)): ${r.failed}`);
  if (failed.length) process.exitCode = 1;
}

main().catch((e) => {
  console.error(e instanceof Error ? e.stack : e);
  process.exit(1);
});
