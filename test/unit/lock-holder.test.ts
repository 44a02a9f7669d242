// Telling a live engine worker's lock from a stale one whose pid is alive again: process start times from /proc
// (a fake /proc here), the boot time, and lockHolder's verdicts with injected clocks.
import * as assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { processStartTime } from '../../src/core/process/times';
import { lockHolder, type LockInfo } from '../../src/engine/lock';

const HOUR = 3_600_000;

describe('engine lock holder', () => {
  it('reads a process start time from /proc, whatever its command name holds', () => {
    const proc = mkdtempSync(path.join(os.tmpdir(), 'verdant-proc-'));
    writeFileSync(path.join(proc, 'stat'), 'cpu  1 2 3\nbtime 1765000000\nprocesses 42\n');
    mkdirSync(path.join(proc, '4242'));
    // A command name with a space and a ')' in it; starttime (field 22) is 12345 ticks = 123.45 s after boot.
    const fields = [
      'S',
      '1',
      '4242',
      '4242',
      '0',
      '-1',
      '4194560',
      '100',
      '0',
      '0',
      '0',
      '1',
      '2',
      '0',
      '0',
      '20',
      '0',
      '1',
      '0',
      '12345',
      '1000',
      '50',
    ];
    writeFileSync(path.join(proc, '4242', 'stat'), `4242 (evil) name) ${fields.join(' ')}\n`);
    assert.equal(processStartTime(4242, proc), 1765000000 * 1000 + 123_450);
    assert.equal(processStartTime(999, proc), undefined, 'a process that is gone');
    assert.equal(processStartTime(-1, proc), undefined);
  });

  it('a live pid is the lock holder only if the machine has not restarted and the process is not younger than the lock', () => {
    const boot = Date.parse('2026-12-06T08:00:00Z');
    const lock: LockInfo = { pid: process.pid, socket: '/x.sock', protocol: 3, version: '1', startedAt: boot + HOUR, boot };
    const clocks = (startOf: number | undefined, bootNow = boot) => ({ boot: () => bootNow, startOf: () => startOf });
    assert.deepEqual(lockHolder(lock, clocks(boot + HOUR - 500)), { alive: true }, 'the worker started, then wrote its lock');
    assert.deepEqual(lockHolder(lock, clocks(undefined)), { alive: true }, 'no start time known (not Linux): the pid decides');
    assert.deepEqual(lockHolder(lock, clocks(boot + HOUR - 500, boot + 60_000)), { alive: true }, 'the boot time wobbles a little');
    const reused = lockHolder(lock, clocks(boot + 2 * HOUR));
    assert.equal(reused.alive, false);
    assert.match(!reused.alive ? reused.why : '', /now belongs to another process/);
    const rebooted = lockHolder(lock, clocks(undefined, boot + 10 * HOUR));
    assert.match(!rebooted.alive ? rebooted.why : '', /machine has restarted/);
    const { boot: _old, ...older } = lock;
    assert.deepEqual(lockHolder(older, clocks(undefined, boot + 10 * HOUR)), { alive: true }, 'a lock from an older version has no boot time');
    const dead = lockHolder({ ...lock, pid: 2 ** 22 + 12345 }, clocks(undefined));
    assert.match(!dead.alive ? dead.why : '', /has ended/);
  });
});
