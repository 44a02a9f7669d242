// One KV-cache sequence per session key (per open document), so each keystroke's request reuses the prefix already
// evaluated for that document. When every sequence is taken, the least recently used one is reassigned; its cache
// needs no clearing, because the decode loop keeps only the common token prefix of whatever was cached.
// Requests on one sequence run one after another; different sequences run in parallel (llama.cpp batches them).
import type { LlamaContext, LlamaContextSequence } from './binding';

interface Slot {
  key: string;
  readonly sequence: LlamaContextSequence;
  lastUsed: number;
  busy: number;
  tail: Promise<void>;
}

export class SequencePool {
  private readonly slots: Slot[] = [];
  private clock = 0;
  private evicted = 0;

  constructor(
    private readonly context: LlamaContext,
    private readonly size: number,
  ) {
    if (!(size > 0)) throw new RangeError(`A sequence pool needs 1 or more sequences, not ${size}.`);
  }

  /** Runs fn with the sequence for key, after any earlier request on that sequence finished. */
  async run<T>(key: string, fn: (sequence: LlamaContextSequence) => Promise<T>): Promise<T> {
    const slot = this.slotFor(key);
    slot.lastUsed = ++this.clock;
    slot.busy++;
    const previous = slot.tail;
    let release!: () => void;
    slot.tail = new Promise<void>((r) => {
      release = r;
    });
    try {
      await previous;
      return await fn(slot.sequence);
    } finally {
      slot.busy--;
      release();
    }
  }

  get stats(): { readonly size: number; readonly used: number; readonly evictions: number; readonly keys: readonly string[] } {
    return { size: this.size, used: this.slots.length, evictions: this.evicted, keys: this.slots.map((s) => s.key) };
  }

  /**
   * node-llama-cpp's token meter over all sequences: input tokens llama.cpp actually evaluated. (It books the last
   * prompt token, whose logits start generation, as output, so it reads one less than the tokens sent.)
   */
  get meteredInputTokens(): number {
    return this.slots.reduce((n, s) => n + s.sequence.tokenMeter.usedInputTokens, 0);
  }

  private slotFor(key: string): Slot {
    const existing = this.slots.find((s) => s.key === key);
    if (existing) return existing;
    if (this.slots.length < this.size) {
      const slot: Slot = { key, sequence: this.context.getSequence(), lastUsed: 0, busy: 0, tail: Promise.resolve() };
      this.slots.push(slot);
      return slot;
    }
    // The least recently used idle slot; if all are busy, queue behind the least recently used one.
    const byAge = [...this.slots].sort((a, b) => a.lastUsed - b.lastUsed);
    const victim = byAge.find((s) => s.busy === 0) ?? byAge[0]!; // size > 0, so there is a slot here
    victim.key = key;
    this.evicted++;
    return victim;
  }
}
