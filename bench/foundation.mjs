#!/usr/bin/env node
// Foundation numbers: production bundle sizes, extension activation time inside a real extension host (code-server,
// median of N e2e runs), and the .vsix sizes from the last `npm run package`. Writes bench/results/foundation.json.
//   node bench/foundation.mjs [--runs 3]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' } } });
const runs = Math.max(1, Number(values.runs));
const run = (args) => spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8', timeout: 900000 });
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// Production bundle (what ships), measured, then the dev build back for the tests.
if (run(['esbuild.mjs', '--production']).status !== 0) throw new Error('production build failed');
const bundleBytes = Object.fromEntries(readdirSync(path.join(root, 'dist')).filter((f) => f.endsWith('.js'))
  .map((f) => [f, statSync(path.join(root, 'dist', f)).size]));
if (run(['esbuild.mjs']).status !== 0) throw new Error('build failed');

const activations = [];
const wall = [];
for (let i = 0; i < runs; i++) {
  const t0 = Date.now();
  const r = run(['test/e2e/run-in-code-server.mjs']);
  if (r.status !== 0) throw new Error(`e2e run ${i + 1} failed:\n${r.stdout.slice(-2000)}`);
  wall.push(Date.now() - t0);
  activations.push(JSON.parse(readFileSync(path.join(root, 'out', 'e2e-metrics.json'), 'utf8')).activationMs);
}

const reportFile = path.join(root, 'build', 'package-report.json');
const vsix = existsSync(reportFile) ? JSON.parse(readFileSync(reportFile, 'utf8')).vsix.map(({ target, vsixBytes }) => ({ target, vsixBytes })) : null;
const result = {
  date: new Date().toISOString(),
  machine: { platform: process.platform, arch: process.arch, node: process.versions.node },
  bundleBytes,
  activation: { host: 'code-server 4.100.3 extension host', runs, activateMsMedian: median(activations), activateMs: activations, e2eWallMs: wall },
  vsix: vsix ?? 'run "npm run package" first',
};
mkdirSync(path.join(root, 'bench', 'results'), { recursive: true });
writeFileSync(path.join(root, 'bench', 'results', 'foundation.json'), JSON.stringify(result, null, 2) + '\n');
console.log(JSON.stringify(result, null, 2));
