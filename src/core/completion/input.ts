// What a completion request knows about the cursor: a prefix and a suffix window cut at line boundaries (so the
// window start stays put while the user types on a line, which keeps cache keys and the engine's KV prefix stable),
// and the facts the output rules need. The engine trims the windows to its token budget exactly.

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
}

export const DEFAULT_WINDOW: WindowOptions = { prefixLines: 256, suffixLines: 64 };

/** Cuts the windows out of a document given as lines (without line terminators) and a cursor position. */
export function cutWindows(lines: readonly string[], line: number, character: number, eol: string, options: WindowOptions = DEFAULT_WINDOW) {
  const current = lines[line] ?? '';
  const linePrefix = current.slice(0, character);
  const lineSuffix = current.slice(character);
  const first = Math.max(0, line - options.prefixLines);
  const last = Math.min(lines.length - 1, line + options.suffixLines);
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
