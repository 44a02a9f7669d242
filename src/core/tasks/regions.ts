// A long selection cut into regions the local model can each take whole, for a refactor too long for its context
// (a long mechanical change stays local piece by piece, as planned multi-file refactors do per file). Cuts fall only
// between top-level blocks of the selection (a line at its outermost indent after a blank line or after a line that
// closes a block), so each region is code that stands on its own; the regions joined give back the selection
// exactly. Pure.

/** A line that closes a block at its indent: a brace, bracket or parenthesis, or a keyword such as Ruby's `end`. */
const CLOSER = /^\s*(?:[}\])]|end\b|fi\b|done\b|esac\b)/;

function indentOf(line: string): number {
  return /^[ \t]*/.exec(line)![0].replace(/\t/g, '    ').length;
}

const blank = (line: string) => line.trim() === '';

/**
 * The selection's top-level blocks: the text between cuts, in order (joined, the code itself). One block when the
 * code has no place to cut.
 */
export function topLevelBlocks(code: string): string[] {
  const lines = code.split(/(?<=\n)/);
  const outer = Math.min(...lines.filter((l) => !blank(l)).map(indentOf));
  const blocks: string[] = [];
  let current = '';
  let previous: string | undefined;
  for (const line of lines) {
    const cut =
      current !== '' &&
      !blank(line) &&
      indentOf(line) === outer &&
      previous !== undefined &&
      (blank(previous) || (indentOf(previous) === outer && CLOSER.test(previous)));
    if (cut) {
      blocks.push(current);
      current = '';
    }
    current += line;
    previous = line;
  }
  if (current !== '') blocks.push(current);
  return blocks;
}

/**
 * The selection packed into as few regions of at most `maxChars` characters as its top-level blocks allow (each
 * region whole blocks, in order). Undefined when it cannot be cut that way: a single block over `maxChars`, or the
 * whole already within it (nothing to split).
 */
export function splitRegions(code: string, maxChars: number): string[] | undefined {
  if (code.length <= maxChars) return undefined;
  const regions: string[] = [];
  let current = '';
  for (const block of topLevelBlocks(code)) {
    if (block.length > maxChars) return undefined;
    if (current.length + block.length > maxChars) {
      regions.push(current);
      current = '';
    }
    current += block;
  }
  if (current !== '') regions.push(current);
  return regions.length > 1 ? regions : undefined;
}

/**
 * A region's replacement as it goes back between its neighbours: ending in a line break exactly when the original
 * region did (a model's code block loses the final one), so the next region still starts on its own line.
 */
export function rejoinable(replacement: string, original: string): string {
  const trimmed = replacement.replace(/\n+$/, '');
  const ending = /\n+$/.exec(original)?.[0] ?? '';
  return trimmed + ending;
}
