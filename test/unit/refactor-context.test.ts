import * as assert from 'node:assert/strict';
import { CHARS_PER_TOKEN } from '../../src/core/routing/estimates';
import { estimateTokens, stepContext } from '../../src/core/refactor/context';
import type { PlanStep, RefactorContext } from '../../src/core/refactor/types';
import { bigFile, CART, cartContext, file, findHits, INVOICE, REQUEST } from '../fixtures/refactor/cart-fixture';

function step(files: string[], symbols = ['computeTotal']): PlanStep {
  return {
    id: 2,
    title: 'Update the callers',
    files,
    symbols,
    size: 'small',
    instruction: 'Call calculateTotal instead of computeTotal.',
    added: false,
  };
}

const BIG_HITS = [10, 12, 200, 390];
function bigContext(): RefactorContext {
  const files = [file('src/cart.ts', CART), bigFile('src/ledger.ts', 400, BIG_HITS), file('src/invoice.ts', INVOICE)];
  return { request: REQUEST, symbols: ['computeTotal'], files, hits: findHits(files, ['computeTotal']), diagnostics: [] };
}

describe('refactor step context', () => {
  it('estimates tokens from characters', () => {
    assert.equal(estimateTokens(''), 0);
    assert.equal(estimateTokens('x'.repeat(35)), Math.ceil(35 / CHARS_PER_TOKEN));
    assert.equal(estimateTokens('abcd'), 2);
  });

  it("sends a small file whole, asks for search/replace blocks, and sends only the step's files", () => {
    const ctx = cartContext();
    const r = stepContext(step(['src/invoice.ts']), ctx, { budgetTokens: 4000 });
    assert.deepEqual(r.snippets, [{ path: 'src/invoice.ts', startLine: 0, endLine: 11 }]);
    const [system, user] = r.messages;
    assert.ok(system && user);
    assert.equal(system.role, 'system');
    assert.equal(user.role, 'user');
    assert.ok(user.content.includes(`File: src/invoice.ts (whole file, 12 lines)\n\`\`\`typescript\n${INVOICE}\`\`\`\n`));
    assert.ok(!user.content.includes('src/cart.ts'), 'no other file, not even by name');
    assert.ok(!user.content.includes('item.price'));
    assert.ok(!user.content.includes('src/report.ts'));
    assert.match(
      user.content,
      /^The whole change: rename computeTotal to calculateTotal\nThis step \(2\): Update the callers\nCall calculateTotal instead of computeTotal\.\nSymbols: computeTotal\n/,
    );
    assert.ok(
      user.content.includes(
        'File: src/example.ts\n<<<<<<< SEARCH\nexport function oldName(items: Item[]) {\n=======\nexport function newName(items: Item[]) {\n>>>>>>> REPLACE\n',
      ),
    );
    assert.match(user.content, /"File:" names one of this step's files: src\/invoice\.ts\./);
    assert.match(user.content, /Copy the SEARCH lines exactly/);
    assert.equal(r.tokens, estimateTokens(system.content) + estimateTokens(user.content));
    assert.equal(r.omittedRegions, 0);
    assert.ok(r.wholeTokens > r.tokens, 'the whole context includes cart.ts and report.ts too');
  });

  it('shows the regions around the hits of a big file, overlapping regions merged', () => {
    const r = stepContext(step(['src/ledger.ts']), bigContext(), { budgetTokens: 100_000 });
    assert.deepEqual(r.snippets, [
      { path: 'src/ledger.ts', startLine: 7, endLine: 15 },
      { path: 'src/ledger.ts', startLine: 197, endLine: 203 },
      { path: 'src/ledger.ts', startLine: 387, endLine: 393 },
    ]);
    const user = r.messages[1]!.content;
    assert.ok(user.includes('File: src/ledger.ts (lines 8-16 of 400)\n```typescript\n  const v7 = '));
    assert.ok(user.includes('File: src/ledger.ts (lines 388-394 of 400)'));
    assert.ok(!user.includes('filler line 100 '));
    assert.ok(r.tokens < r.wholeTokens / 5, `${r.tokens} vs ${r.wholeTokens}`);
    const wider = stepContext(step(['src/ledger.ts']), bigContext(), { budgetTokens: 100_000, contextLines: 0 });
    assert.deepEqual(
      wider.snippets.map((s) => [s.startLine, s.endLine]),
      [
        [10, 10],
        [12, 12],
        [200, 200],
        [390, 390],
      ],
    );
    const clamp = stepContext(step(['src/ledger.ts']), bigContext(), { budgetTokens: 100_000, contextLines: 12 });
    assert.deepEqual(
      clamp.snippets.map((s) => [s.startLine, s.endLine]),
      [
        [0, 24],
        [188, 212],
        [378, 399],
      ],
    );
  });

  it('keeps within the budget by dropping the farthest regions first, never cutting one', () => {
    const ctx = bigContext();
    const full = stepContext(step(['src/ledger.ts', 'src/invoice.ts']), ctx, { budgetTokens: 100_000 });
    assert.equal(full.snippets.length, 4);
    // A budget 10 tokens short of the whole thing: the last ledger region (farthest from the first hit) goes.
    const tight = stepContext(step(['src/ledger.ts', 'src/invoice.ts']), ctx, { budgetTokens: full.tokens - 10 });
    assert.ok(tight.tokens <= full.tokens - 10);
    assert.deepEqual(
      tight.snippets.map((s) => [s.path, s.startLine]),
      [
        ['src/ledger.ts', 7],
        ['src/ledger.ts', 197],
        ['src/invoice.ts', 0],
      ],
    );
    assert.equal(tight.omittedRegions, 1);
    assert.ok(tight.messages[1]!.content.includes('  const t200 = computeTotal(batch200.items); // line 200'));
    assert.ok(!tight.messages[1]!.content.includes('// line 390'));
    for (const budget of [300, 400, 500, 600, 700, 800]) {
      const r = stepContext(step(['src/ledger.ts', 'src/invoice.ts']), ctx, { budgetTokens: budget });
      const firsts = stepContext(step(['src/ledger.ts', 'src/invoice.ts']), ctx, { budgetTokens: 0 }).tokens;
      assert.ok(r.tokens <= Math.max(budget, firsts), `budget ${budget}: ${r.tokens}`);
      // Every region shown is whole: each snippet's lines all appear.
      for (const s of r.snippets.filter((x) => x.path === 'src/ledger.ts')) {
        for (let l = s.startLine; l <= s.endLine; l++)
          assert.ok(r.messages[1]!.content.includes(BIG_HITS.includes(l) ? `// line ${l}\n` : `// filler line ${l} `));
      }
    }
  });

  it('includes the first region of every file even over budget, and says so', () => {
    const r = stepContext(step(['src/ledger.ts', 'src/invoice.ts']), bigContext(), { budgetTokens: 50 });
    assert.deepEqual(
      r.snippets.map((s) => [s.path, s.startLine, s.endLine]),
      [
        ['src/ledger.ts', 7, 15],
        ['src/invoice.ts', 0, 11],
      ],
    );
    assert.ok(r.tokens > 50);
    assert.equal(
      r.tokens,
      r.messages.reduce((n, m) => n + estimateTokens(m.content), 0),
    );
    assert.equal(r.omittedRegions, 2);
  });

  it("shows the top of a big file without hits, CRLF files without carriage returns, and the step's diagnostics", () => {
    const noHits = file('src/plain.ts', Array.from({ length: 100 }, (_, i) => `export const c${i} = ${i};`).join('\r\n'));
    const ctx: RefactorContext = {
      request: REQUEST,
      symbols: ['computeTotal'],
      files: [noHits, file('src/cart.ts', CART)],
      hits: [],
      diagnostics: [
        { path: 'src/plain.ts', line: 3, message: 'Unused export.' },
        { path: 'src/cart.ts', line: 0, message: 'Elsewhere.' },
      ],
    };
    const r = stepContext(step(['src/plain.ts']), ctx, { budgetTokens: 4000 });
    assert.deepEqual(r.snippets, [{ path: 'src/plain.ts', startLine: 0, endLine: 59 }]);
    const user = r.messages[1]!.content;
    assert.ok(!user.includes('\r'));
    assert.match(user, /- src\/plain\.ts line 4: Unused export\./);
    assert.ok(!user.includes('Elsewhere.'));
  });

  it('uses a longer fence when the code has backtick runs', () => {
    const md = file('docs/notes.ts', 'const s = `\n```\n`; computeTotal();\n');
    const ctx: RefactorContext = {
      request: REQUEST,
      symbols: ['computeTotal'],
      files: [md],
      hits: findHits([md], ['computeTotal']),
      diagnostics: [],
    };
    const user = stepContext(step(['docs/notes.ts']), ctx, { budgetTokens: 4000 }).messages[1]!.content;
    assert.ok(user.includes('````typescript\nconst s = `\n```\n`; computeTotal();\n````\n'));
  });
});
