#!/usr/bin/env node
// `npm run test:stress`: the whole `npm test` on a machine kept busy on purpose, to prove the suite does not depend
// on how idle the machine is. Starts CPU hogs (busy loops, each its own process, at the lowest priority by default),
// runs scripts/test.mjs with the remaining arguments, stops the hogs however the run ends, and repeats it --runs times.
//   node scripts/test-stress.mjs [--hogs 4] [--nice 19] [--runs 1] [-- --only unit,integration]
// --nice 0 makes the hogs compete with the tests as equals (harsher than the default). Prints one line per run and
// exits 0 only when every run passed.
import { spawn } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values, positionals } = parseArgs({
  options: { hogs: { type: 'string', default: '4' }, nice: { type: 'string', default: '19' }, runs: { type: 'string', default: '1' } },
  allowPositionals: true,
});
const hogCount = Number(values.hogs);
const nice = Number(values.nice);
const runs = Number(values.runs);
for (const [name, v, ok] of [
  ['--hogs', hogCount, hogCount >= 0],
  ['--nice', nice, nice >= -20 && nice <= 19],
  ['--runs', runs, runs >= 1],
]) {
  if (!Number.isInteger(v) || !ok) {
    console.error(`test-stress: ${name} must be a whole number (hogs >= 0, nice -20..19, runs >= 1), not "${v}"`);
    process.exit(2);
  }
}

// Each hog spins until its parent (this script) goes away, so none outlives a crash of the script itself.
const HOG = `const parent = ${process.pid};
setInterval(() => { try { process.kill(parent, 0); } catch { process.exit(0); } }, 1000).unref();
for (;;) { const end = Date.now() + 200; while (Date.now() < end) Math.sqrt(Math.random()); await new Promise((r) => setImmediate(r)); }`;

function startHogs() {
  return Array.from({ length: hogCount }, () => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', HOG], { stdio: 'ignore' });
    try {
      os.setPriority(child.pid, nice);
    } catch (e) {
      console.error(`test-stress: could not set nice ${nice} on a hog (${e.code ?? e.message}); it runs at the default priority`);
    }
    return child;
  });
}

function stopHogs(hogs) {
  for (const h of hogs) if (h.exitCode === null && h.signalCode === null) h.kill('SIGKILL');
}

let hogs = [];
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    stopHogs(hogs);
    process.exit(128 + os.constants.signals[sig]);
  });
}
process.on('exit', () => stopHogs(hogs));

const summary = [];
for (let run = 1; run <= runs; run++) {
  console.log(`\n== stress run ${run}/${runs}: ${hogCount} CPU hog(s) at nice ${nice} on ${os.cpus().length} CPU(s) ==`);
  hogs = startHogs();
  const t0 = Date.now();
  let tail = '';
  const code = await new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(root, 'scripts/test.mjs'), ...positionals], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    child.stdout.on('data', (d) => {
      process.stdout.write(d);
      tail = (tail + d).slice(-4096);
    });
    child.on('close', (c, signal) => resolve(c ?? 128 + (os.constants.signals[signal] ?? 0)));
  });
  const total = [...tail.matchAll(/^total: .*$/gm)].pop()?.[0];
  const load = os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');
  stopHogs(hogs);
  hogs = [];
  summary.push(
    `run ${run}: exit ${code}, ${total || 'no total printed'}, ${((Date.now() - t0) / 1000).toFixed(0)} s, load average at the end ${load}`,
  );
  if (code !== 0) break;
}
console.log(`\n${summary.join('\n')}`);
process.exit(summary.length === runs && summary.every((s) => s.includes('exit 0,')) ? 0 : 1);
