// A ring of context chunks from other places the user worked (edited, visited, saved files, the clipboard), given to
// the model ahead of the current file. Near-duplicates are replaced (Jaccard similarity of their line sets), tiny
// chunks are dropped, and the ring keeps the most recent ones.
import type { ContextChunk } from '../inference/types';

export interface RingOptions {
  readonly maxChunks: number;
  /** Lines per chunk at most. */
  readonly chunkLines: number;
  /** Characters per chunk at most (default MAX_CHUNK_CHARS; a minified file has few, very long lines). */
  readonly chunkChars?: number;
  readonly minLines: number;
  /** Chunks at least this similar to a newer one are dropped. */
  readonly similarity: number;
}

export const DEFAULT_RING: RingOptions = { maxChunks: 16, chunkLines: 64, minLines: 3, similarity: 0.9 };
/** 64 lines of 128 characters. */
export const MAX_CHUNK_CHARS = 8 * 1024;

export function jaccard(a: ReadonlySet<string>, b: ReadonlySet<string>): number {
  if (a.size === 0 && b.size === 0) return 1;
  let common = 0;
  for (const x of a) if (b.has(x)) common++;
  return common / (a.size + b.size - common);
}

function lineSet(text: string): Set<string> {
  return new Set(
    text
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== ''),
  );
}

export class ExtraContextRing {
  private chunks: { chunk: ContextChunk; lines: Set<string> }[] = [];
  private version = 0;

  constructor(private readonly options: RingOptions = DEFAULT_RING) {}

  /** Bumps on every change, so callers can tell when a warm-up of the engine cache is due. */
  get revision(): number {
    return this.version;
  }

  /**
   * Adds the lines around `centerLine` of a file (or the whole text when it is short). Returns false when the chunk
   * was too small or the same as the newest one.
   */
  addAround(path: string, lines: readonly string[], centerLine: number): boolean {
    const half = Math.floor(this.options.chunkLines / 2);
    const start = Math.max(0, Math.min(centerLine - half, lines.length - this.options.chunkLines));
    return this.add({ path, text: lines.slice(start, start + this.options.chunkLines).join('\n') });
  }

  add(chunk: ContextChunk): boolean {
    let text = chunk.text.split('\n', this.options.chunkLines).join('\n');
    const maxChars = this.options.chunkChars ?? MAX_CHUNK_CHARS;
    if (text.length > maxChars) {
      // Whole lines when one ends within the limit; else the start of the first line.
      const cut = text.lastIndexOf('\n', maxChars);
      text = text.slice(0, cut > 0 ? cut : maxChars);
    }
    const lines = lineSet(text);
    if (lines.size < this.options.minLines) return false;
    const newest = this.chunks[this.chunks.length - 1];
    if (newest && newest.chunk.path === chunk.path && newest.chunk.text === text) return false;
    this.chunks = this.chunks.filter((c) => jaccard(c.lines, lines) < this.options.similarity);
    this.chunks.push({ chunk: { path: chunk.path, text }, lines });
    if (this.chunks.length > this.options.maxChunks) this.chunks.shift();
    this.version++;
    return true;
  }

  /** Oldest first, newest last; chunks from `exceptPath` (the file being completed) are left out. */
  snapshot(exceptPath?: string): ContextChunk[] {
    return this.chunks.filter((c) => c.chunk.path !== exceptPath).map((c) => c.chunk);
  }

  get length(): number {
    return this.chunks.length;
  }
}
