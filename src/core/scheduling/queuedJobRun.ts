// `verdant run-queued-job <id>`: what an OS scheduler entry runs at a deferred job's time (#23). It runs the job only
// when it is still queued and still what the entry was made for (the digest on the entry's command line), claims
// it like any VS Code window would (so it starts at most once), runs the command with its output in the job's log,
// records the exit code in the queue and a record in the carbon ledger, and removes its own entry. A job that is
// gone, already ran, was cancelled or changed is not run, and its entry is removed. Everything outside is injected.
import { dueAt } from './scheduler';
import { specDigest } from './osEntries';
import { OS_SESSION, runsOutsideVsCode } from './osHandoff';
import type { Job, JobOwner, JobQueue } from './queue';
import type { JobRun } from '../carbon/jobRecord';
import { errorMessage } from '../errors';

/** An entry that fires this much before its job is due (a replan moved the job while no one moved the entry) waits. */
const EARLY_SLACK_MS = 60_000;

export type QueuedJobOutcome = 'ran' | 'gone' | 'not-queued' | 'changed' | 'not-here' | 'early';

export interface QueuedJobRunDeps {
  readonly queue: JobQueue;
  readonly id: string;
  /** specDigest of the job as it was handed to the OS scheduler. */
  readonly digest: string;
  readonly now: () => number;
  readonly owner: Omit<JobOwner, 'session'>;
  /** Runs the job's command; its exit code (null: killed). `log` is the job's output file. */
  runShell(job: Job, log: string): Promise<number | null>;
  /**
   * Runs a palette task's inference on the local model the entry names, writes its result beside the job and
   * records it in the ledger; 0 when done. Absent when the entry names no local model: the task waits for a window.
   */
  readonly runTask?: (job: Job, log: string) => Promise<number | null>;
  /** Measures package energy over the run where the machine lets it (RaplMeter). */
  readonly meter?: { start(): Promise<boolean>; stop(): Promise<{ readonly joules: number } | null> };
  /** Appends the job's carbon record; failures are said, not fatal. */
  record(job: Job, run: JobRun): Promise<void>;
  /** Removes this job's OS entry (when it ran or will never run). */
  withdraw(): Promise<void>;
  /** Moves this job's OS entry to when the job is due (it fired early). */
  reschedule(job: Job): Promise<void>;
  /** Appends a line to the job's log. */
  note(line: string): Promise<void>;
}

export interface QueuedJobResult {
  readonly outcome: QueuedJobOutcome;
  readonly message: string;
  readonly exitCode?: number | null;
}

export async function runQueuedJob(deps: QueuedJobRunDeps): Promise<QueuedJobResult> {
  const done = async (outcome: QueuedJobOutcome, message: string): Promise<QueuedJobResult> => {
    await deps.note(`verdant: ${message}`).catch(() => undefined);
    await deps.withdraw().catch(() => undefined);
    return { outcome, message };
  };
  const job = await deps.queue.get(deps.id);
  if (!job) return done('gone', `job ${deps.id} is not in the queue (cancelled and pruned?): nothing to run.`);
  if (job.state !== 'queued') return done('not-queued', `job ${job.id} (${job.spec.label}) is ${job.state}: it is not run again.`);
  if (specDigest(job.spec) !== deps.digest)
    return done(
      'changed',
      `job ${job.id} was changed after it was handed to the OS scheduler (its file no longer matches): it is not run. Queue it again.`,
    );
  const runHere = runsOutsideVsCode(job) && (job.spec.kind === 'shell' || deps.runTask !== undefined);
  if (!runHere) return done('not-here', `job ${job.id} (${job.spec.label}) runs only in a VS Code window of its workspace.`);
  const now = deps.now();
  if (now < dueAt(job) - EARLY_SLACK_MS) {
    await deps.reschedule(job);
    const message = `job ${job.id} is due at ${new Date(dueAt(job)).toISOString()}, not now: its entry was moved there.`;
    await deps.note(`verdant: ${message}`).catch(() => undefined);
    return { outcome: 'early', message };
  }
  const claimed = await deps.queue.claim(job.id, { ...deps.owner, session: OS_SESSION });
  if (!claimed) return done('not-queued', `job ${job.id} was taken by another process a moment ago.`);
  const log = deps.queue.logPath(job.id);
  await deps.note(`verdant: ${new Date(now).toISOString()}: running ${job.spec.label} (planned: ${job.plan.reason})`).catch(() => undefined);
  let exitCode: number | null = null;
  let error: string | undefined;
  const metering = (await deps.meter?.start().catch(() => false)) ?? false;
  try {
    exitCode = claimed.spec.kind === 'shell' ? await deps.runShell(claimed, log) : await deps.runTask!(claimed, log);
  } catch (e) {
    error = errorMessage(e);
  }
  const endedAt = deps.now();
  const measured = metering ? await deps.meter?.stop().catch(() => null) : null;
  const state = error === undefined && exitCode === 0 ? 'done' : 'failed';
  await deps.queue.finish(job.id, {
    state,
    exitCode,
    ...(state === 'failed' && { error: error ?? (exitCode === null ? 'It was killed before it finished.' : `It exited with code ${exitCode}.`) }),
  });
  // A task's model call wrote its own record (ModelCalls); a shell job's is made here.
  const run: JobRun = { startedAt: now, endedAt, exitCode, ...(measured && { measuredJoules: measured.joules }) };
  if (claimed.spec.kind === 'shell')
    await deps.record(claimed, run).catch((e: unknown) => deps.note(`verdant: no carbon record: ${errorMessage(e)}`));
  const message = `job ${job.id} (${job.spec.label}) ${state}${error ? `: ${error}` : `, exit code ${exitCode ?? 'none (killed)'}`}`;
  return { ...(await done('ran', message)), exitCode };
}
