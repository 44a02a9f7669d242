// The carbon ledger under real concurrency: several processes (VS Code windows, the CLI) appending to one folder at
// once, and a writer killed mid-stream. The children run the ledger bundled from source into a temp folder, so this
// test needs no other build output.
import * as assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildSync } from 'esbuild';
import { Ledger } from '../../src/core/carbon/ledger';
import type { SciRecord } from '../../src/core/carbon/types';

const TEMPLATE: SciRecord = {
  id: '',
  ts: '2026-11-05T10:00:00.000Z',
  route: 'local',
  feature: 'inline-completion',
  model: 'qwen2.5-coder-1.5b',
  tokens: { in: 512, out: 24 },
  energy: { kWh: 0.000002, rangeKWh: [0.000001, 0.000004], method: 'tdp-model', measured: false },
  intensity: { gPerKWh: 56, source: 'embedded', zone: 'FR', signal: 'average', isEstimated: true },
  operationalG: 0.000112,
  embodiedG: 0.00003,
  sciG: 0.000142,
  rangeG: [0.00007, 0.0003],
  baseline: { route: 'cloud', model: 'gpt-4o', sciG: 0.02 },
  savedG: 0.019858,
};

// Says 'ready', waits for a line on stdin (so that all writers start together), then appends `count` records
// (0: until killed) with ids `<prefix>-0`, `<prefix>-1`…, each awaited, as fast as it can.
const WRITER = `
const { Ledger } = require(process.argv[2]);
const [dir, prefix, countArg, template] = process.argv.slice(3);
const count = Number(countArg);
const ledger = new Ledger({ dir });
const go = new Promise((resolve) => process.stdin.once('data', resolve));
process.stdout.write('ready\\n');
(async () => {
  await go;
  process.stdin.destroy();
  for (let i = 0; count === 0 || i < count; i++) {
    await ledger.append({ ...JSON.parse(template), id: prefix + '-' + i });
    if (i === 0) process.stdout.write('started\\n');
  }
})().then(() => process.exit(0), (e) => { process.stderr.write(String(e && e.stack || e)); process.exit(1); });
`;

let work: string;
let ledgerJs: string;
let writerJs: string;

interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stderr: string;
}

interface Writer {
  readonly child: ChildProcess;
  readonly ready: Promise<void>;
  readonly started: Promise<void>;
  readonly exited: Promise<Exit>;
  go(): void;
}

function startWriter(dir: string, prefix: string, count: number): Writer {
  const child = spawn(process.execPath, [writerJs, ledgerJs, dir, prefix, String(count), JSON.stringify(TEMPLATE)], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  let out = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const said = (word: string) =>
    new Promise<void>((resolve) => {
      const check = () => {
        if (out.includes(word)) resolve();
      };
      child.stdout?.on('data', check);
      check();
    });
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<Exit>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, stderr })));
  return {
    child,
    ready: said('ready'),
    started: said('started'),
    exited,
    go: () => {
      child.stdin?.end('go\n');
    },
  };
}

async function runWriter(dir: string, prefix: string, count: number): Promise<Exit> {
  const w = startWriter(dir, prefix, count);
  await w.ready;
  w.go();
  return w.exited;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const idsIn = (records: readonly SciRecord[], prefix: string) =>
  records.filter((r) => r.id.startsWith(`${prefix}-`)).map((r) => Number(r.id.slice(prefix.length + 1)));

describe('carbon ledger across processes', () => {
  before(() => {
    work = mkdtempSync(path.join(os.tmpdir(), 'verdant-ledger-it-'));
    ledgerJs = path.join(work, 'ledger.js');
    writerJs = path.join(work, 'writer.js');
    // Relative to the cwd: the same from a temp build and from the repository's own out/test.
    buildSync({
      entryPoints: [path.resolve(process.cwd(), 'src/core/carbon/ledger.ts')],
      bundle: true,
      platform: 'node',
      format: 'cjs',
      target: 'node20',
      outfile: ledgerJs,
      logLevel: 'silent',
    });
    writeFileSync(writerJs, WRITER);
  });

  after(() => rmSync(work, { recursive: true, force: true }));

  it('4 processes x 200 appends at once: every record exactly once, no problems', async () => {
    const dir = path.join(work, 'four');
    const writers = ['w0', 'w1', 'w2', 'w3'].map((p) => startWriter(dir, p, 200));
    await Promise.all(writers.map((w) => w.ready));
    for (const w of writers) w.go();
    const ledger = new Ledger({ dir });
    let done = false;
    const all = Promise.all(writers.map((w) => w.exited)).finally(() => {
      done = true;
    });
    // A reader during the writes sees whole records; at most the line being written is not complete yet.
    let reads = 0;
    while (!done) {
      const { problems } = await ledger.read();
      assert.ok(problems.length <= 1 && problems.every((p) => /incomplete last line/.test(p.reason)), JSON.stringify(problems));
      reads++;
      await sleep(5);
    }
    for (const e of await all) assert.deepEqual([e.code, e.signal], [0, null], e.stderr);
    const { records, problems } = await ledger.read();
    assert.deepEqual(problems, []);
    assert.equal(records.length, 800);
    for (const p of ['w0', 'w1', 'w2', 'w3'])
      assert.deepEqual(
        idsIn(records, p).sort((a, b) => a - b),
        Array.from({ length: 200 }, (_, i) => i),
      );
    const fileLines = readFileSync(path.join(dir, 'ledger-2026-11.jsonl'), 'utf8')
      .split('\n')
      .filter((l) => l !== '');
    assert.equal(fileLines.length, 800, 'no line was split, glued or lost');
    const writerOf = fileLines.map((l) => (JSON.parse(l) as SciRecord).id.slice(0, 2));
    const switches = writerOf.filter((w, i) => i > 0 && w !== writerOf[i - 1]).length;
    assert.ok(switches > 3, `the writers ran one after another (${switches} switches), so this proved nothing`);
    assert.ok(reads > 0);
  });

  it('a writer killed with SIGKILL mid-stream, then a torn write: complete records all read, appends go on', async () => {
    const dir = path.join(work, 'killed');
    const file = path.join(dir, 'ledger-2026-11.jsonl');
    const writer = startWriter(dir, 'k', 0);
    await writer.ready;
    writer.go();
    await writer.started;
    await sleep(100);
    writer.child.kill('SIGKILL');
    const exit = await writer.exited;
    assert.equal(exit.signal, 'SIGKILL', exit.stderr);

    const ledger = new Ledger({ dir });
    let read = await ledger.read();
    assert.ok(read.problems.length <= 1, JSON.stringify(read.problems));
    const written = idsIn(read.records, 'k');
    assert.ok(written.length > 0);
    assert.deepEqual(
      written,
      Array.from({ length: written.length }, (_, i) => i),
      'appends were awaited in turn, so no gap',
    );
    const parseable = readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => {
        try {
          JSON.parse(l);
          return true;
        } catch {
          return false;
        }
      });
    assert.equal(parseable.length, written.length, 'every complete line was read');

    // A torn write, as a crash in the middle of one would leave it.
    appendFileSync(file, '{"id":"torn","ts":"2026-11-05T1');
    read = await ledger.read();
    assert.equal(read.records.length, written.length);
    const torn = read.problems.filter((p) => /incomplete last line/.test(p.reason));
    assert.equal(torn.length, 1);
    const tornLine = torn[0]!.line;

    await ledger.append({ ...TEMPLATE, id: 'parent-after' });
    const moreExit = await runWriter(dir, 'after', 50);
    assert.equal(moreExit.code, 0, moreExit.stderr);
    read = await ledger.read();
    assert.equal(read.records.length, written.length + 51);
    assert.deepEqual(
      idsIn(read.records, 'after').sort((a, b) => a - b),
      Array.from({ length: 50 }, (_, i) => i),
    );
    assert.ok(read.records.some((r) => r.id === 'parent-after'));
    assert.deepEqual(
      read.problems.map((p) => [p.line, p.reason]),
      [[tornLine, 'not JSON (a torn write or a hand edit)']],
      'only the torn fragment, on a line of its own',
    );
  });
});
