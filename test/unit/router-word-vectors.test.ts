// The router's word vectors (src/core/routing/wordVectors.ts, src/core/routing/model/word-vectors.bin): the
// committed file parses whole, a torn or foreign file fails with one error naming the fix, and the typed words'
// mean direction lands in its block of the text features (frequent words weighing less, unknown words nothing).
import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { textFeatures, WORD_VECTOR_DIMS, WORD_VECTOR_START } from '../../src/core/routing/text';
import { parseWordVectors } from '../../src/core/routing/wordVectors';
import { WORD_VECTORS_FILE } from '../support/routerVectors';

const bytes = readFileSync(WORD_VECTORS_FILE);
const vectors = parseWordVectors(bytes);
const block = (text: string) => textFeatures({ text }, vectors).slice(WORD_VECTOR_START, WORD_VECTOR_START + WORD_VECTOR_DIMS);
const norm = (v: Float32Array) => Math.hypot(...v);
const cosine = (a: Float32Array, b: Float32Array) => a.reduce((s, x, i) => s + x * b[i]!, 0) / (norm(a) * norm(b));

describe('router word vectors', () => {
  it('reads the committed file: 50,000 words of 100 dimensions, ranked by frequency', () => {
    assert.equal(vectors.dims, WORD_VECTOR_DIMS);
    assert.equal(vectors.size, 50_000);
    assert.equal(vectors.rank('the'), 0);
    for (const w of ['deadlock', 'daylight', 'rename', 'concurrency', 'encryption']) assert.notEqual(vectors.rank(w), undefined, w);
    // GloVe 6B predates much programming vocabulary: the hashed words carry these.
    assert.equal(vectors.rank('mutex'), undefined);
    const sum = new Float64Array(WORD_VECTOR_DIMS);
    assert.equal(vectors.addTo('mutex', sum), false);
    assert.ok(sum.every((x) => x === 0));
    assert.equal(vectors.addTo('deadlock', sum), true);
    assert.ok(Math.abs(Math.hypot(...sum) - 1) < 0.02, `a stored vector is unit length to int8 precision: ${Math.hypot(...sum)}`);
  });

  it('puts the typed words’ mean direction, length 3, in its block; no known word, zeros', () => {
    const v = block('why does this deadlock under load?');
    assert.ok(Math.abs(norm(v) - 3) < 1e-4, `length ${norm(v)}`);
    assert.ok(block('qzx vprt').every((x) => x === 0));
    assert.ok(block('').every((x) => x === 0));
    // Only the typed words are read: code alone leaves the block empty.
    assert.ok(
      textFeatures({ code: 'let deadlock = timezone;' }, vectors)
        .slice(WORD_VECTOR_START, WORD_VECTOR_START + WORD_VECTOR_DIMS)
        .every((x) => x === 0),
    );
  });

  it('weighs frequent words less: the rare word sets the direction', () => {
    const rare = block('deadlock');
    const withFiller = block('the deadlock in this one');
    const fillerOnly = block('the in this one');
    assert.ok(cosine(withFiller, rare) > cosine(withFiller, fillerOnly), `${cosine(withFiller, rare)} vs ${cosine(withFiller, fillerOnly)}`);
  });

  it('refuses a torn, foreign or inconsistent file with one error naming the fix', () => {
    const fails = (b: Uint8Array, what: RegExp) =>
      assert.throws(
        () => parseWordVectors(b),
        (e: Error) => what.test(e.message) && /Reinstall Verdant|build-word-vectors/.test(e.message),
      );
    fails(bytes.subarray(0, bytes.length - 1), /a torn copy/);
    fails(bytes.subarray(0, 10), /not a VWV1 file/);
    fails(Buffer.from('{"words": []}'), /not a VWV1 file/);
    const badScale = Buffer.from(bytes);
    badScale.writeFloatLE(Number.NaN, 12);
    fails(badScale, /bad header/);
    const moreWords = Buffer.from(bytes);
    moreWords.writeUInt32LE(50_001, 8);
    fails(moreWords, /bytes, expected/);
  });
});
