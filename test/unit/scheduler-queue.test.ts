// The deferred-job queue on a real temp folder: one process, several JobQueue instances racing (the process tests
// in test/integration/scheduler-process.test.ts race real processes).
import * as assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { JobPlan } from '../../src/core/scheduling/plan';
import { JobQueue, JobQueueError, type JobOwner, type JobSpec } from '../../src/core/scheduling/queue';

const T0 = Date.parse('2026-11-26T08:00:00Z');
const HOUR = 3_600_000;

function plan(start: number, durationMinutes = 30): JobPlan {
  return {
    start,
    end: start + durationMinutes * 60_000,
    windowGPerKWh: 80,
    nowGPerKWh: 210,
    savingPct: 61.9,
    runNow: false,
    reason: 'cleanest window',
    source: 'uk-carbon-intensity',
    zone: 'GB',
    plannedAt: T0,
  };
}
const spec = (label: string): JobSpec => ({ kind: 'shell', command: `echo ${label}`, label });
const owner = (pid: number, host = 'laptop', session = `s${pid}`): JobOwner => ({ pid, host, session });

const made: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'verdant-jobs-'));
  made.push(dir);
  return path.join(dir, 'jobs'); // not created yet: the first add() makes it
}

function queueAt(dir: string, clock = { t: T0 }, bootTime = () => T0 - 24 * HOUR): JobQueue {
  return new JobQueue({ dir, now: () => clock.t, bootTime });
}

async function addAt(q: JobQueue, label: string, start: number) {
  return q.add(spec(label), { deadline: start + 4 * HOUR, durationMinutes: 30, zone: 'GB', plan: plan(start) });
}

async function rejects(p: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof JobQueueError, String(e));
    assert.equal(e.code, code);
    assert.match(e.message, message);
    return true;
  });
}

describe('scheduler job queue', () => {
  after(() => {
    for (const dir of made) if (path.basename(dir).startsWith('verdant-jobs-')) rmSync(dir, { recursive: true, force: true });
  });

  it('adds jobs as one JSON file each and lists them by planned start', async () => {
    const dir = tempDir();
    const q = queueAt(dir);
    assert.deepEqual(await q.list(), { jobs: [], problems: [] }, 'no folder yet: an empty queue');
    const late = await addAt(q, 'late', T0 + 6 * HOUR);
    const early = await addAt(q, 'early', T0 + HOUR);
    const mid = await q.add({ ...spec('mid'), session: 'window-1' } as unknown as JobSpec, {
      deadline: T0 + 9 * HOUR,
      durationMinutes: 45,
      zone: 'GB-RG41',
      plan: plan(T0 + 3 * HOUR),
    });
    assert.match(late.id, /^[a-z0-9]+-[0-9a-f]{10}$/);
    assert.equal(late.state, 'queued');
    assert.equal(late.createdAt, T0);
    const { jobs, problems } = await q.list();
    assert.deepEqual(problems, []);
    assert.deepEqual(
      jobs.map((j) => j.spec.label),
      ['early', 'mid', 'late'],
    );
    assert.deepEqual(jobs[1], { ...mid, state: 'queued' });
    assert.equal((jobs[1].spec as { session?: string }).session, 'window-1', 'extra spec fields are kept');
    assert.deepEqual(await q.get(early.id), early);
    assert.equal(await q.get('nosuchjob'), undefined);
    assert.deepEqual(readdirSync(dir).sort(), [early.id, late.id, mid.id].map((id) => `${id}.json`).sort(), 'no temp files left');
    assert.equal(JSON.parse(readFileSync(path.join(dir, `${mid.id}.json`), 'utf8')).zone, 'GB-RG41');
  });

  it('refuses a job it could not run, with the reason', async () => {
    const q = queueAt(tempDir());
    await rejects(
      q.add({ kind: 'shell', command: ' ', label: 'x' }, { deadline: T0, durationMinutes: 5, zone: 'GB', plan: plan(T0) }),
      'bad-input',
      /the shell command is empty/,
    );
    await rejects(
      q.add({ kind: 'task', task: 'explain', payload: {}, label: '' }, { deadline: T0, durationMinutes: 5, zone: 'GB', plan: plan(T0) }),
      'bad-input',
      /the label is empty/,
    );
    await rejects(q.add(spec('a'), { deadline: NaN, durationMinutes: 5, zone: 'GB', plan: plan(T0) }), 'bad-input', /deadline is not a time/);
    await rejects(q.add(spec('a'), { deadline: T0, durationMinutes: 0, zone: 'GB', plan: plan(T0) }), 'bad-input', /more than 0 minutes/);
    await rejects(
      q.add(spec('a'), { deadline: T0, durationMinutes: 5, zone: 'GB', plan: { ...plan(T0), start: undefined } as unknown as JobPlan }),
      'bad-input',
      /plan has no start/,
    );
  });

  it('claims a job exactly once, also when many claim at the same moment', async () => {
    const dir = tempDir();
    const clock = { t: T0 };
    const q = queueAt(dir, clock);
    const job = await addAt(q, 'one', T0);
    clock.t = T0 + 5000;
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => queueAt(dir, clock).claim(job.id, owner(1000 + i))));
    const winners = results.filter((r) => r !== undefined);
    assert.equal(winners.length, 1);
    const won = winners[0]!;
    assert.equal(won.state, 'running');
    assert.equal(won.startedAt, T0 + 5000);
    assert.deepEqual(await q.get(job.id), won);
    assert.equal(await q.claim(job.id, owner(1)), undefined, 'a later claimer gets nothing');
    await rejects(q.claim('nosuch', owner(1)), 'not-found', /There is no job nosuch/);
    await rejects(q.claim(job.id, { pid: 0, host: 'h', session: 's' }), 'bad-input', /owner is not \{pid, host, session\}/);
  });

  it('records how a job ended: done, failed, and never twice', async () => {
    const clock = { t: T0 };
    const q = queueAt(tempDir(), clock);
    const a = await addAt(q, 'a', T0);
    const b = await addAt(q, 'b', T0);
    await q.claim(a.id, owner(11));
    await q.claim(b.id, owner(11));
    clock.t = T0 + 60_000;
    const done = await q.finish(a.id, { state: 'done', exitCode: 0 });
    assert.deepEqual([done.state, done.exitCode, done.endedAt, done.error], ['done', 0, T0 + 60_000, undefined]);
    const failed = await q.finish(b.id, { state: 'failed', exitCode: 2, error: 'It exited with code 2.' });
    assert.deepEqual([failed.state, failed.exitCode, failed.error], ['failed', 2, 'It exited with code 2.']);
    assert.deepEqual(await q.get(b.id), failed);
    await rejects(q.finish(a.id, { state: 'failed' }), 'not-running', /is done, not running/);
    const c = await addAt(q, 'c', T0);
    await rejects(q.finish(c.id, { state: 'done' }), 'not-running', /is queued, not running/);
    await rejects(q.finish(c.id, { state: 'queued' } as never), 'bad-input', /'done', 'failed' or 'interrupted'/);
  });

  it('cancels only a queued job; a cancel and a claim racing: exactly one wins, every time', async () => {
    const dir = tempDir();
    const q = queueAt(dir);
    for (let i = 0; i < 20; i++) {
      const job = await addAt(q, `race-${i}`, T0);
      const other = queueAt(dir);
      const [cancel, claim] = await Promise.allSettled([q.cancel(job.id), other.claim(job.id, owner(77))]);
      const after = await q.get(job.id);
      if (cancel.status === 'fulfilled') {
        assert.equal(cancel.value.state, 'cancelled');
        assert.deepEqual(claim, { status: 'fulfilled', value: undefined });
        assert.equal(after?.state, 'cancelled');
        assert.equal(after?.owner, undefined, 'a cancelled job has no runner');
      } else {
        assert.ok(cancel.reason instanceof JobQueueError && cancel.reason.code === 'not-queued', String(cancel.reason));
        assert.match(cancel.reason.message, /it is running \(pid 77 on laptop\), not queued/);
        assert.equal(claim.status === 'fulfilled' && claim.value?.state, 'running');
        assert.equal(after?.state, 'running');
      }
    }
    const done = await addAt(q, 'done', T0);
    await q.claim(done.id, owner(5));
    await q.finish(done.id, { state: 'done', exitCode: 0 });
    await rejects(q.cancel(done.id), 'not-queued', /Cannot cancel job .* \(done\): it is done, not queued/);
  });

  it('replans and moves the deadline of a queued job only', async () => {
    const q = queueAt(tempDir());
    const a = await addAt(q, 'a', T0 + 5 * HOUR);
    const b = await addAt(q, 'b', T0 + 2 * HOUR);
    const moved = await q.replan(a.id, plan(T0 + HOUR));
    assert.equal(moved.plan.start, T0 + HOUR);
    assert.deepEqual(
      (await q.list()).jobs.map((j) => j.spec.label),
      ['a', 'b'],
      'sorted by the new plan',
    );
    const later = await q.setDeadline(b.id, T0 + 20 * HOUR, plan(T0 + 10 * HOUR));
    assert.deepEqual([later.deadline, later.plan.start], [T0 + 20 * HOUR, T0 + 10 * HOUR]);
    assert.deepEqual(await q.get(b.id), later);
    await q.claim(a.id, owner(3));
    await rejects(q.replan(a.id, plan(T0)), 'not-queued', /Cannot replan job .*: it is running \(pid 3 on laptop\), not queued/);
    await rejects(q.setDeadline(a.id, T0, plan(T0)), 'not-queued', /Cannot change the deadline of job/);
    await rejects(q.replan(b.id, { start: 1 } as unknown as JobPlan), 'bad-input', /the plan has no end/);
  });

  it('moves a damaged job file aside, reports it, and still lists every other job', async () => {
    const dir = tempDir();
    const q = queueAt(dir);
    const good = await addAt(q, 'good', T0);
    const torn = await addAt(q, 'torn', T0);
    const empty = await addAt(q, 'empty', T0);
    const wrong = await addAt(q, 'wrong', T0);
    const tornText = readFileSync(path.join(dir, `${torn.id}.json`), 'utf8').slice(0, 40);
    writeFileSync(path.join(dir, `${torn.id}.json`), tornText);
    writeFileSync(path.join(dir, `${empty.id}.json`), '');
    writeFileSync(path.join(dir, `${wrong.id}.json`), JSON.stringify({ v: 1, id: wrong.id, spec: { kind: 'rocket', label: 'x' } }));
    writeFileSync(path.join(dir, 'notes.txt'), 'not a job');
    const { jobs, problems } = await q.list();
    assert.deepEqual(
      jobs.map((j) => j.id),
      [good.id],
    );
    assert.equal(problems.length, 3, problems.join('\n'));
    assert.ok(
      problems.includes(`The file of job ${torn.id} was damaged (not JSON); it was moved aside to ${torn.id}.json.corrupt.`),
      problems.join('\n'),
    );
    assert.ok(problems.some((p) => p.startsWith(`The file of job ${empty.id} was damaged (empty)`)));
    assert.ok(problems.some((p) => p.includes(`the kind is "rocket", not 'shell' or 'task'`)));
    assert.equal(readFileSync(path.join(dir, `${torn.id}.json.corrupt`), 'utf8'), tornText, 'kept for a look');
    assert.equal(existsSync(path.join(dir, `${torn.id}.json`)), false);
    assert.deepEqual(await q.list(), { jobs: [(await q.get(good.id))!], problems: [] }, 'reported once');
    await addAt(q, 'after', T0);
    assert.equal((await q.list()).jobs.length, 2, 'the queue goes on');
  });

  it('a damaged claim: the job may have run, so it becomes interrupted (a young one still reads as running)', async () => {
    const dir = tempDir();
    const q = queueAt(dir);
    const job = await addAt(q, 'j', T0);
    const claimFile = path.join(dir, `${job.id}.claim`);
    writeFileSync(claimFile, '{"v":1,"action":"ru');
    assert.equal((await q.get(job.id))?.state, 'running', 'possibly being written without hard links');
    const old = new Date(Date.now() - 60_000);
    utimesSync(claimFile, old, old);
    const { jobs, problems } = await q.list();
    assert.equal(jobs[0]!.state, 'interrupted');
    assert.match(jobs[0]!.error ?? '', /claim file was damaged \(not JSON\), so whether it ran is unknown/);
    assert.deepEqual(problems, [
      `The claim of job ${job.id} was damaged (not JSON); the job is marked interrupted and the file was copied to ${job.id}.claim.corrupt.`,
    ]);
    assert.ok(existsSync(`${claimFile}.corrupt`));
    assert.equal(await q.claim(job.id, owner(1)), undefined, 'never run');
    assert.deepEqual((await q.list()).problems, []);
  });

  it('recover(): running jobs of dead owners on this host become interrupted and are not run again', async () => {
    const dir = tempDir();
    const clock = { t: T0 };
    const q = queueAt(dir, clock);
    const dead = await addAt(q, 'dead', T0);
    const alive = await addAt(q, 'alive', T0);
    const elsewhere = await addAt(q, 'elsewhere', T0);
    const queued = await addAt(q, 'queued', T0);
    await q.claim(dead.id, owner(4001));
    await q.claim(alive.id, owner(4002));
    await q.claim(elsewhere.id, owner(4001, 'desktop'));
    clock.t = T0 + HOUR;
    const seen: number[] = [];
    const recovered = await q.recover((pid) => {
      seen.push(pid);
      return pid === 4002;
    }, 'laptop');
    assert.deepEqual(
      recovered.map((j) => j.id),
      [dead.id],
    );
    assert.deepEqual(seen.sort(), [4001, 4002], "only this host's owners are checked");
    const after = await q.get(dead.id);
    assert.equal(after?.state, 'interrupted');
    assert.equal(after?.endedAt, T0 + HOUR);
    assert.equal(
      after?.error,
      'It stopped when its process (pid 4001) ended while it ran, and was not run again (a job runs at most once): queue it again to run it.',
    );
    assert.equal((await q.get(alive.id))?.state, 'running');
    assert.equal((await q.get(elsewhere.id))?.state, 'running', "another machine's pids mean nothing here");
    assert.equal((await q.get(queued.id))?.state, 'queued');
    assert.equal(await q.claim(dead.id, owner(9)), undefined);
    assert.deepEqual(await q.recover(() => false, 'laptop').then((r) => r.map((j) => j.id)), [alive.id], 'the first is not recovered twice');
    // The owner was only suspended after all: its own result is the truth.
    const corrected = await q.finish(dead.id, { state: 'done', exitCode: 0 });
    assert.deepEqual([corrected.state, corrected.error], ['done', undefined]);
  });

  it('recover(): a claim from before a reboot is dead even if its pid is alive again (pid reuse)', async () => {
    const dir = tempDir();
    const before = queueAt(dir, { t: T0 }, () => T0 - HOUR);
    const job = await addAt(before, 'j', T0);
    await before.claim(job.id, owner(321));
    const sameBoot = queueAt(dir, { t: T0 + HOUR }, () => T0 - HOUR + 90_000); // uptime wobble, not a reboot
    assert.deepEqual(await sameBoot.recover(() => true, 'laptop'), []);
    const afterReboot = queueAt(dir, { t: T0 + 2 * HOUR }, () => T0 + HOUR);
    const [r] = await afterReboot.recover(() => true, 'laptop');
    assert.ok(r);
    assert.equal(r.state, 'interrupted');
    assert.match(r.error ?? '', /the machine restarted/);
  });

  it('prune(): removes jobs that ended long enough ago, and leftovers; never a queued or running job', async () => {
    const dir = tempDir();
    const clock = { t: T0 };
    const q = queueAt(dir, clock);
    const oldDone = await addAt(q, 'old-done', T0);
    const oldCancelled = await addAt(q, 'old-cancelled', T0);
    const running = await addAt(q, 'running', T0);
    const queued = await addAt(q, 'queued', T0);
    await q.claim(oldDone.id, owner(1));
    await q.finish(oldDone.id, { state: 'done', exitCode: 0 });
    await q.cancel(oldCancelled.id);
    await q.claim(running.id, owner(1));
    clock.t = T0 + 10 * 24 * HOUR;
    const recent = await addAt(q, 'recent', T0);
    await q.claim(recent.id, owner(1));
    await q.finish(recent.id, { state: 'failed', exitCode: 1 });
    writeFileSync(path.join(dir, 'orphan-1.claim'), '{}');
    // Logs of jobs the OS scheduler ran go with their job.
    writeFileSync(q.logPath(oldDone.id), 'output\n');
    writeFileSync(q.logPath(queued.id), 'output\n');
    const staleTemp = path.join(dir, `${queued.id}.json.123.abcd.tmp`);
    writeFileSync(staleTemp, '{');
    const freshTemp = path.join(dir, `${queued.id}.json.124.abcd.tmp`);
    writeFileSync(freshTemp, '{');
    const old = new Date(Date.now() - 2 * HOUR);
    utimesSync(staleTemp, old, old);
    const removed = await q.prune(7 * 24 * HOUR);
    assert.deepEqual(removed.sort(), [oldDone.id, oldCancelled.id].sort());
    assert.deepEqual((await q.list()).jobs.map((j) => j.spec.label).sort(), ['queued', 'recent', 'running']);
    assert.equal(existsSync(path.join(dir, `${oldDone.id}.claim`)), false);
    assert.equal(existsSync(path.join(dir, 'orphan-1.claim')), false);
    assert.equal(existsSync(q.logPath(oldDone.id)), false);
    assert.equal(existsSync(q.logPath(queued.id)), true);
    assert.equal(existsSync(staleTemp), false);
    assert.equal(existsSync(freshTemp), true, 'maybe a write in progress');
    assert.deepEqual(await q.prune(0), [recent.id], '0 keeps nothing that ended');
    await rejects(q.prune(-1), 'bad-input', /0 or more ms/);
  });

  it('validates ids: nothing outside the folder is ever read or written', async () => {
    const dir = tempDir();
    const q = queueAt(dir);
    await addAt(q, 'a', T0);
    writeFileSync(path.join(path.dirname(dir), 'outside.json'), '{"id":"outside"}');
    for (const id of ['../outside', '..', '', 'a/b', 'a\\b', '.hidden', 'x'.repeat(81), 'nul\0']) {
      await rejects(q.get(id), 'bad-id', /is not a job id: ids are letters, digits, '-' and '_'/);
      await rejects(q.claim(id, owner(1)), 'bad-id', /is not a job id/);
      await rejects(q.cancel(id), 'bad-id', /is not a job id/);
      await rejects(q.replan(id, plan(T0)), 'bad-id', /is not a job id/);
      await rejects(q.finish(id, { state: 'done' }), 'bad-id', /is not a job id/);
    }
    assert.ok(existsSync(path.join(path.dirname(dir), 'outside.json')));
    assert.equal(readdirSync(dir).filter((n) => !n.endsWith('.json')).length, 0);
  });
});
