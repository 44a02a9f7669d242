// Deferred jobs from the command line (#23): `verdant jobs` lists the queues (the CLI's, from `run-when-clean
// --detach`, and the extension's) with each job's OS scheduler entry; `verdant jobs cancel ID` cancels a queued job
// and removes its entry; `verdant run-queued-job ID` is what an entry runs at the job's time.
import { closeSync, openSync, promises as fs } from 'node:fs';
import { spawn } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import { sciForDeferredJob } from '../core/carbon/jobRecord';
import { Ledger } from '../core/carbon/ledger';
import { detectDevice, osFacts } from '../core/carbon/energy/devices';
import { RaplMeter } from '../core/carbon/energy/rapl';
import { entryFor, OsHandoff, type Launcher } from '../core/scheduling/osHandoff';
import { osSchedulerOnce } from '../core/scheduling/osScheduler';
import { JobQueue, JobQueueError, type Job } from '../core/scheduling/queue';
import { runQueuedJob } from '../core/scheduling/queuedJobRun';
import { dueAt } from '../core/scheduling/scheduler';
import { engineFlags, UsageError } from './args';
import { runQueuedTask } from './queuedTask';
import { modelFlags } from '../core/localRoles';
import { GPU_CHOICES } from '../core/settings';
import type { Command } from './command';
import { defaultStateDir } from './paths';

/** Where the CLI's own jobs wait (unsigned: the CLI cannot read the extension's key), beside the extension's `jobs`. */
export const CLI_QUEUE = 'cli-jobs';
export const EXTENSION_QUEUE = 'jobs';

/** How an OS entry starts this CLI again: the same Node (or Electron as Node) and the same script. */
export function selfLauncher(env: NodeJS.ProcessEnv = process.env): Launcher {
  const script = process.argv[1];
  if (!script) throw new Error('cannot tell where the verdant script is (process.argv[1] is empty).');
  return { program: process.execPath, script: path.resolve(script), env: env.ELECTRON_RUN_AS_NODE ? { ELECTRON_RUN_AS_NODE: '1' } : {} };
}

/** Runs the job's command with its output in `log`, at low priority; SIGINT/SIGTERM stop it. */
function runShell(job: Job, log: string): Promise<number | null> {
  if (job.spec.kind !== 'shell') return Promise.reject(new Error('only shell jobs run here'));
  const spec = job.spec;
  return new Promise((resolve, reject) => {
    const fd = openSync(log, 'a', 0o600);
    const env = { ...process.env };
    delete env.ELECTRON_RUN_AS_NODE; // the job's own programs are not VS Code's Electron
    const options = { cwd: spec.cwd, env, stdio: ['ignore', fd, fd] as ['ignore', number, number], windowsHide: true };
    const [program, ...args] = spec.argv ?? [];
    const child = program !== undefined ? spawn(program, args, options) : spawn(spec.command, { ...options, shell: true });
    closeSync(fd);
    if (child.pid !== undefined) {
      try {
        os.setPriority(child.pid, 10); // below normal, as the engine's Efficiency Mode: the user may be back meanwhile
      } catch {
        // not allowed here: it runs at the scheduler's priority (at: nice 10, systemd: Nice=10, Task Scheduler: 7)
      }
    }
    const stop = () => child.kill();
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
    child.on('error', (e) => {
      if (child.pid === undefined) reject(new Error(`could not start ${program ?? spec.command}: ${e.message}`));
    });
    child.on('exit', (code, signal) => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      resolve(code ?? (signal ? null : 1));
    });
  });
}

export const runQueuedJobCommand: Command = {
  summary: "run a deferred job at its time (what the OS scheduler's entry runs)",
  usage: 'verdant run-queued-job ID --queue DIR --sha256 DIGEST [--ledger DIR] [--model PATH [--gpu G] [--threads N]]',
  flags: {
    queue: { type: 'string', value: 'DIR', description: 'the queue folder holding the job' },
    sha256: { type: 'string', value: 'DIGEST', description: 'what the job ran was when it was handed over: a changed job is not run' },
    ledger: { type: 'string', value: 'DIR', description: 'carbon ledger for its record (default: the ledger beside the queue)' },
    model: {
      type: 'string',
      value: 'PATH',
      description: 'the local GGUF model a palette task runs on (without it, a palette task waits for VS Code)',
    },
    gpu: { type: 'string', value: 'G', description: `with --model: ${GPU_CHOICES.join(', ')} (default auto)` },
    threads: { type: 'string', value: 'N', description: 'with --model: CPU threads (default 0: automatic)' },
  },
  async run({ flags, positionals, io }) {
    const [id] = positionals;
    if (id === undefined) throw new UsageError('which job? verdant run-queued-job ID --queue DIR --sha256 DIGEST');
    if (typeof flags.queue !== 'string' || typeof flags.sha256 !== 'string') throw new UsageError('--queue and --sha256 are required.');
    const queueDir = flags.queue;
    const queue = new JobQueue({ dir: queueDir });
    const ledgerDir = typeof flags.ledger === 'string' ? flags.ledger : path.join(path.dirname(queueDir), 'ledger');
    const { gpu, threads } = engineFlags(flags);
    const modelPath = typeof flags.model === 'string' && flags.model !== '' ? flags.model : undefined;
    const handoff = new OsHandoff({
      scheduler: osSchedulerOnce(),
      queueDir,
      launcher: selfLauncher(),
      delayMs: 0,
      wake: () => false,
      // An entry moved to the job's time keeps the model it named.
      taskModel: () => (modelPath ? modelFlags({ modelPath, gpu, threads }) : undefined),
      log: (m) => io.err(`verdant: ${m}`),
    });
    const result = await runQueuedJob({
      queue,
      id,
      digest: flags.sha256,
      now: Date.now,
      owner: { pid: process.pid, host: os.hostname() },
      runShell,
      ...(modelPath && {
        runTask: (job: Job) =>
          runQueuedTask(job, { modelPath, gpu, threads }, { resultFile: queue.resultPath(job.id), editsFile: queue.editsPath(job.id), ledgerDir }),
      }),
      meter: new RaplMeter(),
      record: (job, run) => new Ledger({ dir: ledgerDir }).append(sciForDeferredJob(job, run, detectDevice(osFacts(), 'cpu'))),
      withdraw: () => handoff.withdraw(id),
      // Moved to when it is due, the wake setting it had is not known here: it does not wake the machine.
      reschedule: async (job) => void (await handoff.handOff(job)),
      note: (line) => fs.appendFile(queue.logPath(id), `${line}\n`, { mode: 0o600 }),
    });
    // Exit 1 when the job was refused or failed (a systemd unit shows it failed); its own exit code is in the queue.
    if (result.outcome === 'changed' || (result.outcome === 'ran' && result.exitCode !== 0)) throw new Error(result.message);
    io.err(`verdant: ${result.message}`);
    return undefined;
  },
  format: () => '',
};

interface Listed {
  readonly id: string;
  readonly queue: 'cli' | 'extension';
  readonly label: string;
  readonly state: Job['state'];
  readonly start: string;
  readonly deadline: string;
  readonly exitCode?: number | null;
  readonly error?: string;
  /** Whether the OS scheduler holds an entry for it (null: no OS scheduler here). */
  readonly osEntry: boolean | null;
  readonly log?: string;
}

function stateDirOf(flags: Readonly<Record<string, string | boolean | undefined>>): string {
  return typeof flags.state === 'string' ? flags.state : defaultStateDir();
}

async function listQueues(stateDir: string): Promise<{ jobs: (Job & { queue: 'cli' | 'extension'; dir: string })[]; problems: string[] }> {
  const jobs: (Job & { queue: 'cli' | 'extension'; dir: string })[] = [];
  const problems: string[] = [];
  for (const [queue, name] of [
    ['cli', CLI_QUEUE],
    ['extension', EXTENSION_QUEUE],
  ] as const) {
    const dir = path.join(stateDir, name);
    // Without a signer: the extension's files carry signatures only it can check, and nothing listed here is run.
    const listed = await new JobQueue({ dir }).list();
    jobs.push(...listed.jobs.map((j) => ({ ...j, queue, dir })));
    problems.push(...listed.problems);
  }
  return { jobs, problems };
}

export const jobsCommand: Command = {
  summary: 'list deferred jobs and their OS scheduler entries; `jobs cancel ID` cancels one',
  usage: 'verdant jobs [cancel ID] [--state DIR] [--json]',
  flags: {
    state: {
      type: 'string',
      value: 'DIR',
      description: "the extension's global storage folder (default: found like the ledger, or $VERDANT_STATE_DIR)",
    },
  },
  async run({ flags, positionals, io }) {
    const stateDir = stateDirOf(flags);
    // `jobs cancel ID`
    const [action, id] = positionals;
    const scheduler = await osSchedulerOnce()();
    const sched = 'unavailable' in scheduler ? undefined : scheduler;
    if (action === 'cancel') {
      if (id === undefined) throw new UsageError('which job? verdant jobs cancel ID (see verdant jobs)');
      const { jobs } = await listQueues(stateDir);
      const job = jobs.find((j) => j.id === id);
      if (!job) throw new JobQueueError('not-found', `There is no job ${id} in ${stateDir}: see verdant jobs.`);
      const cancelled = await new JobQueue({ dir: job.dir }).cancel(id);
      await sched?.remove(id);
      return { cancelled: { id, label: cancelled.spec.label, state: cancelled.state, entryRemovedFrom: sched?.kind ?? null } };
    }
    if (action !== undefined) throw new UsageError(`unknown action "${action}": verdant jobs [cancel ID]`);
    const { jobs, problems } = await listQueues(stateDir);
    for (const p of problems) io.err(`verdant: ${p}`);
    const entries = sched ? new Set(await sched.list()) : undefined;
    const listed: Listed[] = jobs.map((j) => ({
      id: j.id,
      queue: j.queue,
      label: j.spec.label,
      state: j.state,
      start: new Date(j.state === 'queued' ? dueAt(j) : (j.startedAt ?? j.plan.start)).toISOString(),
      deadline: new Date(j.deadline).toISOString(),
      ...(j.exitCode !== undefined && { exitCode: j.exitCode }),
      ...(j.error !== undefined && { error: j.error }),
      osEntry: entries ? entries.has(j.id) : null,
      ...(j.queue === 'cli' || j.spec.kind === 'shell' ? { log: new JobQueue({ dir: j.dir }).logPath(j.id) } : {}),
    }));
    return { scheduler: sched ? sched.kind : null, ...('unavailable' in scheduler && { unavailable: scheduler.unavailable }), jobs: listed };
  },
  format: (r) => {
    const { scheduler, unavailable, jobs, cancelled } = r as {
      scheduler: string | null;
      unavailable?: string;
      jobs: Listed[];
      cancelled?: { id: string; label: string; entryRemovedFrom: string | null };
    };
    if (cancelled)
      return `cancelled job ${cancelled.id} (${cancelled.label})${cancelled.entryRemovedFrom ? `; its ${cancelled.entryRemovedFrom} entry is removed` : ''}`;
    const lines = [scheduler ? `OS scheduler: ${scheduler}` : `no OS scheduler: ${unavailable}`];
    if (jobs.length === 0) lines.push('no deferred jobs');
    for (const j of jobs) {
      const end = j.exitCode !== undefined ? `, exit ${j.exitCode ?? 'none'}` : '';
      const entry = j.osEntry === null ? '' : j.state === 'queued' ? (j.osEntry ? ', OS entry' : ', no OS entry') : '';
      lines.push(`${j.id}  ${j.state.padEnd(11)} ${j.start}  ${j.label}  (${j.queue}${end}${entry})`);
    }
    return lines.join('\n');
  },
};

/** `run-when-clean --detach`: queues the command in the CLI's queue and hands it to the OS scheduler. */
export async function detach(options: {
  stateDir: string;
  add: (queue: JobQueue) => Promise<Job>;
}): Promise<{ id: string; start: string; scheduler: string; queue: string }> {
  const scheduler = await osSchedulerOnce()();
  if ('unavailable' in scheduler) throw new Error(`cannot detach: ${scheduler.unavailable} Run it without --detach to wait here.`);
  const dir = path.join(options.stateDir, CLI_QUEUE);
  const queue = new JobQueue({ dir });
  const job = await options.add(queue);
  try {
    await scheduler.register(entryFor(job, dir, selfLauncher(), { now: Date.now(), delayMs: 0, wake: false }));
  } catch (e) {
    await queue.cancel(job.id).catch(() => undefined);
    throw e;
  }
  return { id: job.id, start: new Date(dueAt(job)).toISOString(), scheduler: scheduler.kind, queue: dir };
}
