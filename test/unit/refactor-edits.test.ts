import * as assert from 'node:assert/strict';
import { applyEdits, EditError, parseEditBlocks, resolveEdits, type EditBlock } from '../../src/core/refactor/edits';
import type { FileEdit } from '../../src/core/refactor/types';
import { CART, CART_AFTER, INVOICE, INVOICE_AFTER, REPORT, REPORT_AFTER } from '../fixtures/refactor/cart-fixture';

const FILES = new Map([
  ['src/cart.ts', CART],
  ['src/invoice.ts', INVOICE],
  ['src/report.ts', REPORT],
]);
const ALL = ['src/cart.ts', 'src/invoice.ts', 'src/report.ts'];

// What a local model typically answers for the rename: prose, fences, a backticked path, a File: line that covers
// several blocks.
const ANSWER = `Here are the edits for this step.

File: src/cart.ts
\`\`\`
<<<<<<< SEARCH
export function computeTotal(items: readonly Item[]): number {
=======
export function calculateTotal(items: readonly Item[]): number {
>>>>>>> REPLACE
\`\`\`

\`\`\`ts
<<<<<<< SEARCH
  return computeTotal(items) === 0;
=======
  return calculateTotal(items) === 0;
>>>>>>> REPLACE
\`\`\`

File: \`src/invoice.ts\`
<<<<<<< SEARCH
import { computeTotal, type Item } from './cart';
=======
import { calculateTotal, type Item } from './cart';
>>>>>>> REPLACE
<<<<<<< SEARCH
  const net = computeTotal(invoice.lines);
=======
  const net = calculateTotal(invoice.lines);
>>>>>>> REPLACE

**File:** ./src/report.ts
<<<<<<< SEARCH
import { computeTotal } from './cart';
=======
import { calculateTotal } from './cart';
>>>>>>> REPLACE
<<<<<<< SEARCH
  const rows = invoices.map((inv) => \`\${inv.number}\\t\${computeTotal(inv.lines)}\`);
  const grand = invoices.reduce((sum, inv) => sum + computeTotal(inv.lines), 0);
=======
  const rows = invoices.map((inv) => \`\${inv.number}\\t\${calculateTotal(inv.lines)}\`);
  const grand = invoices.reduce((sum, inv) => sum + calculateTotal(inv.lines), 0);
>>>>>>> REPLACE

These rename every use.`;

function editError(fn: () => unknown, match: RegExp): EditError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof EditError, `expected an EditError, got ${String(caught)}`);
  assert.match(caught.message, match);
  return caught;
}

function applyAll(edits: readonly FileEdit[], files: ReadonlyMap<string, string>): Map<string, string> {
  const out = new Map(files);
  for (const [path, text] of files)
    out.set(
      path,
      applyEdits(
        text,
        edits.filter((e) => e.path === path),
      ),
    );
  return out;
}

describe('refactor edits: parseEditBlocks', () => {
  it('reads blocks among prose and fences, a File: line applying until the next one', () => {
    const blocks = parseEditBlocks(ANSWER);
    assert.deepEqual(
      blocks.map((b) => b.path),
      ['src/cart.ts', 'src/cart.ts', 'src/invoice.ts', 'src/invoice.ts', 'src/report.ts', 'src/report.ts'],
    );
    assert.deepEqual(blocks[0], {
      path: 'src/cart.ts',
      search: 'export function computeTotal(items: readonly Item[]): number {',
      replace: 'export function calculateTotal(items: readonly Item[]): number {',
    });
    assert.equal(blocks[5]!.search.split('\n').length, 2);
  });

  it('reads CRLF answers as LF, keeps empty replacements (deletions) and indentation', () => {
    const blocks = parseEditBlocks('File: src/a.ts\r\n<<<<<<< SEARCH\r\n    one();\r\n    two();\r\n=======\r\n>>>>>>> REPLACE\r\n');
    assert.deepEqual(blocks, [{ path: 'src/a.ts', search: '    one();\n    two();', replace: '' }]);
  });

  it('rejects malformed answers with a clear message', () => {
    editError(
      () => parseEditBlocks('<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE'),
      /^an edit block \(line 1 of the answer\) has no "File:" line before it$/,
    );
    editError(
      () => parseEditBlocks('File: src/a.ts\n<<<<<<< SEARCH\na\n=======\nb\n'),
      /^a SEARCH block for src\/a\.ts has no ">>>>>>> REPLACE" line$/,
    );
    editError(() => parseEditBlocks('File: src/a.ts\n<<<<<<< SEARCH\na\n'), /has no "=======" line and no REPLACE/);
    editError(() => parseEditBlocks('File: src/a.ts\n<<<<<<< SEARCH\na\n>>>>>>> REPLACE\n'), /has no "=======" line before its end/);
    editError(
      () => parseEditBlocks('File: src/a.ts\n<<<<<<< SEARCH\na\n=======\nb\n<<<<<<< SEARCH\nc\n=======\nd\n>>>>>>> REPLACE'),
      /has no ">>>>>>> REPLACE" line/,
    );
    editError(
      () => parseEditBlocks('File: src/a.ts\n<<<<<<< SEARCH\n  \n=======\nb\n>>>>>>> REPLACE'),
      /^an edit for src\/a\.ts has an empty SEARCH part$/,
    );
    editError(() => parseEditBlocks('File: src/a.ts\n=======\nb\n>>>>>>> REPLACE'), /outside a SEARCH\/REPLACE block/);
    editError(() => parseEditBlocks('I renamed it everywhere, no changes needed.'), /^the model returned no edits$/);
    editError(() => parseEditBlocks(''), /^the model returned no edits$/);
  });
});

describe('refactor edits: resolveEdits and applyEdits', () => {
  it("applies the model's answer to all three files, giving the renamed files", () => {
    const edits = resolveEdits(parseEditBlocks(ANSWER), FILES, ALL);
    assert.deepEqual(
      edits.map((e) => e.path),
      ['src/cart.ts', 'src/cart.ts', 'src/invoice.ts', 'src/invoice.ts', 'src/report.ts', 'src/report.ts'],
    );
    for (let i = 1; i < edits.length; i++) if (edits[i]!.path === edits[i - 1]!.path) assert.ok(edits[i]!.start >= edits[i - 1]!.end);
    const out = applyAll(edits, FILES);
    assert.equal(out.get('src/cart.ts'), CART_AFTER);
    assert.equal(out.get('src/invoice.ts'), INVOICE_AFTER);
    assert.equal(out.get('src/report.ts'), REPORT_AFTER);
    // Offsets point at the exact text.
    const first = edits[0]!;
    assert.equal(CART.slice(first.start, first.end), 'export function computeTotal(items: readonly Item[]): number {');
  });

  it("sorts by path then position whatever the answer's order", () => {
    const blocks = parseEditBlocks(ANSWER).reverse();
    const edits = resolveEdits(blocks, FILES, ALL);
    assert.deepEqual(
      edits.map((e) => [e.path, e.start]),
      [...edits].sort((a, b) => a.path.localeCompare(b.path) || a.start - b.start).map((e) => [e.path, e.start]),
    );
  });

  it('keeps CRLF line endings in a CRLF file', () => {
    const crlf = INVOICE.replace(/\n/g, '\r\n');
    const files = new Map([['src/invoice.ts', crlf]]);
    const blocks: EditBlock[] = [
      {
        path: 'src/invoice.ts',
        search: 'export function invoiceTotal(invoice: Invoice): number {\n  const net = computeTotal(invoice.lines);',
        replace: 'export function invoiceTotal(invoice: Invoice): number {\n  const net = calculateTotal(invoice.lines);',
      },
    ];
    const out = applyEdits(crlf, resolveEdits(blocks, files, ['src/invoice.ts']));
    assert.equal(out, crlf.replace('const net = computeTotal', 'const net = calculateTotal'));
    assert.ok(!/[^\r]\n/.test(out), 'every line break is still CRLF');
  });

  it('matches lines again ignoring trailing whitespace when the exact text is not found', () => {
    const withSpaces = CART.replace('  return computeTotal(items) === 0;', '  return computeTotal(items) === 0;   ');
    const files = new Map([['src/cart.ts', withSpaces]]);
    const blocks = parseEditBlocks(
      'File: src/cart.ts\n<<<<<<< SEARCH\nexport function isEmpty(items: readonly Item[]): boolean {\t\n  return computeTotal(items) === 0;\n\n=======\nexport function isEmpty(items: readonly Item[]): boolean {\n  return calculateTotal(items) === 0;\n\n>>>>>>> REPLACE',
    );
    const edits = resolveEdits(blocks, files, ['src/cart.ts']);
    assert.equal(edits.length, 1);
    assert.equal(
      applyEdits(withSpaces, edits),
      withSpaces.replace('  return computeTotal(items) === 0;   ', '  return calculateTotal(items) === 0;'),
    );
  });

  it('names the file and the first line when the search text is not found', () => {
    const blocks: EditBlock[] = [{ path: 'src/invoice.ts', search: '\n  const total = computeTotal(invoice.items);\n  return total;', replace: 'x' }];
    const e = editError(
      () => resolveEdits(blocks, FILES, ALL),
      /^the SEARCH text for src\/invoice\.ts was not found in the file \(it starts "const total = computeTotal\(invoice\.items\);"\)$/,
    );
    assert.equal(e.path, 'src/invoice.ts');
  });

  it('rejects an ambiguous search text', () => {
    const blocks: EditBlock[] = [{ path: 'src/report.ts', search: 'computeTotal(inv.lines)', replace: 'calculateTotal(inv.lines)' }];
    editError(
      () => resolveEdits(blocks, FILES, ALL),
      /^the SEARCH text for src\/report\.ts is ambiguous: it matches 2 places \(it starts "computeTotal\(inv\.lines\)"\); it must match exactly one$/,
    );
    // Ambiguous after the whitespace-tolerant retry too.
    const twice = 'a();  \nb();\na();\nb();\n';
    editError(() => resolveEdits([{ path: 'x.ts', search: 'a(); \nb();\n', replace: '' }], new Map([['x.ts', twice]]), ['x.ts']), /matches 2 places/);
  });

  it('rejects overlapping edits in one file, but takes a repeated identical block once', () => {
    const blocks: EditBlock[] = [
      { path: 'src/cart.ts', search: 'export function computeTotal(items: readonly Item[]): number {\n  return items.reduce(', replace: 'x' },
      { path: 'src/cart.ts', search: '  return items.reduce((sum, item) => sum + item.price * item.quantity, 0);', replace: 'y' },
    ];
    editError(() => resolveEdits(blocks, FILES, ALL), /^two edits to src\/cart\.ts overlap/);
    const one = parseEditBlocks(ANSWER)[0]!;
    assert.equal(resolveEdits([one, one], FILES, ALL).length, 1);
  });

  it("rejects an edit outside the step's files, or to a file not read", () => {
    const [block] = parseEditBlocks(ANSWER);
    assert.ok(block);
    const e = editError(
      () => resolveEdits([block], FILES, ['src/invoice.ts', 'src/report.ts']),
      /^the model edited src\/cart\.ts, which is not one of this step's files \(src\/invoice\.ts, src\/report\.ts\)$/,
    );
    assert.equal(e.path, 'src/cart.ts');
    editError(() => resolveEdits([block], new Map([['src/invoice.ts', INVOICE]]), ['src/cart.ts']), /has not read that file/);
    // Paths as models write them are normalised.
    assert.equal(resolveEdits([{ ...block, path: '.\\src\\cart.ts' }], FILES, ['./src/cart.ts'])[0]!.path, 'src/cart.ts');
  });

  it('applyEdits applies from the end and refuses overlaps', () => {
    const text = 'abcdef';
    assert.equal(
      applyEdits(text, [
        { path: 'f', start: 0, end: 1, newText: 'AA' },
        { path: 'f', start: 4, end: 6, newText: '' },
        { path: 'f', start: 2, end: 2, newText: '-' },
      ]),
      'AAb-cd',
    );
    assert.equal(applyEdits(text, []), text);
    assert.throws(
      () =>
        applyEdits(text, [
          { path: 'f', start: 0, end: 3, newText: '' },
          { path: 'f', start: 2, end: 4, newText: '' },
        ]),
      EditError,
    );
    assert.throws(() => applyEdits(text, [{ path: 'f', start: 5, end: 9, newText: '' }]), EditError);
  });
});
