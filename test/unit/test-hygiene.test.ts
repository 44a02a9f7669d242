// The suite must pass on a busy machine: no test asserts that something took less than 10 s, and no hang-catching
// limit (a mocha timeout, a polling helper's limit) is tighter than that. Speed is measured in bench/ instead. This
// scans every test source for the shapes such a budget takes, so a new one fails here with its file and line.
import * as assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';

const ROOT = path.resolve('test');
const LIMIT_MS = 10_000;

/** Names that hold an elapsed time by convention (fooMs, elapsed, waited…). */
const TIME_NAME = /^(?:elapsed|waited|took|latency|duration|ms|t\d?)$|[a-z]Ms$/;
/** An expression that measures a duration from a clock. */
const CLOCK = /performance\.now\(\)|Date\.now\(\)|-\s*(?:t0|t|start(?:ed)?)\b|\.(?:at|since)\s*-/;

export interface BudgetFinding {
  readonly line: number;
  readonly text: string;
  readonly why: string;
}

function literal(text: string): number {
  return Number(text.replace(/_/g, ''));
}

/** The time budgets under LIMIT_MS in one test file's source. */
export function findTimeBudgets(source: string): BudgetFinding[] {
  const lines = source.split('\n');
  // Variables assigned from a clock (`const elapsed = performance.now() - t0`, `const built = calls[0].at - t0`).
  const timed = new Set<string>();
  for (const l of lines) {
    const m = /\b(?:const|let)\s+(\w+)\s*=\s*(.*)$/.exec(l);
    if (m && CLOCK.test(m[2]!)) timed.add(m[1]!);
  }
  const findings: BudgetFinding[] = [];
  lines.forEach((text, i) => {
    if (/^\s*\/\//.test(text)) return;
    const found = (why: string) => findings.push({ line: i + 1, text: text.trim(), why });
    // assert.ok(<time> < N) / <= N, with N a literal (250 + 100 counts as its first term).
    if (/\bassert\b/.test(text)) {
      for (const m of text.matchAll(/([\w.()[\]!]+(?:\s*-\s*[\w.()[\]]+)?)\s*<=?\s*([\d_]+)(?![\d_.])/g)) {
        const subject = m[1]!;
        const n = literal(m[2]!);
        // A method like delayMs(...) computes a value from its inputs; it measures nothing.
        const names = subject
          .replace(/\w+\(/g, '(')
          .split(/[^\w]+/)
          .filter(Boolean);
        const isTime = CLOCK.test(subject) || names.some((w) => timed.has(w) || TIME_NAME.test(w));
        if (isTime && n < LIMIT_MS) found(`asserts an elapsed time under ${n} ms`);
      }
    }
    // this.timeout(N), and polling helpers' limits: until('x', probe, N) / noOpenSockets(N).
    for (const m of text.matchAll(/\.timeout\(\s*([\d_]+)\s*\)/g))
      if (literal(m[1]!) > 0 && literal(m[1]!) < LIMIT_MS) found(`a mocha timeout of ${m[1]} ms`);
    for (const m of text.matchAll(/\buntil\([^;]*?,\s*([\d_]+)\s*(?:,\s*[\d_]+\s*)?\)/g))
      if (literal(m[1]!) < LIMIT_MS) found(`waits at most ${m[1]} ms for an event`);
    for (const m of text.matchAll(/\bnoOpenSockets\(\s*([\d_]+)\s*\)/g))
      if (literal(m[1]!) < LIMIT_MS) found(`waits at most ${m[1]} ms for sockets to close`);
    // A bounded polling loop: for (let i = 0; i < 40 && !done; i++) await sleep(50) gives up after 2 s.
    for (const m of text.matchAll(/for \(let \w+ = 0; \w+ < ([\d_]+) &&.*?sleep\(([\d_]+)\)/g)) {
      const ms = literal(m[1]!) * literal(m[2]!);
      if (ms < LIMIT_MS) found(`a polling loop that gives up after ${ms} ms`);
    }
    // A waiting helper's default limit: until(what, probe, ms = 5000), next(ms = 5000), waitFor(pred, what, ms = 5000).
    for (const m of text.matchAll(/\b(?:until|waitFor|within|next|noOpenSockets)\b[^{;]*?\b(?:ms|timeoutMs)\s*=\s*([\d_]+)/g))
      if (literal(m[1]!) < LIMIT_MS) found(`a waiting helper gives up after ${m[1]} ms by default`);
  });
  return findings;
}

/** The examples in test/fixtures/hygiene/<name>: blocks separated by a line of ---, a first # line is a title. */
function examples(name: string): string[] {
  return readFileSync(path.join(ROOT, 'fixtures', 'hygiene', name), 'utf8')
    .replace(/^#.*\n/, '')
    .split(/\n---\n/)
    .map((b) => b.trim());
}

function testSources(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => path.join(dir, f));
}

describe('test hygiene: no wall-clock budgets in tests', () => {
  it('finds the shapes a time budget takes (and leaves counts, sizes and generous limits alone)', () => {
    for (const source of examples('budgets.txt')) assert.equal(findTimeBudgets(source).length, 1, source);
    for (const source of examples('fine.txt')) assert.deepEqual(findTimeBudgets(source), [], source);
  });

  it('no test under test/ asserts an elapsed time under 10 s or gives up on an event sooner', () => {
    const all = testSources(ROOT).flatMap((file) =>
      findTimeBudgets(readFileSync(file, 'utf8')).map((f) => `${path.relative(process.cwd(), file)}:${f.line}: ${f.why}: ${f.text}`),
    );
    assert.deepEqual(all, [], `move speed checks to bench/, make waits generous (>= ${LIMIT_MS} ms):\n${all.join('\n')}`);
  });
});
