// The router's feature vector (src/core/routing/features.ts) and the TS classifier (classifier.ts): layout,
// one-hot kinds, scaling, edge inputs that must never produce NaN, and weight validation.
import * as assert from 'node:assert/strict';
import { FEATURE_COUNT, FEATURE_NAMES, ROUTING_KINDS, draftConfidence, featureVector, type RoutingInput } from '../../src/core/routing/features';
import { WEIGHTS_FORMAT, loadWeights, referenceForward } from '../../src/core/routing/classifier';
import { readRouterVectors } from '../support/routerVectors';

const vectors = readRouterVectors();

const base: RoutingInput = {
  kind: 'explain',
  promptTokens: 1000,
  localContextTokens: 8192,
  files: 1,
  selectionChars: 3000,
  localTokensPerSecond: 40,
  draftMeanLogProb: -0.5,
  recentAcceptance: 0.3,
  onBattery: true,
};

const at = (v: Float32Array, name: (typeof FEATURE_NAMES)[number]): number => v[FEATURE_NAMES.indexOf(name)]!;

describe('router features', () => {
  it('has FEATURE_COUNT named float32 entries: 16 facts, the kinds first in ROUTING_KINDS order, then the text', () => {
    assert.equal(FEATURE_NAMES.length, FEATURE_COUNT);
    assert.equal(new Set(FEATURE_NAMES).size, FEATURE_COUNT);
    assert.equal(FEATURE_NAMES[15], 'on_battery');
    assert.ok(FEATURE_NAMES[16]!.startsWith('t_'), FEATURE_NAMES[16]);
    assert.deepEqual(
      FEATURE_NAMES.slice(0, 7),
      ROUTING_KINDS.map((k) => `kind_${k}`),
    );
    const v = featureVector(base, vectors);
    assert.ok(v instanceof Float32Array);
    assert.equal(v.length, FEATURE_COUNT);
  });

  it('one-hot encodes every kind', () => {
    ROUTING_KINDS.forEach((kind, i) => {
      const v = featureVector({ ...base, kind }, vectors);
      assert.deepEqual(
        Array.from(v.slice(0, 7)),
        ROUTING_KINDS.map((_, j) => (j === i ? 1 : 0)),
        kind,
      );
    });
  });

  it("copies the size facts and the text cues into the request's own kind's block, and leaves the other kinds' blocks zero", () => {
    const input: RoutingInput = { ...base, text: 'why does this race?', code: 'mutex.lock();\nx += 1;\nmutex.unlock();' };
    for (const kind of ROUTING_KINDS) {
      const v = featureVector({ ...input, kind }, vectors);
      for (const name of ['log_prompt_tokens', 'log_files', 't_why', 't_concurrency', 'c_lines']) {
        const own = FEATURE_NAMES.indexOf(`${kind}:${name}`);
        assert.ok(own > 0, `${kind}:${name} is named`);
        assert.equal(v[own], v[FEATURE_NAMES.indexOf(name)], `${kind}:${name}`);
      }
      for (const other of ROUTING_KINDS.filter((k) => k !== kind)) {
        const block = FEATURE_NAMES.flatMap((n, i) => (n.startsWith(`${other}:`) ? [v[i]] : []));
        assert.ok(block.length > 0 && block.every((x) => x === 0), `${other}'s block is zero for a ${kind} request`);
      }
    }
  });

  it('rejects an unknown kind with a message naming the valid ones', () => {
    assert.throws(
      () => featureVector({ ...base, kind: 'poem' as RoutingInput['kind'] }, vectors),
      /Unknown routing kind 'poem'.*completion, explain/,
    );
  });

  it('scales sizes logarithmically and the context ratio linearly', () => {
    const v = featureVector(base, vectors);
    assert.ok(Math.abs(at(v, 'log_prompt_tokens') - Math.log1p(1000) / 10) < 1e-6);
    assert.ok(Math.abs(at(v, 'prompt_to_context') - 1000 / 8192) < 1e-6);
    assert.ok(Math.abs(at(v, 'log_files') - Math.log1p(1) / 4) < 1e-6);
    assert.ok(Math.abs(at(v, 'log_selection_chars') - Math.log1p(3000) / 12) < 1e-6);
    assert.ok(Math.abs(at(v, 'log_local_tps') - Math.log1p(40) / 5) < 1e-6);
    assert.ok(Math.abs(at(v, 'draft_confidence') - Math.exp(-0.5)) < 1e-6);
    assert.equal(at(v, 'has_draft'), 1);
    assert.ok(Math.abs(at(v, 'recent_acceptance') - 0.3) < 1e-6);
    assert.equal(at(v, 'on_battery'), 1);
    assert.equal(at(featureVector({ ...base, onBattery: false }, vectors), 'on_battery'), 0);
  });

  it('uses the documented defaults when nothing is measured', () => {
    const v = featureVector(
      { kind: 'completion', promptTokens: 200, localContextTokens: 8192, files: 1, selectionChars: 0, onBattery: false },
      vectors,
    );
    assert.equal(at(v, 'log_local_tps'), 0);
    assert.equal(at(v, 'draft_confidence'), 0.5);
    assert.equal(at(v, 'has_draft'), 0);
    assert.equal(at(v, 'recent_acceptance'), 0.5);
    assert.equal(at(v, 'log_selection_chars'), 0);
    assert.equal(at(featureVector({ ...base, localTokensPerSecond: 0 }, vectors), 'log_local_tps'), 0);
  });

  it('maps the draft log-prob to 0..1', () => {
    assert.equal(draftConfidence(0), 1);
    assert.equal(draftConfidence(0.3), 1, 'a positive log-prob is clamped to 1');
    assert.equal(draftConfidence(Number.NEGATIVE_INFINITY), 0);
    assert.ok(draftConfidence(-50) < 1e-20);
    assert.equal(draftConfidence(undefined), 0.5);
    assert.equal(draftConfidence(Number.NaN), 0.5);
    assert.ok(draftConfidence(-0.5) > draftConfidence(-2));
  });

  it('clamps the context ratio at 4, also when the context size is unknown', () => {
    assert.equal(at(featureVector({ ...base, promptTokens: 100_000, localContextTokens: 4096 }, vectors), 'prompt_to_context'), 4);
    assert.equal(at(featureVector({ ...base, localContextTokens: 0 }, vectors), 'prompt_to_context'), 4);
    assert.equal(at(featureVector({ ...base, promptTokens: 0 }, vectors), 'prompt_to_context'), 0);
  });

  it('never produces NaN or infinities from hostile numbers', () => {
    const hostile = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -1, -1e300, 0, 1e300];
    for (const h of hostile) {
      const v = featureVector(
        {
          kind: 'ask',
          promptTokens: h,
          localContextTokens: h,
          files: h,
          selectionChars: h,
          localTokensPerSecond: h,
          draftMeanLogProb: h,
          recentAcceptance: h,
          onBattery: false,
        },
        vectors,
      );
      for (let i = 0; i < v.length; i++) assert.ok(Number.isFinite(v[i]), `${FEATURE_NAMES[i]} = ${v[i]} for input ${h}`);
      for (let i = 7; i < v.length; i++) assert.ok(v[i]! >= 0 && v[i]! <= 4, `${FEATURE_NAMES[i]} = ${v[i]} for input ${h}`);
    }
    const huge = featureVector({ ...base, promptTokens: 1e300, files: 1e300, selectionChars: 1e300, localTokensPerSecond: 1e300 }, vectors);
    for (const name of ['log_prompt_tokens', 'log_files', 'log_selection_chars', 'log_local_tps'] as const) assert.equal(at(huge, name), 2, name);
    assert.equal(at(featureVector({ ...base, recentAcceptance: 7 }, vectors), 'recent_acceptance'), 1);
    assert.equal(at(featureVector({ ...base, recentAcceptance: -2 }, vectors), 'recent_acceptance'), 0);
  });
});

describe('router classifier (TS reference)', () => {
  const N = FEATURE_COUNT;
  const json = { format: WEIGHTS_FORMAT, features: N, weights: Array.from({ length: N }, (_, i) => ((i % 16) - 8) / 10), bias: 0.25 };

  it('computes sigmoid(w . x + b)', () => {
    const model = loadWeights(json);
    const x = featureVector(base, vectors);
    let z = Math.fround(0.25);
    for (let j = 0; j < N; j++) z += Math.fround(((j % 16) - 8) / 10) * x[j]!;
    assert.ok(Math.abs(referenceForward(model, x) - 1 / (1 + Math.exp(-z))) < 1e-12);
    const zero = loadWeights({ ...json, weights: new Array(N).fill(0), bias: 0 });
    assert.equal(referenceForward(zero, x), 0.5);
    assert.throws(() => referenceForward(model, new Float32Array(3)), new RegExp(`Expected ${N} features, got 3`));
  });

  it('accepts the JSON text as well as the parsed object', () => {
    assert.deepEqual(loadWeights(JSON.stringify(json)), loadWeights(json));
  });

  it('rejects weights of the wrong shape or content with a fix-naming message', () => {
    const cases: [unknown, RegExp][] = [
      [null, /expected a JSON object/],
      [{ ...json, format: 'other' }, /format is "other"/],
      [{ ...json, features: 12 }, new RegExp(`features is 12, expected ${N}`)],
      [{ ...json, weights: [1, 2, 3] }, new RegExp(`array of ${N} numbers`)],
      [{ ...json, weights: 'x' }, new RegExp(`array of ${N} numbers`)],
      [{ ...json, weights: [...json.weights.slice(0, N - 1), 'a'] }, new RegExp(`weights\\[${N - 1}\\] is not a finite number`)],
      [{ ...json, weights: [Number.NaN, ...json.weights.slice(1)] }, /weights\[0\]/],
      [{ ...json, bias: undefined }, /bias is not a finite number/],
    ];
    for (const [input, re] of cases) {
      assert.throws(
        () => loadWeights(input),
        (e: unknown) => e instanceof Error && re.test(e.message) && /build-router-model/.test(e.message),
        String(re),
      );
    }
  });
});
