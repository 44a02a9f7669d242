// Deferred jobs that run with VS Code closed (#23), against this machine's real OS scheduler (a systemd user
// instance, else at(1): .ci/run installs at and starts atd): `verdant run-when-clean --detach` queues the job and its
// OS entry and returns; the scheduler starts `verdant run-queued-job` at the job's time with no VS Code and no
// verdant process alive; the queue then holds the exit code, the job's log its output, the ledger its record, and
// the entry is gone. Cancelling removes the entry; a job changed after it was handed over, or one that already ran,
// is not run.
import * as assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Ledger } from '../../src/core/carbon/ledger';
import { specDigest } from '../../src/core/scheduling/osEntries';
import { detectOsScheduler, nodeExec, type OsScheduler } from '../../src/core/scheduling/osScheduler';
import { JobQueue, type Job } from '../../src/core/scheduling/queue';
import { runCliProcess } from '../support/cli';
import { runNowPlan } from '../support/jobPlans';
import { until } from '../support/wait';
import { resolveTestModel } from '../support/testModel';

const MIN = 60_000;
const root = mkdtempSync(path.join(os.tmpdir(), 'verdant-os-jobs-'));
const stateDir = path.join(root, 'state');
const queueDir = path.join(stateDir, 'cli-jobs');
// A clean environment, but the user's session bus: a systemd user instance is reached through it.
const env: NodeJS.ProcessEnv = {
  PATH: process.env.PATH,
  HOME: root,
  ...(process.env.XDG_RUNTIME_DIR && { XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR }),
  ...(process.env.DBUS_SESSION_BUS_ADDRESS && { DBUS_SESSION_BUS_ADDRESS: process.env.DBUS_SESSION_BUS_ADDRESS }),
};
const cli = (args: string[]) => runCliProcess(['--json', ...args], env);

/** Runs `verdant run-queued-job` on `job` as its OS entry would (its digest), with `extra` flags. */
const runJob = (job: Pick<Job, 'id' | 'spec'>, ...extra: string[]) =>
  cli(['run-queued-job', job.id, '--queue', queueDir, '--sha256', specDigest(job.spec), ...extra]);
/** The flags an entry carries for a palette task or refactor: the test model on one CPU thread. */
const onTestModel = async () => ['--model', await resolveTestModel({ cwd: process.cwd() }), '--gpu', 'cpu', '--threads', '1'];

/** Per-minute forecast from this minute for 30 minutes: 300 g/kWh, 100 in minute `clean`. */
function forecast(clean: number): string {
  const t0 = Math.floor(Date.now() / MIN) * MIN;
  const file = path.join(root, `forecast-${clean}-${t0}.json`);
  const points = Array.from({ length: 30 }, (_, i) => ({ at: new Date(t0 + i * MIN).toISOString(), gPerKWh: i === clean ? 100 : 300 }));
  writeFileSync(file, JSON.stringify({ zone: 'GB', source: 'uk-carbon-intensity', signal: 'average', pointMinutes: 1, points }));
  return file;
}

/** A command that appends a line to `file`, prints to both outputs and exits 3: each run is counted. */
const counted = (file: string) => [
  process.execPath,
  '-e',
  "require('fs').appendFileSync(process.argv[1], 'ran\\n'); console.log('to stdout'); console.error('to stderr'); process.exit(3)",
  file,
];

async function detach(cleanMinute: number, command: string[]): Promise<{ id: string; start: string; scheduler: string }> {
  const r = await cli([
    'run-when-clean',
    '--detach',
    '--state',
    stateDir,
    '--duration',
    '1m',
    '--within',
    '25m',
    '--forecast-file',
    forecast(cleanMinute),
    '--',
    ...command,
  ]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as { id: string; start: string; scheduler: string };
}

async function listed(): Promise<{ id: string; state: string; osEntry: boolean | null }[]> {
  const r = await cli(['jobs', '--state', stateDir]);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { jobs: { id: string; state: string; osEntry: boolean | null }[] }).jobs;
}

/** Processes whose command line names this test's state folder (a verdant still waiting, or running the job). */
function verdantProcesses(): string[] {
  if (process.platform !== 'linux') return [];
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p) && Number(p) !== process.pid)
    .map((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'utf8').replace(/\0/g, ' ');
      } catch {
        return '';
      }
    })
    .filter((c) => c.includes(stateDir));
}

describe('deferred jobs handed to the OS scheduler (real at or systemd, #23)', function () {
  this.timeout(300_000);
  let scheduler: OsScheduler;
  const made: string[] = [];

  before(async () => {
    const found = await detectOsScheduler({ exec: nodeExec, env });
    if ('unavailable' in found) throw new Error(`This machine has no OS scheduler for the test: ${found.unavailable}`);
    scheduler = found;
  });

  after(async () => {
    for (const id of made) await scheduler?.remove(id).catch(() => undefined);
  });

  it('--detach returns at once with the job queued and its OS entry made; the OS runs it at its time with nothing of Verdant alive, once', async () => {
    const marker = path.join(root, 'ran-1.txt');
    const detached = await detach(2, counted(marker));
    made.push(detached.id);
    assert.equal(detached.scheduler, scheduler.kind);
    assert.ok(Date.parse(detached.start) > Date.now(), `planned for the clean minute ahead, ${detached.start}`);
    const before = (await listed()).find((j) => j.id === detached.id);
    assert.deepEqual(before, { ...before, state: 'queued', osEntry: true }, 'queued, with its entry in the OS scheduler');
    assert.ok((await scheduler.list()).includes(detached.id));
    assert.deepEqual(verdantProcesses(), [], 'no verdant process stays behind to wait');
    assert.equal(existsSync(marker), false, 'nothing ran yet');

    const queue = new JobQueue({ dir: queueDir });
    let last: Job | undefined;
    const ended = await until(
      () => `the OS scheduler to run job ${detached.id} (last seen: ${JSON.stringify(last)})`,
      async () => {
        last = await queue.get(detached.id);
        return last && last.state !== 'queued' && last.state !== 'running' ? last : undefined;
      },
      240_000,
      2000,
    );
    assert.equal(ended.state, 'failed');
    assert.equal(ended.exitCode, 3, 'its exit code is in the queue');
    assert.equal(ended.owner?.session, 'os-scheduler');
    assert.ok(ended.startedAt! >= Date.parse(detached.start) - 1000, `not before its time: ${new Date(ended.startedAt!).toISOString()}`);
    assert.equal(readFileSync(marker, 'utf8'), 'ran\n', 'it ran once');
    const log = readFileSync(queue.logPath(detached.id), 'utf8');
    assert.match(log, /to stdout\n[\s\S]*to stderr\n/);
    assert.match(log, /failed, exit code 3/);

    const { records, problems } = await new Ledger({ dir: path.join(stateDir, 'ledger') }).read();
    assert.deepEqual(problems, []);
    const record = records.find((r) => r.labels?.some((l) => l.includes(detached.id)));
    assert.ok(record, 'a ledger record for the job');
    assert.equal(record.feature, 'deferred-job');
    assert.deepEqual([record.intensity.zone, record.intensity.gPerKWh, record.intensity.source], ['GB', 100, 'uk-carbon-intensity']);
    assert.ok(record.labels?.includes('exit code 3'));
    assert.ok(record.sciG > 0 && record.energy.kWh > 0);
    await until('the entry to go once the job ran', async () => !(await scheduler.list()).includes(detached.id), 30_000, 500);

    // The same entry firing again (a scheduler that retries) runs nothing: the job ran.
    const again = await cli(['run-queued-job', detached.id, '--queue', queueDir, '--sha256', specDigest(ended.spec)]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /is failed: it is not run again/);
    assert.equal(readFileSync(marker, 'utf8'), 'ran\n', 'still once');
  });

  it("an entry that fires early (its job was replanned later) moves to the job's time; jobs cancel cancels it and removes the entry", async () => {
    const marker = path.join(root, 'ran-2.txt');
    const detached = await detach(25, counted(marker));
    made.push(detached.id);
    assert.ok((await scheduler.list()).includes(detached.id));
    const queue = new JobQueue({ dir: queueDir });
    const early = await cli(['run-queued-job', detached.id, '--queue', queueDir, '--sha256', specDigest((await queue.get(detached.id))!.spec)]);
    assert.equal(early.code, 0, early.stderr);
    assert.match(readFileSync(queue.logPath(detached.id), 'utf8'), /is due at .*, not now: its entry was moved there/);
    assert.equal(existsSync(marker), false, 'nothing ran');
    assert.equal((await queue.get(detached.id))?.state, 'queued');
    assert.ok((await scheduler.list()).includes(detached.id), 'still handed over, for its time');
    const r = await cli(['jobs', 'cancel', detached.id, '--state', stateDir]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await listed()).find((j) => j.id === detached.id)?.state, 'cancelled');
    assert.ok(!(await scheduler.list()).includes(detached.id), 'no entry left behind');
  });

  it('run-queued-job does not run a job whose file was changed after it was handed over', async () => {
    const marker = path.join(root, 'ran-3.txt');
    const detached = await detach(25, counted(marker));
    made.push(detached.id);
    const file = path.join(queueDir, `${detached.id}.json`);
    const job = JSON.parse(readFileSync(file, 'utf8')) as Job;
    const digest = specDigest(job.spec);
    // Someone with write access to the folder swaps the command.
    writeFileSync(
      file,
      JSON.stringify({
        ...job,
        spec: { ...job.spec, argv: [process.execPath, '-e', "require('fs').writeFileSync(process.argv[1], 'evil')", marker] },
      }),
    );
    const r = await cli(['run-queued-job', detached.id, '--queue', queueDir, '--sha256', digest]);
    assert.equal(r.code, 1);
    assert.match((JSON.parse(r.stdout) as { error: string }).error, /was changed after it was handed to the OS scheduler/);
    assert.equal(existsSync(marker), false, 'nothing ran');
    assert.equal((await new JobQueue({ dir: queueDir }).get(detached.id))?.state, 'queued', 'not claimed');
    assert.ok(!(await scheduler.list()).includes(detached.id), 'its entry is removed: it would never run');
  });

  it('run-queued-job leaves a palette task to VS Code without a local model; with one, runs it there, writes the answer and its record', async () => {
    const queue = new JobQueue({ dir: queueDir });
    const now = Date.now();
    const task = await queue.add(
      { kind: 'task', task: 'summarize', payload: { languageId: 'ts', filePath: 'a.ts', code: 'x' }, label: 'summarize a.ts' },
      {
        deadline: now + 3_600_000,
        durationMinutes: 5,
        zone: 'GB',
        plan: runNowPlan(now, 'GB'),
      },
    );
    const r = await runJob(task);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /runs only in a VS Code window of its workspace/);
    assert.equal((await queue.get(task.id))?.state, 'queued', 'left for a window');
    // With the local model the entry names (the window hands its planner model over): run on it, never the cloud.
    const ran = await runJob(task, ...(await onTestModel()));
    assert.equal(ran.code, 0, ran.stdout + ran.stderr);
    const done = await queue.get(task.id);
    assert.equal(done?.state, 'done', done?.error);
    const answer = readFileSync(queue.resultPath(task.id), 'utf8');
    assert.match(
      answer,
      /^# Summary of a\.ts\n\n\*Route: local · model stories260K\.gguf · [\d.]+ .?g CO2e recorded · ran at .* with VS Code closed/,
    );
    const { records } = await new Ledger({ dir: path.join(stateDir, 'ledger') }).read();
    const record = records.find((r) => r.labels?.includes(`deferred job ${task.id}`));
    assert.ok(record, 'its ledger record');
    assert.deepEqual([record.route, record.feature, record.model], ['local', 'task', 'stories260K.gguf']);
    const gone = await runJob({ id: 'mx0-gone', spec: task.spec });
    assert.equal(gone.code, 0, gone.stderr);
    assert.match(gone.stderr, /job mx0-gone is not in the queue/);
  });

  it("run-queued-job runs a planned refactor's local steps on the model; edits the model gets wrong fail the job with nothing written", async () => {
    const queue = new JobQueue({ dir: queueDir });
    const cart = 'export function computeTotal(xs: number[]): number {\n  return xs.reduce((a, b) => a + b, 0);\n}\n';
    const ctx = {
      request: 'rename computeTotal to calculateTotal',
      symbols: ['computeTotal'],
      files: [{ path: 'src/cart.ts', text: cart, version: 0, languageId: 'typescript' }],
      hits: [],
      diagnostics: [],
    };
    const step = { id: 1, title: 'rename', files: ['src/cart.ts'], symbols: ['computeTotal'], size: 'small', instruction: 'rename it', added: false };
    const payload = {
      ctx,
      plan: { request: ctx.request, steps: [step], notes: [], fileVersions: {} },
      routes: [{ id: 1, route: 'local', enabled: true }],
    };
    const job = await queue.add(
      { kind: 'task', task: 'refactor', payload, label: 'refactor: rename' },
      { deadline: Date.now() + 3_600_000, durationMinutes: 15, zone: 'GB', plan: runNowPlan(Date.now(), 'GB') },
    );
    const r = await runJob(job, ...(await onTestModel()));
    // The test model (stories260K) writes stories, not SEARCH/REPLACE blocks: the step's edits are rejected.
    assert.equal(r.code, 1);
    const ended = await queue.get(job.id);
    assert.equal(ended?.state, 'failed');
    assert.equal(ended?.owner?.session, 'os-scheduler');
    assert.match(ended?.error ?? '', /^the local model's edits were rejected: /);
    assert.equal(existsSync(queue.editsPath(job.id)), false, 'no edits for a review');
    const { records } = await new Ledger({ dir: path.join(stateDir, 'ledger') }).read();
    assert.ok(
      records.some((x) => x.labels?.includes(`deferred job ${job.id}`) && x.model === 'stories260K.gguf'),
      'the step’s model call is recorded',
    );
  });
});
