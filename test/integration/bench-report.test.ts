// bench/report.mjs (`npm run bench:report`) on fixture results: the tables of docs/BENCHMARKS.md are built from the
// JSON the benchmarks write, so a renamed field or a broken formatter fails here instead of silently printing dashes.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const MACHINE = { cpu: 'Test CPU', logicalCores: 2, memoryGiB: 8, platform: 'linux-x64', node: '20.20.2' };
const DATE = '2026-11-26T10:00:00.000Z';
const spread = (median: number, p90: number) => ({ n: 20, median, p90, p99: p90 + 1, min: median - 1, max: p90 + 2 });
const side = (median: number, p90: number, evaluated: number) => ({
  latencyMs: spread(median, p90),
  engineReportedMs: spread(median - 1, p90 - 1),
  promptPhaseMs: spread(median - 9, p90 - 9),
  decodePhaseMs: spread(8, 9),
  meanPromptTokens: 700,
  meanEvaluatedPromptTokens: evaluated,
  evaluatedTokens: spread(evaluated, evaluated),
  meanGeneratedTokens: 16,
  emptySuggestions: 0,
});

function peers(server: 'measured' | 'skipped') {
  const skipped = { skipped: 'LLAMA_SERVER is not set: point it at a llama-server binary' };
  const scenario = (v: [number, number, number], s: [number, number, number]) =>
    server === 'measured'
      ? {
          verdant: side(...v),
          llamaServer: side(...s),
          ratio: { median: Math.round((v[0] / s[0]) * 100) / 100, p90: Math.round((v[1] / s[1]) * 100) / 100 },
        }
      : { verdant: side(...v), llamaServer: skipped };
  const settings = (batch: number, ubatch: number, context: number, sequences: number, flashAttention: string, rssMiB: number) => ({
    cpuVariant: 'zen4',
    cpuVariantEvidence: '/proc/42/maps: /x/bins/linux-x64/libggml-cpu-zen4.so',
    batch,
    ubatch,
    context,
    sequences,
    threads: 1,
    flashAttention,
    model: 'stories260K-fim.gguf',
    rssMiB,
  });
  const serverSettings = (args: string[], ...s: Parameters<typeof settings>) =>
    server === 'measured' ? { ...settings(...s), binary: '/x/llama-server', version: 'version: 1 (abc)', args } : skipped;
  const row = (name: 'parity' | 'asShipped', k: number) => ({
    row: name,
    threads: 1,
    verdant: name === 'parity' ? settings(128, 128, 2048, 4, 'false', 130.2) : settings(512, 512, 2048, 4, 'false', 131),
    llamaServer:
      name === 'parity'
        ? serverSettings(['-m', 'stories260K-fim.gguf', '-t', '1', '-ub', '128'], 1024, 128, 2048, 1, 'disabled', 90.5)
        : serverSettings(['-m', 'stories260K-fim.gguf', '-t', '1', '-ub', '1024'], 1024, 1024, 2048, 4, 'enabled', 95),
    scenarios: {
      cold: scenario([250 * k, 300, 700], [200, 240, 699]),
      oneCharEdit: scenario([60, 70, 120], [50, 56, 121]),
      typingThrough: scenario([55, 66, 118], [44, 60, 119]),
      largeDocument: scenario([80, 90, 30], [70, 75, 40]),
    },
    ...(name === 'asShipped' ? { verdantTypingWithCache: { ...side(0.02, 0.05, 0), engineCalls: 12, servedByTypingThrough: 108 } } : {}),
    typedText: { verdant: ['abc'], llamaServer: server === 'measured' ? ['abd'] : null },
  });
  return {
    date: DATE,
    machine: MACHINE,
    model: 'stories260K-fim.gguf',
    modelSource: 'test model (FIM variant of stories260K)',
    maxTokens: 16,
    docs: 20,
    typingSessions: { documents: 3, keystrokes: 40 },
    largeDocument: { documents: 1, keystrokes: 40, prefixChars: 18022, parityContextTokens: 2048 },
    threads: [1],
    parityBatch: { batch: 128, ubatch: 128, serverBatch: 1024 },
    rows: [row('parity', 1), row('asShipped', 2)],
  };
}

function memory(rssGrowthMiB: number) {
  const trend = (first: number, growth: number, threshold: number) => ({
    firstMiB: first,
    lastMiB: first + growth,
    maxMiB: first + growth,
    slopeBytesPer1000: Math.round((growth * 2 ** 20) / 10),
    growthOverRunMiB: growth,
    secondHalfSlopeBytesPer1000: -2048,
    residualSdMiB: 0.1,
    noiseThresholdMiB: threshold,
    thresholdRule: 'max(5 % of the first sample, 2 MiB)',
    verdict: growth < threshold ? 'no growth beyond noise' : 'GROWTH beyond noise',
  });
  return {
    date: DATE,
    machine: MACHINE,
    model: 'stories260K-fim.gguf',
    engine: { inProcess: true, backend: 'llama.cpp (cpu)', threads: 1, contextSize: 4096, sequences: 4, maxTokens: 16 },
    completions: 10000,
    warmup: 500,
    sampleEvery: 500,
    gcForcedBeforeSample: true,
    runSeconds: 150.2,
    measuredSeconds: 140.1,
    completionMs: spread(9.5, 30),
    pipeline: { engineCalls: 5100, typingThrough: 4300, cacheHits: 600, empty: 0, shown: 10000, usageRecords: 5100, generatedTokens: 81600 },
    heapUsed: trend(18.5, 0.25, 2),
    rss: trend(180, rssGrowthMiB, 9),
  };
}

const LEDGER = {
  date: DATE,
  machine: MACHINE,
  filesystem: '/tmp (temp folder)',
  recordBytes: 545,
  sequential: { records: 5000, recordsPerSecond: 9000, appendMs: spread(0.09, 0.12) },
  concurrent: {
    processes: 4,
    recordsPerProcess: 2500,
    records: 10000,
    wallMs: 2500,
    recordsPerSecond: 4000,
    appendMsPerProcess: [
      { p50: 0.3, p99: 4 },
      { p50: 0.35, p99: 6.5 },
      { p50: 0.2, p99: 3 },
      { p50: 0.4, p99: 5 },
    ],
    exactlyOnce: true,
    writerSwitchesInFile: 7000,
  },
  readDay: { records: 10000, fileMiB: 5.2, runs: 5, ms: spread(60, 70), recordsPerSecond: 166667, mibPerSecond: 86.7 },
};

/** Runs the report on these result files (a string is written as is, anything else as JSON); returns the markdown. */
function report(dir: string, results: Record<string, unknown>): string {
  const resultsDir = path.join(dir, 'results');
  mkdirSync(resultsDir, { recursive: true });
  for (const [name, value] of Object.entries(results))
    writeFileSync(path.join(resultsDir, name), typeof value === 'string' ? value : JSON.stringify(value, null, 2));
  const out = path.join(dir, 'out', 'BENCHMARKS.md');
  const r = spawnSync(process.execPath, [path.resolve('bench/report.mjs'), '--results', resultsDir, '--out', out], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return readFileSync(out, 'utf8');
}

/** The table row whose first cell is `first`, as its cells. */
function row(md: string, first: string): string[] {
  const line = md.split('\n').find((l) => l.startsWith(`| ${first} |`));
  assert.ok(line, `no row "${first}" in:\n${md}`);
  return line.slice(2, -2).split(' | ');
}

describe('bench report (bench/report.mjs)', function () {
  this.timeout(60_000);
  let work: string;
  beforeEach(() => {
    work = mkdtempSync(path.join(os.tmpdir(), 'verdant-bench-report-'));
  });
  afterEach(() => rmSync(work, { recursive: true, force: true }));

  it('peers, memory and ledger: a row per scenario with medians, p90s, ratios and the verdicts', () => {
    const md = report(work, { 'peers.json': peers('measured'), 'memory.json': memory(1.5), 'ledger.json': LEDGER });
    assert.match(md, /^# Benchmarks\n/);
    // Latency per row and scenario: tokens evaluated per request as median (p90) / mean generated.
    assert.deepEqual(row(md, 'Parity, 1 thread: cold prompt'), [
      'Parity, 1 thread: cold prompt',
      '250 (300)',
      '200 (240)',
      '1.25 (1.25)',
      '700 (700) / 16',
      '699 (699) / 16',
    ]);
    assert.deepEqual(row(md, 'As shipped, 1 thread: cold prompt').slice(0, 4), [
      'As shipped, 1 thread: cold prompt',
      '500 (300)',
      '200 (240)',
      '2.5 (1.25)',
    ]);
    assert.deepEqual(row(md, 'Parity, 1 thread: one-character edit').slice(0, 4), [
      'Parity, 1 thread: one-character edit',
      '60 (70)',
      '50 (56)',
      '1.2 (1.25)',
    ]);
    assert.deepEqual(row(md, 'Parity, 1 thread: typing-through').slice(0, 4), [
      'Parity, 1 thread: typing-through',
      '55 (66)',
      '44 (60)',
      '1.25 (1.1)',
    ]);
    assert.deepEqual(row(md, 'Parity, 1 thread: large document'), [
      'Parity, 1 thread: large document',
      '80 (90)',
      '70 (75)',
      '1.14 (1.2)',
      '30 (30) / 16',
      '40 (40) / 16',
    ]);
    // What each side ran with: variant, batch / ubatch, context × sequences, threads, flash attention, RSS.
    assert.deepEqual(row(md, 'Parity, 1 thread: Verdant'), [
      'Parity, 1 thread: Verdant',
      'zen4',
      '128 / 128',
      '2,048 × 4',
      '1',
      'false',
      '130.2 MiB',
    ]);
    assert.deepEqual(row(md, 'Parity, 1 thread: llama-server'), [
      'Parity, 1 thread: llama-server',
      'zen4',
      '1,024 / 128',
      '2,048 × 1',
      '1',
      'disabled',
      '90.5 MiB',
    ]);
    assert.deepEqual(row(md, 'As shipped, 1 thread: llama-server').slice(0, 3), ['As shipped, 1 thread: llama-server', 'zen4', '1,024 / 1,024']);
    assert.match(md, /- Parity, 1 thread, Verdant: \/proc\/42\/maps: libggml-cpu-zen4\.so/);
    // Where the time goes: prompt / decode / wall minus the engine's own time.
    assert.ok(md.includes('| Parity, 1 thread: cold prompt | 241 / 8 / 1 | 191 / 8 / 1 |'), md);
    assert.match(md, /Machine: Test CPU, 2 logical cores, 8 GiB RAM, linux-x64, Node 20\.20\.2\. Measured: 2026-11-26 10:00 UTC\./);
    assert.match(md, /llama-server: version: 1 \(abc\) \(\/x\/llama-server\)\./);
    assert.match(md, /Parity, 1 thread: `-m stories260K-fim\.gguf -t 1 -ub 128`/);
    assert.match(md, /Threads: 1\. Parity batch: 128 \/ ubatch 128 on both sides \(the server's -b 1,024/);
    assert.match(
      md,
      /As shipped, 1 thread, with its suggestion cache on, .* 108 of 20 keystrokes were served by typing-through and 12 reached the engine/,
    );

    assert.deepEqual(row(md, 'Heap used'), [
      'Heap used',
      '18.5 MiB',
      '18.75 MiB',
      '18.75 MiB',
      '25.6 KiB',
      '0.25 MiB',
      '-2 KiB',
      '2 MiB (max(5 % of the first sample, 2 MiB))',
      '0.1 MiB',
      'no growth beyond noise',
    ]);
    assert.equal(row(md, 'RSS').at(-1), 'no growth beyond noise');
    assert.match(md, /10,000 completions after a warm-up of 500, sampled every 500 after a forced GC; 5,100 reached the engine/);

    assert.deepEqual(row(md, 'Append, one writer, sequential'), ['Append, one writer, sequential', '5,000', '9,000', '0.09', '1.12', '–']);
    assert.deepEqual(row(md, 'Append, 4 processes at once'), [
      'Append, 4 processes at once',
      '10,000',
      '4,000',
      '0.2–0.4 (per process)',
      '6.5 (worst process)',
      'every record exactly once (7,000 writer switches in the file)',
    ]);
    assert.deepEqual(row(md, "Read the day's records"), [
      "Read the day's records",
      '10,000',
      '166,667',
      '60 per read of 5.2 MiB',
      '71',
      '86.7 MiB/s, 5 reads',
    ]);

    // Every section has its caveats; results not there are named, with the command that makes them.
    assert.equal(md.match(/\*\*How measured \/ caveats\*\*/g)?.length, 3);
    assert.match(md, /## Local engine\n\nNot run yet: `npm run bench -- engine`\./);
    assert.match(md, /## Router evaluation\n\nNot run yet: `npm run eval:router`\./);
    assert.doesNotMatch(md, /undefined|NaN|\[object Object\]/);
  });

  it("a skipped llama-server keeps Verdant's numbers, says why, gives no ratio; growth is called growth", () => {
    const md = report(work, { 'peers.json': peers('skipped'), 'memory.json': memory(40) });
    assert.deepEqual(row(md, 'Parity, 1 thread: cold prompt'), ['Parity, 1 thread: cold prompt', '250 (300)', 'skipped', '–', '700 (700) / 16', '–']);
    assert.deepEqual(row(md, 'As shipped, 1 thread: typing-through'), [
      'As shipped, 1 thread: typing-through',
      '55 (66)',
      'skipped',
      '–',
      '118 (118) / 16',
      '–',
    ]);
    // Why, once in the text and in each settings row, never as a ratio.
    assert.equal(row(md, 'Parity, 1 thread: llama-server')[1], 'skipped: LLAMA_SERVER is not set: point it at a llama-server binary');
    assert.equal(md.match(/LLAMA_SERVER is not set/g)?.length, 3);
    assert.equal(row(md, 'RSS').at(-1), 'GROWTH beyond noise');
    assert.match(md, /## Carbon ledger\n\nNot run yet: `npm run bench -- ledger`\./);
    assert.doesNotMatch(md, /undefined|NaN|\[object Object\]/);
  });

  it('hostile endpoint: a row per scenario with how the call ended and the growth, cloud and Ollama', () => {
    const scenario = (outcome: string, textChars: number, sent: number, rss: number, heap: number) => ({
      outcome,
      textChars,
      ms: 52.2,
      rssBaselineMiB: 66,
      rssPeakGrowthMiB: rss,
      heapBaselineMiB: 8,
      heapPeakGrowthMiB: heap,
      serverSentMiB: sent,
    });
    const md = report(work, {
      'hostile-endpoint.json': {
        date: DATE,
        machine: MACHINE,
        poured: { mib: 600 },
        maxTokens: 1024,
        scenarios: {
          body: scenario('CloudError (response-too-large): The endpoint at 127.0.0.1:1 sent an answer of more than 8 MiB', 0, 11.75, 21.2, 1.3),
          line: scenario('CloudError (event-too-large): The endpoint at 127.0.0.1:1 sent a streamed event of more than 1 MiB', 0, 5.44, 6.4, 2.1),
          endless: scenario('answer, finish reason "length"', 16384, 3.87, 10.9, 3.8),
          'ollama-body': scenario(
            'EngineError (backend-unavailable): Ollama at http://127.0.0.1:1 sent a response of more than 8 MiB',
            0,
            12.63,
            20.6,
            1.3,
          ),
          'ollama-line': scenario(
            'EngineError (backend-unavailable): Ollama at http://127.0.0.1:1 sent a streamed line of more than 4 MiB',
            0,
            7.25,
            17.2,
            5,
          ),
          'ollama-endless': scenario('answer, stopReason "maxTokens"', 16384, 3.81, 6, 4.2),
        },
      },
    });
    assert.match(md, /## Cloud client and local backends against a hostile server\n/);
    assert.deepEqual(row(md, 'Cloud: non-streamed answer of 600 MiB'), [
      'Cloud: non-streamed answer of 600 MiB',
      'CloudError (response-too-large)',
      '0',
      '11.8 MiB',
      '21.2 MiB',
      '1.3 MiB',
      '52.2',
    ]);
    assert.deepEqual(row(md, 'Cloud: one SSE line of 600 MiB').slice(1, 2), ['CloudError (event-too-large)']);
    assert.deepEqual(row(md, 'Cloud: endless stream of small events (max_tokens 1,024)').slice(1, 3), ['answer, finish reason "length"', '16,384']);
    assert.deepEqual(row(md, 'Ollama: info() answer of 600 MiB'), [
      'Ollama: info() answer of 600 MiB',
      'EngineError (backend-unavailable)',
      '0',
      '12.6 MiB',
      '20.6 MiB',
      '1.3 MiB',
      '52.2',
    ]);
    assert.deepEqual(row(md, 'Ollama: one NDJSON line of 600 MiB').slice(1, 2), ['EngineError (backend-unavailable)']);
    assert.deepEqual(row(md, 'Ollama: endless NDJSON stream (maxTokens 1,024)').slice(1, 3), ['answer, stopReason "maxTokens"', '16,384']);
    assert.doesNotMatch(md, /undefined|NaN|\[object Object\]/);
  });

  it('hostile endpoint: a result from before the Ollama rows shows them as not measured', () => {
    const md = report(work, {
      'hostile-endpoint.json': { date: DATE, machine: MACHINE, poured: { mib: 600 }, maxTokens: 1024, scenarios: {} },
    });
    assert.deepEqual(row(md, 'Ollama: info() answer of 600 MiB').slice(1), ['–', '–', '–', '–', '–', '–']);
  });

  it("efficiency mode: a row per phase with the priorities read back, tokens/s and the hogs' share (#19)", () => {
    const worker = (mode: 'off' | 'always') => {
      const low = mode === 'always';
      const level = low ? 'low' : 'normal';
      return {
        nice: low ? 19 : 0,
        group: low ? 19 : 0,
        status: { level, value: low ? 19 : 0, group: low ? 19 : 0, startedLow: low, raiseRefused: null, draining: false },
      };
    };
    const phase = (name: string, mode: 'off' | 'always' | null, hogs: number, hogUnits: number | null, tps: number | null) => ({
      name,
      workerMode: mode,
      hogs,
      priorities: { bench: 0, hogs: Array<number>(hogs).fill(0), worker: mode ? worker(mode) : null },
      hogUnitsPerSecond: hogUnits,
      worker: tps === null ? null : { requests: 700, generatedTokens: 22400, seconds: 10, tokensPerSecond: tps, requestMs: spread(12.4, 17.1) },
    });
    const md = report(work, {
      'priority.json': {
        date: DATE,
        machine: MACHINE,
        loadAverage: { before: [0.5, 0.4, 0.3], after: [2.1, 0.9, 0.5] },
        model: 'stories260K.gguf',
        threads: 1,
        maxTokens: 32,
        secondsPerPhase: 10,
        autogroup: true,
        phases: [
          phase('hogs alone', null, 2, 600000, null),
          phase('normal worker alone', 'off', 0, null, 2300),
          phase('low worker alone', 'always', 0, null, 2250),
          phase('normal worker beside the hogs', 'off', 2, 360000, 2400),
          phase('low worker beside the hogs', 'always', 2, 594000, 28),
        ],
        summary: {
          hogThroughputBesideNormal: 0.6,
          hogThroughputBesideLow: 0.99,
          workerSpeedAloneLowVsNormal: 0.978,
          workerSpeedBesideHogsNormal: 1.043,
          workerSpeedBesideHogsLow: 0.012,
        },
      },
    });
    assert.match(md, /## Efficiency Mode: the engine at low priority beside CPU hogs\n\nMachine: Test CPU, 2 logical cores/);
    assert.deepEqual(row(md, 'hogs alone'), ['hogs alone', '–', '–', '–', '–', '600,000', '–']);
    assert.deepEqual(row(md, 'low worker alone'), ['low worker alone', 'low: nice 19, session group 19', '2,250', '12.4 (17.1)', '700', '–', '–']);
    assert.deepEqual(row(md, 'normal worker beside the hogs'), [
      'normal worker beside the hogs',
      'normal: nice 0, session group 0',
      '2,400',
      '12.4 (17.1)',
      '700',
      '360,000',
      '60 %',
    ]);
    assert.deepEqual(row(md, 'low worker beside the hogs').slice(1), [
      'low: nice 19, session group 19',
      '28',
      '12.4 (17.1)',
      '700',
      '594,000',
      '99 %',
    ]);
    assert.match(md, /at low priority it kept 1\.2 % and left the hogs 99 %/);
    assert.match(md, /The kernel groups processes by session \(autogroup\): yes\./);
    assert.doesNotMatch(md, /undefined|NaN|\[object Object\]/);
    assert.match(report(path.join(work, 'none'), {}), /## Efficiency Mode: .*\n\nNot run yet: `npm run bench -- priority`\./);
  });

  it('an unreadable result file is skipped with a message, the rest is still written', () => {
    const resultsDir = path.join(work, 'results');
    mkdirSync(resultsDir, { recursive: true });
    writeFileSync(path.join(resultsDir, 'peers.json'), '{"date": "2026-11-');
    writeFileSync(path.join(resultsDir, 'ledger.json'), JSON.stringify(LEDGER));
    const out = path.join(work, 'BENCHMARKS.md');
    const r = spawnSync(process.execPath, [path.resolve('bench/report.mjs'), '--results', resultsDir, '--out', out], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /skipping peers\.json/);
    const md = readFileSync(out, 'utf8');
    assert.match(md, /## Peers: .*\n\nNot run yet: `npm run bench -- peers`\./);
    assert.ok(row(md, 'Append, one writer, sequential'));
  });
});
