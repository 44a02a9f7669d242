// The carbon-aware scheduler loop over a JobQueue: queue a deferrable job for the cleanest window of the grid
// forecast before its deadline (plan.ts), start it when that window comes, replan as forecasts change. Every VS Code
// window (and the CLI) may run one over the same queue folder; the queue's claim makes each job start at most once.
// Everything outside is injected (clock, timers, forecast, how a job runs), so the loop is testable with a fake clock.
//
// Time: the clock (now()) says when a job is due; timers only say when to look again. The next wake-up is the
// earliest due time, and never later than pollMs (jobs queued by other processes, and a clock that moved while we
// slept, are seen within one poll). A clock that jumps backwards just delays a job to the next look; one that jumps
// forwards makes jobs due, and they start once, because only a claim starts a job.
import type { IntensityForecast } from '../carbon/types';
import { hasRealForecast, planJob } from './plan';
import { JobQueueError, jobSpecProblem, type Job, type JobOwner, type JobQueue, type JobSpec, type FinishResult } from './queue';
import { errorMessage } from '../errors';

const MINUTE = 60_000;

export type SchedulerEventType = 'queued' | 'started' | 'finished' | 'replanned' | 'interrupted' | 'cancelled';

export interface SchedulerEvent {
  readonly type: SchedulerEventType;
  readonly job: Job;
}

export interface TimerHandle {
  cancel(): void;
}

export interface SchedulerDeps {
  readonly queue: JobQueue;
  /** Epoch ms. */
  now(): number;
  setTimer(fn: () => void, ms: number): TimerHandle;
  forecast(zone: string): Promise<IntensityForecast>;
  /** Runs the job; a non-zero exit code (or null: killed) makes it 'failed'. Should stop soon after `signal` aborts. */
  run(job: Job, signal: AbortSignal): Promise<{ exitCode: number | null }>;
  readonly owner: JobOwner;
  isAlive(pid: number): boolean;
  /** Whether this process should take a due job (e.g. a window leaving another window's job to it for a while). */
  mayRun?(job: Job): boolean;
  onEvent?(e: SchedulerEvent): void;
  log?(msg: string): void;
  /** Longest sleep between looks at the queue (default 60 s). */
  readonly pollMs?: number;
  /** How often queued jobs are planned again on a fresh forecast (default 30 min). */
  readonly replanMs?: number;
  /** Jobs this process runs at once (default 1: deferred jobs are the heavy ones); runNow() is not counted. */
  readonly maxConcurrent?: number;
}

export interface EnqueueOptions {
  /** The job must have finished this many minutes from now. */
  readonly within: number;
  readonly durationMinutes: number;
  readonly zone: string;
}

interface Active {
  readonly job: Job;
  readonly controller: AbortController;
  readonly done: Promise<void>;
}

/** When a queued job must start: its planned start, or the last moment to finish before its deadline. */
export function dueAt(job: Pick<Job, 'plan' | 'deadline' | 'durationMinutes'>): number {
  return Math.min(job.plan.start, job.deadline - job.durationMinutes * MINUTE);
}

function noForecast(zone: string, reason: string): IntensityForecast {
  return { zone, source: 'embedded', signal: 'average', pointMinutes: 60, points: [], fallbackReason: reason };
}

export class Scheduler {
  private readonly pollMs: number;
  private readonly replanMs: number;
  private readonly maxConcurrent: number;
  private readonly active = new Map<string, Active>();
  private timer: TimerHandle | undefined;
  private running = false;
  private disposed = false;
  private lastReplan: number | undefined;
  /** tick() and replan() run one at a time, in call order. */
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly deps: SchedulerDeps) {
    this.pollMs = positive(deps.pollMs, 60_000, 'pollMs');
    this.replanMs = positive(deps.replanMs, 30 * MINUTE, 'replanMs');
    this.maxConcurrent = deps.maxConcurrent === undefined ? 1 : Math.max(1, Math.floor(deps.maxConcurrent));
  }

  /** Marks jobs of dead owners on this host interrupted, then looks at the queue and keeps looking. */
  async start(): Promise<void> {
    if (this.disposed) throw new Error('The scheduler was disposed; create a new one.');
    if (this.running) return;
    this.running = true;
    this.lastReplan ??= this.deps.now();
    try {
      for (const job of await this.deps.queue.recover((pid) => this.deps.isAlive(pid), this.deps.owner.host)) {
        this.log(`job ${job.id} (${job.spec.label}) was running in a process that ended: marked interrupted, not run again`);
        this.emit('interrupted', job);
      }
    } catch (e) {
      this.log(`could not check for interrupted jobs: ${errorMessage(e)}`);
    }
    await this.tick();
  }

  /** No new job starts here; jobs already running finish and are recorded. start() resumes. */
  stop(): void {
    this.running = false;
    this.timer?.cancel();
    this.timer = undefined;
  }

  /** stop(), and with `abort` the jobs running here are aborted (recorded 'interrupted'); resolves when they ended. */
  async dispose(abort = false): Promise<void> {
    this.stop();
    this.disposed = true;
    const active = [...this.active.values()];
    if (abort) for (const a of active) a.controller.abort();
    await Promise.all(active.map((a) => a.done));
  }

  /** The jobs this process is running now. */
  runningHere(): Job[] {
    return [...this.active.values()].map((a) => a.job);
  }

  /** Resolves when no job started by this scheduler is running. */
  async whenIdle(): Promise<void> {
    while (this.active.size > 0) await Promise.all([...this.active.values()].map((a) => a.done));
  }

  /** Plans the job on the zone's forecast (runs now without one), queues it, and starts it if it is due. */
  async enqueue(spec: JobSpec, options: EnqueueOptions): Promise<Job> {
    if (this.disposed) throw new Error('The scheduler was disposed; nothing can be queued on it.');
    const { within, durationMinutes, zone } = options;
    const specProblem = jobSpecProblem(spec);
    if (specProblem) throw new JobQueueError('bad-input', `Cannot queue the job: ${specProblem}.`);
    if (!(within > 0) || !Number.isFinite(within)) throw new RangeError(`A job must be done within more than 0 minutes, not ${within}.`);
    const now = this.deps.now();
    const deadline = now + within * MINUTE;
    const forecast = await this.fetchForecast(zone);
    const plan = planJob({ forecast, now, durationMinutes, deadline });
    const job = await this.deps.queue.add(spec, { deadline, durationMinutes, zone, plan });
    this.log(`queued job ${job.id} (${job.spec.label}): ${plan.reason}`);
    this.emit('queued', job);
    void this.tick();
    return job;
  }

  /** Starts every due job this process may take (claimed first), then sleeps until the next one is due. */
  tick(): Promise<Job[]> {
    return this.serial(() => this.tickNow());
  }

  /** Plans queued jobs that are not due yet on a new forecast; returns those whose start moved. */
  replan(): Promise<Job[]> {
    return this.serial(() => this.replanNow());
  }

  /** Claims and starts the job now, whatever its plan. */
  async runNow(id: string): Promise<Job> {
    if (this.disposed) throw new Error('The scheduler was disposed; it runs nothing.');
    const claimed = await this.deps.queue.claim(id, this.deps.owner);
    if (!claimed) {
      const job = await this.deps.queue.get(id);
      const state = job ? `${job.state}${job.state === 'running' && job.owner ? ` (pid ${job.owner.pid} on ${job.owner.host})` : ''}` : 'gone';
      throw new JobQueueError('not-queued', `Job ${id} cannot start now: it is ${state}, not queued.`);
    }
    this.launch(claimed);
    return claimed;
  }

  async cancel(id: string): Promise<Job> {
    const job = await this.deps.queue.cancel(id, this.deps.owner);
    this.log(`cancelled job ${id} (${job.spec.label})`);
    this.emit('cancelled', job);
    return job;
  }

  /** A new deadline, with a new plan for it. */
  async setDeadline(id: string, deadline: number): Promise<Job> {
    const job = await this.deps.queue.get(id);
    if (!job) throw new JobQueueError('not-found', `There is no job ${id} (it may have been pruned): see the job list.`);
    if (job.state !== 'queued')
      throw new JobQueueError('not-queued', `Cannot change the deadline of job ${id} (${job.spec.label}): it is ${job.state}, not queued.`);
    const now = this.deps.now();
    const forecast = await this.fetchForecast(job.zone);
    const plan = planJob({ forecast, now, durationMinutes: job.durationMinutes, deadline });
    const updated = await this.deps.queue.setDeadline(id, deadline, plan);
    this.log(`job ${id} (${job.spec.label}) has a new deadline: ${plan.reason}`);
    this.emit('replanned', updated);
    void this.tick();
    return updated;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.chain.then(fn);
    this.chain = result.catch(() => undefined);
    return result;
  }

  private async tickNow(): Promise<Job[]> {
    this.timer?.cancel();
    this.timer = undefined;
    const started: Job[] = [];
    let nextDue = Infinity;
    try {
      nextDue = await this.startDue(started);
      const now = this.deps.now();
      // After starting what is due (a forecast may take seconds). A clock that went backwards also replans: the
      // old plans were made in what is now the future.
      if (this.running && this.lastReplan !== undefined && (now - this.lastReplan >= this.replanMs || now < this.lastReplan)) {
        if ((await this.replanNow()).length > 0) nextDue = await this.startDue(started);
      }
    } catch (e) {
      this.log(`could not read the job queue: ${errorMessage(e)}`);
    } finally {
      this.arm(nextDue);
    }
    return started;
  }

  /** Claims and launches the due jobs this process may take; returns when the next queued job is due. */
  private async startDue(started: Job[]): Promise<number> {
    let nextDue = Infinity;
    const { jobs, problems } = await this.deps.queue.list();
    for (const p of problems) this.log(p);
    for (const job of jobs) {
      if (job.state !== 'queued') continue;
      const due = dueAt(job);
      if (due > this.deps.now()) {
        nextDue = Math.min(nextDue, due);
        continue;
      }
      // Due but not taken here (stopped, busy, left to another window): a finished job or the next poll looks again.
      if (!this.running || this.active.size >= this.maxConcurrent || (this.deps.mayRun && !this.deps.mayRun(job))) continue;
      const claimed = await this.claim(job);
      if (claimed) {
        this.launch(claimed);
        started.push(claimed);
      }
    }
    return nextDue;
  }

  private async claim(job: Job): Promise<Job | undefined> {
    try {
      const claimed = await this.deps.queue.claim(job.id, this.deps.owner);
      if (!claimed) this.log(`job ${job.id} was taken by another process`);
      return claimed;
    } catch (e) {
      if (!(e instanceof JobQueueError && e.code === 'not-found')) this.log(`could not claim job ${job.id}: ${errorMessage(e)}`);
      return undefined;
    }
  }

  private arm(nextDue: number): void {
    if (!this.running || this.disposed) return;
    const now = this.deps.now();
    let wake = now + this.pollMs;
    if (nextDue < wake) wake = nextDue;
    if (this.lastReplan !== undefined && this.lastReplan + this.replanMs < wake && this.lastReplan <= now) wake = this.lastReplan + this.replanMs;
    const delay = Math.max(0, Math.min(this.pollMs, wake - now));
    this.timer?.cancel();
    this.timer = this.deps.setTimer(() => {
      this.timer = undefined;
      void this.tick();
    }, delay);
  }

  private async replanNow(): Promise<Job[]> {
    const now = this.deps.now();
    this.lastReplan = now;
    const moved: Job[] = [];
    let jobs: Job[];
    try {
      jobs = (await this.deps.queue.list()).jobs.filter((j) => j.state === 'queued' && dueAt(j) > now);
    } catch (e) {
      this.log(`could not read the job queue to replan: ${errorMessage(e)}`);
      return moved;
    }
    const zones = new Map<string, Job[]>();
    for (const j of jobs) zones.set(j.zone, [...(zones.get(j.zone) ?? []), j]);
    for (const [zone, zoneJobs] of zones) {
      const forecast = await this.fetchForecast(zone);
      // A failed or flat forecast would make every plan "run now": keep the plans made on a real one.
      if (!hasRealForecast(forecast)) {
        this.log(`no forecast for ${zone || 'the zone'} (${forecast.fallbackReason ?? forecast.source}): plans kept`);
        continue;
      }
      for (const job of zoneJobs) {
        try {
          const plan = planJob({ forecast, now, durationMinutes: job.durationMinutes, deadline: job.deadline });
          // "Run now" without numbers (the forecast does not cover now: a clock gone backwards) is no better plan.
          if (plan.start === job.plan.start || (plan.runNow && plan.windowGPerKWh === null)) continue;
          const updated = await this.deps.queue.replan(job.id, plan);
          if (updated.state !== 'queued') continue; // started meanwhile by another process
          this.log(`job ${job.id} (${job.spec.label}) replanned: ${plan.reason}`);
          this.emit('replanned', updated);
          moved.push(updated);
        } catch (e) {
          if (!(e instanceof JobQueueError && (e.code === 'not-queued' || e.code === 'not-found')))
            this.log(`could not replan job ${job.id}: ${errorMessage(e)}`);
        }
      }
    }
    return moved;
  }

  private launch(job: Job): void {
    const controller = new AbortController();
    this.log(`started job ${job.id} (${job.spec.label})`);
    this.emit('started', job);
    const done = (async () => {
      let result: FinishResult;
      try {
        const { exitCode } = await this.deps.run(job, controller.signal);
        if (controller.signal.aborted)
          result = {
            state: 'interrupted',
            exitCode,
            error: 'It was stopped when Verdant shut down, and is not run again: queue it again to run it.',
          };
        else if (exitCode === 0) result = { state: 'done', exitCode };
        else
          result = { state: 'failed', exitCode, error: exitCode === null ? 'It was killed before it finished.' : `It exited with code ${exitCode}.` };
      } catch (e) {
        result = controller.signal.aborted
          ? { state: 'interrupted', error: `It was stopped when Verdant shut down (${errorMessage(e)}), and is not run again.` }
          : { state: 'failed', error: errorMessage(e) };
      }
      let finished: Job = { ...job, ...result, endedAt: this.deps.now() };
      try {
        finished = await this.deps.queue.finish(job.id, result);
      } catch (e) {
        this.log(`could not record the end of job ${job.id}: ${errorMessage(e)}`);
      }
      this.active.delete(job.id);
      this.log(`job ${job.id} (${job.spec.label}) ${finished.state}${finished.error ? `: ${finished.error}` : ''}`);
      this.emit('finished', finished);
      if (this.running) void this.tick(); // a slot is free
    })();
    this.active.set(job.id, { job, controller, done });
  }

  private async fetchForecast(zone: string): Promise<IntensityForecast> {
    try {
      return await this.deps.forecast(zone);
    } catch (e) {
      this.log(`no forecast for ${zone}: ${errorMessage(e)}`);
      return noForecast(zone, errorMessage(e));
    }
  }

  private emit(type: SchedulerEventType, job: Job): void {
    try {
      this.deps.onEvent?.({ type, job });
    } catch (e) {
      this.log(`an event listener failed: ${errorMessage(e)}`);
    }
  }

  private log(msg: string): void {
    this.deps.log?.(msg);
  }
}

function positive(v: number | undefined, fallback: number, name: string): number {
  if (v === undefined) return fallback;
  if (!(v > 0) || !Number.isFinite(v)) throw new RangeError(`${name} must be more than 0 ms, not ${v}.`);
  return v;
}
