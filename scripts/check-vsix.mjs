#!/usr/bin/env node
// Proves a packaged .vsix is installable and works: code-server (a real VS Code) installs it, the installed copy
// holds the target's native binaries and none it should not, node-llama-cpp's prebuilt binding loads from it, and
// the e2e suite passes against the installed copy.
//   node scripts/check-vsix.mjs [--cs CODE_SERVER] FILE.vsix
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values, positionals } = parseArgs({ options: { cs: { type: 'string' } }, allowPositionals: true });
const vsix = positionals[0];
if (!vsix || !existsSync(vsix)) { console.error('check-vsix: give the path of a .vsix (run "npm run package" first)'); process.exit(2); }
const cs = values.cs ?? process.env.CODE_SERVER ??
  execFileSync('bash', [path.join(root, 'scripts/ensure-code-server.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();

let failures = 0;
const check = (ok, what, detail = '') => {
  console.log(`check-vsix: ${ok ? 'ok  ' : 'FAIL'} ${what}${detail ? ` (${detail})` : ''}`);
  if (!ok) failures++;
};

const tmp = mkdtempSync(path.join(os.tmpdir(), 'verdant-vsix-'));
const dirs = ['--user-data-dir', path.join(tmp, 'user'), '--extensions-dir', path.join(tmp, 'extensions')];
const env = { ...process.env, XDG_CONFIG_HOME: path.join(tmp, 'xdg-config'), XDG_DATA_HOME: path.join(tmp, 'xdg-data') };
try {
  const install = spawnSync(cs, [...dirs, '--install-extension', path.resolve(vsix)], { encoding: 'utf8', env });
  check(install.status === 0 && /successfully installed/.test(install.stdout), 'code-server --install-extension accepts it',
    (install.stdout + install.stderr).trim().split('\n').pop());
  const list = spawnSync(cs, [...dirs, '--list-extensions', '--show-versions'], { encoding: 'utf8', env });
  const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
  const id = `${pkg.publisher}.${pkg.name}`;
  check(list.stdout.includes(`${id}@${pkg.version}`), `listed as ${id}@${pkg.version}`, list.stdout.trim());

  const installed = readdirSync(path.join(tmp, 'extensions')).find((d) => d.startsWith(`${id}-`));
  const dir = installed && path.join(tmp, 'extensions', installed);
  const target = /verdant-([a-z0-9]+-[a-z0-9]+)-/.exec(path.basename(vsix))?.[1];
  check(Boolean(dir && existsSync(path.join(dir, 'dist', 'extension.js'))), 'installed copy has dist/extension.js');
  if (dir) {
    const llama = readdirSync(path.join(dir, 'node_modules', '@node-llama-cpp'));
    check(llama.length > 0 && !llama.some((n) => /cuda/.test(n)), 'ships node-llama-cpp prebuilt binaries, no CUDA', llama.join(', '));
    check(!existsSync(path.join(dir, 'node_modules', 'node-llama-cpp', 'llama', 'gitRelease.bundle')), 'llama.cpp source bundle left out');
    const ort = path.join(dir, 'node_modules', 'onnxruntime-node', 'bin');
    const platforms = readdirSync(ort).flatMap((napi) => readdirSync(path.join(ort, napi)));
    check(platforms.length === 1, 'onnxruntime-node has one platform', platforms.join(', '));

    console.log(`check-vsix: installed as ${installed}, target ${target}`);
    if (target === `${process.platform}-${process.arch}`) {
      // The shipped binding must load on its own platform, without building anything.
      // A file, not `node -e`: node-llama-cpp tests its binding in a child that inherits execArgv.
      const probeFile = path.join(tmp, 'probe.mjs');
      writeFileSync(probeFile, `
        const { getLlama } = await import(${JSON.stringify(pathToFileURL(path.join(dir, 'node_modules/node-llama-cpp/dist/index.js')).href)});
        const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' });
        console.log(JSON.stringify({ buildType: llama.buildType, gpu: llama.gpu }));
        await llama.dispose();`);
      const probe = spawnSync(process.execPath, [probeFile], { encoding: 'utf8', timeout: 120000 });
      check(probe.status === 0 && /"buildType":"prebuilt"/.test(probe.stdout), 'node-llama-cpp loads its prebuilt binding from the vsix',
        (probe.stdout + probe.stderr).trim().slice(0, 300));
      const e2e = spawnSync(process.execPath, [path.join(root, 'test/e2e/run-in-code-server.mjs'), '--cs', cs, '--ext', dir],
        { encoding: 'utf8', timeout: 600000 });
      const summary = /^(\d+) passed, (\d+) failed$/m.exec(e2e.stdout);
      check(e2e.status === 0, 'the e2e suite passes against the installed copy', summary?.[0] ?? e2e.stdout.slice(-800));
    }
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
console.log(failures === 0 ? `check-vsix: ${path.basename(vsix)} is good` : `check-vsix: ${failures} check(s) failed`);
process.exit(failures === 0 ? 0 : 1);
