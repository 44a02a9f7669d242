// The router's offline evaluation (bench/evalRouter.ts, `npm run eval:router`) on the corpus's held-out split with the
// real onnxruntime-node: the classifier and the balanced policy must beat the best single route by a wide margin,
// also where size and difficulty disagree; an inline completion never goes to the cloud; and the carbon accounting
// must hold together. A regression in the model, the features, the corpus or the policy fails here.
import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import {
  DEFAULT_MODEL_FILE,
  evaluatePolicy,
  evaluateRouter,
  evaluateWithOnnx,
  heldOutRows,
  readEvalRows,
  type EvalReport,
} from '../../bench/evalRouter';
import { loadWeights, referenceForward } from '../../src/core/routing/classifier';
import { readRouterVectors } from '../support/routerVectors';

const vectors = readRouterVectors();

/** What the committed model reaches on the held-out split (see src/core/routing/model/README.md), less a margin. */
const MIN_BALANCED_OVER_BEST = 0.15;
const MIN_DISAGREEMENT = 0.7;

describe('router evaluation on the held-out corpus', function () {
  this.timeout(60_000);
  const rows = heldOutRows(path.resolve('src', 'core', 'routing', 'model', 'corpus'));
  let report: EvalReport;
  before(async () => {
    report = await evaluateWithOnnx(rows, path.resolve(DEFAULT_MODEL_FILE));
  });

  it('classifies far better than always answering one route, also where size and difficulty disagree', () => {
    assert.ok(report.rows >= 100, `held-out requests: ${report.rows}`);
    assert.equal(report.labels.local + report.labels.cloud + report.labels.either, report.rows);
    assert.ok(report.disagreementRows >= 30, `disagreement slice: ${report.disagreementRows}`);
    assert.ok(
      report.classifier.accuracy >= report.baseline.bestAccuracy + MIN_BALANCED_OVER_BEST,
      `classifier ${report.classifier.accuracy} vs best single route ${report.baseline.bestAccuracy}`,
    );
    assert.ok(report.classifier.disagreement.accuracy >= MIN_DISAGREEMENT, `disagreement slice ${report.classifier.disagreement.accuracy}`);
    assert.match(report.classifier.provider, /^onnx \(/);
    const c = report.classifier.confusion;
    assert.equal(c.localOkRoutedLocal + c.localOkRoutedCloud + c.notOkRoutedLocal + c.notOkRoutedCloud, report.rows);
    assert.equal(c.localOkRoutedLocal + c.localOkRoutedCloud, report.labels.local + report.labels.either);
  });

  it('routes (balanced, DE -> FR) at least 0.15 above the best single route, and 0.7 on the disagreement slice', () => {
    const b = report.modes.balanced;
    assert.ok(
      b.accuracy.accuracy >= report.baseline.bestAccuracy + MIN_BALANCED_OVER_BEST,
      `balanced ${b.accuracy.accuracy} vs best single route ${report.baseline.bestAccuracy}`,
    );
    assert.ok(b.disagreement.accuracy >= MIN_DISAGREEMENT, `balanced on the disagreement slice ${b.disagreement.accuracy}`);
    assert.equal(b.routes.local + b.routes.cascade + b.routes.cloud + b.routes.later, report.rows);
    assert.equal(b.confusion.localOkRoutedCloud + b.confusion.notOkRoutedCloud, b.routes.cloud);
    assert.ok(b.carbon.routerG < b.carbon.allLocalG, `balanced ${b.carbon.routerG} g >= all-local ${b.carbon.allLocalG} g`);
  });

  it('never sends an inline completion to the cloud, whatever the classifier says', () => {
    const completions = report.perRow.filter((r) => r.kind === 'completion');
    assert.ok(completions.length > 0, 'the held-out split has completions');
    for (const r of completions) for (const route of Object.values(r.routes)) assert.notEqual(route, 'cloud', `${r.id}`);
    const sure = evaluatePolicy(
      rows.filter((r) => r.input.kind === 'completion'),
      completions.map(() => 0),
    );
    assert.equal(sure.modes.balanced.routes.cloud + sure.modes.greenest.routes.cloud, 0, 'not even at p = 0');
  });

  it('counts a local answer that will not do as local + cloud, and nothing beats the least possible', () => {
    for (const m of Object.values(report.modes)) {
      assert.ok(m.carbon.routerG >= m.carbon.minimumG - 1e-9, `${m.mode} ${m.carbon.routerG} g below the least possible ${m.carbon.minimumG} g`);
      assert.ok(m.carbon.minimumG <= Math.min(m.carbon.allCloudG, m.carbon.labelRoutesG) + 1e-9);
    }
    for (const s of report.sensitivity)
      assert.ok(s.greenestG >= s.minimumG - 1e-9 && s.balancedG >= s.minimumG - 1e-9, `${s.userZone} -> ${s.cloudZone}`);
    // p = 0 everywhere: balanced sends every task to the cloud (completions stay local), each paying the cloud alone.
    const allCloud = evaluatePolicy(
      rows,
      rows.map(() => 0),
    );
    const tasks = rows.filter((r) => r.input.kind !== 'completion').length;
    assert.equal(allCloud.modes.balanced.routes.cloud, tasks);
    const expected = allCloud.perRow.reduce(
      (g, r) => g + (r.routes.balanced === 'cloud' ? r.cloudG : r.localG + (r.label === 'cloud' ? r.cloudG : 0)),
      0,
    );
    assert.ok(
      Math.abs(allCloud.modes.balanced.carbon.routerG - expected) < 1e-6 * rows.length,
      `${allCloud.modes.balanced.carbon.routerG} vs ${expected}`,
    );
  });

  it('gives the same verdicts with the TS reference forward pass', async () => {
    const weights = loadWeights(readFileSync(path.resolve('src', 'core', 'routing', 'model', 'router-weights.json'), 'utf8'));
    const ref = await evaluateRouter(rows, (f) => f.map((x) => referenceForward(weights, x)), vectors, 'reference');
    assert.deepEqual(
      ref.perRow.map((r) => r.routes),
      report.perRow.map((r) => r.routes),
    );
    assert.equal(ref.classifier.correct, report.classifier.correct);
  });

  it('still reads the older size-only rows (eval.jsonl: draft confidence, speed, battery)', async () => {
    const older = await evaluateWithOnnx(
      readEvalRows(path.resolve('src', 'core', 'routing', 'model', 'eval.jsonl')),
      path.resolve(DEFAULT_MODEL_FILE),
    );
    assert.equal(older.rows, 40);
    assert.ok(older.classifier.accuracy >= 0.75, `eval.jsonl classifier ${older.classifier.accuracy}`);
  });
});
