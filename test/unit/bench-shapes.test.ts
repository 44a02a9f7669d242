// The benchmarks' realistic-shape models (bench/shapes.ts): the planned tensors against the catalog's real files,
// llama-quantize's Q4_K_M choices, the Qwen2.5 vocabulary, a tiny qwen2 model written with the same writer and read
// back with Verdant's reader, and the cache (written once, keyed by generator version, published by rename).
// The real shapes (0.5B and up) are for the benches: `npm run bench:shapes`.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { GGML_TYPES, ggmlTensorBytes, readGguf } from '../../src/engine/gguf';
import { MODEL_CATALOG } from '../../src/engine/models/catalog';
import {
  GGML,
  SHAPES,
  SHAPE_NAMES,
  cachedShape,
  f16Bits,
  layoutTensors,
  planTensors,
  qwenVocab,
  shapeFileName,
  shapesCacheDir,
  tensorType,
  type ShapeSpec,
} from '../../bench/shapes';

/** Few layers and a small width, but the real 151,936-row vocabulary: ~10 MB. 64-wide rows take the fallbacks. */
const TINY: ShapeSpec = {
  arch: { sizeLabel: 'tiny', hidden: 64, layers: 2, heads: 2, kvHeads: 1, ffn: 256, vocab: 151_936, contextLength: 32_768 },
  quant: 'Q4_K_M',
  instruct: false,
  outputTensor: false,
  catalogId: 'none',
};

function halfValue(bits: number): number {
  const e = (bits >> 10) & 0x1f;
  const m = bits & 0x3ff;
  return e === 0 ? m * 2 ** -24 : (1 + m / 1024) * 2 ** (e - 15);
}

describe('bench shapes', function () {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'verdant-shapes-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('match the catalog presets: KV shape, quantization, and tensor bytes = real file size less its ~6 MB header', () => {
    for (const name of SHAPE_NAMES) {
      const spec = SHAPES[name];
      const preset = MODEL_CATALOG.find((p) => p.id === spec.catalogId);
      assert.ok(preset, `${name}: no catalog preset ${spec.catalogId}`);
      const { hidden, heads, layers, kvHeads } = spec.arch;
      assert.deepEqual({ layers, kvHeads, headDim: hidden / heads }, preset.kv, name);
      assert.equal(spec.quant, preset.quantization, name);
      // Every header here is 5.948-5.957 MB (tokens, merges, chat template); a single tensor of another type would
      // move the data size by far more than the band.
      const header = preset.sizeBytes - layoutTensors(planTensors(spec)).dataSize;
      assert.ok(header > 5_940_000 && header < 5_960_000, `${name}: ${header} bytes left for the header`);
    }
  });

  it("choose llama-quantize's Q4_K_M types, with the fallbacks for rows that are not whole 256-blocks", () => {
    const types = (spec: ShapeSpec) => new Map(planTensors(spec).map((t) => [t.name, t.type]));
    const q4km = types(SHAPES['qwen2.5-coder-1.5b-q4_k_m']);
    assert.equal(q4km.get('output.weight'), GGML.Q6_K);
    assert.equal(q4km.get('token_embd.weight'), GGML.Q4_K);
    // use_more_bits(i, 28): i < 3, i >= 24, (i - 3) % 3 == 2.
    const more = [0, 1, 2, 5, 8, 11, 14, 17, 20, 23, 24, 25, 26, 27];
    for (let i = 0; i < 28; i++) {
      const want = more.includes(i) ? GGML.Q6_K : GGML.Q4_K;
      assert.equal(q4km.get(`blk.${i}.attn_v.weight`), want, `attn_v ${i}`);
      assert.equal(q4km.get(`blk.${i}.ffn_down.weight`), want, `ffn_down ${i}`);
      assert.equal(q4km.get(`blk.${i}.attn_q.weight`), GGML.Q4_K);
      assert.equal(q4km.get(`blk.${i}.attn_q.bias`), GGML.F32);
    }
    // 0.5B width (896 = 3.5 blocks of 256): Q4_K -> Q5_0, Q6_K -> Q8_0; the 4864-wide ffn_down rows stay k-quants.
    assert.equal(tensorType('Q4_K_M', 'other', 3, 24, 896), GGML.Q5_0);
    assert.equal(tensorType('Q4_K_M', 'attn_v', 0, 24, 896), GGML.Q8_0);
    assert.equal(tensorType('Q4_K_M', 'output', 0, 24, 896), GGML.Q8_0);
    assert.equal(tensorType('Q4_K_M', 'ffn_down', 5, 24, 4864), GGML.Q6_K);
    assert.equal(tensorType('Q4_K_M', 'ffn_down', 6, 24, 4864), GGML.Q4_K);
    const q8 = types(SHAPES['qwen2.5-coder-0.5b-q8_0']);
    assert.equal(q8.has('output.weight'), false, 'tied embeddings');
    assert.deepEqual(new Set(q8.values()), new Set([GGML.Q8_0, GGML.F32]));
  });

  it('use the Qwen2.5 vocabulary: real BPE ids and merges, added tokens typed as convert_hf_to_gguf does, padded', () => {
    const v = qwenVocab();
    assert.equal(v.tokens.length, 151_936);
    assert.equal(v.merges.length, 151_387);
    assert.equal(v.tokens[9707], 'Hello');
    assert.equal(v.tokens[1879], 'Ġworld');
    const at = (id: number) => [v.tokens[id], v.types[id]];
    assert.deepEqual(at(151_643), ['<|endoftext|>', 3]);
    assert.deepEqual(at(151_657), ['<tool_call>', 4]);
    assert.deepEqual(at(151_659), ['<|fim_prefix|>', 3]);
    assert.deepEqual(at(151_664), ['<|file_sep|>', 3]);
    assert.deepEqual(at(151_665), ['[PAD151665]', 5]);
    assert.deepEqual(at(151_935), ['[PAD151935]', 5]);
    assert.equal(v.types[100], 1);
  });

  it('encode scale fields as IEEE halves', () => {
    assert.equal(f16Bits(1), 0x3c00);
    assert.equal(f16Bits(-2), 0xc000);
    assert.equal(f16Bits(65504), 0x7bff);
    assert.equal(f16Bits(0.1), 0x2e66);
    assert.equal(f16Bits(2 ** -24), 1);
    assert.equal(f16Bits(0), 0);
  });

  it('write a qwen2 model that the reader accepts: every tensor as planned, aligned, with finite small scales', async () => {
    const file = await cachedShape('tiny', TINY, { cacheDir: dir });
    const info = await readGguf(file);
    const plan = planTensors(TINY);
    assert.deepEqual(
      info.tensors.map((t) => [t.name, t.dims, t.type, t.bytes]),
      plan.map((p) => [p.name, p.dims, p.type, ggmlTensorBytes(p.type, p.dims)]),
    );
    assert.equal(plan.length, 1 + 2 * 12 + 1);
    for (const t of info.tensors) assert.equal(t.offset % 32, 0, t.name);
    assert.equal(info.fileSize, info.dataOffset + info.dataSize);
    assert.equal(info.architecture, 'qwen2');
    assert.equal(info.vocabSize, 151_936);
    assert.equal(info.blockCount, 2);
    assert.equal(info.headCountKv, 1);
    assert.equal(info.contextLength, 32_768);
    assert.equal(info.fileType, 15);
    assert.deepEqual(info.tokens, { bos: 151_643, eos: 151_643, fimPre: 151_659, fimSuf: 151_661, fimMid: 151_660, fimPad: 151_662 });

    // First block of each quantized tensor: d is a small positive normal half, near std / unit.
    const fh = await open(file, 'r');
    try {
      for (const t of info.tensors) {
        const p = plan.find((x) => x.name === t.name)!;
        if (t.type === GGML.F32 || p.fill.kind !== 'weight') continue;
        const block = Buffer.alloc(GGML_TYPES.get(t.type)!.typeSize);
        await fh.read(block, 0, block.length, info.dataOffset + t.offset);
        const dAt = t.type === GGML.Q6_K ? 208 : 0;
        const d = halfValue(block.readUInt16LE(dAt));
        assert.ok(d > 2 ** -14 && d < 0.1, `${t.name}: d ${d}`);
        if (t.type === GGML.Q4_K) assert.ok(Math.abs(halfValue(block.readUInt16LE(2)) / d - 7.5) < 0.01, `${t.name}: dmin`);
      }
    } finally {
      await fh.close();
    }
  });

  it('cache: written once, rewritten under a new generator version, published by rename', async () => {
    const cacheDir = path.join(dir, 'cache');
    const first = await cachedShape('tiny', TINY, { cacheDir });
    const { mtimeMs, ino } = statSync(first);
    assert.equal(await cachedShape('tiny', TINY, { cacheDir }), first);
    assert.deepEqual([statSync(first).mtimeMs, statSync(first).ino], [mtimeMs, ino], 'not rewritten');

    // A writer that was killed left its temp file; one still running (our parent) keeps its own.
    const dead = spawnSync(process.execPath, ['-e', '0']).pid;
    const next = path.join(cacheDir, shapeFileName('tiny', TINY, 99));
    writeFileSync(`${next}.${dead}.tmp`, 'torn');
    writeFileSync(`${next}.${process.ppid}.tmp`, 'in progress');
    assert.notEqual(next, first);
    assert.equal(await cachedShape('tiny', TINY, { cacheDir, generatorVersion: 99 }), next);
    assert.equal((await readGguf(next)).tensors.length, 26);
    assert.deepEqual(readdirSync(cacheDir).sort(), [path.basename(next), `${path.basename(next)}.${process.ppid}.tmp`].sort());
    assert.equal(existsSync(first), false, 'the old version is removed');
  });

  it('cache directory: VERDANT_SHAPES_DIR, else VERDANT_CACHE/shapes, else ~/.cache/verdant/shapes', () => {
    assert.equal(shapesCacheDir({ VERDANT_SHAPES_DIR: '/s', VERDANT_CACHE: '/c' }, '/h'), '/s');
    assert.equal(shapesCacheDir({ VERDANT_CACHE: '/c' }, '/h'), path.join('/c', 'shapes'));
    assert.equal(shapesCacheDir({}, '/h'), path.join('/h', '.cache', 'verdant', 'shapes'));
  });
});
