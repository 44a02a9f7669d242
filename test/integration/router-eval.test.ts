// The router's offline evaluation (bench/evalRouter.ts, `npm run eval:router`) on the held-out eval.jsonl with the
// real onnxruntime-node: the classifier and the policy must beat the best single route, and the carbon accounting
// must hold together, so a regression in the model, the features or the policy fails here.
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import {
  DEFAULT_EVAL_FILE,
  DEFAULT_MODEL_FILE,
  evaluatePolicy,
  evaluateRouter,
  evaluateWithOnnx,
  readEvalRows,
  type EvalReport,
} from '../../bench/evalRouter';
import { loadWeights, referenceForward } from '../../src/core/routing/classifier';
import { GREENER_BY } from '../../src/core/routing/policy';
import { readFileSync } from 'node:fs';

describe('router evaluation on eval.jsonl', function () {
  this.timeout(60_000);
  const rows = readEvalRows(path.resolve(DEFAULT_EVAL_FILE));
  let report: EvalReport;
  before(async () => {
    report = await evaluateWithOnnx(rows, path.resolve(DEFAULT_MODEL_FILE));
  });

  it('classifies better than always answering the more common label', () => {
    assert.equal(report.rows, 40);
    assert.ok(
      report.classifier.accuracy >= report.baseline.bestAccuracy,
      `classifier ${report.classifier.accuracy} < best single route ${report.baseline.bestAccuracy}`,
    );
    assert.ok(report.classifier.accuracy >= 0.8, `classifier accuracy ${report.classifier.accuracy}`);
    assert.match(report.classifier.provider, /^onnx \(/);
    const c = report.classifier.confusion;
    assert.equal(c.localOkRoutedLocal + c.localOkRoutedCloud + c.notOkRoutedLocal + c.notOkRoutedCloud, report.rows);
    assert.equal(c.localOkRoutedLocal + c.localOkRoutedCloud, report.labelledLocalOk);
  });

  it('routes (balanced) at least as accurately as the best single route, and with fewer grams than all-local', () => {
    const b = report.modes.balanced;
    assert.ok(
      b.accuracy.accuracy >= report.baseline.bestAccuracy,
      `balanced ${b.accuracy.accuracy} < best single route ${report.baseline.bestAccuracy}`,
    );
    assert.equal(b.routes.local + b.routes.cascade + b.routes.cloud + b.routes.later, report.rows);
    assert.equal(b.confusion.localOkRoutedCloud + b.confusion.notOkRoutedCloud, b.routes.cloud);
    assert.ok(b.carbon.routerG < b.carbon.allLocalG, `balanced ${b.carbon.routerG} g >= all-local ${b.carbon.allLocalG} g`);
  });

  it('greenest emits no more than all-cloud or all-local, and nothing beats the least possible', () => {
    const g = report.modes.greenest.carbon;
    assert.ok(g.routerG <= g.allCloudG * (1 + 1e-9), `greenest ${g.routerG} g > all-cloud ${g.allCloudG} g`);
    assert.ok(g.routerG <= g.allLocalG, `greenest ${g.routerG} g > all-local ${g.allLocalG} g`);
    for (const m of Object.values(report.modes)) {
      assert.ok(m.carbon.routerG >= m.carbon.minimumG - 1e-9, `${m.mode} ${m.carbon.routerG} g below the least possible ${m.carbon.minimumG} g`);
      assert.ok(m.carbon.minimumG <= Math.min(m.carbon.allCloudG, m.carbon.labelRoutesG) + 1e-9);
    }
    for (const s of report.sensitivity)
      assert.ok(s.greenestG >= s.minimumG - 1e-9 && s.balancedG >= s.minimumG - 1e-9, `${s.userZone} -> ${s.cloudZone}`);
  });

  it('counts a local answer that will not do as local + cloud, and a cloud answer as the cloud alone', () => {
    // p = 1 everywhere: balanced trusts the local model wherever the request fits its context (any row with 2,048
    // tokens to spare surely fits) and the cloud is not GREENER_BY times greener; a not-ok row routed local pays for
    // the cloud retry too.
    const allLocal = evaluatePolicy(
      rows,
      rows.map(() => 1),
    );
    const expected = allLocal.perRow.reduce((sum, r) => sum + (r.routes.balanced !== 'cloud' ? r.localG + (r.localOk ? 0 : r.cloudG) : r.cloudG), 0);
    assert.ok(Math.abs(allLocal.modes.balanced.carbon.routerG - expected) < 1e-5, `${allLocal.modes.balanced.carbon.routerG} vs ${expected}`);
    rows.forEach((row, i) => {
      const r = allLocal.perRow[i]!;
      if (row.input.promptTokens + 2048 > row.input.localContextTokens) return;
      assert.equal(r.routes.balanced, r.localG > GREENER_BY * r.cloudG ? 'cloud' : 'local', `row ${i + 1}`);
    });
    assert.ok(allLocal.modes.balanced.routes.local > 0 && allLocal.modes.balanced.routes.cloud > 0, 'both rules apply on this grid pair');
    // p = 0 everywhere: balanced goes to the cloud on every row.
    const allCloud = evaluatePolicy(
      rows,
      rows.map(() => 0),
    );
    assert.equal(allCloud.modes.balanced.routes.cloud, rows.length);
    assert.ok(Math.abs(allCloud.modes.balanced.carbon.routerG - allCloud.modes.balanced.carbon.allCloudG) < 1e-6);
    assert.equal(allCloud.modes.balanced.accuracy.correct, rows.length - report.labelledLocalOk);
  });

  it('gives the same verdicts with the TS reference forward pass', async () => {
    const weights = loadWeights(readFileSync(path.resolve('src', 'core', 'routing', 'model', 'router-weights.json'), 'utf8'));
    const ref = await evaluateRouter(rows, (f) => f.map((x) => referenceForward(weights, x)), 'reference');
    assert.deepEqual(
      ref.perRow.map((r) => r.routes),
      report.perRow.map((r) => r.routes),
    );
    assert.equal(ref.classifier.correct, report.classifier.correct);
  });
});
