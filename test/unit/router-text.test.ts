// What the router reads from a request's text and code (src/core/routing/text.ts) and how the corpus is read and
// split (src/core/routing/training.ts): cues that fire on what is asked, the same vector for the same request, a
// bounded cost for a huge paste, a corpus file that is wrong refused with its line, and the cross-validation.
import * as assert from 'node:assert/strict';
import { FEATURE_COUNT, FEATURE_NAMES, featureVector } from '../../src/core/routing/features';
import { codeTokens, TEXT_DENSE_COUNT, TEXT_FEATURE_NAMES, textFeatures, words } from '../../src/core/routing/text';
import {
  agrees,
  checkCorpus,
  corpusInput,
  corpusMatrix,
  CV_FOLDS,
  cvFold,
  isHeldOut,
  outOfFold,
  parseCorpus,
  predict,
  target,
  trainLogistic,
} from '../../src/core/routing/training';
import { readRouterVectors } from '../support/routerVectors';

const vectors = readRouterVectors();

const cue = (v: Float32Array, name: string) => v[TEXT_FEATURE_NAMES.indexOf(name as (typeof TEXT_FEATURE_NAMES)[number])]!;

describe('router text features', () => {
  it('names every entry of the vector once', () => {
    assert.equal(FEATURE_NAMES.length, FEATURE_COUNT);
    assert.equal(new Set(FEATURE_NAMES).size, FEATURE_COUNT);
  });

  it('reads what the words ask: a race against a rename', () => {
    const race = textFeatures({ text: 'why does this sometimes deadlock when two threads call it?' }, vectors);
    const rename = textFeatures({ text: 'rename foo to bar and fix the formatting' }, vectors);
    assert.equal(cue(race, 't_why'), 0.5);
    assert.ok(cue(race, 't_concurrency') > 0 && cue(race, 't_debug') > 0);
    assert.equal(cue(race, 't_question'), 1);
    assert.equal(cue(rename, 't_concurrency'), 0);
    assert.ok(cue(rename, 't_mechanical') > 0);
    assert.equal(cue(rename, 't_question'), 0);
  });

  it('reads what the code holds: atomics and bit tricks against plain fields', () => {
    const lockFree = textFeatures(
      {
        code: 'let head = self.head.load(Ordering::Acquire);\nif self.head.compare_exchange(head, next, Ordering::AcqRel, Ordering::Relaxed).is_ok() {\n  mask = (cap - 1) << 3 ^ tag;\n}',
        language: 'rust',
      },
      vectors,
    );
    const dto = textFeatures({ code: 'export class User {\n  id = 0;\n  name = "";\n  email = "";\n}', language: 'typescript' }, vectors);
    assert.ok(cue(lockFree, 'c_concurrency') > 0 && cue(lockFree, 'c_bitops') > 0);
    assert.equal(cue(lockFree, 'lang_hard'), 1);
    assert.equal(cue(dto, 'c_concurrency'), 0);
    assert.ok(cue(dto, 'c_simple') > 0.5, `simple share ${cue(dto, 'c_simple')}`);
    assert.equal(cue(dto, 'lang_hard'), 0);
  });

  it('reads how repetitive the code is from its first 40 lines: look-alike cases against varied logic', () => {
    const cases = Array.from({ length: 30 }, (_, i) => `    case ${i}: return handler${i}(state, action);`).join('\n');
    const varied = [
      'const head = queue.shift();',
      'if (!head) throw new Error("empty");',
      'for (const [k, v] of Object.entries(head.meta)) index.set(k, v);',
      'await flush(index, { retries: 3 });',
      'return summarize(head, index.size);',
    ].join('\n');
    assert.ok(
      cue(textFeatures({ code: cases }, vectors), 'c_repeat_lines') > 0.9,
      `cases: ${cue(textFeatures({ code: cases }, vectors), 'c_repeat_lines')}`,
    );
    assert.ok(cue(textFeatures({ code: cases }, vectors), 'c_repeat_tokens') > 0.5);
    assert.equal(cue(textFeatures({ code: varied }, vectors), 'c_repeat_lines'), 0);
    assert.ok(cue(textFeatures({ code: varied }, vectors), 'c_repeat_tokens') < 0.3);
    // Only the first 40 lines count: what follows them changes nothing.
    const head = `${varied}\n`.repeat(8);
    assert.equal(cue(textFeatures({ code: head + cases }, vectors), 'c_repeat_lines'), cue(textFeatures({ code: head }, vectors), 'c_repeat_lines'));
    assert.equal(cue(textFeatures({ code: 'x = 1' }, vectors), 'c_repeat_lines'), 0);
  });

  it('hashes words and code tokens into fixed buckets: the same request, the same vector; nothing typed, no words', () => {
    const a = textFeatures({ text: 'Explain the Kahan summation here', code: 'let sumOfSquares = 0;' }, vectors);
    assert.deepEqual(Array.from(a), Array.from(textFeatures({ text: 'Explain the Kahan summation here', code: 'let sumOfSquares = 0;' }, vectors)));
    assert.ok(Array.from(a.subarray(TEXT_DENSE_COUNT)).some((x) => x !== 0));
    const none = textFeatures({}, vectors);
    assert.ok(Array.from(none).every((x) => x === 0));
    assert.deepEqual(words("Don't PANIC: x2 and 42"), ["don't", 'panic', 'x2', 'and', '42']);
    assert.deepEqual(codeTokens('parseHTTPResponse(snake_case) >>= 1'), ['parse', 'httpresponse', 'snake', 'case', '>>=']);
  });

  it('reads a huge paste only up to its cap, and never gives NaN', () => {
    const huge = 'if (a && b) { x = y << 2; }\n'.repeat(200_000);
    const v = featureVector(
      {
        kind: 'explain',
        promptTokens: 1e6,
        localContextTokens: 8192,
        files: 1,
        selectionChars: huge.length,
        onBattery: false,
        text: '?'.repeat(1e6),
        code: huge,
      },
      vectors,
    );
    assert.equal(v.length, FEATURE_COUNT);
    assert.ok(Array.from(v).every(Number.isFinite));
    assert.deepEqual(Array.from(textFeatures({ code: huge }, vectors)), Array.from(textFeatures({ code: huge.slice(0, 20_000) }, vectors)));
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

  it('refuses an excerpt that elides its code or runs past 40 lines, and keeps a spread or a spread operator', () => {
    const row = (code: string) => parseCorpus(line({ id: 'ask-9', code }), 'c')[0]!;
    for (const elided of ['int a;\n// ...\nint b;', 'x = 1\n    # ... 60 more', 'case A:\n  // ... 240 cases', 'rows(truncated)\n', '…']) {
      assert.throws(() => checkCorpus([row(elided)]), /elides its code .*write the lines out/, elided);
    }
    assert.throws(() => checkCorpus([row(Array.from({ length: 41 }, (_, i) => `line${i}`).join('\n'))]), /shows 41 lines of code; keep its first 40/);
    checkCorpus([row(Array.from({ length: 40 }, (_, i) => `line${i}`).join('\n'))]);
    checkCorpus([row('const all = [...a, ...b];\nf(...args);\nprint("loading...")')]);
  });

  it('cross-validates by folds of the id that keep twins together, each row scored by a model that never saw it', () => {
    const rows = Array.from(
      { length: 40 },
      (_, i) =>
        parseCorpus(line({ id: `ask-${i}`, text: i % 2 ? 'rename x to y' : 'why does this race?', label: i % 2 ? 'local' : 'cloud' }), 'f')[0]!,
    );
    const a = parseCorpus(line({ id: 'ask-a', twin: 'ask-b', label: 'cloud' }), 'a')[0]!;
    const b = parseCorpus(line({ id: 'ask-b', twin: 'ask-a', label: 'local' }), 'b')[0]!;
    assert.equal(cvFold(a), cvFold(b));
    assert.ok(new Set(rows.map(cvFold)).size > 1 && rows.every((r) => cvFold(r) >= 0 && cvFold(r) < CV_FOLDS));
    const o = { learningRate: 1, epochs: 200, l2: 0.001 };
    const p = outOfFold(rows, { xs: [], ys: [] }, o, vectors);
    assert.equal(p.length, rows.length);
    // Row 0's p is what a model trained on the other folds alone says.
    const others = rows.filter((r) => cvFold(r) !== cvFold(rows[0]!));
    const { xs, ys } = corpusMatrix(others, vectors);
    assert.equal(p[0], predict(trainLogistic(xs, ys, o), featureVector(corpusInput(rows[0]!), vectors)));
    // The words alone tell these two apart.
    rows.forEach((r, i) => assert.equal(p[i]! >= 0.5, r.label === 'local', r.id));
  });

  it('counts "either" as local-ok, and as agreeing with both routes', () => {
    assert.deepEqual([target('local'), target('either'), target('cloud')], [1, 1, 0]);
    assert.ok(agrees('local', 'either') && agrees('cloud', 'either') && agrees('cloud', 'cloud') && !agrees('local', 'cloud'));
  });
});
