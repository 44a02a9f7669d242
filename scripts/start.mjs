#!/usr/bin/env node
// `npm start`: installs what is missing, builds, and opens a real VS Code with Verdant loaded from this folder.
//   - desktop VS Code when `code` is on PATH: code --extensionDevelopmentPath=<repo> <folder>
//   - otherwise code-server (installed once into a cache folder) on 127.0.0.1, opened in the browser.
//   npm start [-- FOLDER]     FOLDER to open (default: this repository)
//   VERDANT_PORT=8080         code-server port;  VERDANT_START=code-server  skip desktop VS Code
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync, existsSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const folder = path.resolve(process.argv[2] ?? root);
const win = process.platform === 'win32';

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', shell: win, ...opts });
  if (r.status !== 0) process.exit(r.status ?? 1);
  return r;
}

const onPath = (name) => spawnSync(win ? 'where' : 'which', [name], { encoding: 'utf8' }).status === 0;

run(process.execPath, [path.join(root, 'scripts/setup.mjs')]);
run(process.execPath, [path.join(root, 'esbuild.mjs')]);

if (process.env.VERDANT_START !== 'code-server' && onPath('code')) {
  console.log(`start: opening ${folder} in VS Code with Verdant from ${root}`);
  run('code', [`--extensionDevelopmentPath=${root}`, folder]);
  process.exit(0);
}

// code-server: a real VS Code (server, Node extension host, web workbench). Its CLI has no
// --extensionDevelopmentPath, so the development extension goes in through the workbench URL's payload.
const cs = spawnSync('bash', [path.join(root, 'scripts/ensure-code-server.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
if (cs.status !== 0) process.exit(cs.status ?? 1);
const bin = cs.stdout.trim();
const port = Number(process.env.VERDANT_PORT || 8080);
const state = path.join(process.env.VERDANT_CACHE || path.join(os.homedir(), '.cache', 'verdant-dev'), 'start');
const userData = path.join(state, 'user-data');
mkdirSync(path.join(userData, 'User'), { recursive: true });
const settingsFile = path.join(userData, 'User', 'settings.json');
if (!existsSync(settingsFile)) writeFileSync(settingsFile, JSON.stringify({ 'telemetry.telemetryLevel': 'off', 'update.mode': 'none' }, null, 2));

const server = spawn(
  bin,
  [
    '--bind-addr',
    `127.0.0.1:${port}`,
    '--auth',
    'none',
    '--disable-telemetry',
    '--disable-update-check',
    '--config',
    path.join(state, 'config.yaml'),
    '--user-data-dir',
    userData,
    '--extensions-dir',
    path.join(state, 'extensions'),
  ],
  { stdio: 'inherit', env: { ...process.env, XDG_CONFIG_HOME: path.join(state, 'xdg-config'), XDG_DATA_HOME: path.join(state, 'xdg-data') } },
);

const authority = `127.0.0.1:${port}`;
const payload = [['extensionDevelopmentPath', `vscode-remote://${authority}${root}`]];
const url = `http://${authority}/?folder=${encodeURIComponent(folder)}&payload=${encodeURIComponent(JSON.stringify(payload))}`;
console.log(`\nstart: VS Code (code-server) with Verdant loaded:\n\n  ${url}\n\nPress Ctrl+C to stop.\n`);
if (process.env.DISPLAY || process.platform === 'darwin') {
  const opener = process.platform === 'darwin' ? 'open' : 'xdg-open';
  if (onPath(opener)) setTimeout(() => spawn(opener, [url], { stdio: 'ignore', detached: true }).unref(), 1500);
}
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => server.kill('SIGTERM'));
server.on('exit', (code) => process.exit(code ?? 0));
