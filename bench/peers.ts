// Verdant's FIM path against llama.cpp's llama-server /infill as llama.vscode drives it (`npm run bench -- peers`).
// Writes bench/results/peers.json. Same model file (the FIM variant of the test model), same prompts, same machine,
// one thread each, one run each; both run side by side and the requests alternate between them (one at a time,
// never two at once), so background load on a shared machine falls on both alike:
// - Verdant: CompletionPipeline -> EngineClient -> the shared engine worker (dist/engine-worker.js, a separate
//   process, as in the extension) -> node-llama-cpp; no debounce; the pipeline's suggestion cache is cleared before
//   each request in the compared rows, so every request reaches the engine (as every request reaches llama-server).
// - llama-server: started here on 127.0.0.1 and a free port (-m MODEL -t 1 -c CONTEXT -np 1, llama.vscode's
//   recommended -b/-ub 1024 and --cache-reuse 256, --no-webui when it has it), POST /infill with llama.vscode's
//   payload: input_prefix (the lines above the cursor), prompt (the cursor line up to the cursor), input_suffix,
//   input_extra [], n_predict, cache_prompt true, id_slot 0, t_max_prompt_ms/t_max_predict_ms 500, top_k 40,
//   top_p 0.99 -- but greedy (temperature 0 with the temperature sampler in the chain) instead of llama.vscode's
//   random top_k/top_p/infill sampling, so both sides decode the same tokens; n_cmpl 1 (llama.vscode asks 3).
// Scenarios: cold (a new document, nothing cached), one-character edit (the same document with one character typed
// at the cursor right after its cold request), typing-through (each next request's prefix is the previous one plus
// the previous suggestion's first character). Latency = the client's wall time for one request, median and p90.
// Each side's prompt evaluation and decode times as its engine reports them are kept too (where the time goes).
// Also, informational: Verdant's typing-through with its cache on (as shipped; llama.vscode has a similar client
// cache, which this bench does not run, so no ratio is given for it).
// The llama-server binary is $LLAMA_SERVER; without it that row is { skipped } and Verdant's side is still measured.
//   LLAMA_SERVER=/path/to/llama-server node out/bench/peers.js [--docs 20] [--keystrokes 40] [--typing-docs 3]
//     [--max-tokens 16] [--sequences 4] [--model PATH]
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
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
import { machine, MiB, rng, round, spread, writeResult } from './util';

const { values } = parseArgs({
  options: {
    docs: { type: 'string', default: '20' },
    keystrokes: { type: 'string', default: '40' },
    'typing-docs': { type: 'string', default: '3' },
    'max-tokens': { type: 'string', default: '16' },
    model: { type: 'string' },
    sequences: { type: 'string', default: '4' },
  },
});
const DOCS = Number(values.docs);
const KEYS = Number(values.keystrokes);
const TYPING_DOCS = Number(values['typing-docs']);
const MAX_TOKENS = Number(values['max-tokens']);
const CONTEXT = 2048;
/** KV sequences of Verdant's engine (the extension's default is 4: one per recently used document). */
const SEQUENCES = Number(values.sequences);
const MAX_LINES = DEFAULT_COMPLETION_SETTINGS.maxLines;
const SKIPPED_NO_SERVER = 'LLAMA_SERVER is not set: point it at a llama-server binary (llama.cpp tools/server) to measure the peer side';

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
 * A story of about 1,300 characters above the cursor and ~240 below (with this model's 512-token vocabulary, ~2.2
 * characters a token: ~600 + ~110 tokens, under llama-server's /infill caps at -b 1024 of 768 prefix and 248 suffix
 * tokens, so neither side trims), lines wrapped at 72.
 */
function doc(i: number, label: string): State {
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
  while (body.length < 1300) body += ` ${pick()}`;
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
  typedText: string[];
}

/**
 * Runs the scenarios on every side, interleaved request by request (the order alternating), so that both sides meet
 * the same background load on this shared machine; each side still sees only its own requests, one at a time.
 */
async function runScenarios(sides: readonly Side[]): Promise<ScenarioResults[]> {
  const out: ScenarioResults[] = sides.map(() => ({ cold: [], edit: [], typing: [], typedText: [] }));
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
  for (let d = 0; d < TYPING_DOCS; d++) {
    // Each side types what it itself suggested.
    const state = sides.map(() => doc(100 + d, 'typing'));
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
        out[k].typing.push(last[k]!);
      });
    }
    text.forEach((t, k) => out[k].typedText.push(t));
  }
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
    meanGeneratedTokens: round(mean(samples.map((x) => x.generated)), 1),
    emptySuggestions: samples.filter((x) => x.text === undefined).length,
  };
}

// ---- Verdant ----

interface Running {
  readonly side: Side;
  info(): Promise<Record<string, unknown>>;
  stop(): Promise<void>;
}

async function startVerdant(model: string): Promise<Running & { typingWithCache(): Promise<Record<string, unknown>> }> {
  const config: ModelConfig = { modelPath: model, gpu: 'cpu', threads: 1, contextSize: CONTEXT, sequences: SEQUENCES };
  const stateDir = mkdtempSync(path.join(os.tmpdir(), 'verdant-bench-peers-'));
  const client = new EngineClient({ stateDir, workerScript: path.resolve('dist/engine-worker.js'), clientName: 'bench-peers', idleMs: 10000 });
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
      return {
        backend: status.model?.backend ?? '?',
        workerRssMiB: round(status.rssBytes / MiB, 1),
        contextSize: CONTEXT,
        sequences: SEQUENCES,
        threads: 1,
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

async function startLlamaServer(binary: string, model: string): Promise<Running> {
  const help = spawnSync(binary, ['--help'], { encoding: 'utf8', timeout: 30000 });
  const helpText = `${help.stdout ?? ''}${help.stderr ?? ''}`;
  const version = spawnSync(binary, ['--version'], { encoding: 'utf8', timeout: 30000 });
  const versionText =
    `${version.stdout ?? ''}${version.stderr ?? ''}`
      .split('\n')
      .find((l) => /version/.test(l))
      ?.trim() ?? 'unknown';
  const port = await freePort();
  const args = [
    '-m',
    model,
    '-t',
    '1',
    '-tb',
    '1',
    '-c',
    String(CONTEXT),
    '-np',
    '1',
    '--host',
    '127.0.0.1',
    '--port',
    String(port),
    '-b',
    '1024',
    '-ub',
    '1024',
    '--cache-reuse',
    '256',
  ];
  if (/--no-webui/.test(helpText)) args.push('--no-webui');
  // Verdant runs without flash attention on the CPU; say the same where the server lets us.
  if (/--flash-attn \[on\|off\|auto\]/.test(helpText)) args.push('-fa', 'off');
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
      info: async () => ({
        binary,
        version: versionText,
        args: args.map((a) => (a === model ? path.basename(model) : a)),
        serverRssMiB: rssOf(proc.pid),
      }),
    };
  } catch (e) {
    await shutdown();
    throw e;
  }
}

// ---- main ----

async function main(): Promise<void> {
  const model = values.model ?? (await testModels()).fim;
  const loadBefore = os.loadavg();
  const verdant = await startVerdant(model);
  const binary = process.env.LLAMA_SERVER;
  let server: Running | undefined;
  let serverWhy: { skipped: string } | { failed: string } | undefined;
  if (!binary) {
    serverWhy = { skipped: SKIPPED_NO_SERVER };
    console.log(`llama-server: skipped (${SKIPPED_NO_SERVER})`);
  } else if (!existsSync(binary)) {
    serverWhy = { failed: `LLAMA_SERVER is ${binary}, but there is no file there` };
  } else {
    try {
      server = await startLlamaServer(binary, model);
    } catch (e) {
      serverWhy = { failed: e instanceof Error ? e.message : String(e) };
    }
  }
  let results: ScenarioResults[];
  let verdantInfo: Record<string, unknown>;
  let serverInfo: Record<string, unknown> | undefined;
  let typingWithCache: Record<string, unknown>;
  try {
    console.log(server ? 'Verdant and llama-server, interleaved…' : 'Verdant…');
    results = await runScenarios(server ? [verdant.side, server.side] : [verdant.side]);
    serverInfo = await server?.info();
    await server?.stop();
    server = undefined;
    typingWithCache = await verdant.typingWithCache();
    verdantInfo = await verdant.info();
  } finally {
    await server?.stop();
    await verdant.stop();
  }
  const [v, peer] = results;
  const scenario = (key: 'cold' | 'edit' | 'typing') => {
    const verdantSide = summary(v[key]);
    if (!peer) return { verdant: verdantSide, llamaServer: serverWhy };
    const p = summary(peer[key]);
    return {
      verdant: verdantSide,
      llamaServer: p,
      ratio: { median: round(verdantSide.latencyMs.median / p.latencyMs.median, 2), p90: round(verdantSide.latencyMs.p90 / p.latencyMs.p90, 2) },
    };
  };
  const result = {
    date: new Date().toISOString(),
    machine: machine(),
    loadAverage: { before: loadBefore.map((x) => round(x, 2)), after: os.loadavg().map((x) => round(x, 2)) },
    model: path.basename(model),
    maxTokens: MAX_TOKENS,
    docs: DOCS,
    typingSessions: { documents: TYPING_DOCS, keystrokes: KEYS },
    interleaved: peer !== undefined,
    verdant: verdantInfo,
    llamaServer: serverInfo ?? serverWhy,
    scenarios: { cold: scenario('cold'), oneCharEdit: scenario('edit'), typingThrough: scenario('typing') },
    verdantTypingWithCache: typingWithCache,
    typedText: { verdant: v.typedText, llamaServer: peer ? peer.typedText : null },
    note: "ratio = Verdant / llama-server (below 1: Verdant is faster). Latency is the client's wall time per request: Verdant through its pipeline, socket IPC and the engine worker; llama-server through HTTP on loopback. Requests alternate between the two sides.",
  };
  writeResult('peers', result);
  if (serverWhy && 'failed' in serverWhy) {
    console.error(`peers: llama-server failed: ${serverWhy.failed}`);
    process.exitCode = 1;
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.stack : e);
  process.exit(1);
});
