// A planned refactor's step, as the window and `verdant run-queued-job` both run it (#23): the step's prompt goes to
// the model (a scripted one here: what the step does with the answer is under test), the edits come back resolved
// against the files' texts, and a deferred plan says which steps run and whether all of them can run locally.
import * as assert from 'node:assert/strict';
import { runRefactorStep, stepsToRun } from '../../src/core/refactor/steps';
import { runsOnTaskModel } from '../../src/core/scheduling/osHandoff';
import type { Job } from '../../src/core/scheduling/queue';
import type { PlanStep, RefactorContext } from '../../src/core/refactor/types';
import { runNowPlan } from '../support/jobPlans';

const cart = 'export function computeTotal(xs: number[]): number {\n  return xs.reduce((a, b) => a + b, 0);\n}\n';
const ctx: RefactorContext = {
  request: 'rename computeTotal to calculateTotal',
  symbols: ['computeTotal'],
  files: [{ path: 'src/cart.ts', text: cart, version: 0, languageId: 'typescript' }],
  hits: [{ path: 'src/cart.ts', line: 0, character: 16, length: 12, symbol: 'computeTotal' }],
  diagnostics: [],
};
const step: PlanStep = {
  id: 1,
  title: 'rename',
  files: ['src/cart.ts'],
  symbols: ['computeTotal'],
  size: 'small',
  instruction: 'rename it',
  added: false,
};
const answer = (search: string) =>
  `File: src/cart.ts\n<<<<<<< SEARCH\n${search}\n=======\nexport function calculateTotal(xs: number[]): number {\n>>>>>>> REPLACE\n`;

describe('refactor steps (#23)', () => {
  it('sends the step its context and returns the edits resolved against the file, with the call’s grams and records', async () => {
    const sent: string[] = [];
    const out = await runRefactorStep(step, ctx, 'local', async (messages) => {
      sent.push(messages.map((m) => m.content).join('\n'));
      return { text: answer('export function computeTotal(xs: number[]): number {'), grams: 0.002, recordIds: ['r1'] };
    });
    assert.match(sent[0]!, /computeTotal/);
    assert.deepEqual(out.edits, [
      { path: 'src/cart.ts', start: 0, end: cart.indexOf('\n'), newText: 'export function calculateTotal(xs: number[]): number {' },
    ]);
    assert.deepEqual([out.id, out.route, out.grams, out.recordIds], [1, 'local', 0.002, ['r1']]);
    assert.ok(out.tokens > 0);
  });

  it('rejects an answer whose edits do not apply, naming the route', async () => {
    await assert.rejects(
      runRefactorStep(step, ctx, 'local', async () => ({ text: answer('function notThere() {'), grams: undefined, recordIds: [] })),
      /^Error: the local model's edits were rejected: /,
    );
  });

  it('a deferred plan: its enabled steps on their routes; it runs with VS Code closed only when every one is local', () => {
    const plan = { request: ctx.request, steps: [step, { ...step, id: 2 }], notes: [], fileVersions: {} };
    const local = {
      ctx,
      plan,
      routes: [
        { id: 1, route: 'local', enabled: true },
        { id: 2, route: 'cloud', enabled: false },
      ],
    };
    assert.deepEqual(
      stepsToRun(local)?.steps.map((s) => [s.step.id, s.route]),
      [[1, 'local']],
    );
    assert.equal(stepsToRun({ ctx }), undefined, 'no plan');
    const job = (payload: unknown): Job => ({
      id: 'mx1-r',
      spec: { kind: 'task', task: 'refactor', payload, label: 'refactor' },
      createdAt: 0,
      deadline: 3_600_000,
      durationMinutes: 15,
      zone: 'FR',
      plan: runNowPlan(0),
      state: 'queued',
    });
    assert.equal(runsOnTaskModel(job(local)), true);
    assert.equal(runsOnTaskModel(job({ ...local, routes: [{ id: 1, route: 'cloud', enabled: true }] })), false, 'a cloud step needs the window');
    assert.equal(runsOnTaskModel(job({ ctx })), false, 'a damaged plan');
  });
});
