// What a completion request knows about the cursor: a prefix and a suffix window cut at line boundaries (so the
// window start stays put while the user types, which keeps cache keys and the engine's KV prefix stable),
// and the facts the output rules need. The engine trims the windows to its token budget exactly; the windows are
// also capped in characters, so a minified file (one 10 MB line) does not send megabytes to the engine, which
// would tokenize all of it on every keystroke.

export interface CompletionInput {
  /** Identifies the document (its URI); also the engine's KV-cache sequence key. */
  readonly documentKey: string;
  readonly languageId: string;
  /** Workspace-relative path, for repository-level prompt layouts. */
  readonly filePath: string;
  readonly prefix: string;
  readonly suffix: string;
  /** Text of the cursor's line before / after the cursor. */
  readonly linePrefix: string;
  readonly lineSuffix: string;
  /** Whether the request came from the user (a keybinding) rather than typing. */
  readonly manual: boolean;
}

export interface WindowOptions {
  /** Lines of text before the cursor's line to include. */
  readonly prefixLines: number;
  /** Lines after the cursor's line to include. */
  readonly suffixLines: number;
  /** Characters at most in the prefix (default MAX_PREFIX_CHARS): far lines are left out first. */
  readonly maxPrefixChars?: number;
  /** Characters at most in the suffix (default MAX_SUFFIX_CHARS). */
  readonly maxSuffixChars?: number;
  /** The document line that lines[0] is (when only part of the document is passed); default 0. */
  readonly firstLine?: number;
}

/** The prefix window starts on a document line that is a multiple of this, so it stays put while the user types on
 *  (it moves once every 32 lines, not on every Enter): the engine then reuses its cached tokens. */
export const WINDOW_ALIGN_LINES = 32;

export const DEFAULT_WINDOW: WindowOptions = { prefixLines: 256, suffixLines: 64 };
/** 256 lines of 128 characters: more than any model's context budget for the prefix, never binding on normal code. */
export const MAX_PREFIX_CHARS = 32 * 1024;
export const MAX_SUFFIX_CHARS = 8 * 1024;

/** Cuts the windows out of a document given as lines (without line terminators) and a cursor position. */
export function cutWindows(lines: readonly string[], line: number, character: number, eol: string, options: WindowOptions = DEFAULT_WINDOW) {
  const maxPrefix = options.maxPrefixChars ?? MAX_PREFIX_CHARS;
  const maxSuffix = options.maxSuffixChars ?? MAX_SUFFIX_CHARS;
  const current = lines[line] ?? '';
  // A cursor line longer than a window (minified code) keeps the characters nearest the cursor.
  const linePrefix = current.slice(Math.max(0, character - maxPrefix), character);
  const lineSuffix = current.slice(character, character + maxSuffix);
  // Then whole lines, nearest first, while they fit.
  let first = line;
  for (let size = linePrefix.length; first > Math.max(0, line - options.prefixLines); first--) {
    size += (lines[first - 1] ?? '').length + eol.length;
    if (size > maxPrefix) break;
  }
  let last = line;
  for (let size = lineSuffix.length; last < Math.min(lines.length - 1, line + options.suffixLines); last++) {
    size += lines[last + 1]!.length + eol.length;
    if (size > maxSuffix) break;
  }
  // Start on the next aligned line, unless that leaves out everything above the cursor line (very long lines).
  const offset = options.firstLine ?? 0;
  const aligned = Math.ceil((first + offset) / WINDOW_ALIGN_LINES) * WINDOW_ALIGN_LINES - offset;
  if (aligned < line) first = aligned;
  const before = lines.slice(first, line);
  const after = lines.slice(line + 1, last + 1);
  const prefix = (before.length ? before.join(eol) + eol : '') + linePrefix;
  const suffix = lineSuffix + (after.length ? eol + after.join(eol) : '');
  return { prefix, suffix, linePrefix, lineSuffix };
}

/** The leading whitespace of a line, in columns (a tab counts as tabSize). */
export function indentWidth(line: string, tabSize = 4): number {
  let width = 0;
  for (const ch of line) {
    if (ch === ' ') width++;
    else if (ch === '\t') width += tabSize - (width % tabSize);
    else break;
  }
  return width;
}
