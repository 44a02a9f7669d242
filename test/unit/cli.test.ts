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

  it('absurd values get one usage error each: a negative duration, 1e308 tokens, /dev/zero as a forecast', async () => {
    const cases: [string[], RegExp][] = [
      [
        ['run-when-clean', '--duration', '-30m', '--', 'true'],
        /^verdant: --duration -30m: a value that starts with "-" reads as an option; write --duration=-30m if you mean it\.$/,
      ],
      [['run-when-clean', '--duration=-30m', '--', 'true'], /--duration: "-30m" is not a duration/],
      [['route', '--kind', 'ask', '--tokens', '1e308'], /--tokens must be a whole number of at most 1e\+12, not "1e308"/],
      [['estimate', '--route', 'cloud', '--in', '1e308', '--out', '10'], /--in must be a number of at most 1e\+12, not "1e308"/],
      [
        ['window', '--duration', '1h', '--forecast-file', process.platform === 'win32' ? 'NUL' : '/dev/zero'],
        /--forecast-file .* is not a regular file/,
      ],
    ];
    for (const [argv, message] of cases) {
      const r = await cli(...argv);
      assert.equal(r.code, 2, `${argv.join(' ')}: ${r.err}`);
      assert.match(r.err, message);
      assert.equal(r.err.split('\n').length, 1, r.err);
    }
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
