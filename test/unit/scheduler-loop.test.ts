// The scheduler loop with a fake clock and fake timers over a real queue folder: when jobs start, what is recorded,
// replanning, clock jumps, and several schedulers on one queue.
import * as assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { IntensityForecast } from '../../src/core/carbon/types';
import { JobQueue, JobQueueError, type Job, type JobSpec } from '../../src/core/scheduling/queue';
import { dueAt, Scheduler, type SchedulerDeps, type SchedulerEvent } from '../../src/core/scheduling/scheduler';

const MIN = 60_000;
const HOUR = 60 * MIN;
const T0 = Date.parse('2026-11-26T08:00:00Z');

/** Half-hour points from T0: `values[i]` for the i-th half hour. */
function forecast(values: number[], from = T0): IntensityForecast {
  return {
    zone: 'GB',
    source: 'uk-carbon-intensity',
    signal: 'average',
    pointMinutes: 30,
    points: values.map((v, i) => ({ at: new Date(from + i * 30 * MIN).toISOString(), gPerKWh: v })),
  };
}
// Dirty until 11:00, clean 11:00-12:00, then dirty again (12 h covered).
const CLEAN_AT_3H = forecast([...Array(6).fill(250), 90, 90, ...Array(16).fill(240)]);
const CLEAN_AT_5H = forecast([...Array(10).fill(250), 60, 60, ...Array(12).fill(240)]);
const shell = (label: string): JobSpec => ({ kind: 'shell', command: `echo ${label}`, label });

interface Harness {
  readonly scheduler: Scheduler;
  readonly queue: JobQueue;
  readonly clock: { t: number };
  readonly events: string[];
  readonly runs: string[];
  readonly delays: number[];
  forecastCalls: number;
  next: IntensityForecast | Error;
  exit: (job: Job, signal: AbortSignal) => Promise<{ exitCode: number | null }>;
}

const made: string[] = [];
function newDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'verdant-sched-'));
  made.push(dir);
  return dir;
}

function harness(dir: string, over: Partial<SchedulerDeps> = {}, clock = { t: T0 }, pid = process.pid): Harness {
  const queue = new JobQueue({ dir, now: () => clock.t });
  const h: Harness = {
    queue,
    clock,
    events: [],
    runs: [],
    delays: [],
    forecastCalls: 0,
    next: CLEAN_AT_3H,
    exit: async () => ({ exitCode: 0 }),
    scheduler: undefined as unknown as Scheduler,
  };
  (h as { scheduler: Scheduler }).scheduler = new Scheduler({
    queue,
    now: () => clock.t,
    setTimer: (_fn, ms) => {
      h.delays.push(ms);
      return { cancel: () => undefined };
    },
    forecast: async () => {
      h.forecastCalls++;
      if (h.next instanceof Error) throw h.next;
      return h.next;
    },
    run: (job, signal) => {
      h.runs.push(job.spec.label);
      return h.exit(job, signal);
    },
    owner: { pid, host: 'laptop', session: `test-${pid}` },
    isAlive: (p) => p === process.pid,
    onEvent: (e: SchedulerEvent) => h.events.push(`${e.type}:${e.job.spec.label}:${e.job.state}`),
    pollMs: 60_000,
    ...over,
  });
  return h;
}

/**
 * Lets every started job finish and every follow-up tick run. A tick the scheduler started on its own may still be
 * claiming a job (disk I/O) when whenIdle() is asked, so this repeats until no job is running or due (bounded).
 */
async function settle(h: Harness): Promise<void> {
  for (let i = 0; i < 400; i++) {
    await h.scheduler.whenIdle();
    await h.scheduler.tick();
    await h.scheduler.whenIdle();
    const { jobs } = await h.queue.list();
    if (!jobs.some((j) => j.state === 'running' || (j.state === 'queued' && dueAt(j) <= h.clock.t))) return;
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('scheduler loop', () => {
  after(() => {
    for (const dir of made) if (path.basename(dir).startsWith('verdant-sched-')) rmSync(dir, { recursive: true, force: true });
  });

  it('queues a job for the clean window, sleeps until then (at most one poll), runs it once, records done', async () => {
    const h = harness(newDir(), { pollMs: 10 * HOUR, replanMs: 10 * HOUR });
    await h.scheduler.start();
    const job = await h.scheduler.enqueue(shell('build'), { within: 8 * 60, durationMinutes: 60, zone: 'GB' });
    assert.equal(job.plan.start, T0 + 3 * HOUR, job.plan.reason);
    assert.equal(job.deadline, T0 + 8 * HOUR);
    await h.scheduler.tick();
    assert.deepEqual(h.runs, []);
    assert.equal(h.delays.at(-1), 3 * HOUR, 'wakes at the planned start');
    h.clock.t = T0 + 3 * HOUR;
    const started = await h.scheduler.tick();
    assert.deepEqual(
      started.map((j) => [j.id, j.state, j.owner?.pid]),
      [[job.id, 'running', process.pid]],
    );
    await settle(h);
    assert.deepEqual(h.runs, ['build']);
    assert.deepEqual(h.events, ['queued:build:queued', 'started:build:running', 'finished:build:done']);
    const done = await h.queue.get(job.id);
    assert.deepEqual([done?.state, done?.exitCode, done?.startedAt], ['done', 0, T0 + 3 * HOUR]);
    await h.scheduler.tick();
    assert.deepEqual(h.runs, ['build'], 'never again');
    h.scheduler.stop();
  });

  it('looks again within pollMs, so jobs queued by other processes are seen', async () => {
    const dir = newDir();
    const h = harness(dir);
    await h.scheduler.start();
    assert.equal(h.delays.at(-1), 60_000, 'an empty queue: one poll');
    const other = harness(dir, {}, h.clock, 4242);
    const job = await other.scheduler.enqueue(shell('theirs'), { within: 8 * 60, durationMinutes: 60, zone: 'GB' });
    await h.scheduler.tick();
    assert.equal(h.delays.at(-1), 60_000, 'the window is 3 h away: still one poll');
    h.clock.t = job.plan.start + 1;
    await h.scheduler.tick();
    await settle(h);
    assert.deepEqual(h.runs, ['theirs']);
    h.scheduler.stop();
  });

  it('a job is due at deadline - duration even when its plan says later', async () => {
    const h = harness(newDir());
    const job = await h.queue.add(shell('late-plan'), {
      deadline: T0 + 2 * HOUR,
      durationMinutes: 60,
      zone: 'GB',
      plan: { ...CLEAN_AT_3H_PLAN(), start: T0 + 5 * HOUR },
    });
    await h.scheduler.start();
    assert.equal(h.delays.at(-1), 60_000);
    h.clock.t = job.deadline - HOUR;
    await h.scheduler.tick();
    await settle(h);
    assert.deepEqual(h.runs, ['late-plan']);
    h.scheduler.stop();
  });

  it('records failures: a non-zero exit, a kill, a thrown error', async () => {
    const h = harness(newDir());
    const outcomes: Record<string, () => Promise<{ exitCode: number | null }>> = {
      three: async () => ({ exitCode: 3 }),
      killed: async () => ({ exitCode: null }),
      boom: async () => {
        throw new Error('spawn /bin/sh ENOENT');
      },
    };
    h.exit = (job) => outcomes[job.spec.label]!();
    h.next = forecast([100]); // flat: run now
    await h.scheduler.start();
    for (const label of Object.keys(outcomes)) {
      await h.scheduler.enqueue(shell(label), { within: 60, durationMinutes: 10, zone: 'GB' });
      await settle(h);
    }
    const { jobs } = await h.queue.list();
    const byLabel = Object.fromEntries(jobs.map((j) => [j.spec.label, [j.state, j.exitCode, j.error]]));
    assert.deepEqual(byLabel, {
      three: ['failed', 3, 'It exited with code 3.'],
      killed: ['failed', null, 'It was killed before it finished.'],
      boom: ['failed', undefined, 'spawn /bin/sh ENOENT'],
    });
    h.scheduler.stop();
  });

  it('without a forecast (the source failed) it runs now and says why', async () => {
    const logs: string[] = [];
    const h = harness(newDir(), { log: (m) => logs.push(m) });
    h.next = new Error('GB Carbon Intensity API could not be reached (ENOTFOUND): check your internet connection.');
    await h.scheduler.start();
    const job = await h.scheduler.enqueue(shell('now'), { within: 12 * 60, durationMinutes: 30, zone: 'GB' });
    assert.equal(job.plan.runNow, true);
    assert.equal(
      job.plan.reason,
      'no grid forecast for GB (GB Carbon Intensity API could not be reached (ENOTFOUND): check your internet connection.): running now rather than guessing',
    );
    await settle(h);
    assert.deepEqual(h.runs, ['now']);
    assert.ok(
      logs.some((l) => l.startsWith('no forecast for GB:')),
      logs.join('\n'),
    );
    h.scheduler.stop();
  });

  it('a clock that jumps backwards delays, one that jumps forwards runs: each job once', async () => {
    const h = harness(newDir());
    await h.scheduler.start();
    const a = await h.scheduler.enqueue(shell('a'), { within: 8 * 60, durationMinutes: 60, zone: 'GB' });
    const calls = h.forecastCalls;
    h.clock.t = T0 - 5 * HOUR; // the clock was corrected backwards
    await h.scheduler.tick();
    assert.deepEqual(h.runs, []);
    assert.ok(h.delays.at(-1)! <= 60_000, 'never sleeps longer than a poll, so a later correction is seen');
    assert.equal(h.forecastCalls, calls + 1, 'plans made in what is now the future are made again');
    h.clock.t = T0 + 2 * 24 * HOUR; // resumed from a long sleep, past the deadline
    await Promise.all([h.scheduler.tick(), h.scheduler.tick(), h.scheduler.tick()]);
    await settle(h);
    h.clock.t = T0 + 3 * HOUR; // and back again
    await h.scheduler.tick();
    await settle(h);
    assert.deepEqual(h.runs, ['a']);
    assert.equal((await h.queue.get(a.id))?.state, 'done');
    h.scheduler.stop();
  });

  it('replans queued jobs on a new forecast every replanMs; a failed forecast keeps the plans', async () => {
    const h = harness(newDir(), { replanMs: 30 * MIN, pollMs: 2 * HOUR });
    await h.scheduler.start();
    const job = await h.scheduler.enqueue(shell('r'), { within: 10 * 60, durationMinutes: 60, zone: 'GB' });
    assert.equal(job.plan.start, T0 + 3 * HOUR);
    h.next = CLEAN_AT_5H;
    h.clock.t = T0 + 20 * MIN;
    await h.scheduler.tick();
    assert.equal((await h.queue.get(job.id))?.plan.start, T0 + 3 * HOUR, 'not yet');
    assert.equal(h.delays.at(-1), 10 * MIN, 'wakes for the replan');
    h.clock.t = T0 + 30 * MIN;
    await h.scheduler.tick();
    assert.equal((await h.queue.get(job.id))?.plan.start, T0 + 5 * HOUR);
    assert.deepEqual(h.events.slice(-1), ['replanned:r:queued']);
    h.next = { ...forecast([238]), source: 'embedded', fallbackReason: 'timeout' };
    h.clock.t = T0 + 61 * MIN;
    const moved = await h.scheduler.replan();
    assert.deepEqual(moved, []);
    assert.equal((await h.queue.get(job.id))?.plan.start, T0 + 5 * HOUR, 'kept: a fallback is no reason to run now');
    h.scheduler.stop();
  });

  it('two schedulers on one queue with the same due jobs: each job runs once', async () => {
    const dir = newDir();
    const clock = { t: T0 };
    const a = harness(dir, { maxConcurrent: 10 }, clock, process.pid);
    const b = harness(dir, { maxConcurrent: 10, isAlive: () => true }, clock, 4343);
    for (const h of [a, b]) h.exit = () => new Promise((r) => setTimeout(() => r({ exitCode: 0 }), 5));
    const ids: string[] = [];
    for (let i = 0; i < 8; i++)
      ids.push(
        (
          await a.queue.add(shell(`j${i}`), {
            deadline: T0 + 4 * HOUR,
            durationMinutes: 30,
            zone: 'GB',
            plan: { ...CLEAN_AT_3H_PLAN(), start: T0 + HOUR },
          })
        ).id,
      );
    await Promise.all([a.scheduler.start(), b.scheduler.start()]);
    clock.t = T0 + HOUR;
    await Promise.all([a.scheduler.tick(), b.scheduler.tick(), a.scheduler.tick(), b.scheduler.tick()]);
    await Promise.all([settle(a), settle(b)]);
    assert.deepEqual([...a.runs, ...b.runs].sort(), ids.map((_, i) => `j${i}`).sort());
    assert.ok((await a.queue.list()).jobs.every((j) => j.state === 'done'));
    a.scheduler.stop();
    b.scheduler.stop();
  });

  it('runs one job at a time by default; the next starts when it ends', async () => {
    const h = harness(newDir());
    let release!: () => void;
    h.exit = (job) =>
      job.spec.label === 'first'
        ? new Promise((r) => {
            release = () => r({ exitCode: 0 });
          })
        : Promise.resolve({ exitCode: 0 });
    h.next = forecast([100]);
    await h.scheduler.start();
    await h.scheduler.enqueue(shell('first'), { within: 60, durationMinutes: 10, zone: 'GB' });
    await h.scheduler.tick();
    await h.scheduler.enqueue(shell('second'), { within: 60, durationMinutes: 10, zone: 'GB' });
    await h.scheduler.tick();
    assert.deepEqual(h.runs, ['first']);
    assert.deepEqual(
      h.scheduler.runningHere().map((j) => j.spec.label),
      ['first'],
    );
    release();
    await settle(h);
    await settle(h);
    assert.deepEqual(h.runs, ['first', 'second']);
    h.scheduler.stop();
  });

  it('mayRun() leaves a due job to another process', async () => {
    let allow = false;
    const h = harness(newDir(), { mayRun: () => allow });
    h.next = forecast([100]);
    await h.scheduler.start();
    const job = await h.scheduler.enqueue(shell('theirs'), { within: 60, durationMinutes: 10, zone: 'GB' });
    await h.scheduler.tick();
    assert.deepEqual(h.runs, []);
    assert.equal(h.delays.at(-1), 60_000);
    allow = true;
    await h.scheduler.tick();
    await settle(h);
    assert.deepEqual(h.runs, ['theirs']);
    assert.equal((await h.queue.get(job.id))?.state, 'done');
    h.scheduler.stop();
  });

  it('runNow, cancel and setDeadline', async () => {
    const h = harness(newDir());
    await h.scheduler.start();
    const a = await h.scheduler.enqueue(shell('a'), { within: 8 * 60, durationMinutes: 60, zone: 'GB' });
    const b = await h.scheduler.enqueue(shell('b'), { within: 8 * 60, durationMinutes: 60, zone: 'GB' });
    const c = await h.scheduler.enqueue(shell('c'), { within: 8 * 60, durationMinutes: 60, zone: 'GB' });
    const started = await h.scheduler.runNow(a.id);
    assert.equal(started.state, 'running');
    await settle(h);
    assert.deepEqual(h.runs, ['a']);
    await assert.rejects(
      h.scheduler.runNow(a.id),
      (e: unknown) => e instanceof JobQueueError && /Job .* cannot start now: it is done, not queued\./.test(e.message),
    );
    const cancelled = await h.scheduler.cancel(b.id);
    assert.equal(cancelled.state, 'cancelled');
    await assert.rejects(h.scheduler.runNow(b.id), /it is cancelled, not queued/);
    await assert.rejects(h.scheduler.cancel(b.id), /Cannot cancel job .* \(b\): it is cancelled, not queued/);
    const moved = await h.scheduler.setDeadline(c.id, T0 + 90 * MIN);
    assert.deepEqual([moved.deadline, moved.plan.runNow, moved.plan.start], [T0 + 90 * MIN, true, T0]);
    await settle(h);
    assert.deepEqual(h.runs, ['a', 'c'], 'a deadline that leaves no cleaner time runs it now');
    assert.ok(h.events.includes('cancelled:b:cancelled') && h.events.includes('replanned:c:queued'));
    h.scheduler.stop();
  });

  it('start() marks jobs of a dead process interrupted and never runs them; dispose(true) interrupts its own', async () => {
    const dir = newDir();
    const h = harness(dir);
    const orphan = await h.queue.add(shell('orphan'), {
      deadline: T0 + HOUR,
      durationMinutes: 10,
      zone: 'GB',
      plan: { ...CLEAN_AT_3H_PLAN(), start: T0 },
    });
    await h.queue.claim(orphan.id, { pid: 999_999, host: 'laptop', session: 'gone' });
    h.exit = (_job, signal) => new Promise((resolve) => signal.addEventListener('abort', () => resolve({ exitCode: null })));
    await h.scheduler.start();
    assert.deepEqual(h.events, ['interrupted:orphan:interrupted']);
    assert.deepEqual(h.runs, []);
    const own = await h.queue.add(shell('own'), { deadline: T0 + HOUR, durationMinutes: 10, zone: 'GB', plan: { ...CLEAN_AT_3H_PLAN(), start: T0 } });
    await h.scheduler.tick();
    assert.deepEqual(h.runs, ['own']);
    await h.scheduler.dispose(true);
    const ended = await h.queue.get(own.id);
    assert.equal(ended?.state, 'interrupted');
    assert.match(ended?.error ?? '', /stopped when Verdant shut down/);
    assert.deepEqual(h.events.slice(-1), ['finished:own:interrupted']);
    await assert.rejects(h.scheduler.start(), /disposed/);
  });

  it('stop() lets a running job finish and be recorded, and starts nothing new', async () => {
    const h = harness(newDir());
    let release!: () => void;
    h.exit = () =>
      new Promise((r) => {
        release = () => r({ exitCode: 0 });
      });
    h.next = forecast([100]);
    await h.scheduler.start();
    const job = await h.scheduler.enqueue(shell('long'), { within: 60, durationMinutes: 10, zone: 'GB' });
    await h.scheduler.tick();
    h.scheduler.stop();
    await h.scheduler.enqueue(shell('after-stop'), { within: 60, durationMinutes: 10, zone: 'GB' });
    await h.scheduler.tick();
    release();
    await h.scheduler.whenIdle();
    assert.equal((await h.queue.get(job.id))?.state, 'done');
    assert.deepEqual(h.runs, ['long']);
  });

  it('refuses bad input before asking for a forecast', async () => {
    const h = harness(newDir());
    await assert.rejects(
      h.scheduler.enqueue({ kind: 'shell', command: '', label: 'x' }, { within: 60, durationMinutes: 10, zone: 'GB' }),
      /the shell command is empty/,
    );
    await assert.rejects(h.scheduler.enqueue(shell('x'), { within: 0, durationMinutes: 10, zone: 'GB' }), /within more than 0 minutes/);
    assert.equal(h.forecastCalls, 0);
    assert.throws(() => new Scheduler({ ...({} as SchedulerDeps), pollMs: 0 }), /pollMs must be more than 0 ms/);
  });
});

function CLEAN_AT_3H_PLAN() {
  return {
    start: T0 + 3 * HOUR,
    end: T0 + 4 * HOUR,
    windowGPerKWh: 90,
    nowGPerKWh: 250,
    savingPct: 64,
    runNow: false,
    reason: 'cleanest window',
    source: 'uk-carbon-intensity',
    zone: 'GB',
    plannedAt: T0,
  };
}
