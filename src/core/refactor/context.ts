// The prompt for one step of a planned refactor, carrying only what the step needs: for each of the step's files the
// regions around the symbol's occurrences (or the whole file when it is small), within a token budget. The answer is
// asked for as search/replace blocks (see edits.ts), so the step's output can be checked before it is shown. Pure.
import type { ChatMessage } from '../inference/types';
import { CHARS_PER_TOKEN } from '../routing/estimates';
import type { PlanStep, RefactorContext, RefactorFile } from './types';

/** Files shorter than this many lines go whole into a step's prompt. */
export const WHOLE_FILE_LINES = 60;
/** Lines shown above and below each occurrence. */
export const DEFAULT_CONTEXT_LINES = 3;

export function estimateTokens(text: string): number {
  return Math.ceil(text.length / CHARS_PER_TOKEN);
}

export interface StepContextOptions {
  /** Tokens the step's prompt may use (system + user message). */
  readonly budgetTokens: number;
  /** Lines around each occurrence; default DEFAULT_CONTEXT_LINES. */
  readonly contextLines?: number;
}

/** A region of a file shown to the model: 0-based lines, endLine inclusive. */
export interface Snippet {
  readonly path: string;
  readonly startLine: number;
  readonly endLine: number;
}

export interface StepContext {
  readonly messages: ChatMessage[];
  /** Estimated tokens of `messages`; above the budget only when the first region of some file alone did not fit. */
  readonly tokens: number;
  /** Estimated tokens of the same prompt carrying every file of the context in full (sending everything). */
  readonly wholeTokens: number;
  /** What was shown, per file in the step's order, then by line. */
  readonly snippets: Snippet[];
  /** Regions left out to stay within the budget (the farthest from each file's first occurrence go first). */
  readonly omittedRegions: number;
}

const SYSTEM =
  'You are Verdant, a careful coding assistant inside VS Code, carrying out one step of a planned multi-file ' +
  'refactor. You see only the parts of the files this step needs. Change exactly what the step asks, keep the ' +
  "code's style, and do not invent APIs. Answer only with search/replace edit blocks.";

interface Region {
  readonly start: number;
  readonly end: number;
}

/** The file's lines (CRLF or LF); a final line break does not start another line. */
function splitLines(text: string): string[] {
  const lines = text.split(/\r?\n/);
  if (lines.length > 1 && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/** Regions of ±`around` lines around each of `lines`, overlapping or touching ones merged, in line order. */
function regionsAround(lines: readonly number[], around: number, lineCount: number): Region[] {
  const sorted = [...new Set(lines.map((l) => Math.min(Math.max(0, l), lineCount - 1)))].sort((a, b) => a - b);
  const out: { start: number; end: number }[] = [];
  for (const l of sorted) {
    const start = Math.max(0, l - around);
    const end = Math.min(lineCount - 1, l + around);
    const last = out[out.length - 1];
    if (last && start <= last.end + 1) last.end = Math.max(last.end, end);
    else out.push({ start, end });
  }
  return out;
}

function fenceFor(code: string): string {
  const longest = Math.max(0, ...[...code.matchAll(/`+/g)].map((m) => m[0].length));
  return '`'.repeat(Math.max(3, longest + 1));
}

function renderRegion(file: RefactorFile, lines: readonly string[], r: Region): string {
  const whole = r.start === 0 && r.end === lines.length - 1;
  const where = whole ? `whole file, ${lines.length} lines` : `lines ${r.start + 1}-${r.end + 1} of ${lines.length}`;
  const code = lines.slice(r.start, r.end + 1).join('\n');
  const fence = fenceFor(code);
  return `File: ${file.path} (${where})\n${fence}${file.languageId}\n${code}\n${fence}\n\n`;
}

function userHead(step: PlanStep, ctx: RefactorContext): string {
  const symbols = step.symbols.length > 0 ? `Symbols: ${step.symbols.join(', ')}\n` : '';
  return (
    `The whole change: ${ctx.request}\n` +
    `This step (${step.id}): ${step.title}\n` +
    `${step.instruction}\n` +
    symbols +
    `\nThe code this step needs (line ranges are 1-based; parts not shown are unchanged context):\n\n`
  );
}

function userTail(paths: readonly string[], ctx: RefactorContext): string {
  const wanted = new Set(paths);
  const diags = ctx.diagnostics.filter((d) => wanted.has(d.path)).slice(0, 10);
  const diagText =
    diags.length > 0 ? `Current problems in these files:\n${diags.map((d) => `- ${d.path} line ${d.line + 1}: ${d.message}`).join('\n')}\n\n` : '';
  return (
    diagText +
    'Reply with the edits ONLY as search/replace blocks, one block per change, in this exact format:\n\n' +
    'File: src/example.ts\n' +
    '<<<<<<< SEARCH\n' +
    'export function oldName(items: Item[]) {\n' +
    '=======\n' +
    'export function newName(items: Item[]) {\n' +
    '>>>>>>> REPLACE\n\n' +
    'Rules:\n' +
    `- "File:" names one of this step's files: ${paths.join(', ')}.\n` +
    '- Copy the SEARCH lines exactly from the code shown above, with the same indentation; they must match only ' +
    'one place in their file (add a neighbouring line when a line repeats).\n' +
    '- Keep each block small: the lines that change, plus a line of context only when needed to be unique.\n' +
    '- Change only what this step asks. Write nothing but the blocks.'
  );
}

function countTokens(messages: readonly ChatMessage[]): number {
  return messages.reduce((n, m) => n + estimateTokens(m.content), 0);
}

/**
 * The prompt for one step: the step's files only, each as the regions around its occurrences of the step's symbols
 * (±contextLines, merged), or whole when shorter than WHOLE_FILE_LINES. Within `budgetTokens`: every file's first
 * region always goes in (even over budget, and `tokens` then says so), then further regions in line order, round
 * robin across files, until one does not fit (later ones of that file are dropped; a region is never cut). A file
 * with no occurrences shows its first WHOLE_FILE_LINES lines.
 */
export function stepContext(step: PlanStep, ctx: RefactorContext, opts: StepContextOptions): StepContext {
  const around = Math.max(0, Math.floor(opts.contextLines ?? DEFAULT_CONTEXT_LINES));
  const byPath = new Map(ctx.files.map((f) => [f.path, f] as const));
  const stepFiles = step.files.map((p) => byPath.get(p)).filter((f): f is RefactorFile => f !== undefined);
  const paths = stepFiles.map((f) => f.path);
  const symbols = new Set(step.symbols);

  const perFile = stepFiles.map((file) => {
    const lines = splitLines(file.text);
    let regions: Region[];
    if (lines.length < WHOLE_FILE_LINES) {
      regions = [{ start: 0, end: lines.length - 1 }];
    } else {
      const inFile = ctx.hits.filter((h) => h.path === file.path);
      const ofStep = inFile.filter((h) => symbols.has(h.symbol));
      const hits = ofStep.length > 0 ? ofStep : inFile;
      regions =
        hits.length > 0
          ? regionsAround(
              hits.map((h) => h.line),
              around,
              lines.length,
            )
          : [{ start: 0, end: Math.min(lines.length, WHOLE_FILE_LINES) - 1 }];
    }
    return { file, lines, regions, rendered: regions.map((r) => renderRegion(file, lines, r)), kept: 1, open: true };
  });

  const head = userHead(step, ctx);
  const tail = userTail(paths, ctx);
  const systemTokens = estimateTokens(SYSTEM);
  let bodyChars = perFile.reduce((n, f) => n + f.rendered[0]!.length, 0); // each file has one region or more
  const fits = (extra: number) => systemTokens + Math.ceil((head.length + bodyChars + extra + tail.length) / CHARS_PER_TOKEN) <= opts.budgetTokens;
  for (let k = 1, more = true; more; k++) {
    more = false;
    for (const f of perFile) {
      const region = f.rendered[k];
      if (!f.open || region === undefined) continue;
      if (fits(region.length)) {
        bodyChars += region.length;
        f.kept = k + 1;
        more = true;
      } else {
        f.open = false;
      }
    }
  }

  const body = perFile.map((f) => f.rendered.slice(0, f.kept).join('')).join('');
  const messages: ChatMessage[] = [
    { role: 'system', content: SYSTEM },
    { role: 'user', content: head + body + tail },
  ];
  const snippets = perFile.flatMap((f) => f.regions.slice(0, f.kept).map((r) => ({ path: f.file.path, startLine: r.start, endLine: r.end })));
  const omittedRegions = perFile.reduce((n, f) => n + f.regions.length - f.kept, 0);

  const wholeBody = ctx.files
    .map((f) => {
      const lines = splitLines(f.text);
      return renderRegion(f, lines, { start: 0, end: lines.length - 1 });
    })
    .join('');
  const wholeTokens = countTokens([
    { role: 'system', content: SYSTEM },
    {
      role: 'user',
      content:
        head +
        wholeBody +
        userTail(
          ctx.files.map((f) => f.path),
          ctx,
        ),
    },
  ]);

  return { messages, tokens: countTokens(messages), wholeTokens, snippets, omittedRegions };
}
