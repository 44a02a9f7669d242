// Hardening of the carbon ledger and what the dashboard computes from it: a disk that fills up mid-append (the write
// fails outright, or writes half a line and then fails), and a wall clock that jumps (records stamped in the future,
// a clock that moved back an hour, an intensity cache that must not trust a negative age).
import * as assert from 'node:assert/strict';
import { mkdtempSync, promises as nodeFs, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildDashboardData, readRecentRecords } from '../../src/core/carbon/dashboardData';
import { Ledger, LedgerRecorder, ledgerFileName, type LedgerFs } from '../../src/core/carbon/ledger';
import { EmbeddedSource, ResilientSource } from '../../src/core/carbon/sources';
import type { IntensityForecast, IntensityReading, SciRecord } from '../../src/core/carbon/types';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const NOW = Date.parse('2026-11-26T12:10:00Z');

function rec(id: string, ms: number, sciG = 0.5): SciRecord {
  return {
    id,
    ts: new Date(ms).toISOString(),
    route: 'local',
    feature: 'inline-completion',
    model: 'qwen2.5-coder-1.5b',
    tokens: { in: 100, out: 20 },
    energy: { kWh: 0.001, rangeKWh: [0.0005, 0.002], method: 'tdp-model', measured: false },
    intensity: { gPerKWh: 250, source: 'embedded', zone: 'GB', signal: 'average', isEstimated: true },
    operationalG: sciG,
    embodiedG: 0,
    sciG,
    rangeG: [sciG / 2, sciG * 2],
    baseline: { route: 'cloud', model: 'llama-3.3-70b-instruct', sciG: sciG * 4 },
    savedG: sciG * 3,
  };
}

type DiskState = 'ok' | 'full' | 'torn';

/**
 * node:fs/promises with a disk that can be filled: 'full' fails every append's write with ENOSPC before a byte is
 * written, 'torn' writes half of the line and then fails (as a write that ran out of space part way does).
 */
function fillableDisk() {
  const disk = { state: 'ok' as DiskState, writes: 0 };
  const enospc = () => Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28, syscall: 'write' });
  const fs: LedgerFs = {
    mkdir: nodeFs.mkdir,
    readFile: nodeFs.readFile,
    readdir: nodeFs.readdir,
    unlink: nodeFs.unlink,
    async open(file, flags, mode) {
      const fh = await nodeFs.open(file, flags, mode);
      const write = async (buffer: Buffer, offset: number, length: number, position: number | null) => {
        disk.writes++;
        if (disk.state === 'full') throw enospc();
        if (disk.state === 'torn') {
          await fh.write(buffer, offset, Math.floor(length / 2), position);
          throw enospc();
        }
        return fh.write(buffer, offset, length, position);
      };
      return new Proxy(fh, {
        get(target, prop) {
          if (prop === 'write') return write;
          const v: unknown = Reflect.get(target, prop, target);
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
        },
      });
    },
  };
  return { fs, disk };
}

describe('hardening: carbon ledger and dashboard', () => {
  const made: string[] = [];
  const tempDir = () => {
    const d = mkdtempSync(path.join(os.tmpdir(), 'verdant-hardening-'));
    made.push(d);
    return d;
  };
  after(() => {
    for (const d of made) rmSync(d, { recursive: true, force: true });
  });

  describe('a full disk', () => {
    it('rejects each append once with an error naming the disk, keeps what was written, tolerates the torn line, and appends again once there is room', async () => {
      const dir = tempDir();
      const { fs, disk } = fillableDisk();
      const ledger = new Ledger({ dir, fs });
      const at = (i: number) => NOW - 10 * HOUR + i * 60_000;
      await ledger.append(rec('r1', at(1)));
      await ledger.append(rec('r2', at(2)));

      disk.state = 'torn';
      const torn = await ledger.append(rec('r3', at(3))).then(
        () => undefined,
        (e: unknown) => e,
      );
      disk.state = 'full';
      // Appends queued together while the disk is full: each settles, each with the same clear error.
      const queued = await Promise.allSettled([4, 5, 6].map((i) => ledger.append(rec(`r${i}`, at(i)))));
      for (const e of [torn, ...queued.map((q) => (q.status === 'rejected' ? q.reason : undefined))]) {
        assert.ok(e instanceof Error, 'the append rejected');
        assert.equal((e as NodeJS.ErrnoException).code, 'ENOSPC');
        assert.ok(e.message.includes(dir), `names the folder: ${e.message}`);
        assert.match(e.message, /disk .*is full/i);
        assert.match(e.message, /free (up )?(some )?space/i);
      }
      assert.equal(disk.writes, 6);

      const file = path.join(dir, ledgerFileName(at(1)));
      const onDisk = readFileSync(file, 'utf8');
      assert.ok(!onDisk.endsWith('\n'), 'the torn half line is there, unterminated');
      let read = await ledger.read();
      assert.deepEqual(
        read.records.map((r) => r.id),
        ['r1', 'r2'],
        'records written before are intact',
      );
      assert.deepEqual(
        read.problems.map((p) => [p.line, p.reason]),
        [[3, 'incomplete last line (an interrupted write)']],
      );

      disk.state = 'ok'; // space was freed
      await ledger.append(rec('r7', at(7)));
      await ledger.append(rec('r8', at(8)));
      read = await ledger.read();
      assert.deepEqual(
        read.records.map((r) => r.id),
        ['r1', 'r2', 'r7', 'r8'],
      );
      assert.deepEqual(
        read.problems.map((p) => [p.line, p.reason]),
        [[3, 'not JSON (a torn write or a hand edit)']],
      );
      const lines = readFileSync(file, 'utf8').split('\n');
      assert.equal(lines.length, 6, 'r7 started on a line of its own after the fragment');
      assert.equal(JSON.parse(lines[3]!).id, 'r7');
    });

    it("the extension's recorder never rejects, logs a full disk once (not once per completion) and says when it works again", async () => {
      const dir = tempDir();
      const { fs, disk } = fillableDisk();
      const logged: [string, string][] = [];
      const recorder = new LedgerRecorder(new Ledger({ dir, fs }), (level, message) => logged.push([level, message]));
      assert.equal(await recorder.append(rec('a', NOW)), true);
      disk.state = 'full';
      const outcomes = [];
      for (let i = 0; i < 50; i++) outcomes.push(await recorder.append(rec(`full-${i}`, NOW + i)));
      assert.ok(outcomes.every((ok) => ok === false));
      disk.state = 'torn';
      assert.equal(await recorder.append(rec('torn', NOW + 60)), false);
      assert.equal(logged.length, 1, JSON.stringify(logged));
      assert.equal(logged[0]![0], 'error');
      assert.ok(logged[0]![1].includes(dir) && /full/.test(logged[0]![1]), logged[0]![1]);
      disk.state = 'ok';
      assert.equal(await recorder.append(rec('b', NOW + 120)), true);
      assert.equal(await recorder.append(rec('c', NOW + 180)), true);
      assert.equal(logged.length, 2);
      assert.equal(logged[1]![0], 'info');
      assert.deepEqual(
        (await new Ledger({ dir }).read()).records.map((r) => r.id),
        ['a', 'b', 'c'],
      );
      // A different failure later is logged again.
      disk.state = 'full';
      await recorder.append(rec('d', NOW + 240));
      assert.equal(logged.length, 3);
    });
  });

  describe('a clock that jumps', () => {
    const intensity: IntensityReading = {
      zone: 'GB',
      gPerKWh: 250,
      at: '2026-11-26T12:00:00Z',
      source: 'embedded',
      isEstimated: true,
      signal: 'average',
    };
    const forecast: IntensityForecast = { zone: 'GB', source: 'embedded', signal: 'average', pointMinutes: 60, points: [] };

    it('ledger and dashboard: records stamped up to an hour ahead count today, one stamped a year ahead counts nowhere, nothing is negative', async () => {
      const dir = tempDir();
      // The clock ran an hour fast while two records were written, then was corrected back to NOW.
      let now = NOW + HOUR;
      const ledger = new Ledger({ dir, now: () => now });
      await ledger.append(rec('earlier', NOW - 2 * HOUR, 1));
      await ledger.append(rec('fast-1', now - 30 * 60_000, 0.25));
      await ledger.append(rec('fast-2', now - 10 * 60_000, 0.25));
      await ledger.append(rec('year-ahead', NOW + 365 * DAY, 8)); // a clock that was a year off once
      now = NOW;
      await ledger.append(rec('after', now, 0.5));

      const { records, problems } = await readRecentRecords(ledger, now);
      assert.equal(problems, 0);
      const d = buildDashboardData({ records, problems, intensity, forecast, annualAverage: 250, now, utcOffsetMinutes: 0 });
      assert.equal(d.today.requests, 4, 'earlier, both fast ones and after: all today');
      assert.equal(d.today.localG, 2);
      assert.equal(d.days.length, 30);
      assert.equal(d.days[29]!.day, '2026-11-26');
      assert.equal(d.days[29]!.requests, 4);
      assert.equal(
        d.days.reduce((n, x) => n + x.requests, 0),
        4,
      );
      assert.equal(
        d.tasks.reduce((n, t) => n + t.requests, 0),
        4,
        'the per-task table covers the same records as the chart',
      );
      assert.equal(d.tasks[0]!.sciG, 2);
      for (const v of [
        d.today.localG,
        d.today.cloudG,
        d.today.savedG,
        d.today.baselineG,
        ...d.today.rangeG,
        ...d.days.flatMap((x) => [x.localG, x.cloudG, x.requests]),
      ]) {
        assert.ok(Number.isFinite(v) && v >= 0, `a negative or broken figure: ${v}`);
      }
      // The totals by day still see everything, the year-ahead record on its own day.
      const totals = await ledger.totals({ groupBy: 'day' });
      assert.deepEqual(
        totals.rows.map((r) => [r.day, r.count]),
        [
          ['2026-11-26', 4],
          ['2027-11-26', 1],
        ],
      );
      // Retention with the corrected clock keeps this month and the future file.
      assert.deepEqual((await ledger.prune(30)).removedFiles, []);
      assert.equal((await ledger.read()).records.length, 5);
    });

    it('the intensity cache: after the clock moved back an hour, a reading older than its TTL is asked for again', async () => {
      let now = NOW;
      let calls = 0;
      const live = {
        id: 'uk-carbon-intensity' as const,
        async current(zone: string): Promise<IntensityReading> {
          calls++;
          return { ...intensity, zone, gPerKWh: 100 + calls, source: 'uk-carbon-intensity', isEstimated: false };
        },
      };
      const source = new ResilientSource({
        live,
        fallback: new EmbeddedSource(() => now),
        now: () => now,
        profile: { name: 'Test', zoneFix: 'fix the zone', responseFix: 'update', reachFix: 'check the network' },
      });
      assert.equal((await source.current('GB')).gPerKWh, 101);
      now += 60_000;
      assert.equal((await source.current('GB')).gPerKWh, 101, 'cached');
      now -= HOUR; // the clock is corrected back an hour
      now += 11 * 60_000; // and 11 real minutes pass: the 10-minute TTL is over
      assert.equal((await source.current('GB')).gPerKWh, 102, 'asked again, not served for another hour');
      assert.equal(calls, 2);
      now += 60_000;
      assert.equal((await source.current('GB')).gPerKWh, 102, 'and cached again from then on');
      assert.equal(calls, 2);
    });

    it("the intensity source's back-off after a failure does not last an extra hour when the clock moves back", async () => {
      let now = NOW;
      let calls = 0;
      let fail = true;
      const live = {
        id: 'uk-carbon-intensity' as const,
        async current(zone: string): Promise<IntensityReading> {
          calls++;
          if (fail) throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
          return { ...intensity, zone, gPerKWh: 123, source: 'uk-carbon-intensity', isEstimated: false };
        },
      };
      const source = new ResilientSource({
        live,
        fallback: new EmbeddedSource(() => now),
        now: () => now,
        profile: { name: 'Test', zoneFix: 'fix the zone', responseFix: 'update', reachFix: 'check the network' },
      });
      assert.ok((await source.current('GB')).fallbackReason);
      fail = false;
      now -= HOUR;
      now += 4 * 60_000; // past the 3-minute spacing in real time
      assert.equal((await source.current('GB')).gPerKWh, 123);
      assert.equal(calls, 2);
    });
  });
});
