// Efficiency Mode under load (`npm run bench -- priority`, Linux): the real engine worker generating without pause,
// started at normal priority (efficiencyMode 'off') and at low priority ('always'), each alone and beside CPU hogs
// (busy loops in child processes of this script, one per logical core: the user's build, say). Records the hogs'
// throughput, the worker's tokens/s and request times, and the priorities read back from the OS (os.getPriority
// of every process, the nice of the worker's session group). Writes bench/results/priority.json.
//   node out/bench/priority.js [--seconds 10] [--hogs N] [--max-tokens 32] [--model PATH]
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import type { EfficiencyMode } from '../src/core/power/efficiency';
import { EngineClient } from '../src/engine/client';
import type { ModelConfig } from '../src/engine/llama/engine';
import { testModels } from '../test/support/models';
import { machine, round, spread, writeResult } from './util';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    hogs: { type: 'string', default: String(os.availableParallelism()) },
    'max-tokens': { type: 'string', default: '32' },
    model: { type: 'string' },
  },
});
const SECONDS = Number(values.seconds);
const HOGS = Number(values.hogs);
const MAX_TOKENS = Number(values['max-tokens']);
const PROMPT = 'Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day,';

// A hog counts units of work (10,000 square roots) between 'start' and 'stop', yielding every 20 ms to hear them;
// it exits when told or when this script goes away.
const HOG = `let units = 0, t0 = performance.now();
process.on('message', (m) => {
  if (m === 'start') { units = 0; t0 = performance.now(); }
  else if (m === 'stop') process.send({ units, ms: performance.now() - t0 });
  else process.exit(0);
});
process.on('disconnect', () => process.exit(0));
(function spin() {
  for (const end = performance.now() + 20; performance.now() < end; units++) for (let i = 0; i < 1e4; i++) Math.sqrt(i);
  setImmediate(spin);
})();`;

interface Hog {
  readonly child: ChildProcess;
  readonly report: Promise<{ units: number; ms: number }>;
}

function startHogs(n: number): Hog[] {
  return Array.from({ length: n }, () => {
    const child = spawn(process.execPath, ['-e', HOG], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    const report = new Promise<{ units: number; ms: number }>((resolve) => child.once('message', (m) => resolve(m as { units: number; ms: number })));
    return { child, report };
  });
}

/** The nice of a process's session group (autogroup), null where the kernel has none. */
function groupNice(pid: number): number | null {
  const file = `/proc/${pid}/autogroup`;
  const m = existsSync(file) ? /\bnice (-?\d+)/.exec(readFileSync(file, 'utf8')) : null;
  return m ? Number(m[1]) : null;
}

interface Worker {
  readonly mode: EfficiencyMode;
  readonly client: EngineClient;
  readonly config: ModelConfig;
  readonly pid: number;
}

async function startWorker(mode: EfficiencyMode, config: ModelConfig): Promise<Worker> {
  const stateDir = mkdtempSync(path.join(os.tmpdir(), 'verdant-bench-priority-'));
  const client = new EngineClient({
    stateDir,
    workerScript: path.resolve('dist/engine-worker.js'),
    clientName: 'bench',
    idleMs: 5000,
    efficiencyMode: () => mode,
  });
  await client.load(config, 'background');
  return { mode, client, config, pid: client.workerPid! };
}

/** Generates one request after another until `until` (performance.now()); the last one may run past it. */
async function generateUntil(w: Worker, until: number) {
  const ms: number[] = [];
  let tokens = 0;
  const t0 = performance.now();
  while (performance.now() < until) {
    const r = await w.client.generate(
      w.config,
      { kind: 'completion', prompt: PROMPT, maxTokens: MAX_TOKENS, sessionKey: 'bench' },
      { purpose: 'background' },
    );
    tokens += r.timing.generatedTokens;
    ms.push(r.timing.totalMs);
  }
  const seconds = (performance.now() - t0) / 1000;
  return {
    requests: ms.length,
    generatedTokens: tokens,
    seconds: round(seconds, 2),
    tokensPerSecond: round(tokens / seconds, 1),
    requestMs: spread(ms, 1),
  };
}

/** One phase: the worker (if any) generating and the hogs (if any) spinning for SECONDS, measured over the same span. */
async function phase(name: string, worker: Worker | undefined, hogCount: number) {
  const hogs = startHogs(hogCount);
  await new Promise((r) => setTimeout(r, 500)); // the hogs' start-up is not measured
  const priorities = {
    bench: os.getPriority(),
    hogs: hogs.map((h) => os.getPriority(h.child.pid!)),
    worker: worker ? { nice: os.getPriority(worker.pid), group: groupNice(worker.pid), status: (await worker.client.status()).priority } : null,
  };
  for (const h of hogs) h.child.send('start');
  const end = performance.now() + SECONDS * 1000;
  const generated = worker ? await generateUntil(worker, end) : await new Promise((r) => setTimeout(r, SECONDS * 1000)).then(() => null);
  for (const h of hogs) h.child.send('stop');
  const reports = await Promise.all(hogs.map((h) => h.report));
  for (const h of hogs) h.child.send('exit');
  const hogUnitsPerSecond = reports.reduce((s, r) => s + r.units / (r.ms / 1000), 0);
  console.log(
    `${name}: ${generated ? `worker at ${priorities.worker?.nice} ${generated.tokensPerSecond} tok/s` : 'no worker'}, ${hogCount ? `hogs ${round(hogUnitsPerSecond, 0)} units/s` : 'no hogs'}`,
  );
  return {
    name,
    workerMode: worker?.mode ?? null,
    hogs: hogCount,
    priorities,
    hogUnitsPerSecond: hogCount ? round(hogUnitsPerSecond, 1) : null,
    worker: generated,
  };
}

async function main(): Promise<void> {
  if (process.platform !== 'linux') throw new Error('the priority bench reads /proc: run it on Linux');
  const model = values.model ?? (await testModels()).base;
  const config: ModelConfig = { modelPath: model, gpu: 'cpu', threads: 1, contextSize: 512, sequences: 1 };
  const loadBefore = os.loadavg();
  const normal = await startWorker('off', config);
  const low = await startWorker('always', config);
  try {
    const hogsAlone = await phase('hogs alone', undefined, HOGS);
    const normalAlone = await phase('normal worker alone', normal, 0);
    const lowAlone = await phase('low worker alone', low, 0);
    const normalBusy = await phase('normal worker beside the hogs', normal, HOGS);
    const lowBusy = await phase('low worker beside the hogs', low, HOGS);
    const share = (x: number | null | undefined, of: number | null | undefined) => (x != null && of ? round(x / of, 3) : null);
    writeResult('priority', {
      date: new Date().toISOString(),
      machine: machine(),
      loadAverage: { before: loadBefore.map((x) => round(x, 2)), after: os.loadavg().map((x) => round(x, 2)) },
      model: path.basename(model),
      threads: config.threads,
      maxTokens: MAX_TOKENS,
      secondsPerPhase: SECONDS,
      autogroup: existsSync('/proc/sys/kernel/sched_autogroup_enabled')
        ? readFileSync('/proc/sys/kernel/sched_autogroup_enabled', 'utf8').trim() === '1'
        : null,
      phases: [hogsAlone, normalAlone, lowAlone, normalBusy, lowBusy],
      // Each as a fraction of the same thing without the other: the hogs beside each worker vs the hogs alone, and
      // the worker beside the hogs vs that worker alone.
      summary: {
        hogThroughputBesideNormal: share(normalBusy.hogUnitsPerSecond, hogsAlone.hogUnitsPerSecond),
        hogThroughputBesideLow: share(lowBusy.hogUnitsPerSecond, hogsAlone.hogUnitsPerSecond),
        workerSpeedAloneLowVsNormal: share(lowAlone.worker?.tokensPerSecond, normalAlone.worker?.tokensPerSecond),
        workerSpeedBesideHogsNormal: share(normalBusy.worker?.tokensPerSecond, normalAlone.worker?.tokensPerSecond),
        workerSpeedBesideHogsLow: share(lowBusy.worker?.tokensPerSecond, lowAlone.worker?.tokensPerSecond),
      },
    });
    await normal.client.shutdownWorker();
    await low.client.shutdownWorker();
  } finally {
    normal.client.dispose();
    low.client.dispose();
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
