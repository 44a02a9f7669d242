// The scheduler in a real VS Code: a `verdant` task (the task provider) queues a real shell command for the cleanest
// window of a forecast served by a Carbon Aware SDK WebAPI stand-in on 127.0.0.1, whose clean window starts a few
// seconds from now; the command runs in that window, in the task's terminal, exactly once. Without a forecast the
// job runs at once and says why; "Run Task When Clean" queues a palette task that can be cancelled from the queue.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { VerdantApi } from '../../../src/extension';
import { JobQueue, type JobOrigin, type JobSpec } from '../../../src/core/scheduling/queue';
import type { JobPlan } from '../../../src/core/scheduling/plan';
import { workspaceIdentity } from '../../../src/vscode/scheduler';
import { detectOsScheduler, nodeExec, type OsScheduler } from '../../../src/core/scheduling/osScheduler';
import { sleep, until } from '../../support/wait';
import { resolveTestModel } from '../../support/testModel';
import { setUpHybrid, startCloudStandIn, teardownHybrid } from './cloudStandIn';
import { screenshot, takeUiSteps } from './screenshot';

describe('scheduler: deferred jobs in the cleanest window', function () {
  this.timeout(180_000);
  let api: VerdantApi;
  let server: http.Server;
  let cleanAt = 0;
  /** When set, the next forecast request puts the clean window this many ms after itself. */
  let cleanIn = 0;
  const config = () => vscode.workspace.getConfiguration('verdant');
  const G = vscode.ConfigurationTarget.Global;

  const marker = path.join(vscode.workspace.workspaceFolders![0]!.uri.fsPath, '.verdant-e2e', 'ran.txt');
  const ran = (name: string) =>
    (fs.existsSync(marker) ? fs.readFileSync(marker, 'utf8').trim().split('\n') : []).filter((l) => l.startsWith(`${name} `));

  /** Runs a `verdant` task from the workspace's tasks.json through VS Code's task system; resolves with its exit code. */
  const runTask = async (name: string): Promise<number | undefined> => {
    const task = (await vscode.tasks.fetchTasks({ type: 'verdant' })).find((t) => t.name === name);
    assert.ok(task, `tasks.json has a verdant task "${name}" resolved by Verdant's task provider`);
    const ended = new Promise<number | undefined>((resolve) => {
      const sub = vscode.tasks.onDidEndTaskProcess((e) => {
        if (e.execution.task.name !== name) return;
        sub.dispose();
        resolve(e.exitCode);
      });
    });
    await vscode.tasks.executeTask(task);
    return ended;
  };

  const useForecast = async (zone: string) => {
    // A new zone each time: the intensity service caches forecasts per source and zone.
    await config().update('carbon.source', 'carbon-aware-sdk', G);
    await config().update('carbon.carbonAwareSdkUrl', `http://127.0.0.1:${(server.address() as AddressInfo).port}`, G);
    await config().update('carbon.zone', zone, G);
  };

  before(async () => {
    fs.rmSync(path.dirname(marker), { recursive: true, force: true });
    api = await vscode.extensions.getExtension<VerdantApi>('verdant-dev.verdant')!.activate();
    server = http.createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const now = Date.now();
      if (req.url?.startsWith('/emissions/forecasts/current')) {
        // A window "cleanIn" from now is placed when the extension asks, not when the test started: a busy
        // machine's slow start cannot overtake it.
        if (cleanIn > 0) {
          cleanAt = now + cleanIn;
          cleanIn = 0;
        }
        // 1-minute points aligned on cleanAt: dirty before it, clean for the hour from it, dirty again after.
        const forecastData = [];
        for (let i = -Math.ceil((cleanAt - now) / 60_000) - 2; i < 180; i++) {
          forecastData.push({ timestamp: new Date(cleanAt + i * 60_000).toISOString(), duration: 1, value: i >= 0 && i < 60 ? 40 : 480 });
        }
        res.end(JSON.stringify([{ location: 'testzone', generatedAt: new Date(now).toISOString(), forecastData }]));
      } else {
        res.end(JSON.stringify([{ location: 'testzone', time: new Date(now).toISOString(), rating: 480 }]));
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  });

  after(async () => {
    server.close();
    for (const key of ['carbon.source', 'carbon.carbonAwareSdkUrl', 'carbon.zone']) await config().update(key, undefined, G);
    fs.rmSync(path.dirname(marker), { recursive: true, force: true });
  });

  it("runs a verdant task's shell command in the forecast's clean window, in its terminal, once", async () => {
    cleanIn = 6000;
    await useForecast('zone-a');
    const queued: { start: number; reason: string }[] = [];
    const sub = api.jobs.onDidChange((j) => {
      if (j.state === 'queued') queued.push({ start: j.plan.start, reason: j.plan.reason });
    });
    const code = await runTask('clean build');
    sub.dispose();
    assert.equal(code, 0);
    assert.ok(queued.length >= 1, 'the job was queued');
    assert.match(queued[0]!.reason, /^cleanest window .* g\/kWh vs .* now \(\d+(\.\d+)? % less, carbon-aware-sdk\)$/);
    assert.ok(
      Math.abs(queued[0]!.start - cleanAt) < 1000,
      `planned for the clean window (${new Date(queued[0]!.start).toISOString()} vs ${new Date(cleanAt).toISOString()})`,
    );
    const lines = ran('clean-build');
    assert.equal(lines.length, 1, 'ran exactly once');
    const ranAt = Number(lines[0]!.split(' ')[1]);
    assert.ok(ranAt >= cleanAt - 50, `not before the window (${ranAt - cleanAt} ms)`);
    const { jobs } = await api.jobs.queue.list();
    const job = jobs.find((j) => j.spec.label === 'clean build');
    assert.equal(job?.state, 'done');
    assert.equal(job?.exitCode, 0);
  });

  it('routes a deferrable task "later" when the forecast has a clearly cleaner window within verdant.routing.deferWithinHours', async () => {
    cleanIn = 3_600_000;
    await useForecast('zone-later');
    await config().update('routing.mode', 'local-only', G);
    // A local model to run it (the router never loads it: nothing runs here).
    await config().update('local.modelPath', await resolveTestModel({ cwd: process.env.E2E_REPO_ROOT ?? process.cwd() }), G);
    try {
      const q = { kind: 'summarize' as const, promptTokens: 800, files: 1, selectionChars: 2000, consent: 'granted' as const };
      const later = (await api.router.route({ ...q, deferrable: true })).decision;
      assert.equal(later.route, 'later', later.reason);
      assert.match(later.reason, /^later: .* in the clean window vs .* now/);
      const window = later.options.find((o) => o.route === 'later');
      // The window the forecast puts an hour ahead: after half an hour, within the hours the user accepts (4).
      assert.ok(
        window && window.latencyMs > 1_800_000 && window.latencyMs < 4 * 3_600_000,
        `the option starts with the window (${window?.latencyMs} ms)`,
      );
      // Asked for at once (not deferrable), or with the offer turned off: now.
      assert.equal((await api.router.route(q)).decision.route, 'local');
      await config().update('routing.deferWithinHours', 0, G);
      assert.equal((await api.router.route({ ...q, deferrable: true })).decision.route, 'local');
      // A window beyond the hours the user accepts is not offered either.
      await config().update('routing.deferWithinHours', 0.5, G);
      assert.equal((await api.router.route({ ...q, deferrable: true })).decision.route, 'local');
    } finally {
      for (const key of ['routing.mode', 'routing.deferWithinHours', 'local.modelPath']) await config().update(key, undefined, G);
    }
  });

  it('without a forecast it runs at once and says so; a failing command fails the task', async () => {
    for (const key of ['carbon.source', 'carbon.carbonAwareSdkUrl', 'carbon.zone']) await config().update(key, undefined, G);
    const reasons: string[] = [];
    const sub = api.jobs.onDidChange((j) => {
      if (j.state === 'queued') reasons.push(j.plan.reason);
    });
    const code = await runTask('no forecast');
    sub.dispose();
    assert.equal(code, 3, 'the exit code passes through');
    assert.match(reasons[0] ?? '', /no grid forecast .*running now rather than guessing/);
    assert.equal(ran('no-forecast').length, 1);
  });

  it('queues a palette task with Run Task When Clean, lists it, and cancels it from the queue', async () => {
    cleanAt = Date.now() + 3_600_000;
    await useForecast('zone-b');
    const doc = await vscode.workspace.openTextDocument({ content: 'export const add = (a: number, b: number) => a + b;', language: 'typescript' });
    await vscode.window.showTextDocument(doc);
    const job = await vscode.commands.executeCommand<{ id: string; state: string; plan: { start: number; runNow: boolean } }>(
      'verdant.runTaskWhenClean',
      'summarize',
      '4h',
    );
    assert.equal(job.state, 'queued');
    assert.equal(job.plan.runNow, false);
    assert.ok(Math.abs(job.plan.start - cleanAt) < 1000);
    const listed = await vscode.commands.executeCommand<{ id: string }[]>('verdant.showDeferredJobs');
    await vscode.commands.executeCommand('workbench.action.closeQuickOpen');
    assert.ok(listed.some((j) => j.id === job.id));
    await api.jobs.scheduler.cancel(job.id);
    assert.equal((await api.jobs.queue.get(job.id))?.state, 'cancelled');
  });
});

describe('scheduler: a job runs only where and as it was queued, and only if Verdant queued it', function () {
  this.timeout(180_000);
  let api: VerdantApi;
  const folder = vscode.workspace.workspaceFolders![0]!.uri.fsPath;
  const marker = path.join(folder, '.verdant-e2e', 'jobs-ran.txt');
  const ran = () => (fs.existsSync(marker) ? fs.readFileSync(marker, 'utf8') : '');
  const here = (over: Partial<JobOrigin> = {}): JobOrigin => ({ workspace: workspaceIdentity(), trusted: true, consent: 'granted', ...over });
  const now = (): JobPlan => ({
    start: Date.now() - 1000,
    end: Date.now() + 60_000,
    windowGPerKWh: null,
    nowGPerKWh: null,
    savingPct: 0,
    runNow: true,
    reason: 'test: due now',
    source: 'embedded',
    zone: 'FR',
    plannedAt: Date.now(),
  });
  const add = (queue: JobQueue, spec: JobSpec) => queue.add(spec, { deadline: Date.now() + 3_600_000, durationMinutes: 1, zone: 'FR', plan: now() });
  const append = (word: string) =>
    `node -e "require('fs').mkdirSync(require('path').dirname(process.argv[1]),{recursive:true});require('fs').appendFileSync(process.argv[1],'${word}\\n')" "${marker}"`;

  before(async () => {
    api = await vscode.extensions.getExtension<VerdantApi>('verdant-dev.verdant')!.activate();
    fs.rmSync(marker, { force: true });
  });
  after(() => fs.rmSync(marker, { force: true }));

  it('a job file written into global storage by another program is never run: moved aside and reported', async () => {
    // The same queue folder, written without Verdant's key (as anything that can write the user's files could).
    const forged = await add(new JobQueue(api.jobs.queue.dir), { kind: 'shell', command: append('forged'), label: 'forged', origin: here() });
    await api.jobs.scheduler.tick();
    assert.equal(await api.jobs.queue.get(forged.id), undefined);
    assert.ok(fs.existsSync(path.join(api.jobs.queue.dir, `${forged.id}.json.unsigned`)), 'moved aside');
    await assert.rejects(api.jobs.scheduler.runNow(forged.id), /no job/i);
    await sleep(1000); // a command that did start would have written by now; none may
    assert.equal(ran(), '');
    // A signed job's content changed afterwards is no longer Verdant's either.
    const signed = await add(api.jobs.queue, { kind: 'shell', command: append('signed'), label: 'signed', origin: here(), session: 'elsewhere' });
    const file = path.join(api.jobs.queue.dir, `${signed.id}.json`);
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('signed\\\\n', 'tampered\\\\n'));
    assert.ok(fs.readFileSync(file, 'utf8').includes('tampered'), 'the command was changed in the file');
    assert.equal(await api.jobs.queue.get(signed.id), undefined);
    assert.equal(ran(), '');
  });

  it('a job queued in another workspace is left queued here, and refused if started by hand', async () => {
    const other = await add(api.jobs.queue, {
      kind: 'shell',
      command: append('other'),
      label: 'other workspace',
      origin: here({ workspace: 'file:///somewhere/else' }),
      session: 'elsewhere',
    });
    await api.jobs.scheduler.tick();
    assert.equal((await api.jobs.queue.get(other.id))?.state, 'queued', 'not taken over');
    await api.jobs.scheduler.runNow(other.id);
    const ended = await until('the job to end', async () => {
      const j = await api.jobs.queue.get(other.id);
      return j && j.state !== 'running' ? j : undefined;
    });
    assert.equal(ended.state, 'failed');
    assert.match(ended.error ?? '', /another workspace/);
    assert.equal(ran(), '');
  });

  it("an untrusted window's palette job runs locally in a trusted window, even with the cloud chosen and consented here", async () => {
    const cloud = await startCloudStandIn(() => 'A summary.');
    await setUpHybrid(cloud, api.consent);
    await vscode.workspace.getConfiguration('verdant').update('routing.mode', 'cloud-only', vscode.ConfigurationTarget.Global);
    try {
      const ctx = { languageId: 'typescript', filePath: 'src/add.ts', code: 'export const add = (a: number, b: number) => a + b;\n' };
      const job = await add(api.jobs.queue, {
        kind: 'task',
        task: 'summarize',
        payload: ctx,
        label: 'summarize src/add.ts',
        origin: here({ trusted: false, consent: 'unknown' }),
        session: 'an-untrusted-window',
      });
      await api.jobs.scheduler.runNow(job.id);
      const ended = await until('the job to end', async () => {
        const j = await api.jobs.queue.get(job.id);
        return j && j.state !== 'running' ? j : undefined;
      });
      assert.equal(ended.state, 'done', ended.error);
      assert.deepEqual(cloud.requests, [], 'nothing went to the cloud');
    } finally {
      await vscode.commands.executeCommand('workbench.action.closeAllEditors');
      await teardownHybrid(cloud, api.consent, ['routing.mode']);
    }
  });
});

describe('scheduler: jobs handed to the OS scheduler, to run with VS Code closed (#23)', function () {
  this.timeout(180_000);
  let api: VerdantApi;
  let os: OsScheduler | undefined;
  const config = () => vscode.workspace.getConfiguration('verdant');
  const folder = vscode.workspace.workspaceFolders![0]!.uri.fsPath;
  const marker = path.join(folder, '.verdant-e2e', 'os-ran.txt');
  const spec = (label: string): JobSpec => ({
    kind: 'shell',
    command: `node -e "require('fs').mkdirSync(require('path').dirname(process.argv[1]),{recursive:true});require('fs').appendFileSync(process.argv[1],'${label}\\n')" "${marker}"`,
    cwd: folder,
    label,
  });

  before(async () => {
    api = await vscode.extensions.getExtension<VerdantApi>('verdant-dev.verdant')!.activate();
    const found = await detectOsScheduler({ exec: nodeExec });
    // npm test checks for one first (scripts/prerequisites.mjs), with the line that installs it.
    if ('unavailable' in found) throw new Error(`This machine has no OS scheduler for the test: ${found.unavailable}`);
    os = found;
    await api.jobs.osReady;
  });
  after(async () => {
    await config().update('scheduler.whenClosed', undefined, vscode.ConfigurationTarget.Global);
    fs.rmSync(marker, { force: true });
  });

  /** Fires the job's entry now, as the OS would at its time (at: its script through sh; systemd: its service). */
  async function fire(id: string): Promise<void> {
    if (os?.kind === 'at') {
      const number = (await nodeExec('atq', [])).stdout
        .split('\n')
        .map((l) => l.split(/\s/)[0]!)
        .filter(Boolean);
      for (const n of number) {
        const script = (await nodeExec('at', ['-c', n])).stdout;
        if (script.includes(`# verdant-job-${id}\n`)) {
          const r = await nodeExec('sh', ['-c', script]);
          assert.equal(r.code, 0, r.stderr);
          return;
        }
      }
      assert.fail(`no at job carries job ${id}`);
    }
    if (os?.kind === 'systemd') {
      const r = await nodeExec('systemctl', ['--user', 'start', '--wait', `verdant-job-${id}.service`]);
      assert.equal(r.code, 0, r.stderr);
    }
  }

  it('a queued shell job gets an entry that runs the extension’s own CLI on this job, as the OS would: it runs once, the entry goes, the next window says so', async () => {
    const job = await api.jobs.enqueue(spec('handed over'), 12 * 60, 30);
    assert.equal(job.plan.runNow, true, 'no zone here: no forecast, so it is due now (its entry 2 minutes later, after an open window)');
    await until('the OS entry for the queued job', async () => (await os!.list()).includes(job.id));
    await fire(job.id);
    const log = fs.readFileSync(api.jobs.queue.logPath(job.id), 'utf8');
    const ran = await api.jobs.queue.get(job.id);
    assert.equal(ran?.state, 'done', log);
    assert.equal(ran?.owner?.session, 'os-scheduler', 'run by the entry: the CLI the extension ships, on the signed job it vouched for');
    assert.equal(fs.readFileSync(marker, 'utf8'), 'handed over\n');
    await until('the entry to go once the job ran', async () => !(await os!.list()).includes(job.id));
    // The next window (here: asked again) says once what ran while no window was open.
    assert.deepEqual(await api.jobs.reportOsRuns(), [job.id]);
    assert.deepEqual(await api.jobs.reportOsRuns(), [], 'said once');
  });

  it('a palette task queued by a window that then closed runs on the local model when the OS fires its entry; the next window offers its result', async () => {
    const G = vscode.ConfigurationTarget.Global;
    await config().update('local.modelPath', await resolveTestModel({ cwd: process.env.E2E_REPO_ROOT ?? process.cwd() }), G);
    await config().update('local.gpu', 'cpu', G);
    await config().update('local.threads', 1, G);
    try {
      const ctx = { languageId: 'typescript', filePath: 'src/add.ts', code: 'export const add = (a: number, b: number) => a + b;\n' };
      // Queued by a window that is gone (another session): this one would take it over only 2 minutes after it is due.
      const job = await api.jobs.enqueue(
        { kind: 'task', task: 'summarize', payload: ctx, label: 'summarize src/add.ts', session: 'a-closed-window' },
        60,
        5,
      );
      await until('the OS entry for the palette task', async () => (await os!.list()).includes(job.id));
      await fire(job.id);
      const ran = await api.jobs.queue.get(job.id);
      assert.equal(
        ran?.state,
        'done',
        fs.existsSync(api.jobs.queue.logPath(job.id)) ? fs.readFileSync(api.jobs.queue.logPath(job.id), 'utf8') : ran?.error,
      );
      assert.equal(ran?.owner?.session, 'os-scheduler');
      assert.match(
        fs.readFileSync(api.jobs.queue.resultPath(job.id), 'utf8'),
        /^# Summary of src\/add\.ts\n\n\*Route: local · model stories260K\.gguf/,
      );
      assert.deepEqual(await api.jobs.reportOsRuns(), [job.id]);
      await screenshot('deferred-task-ran-while-closed');
      // The notification's Open Result shows it as a read-only result document (without a browser to click in,
      // under test-electron: what the button runs).
      if (!(await takeUiSteps([{ button: 'Open Result' }]))) await api.jobs.openRanWhileClosed(ran!, 'Open Result');
      await until('the result document', () =>
        vscode.window.visibleTextEditors.some(
          (e) => e.document.uri.scheme === 'verdant-result' && e.document.getText().startsWith('# Summary of src/add.ts'),
        ),
      );
    } finally {
      for (const key of ['local.modelPath', 'local.gpu', 'local.threads']) await config().update(key, undefined, G);
      await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    }
  });

  it('whenClosed: never takes the entries back; Remove Scheduled Jobs removes them all', async () => {
    const queued = await api.jobs.enqueue(spec('kept here'), 12 * 60, 30);
    // Planned an hour ahead, so that no window takes it over while the test looks.
    const anHourOn = { ...queued.plan, start: Date.now() + 3_600_000, runNow: false };
    const job = await api.jobs.queue.replan(queued.id, anHourOn);
    await until('the OS entry', async () => (await os!.list()).includes(job.id));
    await config().update('scheduler.whenClosed', 'never', vscode.ConfigurationTarget.Global);
    await until('the entry to go with whenClosed: never', async () => !(await os!.list()).includes(job.id));
    await config().update('scheduler.whenClosed', undefined, vscode.ConfigurationTarget.Global);
    await until('the entry back with whenClosed: os', async () => (await os!.list()).includes(job.id));
    const removed = await vscode.commands.executeCommand<number>('verdant.removeScheduledJobs');
    assert.ok(removed >= 1);
    assert.ok(!(await os!.list()).includes(job.id));
    assert.equal((await api.jobs.queue.get(job.id))?.state, 'queued', 'the job itself stays queued, for a window to run');
    await api.jobs.scheduler.cancel(job.id);
  });
});
