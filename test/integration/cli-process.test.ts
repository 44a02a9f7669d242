// The built CLI (dist/cli.js) as a real process, the way users and scripts run it.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';

const CLI = 'dist/cli.js';
const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 30000 });

describe('verdant CLI process', () => {
  it('is an executable node script', () => {
    assert.match(readFileSync(CLI, 'utf8'), /^#!\/usr\/bin\/env node\n/);
    assert.ok(statSync(CLI).size > 0);
  });

  it('--version matches package.json', () => {
    const r = run('--version');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), JSON.parse(readFileSync('package.json', 'utf8')).version);
  });

  it('--help exits 0 with usage', () => {
    const r = run('--help');
    assert.equal(r.status, 0);
    assert.match(r.stdout, /Usage: verdant/);
  });

  it('info --json prints one parseable object and loads no native module', () => {
    const r = spawnSync(
      process.execPath,
      [
        '-e',
        `
      process.argv = [process.argv[0], ${JSON.stringify(CLI)}, 'info', '--json'];
      require('./${CLI}');
      process.on('exit', () => {
        const native = Object.keys(require.cache).filter((f) => /node-llama-cpp|onnxruntime/.test(f) || f.endsWith('.node'));
        process.stderr.write('NATIVE=' + JSON.stringify(native));
      });`,
      ],
      { encoding: 'utf8', timeout: 30000 },
    );
    assert.equal(r.status, 0, r.stderr);
    const info = JSON.parse(r.stdout);
    assert.equal(info.arch, process.arch);
    assert.equal(info.packages['node-llama-cpp'].installed, true);
    assert.match(r.stderr, /NATIVE=\[\]/);
  });

  it('bad usage exits 2 with one clear line on stderr', () => {
    const r = run('info', '--nope');
    assert.equal(r.status, 2);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr.trim().split('\n').length, 1);
    assert.match(r.stderr, /unknown option --nope/);
  });
});
