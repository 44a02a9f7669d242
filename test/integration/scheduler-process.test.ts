// The scheduler across real processes: hosts (test/integration/support/schedulerHost.ts, one "window" each) share a
// queue folder, run shell commands, and are killed with SIGKILL like a crashed window. Each job must run at most once.
// A host's clock is offset so that a job planned 3 hours ahead is either far off or already due when the host starts.
import * as assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { IntensityForecast } from '../../src/core/carbon/types';
import { planJob } from '../../src/core/scheduling/plan';
import { JobQueue, type Job } from '../../src/core/scheduling/queue';
import { sleep, until } from '../support/wait';

const HOST = path.join(__dirname, 'support', 'schedulerHost.js');
const MIN = 60_000;
const HOUR = 60 * MIN;

interface HostEvent {
  readonly type: string;
  readonly id?: string;
  readonly state?: string;
  readonly msg?: string;
  readonly pid?: number;
}

interface Host {
  readonly child: ChildProcess;
  readonly events: HostEvent[];
  readonly exited: Promise<void>;
  stderr: string;
  waitFor(pred: (e: HostEvent) => boolean, what: string, ms?: number): Promise<HostEvent>;
}

const live = new Set<Host>();

function startHost(dir: string, offsetMs: number, env: Record<string, string> = {}): Host {
  const child = spawn(process.execPath, ['--enable-source-maps', HOST], {
    env: { ...process.env, VERDANT_JOBS_DIR: dir, VERDANT_CLOCK_OFFSET_MS: String(offsetMs), VERDANT_POLL_MS: '100', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: process.platform !== 'win32', // its own process group: killing it kills the job's shell too
  });
  const events: HostEvent[] = [];
  const waiters: Array<() => void> = [];
  let buffered = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    buffered += d;
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      events.push(JSON.parse(buffered.slice(0, nl)) as HostEvent);
      buffered = buffered.slice(nl + 1);
    }
    for (const w of [...waiters]) w();
  });
  const host: Host = {
    child,
    events,
    stderr: '',
    exited: new Promise((resolve) =>
      child.on('exit', () => {
        live.delete(host);
        resolve();
      }),
    ),
    waitFor: (pred, what, ms = 60_000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const found = events.find(pred);
          if (!found) return;
          clearTimeout(timer);
          waiters.splice(waiters.indexOf(check), 1);
          resolve(found);
        };
        const timer = setTimeout(
          () => reject(new Error(`host ${child.pid}: no ${what} within ${ms} ms; events: ${JSON.stringify(events)}; stderr: ${host.stderr}`)),
          ms,
        );
        waiters.push(check);
        check();
      }),
  };
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    host.stderr += d;
  });
  live.add(host);
  return host;
}

/** SIGKILL the host and everything it started (a window that crashed). */
async function crash(host: Host): Promise<void> {
  const pid = host.child.pid!;
  if (process.platform === 'win32') spawnSync('taskkill', ['/pid', String(pid), '/T', '/F']);
  else process.kill(-pid, 'SIGKILL');
  await host.exited;
}

/** A forecast that is clean 3 hours from now, so the plan is a real deferral. */
function planIn3h(now: number, durationMinutes = 30) {
  const from = Math.floor(now / (30 * MIN)) * 30 * MIN;
  const values = [...Array(6).fill(260), 80, 80, ...Array(8).fill(250)];
  const forecast: IntensityForecast = {
    zone: 'GB',
    source: 'uk-carbon-intensity',
    signal: 'average',
    pointMinutes: 30,
    points: values.map((v, i) => ({ at: new Date(from + i * 30 * MIN).toISOString(), gPerKWh: v })),
  };
  const deadline = from + 6 * HOUR;
  const plan = planJob({ forecast, now, durationMinutes, deadline });
  assert.equal(plan.start, from + 3 * HOUR, plan.reason);
  return { plan, deadline, durationMinutes, zone: 'GB' };
}

/** A shell command running node: quoted for sh (and cmd.exe), the script free of quotes and '$'. */
function nodeCommand(script: string, ...args: string[]): string {
  return [process.execPath, '-e', script, ...args].map((a) => JSON.stringify(a)).join(' ');
}
const APPEND = (text: string) => `require('fs').appendFileSync(process.argv[1], '${text}\\n')`;

describe('scheduler across processes', function () {
  this.timeout(60_000);
  let work: string;

  before(() => {
    assert.ok(existsSync(HOST), `${HOST} is missing: run node esbuild.mjs`);
    work = mkdtempSync(path.join(os.tmpdir(), 'verdant-sched-it-'));
  });
  afterEach(async () => {
    for (const h of [...live]) await crash(h);
  });
  after(() => {
    if (path.basename(work).startsWith('verdant-sched-it-')) rmSync(work, { recursive: true, force: true });
  });

  it('a host killed before the job is due: the next host runs it, once', async () => {
    const dir = path.join(work, 'a');
    const marker = path.join(work, 'a.marker');
    const queue = new JobQueue(dir);
    const options = planIn3h(Date.now());
    const job = await queue.add({ kind: 'shell', command: nodeCommand(APPEND('ran'), marker), label: 'append' }, options);
    // A's clock is the real one: the job is 3 h away however long A takes to start. B's clock is already in the
    // job's window when B starts.
    const a = startHost(dir, 0);
    await a.waitFor((e) => e.type === 'ready', 'ready');
    await crash(a);
    assert.ok(!a.events.some((e) => e.type === 'started'), 'A was killed before the job was due');
    assert.equal((await queue.get(job.id))?.state, 'queued');

    const b = startHost(dir, options.plan.start - Date.now() + 100);
    const finished = await b.waitFor((e) => e.type === 'finished', 'finished');
    assert.deepEqual([finished.id, finished.state], [job.id, 'done']);
    await sleep(300); // a few more polls: nothing runs twice
    assert.equal(readFileSync(marker, 'utf8'), 'ran\n');
    const done = await queue.get(job.id);
    assert.deepEqual([done?.state, done?.exitCode, done?.owner?.pid], ['done', 0, b.child.pid]);
    assert.ok(done!.startedAt! >= options.plan.start, "started in its window, on the host's clock");
  });

  it('two hosts on one queue at once: every job runs exactly once', async () => {
    const dir = path.join(work, 'b');
    const queue = new JobQueue(dir);
    const options = planIn3h(Date.now());
    const jobs: Job[] = [];
    // Each job waits for a release file before it ends, and each host runs one job at a time: the first host to
    // claim one is busy until the release, so the other must claim one too, however the two are scheduled.
    const release = path.join(work, 'b.release');
    const held = () =>
      `const fs = require('fs'); (function wait() { if (!fs.existsSync(${JSON.stringify(release)})) return setTimeout(wait, 20); ${APPEND('ran')}; })()`;
    for (let i = 0; i < 6; i++) {
      const marker = path.join(work, `b${i}.marker`);
      jobs.push(await queue.add({ kind: 'shell', command: nodeCommand(held(), marker), label: `j${i}` }, options));
    }
    const offset = options.plan.start - Date.now() + 100; // both hosts' clocks are in the jobs' window
    const hosts = [startHost(dir, offset), startHost(dir, offset)];
    await Promise.all(hosts.map((h) => h.waitFor((e) => e.type === 'started', 'a job started')));
    writeFileSync(release, '');
    const all = await until('all jobs done', async () => {
      const { jobs: now } = await queue.list();
      return now.every((j) => j.state === 'done') ? now : undefined;
    });
    await sleep(300);
    for (let i = 0; i < jobs.length; i++) assert.equal(readFileSync(path.join(work, `b${i}.marker`), 'utf8'), 'ran\n', `j${i}`);
    const started = hosts.flatMap((h) => h.events.filter((e) => e.type === 'started').map((e) => e.id));
    assert.deepEqual([...started].sort(), jobs.map((j) => j.id).sort(), 'each job started by exactly one host');
    const tookPart = hosts.map((h) => h.events.some((e) => e.type === 'started'));
    assert.deepEqual(tookPart, [true, true], 'both hosts ran jobs from the one queue (else this proved nothing)');
    const owners = new Set(all.map((j) => j.owner?.pid));
    assert.ok([...owners].every((pid) => hosts.some((h) => h.child.pid === pid)));
  });

  it('a host killed while its job runs: the next host marks it interrupted and does not run it again', async () => {
    const dir = path.join(work, 'c');
    const marker = path.join(work, 'c.marker');
    const queue = new JobQueue(dir);
    const options = planIn3h(Date.now());
    const script = `${APPEND('start')}; setTimeout(() => ${APPEND('end')}, 20000)`;
    const job = await queue.add({ kind: 'shell', command: nodeCommand(script, marker), label: 'long' }, options);
    const offset = options.plan.start - Date.now() - 800;

    const a = startHost(dir, offset);
    await a.waitFor((e) => e.type === 'started', 'started');
    await until('the command to start', async () => (existsSync(marker) && readFileSync(marker, 'utf8') === 'start\n' ? true : undefined));
    await crash(a);
    const running = await queue.get(job.id);
    assert.deepEqual([running?.state, running?.owner?.pid], ['running', a.child.pid]);

    const b = startHost(dir, offset);
    const interrupted = await b.waitFor((e) => e.type === 'interrupted', 'interrupted');
    assert.deepEqual([interrupted.id, interrupted.state], [job.id, 'interrupted']);
    await b.waitFor((e) => e.type === 'ready', 'ready');
    await sleep(800); // several polls with the job long due
    assert.ok(!b.events.some((e) => e.type === 'started'), 'never run again');
    assert.equal(readFileSync(marker, 'utf8'), 'start\n', 'run once, and its command died with its host');
    const after = await queue.get(job.id);
    assert.equal(after?.state, 'interrupted');
    assert.match(after?.error ?? '', new RegExp(`its process \\(pid ${a.child.pid}\\) ended while it ran, and was not run again`));
  });
});
