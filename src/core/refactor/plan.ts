// Planning a multi-file refactor with the local model: the JSON Schema its answer is constrained to (node-llama-cpp's
// JSON-schema grammar), the planning prompt (bounded, for a small context window), and the parser that validates the
// answer against the context and completes it (every file that uses the symbols gets a step). Pure.
import type { ChatMessage } from '../inference/types';
import { normalizePath } from './edits';
import type { PlanStep, RefactorContext, RefactorFile, RefactorPlan, StepSize } from './types';
import { errorMessage } from '../errors';

export const MAX_PLAN_STEPS = 12;
export const TITLE_MAX_CHARS = 80;
export const INSTRUCTION_MAX_CHARS = 300;
/** Code excerpts in the planning prompt, in characters, all files together. */
export const PLAN_EXCERPT_CHARS = 6000;

const SIZES: readonly StepSize[] = ['small', 'medium', 'large'];

/** The model's plan is unusable; the message is meant for the user as it is. Nothing has been changed. */
export class PlanError extends Error {
  /** What was wrong, in a few words (the part in the message's parentheses, or the whole reason). */
  readonly detail: string;

  constructor(message: string, detail: string) {
    super(message);
    this.name = 'PlanError';
    this.detail = detail;
  }
}

const RETRY = 'nothing was changed. Try again, or choose a larger local model.';
const notJson = (why: string) => new PlanError(`The local model's plan is not valid JSON (${why}); ${RETRY}`, why);
const unusable = (why: string) => new PlanError(`The local model's plan cannot be used (${why}); ${RETRY}`, why);

// ---------------------------------------------------------------------------------------------------------------
// Schema

interface StringSchema {
  readonly type: 'string';
  readonly minLength?: number;
  readonly maxLength?: number;
}
interface EnumSchema {
  readonly enum: readonly string[];
}
interface ArraySchema<Item> {
  readonly type: 'array';
  readonly items: Item;
  readonly minItems?: number;
  readonly maxItems?: number;
}
interface ObjectSchema<Props> {
  readonly type: 'object';
  readonly properties: Props;
  readonly required: readonly (keyof Props & string)[];
  readonly additionalProperties: false;
}

export type PlanStepSchema = ObjectSchema<{
  readonly title: StringSchema;
  readonly files: ArraySchema<EnumSchema>;
  readonly symbols: ArraySchema<EnumSchema | StringSchema>;
  readonly size: EnumSchema;
  readonly instruction: StringSchema;
}>;

/** Assignable to node-llama-cpp's GbnfJsonSchema (and plain JSON Schema for servers that take one). */
export type PlanSchema = ObjectSchema<{ readonly steps: ArraySchema<PlanStepSchema> }>;

function uniquePaths(ctx: RefactorContext): string[] {
  return [...new Set(ctx.files.map((f) => f.path))];
}

/**
 * The JSON Schema the plan is generated under: { steps: [{ title, files, symbols, size, instruction }] }, files and
 * symbols limited to the context's, at most one step per file (a file belongs to one step) and MAX_PLAN_STEPS.
 * Uses only what node-llama-cpp's grammar supports (type, properties, enum, items, minItems/maxItems, string
 * minLength/maxLength, additionalProperties false; `required` is for other servers: node-llama-cpp requires every
 * property anyway). Throws PlanError when the context has no files.
 */
export function planSchema(ctx: RefactorContext): PlanSchema {
  const paths = uniquePaths(ctx);
  if (paths.length === 0) {
    throw new PlanError('Verdant found no files for this change; nothing was changed.', 'no files in the context');
  }
  const symbols = [...new Set(ctx.symbols)];
  const step: PlanStepSchema = {
    type: 'object',
    properties: {
      title: { type: 'string', minLength: 1, maxLength: TITLE_MAX_CHARS },
      files: { type: 'array', items: { enum: paths }, minItems: 1, maxItems: paths.length },
      symbols:
        symbols.length > 0
          ? { type: 'array', items: { enum: symbols }, maxItems: symbols.length }
          : { type: 'array', items: { type: 'string', maxLength: TITLE_MAX_CHARS }, maxItems: 0 },
      size: { enum: SIZES },
      instruction: { type: 'string', minLength: 1, maxLength: INSTRUCTION_MAX_CHARS },
    },
    required: ['title', 'files', 'symbols', 'size', 'instruction'],
    additionalProperties: false,
  };
  return {
    type: 'object',
    properties: { steps: { type: 'array', items: step, minItems: 1, maxItems: Math.min(MAX_PLAN_STEPS, paths.length) } },
    required: ['steps'],
    additionalProperties: false,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Prompt

function linesOf(text: string): string[] {
  const lines = text.split(/\r?\n/);
  if (lines.length > 1 && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

function clip(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/** Lines start..end (0-based, inclusive) numbered from 1, each clipped to 160 characters. */
function numbered(lines: readonly string[], start: number, end: number): string {
  return lines
    .slice(start, end + 1)
    .map((l, i) => `${String(start + i + 1).padStart(5)}| ${clip(l, 160)}`)
    .join('\n');
}

/** Sorted line ranges with touching ones joined (so one fence shows consecutive lines). */
function mergeTouching(ranges: readonly { start: number; end: number }[]): { start: number; end: number }[] {
  const out: { start: number; end: number }[] = [];
  for (const r of ranges) {
    const last = out[out.length - 1];
    if (last && r.start <= last.end + 1) last.end = Math.max(last.end, r.end);
    else out.push({ ...r });
  }
  return out;
}

/** Occurrence lines (0-based, unique, sorted) per path, for files in the context. */
function hitLines(ctx: RefactorContext): Map<string, { lines: number[]; symbols: string[]; count: number }> {
  const known = new Set(ctx.files.map((f) => f.path));
  const out = new Map<string, { lines: number[]; symbols: string[]; count: number }>();
  for (const h of ctx.hits) {
    if (!known.has(h.path)) continue;
    let e = out.get(h.path);
    if (!e) out.set(h.path, (e = { lines: [], symbols: [], count: 0 }));
    e.count++;
    if (!e.lines.includes(h.line)) e.lines.push(h.line);
    if (!e.symbols.includes(h.symbol)) e.symbols.push(h.symbol);
  }
  for (const e of out.values()) e.lines.sort((a, b) => a - b);
  return out;
}

const PLAN_SYSTEM =
  "You are Verdant's refactoring planner inside VS Code. You split a change that spans several files into a few " +
  'ordered steps, each small enough to carry out on its own. Answer only with one JSON object matching the format ' +
  'asked for, with no prose and no code fence.';

/**
 * The planning prompt: the request, the symbols, and per file its occurrences (line numbers), a few lines around the
 * first ones and its diagnostics. Excerpts are shared out round robin (each file's first occurrence, then the
 * second...) within PLAN_EXCERPT_CHARS, so every file gets some before any gets more.
 */
/** `excerptChars`: room for code excerpts (PLAN_EXCERPT_CHARS by default; less for a small local context, 0 for none). */
export function planMessages(ctx: RefactorContext, excerptChars = PLAN_EXCERPT_CHARS): ChatMessage[] {
  const hits = hitLines(ctx);
  const withHits = ctx.files.filter((f) => hits.has(f.path));
  const without = ctx.files.filter((f) => !hits.has(f.path));

  // Excerpts: up to 3 per file, ±2 lines, lines clipped to 160 characters, round robin within the budget.
  const excerpts = new Map<string, { start: number; end: number }[]>();
  const fileLines = new Map(withHits.map((f) => [f.path, linesOf(f.text)] as const));
  let left = Math.max(0, excerptChars);
  for (let k = 0; k < 3; k++) {
    for (const f of withHits) {
      const lines = fileLines.get(f.path) ?? [];
      const at = hits.get(f.path)?.lines[k];
      if (at === undefined || at >= lines.length) continue;
      const shown = excerpts.get(f.path) ?? [];
      if (shown.some((e) => at >= e.start && at <= e.end)) continue;
      const start = Math.max(0, at - 2, ...shown.filter((e) => e.end < at).map((e) => e.end + 1));
      const end = Math.min(lines.length - 1, at + 2);
      const chars = numbered(lines, start, end).length + 1;
      if (chars > left) continue;
      left -= chars;
      excerpts.set(
        f.path,
        [...shown, { start, end }].sort((a, b) => a.start - b.start),
      );
    }
  }

  const fileParts = withHits.map((f: RefactorFile) => {
    const h = hits.get(f.path);
    const lines = h?.lines ?? [];
    const listed =
      lines
        .slice(0, 20)
        .map((l) => l + 1)
        .join(', ') + (lines.length > 20 ? `, … (${lines.length - 20} more lines)` : '');
    const diags = ctx.diagnostics.filter((d) => d.path === f.path);
    const diagText = diags
      .slice(0, 5)
      .map((d) => `  problem at line ${d.line + 1}: ${clip(d.message, 200)}`)
      .join('\n');
    const parts = [
      `## ${f.path} (${f.languageId}): ${h?.count ?? 0} occurrence${h?.count === 1 ? '' : 's'} of ${h?.symbols.join(', ')}, at line${lines.length === 1 ? '' : 's'} ${listed}`,
      ...mergeTouching(excerpts.get(f.path) ?? []).map((e) => `\`\`\`\n${numbered(fileLines.get(f.path) ?? [], e.start, e.end)}\n\`\`\``),
      ...(diagText ? [diagText + (diags.length > 5 ? `\n  … ${diags.length - 5} more problems` : '')] : []),
    ];
    return parts.join('\n');
  });
  const otherDiags = without.flatMap((f) => ctx.diagnostics.filter((d) => d.path === f.path).slice(0, 2));
  const others =
    without.length > 0
      ? `\nOther files that may be involved (no occurrences found): ${without
          .slice(0, 20)
          .map((f) => f.path)
          .join(', ')}` +
        (without.length > 20 ? `, and ${without.length - 20} more` : '') +
        (otherDiags.length > 0 ? `\n${otherDiags.map((d) => `  ${d.path} problem at line ${d.line + 1}: ${clip(d.message, 200)}`).join('\n')}` : '')
      : '';

  const maxSteps = Math.min(MAX_PLAN_STEPS, Math.max(1, uniquePaths(ctx).length));
  const user =
    `Plan this change: ${ctx.request}\n` +
    (ctx.symbols.length > 0 ? `Symbols involved: ${ctx.symbols.join(', ')}\n` : '') +
    `\nFiles where the symbols occur (line numbers are 1-based):\n\n${fileParts.join('\n\n')}\n${others}\n\n` +
    'Answer with JSON: {"steps": [{"title": "...", "files": ["path"], "symbols": ["name"], "size": "small" | "medium" | "large", "instruction": "..."}]}\n' +
    'Rules:\n' +
    `- At most ${maxSteps} step${maxSteps === 1 ? '' : 's'}, in the order to do them: change a definition before its callers.\n` +
    '- Every file with occurrences is in exactly one step; use only the paths listed above. Put files that must change together in one step.\n' +
    `- "title": a short imperative title (at most ${TITLE_MAX_CHARS} characters).\n` +
    `- "instruction": what to change in those files, concretely (at most ${INSTRUCTION_MAX_CHARS} characters).\n` +
    '- "size": small (a few lines), medium (one function or several call sites), large (many places or logic changes).';
  return [
    { role: 'system', content: PLAN_SYSTEM },
    { role: 'user', content: user },
  ];
}

// ---------------------------------------------------------------------------------------------------------------
// Parsing

/** The end (exclusive) of the JSON value opening with `{` at `start`, string-aware; -1 when it does not close. */
function objectEnd(text: string, start: number): number {
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') {
      inString = true;
    } else if (c === '{' || c === '[') {
      depth++;
    } else if (c === '}' || c === ']') {
      depth--;
      if (depth === 0) return i + 1;
      if (depth < 0) return -1;
    }
  }
  return -1;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function tryParse(text: string): { ok: true; value: unknown } | { ok: false; error: string } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (e) {
    return { ok: false, error: errorMessage(e) };
  }
}

/** The single top-level JSON object of the answer: the whole text, one fenced block, or one {...} in prose. */
function extractObject(raw: string): Record<string, unknown> {
  const text = raw.replace(/^\uFEFF/, '').trim();
  if (text === '') throw notJson('the answer is empty');
  const whole = tryParse(text);
  if (whole.ok) {
    if (isObject(whole.value)) return whole.value;
    throw notJson(
      `it is ${Array.isArray(whole.value) ? 'an array' : `a ${whole.value === null ? 'null' : typeof whole.value}`}, not an object with "steps"`,
    );
  }
  const fenced = [...text.matchAll(/```[^\n`]*\n([\s\S]*?)```/g)].map((m) => tryParse(m[1]!.trim()));
  const fencedObjects = fenced.filter((p) => p.ok && isObject(p.value));
  if (fencedObjects.length > 1) throw notJson(`the answer has ${fencedObjects.length} JSON blocks, expected one`);
  const [fencedObject] = fencedObjects;
  if (fencedObject?.ok) return fencedObject.value as Record<string, unknown>;

  const candidates: Record<string, unknown>[] = [];
  let firstError: string | undefined;
  for (let i = text.indexOf('{'); i !== -1; ) {
    const end = objectEnd(text, i);
    if (end === -1) {
      firstError ??= 'a "{" is never closed';
      break;
    }
    const parsed = tryParse(text.slice(i, end));
    if (parsed.ok && isObject(parsed.value)) candidates.push(parsed.value);
    else if (!parsed.ok) firstError ??= parsed.error;
    i = text.indexOf('{', end);
  }
  if (candidates.length > 1) throw notJson(`the answer has ${candidates.length} JSON objects, expected one`);
  const [candidate] = candidates;
  if (candidate) return candidate;
  throw notJson(firstError ? clip(firstError, 120) : 'no JSON object found in the answer');
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${clip(JSON.stringify(v), 40)}`;
}

interface DraftStep {
  title: string;
  files: string[];
  symbols: string[];
  size: StepSize;
  instruction: string;
  added: boolean;
  /** The model's step number (1-based), for notes. */
  source: number;
}

function stepSizeFor(hitCount: number): StepSize {
  return hitCount <= 2 ? 'small' : hitCount <= 8 ? 'medium' : 'large';
}

function listWords(items: readonly string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

function validateAndComplete(obj: Record<string, unknown>, ctx: RefactorContext): RefactorPlan {
  const stepsRaw = obj.steps;
  if (stepsRaw === undefined) throw unusable('it has no "steps" array');
  if (!Array.isArray(stepsRaw)) throw unusable(`"steps" is ${describe(stepsRaw)}, not an array`);
  if (stepsRaw.length === 0) throw unusable('it has no steps');

  const known = new Set(ctx.files.map((f) => f.path));
  const knownSymbols = new Set(ctx.symbols);
  const hits = hitLines(ctx);
  const notes: string[] = [];
  const unknown: string[] = [];
  const drafts: DraftStep[] = [];

  stepsRaw.forEach((raw: unknown, index) => {
    const n = index + 1;
    if (!isObject(raw)) throw unusable(`step ${n} is ${describe(raw)}, not an object`);

    const filesRaw = raw.files;
    if (!Array.isArray(filesRaw) || filesRaw.some((f) => typeof f !== 'string')) {
      throw unusable(`step ${n}'s "files" is ${filesRaw === undefined ? 'missing' : describe(filesRaw)}, not a list of paths`);
    }
    const files: string[] = [];
    for (const f of filesRaw as string[]) {
      const p = normalizePath(f);
      if (!known.has(p)) {
        if (!unknown.includes(p)) unknown.push(p);
      } else if (!files.includes(p)) {
        files.push(p);
      }
    }

    let title: string;
    if (raw.title === undefined || (typeof raw.title === 'string' && raw.title.trim() === '')) {
      title = '';
    } else if (typeof raw.title === 'string') {
      title = clip(raw.title.trim().replace(/\s+/g, ' '), TITLE_MAX_CHARS);
    } else {
      throw unusable(`step ${n}'s "title" is ${describe(raw.title)}, not text`);
    }

    let size: StepSize;
    if (raw.size === undefined || raw.size === null) {
      size = 'medium';
      notes.push(`Step ${n} had no size; Verdant treats it as medium.`);
    } else if (typeof raw.size === 'string' && (SIZES as readonly string[]).includes(raw.size.trim().toLowerCase())) {
      size = raw.size.trim().toLowerCase() as StepSize;
    } else {
      throw unusable(`step ${n}'s "size" is ${describe(raw.size)}, expected small, medium or large`);
    }

    let instruction: string;
    if (raw.instruction === undefined || raw.instruction === null || (typeof raw.instruction === 'string' && raw.instruction.trim() === '')) {
      instruction = ctx.request;
      notes.push(`Step ${n} had no instruction; Verdant uses the request for it.`);
    } else if (typeof raw.instruction === 'string') {
      instruction = raw.instruction.trim();
    } else {
      throw unusable(`step ${n}'s "instruction" is ${describe(raw.instruction)}, not text`);
    }

    let symbols: string[] = [];
    if (raw.symbols !== undefined && raw.symbols !== null) {
      if (!Array.isArray(raw.symbols) || raw.symbols.some((s) => typeof s !== 'string')) {
        throw unusable(`step ${n}'s "symbols" is ${describe(raw.symbols)}, not a list of names`);
      }
      symbols = [
        ...new Set((raw.symbols as string[]).map((s) => s.trim()).filter((s) => s !== '' && (knownSymbols.size === 0 || knownSymbols.has(s)))),
      ];
    }

    drafts.push({ title, files, symbols, size, instruction, added: false, source: n });
  });

  if (unknown.length > 0) {
    const what = `it names ${unknown.length === 1 ? 'a file' : 'files'} that ${unknown.length === 1 ? 'is' : 'are'} not part of this change: ${unknown.join(', ')}`;
    throw unusable(what);
  }

  // A file belongs to the first step that names it.
  const owner = new Map<string, number>();
  for (const d of drafts) {
    d.files = d.files.filter((p) => {
      const first = owner.get(p);
      if (first === undefined) {
        owner.set(p, d.source);
        return true;
      }
      notes.push(`${p} was in steps ${first} and ${d.source}; Verdant kept it in step ${first}.`);
      return false;
    });
  }
  const kept = drafts.filter((d) => {
    if (d.files.length > 0) return true;
    notes.push(`Step ${d.source}${d.title ? ` ("${d.title}")` : ''} had no files of its own; Verdant dropped it.`);
    return false;
  });

  for (const d of kept) {
    if (d.title === '') {
      d.title = clip(`Update ${d.files.join(', ')}`, TITLE_MAX_CHARS);
      notes.push(`Step ${d.source} had no title; Verdant named it "${d.title}".`);
    }
    if (d.symbols.length === 0) {
      d.symbols = [...new Set(d.files.flatMap((p) => hits.get(p)?.symbols ?? []))];
    }
  }

  // Every file that uses the symbols gets a step.
  for (const f of ctx.files) {
    const h = hits.get(f.path);
    if (!h || owner.has(f.path)) continue;
    owner.set(f.path, -1);
    const names = listWords(h.symbols);
    kept.push({
      title: clip(`Update ${f.path}`, TITLE_MAX_CHARS),
      files: [f.path],
      symbols: [...h.symbols],
      size: stepSizeFor(h.count),
      instruction: `Update the use${h.count === 1 ? '' : 's'} of ${names} in ${f.path} (line${h.lines.length === 1 ? '' : 's'} ${h.lines.map((l) => l + 1).join(', ')}) for this change: ${ctx.request}`,
      added: true,
      source: 0,
    });
    notes.push(`Verdant added a step for ${f.path}: it uses ${names} but the plan left it out.`);
  }

  if (kept.length === 0) throw unusable('none of its steps names a file to change');

  const steps: PlanStep[] = kept.map((d, i) => ({
    id: i + 1,
    title: d.title,
    files: d.files,
    symbols: d.symbols,
    size: d.size,
    instruction: d.instruction,
    added: d.added,
  }));
  const fileVersions: Record<string, number> = {};
  for (const f of ctx.files) fileVersions[f.path] = f.version;
  return { request: ctx.request, steps, notes, fileVersions };
}

/**
 * The model's plan, validated against the context and completed. Accepts the bare JSON object, or one object in a
 * ```json fence or among prose. Rejects (PlanError, and nothing else, for any answer) a plan that is not one JSON
 * object, has no steps, names files outside the context, or has fields of the wrong type. Repairs, with a note
 * each: a missing size (medium), a missing title or instruction (derived / the request), a file named by two steps
 * (kept in the first), a step left without files (dropped), a file with occurrences no step names (a step added).
 */
export function parsePlan(text: string, ctx: RefactorContext): RefactorPlan {
  try {
    return validateAndComplete(extractObject(text), ctx);
  } catch (e) {
    if (e instanceof PlanError) throw e;
    throw unusable(`it could not be read: ${errorMessage(e)}`);
  }
}
