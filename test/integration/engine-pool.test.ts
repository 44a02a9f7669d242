// The worker's model pool (#21) with real engines: the test model as the planner and its FIM variant as the completion
// model, on the real node-llama-cpp (CPU, 1 thread). The memory it sees is injected; everything else is real.
import * as assert from 'node:assert/strict';
import { EnginePool } from '../../src/engine/enginePool';
import { EngineError } from '../../src/engine/errors';
import { LlamaEngine, memoryNeed, type ModelConfig } from '../../src/engine/llama/engine';
import { testModels, type TestModels } from '../support/models';

const LILY = 'Once upon a time, there was a little girl named Lily. She';
const GiB = 2 ** 30;

describe('engine pool: a completion model and a planner model (real engines)', function () {
  this.timeout(120000);
  let models: TestModels;
  const config = (modelPath: string): ModelConfig => ({ modelPath, gpu: 'cpu', threads: 1, contextSize: 512, sequences: 2 });
  let pools: EnginePool<LlamaEngine>[] = [];

  const pool = (available: () => number, log: string[] = []) => {
    const p = new EnginePool<LlamaEngine>({
      load: (c) => LlamaEngine.load(c),
      need: memoryNeed,
      available,
      max: 2,
      log: (m) => log.push(m),
    });
    pools.push(p);
    return p;
  };

  before(async () => {
    models = await testModels();
  });
  afterEach(async () => {
    for (const p of pools) await p.disposeAll();
    pools = [];
  });

  it('holds both models at once when memory allows, each answering from its own file', async () => {
    const p = pool(() => 64 * GiB);
    const planner = await p.use(config(models.base), (e) => e.generate({ kind: 'completion', prompt: LILY, maxTokens: 4 }));
    const completion = await p.use(config(models.fim), (e) => e.generate({ kind: 'completion', prompt: LILY, maxTokens: 4 }));
    assert.equal(planner.model, 'stories260K.gguf');
    assert.equal(completion.model, 'stories260K-fim.gguf');
    assert.deepEqual(
      p.engines().map((e) => e.config.modelPath),
      [models.fim, models.base],
      'both loaded, the most recently used first',
    );
    assert.equal(p.swaps, 0);
    // Using the first again loads nothing.
    await p.use(config(models.base), async () => undefined);
    assert.deepEqual(
      p.engines().map((e) => e.config.modelPath),
      [models.base, models.fim],
    );
  });

  it('swaps the least recently used model out when memory is short, only once its running request has finished', async () => {
    const log: string[] = [];
    const need = await memoryNeed(config(models.fim));
    // With one model loaded there is never room for a second.
    const p = pool(() => need - 1, log);
    await p.use(config(models.base), async () => undefined);
    let plannerDone = false;
    const long = p.use(config(models.base), async (e) => {
      const r = await e.generate({ kind: 'completion', prompt: LILY, maxTokens: 48 });
      plannerDone = true;
      return r;
    });
    const short = p.use(config(models.fim), async (e) => {
      assert.ok(plannerDone, 'the planner model was unloaded only after its request finished');
      return e.generate({ kind: 'completion', prompt: LILY, maxTokens: 4 });
    });
    const [planner, completion] = await Promise.all([long, short]);
    assert.notEqual(planner.stopReason, 'abort');
    assert.equal(planner.timing.generatedTokens, 48, 'the running request kept its model to the end');
    assert.equal(completion.model, 'stories260K-fim.gguf');
    assert.deepEqual(
      p.engines().map((e) => e.config.modelPath),
      [models.fim],
    );
    assert.equal(p.swaps, 1);
    assert.equal(p.lastSwap?.unloaded, models.base);
    assert.equal(p.lastSwap?.loading, models.fim);
    assert.match(p.lastSwap?.reason ?? '', /^it needs about [\d.]+ GiB and [\d.]+ GiB is available$/);
    assert.ok(
      log.some((l) => l.startsWith(`unloading ${models.base} to load ${models.fim}`)),
      log.join('\n'),
    );
  });

  it('keeps the loaded model when the other cannot load, and says why', async () => {
    const p = pool(() => 0);
    await p.use(config(models.base), async () => undefined);
    await assert.rejects(
      p.use(config(models.corrupt.truncated), async () => undefined),
      (e: unknown) => e instanceof EngineError && e.code === 'model-invalid',
    );
    assert.deepEqual(
      p.engines().map((e) => e.config.modelPath),
      [models.base],
      'a file that cannot load unloads nothing',
    );
    assert.equal(p.swaps, 0);
  });
});
