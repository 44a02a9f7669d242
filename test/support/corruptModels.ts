// Test tooling: broken model files made from a good GGUF, for the errors a user really meets: a download cut
// short, an HTML error page or archive saved as .gguf, a header with garbage in it.
import { copyFile, open, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { readGguf } from '../../src/engine/gguf';

export interface CorruptModels {
  /** Header intact, tensor data cut in the middle. */
  readonly truncated: string;
  /** Cut inside the metadata. */
  readonly truncatedHeader: string;
  /** A ZIP archive named .gguf. */
  readonly zip: string;
  /** An HTML error page saved as .gguf. */
  readonly html: string;
  /** Plain text. */
  readonly text: string;
  /** Zero bytes. */
  readonly empty: string;
  /** Tensor count 2^64 - 1. */
  readonly absurdTensorCount: string;
  /** First metadata key's length 2^62. */
  readonly absurdStringLength: string;
}

async function truncatedCopy(src: string, dst: string, length: number): Promise<void> {
  const fh = await open(src, 'r');
  try {
    const buf = Buffer.alloc(length);
    await fh.read(buf, 0, length, 0);
    await writeFile(dst, buf);
  } finally {
    await fh.close();
  }
}

async function patchedCopy(src: string, dst: string, at: number, bytes: Buffer): Promise<void> {
  await copyFile(src, dst);
  const fh = await open(dst, 'r+');
  try {
    await fh.write(bytes, 0, bytes.length, at);
  } finally {
    await fh.close();
  }
}

function u64(v: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(v);
  return b;
}

/** Writes the broken variants of the GGUF at `srcPath` into `dir` (which must exist). */
export async function writeCorruptModels(srcPath: string, dir: string): Promise<CorruptModels> {
  const info = await readGguf(srcPath);
  const f = (name: string): string => path.join(dir, name);
  const files: CorruptModels = {
    truncated: f('truncated.gguf'),
    truncatedHeader: f('truncated-header.gguf'),
    zip: f('archive.gguf'),
    html: f('error-page.gguf'),
    text: f('notes.gguf'),
    empty: f('empty.gguf'),
    absurdTensorCount: f('absurd-tensor-count.gguf'),
    absurdStringLength: f('absurd-string-length.gguf'),
  };
  await truncatedCopy(srcPath, files.truncated, info.dataOffset + Math.floor(info.dataSize / 2));
  await truncatedCopy(srcPath, files.truncatedHeader, Math.floor(info.headerSize / 2));
  // Local file header of an empty stored entry "a".
  await writeFile(files.zip, Buffer.from('504b0304140000000000000000000000000000000000000000000100000061', 'hex'));
  await writeFile(files.html, '<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head><body>Not Found</body></html>\n');
  await writeFile(files.text, 'These are not the weights you are looking for.\n');
  await writeFile(files.empty, '');
  // Layout: magic (4), version (4), tensor count (8), metadata count (8), first key length (8).
  await patchedCopy(srcPath, files.absurdTensorCount, 8, u64(2n ** 64n - 1n));
  await patchedCopy(srcPath, files.absurdStringLength, 24, u64(2n ** 62n));
  return files;
}
