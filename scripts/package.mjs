#!/usr/bin/env node
// `npm run package`: one .vsix per platform target, each with only that platform's native binaries.
//   node scripts/package.mjs [--target linux-x64] [--target win32-x64] ...   (default: linux-x64 and win32-x64)
// For each target: stage dist/ + docs + package.json/package-lock.json in build/stage/<target>, `npm ci --omit=dev`
// there for that OS/CPU (npm fetches the other platform's optional binary packages), prune other platforms'
// onnxruntime binaries, then `vsce package --target`. .vscodeignore drops CUDA packages and llama.cpp sources.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// llama: the @node-llama-cpp prebuilt packages to ship (CPU + the GPU backend that needs no extra runtime).
const TARGETS = {
  'linux-x64': { os: 'linux', cpu: 'x64', llama: ['linux-x64', 'linux-x64-vulkan'] },
  'linux-arm64': { os: 'linux', cpu: 'arm64', llama: ['linux-arm64'] },
  'win32-x64': { os: 'win32', cpu: 'x64', llama: ['win-x64', 'win-x64-vulkan'], ecoQoS: 'x86_64-w64-mingw32-gcc' },
  'win32-arm64': { os: 'win32', cpu: 'arm64', llama: ['win-arm64'] },
  'darwin-arm64': { os: 'darwin', cpu: 'arm64', llama: ['mac-arm64-metal'] },
  'darwin-x64': { os: 'darwin', cpu: 'x64', llama: ['mac-x64'] },
};
const { values } = parseArgs({ options: { target: { type: 'string', multiple: true } } });
const targets = values.target ?? ['linux-x64', 'win32-x64'];
for (const t of targets) if (!TARGETS[t]) fail(`unknown target ${t}; use one of ${Object.keys(TARGETS).join(', ')}`);

function fail(message) {
  console.error(`package: ${message}`);
  process.exit(1);
}

function run(cmd, args, cwd, env = {}) {
  const r = spawnSync(cmd, args, { cwd, stdio: 'inherit', env: { ...process.env, ...env }, shell: process.platform === 'win32' });
  if (r.status !== 0) fail(`${cmd} ${args.join(' ')} failed (exit ${r.status})`);
}

function duBytes(p) {
  const s = statSync(p);
  if (!s.isDirectory()) return s.size;
  return readdirSync(p).reduce((n, f) => n + duBytes(path.join(p, f)), 0);
}

const mb = (b) => `${(b / 2 ** 20).toFixed(1)} MB`;
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
const buildDir = path.join(root, 'build');
mkdirSync(buildDir, { recursive: true });

run(process.execPath, ['esbuild.mjs', '--production'], root);

const report = [];
for (const target of targets) {
  const { os, cpu, llama } = TARGETS[target];
  const stage = path.join(buildDir, 'stage', target);
  rmSync(stage, { recursive: true, force: true });
  mkdirSync(stage, { recursive: true });
  for (const f of ['dist', 'media', 'README.md', 'LICENSE', '.vscodeignore', 'package-lock.json']) {
    if (existsSync(path.join(root, f))) cpSync(path.join(root, f), path.join(stage, f), { recursive: true });
  }
  // Windows 11 Efficiency Mode's EcoQoS needs a Win32 call Node lacks: a small helper, built here with MinGW-w64
  // (Debian: gcc-mingw-w64-x86-64). Other Windows targets go without it, and the engine says so.
  if (TARGETS[target].ecoQoS) {
    const exe = path.join(stage, 'dist', 'verdant-ecoqos.exe');
    const cc = spawnSync(
      TARGETS[target].ecoQoS,
      ['-O2', '-s', '-Wall', '-Wextra', '-Werror', '-o', exe, path.join(root, 'src', 'engine', 'native', 'ecoqos.c')],
      {
        stdio: 'inherit',
      },
    );
    if (cc.error || cc.status !== 0)
      fail(
        `could not build the EcoQoS helper with ${TARGETS[target].ecoQoS} (${cc.error ? cc.error.message : `exit ${cc.status}`}): install MinGW-w64 (apt-get install gcc-mingw-w64-x86-64), or package another target`,
      );
  }
  // The shipped manifest: no dev tooling, and of the scripts only the uninstall hook (vsce would run
  // vscode:prepublish; VS Code runs vscode:uninstall to take Verdant's entries out of the OS scheduler).
  const { devDependencies: _dev, scripts, allowScripts: _allow, ...manifest } = pkg;
  manifest.scripts = { 'vscode:uninstall': scripts['vscode:uninstall'] };
  writeFileSync(path.join(stage, 'package.json'), JSON.stringify(manifest, null, 2) + '\n');

  // Production dependencies for the target platform; install scripts are not needed (prebuilt binaries only).
  run('npm', ['ci', '--omit=dev', `--os=${os}`, `--cpu=${cpu}`, '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error'], stage, {
    ONNXRUNTIME_NODE_INSTALL: 'skip',
  });
  // onnxruntime-node bundles every platform's binaries (about 290 MB); keep only this target's.
  const ortBin = path.join(stage, 'node_modules', 'onnxruntime-node', 'bin');
  if (existsSync(ortBin)) {
    for (const napi of readdirSync(ortBin)) {
      for (const plat of readdirSync(path.join(ortBin, napi))) {
        if (plat !== os) {
          rmSync(path.join(ortBin, napi, plat), { recursive: true, force: true });
          continue;
        }
        for (const arch of readdirSync(path.join(ortBin, napi, plat))) {
          if (arch !== cpu) rmSync(path.join(ortBin, napi, plat, arch), { recursive: true, force: true });
        }
      }
    }
  }
  // node-llama-cpp's prebuilt packages: npm also installs ones that merely run on this CPU (win-arm64 lists x64)
  // and CUDA builds (hundreds of MB, need the CUDA runtime); keep the target's own.
  const llamaDir = path.join(stage, 'node_modules', '@node-llama-cpp');
  for (const name of readdirSync(llamaDir)) if (!llama.includes(name)) rmSync(path.join(llamaDir, name), { recursive: true, force: true });
  const llamaBinaries = readdirSync(llamaDir);
  if (!llama.every((name) => llamaBinaries.includes(name)))
    fail(`node-llama-cpp prebuilt binaries missing for ${target}: wanted ${llama.join(', ')}, got ${llamaBinaries.join(', ')}`);

  const out = path.join(buildDir, `verdant-${target}-${pkg.version}.vsix`);
  rmSync(out, { force: true });
  run(
    process.execPath,
    [path.join(root, 'node_modules/@vscode/vsce/vsce'), 'package', '--target', target, '--out', out, '--allow-missing-repository', '--skip-license'],
    stage,
  );
  report.push({ target, vsix: path.relative(root, out), vsixBytes: statSync(out).size, nodeLlamaCppBinaries: llamaBinaries });
  console.log(`package: ${path.relative(root, out)} ${mb(statSync(out).size)} (node-llama-cpp binaries: ${llamaBinaries.join(', ')})`);
}

const bundle = Object.fromEntries(
  readdirSync(path.join(root, 'dist'))
    .filter((f) => f.endsWith('.js'))
    .map((f) => [f, duBytes(path.join(root, 'dist', f))]),
);
writeFileSync(
  path.join(buildDir, 'package-report.json'),
  JSON.stringify({ version: pkg.version, bundleBytes: bundle, vsix: report }, null, 2) + '\n',
);
console.log(`package: report in build/package-report.json`);
