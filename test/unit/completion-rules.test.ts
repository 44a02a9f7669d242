import * as assert from 'node:assert/strict';
import { CompletionCache } from '../../src/core/completion/cache';
import { AdaptiveDebounce } from '../../src/core/completion/debounce';
import { ExtraContextRing, jaccard } from '../../src/core/completion/extraContext';
import { cutWindows, indentWidth } from '../../src/core/completion/input';
import { finalizeCompletion, trimOverlap } from '../../src/core/completion/postprocess';

const ctx = (linePrefix: string, suffix: string, maxLines = 8) => ({ linePrefix, lineSuffix: suffix.split('\n')[0]!, suffix, maxLines });

describe('completion output rules', () => {
  it('keeps one line when code sits right of the cursor, without the overlapping closer', () => {
    assert.equal(finalizeCompletion('a, b)\n  more', ctx('  foo(', ')')), 'a, b');
    assert.equal(finalizeCompletion('name: string }) {', ctx('function f({ ', '}) {')), 'name: string ');
  });

  it('does not eat a single coincidental character', () => {
    assert.equal(trimOverlap('x + 1', '1;'), 'x + 1');
    assert.equal(trimOverlap('x + 1;', '1;'), 'x + 1;'.slice(0, -2));
  });

  it('stops multi-line output at a dedent below the starting block', () => {
    const raw = 'total += x;\n    count++;\n  }\n  return total;';
    assert.equal(finalizeCompletion(raw, ctx('    ', '\n  }\n}')), 'total += x;\n    count++;');
  });

  it('stops before repeating the line that follows the cursor', () => {
    const raw = 'const b = 2;\nconst c = 3;\nconsole.log(a);';
    assert.equal(finalizeCompletion(raw, ctx('', '\nconst c = 3;\n')), 'const b = 2;');
  });

  it('stops at maxLines and drops trailing blank lines', () => {
    assert.equal(finalizeCompletion('a\nb\nc\nd\n\n', ctx('', '', 3)), 'a\nb\nc');
    assert.equal(finalizeCompletion('a\n\n\n', ctx('', '', 8)), 'a');
  });

  it('shows nothing for empty output or output that only retypes the suffix', () => {
    assert.equal(finalizeCompletion('   \n  ', ctx('', '')), undefined);
    assert.equal(finalizeCompletion('return x;', ctx('  ', '\nreturn x;\n}')), undefined);
    assert.equal(finalizeCompletion(')', ctx('foo(', ')')), undefined);
  });

  it('measures indentation with tabs', () => {
    assert.equal(indentWidth('\t  x'), 6);
    assert.equal(indentWidth('    '), 4);
  });
});

describe('prefix/suffix windows', () => {
  const lines = Array.from({ length: 10 }, (_, i) => `line ${i}`);
  it('cuts at line boundaries around the cursor', () => {
    const w = cutWindows(lines, 5, 4, '\n', { prefixLines: 2, suffixLines: 1 });
    assert.equal(w.prefix, 'line 3\nline 4\nline');
    assert.equal(w.suffix, ' 5\nline 6');
    assert.equal(w.linePrefix, 'line');
    assert.equal(w.lineSuffix, ' 5');
  });
  it('keeps the window start fixed while typing on the line', () => {
    const a = cutWindows(lines, 5, 4, '\n', { prefixLines: 2, suffixLines: 1 });
    const typed = [...lines];
    typed[5] = 'lineXY 5';
    const b = cutWindows(typed, 5, 6, '\n', { prefixLines: 2, suffixLines: 1 });
    assert.equal(b.prefix, a.prefix + 'XY');
    assert.equal(b.suffix, a.suffix);
  });
  it('keeps the window start on an aligned document line while the user adds lines', () => {
    // A long document read from line 100 on (as the provider reads it): the window may start at line 44 at the
    // earliest (256 lines above the cursor), so it starts at 64, the next multiple of 32, and stays there.
    const doc = Array.from({ length: 400 }, (_, i) => `line ${i}`);
    const at = (cursor: number, text = doc) => {
      const first = Math.max(0, cursor - 256);
      return cutWindows(text.slice(first), cursor - first, 0, '\n', { prefixLines: 256, suffixLines: 4, firstLine: first });
    };
    assert.ok(at(300).prefix.startsWith('line 64\n'), at(300).prefix.slice(0, 20));
    const entered = [...doc.slice(0, 300), '', ...doc.slice(300)];
    assert.ok(at(301, entered).prefix.startsWith('line 64\n'), 'Enter does not move the start');
    assert.ok(at(320).prefix.startsWith('line 64\n'));
    assert.ok(at(321).prefix.startsWith('line 96\n'), 'it moves once the limit passes the aligned line');
    // Without firstLine the lines are the document's own: a short one is not cut at all.
    assert.equal(cutWindows(doc.slice(0, 40), 39, 0, '\n').prefix.split('\n').length, 40);
  });
  it('keeps the lines above when aligning would leave none (very long lines)', () => {
    const long = Array.from({ length: 40 }, (_, i) => `${i}`.padEnd(2000, 'x'));
    const w = cutWindows(long, 39, 0, '\n', { prefixLines: 256, suffixLines: 1, maxPrefixChars: 5000 });
    assert.equal(w.prefix.split('\n').length, 3, 'the two lines that fit, though line 37 is not aligned');
  });
});

describe('completion cache and typing-through', () => {
  it('returns an exact hit', () => {
    const c = new CompletionCache();
    c.put('const x = ', ';', 'compute()');
    assert.deepEqual(c.get('const x = ', ';'), { text: 'compute()', typed: 0 });
    assert.equal(c.get('const x = ', ''), undefined, 'the suffix is part of the key');
  });

  it('serves the rest of a suggestion while the user types it, walking back', () => {
    const c = new CompletionCache();
    c.put('const x = ', ';', 'compute(a, b)');
    assert.deepEqual(c.get('const x = comp', ';'), { text: 'ute(a, b)', typed: 4 });
    assert.deepEqual(c.get('const x = compute(a, b', ';'), { text: ')', typed: 12 });
    assert.equal(c.get('const x = compute(a, b)', ';'), undefined, 'fully typed: nothing left to suggest');
    assert.equal(c.get('const x = cont', ';'), undefined, 'typed something else');
  });

  it('prefers the most recent request when several could serve', () => {
    const c = new CompletionCache();
    c.put('a', '', 'bcdef');
    c.put('abc', '', 'XYZ');
    assert.deepEqual(c.get('abc', ''), { text: 'XYZ', typed: 0 });
    assert.deepEqual(c.get('abcX', ''), { text: 'YZ', typed: 1 });
  });

  it('walks back at most maxWalkBack characters and evicts the least recently used', () => {
    const c = new CompletionCache(2, 3);
    c.put('p', '', 'abcdef');
    assert.equal(c.get('pabcd', ''), undefined, '4 typed characters is past the walk-back limit');
    assert.deepEqual(c.get('pabc', ''), { text: 'def', typed: 3 });
    c.put('q', '', '1');
    c.get('p', '');
    c.put('r', '', '2');
    assert.equal(c.size, 2);
    assert.equal(c.get('q', ''), undefined, 'q was least recently used');
    assert.deepEqual(c.get('p', ''), { text: 'abcdef', typed: 0 });
  });
});

describe('adaptive debounce', () => {
  it('follows the engine latency, within bounds', () => {
    const d = new AdaptiveDebounce();
    assert.equal(d.delayMs(false), 25);
    d.observeLatency(40);
    assert.equal(d.delayMs(false), 20);
    for (let i = 0; i < 10; i++) d.observeLatency(600);
    assert.ok(d.delayMs(false) > 250 && d.delayMs(false) <= 300);
  });

  it('waits longer after a run of ignored suggestions, and resets on accept', () => {
    const d = new AdaptiveDebounce();
    const base = d.delayMs(false);
    for (let i = 0; i < 4; i++) d.ignored();
    assert.equal(d.delayMs(false), base);
    for (let i = 0; i < 3; i++) d.ignored();
    assert.equal(d.delayMs(false), base + 300);
    d.accepted();
    assert.equal(d.delayMs(false), base);
  });

  it('waits longer on battery, and honours a fixed delay', () => {
    const d = new AdaptiveDebounce();
    assert.ok(d.delayMs(true) >= 200);
    const fixed = new AdaptiveDebounce(() => ({ fixedMs: 120, minMs: 0, maxMs: 1000 }));
    assert.equal(fixed.delayMs(false), 120);
  });
});

describe('extra context ring', () => {
  const chunk = (n: number, tag = '') => Array.from({ length: n }, (_, i) => `code line ${i}${tag}`).join('\n');

  it('drops tiny chunks and near-duplicates, keeps the newest', () => {
    const ring = new ExtraContextRing({ maxChunks: 3, chunkLines: 64, minLines: 3, similarity: 0.9 });
    assert.equal(ring.add({ path: 'a.ts', text: 'x\ny' }), false);
    assert.equal(ring.add({ path: 'a.ts', text: chunk(20) }), true);
    assert.equal(ring.add({ path: 'b.ts', text: chunk(20) + '\nextra' }), true, 'similar: replaces the older one');
    assert.deepEqual(
      ring.snapshot().map((c) => c.path),
      ['b.ts'],
    );
    ring.add({ path: 'c.ts', text: chunk(10, 'c') });
    ring.add({ path: 'd.ts', text: chunk(10, 'd') });
    ring.add({ path: 'e.ts', text: chunk(10, 'e') });
    assert.deepEqual(
      ring.snapshot().map((c) => c.path),
      ['c.ts', 'd.ts', 'e.ts'],
    );
    assert.deepEqual(
      ring.snapshot('d.ts').map((c) => c.path),
      ['c.ts', 'e.ts'],
      'the current file is left out',
    );
  });

  it('cuts a chunk around a line', () => {
    const ring = new ExtraContextRing({ maxChunks: 4, chunkLines: 4, minLines: 3, similarity: 0.9 });
    const lines = Array.from({ length: 100 }, (_, i) => `l${i}`);
    ring.addAround('f.ts', lines, 50);
    assert.equal(ring.snapshot()[0]!.text, 'l48\nl49\nl50\nl51');
  });

  it('computes Jaccard similarity of line sets', () => {
    assert.equal(jaccard(new Set(['a', 'b']), new Set(['b', 'c'])), 1 / 3);
  });
});
