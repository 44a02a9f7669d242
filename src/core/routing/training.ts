// The router's labelled corpus (src/core/routing/model/corpus/*.jsonl) and its training: how a corpus request
// becomes the classifier's input, which requests are held out (a fixed hash of the id, never trained on), and
// logistic regression by full-batch gradient descent from zero weights (deterministic: the same bytes every run).
// Used by scripts/build-router-model.mjs (which writes the model files) and bench/evalRouter.ts (which scores
// the router on the held-out split).
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { featureVector, FEATURE_COUNT, ROUTING_KINDS, type RoutingInput, type RoutingKind } from './features';
import { fnv1a } from './text';
import { parseWordVectors, type WordVectors } from './wordVectors';

// The build script bundles this module alone: it needs the feature function and the word vectors too.
export { featureVector, FEATURE_COUNT } from './features';
export { parseWordVectors } from './wordVectors';

/** The router's word vectors (src/core/routing/model/word-vectors.bin), read from a file. */
export function readWordVectors(file: string): WordVectors {
  return parseWordVectors(readFileSync(file));
}

export const LABELS = ['local', 'cloud', 'either'] as const;
export type Label = (typeof LABELS)[number];
export const TAGS = ['short-hard', 'long-mechanical', 'twin'] as const;

/** One labelled request as written in the corpus (see src/core/routing/model/README.md). */
export interface CorpusRow {
  readonly id: string;
  readonly kind: RoutingKind;
  /** What the user typed ('' for commands that take no text). */
  readonly text: string;
  readonly language: string;
  /** An excerpt of the code the request carries (at most 40 lines). */
  readonly code: string;
  /** Characters of the whole selection, file or diff. */
  readonly codeChars: number;
  readonly files: number;
  readonly promptTokens: number;
  readonly label: Label;
  readonly why: string;
  readonly tags: readonly string[];
  readonly twin?: string;
}

/** The local context the corpus assumes (the catalogue's 1.5B coder models run with 8k). */
export const CORPUS_CONTEXT_TOKENS = 8192;
/** One request in five is held out, chosen by a hash of its id (stable as the corpus grows). */
const HELD_OUT_EVERY = 5;

/** A pair of twins is split by the smaller id, so both land on the same side of every split. */
function splitKey(row: Pick<CorpusRow, 'id' | 'twin'>): string {
  return row.twin !== undefined && row.twin < row.id ? row.twin : row.id;
}

/** Whether a request belongs to the held-out split: never trained on, only scored. Twins stay together. */
export function isHeldOut(row: Pick<CorpusRow, 'id' | 'twin'>): boolean {
  return fnv1a(splitKey(row)) % HELD_OUT_EVERY === 0;
}

/** Folds of the cross-validation over the training rows (chosen by another hash of the id; twins together). */
export const CV_FOLDS = 5;
export function cvFold(row: Pick<CorpusRow, 'id' | 'twin'>): number {
  return fnv1a(`cv:${splitKey(row)}`) % CV_FOLDS;
}

/** Parses and checks one corpus file (JSON Lines); errors name the file and line. */
export function parseCorpus(content: string, file: string): CorpusRow[] {
  const rows: CorpusRow[] = [];
  content.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    const at = `${file}:${i + 1}`;
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(line) as Record<string, unknown>;
    } catch (e) {
      throw new Error(`${at}: not JSON (${(e as Error).message})`);
    }
    const str = (k: string) => {
      if (typeof o[k] !== 'string') throw new Error(`${at}: "${k}" must be a string`);
      return o[k] as string;
    };
    const num = (k: string) => {
      const v = o[k];
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new Error(`${at}: "${k}" must be a number >= 0`);
      return v;
    };
    const kind = str('kind') as RoutingKind;
    if (!ROUTING_KINDS.includes(kind)) throw new Error(`${at}: unknown kind "${kind}"`);
    const label = str('label') as Label;
    if (!LABELS.includes(label)) throw new Error(`${at}: label must be one of ${LABELS.join(', ')}`);
    const tags = Array.isArray(o.tags) ? o.tags.filter((t): t is string => typeof t === 'string') : [];
    rows.push({
      id: str('id'),
      kind,
      text: str('text'),
      language: str('language'),
      code: str('code'),
      codeChars: num('codeChars'),
      files: num('files'),
      promptTokens: num('promptTokens'),
      label,
      why: str('why'),
      tags,
      ...(typeof o.twin === 'string' ? { twin: o.twin } : {}),
    });
  });
  return rows;
}

/** Every `*.jsonl` file of a corpus folder, in name order, parsed and checked as one corpus. */
export function readCorpusDir(dir: string): CorpusRow[] {
  const rows = readdirSync(dir)
    .filter((f) => f.endsWith('.jsonl'))
    .sort()
    .flatMap((f) => parseCorpus(readFileSync(path.join(dir, f), 'utf8'), f));
  checkCorpus(rows);
  return rows;
}

/** Lines a corpus excerpt may hold: the request's first lines (the features read no more of a long paste). */
export const MAX_EXCERPT_LINES = 40;
/** A line that stands for code not written out: `// ...`, `# ... 60 more`, `(truncated)`. */
const ELISION =
  /^\s*(?:\/\/|#|--|\/\*|\*|<!--|;)?\s*(?:\.\.\.|…)\s*(?:\*\/|-->)?\s*$|(?:\.\.\.|…)\s*\d*\s*(?:more|rest|etc|same|omitted|truncated|cases|lines)\b|\((?:truncated|omitted|snip)\)|<rest of|\[snip\]/i;

/**
 * Checks a whole corpus: unique ids, twins that exist and disagree (local against cloud), and excerpts that are real
 * code: at most MAX_EXCERPT_LINES lines, none of them standing for lines left out (the model is trained on what the
 * excerpt shows, so an elided excerpt teaches it on code nobody wrote).
 */
export function checkCorpus(rows: readonly CorpusRow[]): void {
  const byId = new Map<string, CorpusRow>();
  for (const r of rows) {
    if (byId.has(r.id)) throw new Error(`corpus: id "${r.id}" appears twice`);
    byId.set(r.id, r);
    const lines = r.code.split('\n');
    if (lines.length > MAX_EXCERPT_LINES) {
      throw new Error(
        `corpus: "${r.id}" shows ${lines.length} lines of code; keep its first ${MAX_EXCERPT_LINES} (codeChars says how long the whole is)`,
      );
    }
    const elided = lines.find((l) => ELISION.test(l));
    if (elided !== undefined) {
      throw new Error(`corpus: "${r.id}" elides its code (${JSON.stringify(elided.trim())}): write the lines out, up to ${MAX_EXCERPT_LINES}`);
    }
  }
  for (const r of rows) {
    if (r.twin === undefined) continue;
    const t = byId.get(r.twin);
    if (!t) throw new Error(`corpus: "${r.id}" names a twin "${r.twin}" that does not exist`);
    if (t.label === r.label) throw new Error(`corpus: twins "${r.id}" and "${t.id}" have the same label`);
  }
}

/** The classifier's input for a corpus request: what the extension's router sees for it, before any draft. */
export function corpusInput(r: CorpusRow): RoutingInput {
  // Selection-based commands carry the selection; Ask, Summarize, commit and completions report no selection.
  const selection = r.kind === 'explain' || r.kind === 'refactor' || r.kind === 'tests' ? r.codeChars : 0;
  return {
    kind: r.kind,
    promptTokens: r.promptTokens,
    localContextTokens: CORPUS_CONTEXT_TOKENS,
    files: r.files,
    selectionChars: selection,
    onBattery: false,
    text: r.text,
    code: r.code,
    language: r.language,
  };
}

/** 1 when the local model suffices (local or either), 0 when the request needs the cloud. */
export function target(label: Label): number {
  return label === 'cloud' ? 0 : 1;
}

/** Whether a route agrees with a label: either route does for "either". */
export function agrees(route: 'local' | 'cloud', label: Label): boolean {
  return label === 'either' || route === label;
}

export interface TrainingOptions {
  readonly learningRate: number;
  readonly epochs: number;
  /** L2 on the weights (not the bias). */
  readonly l2: number;
}

export interface LogisticModel {
  readonly weights: number[];
  readonly bias: number;
}

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

/**
 * Full-batch gradient descent on the mean log-loss + l2/2 |w|^2 from zeros; weights
 * rounded to float32 at the end.
 */
export function trainLogistic(xs: readonly Float32Array[], ys: readonly number[], o: TrainingOptions): LogisticModel {
  const n = xs.length;
  const d = FEATURE_COUNT;
  const w = new Float64Array(d);
  let b = 0;
  const gw = new Float64Array(d);
  // Most entries are zero (other kinds' blocks, empty buckets): walk each row's non-zero entries only.
  const rows = xs.map((x) => {
    const at: number[] = [];
    x.forEach((v, j) => {
      if (v !== 0) at.push(j);
    });
    return { at, x };
  });
  for (let epoch = 0; epoch < o.epochs; epoch++) {
    gw.fill(0);
    let gb = 0;
    for (let i = 0; i < n; i++) {
      const { at, x } = rows[i]!;
      let z = b;
      for (const j of at) z += w[j]! * x[j]!;
      const err = sigmoid(z) - ys[i]!;
      if (err === 0) continue;
      for (const j of at) gw[j] = gw[j]! + err * x[j]!;
      gb += err;
    }
    for (let j = 0; j < d; j++) w[j] = w[j]! - o.learningRate * (gw[j]! / n + o.l2 * w[j]!);
    b -= o.learningRate * (gb / n);
  }
  return { weights: Array.from(w, Math.fround), bias: Math.fround(b) };
}

/** P(local suffices) of the float32 model, in double precision (as referenceForward in classifier.ts). */
export function predict(model: LogisticModel, x: Float32Array): number {
  let z = model.bias;
  for (let j = 0; j < x.length; j++) z += model.weights[j]! * x[j]!;
  return sigmoid(z);
}

/** The feature vectors and targets of corpus rows. */
export function corpusMatrix(rows: readonly CorpusRow[], vectors: WordVectors): { xs: Float32Array[]; ys: number[] } {
  return { xs: rows.map((r) => featureVector(corpusInput(r), vectors)), ys: rows.map((r) => target(r.label)) };
}

/**
 * Cross-validation on the training rows: each row's p from a model trained on the other folds (plus `extra`, rows
 * that are always trained on, such as the older size-only ones). Used to choose the training settings and the
 * policy's thresholds without looking at the held-out split.
 */
export function outOfFold(
  rows: readonly CorpusRow[],
  extra: { readonly xs: readonly Float32Array[]; readonly ys: readonly number[] },
  o: TrainingOptions,
  vectors: WordVectors,
): number[] {
  const { xs, ys } = corpusMatrix(rows, vectors);
  const folds = rows.map(cvFold);
  const p = new Array<number>(rows.length).fill(Number.NaN);
  for (let f = 0; f < CV_FOLDS; f++) {
    const inTrain = (_: unknown, i: number) => folds[i] !== f;
    const model = trainLogistic([...xs.filter(inTrain), ...extra.xs], [...ys.filter(inTrain), ...extra.ys], o);
    folds.forEach((g, i) => {
      if (g === f) p[i] = predict(model, xs[i]!);
    });
  }
  return p;
}
