// The completion pipeline over the real llama.cpp engine and the FIM test model.
import * as assert from 'node:assert/strict';
import type { CompletionInput } from '../../src/core/completion/input';
import { afterAccepting, CompletionPipeline, type CompletionEngine } from '../../src/core/completion/pipeline';
import type { LocalUsageRecord } from '../../src/core/usage';
import { LlamaEngine } from '../../src/engine/llama/engine';
import type { FimRequest, GenerateOptions } from '../../src/engine/types';
import { testModels } from '../support/models';

const PREFIX = 'Once upon a time, there was a little girl named Lily. She';
const SUFFIX = '\nThe end.';

function input(prefix: string, over: Partial<CompletionInput> = {}): CompletionInput {
  const linePrefix = prefix.split('\n').pop()!;
  return {
    documentKey: 'file:///story.txt',
    languageId: 'plaintext',
    filePath: 'story.txt',
    prefix,
    suffix: SUFFIX,
    linePrefix,
    lineSuffix: '',
    manual: false,
    ...over,
  };
}

/**
 * The real engine, counting calls. `held`: each call waits at the door until the test calls release(), so a test
 * catches a request in flight by the order of events, never by a timer that a busy machine could overrun.
 */
function counting(engine: LlamaEngine, held = false) {
  const calls: FimRequest[] = [];
  const aborted: FimRequest[] = [];
  let release!: () => void;
  const door = new Promise<void>((resolve) => {
    release = resolve;
  });
  if (!held) release();
  let reached!: () => void;
  const firstCall = new Promise<void>((resolve) => {
    reached = resolve;
  });
  const wrapped: CompletionEngine = {
    async generate(request: FimRequest, options: GenerateOptions) {
      calls.push(request);
      reached();
      await door;
      const r = await engine.generate(request, options);
      if (r.stopReason === 'abort') aborted.push(request);
      return r;
    },
  };
  return { wrapped, calls, aborted, release, firstCall };
}

describe('completion pipeline (real engine, FIM model)', function () {
  this.timeout(60000);
  let engine: LlamaEngine;
  before(async () => {
    engine = await LlamaEngine.load({ modelPath: (await testModels()).fim, gpu: 'cpu', threads: 1, contextSize: 512, sequences: 4 });
  });
  after(async () => {
    await engine?.dispose();
  });

  it('prefetches the suggestion after the shown one while the user accepts them, and serves it on accepting', async () => {
    const { wrapped, calls } = counting(engine);
    const purposes: (string | undefined)[] = [];
    const watched: CompletionEngine = {
      generate: (request, options) => {
        purposes.push(options.purpose);
        return wrapped.generate(request, options);
      },
    };
    let onBattery = false;
    const p = new CompletionPipeline({ engine: watched, sleep: async () => {}, onBattery: () => onBattery });
    const never = new AbortController().signal;
    // Different text each time: the suggestion cache is keyed by text, not by document.
    for (const start of ['Tom had a small dog. He', 'The sun was warm. It', 'Lily saw a big ball. She']) {
      const s = await p.complete(input(start, { documentKey: `file:///taken-${start.length}.txt` }), never);
      assert.ok(s);
      p.accepted(s.id);
    }
    assert.equal(p.stats.prefetched, 0, 'not before a few suggestions were shown');
    const before = calls.length;
    const shown = await p.complete(input(PREFIX), never);
    assert.ok(shown);
    assert.equal(p.stats.prefetched, 1, '3 of 4 taken: the next one is computed ahead');
    assert.equal(calls.length, before + 2, 'the suggestion, then the one after it');
    assert.deepEqual(purposes.slice(-2), [undefined, 'background']);
    assert.equal(calls.at(-1)!.prefix, PREFIX + shown.text);
    p.accepted(shown.id);
    const next = await p.complete(afterAccepting(input(PREFIX), shown.text), never);
    assert.equal(calls.length, before + 2, 'accepting asks the engine nothing new');
    assert.ok(next && (next.source === 'cache' || next.source === 'in-flight'), JSON.stringify(next));
    // On battery (the default 'reduced'): no work ahead.
    onBattery = true;
    await p.complete(input('Tom and Lily went to the park. They', { documentKey: 'file:///battery.txt' }), never);
    assert.equal(p.stats.prefetched, 1);
  });

  it('computes nothing ahead while suggestions are passed over', async () => {
    const { wrapped, calls } = counting(engine);
    const p = new CompletionPipeline({ engine: wrapped, sleep: async () => {} });
    const never = new AbortController().signal;
    for (let i = 0; i < 6; i++) await p.complete(input(`${PREFIX} had ${i + 2} cats. She`, { documentKey: `file:///passed-${i}.txt` }), never);
    assert.equal(p.stats.prefetched, 0);
    assert.equal(calls.length, 6);
  });

  it('asks the engine once, then serves the same state and typing-through from the cache', async () => {
    const { wrapped, calls } = counting(engine);
    const records: LocalUsageRecord[] = [];
    const p = new CompletionPipeline({ engine: wrapped, record: (r) => records.push(r), sleep: async () => {} });
    const first = await p.complete(input(PREFIX), new AbortController().signal);
    assert.ok(first && first.source === 'engine' && first.text.length > 2, JSON.stringify(first));
    assert.equal(calls.length, 1);
    assert.equal(calls[0]!.sessionKey, 'file:///story.txt');
    assert.equal(records.length, 1);
    assert.ok(records[0]!.engineMs > 0 && records[0]!.generatedTokens > 0);
    assert.equal(records[0]!.feature, 'inline-completion');

    const again = await p.complete(input(PREFIX), new AbortController().signal);
    assert.deepEqual([again?.source, again?.text], ['cache', first.text]);
    // The user types the first two characters of the suggestion: the rest comes from the cache.
    const typed = first.text.slice(0, 2);
    const through = await p.complete(input(PREFIX + typed), new AbortController().signal);
    assert.deepEqual([through?.source, through?.text], ['typing-through', first.text.slice(2)]);
    assert.equal(calls.length, 1, 'no engine call for the cache or typing-through');
    assert.equal(p.stats.typingThrough, 1);
  });

  it('reuses a request in flight when the user types what it is producing', async () => {
    const probe = await engine.generate({
      kind: 'fim',
      prefix: PREFIX,
      suffix: SUFFIX,
      maxTokens: 96,
      temperature: 0,
      sessionKey: 'probe',
      stop: [],
    });
    const { wrapped, calls, release, firstCall } = counting(engine, true);
    const p = new CompletionPipeline({ engine: wrapped, sleep: async () => {} });
    const a = p.complete(input(PREFIX), new AbortController().signal);
    await firstCall; // in flight, held
    const b = p.complete(input(PREFIX + probe.text.slice(0, 1)), new AbortController().signal);
    release();
    const [ra, rb] = await Promise.all([a, b]);
    assert.equal(calls.length, 1, 'one engine call served both keystrokes');
    assert.equal(rb?.source, 'in-flight');
    assert.equal(rb?.text, ra!.text.slice(1));
  });

  it('cancels a request the user has moved away from', async () => {
    const { wrapped, calls, aborted, release, firstCall } = counting(engine, true);
    const p = new CompletionPipeline({ engine: wrapped, sleep: async () => {} });
    const a = p.complete(input(PREFIX), new AbortController().signal);
    await firstCall; // in flight, held
    const b = p.complete(input('Lily had a dog. It', { suffix: '' }), new AbortController().signal);
    release();
    const [ra, rb] = await Promise.all([a, b]);
    assert.equal(ra, undefined, 'the stale request shows nothing');
    assert.ok(rb && rb.source === 'engine');
    assert.equal(p.stats.staleCancelled, 1);
    assert.equal(calls.length, 2);
    assert.equal(aborted.length, 1, 'the engine stopped the stale request');
  });

  it('cancels an engine request whose caller gave up when no keystroke reuses it', async () => {
    const { wrapped, aborted, release, firstCall } = counting(engine, true);
    const p = new CompletionPipeline({ engine: wrapped, sleep: async () => {} });
    const ac = new AbortController();
    const a = p.complete(input(PREFIX, { documentKey: 'file:///other.txt' }), ac.signal);
    await firstCall; // in flight, held
    ac.abort();
    // The pipeline keeps it a tick for a following keystroke; none comes, so it cancels it.
    while (p.stats.staleCancelled === 0) await new Promise((r) => setTimeout(r, 5));
    release();
    assert.equal(await a, undefined);
    assert.equal(aborted.length, 1, 'the engine stopped the request');
    assert.equal(p.stats.staleCancelled, 1);
  });

  it('cancels a running request at once when told (the suggest widget opened)', async () => {
    const { wrapped, aborted, release, firstCall } = counting(engine, true);
    const p = new CompletionPipeline({ engine: wrapped, sleep: async () => {} });
    const key = 'file:///suggest.txt';
    const a = p.complete(input(PREFIX, { documentKey: key }), new AbortController().signal);
    await firstCall; // in flight, held
    p.yieldToSuggestWidget('file:///another-document.txt');
    assert.equal(p.stats.staleCancelled, 0, "another document's cancel leaves it running");
    p.yieldToSuggestWidget(key);
    assert.equal(p.stats.staleCancelled, 1, 'cancelled there and then, not a tick later');
    assert.equal(p.stats.suggestWidgetYields, 2, 'each time counted');
    release();
    assert.equal(await a, undefined, 'nothing to show');
    assert.equal(aborted.length, 1, 'the engine stopped the request');
  });

  it('lets only the last of quick keystrokes reach the engine (debounce)', async () => {
    const { wrapped, calls } = counting(engine);
    const p = new CompletionPipeline({ engine: wrapped });
    const results = await Promise.all(
      ['Lily', 'Lily went', 'Lily went to'].map((t) =>
        p.complete(input(t, { documentKey: 'file:///d.txt', suffix: '' }), new AbortController().signal),
      ),
    );
    assert.equal(results[0], undefined);
    assert.equal(results[1], undefined);
    assert.equal(calls.length, 1);
    assert.equal(calls[0]!.prefix, 'Lily went to');
    assert.equal(p.stats.debouncedAway, 2);
  });

  it('asks for one line only when code follows the cursor on the line', async () => {
    const { wrapped, calls } = counting(engine);
    const p = new CompletionPipeline({ engine: wrapped, sleep: async () => {} });
    const r = await p.complete(
      input('She said, "', { lineSuffix: '" and left.', suffix: '" and left.\nThe end.', documentKey: 'file:///q.txt' }),
      new AbortController().signal,
    );
    assert.deepEqual(calls[0]!.stop, ['\n']);
    if (r) assert.ok(!r.text.includes('\n'));
  });

  it('warms the engine cache without generating, as background work, while a completion is interactive', async () => {
    const records: LocalUsageRecord[] = [];
    const purposes: (string | undefined)[] = [];
    const told: CompletionEngine = {
      generate: (request, options) => {
        purposes.push(options.purpose);
        return engine.generate(request, options);
      },
    };
    const p = new CompletionPipeline({ engine: told, record: (r) => records.push(r), sleep: async () => {} });
    // Text no other test uses: the engine's KV sequences are shared, and one may already hold PREFIX.
    const text = 'Sam found a shiny stone by the river. He';
    assert.equal(await p.warmUp(input(text, { documentKey: 'file:///warm.txt' })), true);
    await p.complete(input(text, { documentKey: 'file:///warm.txt' }), new AbortController().signal);
    assert.deepEqual(purposes, ['background', undefined], 'a completion leaves the default: interactive');
    assert.equal(records[0]!.feature, 'warm-up');
    assert.equal(records[0]!.generatedTokens, 0);
    assert.ok(records[0]!.evaluatedTokens! > 10, 'the prompt was evaluated into the cache');
  });
});
