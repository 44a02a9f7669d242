#!/usr/bin/env node
// Proves a packaged .vsix is installable and works: code-server (a real VS Code) installs it, the installed copy
// holds the target's native binaries and none it should not, node-llama-cpp's prebuilt binding loads from it, the
// installed engine worker serves the router classifier (dist/router.onnx on the shipped onnxruntime-node), and the
// e2e suite passes against the installed copy.
//   node scripts/check-vsix.mjs [--cs CODE_SERVER] FILE.vsix
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values, positionals } = parseArgs({ options: { cs: { type: 'string' } }, allowPositionals: true });
const vsix = positionals[0];
if (!vsix || !existsSync(vsix)) {
  console.error('check-vsix: give the path of a .vsix (run "npm run package" first)');
  process.exit(2);
}
const cs =
  values.cs ??
  process.env.CODE_SERVER ??
  execFileSync('bash', [path.join(root, 'scripts/ensure-code-server.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();

/**
 * Starts the installed dist/engine-worker.js, speaks the protocol raw (the client is bundled into extension.js):
 * the handshake of src/engine/handshake.ts written out again (hello with a nonce, check the worker's HMAC, auth with
 * ours, ready), then asks it to route one row; the answer must match the logistic model in dist/router-weights.json.
 */
async function routeProbe(dir, stateDir) {
  const protocol = Number(/PROTOCOL_VERSION = (\d+)/.exec(readFileSync(path.join(root, 'src/engine/protocol.ts'), 'utf8'))[1]);
  const { weights, bias, features } = JSON.parse(readFileSync(path.join(dir, 'dist', 'router-weights.json'), 'utf8'));
  // The 16 facts of a refactor (p not saturated), then nothing typed: the text features are zeros.
  const facts = [0, 0, 1, 0, 0, 0, 0, 0.6, 0.3, 0.1, 0, 0.5, 0.4, 0.5, 0, 0];
  const row = [...facts, ...new Array(features - facts.length).fill(0)];
  const z = row.reduce((sum, x, i) => sum + Math.fround(weights[i]) * Math.fround(x), Math.fround(bias));
  const expected = 1 / (1 + Math.exp(-z));
  const worker = spawn(process.execPath, [path.join(dir, 'dist', 'engine-worker.js'), '--state-dir', stateDir, '--idle-ms', '5000'], {
    stdio: 'ignore',
  });
  try {
    let lock;
    const keyFile = path.join(stateDir, 'engine.key'); // made after the lock, before the worker listens
    for (let i = 0; i < 200 && !(lock && existsSync(keyFile)); i++) {
      await new Promise((r) => setTimeout(r, 50));
      try {
        lock = JSON.parse(readFileSync(path.join(stateDir, 'engine.lock'), 'utf8'));
      } catch {
        /* not written yet */
      }
    }
    if (!lock || !existsSync(keyFile)) return { ok: false, detail: 'the worker wrote no lock file and key in 10 s' };
    const key = readFileSync(keyFile);
    const proof = (role, clientNonce, workerNonce) =>
      createHmac('sha256', key).update(`verdant-engine-v1\0${role}\0${clientNonce}\0${workerNonce}`).digest('hex');
    const nonce = randomBytes(32).toString('hex');
    const ask = () =>
      new Promise((resolve) => {
        const send = (m) => socket.write(JSON.stringify(m) + '\n');
        const socket = net.connect(lock.socket, () => send({ type: 'hello', protocol, client: 'check-vsix', nonce }));
        const timer = setTimeout(() => {
          socket.destroy();
          resolve({ type: 'timeout' });
        }, 30000);
        let buffer = '';
        socket.setEncoding('utf8');
        socket.on('data', (chunk) => {
          buffer += chunk;
          for (const line of buffer.split('\n').slice(0, -1)) {
            const m = JSON.parse(line);
            if (m.type === 'hello') {
              if (m.proof !== proof('worker', nonce, m.nonce)) {
                clearTimeout(timer);
                socket.destroy();
                resolve({ type: 'error', error: { message: 'the worker could not prove the key' } });
                return;
              }
              send({ type: 'auth', proof: proof('client', nonce, m.nonce) });
            } else if (m.type === 'ready') {
              send({ type: 'route', id: 1, features: [row] });
            } else if (m.id === 1 || m.type === 'error') {
              clearTimeout(timer);
              socket.destroy();
              resolve(m);
            }
          }
          buffer = buffer.slice(buffer.lastIndexOf('\n') + 1);
        });
        socket.on('error', (e) => {
          clearTimeout(timer);
          resolve({ type: 'error', error: { message: e.message, code: e.code } });
        });
      });
    // The lock and key come before the worker listens: a socket not there yet is asked again.
    let answer = await ask();
    for (let i = 0; i < 100 && ['ENOENT', 'ECONNREFUSED'].includes(answer.error?.code); i++) {
      await new Promise((r) => setTimeout(r, 100));
      answer = await ask();
    }
    if (answer.type !== 'routed') return { ok: false, detail: JSON.stringify(answer).slice(0, 300) };
    const diff = Math.abs(answer.p[0] - expected);
    return { ok: diff <= 1e-5, detail: `p ${answer.p[0].toFixed(6)} on ${answer.provider}, reference ${expected.toFixed(6)}` };
  } finally {
    worker.kill();
  }
}

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
  check(
    install.status === 0 && /successfully installed/.test(install.stdout),
    'code-server --install-extension accepts it',
    (install.stdout + install.stderr).trim().split('\n').pop(),
  );
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
    check(
      ['router.onnx', 'router-weights.json', 'word-vectors.bin', 'word-vectors.NOTICE'].every((f) => existsSync(path.join(dir, 'dist', f))),
      'ships dist/router.onnx, dist/router-weights.json and dist/word-vectors.bin with its licence notice',
    );

    console.log(`check-vsix: installed as ${installed}, target ${target}`);
    if (target === `${process.platform}-${process.arch}`) {
      // The shipped binding must load on its own platform, without building anything.
      // A file, not `node -e`: node-llama-cpp tests its binding in a child that inherits execArgv.
      const probeFile = path.join(tmp, 'probe.mjs');
      writeFileSync(
        probeFile,
        `
        const { getLlama } = await import(${JSON.stringify(pathToFileURL(path.join(dir, 'node_modules/node-llama-cpp/dist/index.js')).href)});
        const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' });
        console.log(JSON.stringify({ buildType: llama.buildType, gpu: llama.gpu }));
        await llama.dispose();`,
      );
      const probe = spawnSync(process.execPath, [probeFile], { encoding: 'utf8', timeout: 120000 });
      check(
        probe.status === 0 && /"buildType":"prebuilt"/.test(probe.stdout),
        'node-llama-cpp loads its prebuilt binding from the vsix',
        (probe.stdout + probe.stderr).trim().slice(0, 300),
      );
      const routed = await routeProbe(dir, path.join(tmp, 'engine-state'));
      check(routed.ok, 'the installed engine worker serves the router classifier', routed.detail);
      const e2e = spawnSync(process.execPath, [path.join(root, 'test/e2e/run-in-code-server.mjs'), '--cs', cs, '--ext', dir], {
        encoding: 'utf8',
        timeout: 600000,
      });
      const summary = /^(\d+) passed, (\d+) failed(?:, \d+ skipped)?$/m.exec(e2e.stdout);
      check(e2e.status === 0, 'the e2e suite passes against the installed copy', summary?.[0] ?? e2e.stdout.slice(-800));
      // Name what failed, so a red CI says which test without a rerun.
      if (e2e.status !== 0) for (const line of e2e.stdout.split('\n').filter((l) => / FAILED /.test(l))) console.log(`check-vsix:      ${line}`);
    }
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
console.log(failures === 0 ? `check-vsix: ${path.basename(vsix)} is good` : `check-vsix: ${failures} check(s) failed`);
process.exit(failures === 0 ? 0 : 1);
