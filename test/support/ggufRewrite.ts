// Test tooling: writes GGUF files, either synthetic ones for parser tests or a real model with edited metadata
// (its tensor data copied unchanged), e.g. a FIM variant of a model that has no FIM tokens.
import { open } from 'node:fs/promises';
import {
  GGUF_TYPE,
  TOKENS_KEY,
  TOKEN_TYPE_KEY,
  ggufFixedSize,
  metadataArray,
  readGguf,
  type GgufArray,
  type GgufEntry,
  type GgufValue,
  type GgufValueType,
} from '../../src/engine/gguf';

export interface GgufTensorSpec {
  readonly name: string;
  readonly dims: readonly number[];
  readonly type: number;
  /** Relative to the data section; must be a multiple of the alignment. */
  readonly offset: number;
}

export interface GgufLayout {
  /** Default 3. */
  readonly version?: number;
  /** Written in iteration order. */
  readonly metadata: ReadonlyMap<string, GgufEntry>;
  readonly tensors: readonly GgufTensorSpec[];
}

/** Metadata entry builder, e.g. `entry(GGUF_TYPE.UINT32, 7)`, `entry(GGUF_TYPE.ARRAY, array(GGUF_TYPE.STRING, ['a']))`. */
export function entry(type: GgufValueType, value: GgufValue): GgufEntry {
  return { type, value };
}

export function array(itemType: GgufValueType, items: readonly GgufValue[]): GgufArray {
  return { itemType, length: items.length, items };
}

/** Growable little-endian byte sink. */
class Sink {
  private buf = Buffer.alloc(4096);
  length = 0;

  private room(n: number): number {
    if (this.length + n > this.buf.length) {
      const next = Buffer.alloc(Math.max(this.buf.length * 2, this.length + n));
      this.buf.copy(next, 0, 0, this.length);
      this.buf = next;
    }
    const at = this.length;
    this.length += n;
    return at;
  }

  // room() may replace this.buf, so it runs before this.buf is read.
  u32(v: number): void {
    const at = this.room(4);
    this.buf.writeUInt32LE(v, at);
  }
  u64(v: number | bigint): void {
    const at = this.room(8);
    this.buf.writeBigUInt64LE(BigInt(v), at);
  }
  bytes(b: Uint8Array): void {
    const at = this.room(b.length);
    this.buf.set(b, at);
  }
  string(s: string): void {
    const b = Buffer.from(s, 'utf8');
    this.u64(b.length);
    this.bytes(b);
  }
  zeros(n: number): void {
    this.room(n);
  }
  result(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.length));
  }

  scalar(type: GgufValueType, v: GgufValue): void {
    const size = ggufFixedSize(type);
    if (size === undefined) throw new TypeError(`not a scalar type: ${type}`);
    const at = this.room(size);
    const b = this.buf;
    const num = (): number => {
      if (typeof v !== 'number') throw new TypeError(`type ${type} wants a number, got ${typeof v}`);
      return v;
    };
    switch (type) {
      case GGUF_TYPE.UINT8:
        b.writeUInt8(num(), at);
        break;
      case GGUF_TYPE.INT8:
        b.writeInt8(num(), at);
        break;
      case GGUF_TYPE.UINT16:
        b.writeUInt16LE(num(), at);
        break;
      case GGUF_TYPE.INT16:
        b.writeInt16LE(num(), at);
        break;
      case GGUF_TYPE.UINT32:
        b.writeUInt32LE(num(), at);
        break;
      case GGUF_TYPE.INT32:
        b.writeInt32LE(num(), at);
        break;
      case GGUF_TYPE.FLOAT32:
        b.writeFloatLE(num(), at);
        break;
      case GGUF_TYPE.FLOAT64:
        b.writeDoubleLE(num(), at);
        break;
      case GGUF_TYPE.BOOL:
        if (typeof v !== 'boolean') throw new TypeError('BOOL wants a boolean');
        b.writeUInt8(v ? 1 : 0, at);
        break;
      case GGUF_TYPE.UINT64:
        b.writeBigUInt64LE(BigInt(v as number | bigint), at);
        break;
      case GGUF_TYPE.INT64:
        b.writeBigInt64LE(BigInt(v as number | bigint), at);
        break;
    }
  }

  value(type: GgufValueType, v: GgufValue): void {
    if (type === GGUF_TYPE.STRING) {
      if (typeof v !== 'string') throw new TypeError('STRING wants a string');
      this.string(v);
    } else if (type === GGUF_TYPE.ARRAY) {
      if (typeof v !== 'object') throw new TypeError('ARRAY wants a GgufArray');
      if (!v.items) throw new TypeError('array items were not read; read the source with maxArrayItems: Infinity');
      this.u32(v.itemType);
      this.u64(v.items.length);
      for (const item of v.items) this.value(v.itemType, item);
    } else {
      this.scalar(type, v);
    }
  }
}

function alignmentOf(layout: GgufLayout): number {
  const v = layout.metadata.get('general.alignment')?.value;
  return typeof v === 'number' ? v : 32;
}

/** Header, metadata and tensor table, without the padding before the data section. */
export function encodeGgufHeader(layout: GgufLayout): Buffer {
  const s = new Sink();
  s.bytes(Buffer.from('GGUF', 'latin1'));
  s.u32(layout.version ?? 3);
  s.u64(layout.tensors.length);
  s.u64(layout.metadata.size);
  for (const [key, e] of layout.metadata) {
    s.string(key);
    s.u32(e.type);
    s.value(e.type, e.value);
  }
  for (const t of layout.tensors) {
    s.string(t.name);
    s.u32(t.dims.length);
    for (const d of t.dims) s.u64(d);
    s.u32(t.type);
    s.u64(t.offset);
  }
  return s.result();
}

/** Header plus zero padding up to the aligned start of the data section. */
function paddedHeader(layout: GgufLayout): Buffer {
  const header = encodeGgufHeader(layout);
  const alignment = alignmentOf(layout);
  const padded = Buffer.alloc(Math.ceil(header.length / alignment) * alignment);
  header.copy(padded);
  return padded;
}

/** A whole GGUF file in memory (synthetic test files): header, padding, then `data` as the data section. */
export function encodeGguf(layout: GgufLayout, data: Uint8Array = new Uint8Array(0)): Buffer {
  return Buffer.concat([paddedHeader(layout), data]);
}

/** Bytes [offset, offset + length) of an existing file, copied in chunks. */
export interface FileRange {
  readonly path: string;
  readonly offset: number;
  readonly length: number;
}

/**
 * Writes a GGUF file: the header for `layout`, padding to general.alignment, then the data section. Tensor
 * offsets are relative to the data section, so copying a source's data section whole keeps them valid however
 * much longer the new metadata is.
 */
export async function writeGguf(dstPath: string, layout: GgufLayout, data: Uint8Array | FileRange): Promise<void> {
  const out = await open(dstPath, 'w');
  try {
    const header = paddedHeader(layout);
    await out.write(header, 0, header.length, 0);
    if (data instanceof Uint8Array) {
      await out.write(data, 0, data.length, header.length);
      return;
    }
    const src = await open(data.path, 'r');
    try {
      const chunk = Buffer.alloc(Math.min(1 << 20, Math.max(1, data.length)));
      for (let done = 0; done < data.length; ) {
        const n = Math.min(chunk.length, data.length - done);
        const { bytesRead } = await src.read(chunk, 0, n, data.offset + done);
        if (bytesRead === 0) throw new Error(`${data.path} ended at ${data.offset + done}`);
        await out.write(chunk, 0, bytesRead, header.length + done);
        done += bytesRead;
      }
    } finally {
      await src.close();
    }
  } finally {
    await out.close();
  }
}

export interface FimVariantTokens {
  readonly fimPre: number;
  readonly fimSuf: number;
  readonly fimMid: number;
  readonly fimPad: number;
}

/** A FIM variant that also has Qwen-style repository-level tokens. */
export interface RepoFimVariantTokens extends FimVariantTokens {
  readonly fimRep: number;
  readonly fimSep: number;
}

type Role = keyof RepoFimVariantTokens;

/** llama_token_type CONTROL: parsed as a special token, never produced from plain text. */
const TOKEN_TYPE_CONTROL = 3;

// Byte tokens for control characters that never occur in source code or prompts. Renaming them keeps the vocab
// (and the embedding tensor's n_vocab rows) the same size; the bytes themselves can then no longer be encoded.
const FIM_REPURPOSED: readonly (readonly [string, string, Role])[] = [
  ['<0x01>', '<|fim_prefix|>', 'fimPre'],
  ['<0x02>', '<|fim_suffix|>', 'fimSuf'],
  ['<0x03>', '<|fim_middle|>', 'fimMid'],
  ['<0x04>', '<|fim_pad|>', 'fimPad'],
];

const REPO_REPURPOSED: readonly (readonly [string, string, Role])[] = [
  ['<0x05>', '<|repo_name|>', 'fimRep'],
  ['<0x06>', '<|file_sep|>', 'fimSep'],
];

const FIM_ID_KEYS: Readonly<Record<Role, string>> = {
  fimPre: 'tokenizer.ggml.fim_pre_token_id',
  fimSuf: 'tokenizer.ggml.fim_suf_token_id',
  fimMid: 'tokenizer.ggml.fim_mid_token_id',
  fimPad: 'tokenizer.ggml.fim_pad_token_id',
  fimRep: 'tokenizer.ggml.fim_rep_token_id',
  fimSep: 'tokenizer.ggml.fim_sep_token_id',
};

/**
 * Writes a copy of the SentencePiece model at `srcPath` with FIM tokens: byte tokens <0x01>..<0x04> renamed to
 * <|fim_prefix|>, <|fim_suffix|>, <|fim_middle|>, <|fim_pad|>, typed CONTROL, and the fim_*_token_id keys set.
 * Deterministic: the same source gives the same bytes.
 */
export async function makeFimVariant(srcPath: string, dstPath: string): Promise<FimVariantTokens> {
  const ids = await repurposeTokens(srcPath, dstPath, FIM_REPURPOSED);
  return { fimPre: ids.fimPre!, fimSuf: ids.fimSuf!, fimMid: ids.fimMid!, fimPad: ids.fimPad! };
}

/** As makeFimVariant, and also <0x05>, <0x06> as <|repo_name|>, <|file_sep|> (fim_rep/fim_sep ids set). */
export async function makeRepoFimVariant(srcPath: string, dstPath: string): Promise<RepoFimVariantTokens> {
  const ids = await repurposeTokens(srcPath, dstPath, [...FIM_REPURPOSED, ...REPO_REPURPOSED]);
  return { fimPre: ids.fimPre!, fimSuf: ids.fimSuf!, fimMid: ids.fimMid!, fimPad: ids.fimPad!, fimRep: ids.fimRep!, fimSep: ids.fimSep! };
}

async function repurposeTokens(
  srcPath: string,
  dstPath: string,
  table: readonly (readonly [string, string, Role])[],
): Promise<Partial<Record<Role, number>>> {
  const src = await readGguf(srcPath, { maxArrayItems: Infinity });
  const tokensArr = metadataArray(src.metadata, TOKENS_KEY);
  const typesArr = metadataArray(src.metadata, TOKEN_TYPE_KEY);
  if (!tokensArr?.items || !typesArr?.items) throw new Error(`${srcPath} has no token list with token types`);
  const tokens = [...tokensArr.items];
  const types = [...typesArr.items];

  const ids: Partial<Record<Role, number>> = {};
  for (const [from, to, role] of table) {
    const id = tokens.indexOf(from);
    if (id < 0) throw new Error(`${srcPath} has no ${from} token to repurpose`);
    tokens[id] = to;
    types[id] = TOKEN_TYPE_CONTROL;
    ids[role] = id;
  }

  const metadata = new Map(src.metadata); // Map.set on an existing key keeps its position: output order is stable
  metadata.set(TOKENS_KEY, entry(GGUF_TYPE.ARRAY, array(tokensArr.itemType, tokens)));
  metadata.set(TOKEN_TYPE_KEY, entry(GGUF_TYPE.ARRAY, array(typesArr.itemType, types)));
  for (const [, , role] of table) metadata.set(FIM_ID_KEYS[role], entry(GGUF_TYPE.UINT32, ids[role]!));

  await writeGguf(dstPath, { version: src.version, metadata, tensors: src.tensors }, { path: srcPath, offset: src.dataOffset, length: src.dataSize });
  return ids;
}
