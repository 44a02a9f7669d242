#!/usr/bin/env node
// `npm test`: every check, in order, stopping at the first stage that fails, with one total at the end
// ("total: N passed, N failed, N skipped") over the unit, integration and e2e suites. The OS prerequisites are
// checked first (scripts/prerequisites.mjs): a missing one stops the run at once with the line that installs it.
//   node scripts/test.mjs [--only unit,integration,e2e]   (setup, lint, typecheck and build always run)
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { describeMissing, missingPrerequisites } from './prerequisites.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { only: { type: 'string' } } });
const only = values.only ? new Set(values.only.split(',')) : null;
const bin = (name) => path.join(root, 'node_modules', '.bin', name);

const stages = [
  { name: 'setup', cmd: [process.execPath, 'scripts/setup.mjs'] },
  { name: 'lint', cmd: [bin('eslint'), '--max-warnings', '0', '.'] },
  { name: 'format', cmd: [bin('prettier'), '--check', 'src/**/*.ts', 'test/**/*.ts', 'bench/**/*.ts', 'scripts/**/*.mjs', 'test/**/*.mjs', '*.mjs'] },
  { name: 'typecheck', cmd: [bin('tsc'), '--noEmit', '-p', '.'] },
  { name: 'build', cmd: [process.execPath, 'esbuild.mjs'] },
  { name: 'unit', suite: true, cmd: [bin('mocha'), '--config', 'test/unit/.mocharc.json'] },
  { name: 'integration', suite: true, cmd: [bin('mocha'), '--config', 'test/integration/.mocharc.json'] },
  { name: 'e2e', suite: true, cmd: [process.execPath, 'test/e2e/run-in-code-server.mjs'] },
  // The same workbench with workspace trust on and the folder untrusted: nothing may go to the cloud.
  { name: 'e2e-untrusted', suite: true, group: 'e2e', cmd: [process.execPath, 'test/e2e/run-in-code-server.mjs', '--untrusted'] },
].filter((s) => !s.suite || !only || only.has(s.group ?? s.name));

function runStage({ cmd }) {
  return new Promise((resolve) => {
    let output = '';
    const child = spawn(cmd[0], cmd.slice(1), { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], shell: process.platform === 'win32' });
    child.stdout.on('data', (d) => {
      output += d;
      process.stdout.write(d);
    });
    child.stderr.on('data', (d) => process.stderr.write(d));
    child.on('close', (code) => resolve({ code, output }));
  });
}

function counts(output) {
  const e2e = [...output.matchAll(/^(\d+) passed, (\d+) failed(?:, (\d+) skipped)?$/gm)].pop();
  if (e2e) return { passed: Number(e2e[1]), failed: Number(e2e[2]), skipped: Number(e2e[3] ?? 0) };
  const passing = /^\s*(\d+) passing/m.exec(output);
  const failing = /^\s*(\d+) failing/m.exec(output);
  const pending = /^\s*(\d+) pending/m.exec(output);
  return { passed: Number(passing?.[1] ?? 0), failed: Number(failing?.[1] ?? 0), skipped: Number(pending?.[1] ?? 0) };
}

let passed = 0;
let failed = 0;
let skipped = 0;
const t0 = Date.now();
const total = () => `total: ${passed} passed, ${failed} failed, ${skipped} skipped`;

// Before anything long: what the OS must provide for the suites that will run.
const missing = missingPrerequisites({ stages: stages.filter((s) => s.suite).map((s) => s.group ?? s.name) });
const required = missing.filter((m) => !m.optional);
const optional = missing.filter((m) => m.optional);
if (required.length > 0) {
  console.log(`\n== prerequisites ==\nnpm test cannot run here yet; missing:\n${describeMissing(required)}`);
  failed = 1;
  console.log(`then run npm test again.\n${total()}`);
  process.exit(1);
}
if (optional.length > 0) console.log(`\n== prerequisites ==\nnote: a test will be skipped; to run it:\n${describeMissing(optional)}`);

for (const stage of stages) {
  console.log(`\n== ${stage.name} ==`);
  const { code, output } = await runStage(stage);
  if (stage.suite) {
    const c = counts(output);
    passed += c.passed;
    failed += c.failed;
    skipped += c.skipped;
    if (code === 0 && c.passed === 0) {
      console.log(`${stage.name}: no test ran`);
      failed++;
    }
  }
  if (code !== 0) {
    if (!stage.suite || counts(output).failed === 0) failed++; // a stage that failed without failing tests counts once
    console.log(`\n${stage.name} failed (exit ${code}) after ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    break;
  }
}
console.log(`\nall stages took ${((Date.now() - t0) / 1000).toFixed(0)} s`);
console.log(total());
process.exit(failed === 0 && passed > 0 ? 0 : 1);
