// What the user taught the router: each local answer kept (accepted, applied, "Retry Locally" after the cloud) or
// redone in the cloud ("Retry in Cloud", discarded), remembered with the request's feature vector. A new request
// whose nearest remembered neighbours (same kind, cosine similarity over the same features) mostly failed locally
// leans to the cloud, and one whose neighbours did well leans local; the decision says so ("similar requests failed
// locally 3 of 4 times"). Bounded (the newest MEMORY_SIZE outcomes), stored sparse, pure.

/** Outcomes kept (oldest dropped first). */
export const MEMORY_SIZE = 300;
/** Neighbours at or above this cosine similarity count. */
export const SIMILAR = 0.8;
/** At most this many neighbours are consulted, and at least MIN_NEIGHBOURS must agree to say anything. */
const K = 5;
const MIN_NEIGHBOURS = 2;
/** The classifier's p weighs as much as this many neighbours. */
const PRIOR_WEIGHT = 2;

interface Outcome {
  readonly kind: string;
  /** Non-zero feature indices and their values, and the vector's norm. */
  readonly idx: number[];
  readonly val: number[];
  readonly norm: number;
  readonly localOk: boolean;
}

export interface Lean {
  /** The classifier's p moved towards what similar requests did. */
  readonly p: number;
  /** e.g. "similar requests failed locally 3 of 4 times"; undefined when no neighbour is close enough. */
  readonly note?: string;
}

function sparse(v: Float32Array): { idx: number[]; val: number[]; norm: number } {
  const idx: number[] = [];
  const val: number[] = [];
  let sq = 0;
  v.forEach((x, i) => {
    if (x !== 0) {
      idx.push(i);
      val.push(x);
      sq += x * x;
    }
  });
  return { idx, val, norm: Math.sqrt(sq) };
}

function cosine(a: Outcome, v: Float32Array, norm: number): number {
  if (a.norm === 0 || norm === 0) return 0;
  let dot = 0;
  for (let j = 0; j < a.idx.length; j++) dot += a.val[j]! * v[a.idx[j]!]!;
  return dot / (a.norm * norm);
}

export class OutcomeMemory {
  private readonly outcomes: Outcome[] = [];

  /** From toJSON()'s output (anything malformed is dropped, never thrown). */
  constructor(saved?: unknown) {
    if (!Array.isArray(saved)) return;
    for (const o of saved.slice(-MEMORY_SIZE)) {
      if (typeof o !== 'object' || o === null) continue;
      const x = o as Partial<Outcome>;
      if (
        typeof x.kind !== 'string' ||
        typeof x.localOk !== 'boolean' ||
        !Array.isArray(x.idx) ||
        !Array.isArray(x.val) ||
        x.idx.length !== x.val.length
      )
        continue;
      if (!x.idx.every((i) => Number.isInteger(i) && i >= 0) || !x.val.every((n) => typeof n === 'number' && Number.isFinite(n))) continue;
      this.outcomes.push({ kind: x.kind, idx: x.idx, val: x.val, norm: Math.hypot(...x.val), localOk: x.localOk });
    }
  }

  get size(): number {
    return this.outcomes.length;
  }

  /** A local answer to a request with these features did (true) or did not (false) do. */
  record(kind: string, features: Float32Array, localOk: boolean): void {
    this.outcomes.push({ kind, ...sparse(features), localOk });
    if (this.outcomes.length > MEMORY_SIZE) this.outcomes.splice(0, this.outcomes.length - MEMORY_SIZE);
  }

  /** The classifier's p for a new request, leaning towards what its nearest remembered neighbours did. */
  lean(kind: string, features: Float32Array, p: number): Lean {
    const norm = Math.hypot(...features);
    const near = this.outcomes
      .filter((o) => o.kind === kind)
      .map((o) => ({ o, s: cosine(o, features, norm) }))
      .filter((x) => x.s >= SIMILAR)
      .sort((a, b) => b.s - a.s)
      .slice(0, K);
    if (near.length < MIN_NEIGHBOURS) return { p };
    const ok = near.filter((x) => x.o.localOk).length;
    const leaned = (p * PRIOR_WEIGHT + ok) / (PRIOR_WEIGHT + near.length);
    const failed = near.length - ok;
    // Said only when the neighbours lean one way; a tie still moves p towards the middle, silently.
    if (failed === ok) return { p: leaned };
    const note =
      failed > ok
        ? `similar requests failed locally ${failed} of ${near.length} times`
        : `similar requests did well locally ${ok} of ${near.length} times`;
    return { p: leaned, note };
  }

  toJSON(): { kind: string; idx: number[]; val: number[]; localOk: boolean }[] {
    // Four decimals are plenty for a similarity, and keep the stored state small.
    return this.outcomes.map((o) => ({ kind: o.kind, idx: o.idx, val: o.val.map((x) => Math.round(x * 1e4) / 1e4), localOk: o.localOk }));
  }
}
