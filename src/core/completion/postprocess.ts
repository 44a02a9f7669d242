// Output rules that turn raw model text into a suggestion worth showing: one line when text sits right of the cursor,
// cut at a dedent below the starting block, at a repeat of the lines that follow, at maxLines, and without the part
// that overlaps what already follows the cursor. Returns undefined when nothing useful is left.
import { indentWidth } from './input';

export interface OutputContext {
  readonly linePrefix: string;
  readonly lineSuffix: string;
  /** Everything after the cursor (the first line of it is lineSuffix). */
  readonly suffix: string;
  readonly maxLines: number;
}

export function finalizeCompletion(raw: string, ctx: OutputContext): string | undefined {
  let text = raw.replace(/\r\n/g, '\n');
  const singleLine = ctx.lineSuffix.trim() !== '';
  if (singleLine) {
    text = text.split('\n')[0]!;
    text = trimOverlap(text, ctx.lineSuffix);
  } else {
    // Trailing blanks matter before code on the same line, not at the end of a block.
    text = cutMultiline(text, ctx).replace(/[ \t]+$/g, '');
  }
  if (text.trim() === '') return undefined;
  // A suggestion that only retypes what follows the cursor adds nothing.
  if (ctx.suffix.replace(/\r\n/g, '\n').startsWith(text)) return undefined;
  return text;
}

function cutMultiline(text: string, ctx: OutputContext): string {
  const lines = text.split('\n');
  const baseIndent = indentWidth(ctx.linePrefix);
  const following = ctx.suffix
    .replace(/\r\n/g, '\n')
    .split('\n')
    .slice(1)
    .map((l) => l.trim())
    .filter((l) => l !== '');
  const nextLine = following[0];
  const kept: string[] = [lines[0]!];
  for (let i = 1; i < lines.length && kept.length < ctx.maxLines; i++) {
    const line = lines[i]!;
    if (line.trim() !== '') {
      // Dedent below the block the cursor is in: the model has moved on to code that is not ours to write.
      if (indentWidth(line) < baseIndent) break;
      // The model is re-typing the code that already follows the cursor.
      if (nextLine !== undefined && line.trim() === nextLine) break;
    }
    kept.push(line);
  }
  while (kept.length > 1 && kept[kept.length - 1]!.trim() === '') kept.pop();
  if (nextLine !== undefined && kept.length === 1 && kept[0]!.trim() === nextLine) return '';
  return kept.join('\n');
}

/**
 * Removes the end of the suggestion that repeats the start of the text right of the cursor, e.g. `foo(a, b)` before
 * `)` becomes `foo(a, b`. Only when the overlap is the whole rest of the line or at least 2 characters, so that a
 * single coincidental character is not eaten.
 */
export function trimOverlap(text: string, lineSuffix: string): string {
  const rest = lineSuffix.trimEnd();
  for (let k = Math.min(rest.length, text.length); k > 0; k--) {
    if (text.endsWith(rest.slice(0, k)) && (k === rest.length || k >= 2)) return text.slice(0, text.length - k);
  }
  return text;
}
