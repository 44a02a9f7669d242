// The in-process llama.cpp engine with the real node-llama-cpp and the real stories260K model (CPU, 1 thread).
import * as assert from 'node:assert/strict';
import { readRaplMicrojoules } from '../../src/core/carbon/energy/rapl';
import { EngineError } from '../../src/engine/errors';
import { LlamaEngine, type ModelConfig } from '../../src/engine/llama/engine';
import { testModels, type TestModels } from '../support/models';

const LILY = 'Once upon a time, there was a little girl named Lily. She';

describe('llama.cpp engine (real model)', function () {
  this.timeout(120000);
  let models: TestModels;
  let engine: LlamaEngine;
  const config = (over: Partial<ModelConfig> = {}): ModelConfig => ({
    modelPath: models.base,
    gpu: 'cpu',
    threads: 1,
    contextSize: 512,
    sequences: 2,
    ...over,
  });

  before(async () => {
    models = await testModels();
    engine = await LlamaEngine.load(config());
  });
  after(async () => {
    await engine?.dispose();
  });

  it('reports backend, threads and context', async () => {
    const info = await engine.info();
    assert.equal(info.backend, 'llama.cpp (cpu)');
    assert.equal(info.threads, 1);
    assert.deepEqual(info.devices, []);
    assert.equal(info.fimSupported, false);
    assert.ok(info.contextSize! >= 512);
    assert.ok(engine.stats.loadMs > 0 && engine.stats.warmupMs >= 0);
  });

  it('every result carries the context size it ran with: the configured one', async () => {
    const r = await engine.generate({ kind: 'completion', prompt: LILY, maxTokens: 2 });
    assert.equal(r.contextTokens, 512);
    assert.equal(r.contextTokens, (await engine.info()).contextSize);
    const chat = await engine.generate({ kind: 'chat', messages: [{ role: 'user', content: 'Hi' }], maxTokens: 2 }, { signal: AbortSignal.abort() });
    assert.equal(chat.contextTokens, 512, 'an aborted request ran with the same context');
    const other = await LlamaEngine.load(config({ contextSize: 1024, sequences: 1 }));
    try {
      assert.equal((await other.generate({ kind: 'fim', prefix: LILY, suffix: '', maxTokens: 1 })).contextTokens, 1024);
    } finally {
      await other.dispose();
    }
  });

  it('completes greedily and deterministically, streaming the same text', async () => {
    let streamed = '';
    const r = await engine.generate(
      { kind: 'completion', prompt: LILY, maxTokens: 16 },
      {
        onText: (t) => {
          streamed += t;
        },
      },
    );
    assert.match(r.text, /^ loved to play outside in the park\./);
    assert.equal(streamed, r.text);
    assert.equal(r.stopReason, 'maxTokens');
    assert.equal(r.timing.generatedTokens, 16);
    assert.ok(r.timing.promptTokens > 10);
    assert.ok(r.confidence.meanLogProb! < 0 && r.confidence.meanLogProb! > -10, String(r.confidence.meanLogProb));
    assert.equal(r.confidence.meanEntropy, null);
    const again = await engine.generate({ kind: 'completion', prompt: LILY, maxTokens: 16 });
    assert.equal(again.text, r.text);
  });

  it('evaluates only the new tokens when a request extends the cached prefix', async () => {
    const key = 'file:///doc-a.ts';
    const first = await engine.generate({ kind: 'completion', prompt: LILY, maxTokens: 4, sessionKey: key });
    assert.ok(first.timing.evaluatedTokens! >= first.timing.promptTokens - 2, 'a new document evaluates (nearly) its whole prompt');
    const meter = engine.poolStats.meteredInputTokens;
    const extended = await engine.generate({ kind: 'completion', prompt: `${LILY} loved to play`, maxTokens: 4, sessionKey: key });
    // The prompt grew by 3 tokens, all of which were generated (and cached) by the first request.
    assert.ok(extended.timing.evaluatedTokens! <= 3, `evaluated ${extended.timing.evaluatedTokens} of ${extended.timing.promptTokens}`);
    // node-llama-cpp's own token meter agrees (it books the last prompt token as output).
    assert.equal(engine.poolStats.meteredInputTokens - meter, extended.timing.evaluatedTokens! - 1);
    const typo = await engine.generate({ kind: 'completion', prompt: `${LILY} loved to jump`, maxTokens: 4, sessionKey: key });
    assert.ok(
      typo.timing.evaluatedTokens! < typo.timing.promptTokens / 3,
      `after an edit at the end, evaluated ${typo.timing.evaluatedTokens} of ${typo.timing.promptTokens}`,
    );
  });

  it('stops on a stop string, without including it', async () => {
    const r = await engine.generate({ kind: 'completion', prompt: LILY, maxTokens: 64, stop: ['park'] });
    assert.equal(r.stopReason, 'stop');
    assert.equal(r.text, ' loved to play outside in the ');
  });

  it('stops within one decode step when aborted', async () => {
    const ac = new AbortController();
    let pieces = 0;
    const r = await engine.generate(
      { kind: 'completion', prompt: LILY, maxTokens: 400 },
      {
        signal: ac.signal,
        onText: () => {
          if (++pieces === 5) ac.abort();
        },
      },
    );
    assert.equal(r.stopReason, 'abort');
    assert.ok(r.timing.generatedTokens <= 6, `generated ${r.timing.generatedTokens} tokens`);
    const pre = await engine.generate({ kind: 'completion', prompt: LILY, maxTokens: 400 }, { signal: AbortSignal.abort() });
    assert.equal(pre.stopReason, 'abort');
    assert.equal(pre.timing.generatedTokens, 0);
  });

  it('computes the entropy when asked', async () => {
    const r = await engine.generate({ kind: 'completion', prompt: LILY, maxTokens: 4, entropy: true });
    assert.ok(r.confidence.meanEntropy! >= 0, String(r.confidence.meanEntropy));
  });

  it('falls back to a prefix completion on a model without FIM tokens', async () => {
    const r = await engine.generate({ kind: 'fim', prefix: LILY, suffix: ' One day, she saw a big ball.', maxTokens: 8 });
    assert.equal(r.usedFim, false);
    assert.match(r.text, /^ loved to play/);
    // An inline completion skips the per-token probability (a sort of the whole vocabulary) unless asked.
    assert.equal(r.confidence.meanLogProb, null);
    const asked = await engine.generate({ kind: 'fim', prefix: LILY, suffix: '', maxTokens: 8, confidence: true });
    assert.equal(asked.text, r.text, 'the same tokens either way');
    assert.ok(asked.confidence.meanLogProb! < 0, String(asked.confidence.meanLogProb));
  });

  it('answers a chat with the model chat template', async () => {
    const r = await engine.generate({ kind: 'chat', messages: [{ role: 'user', content: 'Tell me a story about Lily.' }], maxTokens: 12 });
    assert.equal(typeof r.text, 'string');
    assert.ok(r.timing.generatedTokens > 0);
  });

  it('rejects bad requests with a clear error', async () => {
    await assert.rejects(
      engine.generate({ kind: 'completion', prompt: 'x', maxTokens: -1 }),
      (e: EngineError) => e.code === 'bad-request' && /maxTokens/.test(e.message),
    );
    await assert.rejects(engine.generate({ kind: 'chat', messages: [], maxTokens: 4 }), (e: EngineError) => e.code === 'bad-request');
  });

  it('reuses a least-recently-used sequence when more documents than sequences are open', async () => {
    const evictionsBefore = engine.poolStats.evictions;
    for (const key of ['k1', 'k2', 'k3']) await engine.generate({ kind: 'completion', prompt: `${LILY} ${key}`, maxTokens: 2, sessionKey: key });
    assert.ok(engine.poolStats.evictions > evictionsBefore);
    assert.equal(engine.poolStats.used, 2);
  });

  describe('FIM variant (made by our GGUF rewriter)', () => {
    let fim: LlamaEngine;
    before(async () => {
      fim = await LlamaEngine.load(config({ modelPath: models.fim }));
    });
    after(async () => {
      await fim?.dispose();
    });

    it('uses the model FIM tokens and reuses the prefix across keystrokes', async () => {
      assert.equal((await fim.info()).fimSupported, true);
      const key = 'file:///fim.ts';
      const a = await fim.generate({ kind: 'fim', prefix: LILY, suffix: ' She was happy.', maxTokens: 6, sessionKey: key });
      assert.equal(a.usedFim, true);
      assert.ok(a.timing.evaluatedTokens! >= a.timing.promptTokens - 1);
      const meter = fim.poolStats.meteredInputTokens;
      // Typing one more word changes the tokens after the prefix, so only the tail is evaluated again.
      const b = await fim.generate({ kind: 'fim', prefix: `${LILY} loved`, suffix: ' She was happy.', maxTokens: 6, sessionKey: key });
      assert.ok(b.timing.evaluatedTokens! < b.timing.promptTokens / 2, `evaluated ${b.timing.evaluatedTokens} of ${b.timing.promptTokens}`);
      assert.equal(fim.poolStats.meteredInputTokens - meter, b.timing.evaluatedTokens! - 1, 'token meter');
      const c = await fim.generate({ kind: 'fim', prefix: `${LILY} loved`, suffix: ' She was happy.', maxTokens: 6, sessionKey: key });
      assert.equal(c.timing.evaluatedTokens, 1, 'an identical request re-evaluates only the last prompt token');
      assert.equal(c.text, b.text);
    });
  });

  describe('RAPL package energy', () => {
    // A powercap tree whose package counter advances 1.5 J on every read, as a busy package's would.
    const counter = { uj: 1_000_000 };
    const rapl = {
      root: '/fake/powercap',
      readdir: async () => ['intel-rapl:0'],
      readFile: async (file: string) => {
        if (file.endsWith('/name')) return 'package-0\n';
        if (file.endsWith('/max_energy_range_uj')) return '262143328850\n';
        counter.uj += 1_500_000;
        return `${counter.uj}\n`;
      },
    };
    let measured: LlamaEngine;
    before(async () => {
      measured = await LlamaEngine.load(config(), { rapl });
    });
    after(async () => {
      await measured?.dispose();
    });

    it('reports the package energy of a request that ran alone', async () => {
      const r = await measured.generate({ kind: 'completion', prompt: LILY, maxTokens: 4 });
      assert.equal(r.timing.packageJoules, 1.5);
    });

    it('gives no measurement to requests that overlapped (the counter cannot tell them apart)', async () => {
      const [a, b] = await Promise.all([
        measured.generate({ kind: 'completion', prompt: LILY, maxTokens: 16, sessionKey: 'x' }),
        measured.generate({ kind: 'completion', prompt: LILY, maxTokens: 16, sessionKey: 'y' }),
      ]);
      assert.equal(a.timing.packageJoules, undefined);
      assert.equal(b.timing.packageJoules, undefined);
    });

    it('measures on this machine exactly when its counters are readable', async () => {
      const readable = (await readRaplMicrojoules()) !== null;
      const r = await engine.generate({ kind: 'completion', prompt: LILY, maxTokens: 2 });
      assert.equal(r.timing.packageJoules !== undefined, readable);
    });
  });

  describe('bad model files', () => {
    const load = (modelPath: string, over: Partial<ModelConfig> = {}) => LlamaEngine.load(config({ modelPath, ...over }));
    const code = (c: string, re: RegExp) => (e: unknown) => e instanceof EngineError && e.code === c && re.test(e.message);

    it('a missing file', async () => {
      await assert.rejects(load('/nonexistent/model.gguf'), code('model-not-found', /No model file/));
    });
    it('a truncated file', async () => {
      await assert.rejects(load(models.corrupt.truncated), code('model-invalid', /truncated/));
    });
    it('a file that is not GGUF', async () => {
      await assert.rejects(load(models.corrupt.zip), code('model-invalid', /not a GGUF model/));
      await assert.rejects(load(models.corrupt.html), code('model-invalid', /not a GGUF model/));
    });
    it('a model too big for the memory available, refused before loading', async () => {
      await assert.rejects(
        LlamaEngine.load(config(), {
          availableMemory: () => 10 * 2 ** 20,
          importLlama: () => {
            throw new Error('must not load');
          },
        }),
        code('model-too-big', /needs about .* but only 10 MB is available; choose a smaller model/),
      );
    });
    it('a GPU backend that has no device here', async () => {
      await assert.rejects(
        load(models.base, { gpu: 'vulkan' }),
        code('backend-unavailable', /vulkan backend cannot be used.*set verdant\.local\.gpu/),
      );
    });
  });
});
