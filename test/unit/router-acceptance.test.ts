// The router's recent-acceptance signal (src/core/routing/acceptance.ts) and its routing log (log.ts): the minimum
// number of outcomes, the moving average, persistence through JSON and distrust of malformed state; the bounded log,
// newest first, and its Markdown rendering.
import * as assert from 'node:assert/strict';
import { profile } from '../../src/core/carbon/energy/devices';
import { ACCEPTANCE_ALPHA, AcceptanceTracker, MIN_OUTCOMES } from '../../src/core/routing/acceptance';
import { ROUTING_KINDS } from '../../src/core/routing/features';
import { ROUTING_LOG_SIZE, RoutingLog, renderRoutingLog, type RoutingLogEntry } from '../../src/core/routing/log';
import { decideRoute, type RouteContext, type RouteDecision } from '../../src/core/routing/policy';

const close = (actual: number | undefined, expected: number, msg?: string) =>
  assert.ok(actual !== undefined && Math.abs(actual - expected) < 1e-12, msg ?? `${actual} != ${expected}`);

describe('router acceptance', () => {
  it('gives no signal below MIN_OUTCOMES', () => {
    const t = new AcceptanceTracker();
    assert.equal(MIN_OUTCOMES, 3);
    assert.equal(t.rate('explain'), undefined);
    t.record('explain', true);
    t.record('explain', true);
    assert.equal(t.rate('explain'), undefined, 'two outcomes are not a signal');
    t.record('explain', false);
    close(t.rate('explain'), 2 / 3);
  });

  it('averages the first outcomes plainly, then moves with weight ACCEPTANCE_ALPHA', () => {
    const t = new AcceptanceTracker();
    const outcomes = [true, false, true, true, false, false, true, true, true];
    outcomes.forEach((x) => t.record('refactor', x));
    // Up to 1 / (count + 1) >= alpha, every outcome weighs the same: the plain mean.
    close(t.rate('refactor'), outcomes.filter(Boolean).length / outcomes.length);
    close(t.rate('refactor'), 6 / 9);
    // From the tenth outcome on, alpha = 0.1: 2/3 + 0.1 x (0 - 2/3) = 0.6.
    t.record('refactor', false);
    close(t.rate('refactor'), 6 / 9 - ACCEPTANCE_ALPHA * (6 / 9));
    close(t.rate('refactor'), 0.6);
    t.record('refactor', true);
    close(t.rate('refactor'), 0.6 + 0.1 * 0.4);
    assert.deepEqual(t.toJSON().refactor?.count, 11);
  });

  it('weighs recent outcomes most', () => {
    const t = new AcceptanceTracker();
    for (let i = 0; i < 20; i++) t.record('tests', false);
    assert.equal(t.rate('tests'), 0);
    for (let i = 0; i < 5; i++) t.record('tests', true);
    // 1 - 0.9^5 = 0.40951, twice the plain mean (5/25 = 0.2).
    close(t.rate('tests'), 1 - 0.9 ** 5);
    for (let i = 0; i < 60; i++) t.record('tests', true);
    const r = t.rate('tests')!;
    assert.ok(r > 0.99 && r <= 1, `${r}`);
  });

  it('keeps each kind separate', () => {
    const t = new AcceptanceTracker();
    for (let i = 0; i < 3; i++) t.record('explain', true);
    for (let i = 0; i < 3; i++) t.record('commit', false);
    assert.equal(t.rate('explain'), 1);
    assert.equal(t.rate('commit'), 0);
    assert.equal(t.rate('ask'), undefined);
    assert.deepEqual(Object.keys(t.toJSON()).sort(), ['commit', 'explain']);
  });

  it('round-trips through JSON (VS Code globalState)', () => {
    const t = new AcceptanceTracker();
    [true, false, true, true].forEach((x) => t.record('ask', x));
    t.record('summarize', true);
    const saved: unknown = JSON.parse(JSON.stringify(t.toJSON()));
    const restored = new AcceptanceTracker(saved);
    assert.deepEqual(restored.toJSON(), t.toJSON());
    close(restored.rate('ask'), 0.75);
    assert.equal(restored.rate('summarize'), undefined, 'one outcome is still below the minimum');
    // The restored tracker carries on from the same counts.
    restored.record('ask', false);
    t.record('ask', false);
    close(restored.rate('ask'), t.rate('ask')!);
    assert.equal(restored.toJSON().ask?.count, 5);
  });

  it('drops malformed saved state instead of trusting it', () => {
    for (const saved of [undefined, null, 'explain', 42, true, [], [{ rate: 1, count: 5 }]]) {
      assert.deepEqual(new AcceptanceTracker(saved).toJSON(), {}, JSON.stringify(saved));
    }
    const t = new AcceptanceTracker({
      explain: { rate: 0.8, count: 12 }, // the one valid entry
      refactor: { rate: 1.5, count: 10 },
      tests: { rate: -0.1, count: 10 },
      summarize: { rate: 0.5, count: 0 },
      commit: { rate: 0.5, count: 2.5 },
      ask: { rate: '0.5', count: 10 },
      completion: { rate: Number.NaN, count: 10 },
      poem: { rate: 0.5, count: 10 },
    });
    assert.deepEqual(t.toJSON(), { explain: { rate: 0.8, count: 12 } });
    assert.equal(t.rate('explain'), 0.8);
    for (const kind of ROUTING_KINDS.filter((k) => k !== 'explain')) assert.equal(t.rate(kind), undefined, kind);
    assert.deepEqual(new AcceptanceTracker({ ask: null, tests: 'x', commit: { count: 4 } }).toJSON(), {});
    assert.deepEqual(new AcceptanceTracker({ ask: { rate: 0.5, count: -3 } }).toJSON(), {});
    assert.deepEqual(new AcceptanceTracker({ ask: { rate: 0.5, count: Number.POSITIVE_INFINITY } }).toJSON(), {});
  });

  it('hands out a copy of its state', () => {
    const t = new AcceptanceTracker();
    for (let i = 0; i < 3; i++) t.record('explain', true);
    const json = t.toJSON() as Record<string, unknown>;
    delete json.explain;
    json.ask = { rate: 0, count: 99 };
    assert.equal(t.rate('explain'), 1);
    assert.equal(t.rate('ask'), undefined);
  });
});

// A real decision to log: explain, 1000 tokens, the 780M laptop on the French grid vs 70B in Germany.
const routeCtx: RouteContext = {
  mode: 'balanced',
  local: { device: profile('phoenix-hs-igpu'), tokensPerSecond: 30, gPerKWh: 50, contextTokens: 8192 },
  cloud: { model: 'llama-3.3-70b-instruct', pue: 1.2, gPerKWh: 350 },
  trusted: true,
  consent: 'granted',
  cascade: true,
};
const DECISION: RouteDecision = decideRoute({ kind: 'explain', promptTokens: 1000, selectionChars: 3000 }, routeCtx, 0.8);
const CASCADE: RouteDecision = decideRoute({ kind: 'ask', promptTokens: 400, selectionChars: 0 }, routeCtx, 0.5);
const OFFLINE: RouteDecision = decideRoute({ kind: 'tests', promptTokens: 2000, selectionChars: 6000 }, { ...routeCtx, offline: true }, 0.1);

const entry = (n: number, over: Partial<RoutingLogEntry> = {}): RoutingLogEntry => ({
  at: Date.UTC(2025, 5, 1, 9, 0, n),
  kind: 'explain',
  promptTokens: 1000 + n,
  decision: DECISION,
  classifier: 'onnx (cpu)',
  decisionMs: 0.42,
  ...over,
});

/** Cells of one Markdown table row, split on the pipes that are not escaped. */
const cells = (row: string): string[] =>
  row
    .split(/(?<!\\)\|/)
    .slice(1, -1)
    .map((c) => c.trim());
const rows = (md: string): string[] => md.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| Time'));

describe('routing log', () => {
  it('keeps the newest entries, bounded at its size, newest first', () => {
    const empty = new RoutingLog(3);
    assert.deepEqual(empty.list(), []);
    assert.equal(empty.last, undefined);
    const log = new RoutingLog(3);
    for (let n = 1; n <= 5; n++) log.add(entry(n));
    assert.deepEqual(
      log.list().map((e) => e.promptTokens),
      [1005, 1004, 1003],
    );
    assert.equal(log.last?.promptTokens, 1005);
  });

  it('holds ROUTING_LOG_SIZE entries by default', () => {
    const log = new RoutingLog();
    for (let n = 0; n < ROUTING_LOG_SIZE + 25; n++) log.add(entry(n));
    const list = log.list();
    assert.equal(list.length, ROUTING_LOG_SIZE);
    assert.equal(list[0]!.promptTokens, 1000 + ROUTING_LOG_SIZE + 24);
    assert.equal(list[list.length - 1]!.promptTokens, 1025, 'the 25 oldest are gone');
  });

  it('returns the stored entry so its outcome can be filled in later', () => {
    const log = new RoutingLog();
    const e = log.add(entry(1));
    e.outcome = 'done';
    e.grams = 0.0453;
    assert.equal(log.last, e);
    assert.equal(log.list()[0]!.outcome, 'done');
    // The list is a copy: changing it does not change the log.
    (log.list() as RoutingLogEntry[]).length = 0;
    assert.equal(log.list().length, 1);
  });

  it('says when nothing has been routed yet', () => {
    const md = renderRoutingLog([], 'greenest');
    assert.match(md, /^# Verdant routing log\n/);
    assert.match(md, /Mode: \*\*greenest\*\*/);
    assert.match(md, /\*No requests routed yet\.\*/);
    assert.ok(!md.includes('| Time |'), 'no empty table');
  });

  it('renders one row per entry, newest first, with the route, options and outcome', () => {
    const log = new RoutingLog();
    log.add(entry(1, { outcome: 'done', grams: 0.0453 }));
    log.add(entry(2, { kind: 'ask', promptTokens: 400, decision: CASCADE, outcome: 'escalated to the cloud', grams: 0.14 }));
    log.add(entry(3, { kind: 'tests', promptTokens: 2000, decision: OFFLINE, classifier: 'reference (no answer in 250 ms)', decisionMs: 1.234 }));
    const md = renderRoutingLog(log.list(), 'balanced');
    assert.match(md, /Mode: \*\*balanced\*\*/);
    assert.match(md, new RegExp(`the last ${ROUTING_LOG_SIZE} decisions`));
    assert.ok(
      md.includes(
        '| Time | Request | Route | Reason | Options (g CO2e, latency) | Classifier | Decision | Outcome |\n|---|---|---|---|---|---|---|---|',
      ),
    );
    const r = rows(md);
    assert.equal(r.length, 3);
    for (const row of r) assert.equal(cells(row).length, 8, row);

    const [offline, cascade, local] = r.map(cells);
    assert.ok(offline && cascade && local);
    assert.deepEqual(offline.slice(1, 3), ['tests, 2000 tokens', 'local']);
    assert.equal(offline[3], OFFLINE.reason);
    assert.match(offline[4]!, /cloud .* — blocked: the network is offline/);
    assert.equal(offline[5], 'reference (no answer in 250 ms)');
    assert.equal(offline[6], '1.23 ms');
    assert.equal(offline[7], '…', 'no outcome yet');

    assert.deepEqual(cascade.slice(1, 3), ['ask, 400 tokens', 'local → cloud if unsure']);
    assert.equal(cascade[7], 'escalated to the cloud (140 mg)');

    assert.deepEqual(local.slice(1, 3), ['explain, 1001 tokens', 'local']);
    assert.equal(local[3], DECISION.reason);
    assert.equal(local[6], '0.42 ms');
    assert.equal(local[7], 'done (45.3 mg)');
    // Each option: grams, its range and its latency.
    const localOption = DECISION.options[0]!;
    assert.ok(local[4]!.startsWith(`local 45.3 mg (`), local[4]);
    assert.ok(local[4]!.includes(`, ${Math.round(localOption.latencyMs)} ms; cloud `), local[4]);
    assert.ok(!local[4]!.includes('blocked'));
  });

  it('escapes pipes and newlines in reasons, warnings, classifier and outcome', () => {
    const decision: RouteDecision = { ...DECISION, reason: 'local: a | b\nc', warning: 'budget | exceeded' };
    const md = renderRoutingLog([entry(1, { decision, classifier: 'odd|name', outcome: 'failed: x | y' })], 'balanced');
    const [row] = rows(md);
    assert.ok(row !== undefined);
    assert.ok(row.includes('local: a \\| b c ⚠ budget \\| exceeded'), row);
    assert.ok(row.includes('odd\\|name'), row);
    assert.ok(row.includes('failed: x \\| y'), row);
    assert.equal(cells(row).length, 8, 'the pipes did not add columns');
    assert.equal(md.split('\n').filter((l) => l.includes('a \\| b')).length, 1, 'the newline did not break the row');
  });
});
