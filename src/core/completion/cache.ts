// An LRU of finished suggestions keyed on (prefix, suffix), with typing-through: when the user types characters a
// cached suggestion predicted, the rest of that suggestion is served without asking the engine, by walking back over
// the typed characters to the request that produced it.

export interface CacheHit {
  readonly text: string;
  /** Characters walked back (0 = exact hit). */
  readonly typed: number;
}

/** FNV-1a over UTF-16 code units: fast, and incremental, so every walk-back length costs one step. */
const FNV_OFFSET = 0x811c9dc5;
function fnvStep(h: number, code: number): number {
  return Math.imul(h ^ code, 0x01000193) >>> 0;
}
function fnv(text: string, h = FNV_OFFSET, from = 0, to = text.length): number {
  for (let i = from; i < to; i++) h = fnvStep(h, text.charCodeAt(i));
  return h;
}

export class CompletionCache {
  private readonly entries = new Map<string, { prefix: string; suffix: string; text: string }>();

  constructor(
    readonly capacity = 256,
    readonly maxWalkBack = 64,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  put(prefix: string, suffix: string, text: string): void {
    const key = this.key(fnv(prefix), prefix.length, fnv(suffix));
    this.entries.delete(key);
    this.entries.set(key, { prefix, suffix, text });
    if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value!);
  }

  /** The suggestion for this exact state, or one whose start the user has since typed (walking back). */
  get(prefix: string, suffix: string): CacheHit | undefined {
    const suffixHash = fnv(suffix);
    const walk = Math.min(this.maxWalkBack, prefix.length);
    // Hash the common part once, then extend it one character at a time: hashes of prefix[0..n-k] for every k.
    const start = prefix.length - walk;
    const hashes: number[] = new Array(walk + 1);
    let h = fnv(prefix, FNV_OFFSET, 0, start);
    hashes[walk] = h;
    for (let i = start; i < prefix.length; i++) {
      h = fnvStep(h, prefix.charCodeAt(i));
      hashes[prefix.length - 1 - i] = h;
    }
    for (let typed = 0; typed <= walk; typed++) {
      const key = this.key(hashes[typed]!, prefix.length - typed, suffixHash); // hashes[0..walk] are all set above
      const entry = this.entries.get(key);
      if (!entry || entry.suffix !== suffix || !prefix.startsWith(entry.prefix) || entry.prefix.length !== prefix.length - typed) continue;
      const typedText = prefix.slice(prefix.length - typed);
      if (!entry.text.startsWith(typedText) || entry.text.length <= typed) continue;
      // Refresh recency.
      this.entries.delete(key);
      this.entries.set(key, entry);
      return { text: entry.text.slice(typed), typed };
    }
    return undefined;
  }

  clear(): void {
    this.entries.clear();
  }

  private key(prefixHash: number, prefixLength: number, suffixHash: number): string {
    return `${prefixHash.toString(36)}:${prefixLength}:${suffixHash.toString(36)}`;
  }
}
