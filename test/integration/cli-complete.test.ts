// `verdant complete` as a real process on the real model (CPU, 1 thread).
import * as assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Ledger } from '../../src/core/carbon/ledger';
import { runCliProcess } from '../support/cli';
import { testModels, type TestModels } from '../support/models';

const cli = (...args: string[]) => runCliProcess(args);

describe('verdant complete (real model)', function () {
  this.timeout(120000);
  let models: TestModels;
  const common = () => ['--threads', '1', '--gpu', 'cpu', '--max-tokens', '12'];
  before(async () => {
    models = await testModels();
  });

  it('--json prints one object with the text, backend and timing', async () => {
    const r = await cli(
      'complete',
      '--model',
      models.base,
      '--prompt',
      'Once upon a time, there was a little girl named Lily. She',
      ...common(),
      '--json',
    );
    assert.equal(r.code, 0, r.stderr);
    const o = JSON.parse(r.stdout);
    assert.match(o.text, /^ loved to play outside/);
    assert.equal(o.backend, 'llama.cpp (cpu)');
    assert.equal(o.generatedTokens, 12);
    for (const k of ['promptTokens', 'evaluatedTokens', 'ttftMs', 'tokensPerSecond', 'meanLogProb']) assert.equal(typeof o[k], 'number', k);
    assert.ok(o.meanLogProb < 0);
  });

  it('--ledger writes exactly one record for the request, and prints its grams', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'verdant-cli-ledger-'));
    try {
      const r = await cli('complete', '--model', models.base, '--prompt', 'Once upon a time', ...common(), '--ledger', dir, '--zone', 'SE', '--json');
      assert.equal(r.code, 0, r.stderr);
      const o = JSON.parse(r.stdout);
      const { records, problems } = await new Ledger({ dir }).read();
      assert.deepEqual(problems, []);
      assert.equal(records.length, 1);
      assert.equal(records[0]!.id, o.recordId);
      assert.equal(records[0]!.sciG, o.gCO2e);
      assert.equal(records[0]!.route, 'local');
      assert.equal(records[0]!.feature, 'cli-complete');
      assert.equal(records[0]!.intensity.zone, 'SE');
      assert.ok(o.gCO2e > 0);
      const text = await cli('complete', '--model', models.base, '--prompt', 'Once upon a time', ...common(), '--ledger', dir);
      assert.match(text.stdout, /stop: maxTokens, [\d.e-]+ gCO2e, ledger record [0-9a-f-]{36}\]/);
      assert.equal((await new Ledger({ dir }).read()).records.length, 2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('streams plain text, then a summary line', async () => {
    const r = await cli('complete', '--model', models.base, '--prompt', 'Once upon a time', ...common());
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^, there was a little girl/);
    assert.match(r.stdout, /\[llama\.cpp \(cpu\), 12 tokens, .* tok\/s, first token .* ms, stop: maxTokens\]/);
  });

  it('fills in the middle with --prefix and --suffix on a FIM model', async () => {
    const r = await cli('complete', '--model', models.fim, '--prefix', 'Lily went to the', '--suffix', ' with her mom.', ...common(), '--json');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).usedFim, true);
  });

  it('fails with one clear line for a bad model file, and a usage error for bad flags', async () => {
    const bad = await cli('complete', '--model', models.corrupt.html, '--prompt', 'x', ...common());
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^verdant: .*not a GGUF model/);
    const usage = await cli('complete', '--model', models.base, '--prompt', 'x', '--prefix', 'y');
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /either --prompt TEXT, or --prefix TEXT/);
    const threads = await cli('complete', '--model', models.base, '--prompt', 'x', '--threads', 'many', '--json');
    assert.equal(threads.code, 2);
    assert.match(JSON.parse(threads.stdout).error, /--threads must be a whole number/);
  });
});
