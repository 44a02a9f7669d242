// Turns a request into the exact token sequence the model sees: FIM with the model's own infill tokens (PSM order,
// or SPM when the model has no middle token), a plain completion, or a chat formatted by the model's chat template.
// The prompt is trimmed to leave room for the answer: the end of the prefix and the start of the suffix are kept,
// since the text nearest the cursor matters most. The suffix always keeps its share (a quarter of the file's room),
// however long the prefix, and a too-long prefix loses its start in whole chunks of tokens, up to the next line
// start: the cut then stays put while the user types (it moves once per chunk typed), so the KV cache keeps the
// whole window instead of re-evaluating it after every keystroke (llama-server gets the same from --cache-reuse).
// The text above the cursor's line is tokenized on its own, as llama-server's /infill does with input_prefix: it
// does not change while the user types on a line, so its tokens come from a small cache, as do the suffix's. The cursor's line goes
// after <|fim_middle|> (see fimPrompt), so typing on it re-evaluates neither the lines above nor the suffix.
// FIM with other files' chunks uses the repository-level layout when the model has `<|repo_name|>` and `<|file_sep|>`
// as special tokens (Qwen2.5-Coder; the order of llama.cpp's server `format_prompt_infill`):
//   [BOS] <|repo_name|>name\n <|file_sep|>path\nchunk… <|file_sep|>current path\n <|fim_prefix|>…<|fim_suffix|>…<|fim_middle|>
// The chunks come first, so each is tokenized on its own, the same way every time: the same chunks give the same
// tokens and typing in the file keeps them in the KV cache. Without those tokens the chunks are left out (a model
// not trained on a multi-file form would read them as part of the file).
import { chunkBody, REPO_TOKENS, UNTITLED_PATH } from '../../core/completion/templates';
import type { ContextChunk, FimRequest, GenerateRequest } from '../types';
import { EngineError } from '../errors';
import type { LlamaModel, LlamaModule, Token } from './binding';

export interface Prompt {
  readonly tokens: Token[];
  readonly usedFim: boolean;
  /** Extra stop strings (e.g. a chat template's turn separator). */
  readonly stopTexts: readonly string[];
  /** Other files' chunks included (repository-level FIM layout); 0 otherwise. */
  readonly contextChunks: number;
  /** FIM: where the file's prefix starts in tokens, the one place a moved cut removes cached tokens (decode.ts). */
  readonly prefixStart?: number;
}

export function fimSupported(model: LlamaModel): boolean {
  return model.tokens.infill.prefix != null && model.tokens.infill.suffix != null;
}

export interface RepoTokens {
  readonly repoName: Token;
  readonly fileSep: Token;
}

const repoTokenCache = new WeakMap<LlamaModel, RepoTokens | null>();

/** The model's repository-level tokens, when each of `<|repo_name|>` and `<|file_sep|>` is one special token. */
export function repoTokens(model: LlamaModel): RepoTokens | null {
  let found = repoTokenCache.get(model);
  if (found === undefined) {
    const one = (text: string): Token | undefined => {
      const t = model.tokenize(text, true);
      return t.length === 1 && model.isSpecialToken(t[0]) ? t[0] : undefined;
    };
    const repoName = one(REPO_TOKENS.repoName);
    const fileSep = one(REPO_TOKENS.fileSep);
    found = repoName !== undefined && fileSep !== undefined ? { repoName, fileSep } : null;
    repoTokenCache.set(model, found);
  }
  return found;
}

/** Tokenizations of recent texts that do not change while the user types on a line (the lines above the cursor, the
 *  suffix), by exact text, least recently used dropped first. */
export class LineTokenCache<T = Token> {
  private readonly entries = new Map<string, T[]>();

  constructor(private readonly capacity = 8) {}

  tokens(text: string, tokenize: (s: string) => T[]): T[] {
    let found = this.entries.get(text);
    if (found) this.entries.delete(text);
    else found = tokenize(text);
    this.entries.set(text, found);
    if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value!);
    return found;
  }
}

export function buildPrompt(
  mod: LlamaModule,
  model: LlamaModel,
  request: GenerateRequest,
  contextSize: number,
  cache: LineTokenCache = new LineTokenCache(1),
): Prompt {
  const budget = contextSize - Math.max(1, request.maxTokens) - 1;
  if (budget < 8)
    throw new EngineError(
      'bad-request',
      `maxTokens ${request.maxTokens} leaves no room for a prompt in a ${contextSize}-token context; ask for fewer tokens.`,
    );
  const bos = model.tokens.shouldPrependBosToken && model.tokens.bos != null ? [model.tokens.bos] : [];
  switch (request.kind) {
    case 'fim': {
      const pre = model.tokens.infill.prefix;
      const suf = model.tokens.infill.suffix;
      if (pre == null || suf == null) return completionPrompt(model, bos, request.prefix, budget);
      return fimPrompt(model, request, bos, budget, { pre, suf, mid: model.tokens.infill.middle }, cache);
    }
    case 'completion':
      return completionPrompt(model, bos, request.prompt, budget);
    case 'chat': {
      const wrapper = mod.resolveChatWrapper(model);
      const history = request.messages.map((m) =>
        m.role === 'assistant' ? { type: 'model' as const, response: [m.content] } : { type: m.role, text: m.content },
      );
      const { contextText, stopGenerationTriggers } = wrapper.generateContextState({ chatHistory: [...history, { type: 'model', response: [] }] });
      const tokens = contextText.tokenize(model.tokenizer);
      if (tokens.length > budget) {
        throw new EngineError(
          'bad-request',
          `The conversation is ${tokens.length} tokens, more than the ${budget} that fit with the answer; shorten it or start a new one.`,
        );
      }
      // Text-only triggers (e.g. "\n\n### Human:") become stop strings; special-token triggers end as EOG tokens.
      const stopTexts = stopGenerationTriggers
        .map((t) => (t.values.every((v) => typeof v === 'string') ? t.values.join('') : ''))
        .filter((t) => t.length > 0);
      return { tokens, usedFim: false, stopTexts, contextChunks: 0 };
    }
  }
}

function completionPrompt(model: LlamaModel, bos: Token[], text: string, budget: number): Prompt {
  const tokens = model.tokenize(text, false);
  const keep = Math.max(0, budget - bos.length);
  return { tokens: [...bos, ...tokens.slice(Math.max(0, tokens.length - keep))], usedFim: false, stopTexts: [], contextChunks: 0 };
}

interface InfillTokens {
  readonly pre: Token;
  readonly suf: Token;
  readonly mid: Token | null;
}

function fimPrompt(model: LlamaModel, request: FimRequest, bos: Token[], budget: number, t: InfillTokens, cache: LineTokenCache): Prompt {
  // Raw text is tokenized without the SentencePiece space prefix, as if it followed the special token before it.
  const text = (s: string): Token[] => model.tokenize(s, false, 'trimLeadingSpace');
  const lineStart = request.prefix.lastIndexOf('\n') + 1;
  const above = cache.tokens(request.prefix.slice(0, lineStart), text);
  const prefix = [...above, ...text(request.prefix.slice(lineStart))];
  const suffix = cache.tokens(request.suffix, text);
  const room = budget - bos.length - (t.mid != null ? 3 : 2);
  const repo = repoLayout(model, request, text, room);
  const fileRoom = room - (repo ? repo.head.length + repo.current.length : 0);
  // The suffix gets what it needs up to a quarter of the room, however long the prefix; the prefix gets the rest.
  const suffixKeep = Math.min(suffix.length, Math.floor(fileRoom / 4));
  const cut = stableCut(prefix, above.length, fileRoom - suffixKeep, trimChunk(fileRoom), (token) => endsLine(model, token));
  const prefixKeep = prefix.length - cut;
  const s = suffix.slice(0, suffixKeep);
  // PSM puts the cursor's line after <|fim_middle|>, as the start of the middle (llama-server's /infill layout for
  // its `prompt`): typing on the line then changes only the end of the prompt, so the suffix stays in the KV cache
  // instead of being evaluated again on every keystroke. The model was trained on middles that begin anywhere, so a
  // middle that begins at the line start, its first characters given, is a case it knows.
  const aboveKept = prefix.slice(cut, Math.max(cut, above.length));
  const lineKept = prefix.slice(Math.max(cut, above.length));
  const fim = t.mid != null ? [t.pre, ...aboveKept, t.suf, ...s, t.mid, ...lineKept] : [t.suf, ...s, t.pre, ...aboveKept, ...lineKept];
  const inFim = t.mid != null ? 1 : s.length + 2;
  if (!repo) return { tokens: [...bos, ...fim], usedFim: true, stopTexts: [], contextChunks: 0, prefixStart: bos.length + inFim };
  // Chunks get what the file leaves, at most half the room with the layout's own tokens.
  const chunkRoom = Math.min(Math.floor(room / 2) - repo.head.length - repo.current.length, fileRoom - prefixKeep - suffixKeep);
  const chunks = newestThatFit(repo.chunks, chunkRoom);
  const head = [...bos, ...repo.head, ...chunks.flat(), ...repo.current];
  return { tokens: [...head, ...fim], usedFim: true, stopTexts: [], contextChunks: chunks.length, prefixStart: head.length + inFim };
}

interface RepoLayout {
  /** `<|repo_name|>name\n`, or nothing without a name. */
  readonly head: Token[];
  /** Each chunk as `<|file_sep|>path\ntext\n`, oldest first. */
  readonly chunks: Token[][];
  /** `<|file_sep|>current path\n`. */
  readonly current: Token[];
}

/** The repository-level pieces, or null when the model has no such tokens, the request nothing to put there, or the
 *  layout's fixed tokens would take more than half the room. */
function repoLayout(model: LlamaModel, request: FimRequest, text: (s: string) => Token[], room: number): RepoLayout | null {
  const extra: readonly ContextChunk[] = request.extra ?? [];
  if (extra.length === 0 && !request.filePath && !request.repoName) return null;
  const tokens = repoTokens(model);
  if (!tokens) return null;
  const head = request.repoName ? [tokens.repoName, ...text(`${request.repoName}\n`)] : [];
  const current = [tokens.fileSep, ...text(`${request.filePath || UNTITLED_PATH}\n`)];
  if (head.length + current.length > Math.floor(room / 2)) return null;
  const chunks = extra.map((c) => [tokens.fileSep, ...text(`${c.path}\n`), ...text(chunkBody(c.text))]);
  return { head, chunks, current };
}

/** The newest chunks that fit in room together, dropping whole chunks from the oldest; order kept. */
export function newestThatFit<T>(chunks: readonly (readonly T[])[], room: number): T[][] {
  let used = 0;
  let first = chunks.length;
  while (first > 0 && used + chunks[first - 1]!.length <= room) used += chunks[--first]!.length;
  return chunks.slice(first).map((c) => [...c]);
}

/** Tokens a too-long prefix loses at a time: a sixteenth of the room, at most 64. When the cut moves, the decode
 *  loop shifts the cached window instead of re-evaluating it (decode.ts), so a small chunk costs little and leaves
 *  little room unused (at most three chunks: the rounding, the walk to a line start, the cursor line's reserve). */
export function trimChunk(room: number): number {
  return Math.max(1, Math.min(64, Math.floor(room / 16)));
}

/**
 * How many tokens to drop from the start of a prefix so that at most keep remain: the overflow rounded up to whole
 * chunks, then on to just past the next line end (within a chunk; a prefix with no line end there is cut mid-line).
 * The overflow counts the cursor's line (the tokens after `above`) as at least a chunk long: typing on a line changes
 * how its last word splits into tokens, so its token count goes down as well as up, and an overflow that followed it
 * would move the cut back and forth across a chunk boundary. The start of the prefix does not change while the user
 * types, so the cut moves only when the lines above grow past a chunk boundary or the line itself outgrows a chunk.
 */
export function stableCut<T>(prefix: readonly T[], above: number, keep: number, chunk: number, endsLine: (token: T) => boolean): number {
  const over = Math.max(prefix.length, above + chunk) - Math.max(0, keep);
  if (over <= 0) return 0;
  const cut = Math.min(prefix.length, Math.ceil(over / chunk) * chunk);
  for (let i = cut; i < Math.min(prefix.length, cut + chunk); i++) if (endsLine(prefix[i - 1]!)) return i;
  return cut;
}

const lineEnds = new WeakMap<LlamaModel, Map<Token, boolean>>();

/** Whether a token's text ends a line (contains a line feed). Memoised per model: it is asked on every keystroke. */
function endsLine(model: LlamaModel, token: Token): boolean {
  let known = lineEnds.get(model);
  if (!known) lineEnds.set(model, (known = new Map()));
  let ends = known.get(token);
  if (ends === undefined) known.set(token, (ends = model.detokenize([token], true).includes('\n')));
  return ends;
}
