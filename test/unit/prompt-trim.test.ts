// Trimming a long FIM prefix so the cut stays put while the user types, and finding the stretch a moved cut took
// out of the cached prompt (so the cache is shifted, not re-evaluated). Pure functions over token ids.
import * as assert from 'node:assert/strict';
import { removedStretch } from '../../src/engine/llama/decode';
import { LineTokenCache, stableCut, trimChunk } from '../../src/engine/llama/prompt';

const NL = 0; // a token that ends a line
const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);
/** Tokens 1..n with a line end after every `every` tokens. */
const lines = (n: number, every: number) => Array.from({ length: n }, (_, i) => ((i + 1) % every === 0 ? NL : i + 1));

describe('stable prefix cut', () => {
  const endsLine = (t: number) => t === NL;

  it('cuts nothing when the prefix fits', () => {
    assert.equal(stableCut(range(1, 100), 0, 116, 16, endsLine), 0);
    assert.equal(stableCut([], 0, 10, 16, endsLine), 0);
  });

  it('cuts whole chunks, then on to the next line start', () => {
    const prefix = lines(200, 10); // line ends at indices 9, 19, 29...
    // 200 tokens, keep 150: 50 over, rounded up to 64, then on past the line end at index 69.
    assert.equal(stableCut(prefix, 180, 150, 16, endsLine), 70);
    // Lines above that leave less than a chunk for the cursor's line count it as a chunk: 180 + 16 - 150 = 46 over.
    assert.equal(stableCut(prefix, 190, 150, 16, endsLine), 70);
    assert.equal(stableCut(prefix, 199, 150, 16, endsLine), 80, '199 + 16 - 150 = 65 over: five chunks');
  });

  it('does not move while the user types on a line, whatever its token count does', () => {
    const cuts = new Set<number>();
    // The lines above: 180 tokens; the cursor's line grows and shrinks (a word's tokens merging) within a chunk.
    for (const line of [0, 1, 2, 3, 2, 5, 8, 7, 12, 16, 15]) cuts.add(stableCut(lines(180 + line, 10), 180, 150, 16, endsLine));
    assert.deepEqual([...cuts], [50], 'every keystroke keeps the same start (46 over)');
    assert.equal(stableCut(lines(180 + 20, 10), 180, 150, 16, endsLine), 70, 'a line past a chunk counts as itself: 50 over');
    assert.equal(stableCut(lines(180 + 40, 10), 180, 150, 16, endsLine), 80, '70 over: the cut moves once');
    assert.equal(stableCut(lines(210, 10), 210, 150, 16, endsLine), 80, 'Enter: the lines above grew');
  });

  it('cuts mid-line when no line ends within a chunk (minified code)', () => {
    assert.equal(stableCut(range(1, 300), 0, 200, 32, endsLine), 128);
  });

  it('never keeps more than asked, and never cuts past the end', () => {
    for (let n = 0; n < 120; n += 7)
      for (let keep = 0; keep < 60; keep += 5) {
        const cut = stableCut(lines(n, 9), Math.floor(n / 2), keep, 8, endsLine);
        assert.ok(cut <= n && n - cut <= Math.max(0, keep), `n ${n} keep ${keep} cut ${cut}`);
      }
  });

  it('chunks are a sixteenth of the room, 1 to 64 tokens', () => {
    assert.equal(trimChunk(2030), 64);
    assert.equal(trimChunk(480), 30);
    assert.equal(trimChunk(5), 1);
  });
});

describe('removed stretch (KV cache shift)', () => {
  it('finds the stretch a moved cut took out of the cached prompt', () => {
    // [fim_prefix, A..., B..., suffix..., middle] -> A cut: [fim_prefix, B..., suffix..., middle]
    const head = [9000];
    const a = range(100, 40);
    const b = range(200, 300);
    const tail = [9001, ...range(600, 20), 9002];
    assert.deepEqual(removedStretch([...head, ...a, ...b, ...tail, 7, 7], [...head, ...b, 777, ...tail], 1), { start: 1, end: 41 });
  });

  it('in repetitive text, takes the shift that lines up longest, not the first that matches', () => {
    const line = range(100, 10);
    const body = [...line, ...line, ...line, ...line, ...line, ...line];
    const tail = range(500, 40);
    const cached = [9000, ...line, ...line, ...body, ...tail];
    const next = [9000, ...body, ...tail, 5];
    assert.deepEqual(removedStretch(cached, next, 1), { start: 1, end: 21 }, 'two lines were cut, not one');
    // Plain reuse keeps the 60 repeated tokens in place; a shift that adds only 4 more is not worth it.
    assert.equal(removedStretch([9000, ...line, ...line, ...body, 1, 2, 3, 4], [9000, ...body, 1, 2, 3, 4, 5], 1), null);
  });

  it('gives nothing unless the prompts differ first where the prefix starts, and enough follows', () => {
    const b = range(200, 300);
    assert.equal(removedStretch([1, ...b], [1, ...b, 5, 6], 1), null, 'an extension is plain prefix reuse');
    assert.equal(removedStretch([1, ...range(10, 100)], [2, ...range(10, 100)], 1), null, 'the head differs');
    assert.equal(removedStretch([1, ...range(10, 100)], [1, ...range(50, 20)], 1), null, 'fewer than 32 tokens would be reused');
    assert.equal(removedStretch([1, ...range(10, 100)], [1, ...range(500, 100)], 1), null, 'not in the cache');
    // An edit inside the prefix (a deleted token) is not a cut: what follows it was computed attending to it.
    assert.equal(removedStretch([1, 5, 6, 7, ...b], [1, 5, 7, ...b], 1), null);
    assert.equal(removedStretch([1, 5, ...b], [1, ...b], 0), null, 'no head: nothing to anchor the stretch');
    assert.equal(removedStretch([], [1, 2, 3], 1), null);
  });
});

describe('line token cache', () => {
  it('tokenizes each text once and forgets the least recently used', () => {
    const calls: string[] = [];
    const tokenize = (s: string) => {
      calls.push(s);
      return [s.length];
    };
    const cache = new LineTokenCache<number>(2);
    assert.deepEqual(cache.tokens('ab', tokenize), [2]);
    cache.tokens('ab', tokenize);
    cache.tokens('xyz', tokenize);
    cache.tokens('ab', tokenize); // now 'xyz' is the oldest
    cache.tokens('q', tokenize);
    cache.tokens('ab', tokenize);
    cache.tokens('xyz', tokenize);
    assert.deepEqual(calls, ['ab', 'xyz', 'q', 'xyz']);
  });
});
