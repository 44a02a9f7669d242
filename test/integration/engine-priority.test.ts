// Efficiency Mode on the real engine worker (dist/engine-worker.js, the test model): the priority it starts at for
// background and interactive work under each verdant.local.efficiencyMode, read back from the OS, and what happens
// when interactive work finds a worker started low: raised where the OS allows it, replaced where it refuses.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { EfficiencyMode } from '../../src/core/power/efficiency';
import type { EngineClient } from '../../src/engine/client';
import { lockPathFor, pidAlive, readLock } from '../../src/engine/lock';
import { LOW_PRIORITY } from '../../src/engine/priority';
import type { WorkPurpose } from '../../src/engine/types';
import { LILY, workerFixture } from '../support/engineWorkers';
import { skipBecause } from '../support/prerequisites';
import { until } from '../support/wait';

/** The nice value of every thread of a process (Linux: each thread has its own). */
function threadNices(pid: number): number[] {
  return readdirSync(`/proc/${pid}/task`).flatMap((tid) => {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      return [Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16])]; // field 19, counted after the name
    } catch {
      return []; // the thread ended meanwhile
    }
  });
}

/** The nice of a process's autogroup, null on a kernel without them. */
function groupNice(pid: number): number | null {
  const m = existsSync(`/proc/${pid}/autogroup`) ? /\bnice (-?\d+)/.exec(readFileSync(`/proc/${pid}/autogroup`, 'utf8')) : null;
  return m ? Number(m[1]) : null;
}

/** A worker's session group (it leads its own session): at 0 like any new one, or at the lowest with the worker. */
const GROUPS = existsSync('/proc/self/autogroup');
const groupAt = (level: 'low' | 'normal') => (GROUPS ? (level === 'low' ? LOW_PRIORITY : 0) : null);

/**
 * The process, every one of its threads (os.getPriority reads the main thread's only, on Linux) and its session
 * group at the priority of `level`.
 */
function assertPriority(pid: number, level: 'low' | 'normal', normal: number): void {
  const value = level === 'low' ? LOW_PRIORITY : normal;
  assert.equal(os.getPriority(pid), value);
  const nices = threadNices(pid);
  assert.deepEqual(
    nices.filter((n) => n !== value),
    [],
    `every thread at ${value}: ${nices.join(' ')}`,
  );
  assert.equal(groupNice(pid), groupAt(level), 'its session group');
}

/**
 * A stand-in for process.execPath that runs the worker as an unprivileged user would: CAP_SYS_NICE dropped when the
 * tests run as root, RLIMIT_NICE 0 otherwise, so the OS lets it lower its priority but not raise it again.
 */
function unprivilegedNode(dir: string): string {
  const file = path.join(dir, 'node-unprivileged.sh');
  const node = JSON.stringify(process.execPath);
  writeFileSync(
    file,
    [
      '#!/bin/sh',
      `if [ "$(id -u)" = 0 ]; then exec setpriv --bounding-set=-sys_nice -- prlimit --nice=0:0 -- ${node} "$@"; fi`,
      `exec prlimit --nice=0:0 -- ${node} "$@"`,
      '',
    ].join('\n'),
  );
  chmodSync(file, 0o755);
  return file;
}

/** What setPriority says when a process that lowered its priority asks for it back ('ok' when it may). */
function raiseProbe(execPath: string): string {
  const script = `const os = require('node:os'); const was = os.getPriority(); os.setPriority(${LOW_PRIORITY});
    try { os.setPriority(was); console.log('ok'); } catch (e) { console.log(e.info?.code ?? e.message); }`;
  const r = spawnSync(execPath, ['-e', script], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : `exit ${r.status}: ${r.stderr.trim().split('\n').pop() ?? ''}`;
}

describe('Efficiency Mode: the engine worker at low priority (real processes)', function () {
  this.timeout(180_000);
  const w = workerFixture('verdant-priority-');
  /** What a worker started for interactive work inherits: this process's priority. */
  const normal = os.getPriority();
  const client = (name: string, mode: EfficiencyMode, execPath?: string) =>
    w.client(name, { efficiencyMode: () => mode, ...(execPath ? { execPath } : {}) });
  const ask = (c: EngineClient, purpose: WorkPurpose, sessionKey = 'a') =>
    c.generate(w.config(), { kind: 'completion', prompt: LILY, maxTokens: 8, sessionKey }, { purpose });
  const priorityOf = async (c: EngineClient) => (await c.status()).priority;
  /** What the worker's status says about its priority, when nothing was refused. */
  const status = (level: 'low' | 'normal', startedLow: boolean) => ({
    level,
    value: level === 'low' ? LOW_PRIORITY : normal,
    group: groupAt(level),
    startedLow,
    raiseRefused: null,
    draining: false,
  });

  before(async function () {
    if (process.platform !== 'linux') skipBecause(this, 'threads and their nice values are read from /proc (Linux)');
    if (normal >= LOW_PRIORITY) skipBecause(this, `this process already runs at the lowest priority (${normal})`);
    await w.load();
  });
  beforeEach(() => w.fresh());
  afterEach(async () => {
    await w.cleanup();
  });

  it('background: a worker started for background work runs every thread at the lowest priority, also while it generates', async () => {
    const c = client('scheduler', 'background');
    await c.load(w.config(), 'background');
    const pid = c.workerPid!;
    // Read while tokens stream, so threads started for the inference (after the worker lowered itself) count too.
    const seen: number[] = [];
    const r = await c.generate(
      w.config(),
      { kind: 'completion', prompt: LILY, maxTokens: 32 },
      { purpose: 'background', onText: () => seen.push(...threadNices(pid)) },
    );
    assert.ok(r.text.length > 0 && seen.length > 1, `threads seen: ${seen.length}`);
    assert.deepEqual(
      seen.filter((n) => n !== LOW_PRIORITY),
      [],
      `every thread at ${LOW_PRIORITY}: ${seen.join(' ')}`,
    );
    assertPriority(pid, 'low', normal);
    assert.deepEqual(await priorityOf(c), status('low', true));
  });

  // Each mode: the work that starts the worker, then other work at it; a running worker is never lowered.
  for (const [mode, first, then, expected] of [
    ['background', 'interactive', 'background', 'normal'],
    ['always', 'interactive', 'interactive', 'low'],
    ['off', 'background', 'background', 'normal'],
  ] as const) {
    it(`${mode}: a worker started for ${first} work runs at ${expected} priority, and ${then} work leaves it there`, async () => {
      const c = client(first === 'background' ? 'scheduler' : 'window', mode);
      await ask(c, first);
      const pid = c.workerPid!;
      assertPriority(pid, expected, normal);
      await ask(c, then, 'b');
      assertPriority(pid, expected, normal);
      assert.deepEqual(await priorityOf(c), status(expected, expected === 'low'));
    });
  }

  it('interactive work raises a worker started low, where the OS allows it: same worker, every thread back', async function () {
    const probe = raiseProbe(process.execPath);
    if (probe !== 'ok') skipBecause(this, `this process may not raise a priority it lowered (${probe}); the next test covers that`);
    const scheduler = client('scheduler', 'background');
    const window = client('window', 'background');
    await ask(scheduler, 'background');
    const pid = scheduler.workerPid!;
    assertPriority(pid, 'low', normal);
    await ask(window, 'interactive', 'b');
    assert.equal(window.workerPid, pid);
    assertPriority(pid, 'normal', normal);
    assert.deepEqual(await priorityOf(window), status('normal', true));
    assert.match(readFileSync(path.join(w.stateDir, 'engine.log'), 'utf8'), /raised from low priority for interactive work \(now -?\d+/);
  });

  it('where the OS refuses to raise it, the low worker answers what was sent to it and a worker at normal priority replaces it', async function () {
    const execPath = unprivilegedNode(mkdtempSync(path.join(os.tmpdir(), 'verdant-nice-')));
    const probe = raiseProbe(execPath);
    if (probe !== 'EACCES' && probe !== 'EPERM') skipBecause(this, `could not run node without the right to raise its priority (${probe})`);
    const scheduler = client('scheduler', 'background', execPath);
    const window = client('window', 'background', execPath);
    await ask(scheduler, 'background');
    const low = scheduler.workerPid!;
    assertPriority(low, 'low', normal);
    assert.equal((await window.status()).pid, low);

    // Interactive work from one window and background work from the other reach the low worker together: both are
    // answered by it (the interactive request is what makes it drain, so it is always in flight then).
    const [interactive, background] = await Promise.all([ask(window, 'interactive', 'b'), ask(scheduler, 'background', 'c')]);
    assert.ok(interactive.text.length > 0 && background.text.length > 0);

    const lock = await until('a new worker to hold the lock', async () => {
      const l = await readLock(lockPathFor(w.stateDir));
      return l && l.pid !== low ? l : undefined;
    });
    await until(`the low worker ${low} to exit`, () => !pidAlive(low));
    assertPriority(lock.pid, 'normal', normal);
    // The windows loaded the model there as soon as they heard, so the next keystroke does not wait for the load.
    await until('the replacement to load the model unasked', async () => (await window.status()).models.length > 0);
    assert.equal(window.workerPid, lock.pid);
    assert.deepEqual(await priorityOf(window), status('normal', false));
    // Background work there leaves it at normal priority.
    await ask(scheduler, 'background', 'd');
    assert.equal(scheduler.workerPid, lock.pid);
    assertPriority(lock.pid, 'normal', normal);
    assert.match(readFileSync(path.join(w.stateDir, 'engine.log'), 'utf8'), /could not raise the engine's priority for interactive work \(.*EACCES/);
  });
});
