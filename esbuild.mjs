// Bundles the extension host code, the engine worker and the CLI into dist/ (plus the router model files), and the
// tests into out/.
// Native and ESM-only packages stay external: node-llama-cpp (ESM, native, loaded lazily with import()),
// onnxruntime-node (native), and `vscode` (provided by the extension host).
//   node esbuild.mjs [--watch] [--production]
import * as esbuild from 'esbuild';
import { copyFileSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const watch = process.argv.includes('--watch');
const production = process.argv.includes('--production');
const pkg = JSON.parse(readFileSync('package.json', 'utf8'));

const external = ['vscode', 'node-llama-cpp', 'onnxruntime-node', 'mocha', 'playwright-core', '@vscode/test-electron'];
const common = {
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  external,
  sourcemap: production ? false : 'linked',
  minify: production,
  logLevel: 'warning',
  // The version is baked in so the CLI and the extension never read package.json at run time.
  define: { __VERDANT_VERSION__: JSON.stringify(pkg.version) },
  // Keep dynamic import() of external ESM packages as real import() instead of esbuild's require() shim.
  supported: { 'dynamic-import': true },
};

const testFiles = (dir) =>
  readdirSync(dir, { recursive: true })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => join(dir, f));

const builds = [
  {
    ...common,
    entryPoints: {
      extension: 'src/extension.ts',
      'engine-worker': 'src/engine/worker.ts',
      'engine-http': 'src/engine/httpEntry.ts',
      uninstall: 'src/uninstall.ts',
    },
    outdir: 'dist',
  },
  { ...common, entryPoints: { cli: 'src/cli/main.ts' }, outdir: 'dist', banner: { js: '#!/usr/bin/env node' } },
  {
    ...common,
    minify: false,
    sourcemap: 'inline',
    packages: 'external', // tests bundle our sources only and require their tools from node_modules
    entryPoints: [...testFiles('test/unit'), ...testFiles('test/integration'), ...testFiles('test/e2e')],
    outbase: 'test',
    outdir: 'out/test',
  },
];

builds.push({ ...builds[2], entryPoints: testFiles('bench'), outbase: 'bench', outdir: 'out/bench' });

// --production builds only what ships (dist/); the tests in out/ stay as they are.
if (production) builds.splice(2);
if (!watch) {
  rmSync('dist', { recursive: true, force: true });
  if (!production) rmSync('out', { recursive: true, force: true });
}
// The router classifier's model ships next to the worker bundle, which loads dist/router.onnx (the weights are the
// TS reference's input; the word vectors feed the features, their licence notice goes with them). After the rm above, in every mode.
const copyRouterModel = () => {
  mkdirSync('dist', { recursive: true });
  for (const f of ['router.onnx', 'router-weights.json', 'word-vectors.bin', 'word-vectors.NOTICE'])
    copyFileSync(join('src/core/routing/model', f), join('dist', f));
};
const t0 = performance.now();
if (watch) {
  for (const b of builds) await (await esbuild.context(b)).watch();
  copyRouterModel();
  console.log('esbuild: watching src/ and test/');
} else {
  await Promise.all(builds.map((b) => esbuild.build(b)));
  copyRouterModel();
  console.log(`esbuild: built dist/ and out/ in ${Math.round(performance.now() - t0)} ms`);
}
