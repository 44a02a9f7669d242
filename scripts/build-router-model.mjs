#!/usr/bin/env node
// Trains the router's classifier ("does the local model suffice?") on src/core/routing/model/train.jsonl, reports train and
// eval accuracy, and writes src/core/routing/model/router.onnx and src/core/routing/model/router-weights.json.
//
// Model: logistic regression p_local = sigmoid(w . x + b) over the 16 features of src/core/routing/features.ts
// (featureVector below is the same computation; test/integration/router-onnx.test.ts checks they agree on every row).
// Training: full-batch gradient descent from zero weights, fixed learning rate and epochs, L2 on w (not b), every
// weight rounded to float32 at the end. No randomness anywhere, so every run writes the same bytes.
// ONNX: a zero-dependency protobuf writer; ModelProto IR 8, opset 13; graph features[N,16] -> Gemm(transB=1) ->
// Sigmoid -> p_local[N,1].
//
// Usage: node scripts/build-router-model.mjs [--out DIR]   (default: src/core/routing/model next to this script)
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DATA = path.join(ROOT, 'src', 'core', 'routing', 'model');

export const ROUTING_KINDS = ['completion', 'explain', 'refactor', 'tests', 'summarize', 'commit', 'ask'];
export const FEATURE_COUNT = 16;
export const TRAINING = { learningRate: 1, epochs: 20000, l2: 0.0001 };

const nonNegative = (v) => (v !== undefined && Number.isFinite(v) && v > 0 ? v : 0);
const logScaled = (v, scale) => Math.min(2, Math.log1p(v) / scale);
const clamp01 = (v) => Math.min(1, Math.max(0, v));

function draftConfidence(lp) {
  if (lp === undefined || Number.isNaN(lp)) return 0.5;
  if (lp === Number.NEGATIVE_INFINITY) return 0;
  if (!Number.isFinite(lp)) return 0.5;
  return clamp01(Math.exp(Math.min(0, lp)));
}

/** The same vector as featureVector in src/core/routing/features.ts. */
export function featureVector(input) {
  const v = new Float32Array(FEATURE_COUNT);
  const k = ROUTING_KINDS.indexOf(input.kind);
  if (k < 0) throw new RangeError(`Unknown routing kind '${String(input.kind)}'`);
  v[k] = 1;
  const tokens = nonNegative(input.promptTokens);
  const context = nonNegative(input.localContextTokens);
  v[7] = logScaled(tokens, 10);
  v[8] = context > 0 ? Math.min(4, tokens / context) : 4;
  v[9] = logScaled(nonNegative(input.files), 4);
  v[10] = logScaled(nonNegative(input.selectionChars), 12);
  v[11] = logScaled(nonNegative(input.localTokensPerSecond), 5);
  const hasDraft = input.draftMeanLogProb !== undefined && !Number.isNaN(input.draftMeanLogProb);
  v[12] = draftConfidence(input.draftMeanLogProb);
  v[13] = hasDraft ? 1 : 0;
  const a = input.recentAcceptance;
  v[14] = a !== undefined && Number.isFinite(a) ? clamp01(a) : 0.5;
  v[15] = input.onBattery ? 1 : 0;
  return v;
}

export function readRows(file) {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l, i) => {
      const row = JSON.parse(l);
      if (typeof row.localOk !== 'boolean' || typeof row.input !== 'object') throw new Error(`${file}:${i + 1}: expected {input, localOk, why}`);
      return row;
    });
}

const sigmoid = (z) => 1 / (1 + Math.exp(-z));

/** Full-batch gradient descent on the mean log-loss + l2/2 |w|^2, from zeros. */
export function train(rows, { learningRate, epochs, l2 } = TRAINING) {
  const xs = rows.map((r) => featureVector(r.input));
  const ys = rows.map((r) => (r.localOk ? 1 : 0));
  const w = new Array(FEATURE_COUNT).fill(0);
  let b = 0;
  const n = rows.length;
  for (let epoch = 0; epoch < epochs; epoch++) {
    const gw = new Array(FEATURE_COUNT).fill(0);
    let gb = 0;
    for (let i = 0; i < n; i++) {
      const x = xs[i];
      let z = b;
      for (let j = 0; j < FEATURE_COUNT; j++) z += w[j] * x[j];
      const err = sigmoid(z) - ys[i];
      for (let j = 0; j < FEATURE_COUNT; j++) gw[j] += err * x[j];
      gb += err;
    }
    for (let j = 0; j < FEATURE_COUNT; j++) w[j] -= learningRate * (gw[j] / n + l2 * w[j]);
    b -= learningRate * (gb / n);
  }
  return { weights: w.map(Math.fround), bias: Math.fround(b) };
}

/** The float32 model's probability, in double precision (as referenceForward in src/core/routing/classifier.ts). */
export function forward(model, x) {
  let z = model.bias;
  for (let j = 0; j < FEATURE_COUNT; j++) z += model.weights[j] * x[j];
  return sigmoid(z);
}

export function accuracy(model, rows) {
  let correct = 0;
  for (const r of rows) if (forward(model, featureVector(r.input)) >= 0.5 === r.localOk) correct++;
  return { correct, total: rows.length };
}

// ---- protobuf (proto3 wire format): varint, length-delimited; enough for ONNX's ModelProto ----
function varint(n) {
  const out = [];
  let v = BigInt(n);
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) byte |= 0x80;
    out.push(byte);
  } while (v > 0n);
  return Buffer.from(out);
}
const key = (field, wire) => varint((field << 3) | wire);
const int = (field, n) => Buffer.concat([key(field, 0), varint(n)]);
const bytes = (field, buf) => Buffer.concat([key(field, 2), varint(buf.length), buf]);
const str = (field, s) => bytes(field, Buffer.from(s, 'utf8'));
const msg = (field, ...parts) => bytes(field, Buffer.concat(parts));

const FLOAT = 1; // TensorProto.DataType.FLOAT
const ATTR_INT = 2; // AttributeProto.AttributeType.INT

function tensor(field, name, dims, values) {
  const raw = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => raw.writeFloatLE(v, i * 4));
  // TensorProto: dims=1, data_type=2, name=8, raw_data=9
  return msg(field, ...dims.map((d) => int(1, d)), int(2, FLOAT), str(8, name), bytes(9, raw));
}

/** ValueInfoProto{name=1, type=2: TypeProto{tensor_type=1: {elem_type=1, shape=2: {dim=1: {dim_value=1 | dim_param=2}}}}} */
function valueInfo(field, name, dims) {
  const dim = (d) => msg(1, typeof d === 'string' ? str(2, d) : int(1, d));
  return msg(field, str(1, name), msg(2, msg(1, int(1, FLOAT), msg(2, ...dims.map(dim)))));
}

/** NodeProto{input=1, output=2, name=3, op_type=4, attribute=5: AttributeProto{name=1, i=3, type=20}} */
function node(inputs, outputs, name, opType, intAttrs = {}) {
  const attrs = Object.entries(intAttrs).map(([k, v]) => msg(5, str(1, k), int(3, v), int(20, ATTR_INT)));
  return msg(1, ...inputs.map((s) => str(1, s)), ...outputs.map((s) => str(2, s)), str(3, name), str(4, opType), ...attrs);
}

export function onnxModel(model) {
  // GraphProto: node=1, name=2, initializer=5, doc_string=10, input=11, output=12
  const graph = Buffer.concat([
    node(['features', 'W', 'B'], ['logit'], 'gemm', 'Gemm', { transB: 1 }),
    node(['logit'], ['p_local'], 'sigmoid', 'Sigmoid'),
    str(2, 'verdant_router'),
    tensor(5, 'W', [1, FEATURE_COUNT], model.weights),
    tensor(5, 'B', [1], [model.bias]),
    str(10, 'Verdant router: probability that the local model suffices for a request (features: src/core/routing/features.ts)'),
    valueInfo(11, 'features', ['N', FEATURE_COUNT]),
    valueInfo(12, 'p_local', ['N', 1]),
  ]);
  // ModelProto: ir_version=1, producer_name=2, producer_version=3, graph=7, opset_import=8 {domain=1, version=2}
  return Buffer.concat([int(1, 8), str(2, 'verdant-build-router-model'), str(3, '1'), msg(7, graph), msg(8, str(1, ''), int(2, 13))]);
}

function parseOut(argv) {
  const i = argv.indexOf('--out');
  if (i < 0) return DATA;
  const dir = argv[i + 1];
  if (!dir || dir.startsWith('--')) throw new Error('--out needs a directory');
  return path.resolve(dir);
}

export function main(argv = process.argv.slice(2)) {
  const out = parseOut(argv);
  const trainRows = readRows(path.join(DATA, 'train.jsonl'));
  const evalRows = readRows(path.join(DATA, 'eval.jsonl'));
  const model = train(trainRows);
  const tr = accuracy(model, trainRows);
  const ev = accuracy(model, evalRows);
  const fmt = (a) => `${a.correct}/${a.total} = ${(a.correct / a.total).toFixed(4)}`;
  console.log(`train accuracy: ${fmt(tr)}`);
  console.log(`eval accuracy: ${fmt(ev)}`);
  mkdirSync(out, { recursive: true });
  const json = {
    format: 'verdant-router-logistic-v1',
    features: FEATURE_COUNT,
    weights: model.weights,
    bias: model.bias,
    training: { ...TRAINING, rows: trainRows.length },
    trainAccuracy: tr,
    evalAccuracy: ev,
  };
  writeFileSync(path.join(out, 'router-weights.json'), JSON.stringify(json, null, 2) + '\n');
  writeFileSync(path.join(out, 'router.onnx'), onnxModel(model));
  console.log(`wrote ${path.join(out, 'router.onnx')} and router-weights.json`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) main();
