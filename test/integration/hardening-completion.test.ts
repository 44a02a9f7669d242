// Hardening of the inline-completion path against what real editors throw at it: a 10 MB document (many ordinary
// lines, or one minified line), and a wall clock that jumps while a keystroke is being debounced. The real pipeline
// over the real llama.cpp engine and the FIM test model.
import * as assert from 'node:assert/strict';
import { ExtraContextRing } from '../../src/core/completion/extraContext';
import type { CompletionInput } from '../../src/core/completion/input';
import { CompletionPipeline, type CompletionEngine } from '../../src/core/completion/pipeline';
import type { LocalUsageRecord } from '../../src/core/usage';
import { LlamaEngine } from '../../src/engine/llama/engine';
import type { FimRequest, GenerateOptions, GenerateResult } from '../../src/engine/types';
import { BIG_DOCUMENTS, manyLines, MB10, minified, toInput } from '../support/bigDocuments';
import { testModels } from '../support/models';

const CONTEXT = 512;
const LILY = 'Once upon a time, there was a little girl named Lily. She';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The engine, recording each call with when it started and ended on the monotonic clock. */
function recording(engine: LlamaEngine) {
  const calls: { request: FimRequest; at: number; end?: number; result?: GenerateResult }[] = [];
  const wrapped: CompletionEngine = {
    async generate(request: FimRequest, options: GenerateOptions) {
      const call: (typeof calls)[number] = { request, at: performance.now() };
      calls.push(call);
      call.result = await engine.generate(request, options);
      call.end = performance.now();
      return call.result;
    },
  };
  return { wrapped, calls };
}

describe('hardening: completion pipeline (real engine, FIM model)', function () {
  this.timeout(60000);
  let engine: LlamaEngine;
  before(async () => {
    engine = await LlamaEngine.load({ modelPath: (await testModels()).fim, gpu: 'cpu', threads: 1, contextSize: CONTEXT, sequences: 2 });
  });
  after(async () => {
    await engine?.dispose();
  });

  // How fast these are is measured by bench/largeDocuments.ts (bench/results/large-documents.json); here, what is
  // sent and kept stays bounded whatever the machine's load.
  for (const [shape, make, cursor] of BIG_DOCUMENTS) {
    it(`${shape}: bounded windows, a small request, an answer within the context`, async () => {
      const doc = make();
      const { line, character } = cursor(doc);
      const { wrapped, calls } = recording(engine);
      const p = new CompletionPipeline({ engine: wrapped, sleep: async () => {} });
      const input = toInput(doc, line, character, `file:///big-${shape.length}.js`);
      const r = await p.complete(input, new AbortController().signal);
      assert.equal(calls.length, 1);
      const { request, result } = calls[0]!;
      // What crosses the socket to the worker on every keystroke stays small, whatever the document.
      assert.ok(request.prefix.length <= 32 * 1024, `prefix of ${request.prefix.length} characters`);
      assert.ok(request.suffix.length <= 8 * 1024, `suffix of ${request.suffix.length} characters`);
      assert.ok(input.linePrefix.length <= request.prefix.length && request.prefix.endsWith(input.linePrefix));
      assert.ok(request.suffix.startsWith(input.lineSuffix));
      // The text nearest the cursor is what is kept.
      const cursorLine = doc[line]!;
      assert.ok(cursorLine.slice(0, character).endsWith(input.linePrefix));
      assert.ok(cursorLine.slice(character).startsWith(input.lineSuffix));
      assert.ok(result!.timing.promptTokens <= CONTEXT - request.maxTokens, `${result!.timing.promptTokens} prompt tokens`);
      if (r) assert.ok(r.text.length > 0);
    });
  }

  it('keeps the extra context small when the user visits a 10 MB file or copies 10 MB', () => {
    const ring = new ExtraContextRing();
    ring.addAround('big.min.js', minified(), 1); // refused or cut: either way no megabytes
    ring.add({ path: 'clipboard', text: `first\nsecond\n${'x'.repeat(MB10)}\nlast` });
    assert.equal(ring.addAround('big.js', manyLines(), 100_000), true);
    const chunks = ring.snapshot('other.js');
    assert.ok(chunks.some((c) => c.path === 'big.js'));
    for (const c of chunks) assert.ok(c.text.length <= 16 * 1024, `${c.path}: a chunk of ${c.text.length} characters`);
  });

  it('a wall clock that jumps back an hour (or forward a day) mid-debounce changes neither the wait nor the engine time', async function () {
    // The debounce and the engine time must follow a monotonic clock: the debounce still waits its 150 ms (not none,
    // after a jump forward; not an hour, after a jump back: the race below), and the recorded engine time fits inside
    // the call as the monotonic clock saw it. How long anything took beyond that is the machine's business.
    const HANG_MS = 60_000;
    this.timeout(3 * HANG_MS);
    const realNow = Date.now;
    const records: LocalUsageRecord[] = [];
    const { wrapped, calls } = recording(engine);
    // The default (real-timer) debounce, fixed at 150 ms so a jump that mattered would show.
    const p = new CompletionPipeline({
      engine: wrapped,
      record: (r) => records.push(r),
      settings: () => ({ maxLines: 8, maxTokens: 24, onBattery: 'normal', debounce: { fixedMs: 150, minMs: 20, maxMs: 600 } }),
    });
    const input = (prefix: string, key: string): CompletionInput => ({
      documentKey: key,
      languageId: 'plaintext',
      filePath: 'story.txt',
      prefix,
      suffix: '',
      linePrefix: prefix,
      lineSuffix: '',
      manual: false,
    });
    try {
      for (const jump of [-3_600_000, 86_400_000]) {
        const t0 = performance.now();
        const pending = p.complete(input(jump < 0 ? LILY : 'Lily had a dog. It', `file:///clock${jump}.txt`), new AbortController().signal);
        await sleep(30);
        Date.now = () => realNow() + jump;
        // Waits itself (not through mocha's timeout) so that the clock is put back even when this fails.
        const r = await Promise.race([
          pending,
          sleep(HANG_MS).then(() => {
            throw new Error(`the debounce had not ended after ${HANG_MS} ms`);
          }),
        ]);
        const waited = calls[calls.length - 1]!.at - t0;
        Date.now = realNow;
        assert.ok(waited >= 140, `the debounce waited ${waited.toFixed(0)} ms after a ${jump} ms jump`);
        assert.ok(r && r.text.length > 0, JSON.stringify(r));
      }
      assert.equal(calls.length, 2);
      assert.equal(records.length, 2);
      records.forEach((rec, i) => {
        const seen = calls[i]!.end! - calls[i]!.at;
        assert.ok(rec.engineMs >= 0 && rec.engineMs <= seen + 1, `engine time ${rec.engineMs} ms in a call of ${seen.toFixed(0)} ms`);
      });
    } finally {
      Date.now = realNow;
    }
  });
});
