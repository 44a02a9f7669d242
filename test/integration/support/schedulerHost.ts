// One "window" for the scheduler process tests: a Scheduler over a queue folder whose run() spawns the job's shell
// command, as the extension and the CLI do. Built by esbuild.mjs next to the tests (out/test/integration/support/).
//   env VERDANT_JOBS_DIR       the queue folder (required)
//       VERDANT_CLOCK_OFFSET_MS added to Date.now(): makes a job planned hours ahead due in a second
//       VERDANT_POLL_MS         the scheduler's poll (default 200)
//       VERDANT_MAX_CONCURRENT  jobs at once (default 1)
// stdout: one JSON line per event: {"type":"ready"} once started, then {"type":"started"|"finished"|..., "id", "state"}.
// SIGTERM: dispose(abort) and exit 0.
import { spawn } from 'node:child_process';
import * as os from 'node:os';
import { pidAlive } from '../../../src/engine/lock';
import { JobQueue } from '../../../src/core/scheduling/queue';
import { Scheduler } from '../../../src/core/scheduling/scheduler';

const dir = process.env.VERDANT_JOBS_DIR;
if (!dir) throw new Error('VERDANT_JOBS_DIR is not set');
const offset = Number(process.env.VERDANT_CLOCK_OFFSET_MS ?? 0);
const now = () => Date.now() + offset;
const say = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`);

const queue = new JobQueue({ dir, now });
const scheduler = new Scheduler({
  queue,
  now,
  setTimer: (fn, ms) => {
    const t = setTimeout(fn, Math.min(ms, 2 ** 31 - 1));
    return { cancel: () => clearTimeout(t) };
  },
  forecast: async (zone) => ({ zone, source: 'embedded', signal: 'average', pointMinutes: 60, points: [] }),
  run: (job, signal) =>
    new Promise((resolve, reject) => {
      if (job.spec.kind !== 'shell') return reject(new Error(`this host runs shell jobs only, not ${job.spec.kind}`));
      const child = spawn(job.spec.command, { shell: true, cwd: job.spec.cwd, stdio: 'ignore', signal });
      child.on('error', (e) => {
        if (e.name !== 'AbortError') reject(e);
      });
      child.on('close', (code) => resolve({ exitCode: code }));
    }),
  owner: { pid: process.pid, host: os.hostname(), session: `host-${process.pid}` },
  isAlive: pidAlive,
  onEvent: (e) => say({ type: e.type, id: e.job.id, state: e.job.state }),
  log: (msg) => say({ type: 'log', msg }),
  pollMs: Number(process.env.VERDANT_POLL_MS ?? 200),
  maxConcurrent: Number(process.env.VERDANT_MAX_CONCURRENT ?? 1),
});

process.on('SIGTERM', () => {
  void scheduler.dispose(true).then(() => process.exit(0));
});

scheduler.start().then(
  () => say({ type: 'ready', pid: process.pid }),
  (e) => {
    process.stderr.write(String(e instanceof Error ? e.stack : e));
    process.exit(1);
  },
);
