// The GGUF reader and the FIM rewriter against the real test model (stories260K) and the real llama.cpp, through
// node-llama-cpp: the facts it reports, agreement with node-llama-cpp's own parser and llama.cpp's type table,
// a FIM variant that llama.cpp accepts for infill, and the errors for broken copies.
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import type * as NodeLlamaCpp from 'node-llama-cpp' with { 'resolution-mode': 'import' };
import { EngineError } from '../../src/engine/errors';
import { GGML_TYPES, GGUF_TYPE, estimateMemory, metadataArray, readGguf, type GgufInfo } from '../../src/engine/gguf';
import { writeCorruptModels, type CorruptModels } from '../support/corruptModels';
import { makeFimVariant, type FimVariantTokens } from '../support/ggufRewrite';
import { TEST_MODEL, resolveTestModel } from '../support/testModel';

/** sha256 of bytes [offset, offset + length) of a file. */
async function hashRange(file: string, offset: number, length: number): Promise<string> {
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(length);
    await fh.read(buf, 0, length, offset);
    return createHash('sha256').update(buf).digest('hex');
  } finally {
    await fh.close();
  }
}

async function assertRefused(file: string, code: string, message: RegExp): Promise<void> {
  await assert.rejects(readGguf(file), (e: unknown) => {
    assert.ok(e instanceof EngineError, `expected EngineError, got ${String(e)}`);
    assert.equal(e.code, code);
    assert.match(e.message, message);
    return true;
  });
}

describe('GGUF reader on the real test model', function () {
  this.timeout(120_000);
  let model: string;
  let dir: string;
  let variant: string;
  let fim: FimVariantTokens;
  let info: GgufInfo;
  let broken: CorruptModels;

  before(async () => {
    model = await resolveTestModel();
    dir = await mkdtemp(path.join(os.tmpdir(), 'verdant-gguf-model-'));
    variant = path.join(dir, 'stories260K-fim.gguf');
    fim = await makeFimVariant(model, variant);
    info = await readGguf(model);
    broken = await writeCorruptModels(model, dir);
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('reports what stories260K is', () => {
    assert.equal(info.fileSize, TEST_MODEL.sizeBytes);
    assert.equal(info.version, 3);
    assert.equal(info.architecture, 'llama');
    assert.equal(info.blockCount, 5);
    assert.equal(info.embeddingLength, 64);
    assert.equal(info.headCount, 8);
    assert.equal(info.headCountKv, 4);
    assert.equal(info.contextLength, 2048);
    assert.equal(info.vocabSize, 512);
    assert.deepEqual(info.tokens, { bos: 1, eos: 2, fimPre: null, fimSuf: null, fimMid: null, fimPad: null });
    assert.equal(info.hasFim, false);
    assert.ok(info.tensors.length > 0 && info.tensors.every((t) => t.typeName === 'F32'));
    const embd = info.tensors.find((t) => t.name === 'token_embd.weight');
    assert.deepEqual(embd?.dims, [64, 512], 'the embedding has exactly n_vocab rows');
    assert.equal(info.alignment, 32);
    assert.equal(info.dataOffset + info.dataSize, info.fileSize, 'the data section ends the file');
    assert.equal(info.weightsBytes, info.dataSize);
    const m = estimateMemory(info, 256);
    assert.equal(m.kvCacheBytes, 2 * 5 * 256 * ((64 / 8) * 4) * 2);
    assert.equal(m.totalBytes, info.weightsBytes + m.kvCacheBytes + m.computeBytes);
  });

  it("agrees with node-llama-cpp's own GGUF parser", async () => {
    const { readGgufFileInfo } = await import('node-llama-cpp');
    const theirs = await readGgufFileInfo(model, { readTensorInfo: true, logWarnings: false });
    assert.equal(theirs.metadata.general.architecture, info.architecture);
    const tensors = theirs.fullTensorInfo ?? [];
    assert.equal(tensors.length, info.tensors.length);
    info.tensors.forEach((t, i) => {
      const o = tensors[i]!;
      assert.deepEqual(
        [o.name, o.dimensions.map(Number), Number(o.ggmlType), Number(o.offset), Number(o.fileOffset)],
        [t.name, t.dims, t.type, t.offset, info.dataOffset + t.offset],
      );
    });
  });

  it('writes a FIM variant: four repurposed byte tokens, ids in metadata, tensor data unchanged, deterministic', async () => {
    assert.deepEqual(fim, { fimPre: 4, fimSuf: 5, fimMid: 6, fimPad: 7 }); // <0x01>..<0x04> follow <unk> <s> </s> <0x00>
    const v = await readGguf(variant, { maxArrayItems: Infinity });
    assert.deepEqual(v.tokens, { bos: 1, eos: 2, ...fim });
    assert.equal(v.hasFim, true);
    assert.equal(v.vocabSize, 512);
    const tokens = metadataArray(v.metadata, 'tokenizer.ggml.tokens')!.items!;
    const types = metadataArray(v.metadata, 'tokenizer.ggml.token_type')!.items!;
    assert.deepEqual(tokens.slice(3, 9), ['<0x00>', '<|fim_prefix|>', '<|fim_suffix|>', '<|fim_middle|>', '<|fim_pad|>', '<0x05>']);
    assert.deepEqual(types.slice(3, 9), [6, 3, 3, 3, 3, 6]);
    assert.equal(v.metadata.get('tokenizer.ggml.fim_pre_token_id')?.type, GGUF_TYPE.UINT32);
    assert.deepEqual(v.tensors, info.tensors);
    assert.equal(v.dataOffset % v.alignment, 0);
    assert.equal(await hashRange(variant, v.dataOffset, v.dataSize), await hashRange(model, info.dataOffset, info.dataSize));
    const again = path.join(dir, 'again.gguf');
    await makeFimVariant(model, again);
    assert.ok((await readFile(again)).equals(await readFile(variant)), 'same source, same bytes');
  });

  it('refuses broken copies with the code and a message that names the fix', async () => {
    await assertRefused(
      path.join(dir, 'missing.gguf'),
      'model-not-found',
      /^No model file at .*missing\.gguf; check verdant\.local\.modelPath or choose a model with "Verdant: Select Local Model"\.$/,
    );
    const cut = info.dataOffset + Math.floor(info.dataSize / 2);
    await assertRefused(
      broken.truncated,
      'model-invalid',
      new RegExp(`truncated\\.gguf is truncated: ${cut} of ${TEST_MODEL.sizeBytes} bytes; download it again\\.$`),
    );
    await assertRefused(
      broken.truncatedHeader,
      'model-invalid',
      /truncated-header\.gguf is truncated: \d+ of at least \d+ bytes \(it ends inside the GGUF header\); download it again\.$/,
    );
    await assertRefused(
      broken.zip,
      'model-invalid',
      /archive\.gguf is not a GGUF model \(it starts with "PK.*a ZIP archive\); choose a \.gguf file\.$/,
    );
    await assertRefused(
      broken.html,
      'model-invalid',
      /error-page\.gguf is not a GGUF model \(it starts with "<!DOCTYP", an HTML\/XML page, perhaps a download error page\); choose a \.gguf file\.$/,
    );
    await assertRefused(broken.text, 'model-invalid', /notes\.gguf is not a GGUF model \(it starts with "These ar"\); choose a \.gguf file\.$/);
    await assertRefused(broken.empty, 'model-invalid', /empty\.gguf is empty; download it again\.$/);
    await assertRefused(
      broken.absurdTensorCount,
      'model-invalid',
      /absurd-tensor-count\.gguf has a corrupt GGUF header \(tensor count 18446744073709551615 at byte 8\); download it again or choose another \.gguf file\.$/,
    );
    await assertRefused(
      broken.absurdStringLength,
      'model-invalid',
      /absurd-string-length\.gguf has a corrupt GGUF header \(metadata key #0 length 4611686018427387904 at byte 24\)/,
    );
  });

  describe('with llama.cpp (node-llama-cpp, CPU)', () => {
    let mod: typeof NodeLlamaCpp;
    let llama: NodeLlamaCpp.Llama;
    before(async () => {
      mod = await import('node-llama-cpp');
      llama = await mod.getLlama({ gpu: false, build: 'never', logLevel: mod.LlamaLogLevel.error });
    });
    after(async () => {
      await llama?.dispose();
    });

    it('has the same ggml type table as llama.cpp', () => {
      // Private binding API, used only to check the table against the real ggml_blck_size/ggml_type_size.
      interface TypeTraitsBinding {
        getBlockSizeForGgmlType?(t: number): number | undefined;
        getTypeSizeForGgmlType?(t: number): number | undefined;
      }
      const b = (llama as unknown as { _bindings?: TypeTraitsBinding })._bindings;
      // node-llama-cpp is pinned (3.21.1), so this private API is there; a version bump that drops it fails here.
      assert.ok(b?.getBlockSizeForGgmlType && b.getTypeSizeForGgmlType, 'node-llama-cpp binding exposes the ggml type traits');
      let compared = 0;
      for (let t = 0; t < 64; t++) {
        const blockSize: number | undefined = b.getBlockSizeForGgmlType(t);
        const typeSize: number | undefined = b.getTypeSizeForGgmlType(t);
        if (blockSize === undefined || blockSize === 0) continue; // unknown to this llama.cpp, or removed
        const ours = GGML_TYPES.get(t);
        assert.deepEqual(ours && [ours.blockSize, ours.typeSize], [blockSize, typeSize], `ggml type ${t}`);
        compared++;
      }
      assert.ok(compared >= 30, `compared ${compared} types`);
    });

    it('infills with the FIM variant and not with the original', async () => {
      const infill = async (modelPath: string): Promise<{ supported: boolean; text?: string; ids?: (number | null)[]; parsed?: number[] }> => {
        const m = await llama.loadModel({ modelPath });
        try {
          const context = await m.createContext({ contextSize: 256, threads: 1, flashAttention: false });
          try {
            const completion = new mod.LlamaCompletion({ contextSequence: context.getSequence() });
            if (!completion.infillSupported) return { supported: false };
            const text = await completion.generateInfillCompletion('Once upon a time, ', ' and they lived happily.', { maxTokens: 8 });
            const i = m.tokens.infill;
            return { supported: true, text, ids: [i.prefix, i.suffix, i.middle], parsed: [...m.tokenize('<|fim_prefix|>', true)] };
          } finally {
            await context.dispose();
          }
        } finally {
          await m.dispose();
        }
      };

      assert.deepEqual(await infill(model), { supported: false });
      const r = await infill(variant);
      assert.equal(r.supported, true);
      assert.equal(typeof r.text, 'string');
      assert.deepEqual(r.ids, [fim.fimPre, fim.fimSuf, fim.fimMid], 'llama.cpp takes the FIM ids from the metadata');
      assert.deepEqual(r.parsed, [fim.fimPre], 'the renamed token parses as one special token');
    });
  });
});
