#!/usr/bin/env node
// `npm run bench [-- NAME...]`: builds, then runs the named benchmarks (default: all). Each writes JSON to
// bench/results/. Names: engine, completion, foundation, router, memory, ledger, peers, large-documents, redact,
// hostile-endpoint, priority, kernels (peers measures llama-server too when LLAMA_SERVER names its binary, else records that
// row as skipped; priority runs on Linux only).
// `npm run bench:report` then turns the results into docs/BENCHMARKS.md.
import { spawnSync } from 'node:child_process';

const BENCHES = {
  engine: ['out/bench/engine.js'],
  completion: ['out/bench/completion.js'],
  foundation: ['bench/foundation.mjs'],
  router: ['out/bench/router.js'],
  memory: ['--expose-gc', 'out/bench/memory.js'],
  ledger: ['out/bench/ledger.js'],
  peers: ['out/bench/peers.js'],
  'large-documents': ['out/bench/largeDocuments.js'],
  redact: ['out/bench/redact.js'],
  'hostile-endpoint': ['out/bench/hostileEndpoint.js'],
  priority: ['out/bench/priority.js'],
  kernels: ['out/bench/kernels.js'],
};
const names = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const unknown = names.filter((n) => !BENCHES[n]);
if (unknown.length) {
  console.error(`bench: unknown benchmark ${unknown.join(', ')}; choose from ${Object.keys(BENCHES).join(', ')}`);
  process.exit(2);
}
const run = (args) => spawnSync(process.execPath, args, { stdio: 'inherit' }).status ?? 1;
if (run(['esbuild.mjs']) !== 0) process.exit(1);
for (const name of names.length ? names : Object.keys(BENCHES)) {
  console.log(`\n== bench ${name} ==`);
  if (run(BENCHES[name]) !== 0) process.exit(1);
}
