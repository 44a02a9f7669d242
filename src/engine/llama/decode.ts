// The decode loop on one context sequence: reuse the KV cache for the longest common prefix, evaluate only the new
// tokens, then sample until EOG, a stop string, maxTokens or abort. Each token's probability gives the confidence.
// maxTokens 0 evaluates the prompt into the cache and stops there (a warm-up: the next request reuses it).
// With a JSON-schema grammar the sampler may only pick tokens that keep the text on the grammar; node-llama-cpp's
// JSON grammar ends the value with "\n\n\n\n" (its stop trigger), so reaching that is the end of the JSON: the
// trailing whitespace is dropped and the stop reason is 'eos', as it would be for an end-of-generation token.
import { wantsConfidence, type GenerateOptions, type GenerateRequest, type StopReason } from '../types';
import type { LlamaContextSequence, LlamaGrammarEvaluationState, LlamaModel, Token } from './binding';
import type { Prompt } from './prompt';

export interface DecodeOutcome {
  readonly text: string;
  readonly stopReason: StopReason;
  readonly promptTokens: number;
  readonly evaluatedTokens: number;
  readonly generatedTokens: number;
  readonly ttftMs: number;
  readonly totalMs: number;
  readonly tokensPerSecond: number;
  readonly meanLogProb: number | null;
  readonly meanEntropy: number | null;
}

/** A grammar that constrains sampling (a JSON schema's), with a fresh evaluation state for one request. */
export interface JsonConstraint {
  readonly state: LlamaGrammarEvaluationState;
  /** Texts the grammar emits once the value is complete (node-llama-cpp's JSON grammars: "\n\n\n\n"). */
  readonly ends: readonly string[];
  /** Drop trailing whitespace from the text. */
  readonly trimWhitespace: boolean;
}

const REPLACEMENT_CHAR = '\uFFFD';

export async function decode(
  sequence: LlamaContextSequence,
  model: LlamaModel,
  prompt: Prompt,
  request: GenerateRequest,
  options: GenerateOptions,
  constraint?: JsonConstraint,
  now: () => number = () => performance.now(),
): Promise<DecodeOutcome> {
  const t0 = now();
  const { signal, onText } = options;
  const ends = constraint?.ends ?? [];
  // Under a grammar the grammar decides where the answer ends: a chat template's text trigger could only cut a JSON
  // string short. The caller's own stop strings still apply.
  const stops = [...(request.stop ?? []), ...(constraint ? ends : prompt.stopTexts)].filter((s) => s.length > 0);
  // Keep the cached prefix; at least the last prompt token is evaluated so there are logits to sample from. A
  // prompt-only request (maxTokens 0, a warm-up) samples nothing, so the whole prompt may come from the cache.
  const tokens = prompt.tokens;
  const promptOnly = request.maxTokens === 0;
  const removed = prompt.prefixStart === undefined ? null : removedStretch(sequence.contextTokens, tokens, prompt.prefixStart);
  if (removed) await sequence.eraseContextTokenRanges([removed]);
  await sequence.adaptStateToTokens(promptOnly ? tokens : tokens.slice(0, -1), false);
  const toEvaluate = tokens.slice(sequence.nextTokenIndex);
  const context = tokens.slice(-16);

  const generated: Token[] = [];
  let text = '';
  let emitted = 0;
  let stopReason: StopReason = 'maxTokens';
  let firstTokenAt: number | undefined;
  let logProbSum = 0;
  let logProbCount = 0;
  let entropySum = 0;
  let entropyCount = 0;
  const wantEntropy = request.entropy === true;
  let evaluated = 0; // stays 0 when aborted before evaluation

  if (signal?.aborted) return finish('abort');
  evaluated = toEvaluate.length;
  if (promptOnly) {
    if (toEvaluate.length > 0) await sequence.evaluateWithoutGeneratingNewTokens(toEvaluate);
  } else {
    const iterator = sequence.evaluateWithMetadata(
      toEvaluate,
      { confidence: wantsConfidence(request), probabilities: wantEntropy },
      {
        temperature: request.temperature ?? 0,
        yieldEogToken: true,
        ...(constraint ? { grammarEvaluationState: constraint.state } : {}),
      },
    );
    for await (const out of iterator) {
      firstTokenAt ??= now();
      if (signal?.aborted) {
        stopReason = 'abort';
        break;
      }
      // EOG, or any control token (FIM models emit <|fim_pad|>, <|file_sep|>… when the middle is done).
      if (model.isEogToken(out.token) || model.isSpecialToken(out.token)) {
        stopReason = 'eos';
        break;
      }
      generated.push(out.token);
      const confidence = 'confidence' in out && typeof out.confidence === 'number' ? out.confidence : 0;
      if (confidence > 0) {
        logProbSum += Math.log(confidence);
        logProbCount++;
      }
      if (wantEntropy && 'probabilities' in out && out.probabilities instanceof Map) {
        entropySum += entropy(out.probabilities);
        entropyCount++;
      }
      // The prompt's tail is context for the first pieces (SentencePiece's leading space, for one).
      text = model.detokenize(generated, false, context);
      const stopAt = firstStop(text, stops);
      if (stopAt >= 0) {
        // The grammar's end text is the end of the JSON, not a caller's stop string.
        stopReason = ends.some((e) => text.indexOf(e) === stopAt) ? 'eos' : 'stop';
        text = text.slice(0, stopAt);
        break;
      }
      flush(safeLength(text, stops));
      if (generated.length >= request.maxTokens) {
        stopReason = 'maxTokens';
        break;
      }
    }
  }
  return finish(stopReason);

  function flush(upTo: number): void {
    if (upTo > emitted) {
      onText?.(text.slice(emitted, upTo));
      emitted = upTo;
    }
  }

  function finish(reason: StopReason): DecodeOutcome {
    if (text.endsWith(REPLACEMENT_CHAR)) text = text.slice(0, -1); // an incomplete UTF-8 sequence at the end
    if (constraint && (reason === 'eos' || reason === 'maxTokens')) {
      // Only held-back newlines can trail a complete value. A budget that ran out between the closing bracket and
      // the grammar's end text still leaves complete JSON; one that ran out mid-value leaves the text as streamed.
      const trimmed = constraint.trimWhitespace ? text.trimEnd() : text;
      if (reason === 'eos' || completeJson(trimmed)) {
        text = trimmed;
        reason = 'eos';
      }
    }
    flush(text.length);
    const end = now();
    const decodeMs = firstTokenAt === undefined ? 0 : end - firstTokenAt;
    return {
      text,
      stopReason: reason,
      promptTokens: tokens.length,
      evaluatedTokens: evaluated,
      generatedTokens: generated.length,
      ttftMs: (firstTokenAt ?? end) - t0,
      totalMs: end - t0,
      tokensPerSecond: generated.length > 1 && decodeMs > 0 ? ((generated.length - 1) * 1000) / decodeMs : 0,
      meanLogProb: logProbCount > 0 ? logProbSum / logProbCount : null,
      meanEntropy: entropyCount > 0 ? entropySum / entropyCount : null,
    };
  }
}

/** Tokens a shift must reuse beyond what stays in place anyway, to be worth it rather than a re-evaluation. */
const MIN_SHIFTED = 32;

/**
 * When the new prompt is the cached one with a stretch taken out where the file's prefix starts (the start of a
 * long prefix was cut as the user typed on), that stretch: erasing it from the KV cache shifts the cached tokens
 * after it into place (llama.cpp re-rotates their keys), so only what really changed is evaluated instead of
 * everything after the cut. Everything before `at` must be the same, and the shift must line up at least
 * MIN_SHIFTED more tokens than plain prefix reuse would keep; null otherwise. Only there: the tokens kept were
 * computed attending to the cut text, as a window sliding over the file would; a stretch elsewhere (another
 * document, an edit) is re-evaluated.
 */
export function removedStretch<T>(cached: readonly T[], next: readonly T[], at: number): { start: number; end: number } | null {
  if (at <= 0) return null;
  for (let i = 0; i < at; i++) if (cached[i] !== next[i]) return null;
  // On an ordinary keystroke plain reuse already keeps all but the end: no shift could gain enough, so the search
  // below (on the keystroke path) is skipped.
  const most = next.length - at;
  const plain = run(cached, at, next, at);
  if (most - plain < MIN_SHIFTED) return null;
  // The longest match wins: in repetitive text (a run of similar lines) a shift by one period also matches for a
  // while, but only the real cut lines up with the cache all the way to where the user typed.
  let best: { start: number; end: number } | null = null;
  let bestRun = plain + MIN_SHIFTED - 1;
  for (let end = at + 1; end + bestRun < cached.length && bestRun < most; end++) {
    const k = run(cached, end, next, at);
    if (k > bestRun) {
      best = { start: at, end };
      bestRun = k;
    }
  }
  return best;
}

/** How many tokens from a[i] on equal those from b[j] on. */
function run<T>(a: readonly T[], i: number, b: readonly T[], j: number): number {
  let k = 0;
  while (i + k < a.length && j + k < b.length && a[i + k] === b[j + k]) k++;
  return k;
}

/** Whether text is a whole JSON value that could not go on (a number could take more digits). */
export function completeJson(text: string): boolean {
  try {
    return typeof JSON.parse(text) !== 'number';
  } catch {
    return false;
  }
}

/** Index of the earliest stop string in text, or -1. */
export function firstStop(text: string, stops: readonly string[]): number {
  let best = -1;
  for (const s of stops) {
    const i = text.indexOf(s);
    if (i >= 0 && (best < 0 || i < best)) best = i;
  }
  return best;
}

/**
 * How much of text can be shown now: hold back a trailing partial character and any tail that might still grow
 * into a stop string.
 */
export function safeLength(text: string, stops: readonly string[]): number {
  let end = text.endsWith(REPLACEMENT_CHAR) ? text.length - 1 : text.length;
  for (const s of stops) {
    for (let k = Math.min(s.length - 1, end); k > 0; k--) {
      if (text.slice(end - k, end) === s.slice(0, k)) {
        end -= k;
        break;
      }
    }
  }
  return Math.max(0, end);
}

function entropy(probabilities: Map<Token, number>): number {
  let h = 0;
  for (const p of probabilities.values()) if (p > 0) h -= p * Math.log(p);
  return h;
}
