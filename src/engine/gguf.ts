// Reads and validates a GGUF model's header (metadata and tensor table) without touching the weights, so that a
// missing, foreign, truncated or corrupt file, or one too big for memory, is refused with a message that names the
// fix before llama.cpp sees it (llama.cpp fails such files with a generic error, or aborts the process).
// Format: ggml's docs/gguf.md. Little-endian only, versions 2 and 3 (v1 used 32-bit counts and is long gone).
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { EngineError } from './errors';

// ---------------------------------------------------------------------------------------------------------------
// Value types

export const GGUF_TYPE = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
} as const;
export type GgufValueType = (typeof GGUF_TYPE)[keyof typeof GGUF_TYPE];

/** 64-bit integers are bigints (exact); every other number type is a number. */
export type GgufScalar = number | bigint | boolean | string;

export interface GgufArray {
  readonly itemType: GgufValueType;
  readonly length: number;
  /** Undefined when the array was longer than `maxArrayItems` and only its length was kept. */
  readonly items?: readonly GgufValue[];
}

export type GgufValue = GgufScalar | GgufArray;

/** A metadata value with its declared type, so that it can be written back unchanged. */
export interface GgufEntry {
  readonly type: GgufValueType;
  readonly value: GgufValue;
}

const FIXED_SIZE: ReadonlyMap<GgufValueType, number> = new Map<GgufValueType, number>([
  [GGUF_TYPE.UINT8, 1],
  [GGUF_TYPE.INT8, 1],
  [GGUF_TYPE.UINT16, 2],
  [GGUF_TYPE.INT16, 2],
  [GGUF_TYPE.UINT32, 4],
  [GGUF_TYPE.INT32, 4],
  [GGUF_TYPE.FLOAT32, 4],
  [GGUF_TYPE.BOOL, 1],
  [GGUF_TYPE.UINT64, 8],
  [GGUF_TYPE.INT64, 8],
  [GGUF_TYPE.FLOAT64, 8],
]);

export function isGgufValueType(t: number): t is GgufValueType {
  return Number.isInteger(t) && t >= 0 && t <= 12;
}

/** Bytes of one item of this type when fixed-size; undefined for strings and arrays. */
export function ggufFixedSize(t: GgufValueType): number | undefined {
  return FIXED_SIZE.get(t);
}

// ---------------------------------------------------------------------------------------------------------------
// ggml tensor types: elements per block and bytes per block, as in ggml.c's type_traits (block structs in
// ggml-common.h, QK_K = 256). Ids 4, 5, 31-33 and 36-38 were removed from ggml and never appear in valid files.

export interface GgmlTypeTraits {
  readonly name: string;
  readonly blockSize: number;
  readonly typeSize: number;
}

export const GGML_TYPES: ReadonlyMap<number, GgmlTypeTraits> = new Map<number, GgmlTypeTraits>([
  [0, { name: 'F32', blockSize: 1, typeSize: 4 }],
  [1, { name: 'F16', blockSize: 1, typeSize: 2 }],
  [2, { name: 'Q4_0', blockSize: 32, typeSize: 18 }],
  [3, { name: 'Q4_1', blockSize: 32, typeSize: 20 }],
  [6, { name: 'Q5_0', blockSize: 32, typeSize: 22 }],
  [7, { name: 'Q5_1', blockSize: 32, typeSize: 24 }],
  [8, { name: 'Q8_0', blockSize: 32, typeSize: 34 }],
  [9, { name: 'Q8_1', blockSize: 32, typeSize: 36 }],
  [10, { name: 'Q2_K', blockSize: 256, typeSize: 84 }],
  [11, { name: 'Q3_K', blockSize: 256, typeSize: 110 }],
  [12, { name: 'Q4_K', blockSize: 256, typeSize: 144 }],
  [13, { name: 'Q5_K', blockSize: 256, typeSize: 176 }],
  [14, { name: 'Q6_K', blockSize: 256, typeSize: 210 }],
  [15, { name: 'Q8_K', blockSize: 256, typeSize: 292 }],
  [16, { name: 'IQ2_XXS', blockSize: 256, typeSize: 66 }],
  [17, { name: 'IQ2_XS', blockSize: 256, typeSize: 74 }],
  [18, { name: 'IQ3_XXS', blockSize: 256, typeSize: 98 }],
  [19, { name: 'IQ1_S', blockSize: 256, typeSize: 50 }],
  [20, { name: 'IQ4_NL', blockSize: 32, typeSize: 18 }],
  [21, { name: 'IQ3_S', blockSize: 256, typeSize: 110 }],
  [22, { name: 'IQ2_S', blockSize: 256, typeSize: 82 }],
  [23, { name: 'IQ4_XS', blockSize: 256, typeSize: 136 }],
  [24, { name: 'I8', blockSize: 1, typeSize: 1 }],
  [25, { name: 'I16', blockSize: 1, typeSize: 2 }],
  [26, { name: 'I32', blockSize: 1, typeSize: 4 }],
  [27, { name: 'I64', blockSize: 1, typeSize: 8 }],
  [28, { name: 'F64', blockSize: 1, typeSize: 8 }],
  [29, { name: 'IQ1_M', blockSize: 256, typeSize: 56 }],
  [30, { name: 'BF16', blockSize: 1, typeSize: 2 }],
  [34, { name: 'TQ1_0', blockSize: 256, typeSize: 54 }],
  [35, { name: 'TQ2_0', blockSize: 256, typeSize: 66 }],
  [39, { name: 'MXFP4', blockSize: 32, typeSize: 17 }],
  [40, { name: 'NVFP4', blockSize: 64, typeSize: 36 }],
  [41, { name: 'Q1_0', blockSize: 128, typeSize: 18 }],
  [42, { name: 'Q2_0', blockSize: 64, typeSize: 18 }],
]);

/** ggml's maximum tensor rank. */
const MAX_DIMS = 4;

/**
 * Bytes a tensor of this type and shape occupies (ggml_nbytes for a contiguous tensor): rows of dims[0] elements
 * packed in blocks. Throws a plain Error for an unknown type or a row that is not whole blocks.
 */
export function ggmlTensorBytes(type: number, dims: readonly number[]): number {
  const traits = GGML_TYPES.get(type);
  if (!traits) throw new Error(`unknown ggml type ${type}`);
  const [ne0 = 1, ...rest] = dims;
  if (ne0 % traits.blockSize !== 0) throw new Error(`${ne0} is not a multiple of the ${traits.name} block size ${traits.blockSize}`);
  let bytes = (ne0 / traits.blockSize) * traits.typeSize;
  for (const n of rest) bytes *= n;
  if (!Number.isSafeInteger(bytes)) throw new Error('tensor size overflows');
  return bytes;
}

// ---------------------------------------------------------------------------------------------------------------
// Parsed file

export interface GgufTensorInfo {
  readonly name: string;
  /** ne[0..n_dims-1]: dims[0] is the row length. */
  readonly dims: readonly number[];
  /** ggml type id (see GGML_TYPES). */
  readonly type: number;
  readonly typeName: string;
  /** Offset from the start of the data section, as stored in the file. */
  readonly offset: number;
  readonly bytes: number;
}

export interface SpecialTokenIds {
  readonly bos: number | null;
  readonly eos: number | null;
  readonly fimPre: number | null;
  readonly fimSuf: number | null;
  readonly fimMid: number | null;
  readonly fimPad: number | null;
}

/** What the engine needs to know about a model, as plain JSON-safe data. Null: the file does not say. */
export interface GgufModelFacts {
  readonly architecture: string | null;
  readonly name: string | null;
  /** Training context length, `<arch>.context_length`. */
  readonly contextLength: number | null;
  readonly blockCount: number | null;
  readonly embeddingLength: number | null;
  /** Per-layer arrays (some architectures vary heads by layer) are reported as their maximum. */
  readonly headCount: number | null;
  /** Defaults to headCount, as in llama.cpp. */
  readonly headCountKv: number | null;
  /** Per-head K and V widths: `<arch>.attention.key_length`/`value_length`, else embeddingLength / headCount. */
  readonly keyLength: number | null;
  readonly valueLength: number | null;
  /** `general.file_type` (llama_ftype: 0 all F32, 1 mostly F16, 15 Q4_K_M, ...). */
  readonly fileType: number | null;
  readonly vocabSize: number | null;
  readonly tokens: SpecialTokenIds;
  /** FIM prefix and suffix tokens exist (the condition node-llama-cpp's LlamaCompletion.infillSupported uses). */
  readonly hasFim: boolean;
  /** Sum of all tensor sizes: what loading the weights maps or copies. */
  readonly weightsBytes: number;
}

/** The parsed file; the model facts are flattened in (`info.contextLength`, `info.hasFim`, ...). */
export interface GgufInfo extends GgufModelFacts {
  readonly path: string;
  readonly fileSize: number;
  readonly version: number;
  /** In file order. */
  readonly metadata: ReadonlyMap<string, GgufEntry>;
  readonly tensors: readonly GgufTensorInfo[];
  /** `general.alignment`, default 32. */
  readonly alignment: number;
  /** Bytes of header, metadata and tensor table, before the padding that aligns the data section. */
  readonly headerSize: number;
  readonly dataOffset: number;
  /** From dataOffset to the end of the last tensor. */
  readonly dataSize: number;
}

export interface ReadGgufOptions {
  /**
   * Arrays longer than this keep only their length (`items` undefined), which keeps a 256k-token vocabulary out of
   * memory when only the facts are needed; FIM tokens are still found by text. Default 1024; Infinity reads all.
   */
  readonly maxArrayItems?: number;
  /** Read-ahead size in bytes (default 1 MiB); small values exist to test chunk boundaries. */
  readonly chunkSize?: number;
}

const DEFAULT_ALIGNMENT = 32;
const DEFAULT_MAX_ARRAY_ITEMS = 1024;
const DEFAULT_CHUNK = 1 << 20;

// Plausibility limits: far above any real model, far below anything that could exhaust memory or time. A value
// beyond them means the header is corrupt, not that the file was cut short.
const MAX_KV = 1 << 20;
const MAX_TENSORS = 1 << 20;
const MAX_STRING = 1 << 24;
const MAX_ARRAY = 1 << 28;
const MAX_NESTING = 8;

export const TOKENS_KEY = 'tokenizer.ggml.tokens';
export const TOKEN_TYPE_KEY = 'tokenizer.ggml.token_type';

type FimRole = 'fimPre' | 'fimSuf' | 'fimMid' | 'fimPad';

// Token texts llama.cpp's vocabulary loader recognises as FIM tokens when the metadata ids are absent.
const FIM_TEXTS: ReadonlyMap<string, FimRole> = new Map<string, FimRole>([
  ...['<|fim_prefix|>', '<fim-prefix>', '<fim_prefix>', '<｜fim▁begin｜>', '<PRE>', '▁<PRE>', '<|code_prefix|>', '<|prefix|>'].map(
    (t) => [t, 'fimPre'] as const,
  ),
  ...['<|fim_suffix|>', '<fim-suffix>', '<fim_suffix>', '<｜fim▁hole｜>', '<SUF>', '▁<SUF>', '<|code_suffix|>', '<|suffix|>'].map(
    (t) => [t, 'fimSuf'] as const,
  ),
  ...['<|fim_middle|>', '<fim-middle>', '<fim_middle>', '<｜fim▁end｜>', '<MID>', '▁<MID>', '<|code_middle|>', '<|middle|>'].map(
    (t) => [t, 'fimMid'] as const,
  ),
  ...['<|fim_pad|>', '<fim-pad>', '<fim_pad>'].map((t) => [t, 'fimPad'] as const),
]);
const FIM_TEXT_MAX_BYTES = Math.max(...[...FIM_TEXTS.keys()].map((t) => Buffer.byteLength(t)));

// ---------------------------------------------------------------------------------------------------------------
// Errors (messages say what is wrong and what to do, fit to show as is)

function notFound(path: string): EngineError {
  return new EngineError(
    'model-not-found',
    `No model file at ${path}; check verdant.local.modelPath or choose a model with "Verdant: Select Local Model".`,
  );
}

function truncated(path: string, have: number, need: number): EngineError {
  return new EngineError('model-invalid', `${path} is truncated: ${have} of ${need} bytes; download it again.`);
}

function truncatedHeader(path: string, have: number, need: number): EngineError {
  return new EngineError(
    'model-invalid',
    `${path} is truncated: ${have} of at least ${need} bytes (it ends inside the GGUF header); download it again.`,
  );
}

function corrupt(path: string, detail: string): EngineError {
  return new EngineError('model-invalid', `${path} has a corrupt GGUF header (${detail}); download it again or choose another .gguf file.`);
}

const SIGNATURES: readonly (readonly [RegExp, string])[] = [
  [/^PK\x03\x04/, 'a ZIP archive'],
  [/^\x1f\x8b/, 'a gzip archive'],
  [/^\s*<(!doctype|html|\?xml)/i, 'an HTML/XML page, perhaps a download error page'],
  [/^\s*[{[]/, 'JSON text'],
  [/^(ggml|ggmf|ggjt|lmgg|fmgg|tjgg)/, 'the old GGML format, which llama.cpp no longer loads'],
  [/^\x7fELF/, 'an executable'],
  [/^version https:\/\/git-lfs/, 'a Git LFS pointer, not the model itself'],
];

function describeStart(head: Buffer): string {
  const latin = head.toString('latin1');
  const shown = JSON.stringify(latin.slice(0, 8)).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  for (const [re, what] of SIGNATURES) if (re.test(latin)) return `${shown}, ${what}`;
  // 8 bytes of little-endian length then '{': a safetensors file.
  if (head.length > 8 && head[8] === 0x7b && head.readBigUInt64LE(0) < 1n << 32n) return `${shown}, a safetensors file`;
  return shown;
}

function notGguf(path: string, head: Buffer): EngineError {
  return new EngineError('model-invalid', `${path} is not a GGUF model (it starts with ${describeStart(head)}); choose a .gguf file.`);
}

// ---------------------------------------------------------------------------------------------------------------
// Chunked reader: a read-ahead window over the file. Primitive reads are synchronous over the window; callers
// await fill() only when the window runs short, so a 150k-string vocabulary costs a few dozen awaits, not 150k.

class WindowReader {
  private buf: Buffer = Buffer.alloc(0);
  private at = 0;
  private bufStart = 0;

  constructor(
    private readonly fh: FileHandle,
    readonly path: string,
    readonly fileSize: number,
    private readonly chunk: number,
  ) {}

  get pos(): number {
    return this.bufStart + this.at;
  }
  buffered(): number {
    return this.buf.length - this.at;
  }

  /** Makes n bytes available at the read position; the file ending first means it is truncated. */
  async fill(n: number): Promise<void> {
    if (this.buffered() >= n) return;
    if (this.pos + n > this.fileSize) throw truncatedHeader(this.path, this.fileSize, this.pos + n);
    const next = Buffer.allocUnsafe(Math.min(Math.max(n, this.chunk), this.fileSize - this.pos));
    const kept = this.buf.copy(next, 0, this.at);
    let filled = kept;
    while (filled < next.length) {
      const { bytesRead } = await this.fh.read(next, filled, next.length - filled, this.pos + filled);
      if (bytesRead === 0) break; // shrank while we read it
      filled += bytesRead;
    }
    if (filled < n) throw truncatedHeader(this.path, this.pos + filled, this.pos + n);
    this.bufStart = this.pos;
    this.buf = next.subarray(0, filled);
    this.at = 0;
  }

  /** Skips n bytes without reading them. */
  skip(n: number): void {
    if (this.pos + n > this.fileSize) throw truncatedHeader(this.path, this.fileSize, this.pos + n);
    if (n <= this.buffered()) {
      this.at += n;
      return;
    }
    this.bufStart = this.pos + n;
    this.buf = Buffer.alloc(0);
    this.at = 0;
  }

  /** Throws "truncated" unless n more bytes could exist, before anything allocates or loops for them. */
  expect(n: number): void {
    if (this.pos + n > this.fileSize) throw truncatedHeader(this.path, this.fileSize, this.pos + n);
  }

  u32(): number {
    const v = this.buf.readUInt32LE(this.at);
    this.at += 4;
    return v;
  }
  u64(): bigint {
    const v = this.buf.readBigUInt64LE(this.at);
    this.at += 8;
    return v;
  }
  peekU64(): bigint {
    return this.buf.readBigUInt64LE(this.at);
  }

  /** Consumes a string's length prefix when the whole string is in the window (the common case); else -1. */
  bufferedStringLength(): number {
    if (this.buffered() < 8) return -1;
    const lo = this.buf.readUInt32LE(this.at);
    if (this.buf.readUInt32LE(this.at + 4) !== 0 || lo > this.buffered() - 8) return -1;
    this.at += 8;
    return lo;
  }

  peek(n: number): Buffer {
    return this.buf.subarray(this.at, this.at + n);
  }
  bytes(n: number): Buffer {
    const b = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    return b;
  }

  scalar(t: GgufValueType): GgufScalar {
    const b = this.buf;
    const at = this.at;
    this.at += FIXED_SIZE.get(t)!;
    switch (t) {
      case GGUF_TYPE.UINT8:
        return b.readUInt8(at);
      case GGUF_TYPE.INT8:
        return b.readInt8(at);
      case GGUF_TYPE.UINT16:
        return b.readUInt16LE(at);
      case GGUF_TYPE.INT16:
        return b.readInt16LE(at);
      case GGUF_TYPE.UINT32:
        return b.readUInt32LE(at);
      case GGUF_TYPE.INT32:
        return b.readInt32LE(at);
      case GGUF_TYPE.FLOAT32:
        return b.readFloatLE(at);
      case GGUF_TYPE.BOOL:
        return b.readUInt8(at) !== 0;
      case GGUF_TYPE.UINT64:
        return b.readBigUInt64LE(at);
      case GGUF_TYPE.INT64:
        return b.readBigInt64LE(at);
      case GGUF_TYPE.FLOAT64:
        return b.readDoubleLE(at);
      default:
        throw new Error(`not a fixed-size GGUF type: ${t}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Parser

class GgufParser {
  readonly fimByText: { -readonly [K in FimRole]?: number } = {};

  constructor(
    private readonly r: WindowReader,
    private readonly maxArrayItems: number,
  ) {}

  private get path(): string {
    return this.r.path;
  }

  /** A u64 count or length, checked against a plausibility limit before anything is sized by it. */
  count(v: bigint, limit: number, what: string, at = this.r.pos - 8): number {
    if (v > BigInt(limit)) throw corrupt(this.path, `${what} ${v} at byte ${at}`);
    return Number(v);
  }

  /** Reads a string's length and makes its bytes available; returns the length. */
  private async stringHead(what: string, limit = MAX_STRING): Promise<number> {
    await this.r.fill(8);
    const len = this.count(this.r.peekU64(), limit, `${what} length`, this.r.pos);
    await this.r.fill(8 + len);
    this.r.u64();
    return len;
  }

  async string(what: string, limit?: number): Promise<string> {
    const len = await this.stringHead(what, limit);
    return this.r.bytes(len).toString('utf8');
  }

  valueType(t: number, what: string): GgufValueType {
    if (!isGgufValueType(t)) throw corrupt(this.path, `${what} has unknown value type ${t}`);
    return t;
  }

  async value(t: GgufValueType, key: string, depth: number): Promise<GgufValue> {
    if (t === GGUF_TYPE.STRING) return this.string(`value of ${key}`);
    if (t === GGUF_TYPE.ARRAY) return this.array(key, depth, true);
    await this.r.fill(FIXED_SIZE.get(t)!);
    return this.r.scalar(t);
  }

  async array(key: string, depth: number, keep: boolean): Promise<GgufArray> {
    if (depth > MAX_NESTING) throw corrupt(this.path, `${key} nests arrays more than ${MAX_NESTING} deep`);
    await this.r.fill(12);
    const itemType = this.valueType(this.r.u32(), `an array in ${key}`);
    const length = this.count(this.r.u64(), MAX_ARRAY, `${key} array length`);
    const fixed = FIXED_SIZE.get(itemType);
    this.r.expect(length * (fixed ?? (itemType === GGUF_TYPE.STRING ? 8 : 12)));
    const items: GgufValue[] | undefined = keep && length <= this.maxArrayItems ? [] : undefined;

    if (fixed !== undefined) {
      if (!items) {
        this.r.skip(length * fixed);
        return { itemType, length };
      }
      for (let i = 0; i < length; i++) {
        if (this.r.buffered() < fixed) await this.r.fill(Math.min(length - i, 65536) * fixed);
        items.push(this.r.scalar(itemType));
      }
    } else if (itemType === GGUF_TYPE.STRING) {
      const scanFim = key === TOKENS_KEY && depth === 0;
      for (let i = 0; i < length; i++) {
        let len = this.r.bufferedStringLength();
        if (len < 0) len = await this.stringHead(`${key}[${i}]`);
        const bytes = this.r.bytes(len);
        if (items) items.push(bytes.toString('utf8'));
        if (scanFim && len <= FIM_TEXT_MAX_BYTES) this.noteFimText(bytes.toString('utf8'), i);
      }
    } else {
      for (let i = 0; i < length; i++) {
        const inner = await this.array(key, depth + 1, items !== undefined);
        items?.push(inner);
      }
    }
    return items ? { itemType, length, items } : { itemType, length };
  }

  private noteFimText(text: string, id: number): void {
    const role = FIM_TEXTS.get(text);
    if (role && this.fimByText[role] === undefined) this.fimByText[role] = id;
  }
}

function alignUp(n: number, alignment: number): number {
  return Math.ceil(n / alignment) * alignment;
}

async function openModel(path: string): Promise<{ fh: FileHandle; size: number }> {
  let fh: FileHandle;
  try {
    // Non-blocking, so that a named pipe (or other special file) given as the model is refused by the check below
    // instead of blocking open() until something writes to it. Regular files read the same either way.
    fh = await open(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw notFound(path);
    if (code === 'EACCES' || code === 'EPERM') {
      throw new EngineError('model-invalid', `Verdant may not read ${path} (permission denied); check the file's permissions.`, { cause: e });
    }
    throw new EngineError('model-invalid', `Cannot open ${path} (${code ?? String(e)}); check verdant.local.modelPath.`, { cause: e });
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new EngineError('model-invalid', `${path} is not a file; choose a .gguf file.`);
    if (st.size === 0) throw new EngineError('model-invalid', `${path} is empty; download it again.`);
    return { fh, size: st.size };
  } catch (e) {
    await fh.close();
    throw e;
  }
}

/**
 * Reads the header, metadata and tensor table of the GGUF file at `path` and checks that the file is complete.
 * Reads only the header region, in chunks. Throws EngineError: 'model-not-found' when there is no file,
 * 'model-invalid' when it is not GGUF, is truncated or has a corrupt header.
 */
export async function readGguf(path: string, options: ReadGgufOptions = {}): Promise<GgufInfo> {
  const { fh, size } = await openModel(path);
  try {
    return await parse(
      new WindowReader(fh, path, size, Math.max(16, options.chunkSize ?? DEFAULT_CHUNK)),
      options.maxArrayItems ?? DEFAULT_MAX_ARRAY_ITEMS,
    );
  } finally {
    await fh.close();
  }
}

async function parse(r: WindowReader, maxArrayItems: number): Promise<GgufInfo> {
  const { path } = r;
  const p = new GgufParser(r, maxArrayItems);

  await r.fill(Math.min(r.fileSize, 16));
  const head = r.peek(Math.min(r.fileSize, 16));
  if (head.length < 4 || head.toString('latin1', 0, 4) !== 'GGUF') throw notGguf(path, head);
  r.skip(4);
  await r.fill(4);
  const version = r.u32();
  if (version !== 2 && version !== 3) {
    const be = head.readUInt32BE(4);
    if (be >= 1 && be <= 3) {
      throw new EngineError(
        'model-invalid',
        `${path} is a big-endian GGUF file, which llama.cpp cannot load on this machine; choose a little-endian .gguf file.`,
      );
    }
    if (version === 1) {
      throw new EngineError(
        'model-invalid',
        `${path} uses GGUF version 1, which llama.cpp no longer loads; download a current version of the model.`,
      );
    }
    throw corrupt(path, `unknown GGUF version ${version}`);
  }

  await r.fill(16);
  const tensorCount = p.count(r.u64(), MAX_TENSORS, 'tensor count');
  const kvCount = p.count(r.u64(), MAX_KV, 'metadata count');

  const metadata = new Map<string, GgufEntry>();
  for (let i = 0; i < kvCount; i++) {
    const key = await p.string(`metadata key #${i}`, 65536);
    if (metadata.has(key)) throw corrupt(path, `metadata key ${key} appears twice`);
    await r.fill(4);
    const type = p.valueType(r.u32(), key);
    metadata.set(key, { type, value: await p.value(type, key, 0) });
  }

  const alignment = alignmentOf(path, metadata.get('general.alignment'));

  const tensors: GgufTensorInfo[] = [];
  const names = new Set<string>();
  for (let i = 0; i < tensorCount; i++) tensors.push(await tensorInfo(r, p, i, alignment, names));

  const headerSize = r.pos;
  const dataOffset = alignUp(headerSize, alignment);
  let dataSize = 0;
  let weightsBytes = 0;
  const byOffset = [...tensors].sort((a, b) => a.offset - b.offset);
  for (let i = 0; i < byOffset.length; i++) {
    const t = byOffset[i]!;
    const prev = byOffset[i - 1];
    if (prev && t.offset < prev.offset + prev.bytes) throw corrupt(path, `tensors ${prev.name} and ${t.name} overlap`);
    dataSize = Math.max(dataSize, t.offset + t.bytes);
    weightsBytes += t.bytes;
  }
  const need = dataOffset + dataSize;
  if (!Number.isSafeInteger(need)) throw corrupt(path, 'tensor data beyond 2^53 bytes');
  if (r.fileSize < need) throw truncated(path, r.fileSize, need);

  return {
    ...modelFacts(metadata, p.fimByText, weightsBytes),
    path,
    fileSize: r.fileSize,
    version,
    metadata,
    tensors,
    alignment,
    headerSize,
    dataOffset,
    dataSize,
  };
}

function alignmentOf(path: string, entry: GgufEntry | undefined): number {
  if (!entry) return DEFAULT_ALIGNMENT;
  const v = typeof entry.value === 'bigint' ? Number(entry.value) : entry.value;
  // llama.cpp requires a power of two; 1 GiB is an arbitrary sanity bound.
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0 || v > 1 << 30 || (v & (v - 1)) !== 0) {
    throw corrupt(path, `general.alignment ${String(entry.value)} is not a power of two`);
  }
  return v;
}

async function tensorInfo(r: WindowReader, p: GgufParser, i: number, alignment: number, names: Set<string>): Promise<GgufTensorInfo> {
  const { path } = r;
  const name = await p.string(`tensor #${i} name`, 65536);
  if (names.has(name)) throw corrupt(path, `tensor ${name} appears twice`);
  names.add(name);
  await r.fill(4);
  const nDims = r.u32();
  if (nDims > MAX_DIMS) throw corrupt(path, `tensor ${name} has ${nDims} dimensions`);
  await r.fill(nDims * 8 + 12);
  const dims: number[] = [];
  for (let d = 0; d < nDims; d++) {
    const n = r.u64();
    if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw corrupt(path, `tensor ${name} dimension ${n}`);
    dims.push(Number(n));
  }
  const type = r.u32();
  const offset64 = r.u64();
  const traits = GGML_TYPES.get(type);
  if (!traits) {
    throw new EngineError(
      'model-invalid',
      `${path} uses tensor type ${type} (in ${name}), which Verdant does not know; update Verdant or choose another quantization of the model.`,
    );
  }
  if (offset64 > BigInt(Number.MAX_SAFE_INTEGER)) throw corrupt(path, `tensor ${name} offset ${offset64}`);
  const offset = Number(offset64);
  if (offset % alignment !== 0) throw corrupt(path, `tensor ${name} offset ${offset} is not a multiple of ${alignment}`);
  let bytes: number;
  try {
    bytes = ggmlTensorBytes(type, dims);
  } catch (e) {
    throw corrupt(path, `tensor ${name}: ${(e as Error).message}`);
  }
  return { name, dims, type, typeName: traits.name, offset, bytes };
}

// ---------------------------------------------------------------------------------------------------------------
// Facts and accessors

/** A numeric metadata value as a number (exact integers only for 64-bit types); null when absent or not numeric. */
export function metadataNumber(metadata: ReadonlyMap<string, GgufEntry>, key: string): number | null {
  const v = metadata.get(key)?.value;
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint' && v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER)) return Number(v);
  return null;
}

export function metadataString(metadata: ReadonlyMap<string, GgufEntry>, key: string): string | null {
  const v = metadata.get(key)?.value;
  return typeof v === 'string' ? v : null;
}

export function metadataArray(metadata: ReadonlyMap<string, GgufEntry>, key: string): GgufArray | null {
  const e = metadata.get(key);
  return e && e.type === GGUF_TYPE.ARRAY ? (e.value as GgufArray) : null;
}

/** A number, or the largest item of a numeric per-layer array. */
function numberOrMax(metadata: ReadonlyMap<string, GgufEntry>, key: string): number | null {
  const arr = metadataArray(metadata, key);
  if (!arr) return metadataNumber(metadata, key);
  const nums = (arr.items ?? []).map(Number).filter((n) => Number.isFinite(n));
  return nums.length > 0 ? Math.max(...nums) : null;
}

function positive(n: number | null): number | null {
  return n != null && Number.isInteger(n) && n > 0 ? n : null;
}

function modelFacts(metadata: ReadonlyMap<string, GgufEntry>, fimByText: { readonly [K in FimRole]?: number }, weightsBytes: number): GgufModelFacts {
  const architecture = metadataString(metadata, 'general.architecture');
  const arch = (key: string): number | null => (architecture ? positive(numberOrMax(metadata, `${architecture}.${key}`)) : null);
  const embeddingLength = arch('embedding_length');
  const headCount = arch('attention.head_count');
  const headWidth = embeddingLength != null && headCount != null && embeddingLength % headCount === 0 ? embeddingLength / headCount : null;
  const vocabSize = metadataArray(metadata, TOKENS_KEY)?.length ?? arch('vocab_size');

  const tokenId = (...keys: string[]): number | null => {
    for (const key of keys) {
      const id = metadataNumber(metadata, key);
      // llama.cpp ignores ids outside the vocabulary; -1 (as int32) is the converters' "none".
      if (id != null && Number.isInteger(id) && id >= 0 && (vocabSize == null || id < vocabSize)) return id;
    }
    return null;
  };
  const fim = (role: FimRole, ...keys: string[]): number | null => tokenId(...keys) ?? fimByText[role] ?? null;
  const tokens: SpecialTokenIds = {
    bos: tokenId('tokenizer.ggml.bos_token_id'),
    eos: tokenId('tokenizer.ggml.eos_token_id'),
    // prefix/suffix/middle_token_id: the keys older converters wrote (CodeLlama).
    fimPre: fim('fimPre', 'tokenizer.ggml.fim_pre_token_id', 'tokenizer.ggml.prefix_token_id'),
    fimSuf: fim('fimSuf', 'tokenizer.ggml.fim_suf_token_id', 'tokenizer.ggml.suffix_token_id'),
    fimMid: fim('fimMid', 'tokenizer.ggml.fim_mid_token_id', 'tokenizer.ggml.middle_token_id'),
    fimPad: fim('fimPad', 'tokenizer.ggml.fim_pad_token_id'),
  };

  return {
    architecture,
    name: metadataString(metadata, 'general.name'),
    contextLength: arch('context_length'),
    blockCount: arch('block_count'),
    embeddingLength,
    headCount,
    headCountKv: arch('attention.head_count_kv') ?? headCount,
    keyLength: arch('attention.key_length') ?? headWidth,
    valueLength: arch('attention.value_length') ?? headWidth,
    fileType: metadataNumber(metadata, 'general.file_type'),
    vocabSize,
    tokens,
    hasFim: tokens.fimPre != null && tokens.fimSuf != null,
    weightsBytes,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Memory estimate

export interface MemoryEstimate {
  readonly weightsBytes: number;
  readonly kvCacheBytes: number;
  readonly computeBytes: number;
  readonly totalBytes: number;
}

/** Fixed part of the compute-buffer allowance (graph metadata, scratch, the backend's own buffers). */
const COMPUTE_BASE_BYTES = 32 * 1024 * 1024;
/** llama.cpp's default logical batch: the compute buffer is sized for this many tokens at once. */
const BATCH = 512;

/**
 * Rough memory a model needs with a context of `contextSize` tokens, to refuse one that cannot fit before loading:
 *
 * - weights: the sum of tensor sizes;
 * - KV cache (f16, 2 bytes): n_layer * n_ctx * n_head_kv * (key_length + value_length) * 2, which is the usual
 *   2 (K and V) * n_layer * n_ctx * (n_embd / n_head * n_head_kv) * 2 when key_length = value_length = n_embd / n_head;
 * - compute buffer allowance: 32 MiB + 4 bytes * n_batch * (n_vocab + n_ctx * n_head + 4 * n_embd) with
 *   n_batch = min(n_ctx, 512): f32 logits, attention scores without flash attention, and activations.
 *
 * Shapes the file does not state count as 0, so for non-transformer architectures this is only the weights and
 * the allowance. An upper-bound style estimate, not llama.cpp's exact allocation.
 */
export function estimateMemory(info: GgufModelFacts, contextSize: number): MemoryEstimate {
  if (!Number.isInteger(contextSize) || contextSize <= 0) {
    throw new EngineError('bad-request', `Context size ${contextSize} is not a positive whole number of tokens.`);
  }
  const m = info;
  const kvCacheBytes = 2 * (m.blockCount ?? 0) * contextSize * (m.headCountKv ?? 0) * ((m.keyLength ?? 0) + (m.valueLength ?? 0));
  const batch = Math.min(contextSize, BATCH);
  const computeBytes = COMPUTE_BASE_BYTES + 4 * batch * ((m.vocabSize ?? 0) + contextSize * (m.headCount ?? 0) + 4 * (m.embeddingLength ?? 0));
  return { weightsBytes: m.weightsBytes, kvCacheBytes, computeBytes, totalBytes: m.weightsBytes + kvCacheBytes + computeBytes };
}
