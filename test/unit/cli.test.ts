import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { runCli } from '../../src/cli/cli';
import { findPackage } from '../../src/cli/machine';

async function cli(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, { out: (t) => out.push(t), write: (t) => out.push(t), err: (t) => err.push(t), baseDir: process.cwd() });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

describe('cli', () => {
  it('--version prints the version, as JSON with --json', async () => {
    assert.match((await cli('--version')).out, /^\d+\.\d+\.\d+/);
    const r = await cli('--version', '--json');
    assert.equal(r.code, 0);
    assert.equal(JSON.parse(r.out).name, 'verdant');
  });

  it('--help lists commands and options', async () => {
    const r = await cli('--help');
    assert.equal(r.code, 0);
    assert.match(r.out, /Usage: verdant/);
    assert.match(r.out, /info/);
    assert.match(r.out, /--json/);
  });

  it('a bare call prints help and exits with a usage code', async () => {
    const r = await cli();
    assert.equal(r.code, 2);
    assert.match(r.out, /Usage: verdant/);
  });

  it('an unknown option is a usage error naming the option', async () => {
    const r = await cli('info', '--frobnicate');
    assert.equal(r.code, 2);
    assert.match(r.err, /unknown option --frobnicate; run "verdant --help"/);
  });

  it('an unknown command is a usage error listing the commands', async () => {
    const r = await cli('frob', '--json');
    assert.equal(r.code, 2);
    const body = JSON.parse(r.out);
    assert.match(body.error, /unknown command "frob"; commands: info/);
    assert.equal(body.exitCode, 2);
  });

  it('info --json reports the machine and the inference packages', async () => {
    const r = await cli('info', '--json');
    assert.equal(r.code, 0);
    const info = JSON.parse(r.out);
    assert.equal(info.platform, process.platform);
    assert.ok(info.logicalCores >= 1);
    assert.equal(info.packages['node-llama-cpp'].version, '3.21.1');
    assert.equal(info.packages['onnxruntime-node'].installed, true);
  });

  it('findPackage walks up node_modules and reports missing packages', () => {
    const found = findPackage('mocha', path.join(process.cwd(), 'src', 'cli'));
    assert.equal(found.installed, true);
    assert.equal(findPackage('surely-not-installed-verdant-pkg', process.cwd()).installed, false);
  });
});
