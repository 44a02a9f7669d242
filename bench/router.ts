// Router decision latency (`npm run bench -- router`). Writes bench/results/router.json. Over 10,000 varied requests
// (every kind, prompt sizes from 50 to 60,000 tokens, every mode, with and without a cloud, trust, consent, budgets,
// deferral windows, drafts, battery; each with the text and code of a corpus request, one in five with its code
// repeated to the 20,000 characters the text features read), p50/p99 of:
// - the policy alone (decideRoute, the classifier's answer given);
// - features + the TS forward pass + policy (how the extension and `verdant route` decide, in-process);
// - features + the ONNX classifier in this process (OnnxRouter.predict, one row) + policy (for comparison);
// - features + the ONNX classifier in the real engine worker (EngineClient.route over its socket,
//   dist/engine-worker.js) + policy (the extension's path before #17), 1,000 requests.
// Targets (router issue): p99 < 1 ms for the policy, < 5 ms with the classifier.
//   node out/bench/router.js [--n 10000] [--worker-n 1000]
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { detectDevice, type DetectedDevice } from '../src/core/carbon/energy/devices';
import { lookupGridAverage } from '../src/core/carbon/sources';
import { loadWeights, referenceForward } from '../src/core/routing/classifier';
import { featureVector, ROUTING_KINDS, type RoutingInput } from '../src/core/routing/features';
import { parseWordVectors } from '../src/core/routing/wordVectors';
import { readCorpusDir, type CorpusRow } from '../src/core/routing/training';
import { BUDGET_ACTIONS, decideRoute, ROUTING_MODES, type RouteContext, type RouteDecision, type RouteRequest } from '../src/core/routing/policy';
import { EngineClient } from '../src/engine/client';
import { lockPathFor, pidAlive, readLock } from '../src/engine/lock';
import { OnnxRouter } from '../src/engine/router/onnxRouter';
import { machine, pct, rng, writeResult } from './util';

const { values } = parseArgs({ options: { n: { type: 'string', default: '10000' }, 'worker-n': { type: 'string', default: '1000' } } });
const N = Math.max(1000, Number(values.n));
const WORKER_N = Math.max(100, Number(values['worker-n']));
const WARMUP = 1000;
const TARGETS = { policyP99Ms: 1, withClassifierP99Ms: 5 } as const;
const MODEL_DIR = path.resolve('dist');

interface Case {
  readonly i: number;
  readonly input: RoutingInput;
  readonly req: RouteRequest;
  readonly ctx: RouteContext;
}

function corpus(): CorpusRow[] {
  const dir = path.resolve('src', 'core', 'routing', 'model', 'corpus');
  return readCorpusDir(dir);
}

function cases(n: number): Case[] {
  const requests = corpus();
  const text = (c: CorpusRow, long: boolean) => ({
    text: c.text,
    language: c.language,
    code: long && c.code ? c.code.repeat(Math.ceil(20000 / c.code.length)) : c.code,
  });
  const r = rng(20261126);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
  const maybe = (share: number) => r() < share;
  const logUniform = (lo: number, hi: number) => Math.round(Math.exp(Math.log(lo) + r() * (Math.log(hi) - Math.log(lo))));
  const cpus = [
    'AMD Ryzen 7 7840HS w/ Radeon 780M Graphics',
    'Apple M2 Pro',
    '13th Gen Intel(R) Core(TM) i7-1360P',
    'AMD EPYC 7763 64-Core Processor',
    '',
  ];
  const backends = ['llama.cpp', 'llama.cpp (cpu)', 'llama.cpp (vulkan)', 'ollama'];
  const devices: DetectedDevice[] = cpus.flatMap((cpuModel) =>
    backends.map((b) => detectDevice({ cpuModel, logicalCpus: 16, platform: 'linux', arch: 'x64' }, b)),
  );
  const grids = ['SE', 'FR', 'DE', 'PL', 'US', 'IN', ''].map((z) => lookupGridAverage(z).gPerKWh);
  const models = ['llama-3.3-70b-instruct', 'mistral-small-3.1-24b', 'some-provider-model'];
  return Array.from({ length: n }, (_, i) => {
    const kind = pick(ROUTING_KINDS);
    const promptTokens = logUniform(50, 60000);
    const contextTokens = pick([4096, 8192, 16384, 32768]);
    const selectionChars = kind === 'completion' || kind === 'commit' ? 0 : logUniform(1, 40000);
    const tps = maybe(0.7) ? 3 + r() * 80 : undefined;
    const input: RoutingInput = {
      kind,
      promptTokens,
      localContextTokens: contextTokens,
      files: Math.floor(r() * 13),
      selectionChars,
      localTokensPerSecond: tps,
      draftMeanLogProb: maybe(0.3) ? -3 * r() : undefined,
      recentAcceptance: maybe(0.5) ? r() : undefined,
      onBattery: maybe(0.1),
      ...text(pick(requests), maybe(0.2)),
    };
    const budgetG = maybe(0.3) ? 1 + r() * 50 : undefined;
    const ctx: RouteContext = {
      mode: pick(ROUTING_MODES),
      local: {
        device: pick(devices),
        tokensPerSecond: tps,
        gPerKWh: pick(grids),
        contextTokens,
        ...(maybe(0.03) ? { unavailable: 'no local model is chosen' } : {}),
      },
      cloud: maybe(0.9) ? { model: pick(models), gPerKWh: pick(grids), ...(maybe(0.5) ? { pue: 1.1 + r() * 0.3 } : {}) } : undefined,
      trusted: maybe(0.9),
      offline: maybe(0.03),
      consent: pick(['granted', 'granted', 'unknown', 'denied'] as const),
      budget: budgetG !== undefined ? { dailyGrams: budgetG, usedTodayG: r() * budgetG * 1.2, action: pick(BUDGET_ACTIONS) } : undefined,
      cascade: maybe(0.8),
      deferral: maybe(0.1) ? { windowGPerKWh: pick(grids), startsInMs: r() * 6 * 3_600_000 } : undefined,
    };
    return { i, input, req: { kind, promptTokens, selectionChars }, ctx };
  });
}

interface Stats {
  readonly n: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
}

const r4 = (n: number) => Math.round(n * 1e4) / 1e4;

function stats(xs: number[]): Stats {
  return {
    n: xs.length,
    p50: r4(pct(xs, 50)),
    p90: r4(pct(xs, 90)),
    p99: r4(pct(xs, 99)),
    max: r4(Math.max(...xs)),
    mean: r4(xs.reduce((a, b) => a + b, 0) / xs.length),
  };
}

/** Times `one` on every case after a warm-up over the first cases; returns milliseconds per decision. */
async function time(all: readonly Case[], one: (c: Case) => RouteDecision | Promise<RouteDecision>): Promise<Stats> {
  const sink: string[] = [];
  for (let i = 0; i < Math.min(WARMUP, all.length); i++) sink.push((await one(all[i])).route);
  const ms: number[] = [];
  for (const c of all) {
    const t0 = performance.now();
    const d = await one(c);
    ms.push(performance.now() - t0);
    sink.push(d.route);
  }
  if (sink.length === 0) throw new Error('nothing decided');
  return stats(ms);
}

async function main(): Promise<void> {
  const all = cases(N);
  const weights = loadWeights(readFileSync(path.join(MODEL_DIR, 'router-weights.json'), 'utf8'));
  const vectors = parseWordVectors(readFileSync(path.join(MODEL_DIR, 'word-vectors.bin')));
  const pRef = all.map((c) => referenceForward(weights, featureVector(c.input, vectors)));
  const routes: Record<string, number> = {};
  all.forEach((c, i) => {
    const d = decideRoute(c.req, c.ctx, pRef[i]);
    const key = d.cascade ? 'cascade' : d.route;
    routes[key] = (routes[key] ?? 0) + 1;
  });

  const policy = await time(all, (c) => decideRoute(c.req, c.ctx, pRef[c.i]));
  const reference = await time(all, (c) => decideRoute(c.req, c.ctx, referenceForward(weights, featureVector(c.input, vectors))));

  const loadStart = performance.now();
  const onnx = await OnnxRouter.load(path.join(MODEL_DIR, 'router.onnx'));
  const onnxLoadMs = performance.now() - loadStart;
  let onnxStats: Stats;
  let maxDiff = 0;
  try {
    onnxStats = await time(all, async (c) => {
      const f = featureVector(c.input, vectors);
      const [p] = await onnx.predict([f]);
      return decideRoute(c.req, c.ctx, p);
    });
    for (let k = 0; k < 1000; k++) maxDiff = Math.max(maxDiff, Math.abs((await onnx.predict([featureVector(all[k].input, vectors)]))[0] - pRef[k]));
  } finally {
    await onnx.dispose();
  }

  const stateDir = mkdtempSync(path.join(os.tmpdir(), 'verdant-bench-router-'));
  const client = new EngineClient({ stateDir, workerScript: path.resolve('dist/engine-worker.js'), clientName: 'router bench', idleMs: 10_000 });
  let worker: { stats: Stats; firstRouteMs: number; provider: string; routerLoadMs: number | undefined };
  try {
    const t0 = performance.now();
    const first = await client.route([featureVector(all[0].input, vectors)]);
    const firstRouteMs = performance.now() - t0;
    const workerStats = await time(all.slice(0, WORKER_N), async (c) => {
      const { p } = await client.route([featureVector(c.input, vectors)]);
      return decideRoute(c.req, c.ctx, p[0]);
    });
    worker = { stats: workerStats, firstRouteMs, provider: first.provider, routerLoadMs: (await client.status()).router?.loadMs };
    await client.shutdownWorker();
  } finally {
    const pid = (await readLock(lockPathFor(stateDir)))?.pid;
    client.dispose();
    if (pid && pidAlive(pid)) process.kill(pid, 'SIGKILL');
    rmSync(stateDir, { recursive: true, force: true });
  }

  const met = {
    policy: policy.p99 < TARGETS.policyP99Ms,
    referenceClassifier: reference.p99 < TARGETS.withClassifierP99Ms,
    onnxInProcess: onnxStats.p99 < TARGETS.withClassifierP99Ms,
    engineWorker: worker.stats.p99 < TARGETS.withClassifierP99Ms,
  };
  const result = {
    date: new Date().toISOString(),
    machine: machine(),
    decisions: N,
    warmup: WARMUP,
    inputs:
      'seeded (mulberry32 20261126): 7 kinds, prompts 50-60,000 tokens (log-uniform), contexts 4k-32k, 5 modes, 20 device profiles, 7 grids, 3 cloud models or none (10 %), untrusted 10 %, consent granted/unknown/denied, budgets 30 %, deferral windows 10 %, drafts 30 %, battery 10 %; each with the text and code of a corpus request, the code repeated to 20,000 characters in 20 %',
    routes,
    targets: TARGETS,
    ms: {
      policy,
      featuresReferencePolicy: reference,
      featuresOnnxInProcessPolicy: onnxStats,
      featuresEngineWorkerPolicy: worker.stats,
    },
    onnx: { provider: onnx.providers.join(', '), loadMs: r4(onnxLoadMs), maxAbsDiffVsReference: maxDiff },
    engineWorker: {
      provider: worker.provider,
      firstRouteMs: r4(worker.firstRouteMs),
      routerLoadMs: worker.routerLoadMs,
      note: 'first route = worker spawn + onnxruntime-node load + one request; timed requests exclude it',
    },
    met,
  };
  writeResult('router', result);
  const line = (name: string, s: Stats, target: number, ok: boolean) =>
    `${name.padEnd(46)} p50 ${s.p50.toFixed(4)} ms  p99 ${s.p99.toFixed(4)} ms  max ${s.max.toFixed(3)} ms  (n ${s.n}; target p99 < ${target} ms: ${ok ? 'met' : 'NOT met'})`;
  console.log(
    [
      `router decision latency on ${result.machine.cpu} (${result.machine.logicalCores} cores), node ${result.machine.node}; routes ${JSON.stringify(routes)}`,
      line('policy (decideRoute)', policy, TARGETS.policyP99Ms, met.policy),
      line('features + TS in-process + policy', reference, TARGETS.withClassifierP99Ms, met.referenceClassifier),
      line(`features + ONNX in-process (${result.onnx.provider}) + policy`, onnxStats, TARGETS.withClassifierP99Ms, met.onnxInProcess),
      line(`features + engine worker (${worker.provider}) + policy`, worker.stats, TARGETS.withClassifierP99Ms, met.engineWorker),
      `onnx load ${result.onnx.loadMs} ms; worker first route ${result.engineWorker.firstRouteMs} ms (spawn + load); max |onnx - reference| ${maxDiff.toExponential(2)}`,
      'wrote bench/results/router.json',
    ].join('\n'),
  );
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : e);
  process.exitCode = 1;
});
