// 10 MB documents as editors meet them (many ordinary lines, or a minified bundle on one line) and the keystroke
// input the VS Code adapter cuts from them. Shared by the hardening test (sizes stay bounded) and bench/ (how fast).
import { cutWindows, DEFAULT_WINDOW, type CompletionInput } from '../../src/core/completion/input';

export const MB10 = 10 * 2 ** 20;
const LILY = 'Once upon a time, there was a little girl named Lily. She';

/** What the provider does on a keystroke (src/vscode/inlineCompletions.ts toInput): read only the window's lines, cut. */
export function toInput(doc: readonly string[], line: number, character: number, documentKey: string): CompletionInput {
  const first = Math.max(0, line - DEFAULT_WINDOW.prefixLines);
  const last = Math.min(doc.length - 1, line + DEFAULT_WINDOW.suffixLines);
  const w = cutWindows(doc.slice(first, last + 1), line - first, character, '\n', { ...DEFAULT_WINDOW, firstLine: first });
  return { documentKey, languageId: 'javascript', filePath: 'big.js', manual: false, ...w };
}

/** ~10 MB of ordinary source lines. */
export function manyLines(): string[] {
  const lines: string[] = [];
  for (let size = 0, i = 0; size < MB10; i++) {
    const l = i % 7 === 0 ? `function f${i}(a, b) {` : i % 7 === 6 ? '}' : `  const v${i} = a * ${i} + b; // ${LILY.slice(0, i % 40)}`;
    lines.push(l);
    size += l.length + 1;
  }
  return lines;
}

/** A 10 MB minified bundle: a handful of lines, one of them nearly the whole file. */
export function minified(): string[] {
  const unit = 'var a=function(b,c){return b+c};';
  return ['/*! bundle */', unit.repeat(Math.ceil(MB10 / unit.length)), '//# sourceMappingURL=big.js.map'];
}

/** The three shapes, each with where the cursor is. */
export const BIG_DOCUMENTS = [
  ['10 MB of ordinary lines, cursor in the middle', manyLines, (doc: string[]) => ({ line: doc.length >> 1, character: 10 })],
  ['a 10 MB minified line, cursor in the middle of it', minified, (doc: string[]) => ({ line: 1, character: doc[1]!.length >> 1 })],
  ['a 10 MB minified line, cursor at its end', minified, (doc: string[]) => ({ line: 1, character: doc[1]!.length })],
] as const;
