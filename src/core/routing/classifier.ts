// The router's classifier in plain TypeScript: the same logistic regression as src/core/routing/model/router.onnx
// (p_local = sigmoid(w . x + b)), read from src/core/routing/model/router-weights.json. Pure. The extension and
// `verdant route` route with it in-process (16 multiply-adds need no native runtime, no worker); router.onnx on
// onnxruntime-node gives the same p to 1e-6 (test/integration/router-onnx.test.ts) and stays in the engine worker.
import { FEATURE_COUNT } from './features';

export interface RouterWeights {
  readonly weights: Float32Array;
  readonly bias: number;
}

/** The classifier name the routing log and `verdant route` show for this forward pass. */
export const TS_CLASSIFIER = 'ts';

/** What scripts/build-router-model.mjs writes in router-weights.json. */
export const WEIGHTS_FORMAT = 'verdant-router-logistic-v1';

function finite(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

/** Validates router-weights.json (parsed or as text): format, FEATURE_COUNT finite weights, a finite bias. */
export function loadWeights(json: unknown): RouterWeights {
  const data: unknown = typeof json === 'string' ? JSON.parse(json) : json;
  const bad = (what: string): never => {
    throw new Error(`Invalid router weights: ${what}. Rebuild them with 'node scripts/build-router-model.mjs'.`);
  };
  if (typeof data !== 'object' || data === null) return bad('expected a JSON object');
  const o = data as Record<string, unknown>;
  if (o.format !== WEIGHTS_FORMAT) bad(`format is ${JSON.stringify(o.format)}, expected "${WEIGHTS_FORMAT}"`);
  if (o.features !== FEATURE_COUNT) bad(`features is ${JSON.stringify(o.features)}, expected ${FEATURE_COUNT}`);
  const w = o.weights;
  if (!Array.isArray(w) || w.length !== FEATURE_COUNT) bad(`weights must be an array of ${FEATURE_COUNT} numbers`);
  const list = w as unknown[];
  const at = list.findIndex((v) => !finite(v));
  if (at >= 0) bad(`weights[${at}] is not a finite number`);
  if (!finite(o.bias)) bad('bias is not a finite number');
  return { weights: Float32Array.from(list as number[]), bias: Math.fround(o.bias as number) };
}

/** P(the local model suffices) for one feature vector, in double precision over the float32 weights. */
export function referenceForward(model: RouterWeights, features: Float32Array): number {
  if (features.length !== model.weights.length) {
    throw new RangeError(`Expected ${model.weights.length} features, got ${features.length}.`);
  }
  let z = model.bias;
  for (let j = 0; j < features.length; j++) z += model.weights[j]! * features[j]!; // the lengths match (checked above)
  return 1 / (1 + Math.exp(-z));
}
