// What the router reads from a request's text and code (src/core/routing/text.ts) and how the corpus is read and
// split (src/core/routing/training.ts): cues that fire on what is asked, the same vector for the same request, a
// bounded cost for a huge paste, and a corpus file that is wrong refused with its line.
import * as assert from 'node:assert/strict';
import { FEATURE_COUNT, FEATURE_NAMES, featureVector } from '../../src/core/routing/features';
import { codeTokens, TEXT_DENSE_COUNT, TEXT_FEATURE_NAMES, textFeatures, words } from '../../src/core/routing/text';
import { agrees, checkCorpus, corpusInput, isHeldOut, parseCorpus, target } from '../../src/core/routing/training';

const cue = (v: Float32Array, name: string) => v[TEXT_FEATURE_NAMES.indexOf(name as (typeof TEXT_FEATURE_NAMES)[number])]!;

describe('router text features', () => {
  it('names every entry of the vector once', () => {
    assert.equal(FEATURE_NAMES.length, FEATURE_COUNT);
    assert.equal(new Set(FEATURE_NAMES).size, FEATURE_COUNT);
  });

  it('reads what the words ask: a race against a rename', () => {
    const race = textFeatures({ text: 'why does this sometimes deadlock when two threads call it?' });
    const rename = textFeatures({ text: 'rename foo to bar and fix the formatting' });
    assert.equal(cue(race, 't_why'), 0.5);
    assert.ok(cue(race, 't_concurrency') > 0 && cue(race, 't_debug') > 0);
    assert.equal(cue(race, 't_question'), 1);
    assert.equal(cue(rename, 't_concurrency'), 0);
    assert.ok(cue(rename, 't_mechanical') > 0);
    assert.equal(cue(rename, 't_question'), 0);
  });

  it('reads what the code holds: atomics and bit tricks against plain fields', () => {
    const lockFree = textFeatures({
      code: 'let head = self.head.load(Ordering::Acquire);\nif self.head.compare_exchange(head, next, Ordering::AcqRel, Ordering::Relaxed).is_ok() {\n  mask = (cap - 1) << 3 ^ tag;\n}',
      language: 'rust',
    });
    const dto = textFeatures({ code: 'export class User {\n  id = 0;\n  name = "";\n  email = "";\n}', language: 'typescript' });
    assert.ok(cue(lockFree, 'c_concurrency') > 0 && cue(lockFree, 'c_bitops') > 0);
    assert.equal(cue(lockFree, 'lang_hard'), 1);
    assert.equal(cue(dto, 'c_concurrency'), 0);
    assert.ok(cue(dto, 'c_simple') > 0.5, `simple share ${cue(dto, 'c_simple')}`);
    assert.equal(cue(dto, 'lang_hard'), 0);
  });

  it('hashes words and code tokens into fixed buckets: the same request, the same vector; nothing typed, no words', () => {
    const a = textFeatures({ text: 'Explain the Kahan summation here', code: 'let sumOfSquares = 0;' });
    assert.deepEqual(Array.from(a), Array.from(textFeatures({ text: 'Explain the Kahan summation here', code: 'let sumOfSquares = 0;' })));
    assert.ok(Array.from(a.subarray(TEXT_DENSE_COUNT)).some((x) => x !== 0));
    const none = textFeatures({});
    assert.ok(Array.from(none).every((x) => x === 0));
    assert.deepEqual(words("Don't PANIC: x2 and 42"), ["don't", 'panic', 'x2', 'and', '42']);
    assert.deepEqual(codeTokens('parseHTTPResponse(snake_case) >>= 1'), ['parse', 'httpresponse', 'snake', 'case', '>>=']);
  });

  it('reads a huge paste only up to its cap, and never gives NaN', () => {
    const huge = 'if (a && b) { x = y << 2; }\n'.repeat(200_000);
    const v = featureVector({
      kind: 'explain',
      promptTokens: 1e6,
      localContextTokens: 8192,
      files: 1,
      selectionChars: huge.length,
      onBattery: false,
      text: '?'.repeat(1e6),
      code: huge,
    });
    assert.equal(v.length, FEATURE_COUNT);
    assert.ok(Array.from(v).every(Number.isFinite));
    assert.deepEqual(Array.from(textFeatures({ code: huge })), Array.from(textFeatures({ code: huge.slice(0, 20_000) })));
  });
});

describe('router corpus', () => {
  const line = (o: Record<string, unknown>) =>
    JSON.stringify({
      id: 'ask-1',
      kind: 'ask',
      text: 'why?',
      language: 'go',
      code: '',
      codeChars: 0,
      files: 0,
      promptTokens: 90,
      label: 'cloud',
      why: 'a reason',
      tags: [],
      ...o,
    });

  it('parses rows and refuses a wrong one with its file and line', () => {
    const rows = parseCorpus(`${line({})}\n\n${line({ id: 'ask-2', label: 'either' })}\n`, 'c.jsonl');
    assert.equal(rows.length, 2);
    assert.deepEqual(corpusInput(rows[0]!), {
      kind: 'ask',
      promptTokens: 90,
      localContextTokens: 8192,
      files: 0,
      selectionChars: 0,
      onBattery: false,
      text: 'why?',
      code: '',
      language: 'go',
    });
    assert.throws(
      () => parseCorpus(`${line({})}\n${line({ label: 'maybe' })}`, 'c.jsonl'),
      /^Error: c\.jsonl:2: label must be one of local, cloud, either$/,
    );
    assert.throws(() => parseCorpus('{"id": ', 'c.jsonl'), /^Error: c\.jsonl:1: not JSON/);
    assert.throws(() => parseCorpus(line({ kind: 'poem' }), 'c.jsonl'), /unknown kind "poem"/);
    assert.throws(() => parseCorpus(line({ codeChars: -1 }), 'c.jsonl'), /"codeChars" must be a number >= 0/);
  });

  it('checks ids and twins, and keeps twins on one side of the split', () => {
    const a = parseCorpus(line({ id: 'ask-1', twin: 'ask-2', label: 'cloud' }), 'a')[0]!;
    const b = parseCorpus(line({ id: 'ask-2', twin: 'ask-1', label: 'local' }), 'b')[0]!;
    checkCorpus([a, b]);
    assert.equal(isHeldOut(a), isHeldOut(b));
    assert.throws(() => checkCorpus([a, a]), /appears twice/);
    assert.throws(() => checkCorpus([a, { ...b, label: 'cloud' }]), /have the same label/);
    assert.throws(() => checkCorpus([a]), /names a twin "ask-2" that does not exist/);
  });

  it('counts "either" as local-ok, and as agreeing with both routes', () => {
    assert.deepEqual([target('local'), target('either'), target('cloud')], [1, 1, 0]);
    assert.ok(agrees('local', 'either') && agrees('cloud', 'either') && agrees('cloud', 'cloud') && !agrees('local', 'cloud'));
  });
});
