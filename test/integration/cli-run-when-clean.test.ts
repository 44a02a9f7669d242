// `verdant run-when-clean` as a real process (dist/cli.js): the plan from a recorded forecast and from the GB API
// replayed on 127.0.0.1, a short real wait before the command runs, exit codes passed through, Ctrl-C / SIGTERM
// while waiting (nothing runs) and while running (forwarded), no forecast (runs now), and usage errors.
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runCliProcess } from '../support/cli';
import { FakeServer } from '../support/fakeServer';

// A clean environment: no keys or zone from the machine, HOME in a temp folder.
const env = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({ PATH: process.env.PATH, HOME: os.tmpdir(), ...extra });
const cli = (args: string[], extra: NodeJS.ProcessEnv = {}) => runCliProcess(args, env(extra));

const MIN = 60_000;
const dir = mkdtempSync(path.join(os.tmpdir(), 'verdant-rwc-'));
let n = 0;
const tmp = (name: string) => path.join(dir, `${n++}-${name}`);

/** A command that writes "ran" to `file`; extra arguments that look like flags go to node's script, unparsed. */
const writer = (file: string, ...extra: string[]) => [process.execPath, '-e', "require('fs').writeFileSync(process.argv[1], 'ran')", file, ...extra];

function forecastFile(points: ReadonlyArray<readonly [number, number]>, pointMinutes: number): string {
  const file = tmp('forecast.json');
  writeFileSync(
    file,
    JSON.stringify({
      zone: 'GB',
      source: 'uk-carbon-intensity',
      signal: 'average',
      pointMinutes,
      points: points.map(([at, g]) => ({ at: new Date(at).toISOString(), gPerKWh: g })),
    }),
  );
  return file;
}

/** Hourly points from the current minute for 12 h, 300 g/kWh except 100 from `cleanAtH` hours on for one hour. */
function hourly(cleanAtH: number): { file: string; t0: number } {
  const t0 = Math.floor(Date.now() / MIN) * MIN;
  const points = Array.from({ length: 12 }, (_, i) => [t0 + i * 60 * MIN, i === cleanAtH ? 100 : 300] as const);
  return { file: forecastFile(points, 60), t0 };
}

/** Spawns the CLI; resolves `waiting` once it says it is waiting (its signal handlers are in place by then). */
function startCli(args: string[]) {
  const child = spawn(process.execPath, ['dist/cli.js', ...args], { env: env() });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => {
    stdout += d;
  });
  const waiting = new Promise<void>((resolve) =>
    child.stderr.on('data', (d) => {
      stderr += d;
      if (/waiting until|running now/.test(stderr)) resolve();
    }),
  );
  const ready = new Promise<void>((resolve) =>
    child.stdout.on('data', () => {
      if (stdout.includes('ready')) resolve();
    }),
  );
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  return { child, waiting, ready, done };
}

describe('verdant run-when-clean', function () {
  this.timeout(60_000);

  it('--dry-run --json: plans the cleanest window 3 h away and runs nothing; arguments after -- stay unparsed', async () => {
    const { file, t0 } = hourly(3);
    const out = tmp('ran');
    const command = writer(out, '--json', '--duration', '-h');
    const r = await cli(['run-when-clean', '--duration', '30m', '--within', '12h', '--forecast-file', file, '--dry-run', '--json', '--', ...command]);
    assert.equal(r.code, 0, r.stderr);
    const plan = JSON.parse(r.stdout);
    assert.equal(plan.runNow, false);
    assert.equal(plan.start, new Date(t0 + 3 * 60 * MIN).toISOString());
    assert.equal(plan.end, new Date(t0 + 3 * 60 * MIN + 30 * MIN).toISOString());
    assert.deepEqual([plan.windowGPerKWh, plan.nowGPerKWh, plan.savingPct], [100, 300, 66.67]);
    assert.ok(plan.savingPct > 0);
    assert.deepEqual([plan.source, plan.zone], ['uk-carbon-intensity', 'GB']);
    assert.match(plan.reason, /cleanest window/);
    assert.deepEqual(plan.command, command);
    assert.equal(existsSync(out), false, 'a dry run runs nothing');
  });

  it('waits for the clean window the forecast puts 3 s after it is asked, then runs the command; its exit code passes through', async () => {
    // A Carbon Aware SDK stand-in that puts the clean window 3 s after each request (one zone per CLI): the window is
    // derived from when the CLI asks, not from when the test started, so a slow start on a busy machine cannot
    // overtake it. 3 s is the slack between the answer and the CLI's plan (milliseconds of work).
    const edges = new Map<string, number>();
    const server = await FakeServer.start((seen, res, req) => {
      const zone = new URL(req.url ?? '/', 'http://127.0.0.1').searchParams.get('location') ?? '';
      const now = Date.now();
      if (seen.path.startsWith('/emissions/forecasts/current')) {
        const edge = now + 3000;
        edges.set(zone, edge);
        // 1-minute points: dirty before the edge, clean for the hour from it.
        const forecastData = Array.from({ length: 70 }, (_, k) => ({
          timestamp: new Date(edge + (k - 5) * MIN).toISOString(),
          duration: 1,
          value: k >= 5 && k < 65 ? 50 : 500,
        }));
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify([{ location: zone, generatedAt: new Date(now).toISOString(), forecastData }]));
      } else {
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify([{ location: zone, time: new Date(now).toISOString(), rating: 500 }]));
      }
    });
    try {
      const out = tmp('ran');
      const base = (zone: string) => ['run-when-clean', '--duration', '1m', '--within', '1h', '--source', 'carbon-aware-sdk', '--zone', zone, '--'];
      const sdk = { VERDANT_CARBON_AWARE_SDK_URL: server.url };
      // The command writes the time it ran.
      const stamp = [process.execPath, '-e', "require('fs').writeFileSync(process.argv[1], String(Date.now()))", out];
      const [ran, three] = await Promise.all([
        cli([...base('zone-ran'), ...stamp], sdk),
        cli([...base('zone-three'), process.execPath, '-e', 'process.exit(3)'], sdk),
      ]);
      assert.equal(ran.code, 0, ran.stderr);
      assert.match(ran.stderr, /waiting until .* for the cleanest window \(\d+(\.\d+)? % less than now, carbon-aware-sdk\); Ctrl-C cancels/);
      assert.ok(edges.has('zone-ran'), 'the CLI asked the stand-in for its forecast');
      const ranAt = Number(readFileSync(out, 'utf8'));
      assert.ok(ranAt >= edges.get('zone-ran')!, `the command ran ${edges.get('zone-ran')! - ranAt} ms before the window began`);
      assert.equal(three.code, 3, three.stderr);
      assert.match(three.stderr, /waiting until/);
    } finally {
      await server.close();
    }
  });

  it('Ctrl-C while waiting cancels with 130 (SIGTERM: 143) and runs nothing', async () => {
    const { file } = hourly(1);
    const outs = [tmp('ran'), tmp('ran')];
    const runs = outs.map((out) =>
      startCli(['run-when-clean', '--duration', '30m', '--within', '12h', '--forecast-file', file, '--', ...writer(out)]),
    );
    await Promise.all(runs.map((r) => r.waiting));
    await new Promise((r) => setTimeout(r, 300));
    runs[0]!.child.kill('SIGINT');
    runs[1]!.child.kill('SIGTERM');
    const [int, term] = await Promise.all(runs.map((r) => r.done));
    assert.ok(int && term);
    assert.equal(int.code, 130, int.stderr);
    assert.equal(term.code, 143, term.stderr);
    for (const r of [int, term]) assert.match(r.stderr, /cancelled: .*node -e .* did not run/);
    for (const out of outs) assert.equal(existsSync(out), false, 'the command did not run');
  });

  it('without a grid forecast says so and runs now; a signal while the command runs is forwarded to it', async () => {
    const out = tmp('ran');
    const r = await cli(['run-when-clean', '--duration', '30m', '--within', '12h', '--zone', 'FR', '--source', 'embedded', '--', ...writer(out)]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /no grid forecast/);
    assert.equal(readFileSync(out, 'utf8'), 'ran');

    const got = tmp('signal');
    const script = `process.on('SIGTERM', () => { require('fs').writeFileSync(${JSON.stringify(got)}, 'SIGTERM'); process.exit(7); });
      setInterval(() => {}, 1000); console.log('ready');`;
    const run = startCli(['run-when-clean', '--duration', '5m', '--zone', 'FR', '--source', 'embedded', '--', process.execPath, '-e', script]);
    await run.ready;
    run.child.kill('SIGTERM');
    const done = await run.done;
    assert.equal(done.code, 7, done.stderr);
    assert.equal(readFileSync(got, 'utf8'), 'SIGTERM');
  });

  it('plans against the GB Carbon Intensity API format (half-hourly fw48h from the current half hour)', async () => {
    const half = 30 * MIN;
    const first = Math.floor(Date.now() / half) * half;
    const gb = (ms: number) => new Date(ms).toISOString().slice(0, 16) + 'Z';
    // 96 half hours; 1 h at 40 g/kWh starting 3.5 h from the current half hour, a dip of 120 earlier.
    const values = Array.from({ length: 96 }, (_, i) => (i === 7 || i === 8 ? 40 : i === 3 ? 120 : 200 + (i % 5) * 10));
    const server = await FakeServer.start((seen, res) => {
      if (!/^\/intensity\/[^/]+\/fw48h$/.test(seen.path)) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          data: values.map((v, i) => ({
            from: gb(first + i * half),
            to: gb(first + (i + 1) * half),
            intensity: { forecast: v, actual: null, index: v < 100 ? 'low' : 'moderate' },
          })),
        }),
      );
    });
    try {
      const out = tmp('ran');
      const r = await cli(['run-when-clean', '--duration', '1h', '--within', '12h', '--zone', 'GB', '--dry-run', '--json', '--', ...writer(out)], {
        VERDANT_UK_CARBON_INTENSITY_URL: server.url,
      });
      assert.equal(r.code, 0, r.stderr);
      const plan = JSON.parse(r.stdout);
      assert.equal(plan.runNow, false);
      assert.equal(plan.start, new Date(first + 7 * half).toISOString());
      assert.equal(plan.windowGPerKWh, 40);
      assert.ok(plan.savingPct > 70, String(plan.savingPct));
      assert.deepEqual([plan.source, plan.zone], ['uk-carbon-intensity', 'GB']);
      assert.equal(existsSync(out), false);
      assert.equal(server.seen.length, 1);
      assert.match(server.seen[0]!.path, /^\/intensity\/\d{4}-\d\d-\d\dT\d\d:\d\dZ\/fw48h$/);
    } finally {
      await server.close();
    }
  });

  it('usage errors exit 2 with one line; a command that does not exist exits 127', async () => {
    const { file } = hourly(3);
    const cases: Array<[string[], RegExp]> = [
      [['run-when-clean', '--duration', '30m', '--forecast-file', file], /no command to run; write it after "--": verdant run-when-clean --duration/],
      [['run-when-clean', '--duration', '30m', '--forecast-file', file, '--'], /no command to run/],
      [['run-when-clean', '--forecast-file', file, '--', 'true'], /--duration is required/],
      [['run-when-clean', '--duration', '2h', '--within', '1h', '--forecast-file', file, '--', 'true'], /longer than --within 1h/],
      [['run-when-clean', '--duration', 'soon', '--forecast-file', file, '--', 'true'], /not a duration/],
      [['run-when-clean', '--duration', '30m', '--bogus', '--', 'true'], /unknown option --bogus/],
    ];
    const runs = await Promise.all(cases.map(([args]) => cli(args)));
    runs.forEach((r, i) => {
      assert.equal(r.code, 2, `${cases[i]![0].join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, cases[i]![1]);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.equal(r.stdout, '');
    });
    const missing = await cli(['run-when-clean', '--duration', '5m', '--source', 'embedded', '--', 'verdant-no-such-command-xyz', '--flag']);
    assert.equal(missing.code, 127, missing.stderr);
    assert.match(missing.stderr, /could not start verdant-no-such-command-xyz: ENOENT/);
  });
});
