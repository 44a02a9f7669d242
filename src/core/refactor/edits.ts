// The edits a refactor step's answer yields: search/replace blocks parsed from the model's text, then resolved
// against the files' current text into offset edits, and checked (each block in one of the step's files, its search
// text found exactly once, no two edits overlapping) before anything is shown. Pure.
//
// The format (one block per change; a "File:" line applies to the blocks after it until the next "File:"):
//   File: src/cart.ts
//   <<<<<<< SEARCH
//   export function computeTotal(items: Item[]) {
//   =======
//   export function calculateTotal(items: Item[]) {
//   >>>>>>> REPLACE
import type { FileEdit } from './types';

/** The model's edits cannot be used as they are; the message says why, in words (no trailing period). */
export class EditError extends Error {
  /** The file the problem is in, when there is one. */
  readonly path: string | undefined;

  constructor(message: string, path?: string) {
    super(message);
    this.name = 'EditError';
    this.path = path;
  }
}

export interface EditBlock {
  readonly path: string;
  /** Lines joined with "\n" (no trailing newline). */
  readonly search: string;
  readonly replace: string;
}

/** A workspace-relative path as the model may write it: backslashes, a leading "./", quotes or backticks. */
export function normalizePath(path: string): string {
  let p = path
    .trim()
    .replace(/^[`'"*]+|[`'"*]+$/g, '')
    .trim()
    .replace(/\\/g, '/');
  while (p.startsWith('./')) p = p.slice(2);
  return p;
}

const SEARCH_RE = /^\s*<{5,9}\s*SEARCH\s*$/;
const DIVIDER_RE = /^\s*={5,9}\s*$/;
const REPLACE_RE = /^\s*>{5,9}\s*REPLACE\s*$/;
// "File: src/a.ts", "**File:** `src/a.ts`", "### File: src/a.ts", "File: `src/a.ts`:".
const FILE_RE = /^\s*(?:[#>]+\s*)?(?:\*\*|__)?(?:File|Path)\s*:\s*(?:\*\*|__)?\s*(.+?)\s*$/i;
const FENCE_RE = /^\s*(?:```|~~~)/;

/**
 * The search/replace blocks of a model's answer. Prose and ``` fences between blocks are ignored; CRLF is read as
 * LF. Throws EditError for a malformed answer (a block with no File: line before it, a SEARCH without its =======
 * or REPLACE line, an empty SEARCH) and for an answer with no blocks at all.
 */
export function parseEditBlocks(text: string): EditBlock[] {
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  const blocks: EditBlock[] = [];
  let path: string | undefined;
  let i = 0;
  // Every lines[i] below is read with i < lines.length.
  while (i < lines.length) {
    const line = lines[i]!;
    if (SEARCH_RE.test(line)) {
      const where = path ? ` for ${path}` : '';
      if (!path) throw new EditError(`an edit block (line ${i + 1} of the answer) has no "File:" line before it`);
      const search: string[] = [];
      i++;
      while (i < lines.length && !DIVIDER_RE.test(lines[i]!)) {
        if (SEARCH_RE.test(lines[i]!) || REPLACE_RE.test(lines[i]!)) {
          throw new EditError(`a SEARCH block${where} has no "=======" line before its end`, path);
        }
        search.push(lines[i++]!);
      }
      if (i >= lines.length) throw new EditError(`a SEARCH block${where} has no "=======" line and no REPLACE`, path);
      const replace: string[] = [];
      i++;
      while (i < lines.length && !REPLACE_RE.test(lines[i]!)) {
        if (SEARCH_RE.test(lines[i]!)) throw new EditError(`a SEARCH block${where} has no ">>>>>>> REPLACE" line`, path);
        replace.push(lines[i++]!);
      }
      if (i >= lines.length) throw new EditError(`a SEARCH block${where} has no ">>>>>>> REPLACE" line`, path);
      if (search.every((l) => l.trim() === '')) throw new EditError(`an edit${where} has an empty SEARCH part`, path);
      blocks.push({ path, search: search.join('\n'), replace: replace.join('\n') });
      i++;
      continue;
    }
    if (DIVIDER_RE.test(line) || REPLACE_RE.test(line)) {
      throw new EditError(`the answer has a "${line.trim()}" line (line ${i + 1}) outside a SEARCH/REPLACE block`, path);
    }
    const file = FILE_RE.exec(line)?.[1];
    if (file !== undefined && !FENCE_RE.test(line)) {
      const quoted = /`([^`]+)`/.exec(file)?.[1];
      const p = normalizePath(quoted ?? file.replace(/:$/, ''));
      if (p !== '') path = p;
    }
    i++;
  }
  if (blocks.length === 0) throw new EditError('the model returned no edits');
  return blocks;
}

interface Match {
  readonly start: number;
  readonly end: number;
}

function exactMatches(text: string, search: string): Match[] {
  const found: Match[] = [];
  for (let at = text.indexOf(search); at !== -1; at = text.indexOf(search, at + 1)) {
    found.push({ start: at, end: at + search.length });
  }
  return found;
}

/** Lines of `text` with the offset each starts at and the offset its content ends at (before the line break). */
function lineSpans(text: string): { readonly text: string; readonly start: number; readonly end: number }[] {
  const spans: { text: string; start: number; end: number }[] = [];
  let start = 0;
  for (;;) {
    const nl = text.indexOf('\n', start);
    const end = nl === -1 ? text.length : nl;
    const contentEnd = end > start && text[end - 1] === '\r' ? end - 1 : end;
    spans.push({ text: text.slice(start, contentEnd), start, end: contentEnd });
    if (nl === -1) return spans;
    start = nl + 1;
  }
}

/** Matches of `searchLines` as whole lines of the file, ignoring trailing whitespace on every line. */
function lineMatches(text: string, searchLines: readonly string[]): Match[] {
  const spans = lineSpans(text);
  const want = searchLines.map((l) => l.trimEnd());
  const found: Match[] = [];
  // In range: i + j < i + want.length <= spans.length, and want is not empty (resolveEdits checks).
  for (let i = 0; i + want.length <= spans.length; i++) {
    let ok = true;
    for (let j = 0; j < want.length && ok; j++) ok = spans[i + j]!.text.trimEnd() === want[j];
    if (ok) found.push({ start: spans[i]!.start, end: spans[i + want.length - 1]!.end });
  }
  return found;
}

function firstLine(search: string): string {
  const line = search.split('\n').find((l) => l.trim() !== '') ?? '';
  const t = line.trim();
  return t.length > 80 ? `${t.slice(0, 79)}…` : t;
}

/** Blank lines at either end of a block's search, dropped for line matching (and as many blank ones of replace). */
function trimBlankEnds(search: string[], replace: string[]): [string[], string[]] {
  let s = 0;
  let e = search.length;
  // In range: 0 <= s < e <= search.length, and 0 <= rs < re <= replace.length, where read.
  while (s < e && search[s]!.trim() === '') s++;
  while (e > s && search[e - 1]!.trim() === '') e--;
  let rs = 0;
  let re = replace.length;
  for (let k = 0; k < s && rs < re && replace[rs]!.trim() === ''; k++) rs++;
  for (let k = 0; k < search.length - e && re > rs && replace[re - 1]!.trim() === ''; k++) re--;
  return [search.slice(s, e), replace.slice(rs, re)];
}

/**
 * Resolves blocks to offset edits in the files' current text. Each block's path must be one of `allowed` (the
 * step's files) and in `files`; its search text must occur exactly once (when it does not occur at all, lines are
 * matched again ignoring trailing whitespace); edits in one file must not overlap. The replacement takes the file's
 * line ending (CRLF files get CRLF). Repeated identical blocks count once. Sorted by path, then start.
 */
export function resolveEdits(blocks: readonly EditBlock[], files: ReadonlyMap<string, string>, allowed: readonly string[]): FileEdit[] {
  const allowedSet = new Set(allowed.map(normalizePath));
  const seen = new Set<string>();
  const edits: FileEdit[] = [];
  for (const block of blocks) {
    const path = normalizePath(block.path);
    const key = JSON.stringify([path, block.search, block.replace]);
    if (seen.has(key)) continue;
    seen.add(key);
    if (!allowedSet.has(path)) {
      throw new EditError(`the model edited ${path}, which is not one of this step's files (${[...allowedSet].join(', ')})`, path);
    }
    const text = files.get(path);
    if (text === undefined) throw new EditError(`the model edited ${path}, but Verdant has not read that file`, path);
    const eol = text.includes('\r\n') ? '\r\n' : '\n';
    const search = block.search.replace(/\r?\n/g, eol);
    const replace = block.replace.replace(/\r?\n/g, eol);
    let matches = exactMatches(text, search);
    let newText = replace;
    if (matches.length === 0) {
      const [searchLines, replaceLines] = trimBlankEnds(block.search.split(/\r?\n/), block.replace.split(/\r?\n/));
      if (searchLines.length > 0) {
        matches = lineMatches(text, searchLines);
        newText = replaceLines.join(eol);
      }
    }
    const [match] = matches;
    if (match === undefined) {
      throw new EditError(`the SEARCH text for ${path} was not found in the file (it starts "${firstLine(block.search)}")`, path);
    }
    if (matches.length > 1) {
      throw new EditError(
        `the SEARCH text for ${path} is ambiguous: it matches ${matches.length} places (it starts "${firstLine(block.search)}"); it must match exactly one`,
        path,
      );
    }
    edits.push({ path, start: match.start, end: match.end, newText });
  }
  edits.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : a.start - b.start));
  for (let k = 1; k < edits.length; k++) {
    const prev = edits[k - 1]!;
    const cur = edits[k]!;
    if (prev.path === cur.path && cur.start < prev.end) {
      throw new EditError(`two edits to ${cur.path} overlap (at offsets ${prev.start}-${prev.end} and ${cur.start}-${cur.end})`, cur.path);
    }
  }
  return edits;
}

/** `text` with `edits` (all for this one file) applied, from the end backwards so offsets stay valid. */
export function applyEdits(text: string, edits: readonly FileEdit[]): string {
  const sorted = [...edits].sort((a, b) => b.start - a.start || b.end - a.end);
  let out = text;
  let limit = text.length;
  for (const e of sorted) {
    if (e.start < 0 || e.end < e.start || e.end > limit) {
      throw new EditError(`an edit to ${e.path} (offsets ${e.start}-${e.end}) is out of range or overlaps another`, e.path);
    }
    out = out.slice(0, e.start) + e.newText + out.slice(e.end);
    limit = e.start;
  }
  return out;
}
