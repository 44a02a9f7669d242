// GGUF reader on synthetic files written with the test writer: every value type, layout rules, model facts,
// memory estimate, and each way a file can be broken.
import * as assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { EngineError } from '../../src/engine/errors';
import {
  GGML_TYPES,
  GGUF_TYPE,
  estimateMemory,
  ggmlTensorBytes,
  metadataArray,
  readGguf,
  type GgufEntry,
  type GgufInfo,
  type ReadGgufOptions,
} from '../../src/engine/gguf';
import { array, encodeGguf, encodeGgufHeader, entry, writeGguf, type GgufLayout, type GgufTensorSpec } from '../support/ggufRewrite';

const T = GGUF_TYPE;

let dir: string;
let n = 0;

async function fileOf(bytes: Uint8Array | string): Promise<string> {
  const file = path.join(dir, `m${n++}.gguf`);
  await writeFile(file, bytes);
  return file;
}

async function roundTrip(layout: GgufLayout, data?: Uint8Array, options?: ReadGgufOptions): Promise<GgufInfo> {
  return readGguf(await fileOf(encodeGguf(layout, data)), options);
}

function meta(...entries: [string, GgufEntry][]): Map<string, GgufEntry> {
  return new Map(entries);
}

/** A small llama-shaped model: facts in metadata and one F32 tensor per listed shape. */
function llamaLayout(extra: [string, GgufEntry][] = [], tokens = ['<unk>', '<s>', '</s>', 'a', 'b']): GgufLayout {
  return {
    metadata: meta(
      ['general.architecture', entry(T.STRING, 'llama')],
      ['general.name', entry(T.STRING, 'tiny')],
      ['general.file_type', entry(T.UINT32, 0)],
      ['llama.context_length', entry(T.UINT32, 2048)],
      ['llama.block_count', entry(T.UINT32, 2)],
      ['llama.embedding_length', entry(T.UINT32, 64)],
      ['llama.attention.head_count', entry(T.UINT32, 8)],
      ['llama.attention.head_count_kv', entry(T.UINT32, 4)],
      ['tokenizer.ggml.tokens', entry(T.ARRAY, array(T.STRING, tokens))],
      ['tokenizer.ggml.bos_token_id', entry(T.UINT32, 1)],
      ['tokenizer.ggml.eos_token_id', entry(T.UINT32, 2)],
      ...extra,
    ),
    tensors: [{ name: 'w', dims: [4, 2], type: 0, offset: 0 }],
  };
}

async function rejects(file: string | Promise<string>, code: string, message: RegExp): Promise<void> {
  const f = await file;
  await assert.rejects(readGguf(f), (e: unknown) => {
    assert.ok(e instanceof EngineError, `expected EngineError, got ${String(e)}`);
    assert.equal(e.code, code);
    assert.match(e.message, message);
    assert.ok(e.message.includes(f), 'the message names the file');
    return true;
  });
}

describe('gguf reader', () => {
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'verdant-gguf-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads every metadata value type, nested arrays included, in v3 and v2', async () => {
    const values: [string, GgufEntry][] = [
      ['u8', entry(T.UINT8, 250)],
      ['i8', entry(T.INT8, -5)],
      ['u16', entry(T.UINT16, 65000)],
      ['i16', entry(T.INT16, -30000)],
      ['u32', entry(T.UINT32, 4_000_000_000)],
      ['i32', entry(T.INT32, -2_000_000_000)],
      ['f32', entry(T.FLOAT32, 1.5)],
      ['bool.t', entry(T.BOOL, true)],
      ['bool.f', entry(T.BOOL, false)],
      ['str', entry(T.STRING, 'grüne Wiese ✓')],
      ['str.empty', entry(T.STRING, '')],
      ['u64', entry(T.UINT64, 2n ** 63n + 5n)],
      ['i64', entry(T.INT64, -(2n ** 62n))],
      ['f64', entry(T.FLOAT64, Math.PI)],
      ['arr.u32', entry(T.ARRAY, array(T.UINT32, [1, 2, 3]))],
      ['arr.str', entry(T.ARRAY, array(T.STRING, ['a', '', 'ü']))],
      ['arr.i64', entry(T.ARRAY, array(T.INT64, [-1n, 7n]))],
      ['arr.bool', entry(T.ARRAY, array(T.BOOL, [true, false]))],
      ['arr.empty', entry(T.ARRAY, array(T.FLOAT32, []))],
      ['arr.nested', entry(T.ARRAY, array(T.ARRAY, [array(T.INT16, [-1, 2]), array(T.INT16, []), array(T.INT16, [3])]))],
    ];
    for (const version of [3, 2]) {
      for (const chunkSize of [1 << 20, 16]) {
        const info = await roundTrip({ version, metadata: meta(...values), tensors: [] }, undefined, { chunkSize });
        assert.equal(info.version, version);
        assert.deepEqual([...info.metadata.entries()], values, `version ${version}, chunk ${chunkSize}`);
        assert.equal(info.tensors.length, 0);
        assert.equal(info.dataSize, 0);
      }
    }
  });

  it('reads the tensor table, aligns the data section and sizes each tensor', async () => {
    const tensors: GgufTensorSpec[] = [
      { name: 'a.f32', dims: [8, 3], type: 0, offset: 0 }, // 96 bytes
      { name: 'b.q4_0', dims: [64, 2], type: 2, offset: 128 }, // 2 rows * 2 blocks * 18 = 72
      { name: 'c.q4_k', dims: [256, 1, 1, 2], type: 12, offset: 256 }, // 2 * 144 = 288
    ];
    const layout: GgufLayout = { metadata: meta(['general.alignment', entry(T.UINT32, 64)]), tensors };
    const data = Buffer.alloc(256 + 288, 7);
    const info = await roundTrip(layout, data);
    assert.equal(info.alignment, 64);
    assert.equal(info.headerSize, encodeGgufHeader(layout).length);
    assert.equal(info.dataOffset % 64, 0);
    assert.ok(info.dataOffset >= info.headerSize && info.dataOffset - info.headerSize < 64);
    assert.deepEqual(
      info.tensors.map((t) => [t.name, t.typeName, t.bytes, t.offset]),
      [
        ['a.f32', 'F32', 96, 0],
        ['b.q4_0', 'Q4_0', 72, 128],
        ['c.q4_k', 'Q4_K', 288, 256],
      ],
    );
    assert.deepEqual(info.tensors[2]!.dims, [256, 1, 1, 2]);
    assert.equal(info.dataSize, 256 + 288);
    assert.equal(info.weightsBytes, 96 + 72 + 288);
    assert.equal(info.fileSize, info.dataOffset + info.dataSize);
  });

  it('knows the ggml block layouts (bytes per block from the block structs in ggml-common.h)', () => {
    const half = 2;
    const K = 256;
    // Written from the struct fields, independently of the table in gguf.ts.
    const expected: Record<string, [number, number]> = {
      F32: [1, 4],
      F16: [1, 2],
      BF16: [1, 2],
      F64: [1, 8],
      I8: [1, 1],
      I16: [1, 2],
      I32: [1, 4],
      I64: [1, 8],
      Q4_0: [32, half + 16],
      Q4_1: [32, 2 * half + 16],
      Q5_0: [32, half + 4 + 16],
      Q5_1: [32, 2 * half + 4 + 16],
      Q8_0: [32, half + 32],
      Q8_1: [32, 2 * half + 32],
      Q2_K: [K, 2 * half + K / 16 + K / 4],
      Q3_K: [K, half + K / 4 + K / 8 + 12],
      Q4_K: [K, 2 * half + 12 + K / 2],
      Q5_K: [K, 2 * half + 12 + K / 2 + K / 8],
      Q6_K: [K, half + K / 16 + (3 * K) / 4],
      Q8_K: [K, 4 + K + (K / 16) * 2],
      IQ2_XXS: [K, half + (K / 8) * 2],
      IQ2_XS: [K, half + (K / 8) * 2 + K / 32],
      IQ3_XXS: [K, half + 3 * (K / 8)],
      IQ1_S: [K, half + K / 8 + K / 16],
      IQ4_NL: [32, half + 16],
      IQ3_S: [K, half + 13 * (K / 32) + K / 64],
      IQ2_S: [K, half + K / 4 + K / 16],
      IQ4_XS: [K, half + 2 + K / 64 + K / 2],
      IQ1_M: [K, K / 8 + K / 16 + K / 32],
      TQ1_0: [K, half + K / 64 + (K - 4 * (K / 64)) / 5],
      TQ2_0: [K, half + K / 4],
      MXFP4: [32, 1 + 16],
      NVFP4: [64, 64 / 16 + 32],
      Q1_0: [128, half + 128 / 8],
      Q2_0: [64, half + 64 / 4],
    };
    const actual = Object.fromEntries([...GGML_TYPES.values()].map((t) => [t.name, [t.blockSize, t.typeSize]]));
    assert.deepEqual(actual, expected);
    assert.equal(ggmlTensorBytes(14, [512, 10]), 2 * 10 * 210);
    assert.throws(() => ggmlTensorBytes(2, [48]), /not a multiple/);
    assert.throws(() => ggmlTensorBytes(4, [32]), /unknown ggml type/);
  });

  it('reports the model facts and finds FIM tokens by metadata id', async () => {
    const info = await roundTrip(
      llamaLayout([
        ['tokenizer.ggml.fim_pre_token_id', entry(T.UINT32, 3)],
        ['tokenizer.ggml.fim_suf_token_id', entry(T.UINT32, 4)],
        ['tokenizer.ggml.fim_mid_token_id', entry(T.INT32, -1)], // "none" as converters write it
      ]),
      Buffer.alloc(32),
    );
    assert.deepEqual(
      {
        architecture: info.architecture,
        name: info.name,
        contextLength: info.contextLength,
        blockCount: info.blockCount,
        embeddingLength: info.embeddingLength,
        headCount: info.headCount,
        headCountKv: info.headCountKv,
        keyLength: info.keyLength,
        valueLength: info.valueLength,
        fileType: info.fileType,
        vocabSize: info.vocabSize,
        tokens: info.tokens,
        hasFim: info.hasFim,
        weightsBytes: info.weightsBytes,
      },
      {
        architecture: 'llama',
        name: 'tiny',
        contextLength: 2048,
        blockCount: 2,
        embeddingLength: 64,
        headCount: 8,
        headCountKv: 4,
        keyLength: 8,
        valueLength: 8,
        fileType: 0,
        vocabSize: 5,
        tokens: { bos: 1, eos: 2, fimPre: 3, fimSuf: 4, fimMid: null, fimPad: null },
        hasFim: true,
        weightsBytes: 32,
      },
    );
  });

  it('finds FIM tokens by their text, also in a vocabulary too long to keep', async () => {
    const tokens = [
      '<unk>',
      '<s>',
      '</s>',
      ...Array.from({ length: 3000 }, (_, i) => `t${i}`),
      '<|fim_prefix|>',
      '<|fim_suffix|>',
      '<|fim_middle|>',
      '<|fim_pad|>',
    ];
    const layout = llamaLayout([], tokens);
    for (const maxArrayItems of [16, Infinity]) {
      const info = await roundTrip(layout, Buffer.alloc(32), { maxArrayItems, chunkSize: 4096 });
      assert.equal(info.vocabSize, tokens.length);
      assert.deepEqual(info.tokens, { bos: 1, eos: 2, fimPre: 3003, fimSuf: 3004, fimMid: 3005, fimPad: 3006 });
      assert.equal(info.hasFim, true);
      const arr = metadataArray(info.metadata, 'tokenizer.ggml.tokens')!;
      assert.equal(arr.length, tokens.length);
      assert.equal(arr.items?.length, maxArrayItems === Infinity ? tokens.length : undefined);
    }
    const codeLlama = await roundTrip(llamaLayout([], ['<unk>', '<s>', '</s>', '▁<PRE>', '▁<SUF>', '▁<MID>']), Buffer.alloc(32));
    assert.deepEqual([codeLlama.tokens.fimPre, codeLlama.tokens.fimSuf, codeLlama.tokens.fimMid], [3, 4, 5]);
    const none = await roundTrip(llamaLayout(), Buffer.alloc(32));
    assert.equal(none.hasFim, false);
  });

  it('skips long arrays of every kind without reading them, keeping their length', async () => {
    const long = Array.from({ length: 100 }, (_, i) => i);
    const info = await roundTrip(
      {
        metadata: meta(
          ['nums', entry(T.ARRAY, array(T.UINT16, long))],
          ['strs', entry(T.ARRAY, array(T.STRING, long.map(String)))],
          [
            'nested',
            entry(
              T.ARRAY,
              array(
                T.ARRAY,
                long.map(() => array(T.UINT8, [1])),
              ),
            ),
          ],
          ['after', entry(T.STRING, 'still here')],
        ),
        tensors: [],
      },
      undefined,
      { maxArrayItems: 10, chunkSize: 64 },
    );
    for (const key of ['nums', 'strs', 'nested']) {
      const arr = metadataArray(info.metadata, key)!;
      assert.equal(arr.length, 100);
      assert.equal(arr.items, undefined);
    }
    assert.equal(info.metadata.get('after')?.value, 'still here');
  });

  it('reads a header bigger than its read-ahead window, and strings longer than it', async () => {
    const tokens = Array.from({ length: 60_000 }, (_, i) => `tok${i}`);
    const big = 'x'.repeat(3 << 20);
    const info = await roundTrip(
      {
        metadata: meta(['tokenizer.ggml.tokens', entry(T.ARRAY, array(T.STRING, tokens))], ['big', entry(T.STRING, big)]),
        tensors: [],
      },
      undefined,
      { maxArrayItems: Infinity, chunkSize: 1 << 16 },
    );
    assert.deepEqual(metadataArray(info.metadata, 'tokenizer.ggml.tokens')!.items, tokens);
    assert.equal((info.metadata.get('big')!.value as string).length, big.length);
  });

  it('estimates memory with the documented formula', async () => {
    const info = await roundTrip(llamaLayout(), Buffer.alloc(32));
    const m = estimateMemory(info, 1024);
    // 2 bytes * 2 layers * 1024 tokens * 4 kv heads * (8 + 8) head width
    assert.equal(m.kvCacheBytes, 2 * 2 * 1024 * 4 * 16);
    assert.equal(m.kvCacheBytes, 2 * 2 * 1024 * ((64 / 8) * 4) * 2, 'the same as 2 * n_layer * n_ctx * (n_embd / n_head * n_head_kv) * 2');
    assert.equal(m.computeBytes, 32 * 1024 * 1024 + 4 * 512 * (5 + 1024 * 8 + 4 * 64));
    assert.equal(m.weightsBytes, 32);
    assert.equal(m.totalBytes, m.weightsBytes + m.kvCacheBytes + m.computeBytes);
    assert.throws(
      () => estimateMemory(info, 0),
      (e: unknown) => e instanceof EngineError && e.code === 'bad-request',
    );
  });

  it('writes the same bytes for the same input', () => {
    const layout = llamaLayout([['f', entry(T.FLOAT64, 0.1)]]);
    assert.deepEqual(encodeGguf(layout, Buffer.alloc(32, 1)), encodeGguf(layout, Buffer.alloc(32, 1)));
  });

  it('copies a data section from a file and realigns it after longer metadata', async () => {
    const data = Buffer.from(Array.from({ length: 96 }, (_, i) => i));
    const layout: GgufLayout = { metadata: meta(), tensors: [{ name: 'w', dims: [8, 3], type: 0, offset: 0 }] };
    const src = await fileOf(encodeGguf(layout, data));
    const srcInfo = await readGguf(src);
    const dst = path.join(dir, 'rewritten.gguf');
    const longer: GgufLayout = { ...layout, metadata: meta(['general.name', entry(T.STRING, 'n'.repeat(101))]) };
    await writeGguf(dst, longer, { path: src, offset: srcInfo.dataOffset, length: srcInfo.dataSize });
    const info = await readGguf(dst);
    assert.equal(info.dataOffset % 32, 0);
    assert.ok(info.dataOffset > srcInfo.dataOffset);
    assert.equal(info.fileSize, info.dataOffset + 96);
  });

  describe('refuses broken files with a message that names the fix', () => {
    it('no file: model-not-found naming the setting and the command', async () => {
      const missing = path.join(dir, 'nope', 'missing.gguf');
      await rejects(
        missing,
        'model-not-found',
        /^No model file at .*missing\.gguf; check verdant\.local\.modelPath or choose a model with "Verdant: Select Local Model"\.$/,
      );
    });

    it('a directory or an empty file', async () => {
      const sub = path.join(dir, 'adir.gguf');
      await mkdir(sub);
      await rejects(sub, 'model-invalid', /is not a file; choose a \.gguf file/);
      await rejects(fileOf(''), 'model-invalid', /is empty; download it again/);
    });

    it('not GGUF: says what the file starts with', async () => {
      await rejects(
        fileOf(Buffer.from('504b030414000000', 'hex')),
        'model-invalid',
        /is not a GGUF model \(it starts with "PK.*a ZIP archive\); choose a \.gguf file\.$/,
      );
      await rejects(fileOf('<!DOCTYPE html><html>'), 'model-invalid', /starts with "<!DOCTYP", an HTML\/XML page/);
      await rejects(fileOf('ggjt\x03\x00\x00\x00'), 'model-invalid', /old GGML format/);
      await rejects(fileOf('hi'), 'model-invalid', /is not a GGUF model \(it starts with "hi"\)/);
      const st = Buffer.concat([Buffer.from([0x20, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('{"__metadata__":{}}')]);
      await rejects(fileOf(st), 'model-invalid', /a safetensors file/);
    });

    it('unsupported versions and byte order', async () => {
      const header = encodeGgufHeader({ metadata: meta(), tensors: [] });
      const withVersion = (v: Buffer): Buffer => Buffer.concat([header.subarray(0, 4), v, header.subarray(8)]);
      await rejects(fileOf(withVersion(Buffer.from([0, 0, 0, 3]))), 'model-invalid', /big-endian/);
      await rejects(fileOf(withVersion(Buffer.from([1, 0, 0, 0]))), 'model-invalid', /GGUF version 1, .*download a current version/);
      await rejects(fileOf(withVersion(Buffer.from([9, 0, 0, 0]))), 'model-invalid', /corrupt GGUF header \(unknown GGUF version 9\)/);
    });

    it('truncated inside the header or the tensor data: N of M bytes', async () => {
      const full = encodeGguf(llamaLayout(), Buffer.alloc(32));
      const dataOffset = full.length - 32;
      await rejects(
        fileOf(full.subarray(0, dataOffset + 20)),
        'model-invalid',
        new RegExp(`is truncated: ${dataOffset + 20} of ${dataOffset + 32} bytes; download it again\\.$`),
      );
      await rejects(
        fileOf(full.subarray(0, 100)),
        'model-invalid',
        /is truncated: 100 of at least \d+ bytes \(it ends inside the GGUF header\); download it again/,
      );
      await rejects(fileOf(full.subarray(0, 6)), 'model-invalid', /is truncated: 6 of at least 8 bytes/);
    });

    it('absurd counts and lengths: corrupt, without a giant allocation or a hang', async () => {
      const header = encodeGgufHeader(llamaLayout());
      const patched = (at: number, v: bigint): Buffer => {
        const b = Buffer.from(header);
        b.writeBigUInt64LE(v, at);
        return b;
      };
      // A hang or a giant allocation would meet mocha's timeout or run out of memory; how fast it is, is bench's.
      await rejects(
        fileOf(patched(8, 2n ** 64n - 1n)),
        'model-invalid',
        /corrupt GGUF header \(tensor count 18446744073709551615 at byte 8\); download it again or choose another \.gguf file/,
      );
      await rejects(fileOf(patched(16, 2n ** 40n)), 'model-invalid', /corrupt GGUF header \(metadata count/);
      await rejects(fileOf(patched(24, 2n ** 62n)), 'model-invalid', /corrupt GGUF header \(metadata key #0 length/);
      // A plausible length that runs past the end of the file is a cut-off file, not a corrupt one.
      await rejects(fileOf(patched(24, 5000n)), 'model-invalid', /is truncated: \d+ of at least 5032 bytes/);
    });

    it('array length, value type, nesting', async () => {
      const arrLen = encodeGgufHeader({ metadata: meta(['k', entry(T.ARRAY, array(T.UINT8, [1]))]), tensors: [] });
      arrLen.writeBigUInt64LE(2n ** 40n, 24 + 8 + 1 + 4 + 4);
      await rejects(fileOf(arrLen), 'model-invalid', /corrupt GGUF header \(k array length 1099511627776/);
      const badType = encodeGgufHeader({ metadata: meta(['k', entry(T.UINT8, 1)]), tensors: [] });
      badType.writeUInt32LE(13, 24 + 8 + 1);
      await rejects(fileOf(badType), 'model-invalid', /k has unknown value type 13/);
      let deep = array(T.UINT8, []);
      for (let i = 0; i < 10; i++) deep = array(T.ARRAY, [deep]);
      await rejects(
        fileOf(encodeGguf({ metadata: meta(['deep', entry(T.ARRAY, deep)]), tensors: [] })),
        'model-invalid',
        /nests arrays more than 8 deep/,
      );
    });

    it('bad tensor tables and alignment', async () => {
      const t = (over: Partial<GgufTensorSpec>): GgufTensorSpec => ({ name: 'w', dims: [8], type: 0, offset: 0, ...over });
      const file = (tensors: GgufTensorSpec[], m = meta()): Promise<string> => fileOf(encodeGguf({ metadata: m, tensors }, Buffer.alloc(256)));
      await rejects(file([t({ dims: [1, 1, 1, 1, 1] })]), 'model-invalid', /tensor w has 5 dimensions/);
      await rejects(
        file([t({ type: 4 })]),
        'model-invalid',
        /uses tensor type 4 \(in w\), which Verdant does not know; update Verdant or choose another quantization/,
      );
      await rejects(file([t({ type: 2, dims: [48] })]), 'model-invalid', /tensor w: 48 is not a multiple of the Q4_0 block size 32/);
      await rejects(file([t({ offset: 8 })]), 'model-invalid', /offset 8 is not a multiple of 32/);
      await rejects(file([t({ dims: [16] }), t({ name: 'v', offset: 32 })]), 'model-invalid', /tensors w and v overlap/);
      await rejects(file([t({}), t({ offset: 32 })]), 'model-invalid', /tensor w appears twice/);
      await rejects(file([], meta(['general.alignment', entry(T.UINT32, 24)])), 'model-invalid', /general\.alignment 24 is not a power of two/);
      const dup = encodeGgufHeader({ metadata: meta(['a', entry(T.UINT8, 1)], ['b', entry(T.UINT8, 2)]), tensors: [] });
      dup.write('a', 24 + 8 + 1 + 4 + 1 + 8, 'latin1');
      await rejects(fileOf(dup), 'model-invalid', /metadata key a appears twice/);
    });
  });
});
