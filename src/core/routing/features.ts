// The router's feature vector: a fixed-length Float32Array describing one request, the input of the classifier
// that answers "does the local model suffice?" (src/core/routing/classifier.ts, src/core/routing/model/router.onnx).
// Pure. Three parts: the request's measurable facts (kind, size, speed, a draft's confidence, acceptance, power),
// what it asks (src/core/routing/text.ts: cues from the typed words and the code, and the words hashed), and the
// size facts and cues again in one block per kind, so a linear model can weigh them per kind (a long diff is
// mechanical for a commit message and not for an explanation; "why" means more in Ask than in Refactor). Every
// feature is scaled to roughly 0..1 so one learning rate fits all of them. The layout is part of the model's
// contract: scripts/build-router-model.mjs trains on this very function (bundled), so changing anything here means
// rebuilding the model (test/integration/router-onnx.test.ts fails until the committed files match a rebuild).
import { CODE_BUCKETS, TEXT_BUCKETS, TEXT_DENSE_COUNT, TEXT_FEATURE_COUNT, TEXT_FEATURE_NAMES, textFeatures, WORD_VECTOR_DIMS } from './text';
import type { WordVectors } from './wordVectors';

/** Kinds of request the router sees: the inline completion and the palette tasks (src/core/tasks/table.ts). */
export const ROUTING_KINDS = ['completion', 'explain', 'refactor', 'tests', 'summarize', 'commit', 'ask'] as const;
export type RoutingKind = (typeof ROUTING_KINDS)[number];

export interface RoutingInput {
  readonly kind: RoutingKind;
  /** Prompt tokens the request needs (code, context and instruction), before any trimming. */
  readonly promptTokens: number;
  /** The local model's context size, tokens. */
  readonly localContextTokens: number;
  /** Files the request spans (1 for a selection in one file; 0 for a question with no code). */
  readonly files: number;
  /** Characters of the user's selection (0 when none). */
  readonly selectionChars: number;
  /** Measured local generation speed, tokens/s; undefined or 0 when not measured yet. */
  readonly localTokensPerSecond?: number;
  /** Mean log-probability per token of a local draft answer (<= 0); undefined when there is no draft. */
  readonly draftMeanLogProb?: number;
  /** Share of recent local suggestions the user accepted, 0..1; undefined when there is no history (0.5 is used). */
  readonly recentAcceptance?: number;
  readonly onBattery: boolean;
  /** What the user typed (the question, the refactoring wanted); absent or '' when the command takes none. */
  readonly text?: string;
  /** The code the request carries (an excerpt is enough: only its first characters are read). */
  readonly code?: string;
  /** The code's VS Code language id. */
  readonly language?: string;
}

/** The request's measurable facts: kind, size, speed, the draft, acceptance, power. */
const BASE_FEATURE_NAMES = [
  'kind_completion',
  'kind_explain',
  'kind_refactor',
  'kind_tests',
  'kind_summarize',
  'kind_commit',
  'kind_ask',
  'log_prompt_tokens',
  'prompt_to_context',
  'log_files',
  'log_selection_chars',
  'log_local_tps',
  'draft_confidence',
  'has_draft',
  'recent_acceptance',
  'on_battery',
] as const;
const BASE_COUNT = BASE_FEATURE_NAMES.length;

/** The size facts repeated per kind (log_prompt_tokens .. log_local_tps), then the dense text cues. */
const PER_KIND_FACTS = { from: 7, to: 12 } as const;
const PER_KIND_NAMES = [...BASE_FEATURE_NAMES.slice(PER_KIND_FACTS.from, PER_KIND_FACTS.to), ...TEXT_FEATURE_NAMES];
const PER_KIND_COUNT = PER_KIND_NAMES.length;

/**
 * Names of the vector's entries, in order: the facts, what the request asks (src/core/routing/text.ts), then the
 * per-kind block of each kind (zero except the request's own kind's).
 */
export const FEATURE_NAMES: readonly string[] = [
  ...BASE_FEATURE_NAMES,
  ...TEXT_FEATURE_NAMES,
  ...Array.from({ length: TEXT_BUCKETS }, (_, i) => `text_hash_${i}`),
  ...Array.from({ length: CODE_BUCKETS }, (_, i) => `code_hash_${i}`),
  ...Array.from({ length: WORD_VECTOR_DIMS }, (_, i) => `text_vec_${i}`),
  ...ROUTING_KINDS.flatMap((kind) => PER_KIND_NAMES.map((n) => `${kind}:${n}`)),
];

const PER_KIND_START = BASE_COUNT + TEXT_FEATURE_COUNT;

export const FEATURE_COUNT = PER_KIND_START + ROUTING_KINDS.length * PER_KIND_COUNT;

/** Scales: ln(1 + 32768) ~ 10.4, so 32k tokens ~ 1; ln(1 + 64) ~ 4.2 for files; ln(1 + 100 tok/s) ~ 4.6. */
const LOG_TOKENS_SCALE = 10;
const LOG_CHARS_SCALE = 12;
const LOG_FILES_SCALE = 4;
const LOG_TPS_SCALE = 5;
/** Log features are capped here (e^20 ~ 5e8 tokens), so absurd inputs cannot swamp the other features. */
const MAX_LOG_FEATURE = 2;
/** A prompt this many times the context is as "too big" as it gets: the ratio is clamped here. */
const MAX_CONTEXT_RATIO = 4;

/** A finite number >= 0, else 0 (NaN, negative, infinite inputs never reach the model). */
function nonNegative(v: number | undefined): number {
  return v !== undefined && Number.isFinite(v) && v > 0 ? v : 0;
}

/** ln(1 + v) / scale, capped at MAX_LOG_FEATURE; v is already >= 0 and finite. */
function logScaled(v: number, scale: number): number {
  return Math.min(MAX_LOG_FEATURE, Math.log1p(v) / scale);
}

function clamp01(v: number): number {
  return Math.min(1, Math.max(0, v));
}

/**
 * The draft's mean log-prob mapped to 0..1: exp(mean log p), the geometric-mean token probability. 0.5 when there
 * is no draft (or a non-finite value), so "no draft" sits in the middle; `has_draft` tells the two apart.
 */
export function draftConfidence(meanLogProb: number | undefined): number {
  if (meanLogProb === undefined || Number.isNaN(meanLogProb)) return 0.5;
  if (meanLogProb === Number.NEGATIVE_INFINITY) return 0;
  if (!Number.isFinite(meanLogProb)) return 0.5;
  return clamp01(Math.exp(Math.min(0, meanLogProb)));
}

/**
 * The feature vector of one request: FEATURE_COUNT float32 values, never NaN; the facts each in [0, 4], the text
 * cues in [0, 1], the hashed words in [-1, 1] or so; the per-kind block copies the size facts and cues into the
 * request's own kind's slot.
 */
export function featureVector(input: RoutingInput, vectors: WordVectors): Float32Array {
  const v = new Float32Array(FEATURE_COUNT);
  const kindIndex = ROUTING_KINDS.indexOf(input.kind);
  if (kindIndex < 0) throw new RangeError(`Unknown routing kind '${String(input.kind)}': expected one of ${ROUTING_KINDS.join(', ')}.`);
  v[kindIndex] = 1;
  const tokens = nonNegative(input.promptTokens);
  const context = nonNegative(input.localContextTokens);
  v[7] = logScaled(tokens, LOG_TOKENS_SCALE);
  // No usable context size: the local model cannot take the prompt at all, as bad as it gets.
  v[8] = context > 0 ? Math.min(MAX_CONTEXT_RATIO, tokens / context) : MAX_CONTEXT_RATIO;
  v[9] = logScaled(nonNegative(input.files), LOG_FILES_SCALE);
  v[10] = logScaled(nonNegative(input.selectionChars), LOG_CHARS_SCALE);
  v[11] = logScaled(nonNegative(input.localTokensPerSecond), LOG_TPS_SCALE);
  const hasDraft = input.draftMeanLogProb !== undefined && !Number.isNaN(input.draftMeanLogProb);
  v[12] = draftConfidence(input.draftMeanLogProb);
  v[13] = hasDraft ? 1 : 0;
  const acceptance = input.recentAcceptance;
  v[14] = acceptance !== undefined && Number.isFinite(acceptance) ? clamp01(acceptance) : 0.5;
  v[15] = input.onBattery ? 1 : 0;
  const text = textFeatures(input, vectors);
  v.set(text, BASE_COUNT);
  const own = PER_KIND_START + kindIndex * PER_KIND_COUNT;
  v.set(v.subarray(PER_KIND_FACTS.from, PER_KIND_FACTS.to), own);
  v.set(text.subarray(0, TEXT_DENSE_COUNT), own + PER_KIND_FACTS.to - PER_KIND_FACTS.from);
  return v;
}
