// Carbon ledger throughput (`npm run bench -- ledger`). Writes bench/results/ledger.json. The real Ledger
// (src/core/carbon/ledger.ts: one open/stat/read-last-byte/write/close per record, O_APPEND) in a temp folder:
// - one writer, appends awaited one after another: records/s and p50/p99 per append;
// - 4 processes appending to the same folder at once (each this script in --child mode, started together on a
//   signal): total records/s from the first child's start to the last child's end, per-append p50/p99, and a check
//   that every record is in the file exactly once (raw lines) and that Ledger.read returns them all without problems;
// - reading the day: Ledger.read for that day's range (the month file that holds it), records/s and MB/s.
//   node out/bench/ledger.js [--n 5000] [--per-process 2500] [--processes 4] [--reads 5]
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { Ledger, ledgerFileName } from '../src/core/carbon/ledger';
import type { SciRecord } from '../src/core/carbon/types';
import { machine, median, pct, round, spread, writeResult } from './util';

const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '5000' },
    'per-process': { type: 'string', default: '2500' },
    processes: { type: 'string', default: '4' },
    reads: { type: 'string', default: '5' },
    child: { type: 'boolean', default: false },
  },
  allowPositionals: true,
});

/** A typical local inline-completion record (what carbonAccounting appends after each engine call). */
function record(id: string, ms: number): SciRecord {
  return {
    id,
    ts: new Date(ms).toISOString(),
    route: 'local',
    feature: 'inline-completion',
    model: 'qwen2.5-coder-1.5b-instruct-q4_k_m.gguf',
    tokens: { in: 1480, out: 24 },
    energy: { kWh: 0.0000021, rangeKWh: [0.0000012, 0.0000041], method: 'tdp-model', measured: false },
    intensity: { gPerKWh: 56, source: 'electricity-maps', zone: 'FR', signal: 'average', isEstimated: false },
    operationalG: 0.0001176,
    embodiedG: 0.000031,
    sciG: 0.0001486,
    rangeG: [0.00007, 0.0003],
    baseline: { route: 'cloud', model: 'gpt-4o', sciG: 0.021 },
    savedG: 0.0208514,
  };
}

/** The start of today (UTC): all records land in today's range, a few ms apart. */
const DAY_START = Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate());
const epochNow = () => performance.timeOrigin + performance.now();

async function appendMany(ledger: Ledger, prefix: string, count: number, offsetMs: number): Promise<number[]> {
  const lat: number[] = [];
  for (let i = 0; i < count; i++) {
    const rec = record(`${prefix}-${i}`, DAY_START + offsetMs + i * 5);
    const t0 = performance.now();
    await ledger.append(rec);
    lat.push(performance.now() - t0);
  }
  return lat;
}

/** --child DIR PREFIX COUNT OFFSET_MS: says ready, waits for a line on stdin, appends, reports JSON on stdout. */
async function child(): Promise<void> {
  const [dir, prefix, count, offset] = process.argv.slice(process.argv.indexOf('--child') + 1);
  const ledger = new Ledger({ dir });
  const go = new Promise((resolve) => process.stdin.once('data', resolve));
  process.stdout.write('ready\n');
  await go;
  process.stdin.destroy();
  const start = epochNow();
  const lat = await appendMany(ledger, prefix, Number(count), Number(offset));
  const end = epochNow();
  process.stdout.write(JSON.stringify({ start, end, p50: pct(lat, 50), p99: pct(lat, 99) }) + '\n');
}

interface ChildReport {
  start: number;
  end: number;
  p50: number;
  p99: number;
}

function startChild(dir: string, prefix: string, count: number, offsetMs: number) {
  const proc = spawn(process.execPath, [__filename, '--child', dir, prefix, String(count), String(offsetMs)], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  const ready = new Promise<void>((resolve) =>
    proc.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready\n')) resolve();
    }),
  );
  const done = new Promise<ChildReport>((resolve, reject) =>
    proc.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`ledger writer ${prefix} exited with ${code}`));
      resolve(JSON.parse(out.slice(out.indexOf('ready\n') + 6).trim()) as ChildReport);
    }),
  );
  return { ready, done, go: () => proc.stdin.end('go\n') };
}

async function main(): Promise<void> {
  const N = Number(values.n);
  const PER = Number(values['per-process']);
  const PROCS = Number(values.processes);
  const work = mkdtempSync(path.join(os.tmpdir(), 'verdant-bench-ledger-'));
  const loadBefore = os.loadavg();
  try {
    // One writer.
    const seqDir = path.join(work, 'sequential');
    const seqLedger = new Ledger({ dir: seqDir });
    await appendMany(seqLedger, 'warm', 200, 0); // creates the folder and file, warms the JIT
    const s0 = performance.now();
    const seqLat = await appendMany(seqLedger, 's', N, 1000);
    const seqMs = performance.now() - s0;

    // PROCS processes at once.
    const concDir = path.join(work, 'concurrent');
    const children = Array.from({ length: PROCS }, (_, k) => startChild(concDir, `w${k}`, PER, 1 + k));
    await Promise.all(children.map((c) => c.ready));
    for (const c of children) c.go();
    const reports = await Promise.all(children.map((c) => c.done));
    const concMs = Math.max(...reports.map((r) => r.end)) - Math.min(...reports.map((r) => r.start));

    // Exactly once: the raw file, then the reader.
    const file = path.join(concDir, ledgerFileName(DAY_START));
    const lines = readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l !== '');
    const seen = new Map<string, number>();
    for (const l of lines) {
      const id = (JSON.parse(l) as SciRecord).id;
      seen.set(id, (seen.get(id) ?? 0) + 1);
    }
    const missing: string[] = [];
    for (let k = 0; k < PROCS; k++) for (let i = 0; i < PER; i++) if (seen.get(`w${k}-${i}`) !== 1) missing.push(`w${k}-${i}`);
    const writers = lines.map((l) => l.slice(7, 9)); // `{"id":"w0-…`
    const interleavings = writers.filter((w, i) => i > 0 && w !== writers[i - 1]).length;
    const concLedger = new Ledger({ dir: concDir });
    const day = { since: new Date(DAY_START), until: new Date(DAY_START + 86_400_000) };
    const check = await concLedger.read(day);
    const exactlyOnce = missing.length === 0 && lines.length === PROCS * PER && check.records.length === PROCS * PER && check.problems.length === 0;
    if (!exactlyOnce)
      throw new Error(
        `ledger lost or doubled records: ${missing.length} ids not exactly once (first ${missing.slice(0, 5).join(', ')}), ${lines.length} lines, read ${check.records.length}, problems ${JSON.stringify(check.problems.slice(0, 3))}`,
      );

    // Reading the day (the concurrent writers' file: PROCS * PER records).
    const readMs: number[] = [];
    for (let i = 0; i < Number(values.reads); i++) {
      const t0 = performance.now();
      const { records } = await concLedger.read(day);
      readMs.push(performance.now() - t0);
      if (records.length !== PROCS * PER) throw new Error(`read ${records.length} records`);
    }
    const fileBytes = statSync(file).size;
    const readMedian = median(readMs);

    const result = {
      date: new Date().toISOString(),
      machine: machine(),
      loadAverage: { before: loadBefore.map((x) => round(x, 2)), after: os.loadavg().map((x) => round(x, 2)) },
      filesystem: `${os.tmpdir()} (temp folder)`,
      recordBytes: round(fileBytes / lines.length, 0),
      sequential: {
        records: N,
        recordsPerSecond: Math.round(N / (seqMs / 1000)),
        appendMs: spread(seqLat),
      },
      concurrent: {
        processes: PROCS,
        recordsPerProcess: PER,
        records: PROCS * PER,
        wallMs: round(concMs, 1),
        recordsPerSecond: Math.round((PROCS * PER) / (concMs / 1000)),
        appendMsPerProcess: reports.map((r) => ({ p50: round(r.p50), p99: round(r.p99) })),
        exactlyOnce,
        writerSwitchesInFile: interleavings,
        note: `${PROCS} processes on ${os.availableParallelism()} logical cores`,
      },
      readDay: {
        records: PROCS * PER,
        fileMiB: round(fileBytes / 2 ** 20),
        runs: readMs.length,
        ms: spread(readMs, 1),
        recordsPerSecond: Math.round((PROCS * PER) / (readMedian / 1000)),
        mibPerSecond: round(fileBytes / 2 ** 20 / (readMedian / 1000), 1),
      },
    };
    writeResult('ledger', result);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

(values.child ? child() : main()).catch((e) => {
  console.error(e instanceof Error ? e.stack : e);
  process.exit(1);
});
