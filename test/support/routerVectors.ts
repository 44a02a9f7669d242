// The router's real word vectors (src/core/routing/model/word-vectors.bin), read once per test file that needs them.
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parseWordVectors, type WordVectors } from '../../src/core/routing/wordVectors';

export const WORD_VECTORS_FILE = path.resolve('src', 'core', 'routing', 'model', 'word-vectors.bin');

export function readRouterVectors(): WordVectors {
  return parseWordVectors(readFileSync(WORD_VECTORS_FILE));
}
