// Hands queued jobs to the operating system's scheduler so that they run at their time even when no VS Code
// window and no `verdant` process is alive (#23). The queue stays the one record of what runs: an OS entry only
// wakes `verdant run-queued-job <id>`, which claims the job like any window would (so it starts at most once) and
// removes the entry when done. Used by the extension (its queue) and by `verdant run-when-clean --detach` (the CLI's).
import { dueAt } from './scheduler';
import { specDigest, type OsEntry } from './osEntries';
import type { OsScheduler } from './osScheduler';
import type { Job } from './queue';
import { isDeferrable } from '../tasks/table';
import { stepsToRun } from '../refactor/steps';
import { errorMessage } from '../errors';

/** How the OS entry starts the CLI: a Node (or VS Code's Electron as Node) and the bundled dist/cli.js. */
export interface Launcher {
  readonly program: string;
  readonly script: string;
  readonly env: Readonly<Record<string, string>>;
}

/** The owner's session of a claim taken by run-queued-job: how a window knows a job ran while it was closed. */
export const OS_SESSION = 'os-scheduler';

export interface EntryOptions {
  readonly delayMs: number;
  readonly wake: boolean;
  readonly loggedOff?: boolean;
  /**
   * Epoch ms: an entry for a job already overdue is made for a few seconds from now (a calendar time in the past
   * would never fire in systemd, and a year later in launchd).
   */
  readonly now?: number;
  /** For a palette task: the local model it runs on (`--model PATH --gpu G --threads N`). */
  readonly taskModel?: readonly string[];
}

const OVERDUE_DELAY_MS = 5_000;

/** The OS entry that runs `job` of the queue in `queueDir`, `delayMs` after it is due. */
export function entryFor(job: Job, queueDir: string, launcher: Launcher, options: EntryOptions): OsEntry {
  return {
    id: job.id,
    at: Math.max(dueAt(job) + options.delayMs, (options.now ?? -Infinity) + OVERDUE_DELAY_MS),
    deadline: job.deadline,
    argv: [
      launcher.program,
      launcher.script,
      'run-queued-job',
      job.id,
      '--queue',
      queueDir,
      '--sha256',
      specDigest(job.spec),
      ...(job.spec.kind === 'task' ? (options.taskModel ?? []) : []),
    ],
    env: launcher.env,
    label: job.spec.label,
    wake: options.wake,
    ...(options.loggedOff && { loggedOff: true }),
  };
}

/**
 * What runs with VS Code closed: a shell job of a trusted origin, and, when a local model goes with it (local only:
 * the cloud needs the window's key and consent), a palette task or a planned refactor's steps (their edits wait for
 * review in the next window).
 */
export function runsWhenClosed(job: Job, taskModel: readonly string[] | undefined): boolean {
  return job.state === 'queued' && runsOutsideVsCode(job) && (job.spec.kind === 'shell' || taskModel !== undefined);
}

/** Whether a job of this kind can run outside VS Code at all (a task also needs a local model to run on). */
export function runsOutsideVsCode(job: Job): boolean {
  return job.spec.kind === 'shell' ? (job.spec.origin?.trusted ?? true) : runsOnTaskModel(job);
}

/**
 * A palette task that may wait, or a planned refactor whose chosen steps are all local (a step the user sent to the
 * cloud needs the window's key and consent): what the local model can run with VS Code closed.
 */
export function runsOnTaskModel(job: Job): boolean {
  if (job.spec.kind !== 'task') return false;
  if (job.spec.task === 'refactor') {
    const plan = stepsToRun(job.spec.payload);
    return plan !== undefined && plan.steps.length > 0 && plan.steps.every((s) => s.route === 'local');
  }
  return isDeferrable(job.spec.task);
}

export interface OsHandoffDeps {
  /** The scheduler, or why there is none (detectOsScheduler: asked once). */
  readonly scheduler: () => Promise<OsScheduler | { readonly unavailable: string }>;
  readonly queueDir: string;
  readonly launcher: Launcher;
  /** After the job is due: an open VS Code window runs its own jobs first (its terminal shows the output). */
  readonly delayMs: number;
  readonly wake: () => boolean;
  /** Task Scheduler: run it also while the user is logged off (verdant.scheduler.runWhenLoggedOff). */
  readonly loggedOff?: () => boolean;
  /** The local model a palette task runs on with VS Code closed (CLI flags), or undefined when there is none it can use. */
  readonly taskModel?: () => readonly string[] | undefined;
  readonly log: (message: string) => void;
}

export class OsHandoff {
  private reported = false;
  constructor(private readonly deps: OsHandoffDeps) {}

  /** The scheduler, or undefined (said once in the log) when this machine has none. */
  async scheduler(): Promise<OsScheduler | undefined> {
    const s = await this.deps.scheduler();
    if ('unavailable' in s) {
      if (!this.reported) this.deps.log(`no OS scheduler: ${s.unavailable}`);
      this.reported = true;
      return undefined;
    }
    return s;
  }

  /** Registers (or moves) the job's entry; withdraws it for a job that does not run when VS Code is closed. */
  async handOff(job: Job): Promise<boolean> {
    const taskModel = job.spec.kind === 'task' ? this.deps.taskModel?.() : undefined;
    if (!runsWhenClosed(job, taskModel)) {
      await this.withdraw(job.id);
      return false;
    }
    const scheduler = await this.scheduler();
    if (!scheduler) return false;
    const entry = entryFor(job, this.deps.queueDir, this.deps.launcher, {
      now: Date.now(),
      delayMs: this.deps.delayMs,
      wake: this.deps.wake(),
      loggedOff: this.deps.loggedOff?.() ?? false,
      ...(taskModel && { taskModel }),
    });
    await scheduler.register(entry);
    this.deps.log(`job ${job.id} (${job.spec.label}) handed to ${scheduler.kind} for ${new Date(entry.at).toISOString()}`);
    return true;
  }

  /** Removes the job's entry, if it has one. */
  async withdraw(id: string): Promise<void> {
    const scheduler = await this.scheduler();
    if (scheduler) await scheduler.remove(id);
  }

  /**
   * Makes the entries match the queue: with `handOver`, every job that runs when closed gets one (a vanished one is
   * made again, an entry made by an older version of the extension points at the current one); the entries of this
   * queue's other jobs (all of them without `handOver`) are removed. Entries of ids this queue does not hold (the
   * other queue's) are left.
   */
  async sync(jobs: readonly Job[], handOver = true): Promise<{ registered: string[]; removed: string[] }> {
    const scheduler = await this.scheduler();
    const done = { registered: [] as string[], removed: [] as string[] };
    if (!scheduler) return done;
    const present = new Set(await scheduler.list());
    for (const job of jobs) {
      try {
        if (handOver && runsWhenClosed(job, job.spec.kind === 'task' ? this.deps.taskModel?.() : undefined)) {
          await this.handOff(job);
          done.registered.push(job.id);
        } else if (present.has(job.id)) {
          await scheduler.remove(job.id);
          done.removed.push(job.id);
        }
      } catch (e) {
        this.deps.log(`could not update the OS entry of job ${job.id}: ${errorMessage(e)}`);
      }
    }
    return done;
  }

  /** Removes every Verdant entry (both queues'); returns how many there were. */
  async removeAll(): Promise<number> {
    const scheduler = await this.scheduler();
    if (!scheduler) return 0;
    const ids = await scheduler.list();
    for (const id of ids) await scheduler.remove(id);
    return ids.length;
  }
}
