// The model catalog's invariants and the "fits this machine" rule, with machine facts given as numbers.
import * as assert from 'node:assert/strict';
import { MODEL_CATALOG, type ModelPreset } from '../../src/engine/models/catalog';
import { fitModel, formatBytes, kvCacheBytes, recommendPresets, requiredBytes, type MachineFacts } from '../../src/engine/models/fit';

const GiB = 2 ** 30;
const GB = 1e9;

function preset(id: string): ModelPreset {
  const p = MODEL_CATALOG.find((q) => q.id === id);
  assert.ok(p, `no preset ${id}`);
  return p;
}

describe('model catalog', () => {
  it('has unique ids and file names', () => {
    assert.equal(new Set(MODEL_CATALOG.map((p) => p.id)).size, MODEL_CATALOG.length);
    assert.equal(new Set(MODEL_CATALOG.map((p) => p.fileName)).size, MODEL_CATALOG.length);
  });

  it('pins every file by a 64-hex sha256, a positive byte size and an https URL at a commit', () => {
    for (const p of MODEL_CATALOG) {
      assert.match(p.sha256, /^[0-9a-f]{64}$/, p.id);
      assert.ok(Number.isSafeInteger(p.sizeBytes) && p.sizeBytes > 0, p.id);
      const url = new URL(p.url);
      assert.equal(url.protocol, 'https:', p.id);
      assert.equal(url.host, 'huggingface.co', p.id);
      assert.match(url.pathname, /^\/[^/]+\/[^/]+\/resolve\/[0-9a-f]{40}\/[^/]+$/, `${p.id}: pinned to a commit`);
      assert.ok(url.pathname.endsWith(`/${p.fileName}`), p.id);
      assert.ok(p.fileName.endsWith('.gguf'), p.id);
      assert.ok(p.contextLength > 0, p.id);
    }
  });

  it('has no two presets with the same hash, and quantizations match their file names', () => {
    assert.equal(new Set(MODEL_CATALOG.map((p) => p.sha256)).size, MODEL_CATALOG.length);
    for (const p of MODEL_CATALOG) assert.ok(p.fileName.toLowerCase().includes(p.quantization.toLowerCase()), p.id);
  });

  it('offers FIM base models for completion and instruct models for chat', () => {
    const completion = MODEL_CATALOG.filter((p) => p.role === 'completion');
    const chat = MODEL_CATALOG.filter((p) => p.role === 'chat');
    assert.ok(completion.length >= 2 && chat.length >= 1);
    for (const p of completion) assert.ok(p.fim && !p.fileName.includes('instruct'), p.id);
    for (const p of chat) assert.ok(p.fileName.includes('instruct'), p.id);
  });

  it('keeps the llama.vscode default, Qwen2.5-Coder 1.5B Q8_0, with its published size', () => {
    const p = preset('qwen2.5-coder-1.5b-q8_0');
    assert.equal(p.sizeBytes, 1_646_573_056);
    assert.equal(p.sha256, '29871c94d15727a6e243f79a37113d4ae625a6215b5e800bf41a23af2da32832');
  });
});

describe('memory estimate', () => {
  it('computes the f16 KV cache from the attention shape', () => {
    // 2 (K and V) x 28 layers x 2 KV heads x 128 dims x 2 bytes x 4096 tokens
    assert.equal(kvCacheBytes(preset('qwen2.5-coder-1.5b-q8_0'), 4096), 117_440_512);
    assert.equal(kvCacheBytes(preset('qwen2.5-coder-1.5b-q8_0'), 8192), 2 * 117_440_512);
  });

  it('estimates a local GGUF known only by size, and grows with the context', () => {
    const local = { sizeBytes: 2 * GB };
    assert.equal(kvCacheBytes(local, 4096), 0.2 * GB);
    assert.ok(requiredBytes(local, { contextTokens: 16384 }) > requiredBytes(local));
    assert.ok(requiredBytes(local) > local.sizeBytes);
  });
});

describe('fitModel', () => {
  const laptop16: MachineFacts = { totalMemoryBytes: 16 * GiB, freeMemoryBytes: 9.4 * GB, vramBytes: null };

  it('runs on the CPU when there is no GPU and enough free RAM', () => {
    const r = fitModel(preset('qwen2.5-coder-1.5b-q8_0'), laptop16);
    assert.deepEqual([r.fits, r.where], [true, 'cpu']);
    assert.match(r.reason, /^1\.6 GB model \(2\.\d GB with context and buffers\), 9\.4 GB RAM free: fits on the CPU$/);
  });

  it('prefers a discrete GPU with room, and falls back to the CPU when the card is too small', () => {
    const big = fitModel(preset('qwen2.5-coder-3b-q8_0'), { ...laptop16, vramBytes: 8 * GiB });
    assert.deepEqual([big.fits, big.where], [true, 'gpu']);
    assert.match(big.reason, /GPU memory usable: fits on the GPU$/);

    const small = fitModel(preset('qwen2.5-coder-3b-q8_0'), { ...laptop16, vramBytes: 2 * GiB });
    assert.deepEqual([small.fits, small.where], [true, 'cpu']);
    assert.match(small.reason, /fits on the CPU \(too big for the GPU's 1\.\d GB\)$/);
  });

  it('counts shared memory for an integrated GPU (Radeon 780M with a 512 MB carve-out)', () => {
    const igpu: MachineFacts = { totalMemoryBytes: 31.5 * GiB, freeMemoryBytes: 20 * GiB, vramBytes: 512 * 2 ** 20, unifiedMemory: true };
    const r = fitModel(preset('qwen2.5-coder-3b-q8_0'), igpu);
    assert.deepEqual([r.fits, r.where], [true, 'gpu']);
    assert.match(r.reason, /537 MB reserved \+ \d+\.\d GB shared for the integrated GPU: fits on the integrated GPU$/);

    // Had the carve-out been taken for the whole of the GPU's memory, the model would have been sent to the CPU.
    const naive = fitModel(preset('qwen2.5-coder-3b-q8_0'), { ...igpu, unifiedMemory: false });
    assert.equal(naive.where, 'cpu');
  });

  it('treats unified memory without a carve-out (Apple silicon) as shared memory only', () => {
    const mac: MachineFacts = { totalMemoryBytes: 16 * GiB, freeMemoryBytes: 10 * GiB, vramBytes: 0, unifiedMemory: true };
    const r = fitModel(preset('qwen2.5-coder-1.5b-q8_0'), mac);
    assert.equal(r.where, 'gpu');
    assert.match(r.reason, /GB shared for the GPU: fits on the integrated GPU$/);
  });

  it('ignores a discrete GPU that reports no memory', () => {
    assert.equal(fitModel(preset('qwen2.5-coder-0.5b-q8_0'), { ...laptop16, vramBytes: 0 }).where, 'cpu');
  });

  it('refuses when free RAM is short, saying whether closing programs would help', () => {
    const busy = fitModel(preset('qwen2.5-coder-3b-q8_0'), { totalMemoryBytes: 8 * GiB, freeMemoryBytes: 2.1 * GB, vramBytes: null });
    assert.deepEqual([busy.fits, busy.where], [false, 'none']);
    assert.match(
      busy.reason,
      /^3\.3 GB model \(\d\.\d GB with context and buffers\), 2\.1 GB RAM free of which 1\.1 GB stays for the system: does not fit; close other programs or choose a smaller model$/,
    );

    const tiny = fitModel(preset('qwen2.5-coder-3b-q8_0'), { totalMemoryBytes: 4 * GiB, freeMemoryBytes: 3 * GiB, vramBytes: null });
    assert.equal(tiny.fits, false);
    assert.match(tiny.reason, /would not fit even with everything else closed \(4\.3 GB RAM\); choose a smaller model$/);
  });

  it('takes a local GGUF known only by its size', () => {
    const r = fitModel({ sizeBytes: 4.4 * GB }, laptop16);
    assert.equal(r.where, 'cpu');
    assert.match(r.reason, /^4\.4 GB model/);
  });
});

describe('recommendPresets', () => {
  const ids = (rs: { preset: ModelPreset }[]) => rs.map((r) => r.preset.id);

  it('filters by role and puts what fits first', () => {
    const machine: MachineFacts = { totalMemoryBytes: 8 * GiB, freeMemoryBytes: 3 * GiB, vramBytes: null };
    const ranked = recommendPresets(MODEL_CATALOG, machine, { role: 'completion' });
    assert.ok(ranked.every((r) => r.preset.role === 'completion'));
    assert.equal(ranked.length, MODEL_CATALOG.filter((p) => p.role === 'completion').length);
    const firstMiss = ranked.findIndex((r) => !r.fit.fits);
    assert.ok(firstMiss > 0, 'something fits');
    assert.ok(
      ranked.slice(firstMiss).every((r) => !r.fit.fits),
      'nothing that fits comes after a miss',
    );
  });

  it('on the CPU prefers the 1.5B for completion: capable, yet quick enough', () => {
    const cpuOnly: MachineFacts = { totalMemoryBytes: 16 * GiB, freeMemoryBytes: 10 * GiB, vramBytes: null };
    assert.deepEqual(ids(recommendPresets(MODEL_CATALOG, cpuOnly, { role: 'completion' })), [
      'qwen2.5-coder-1.5b-q8_0',
      'qwen2.5-coder-0.5b-q8_0',
      'qwen2.5-coder-3b-q8_0',
    ]);
  });

  it('on a roomy GPU prefers the largest model', () => {
    const igpu: MachineFacts = { totalMemoryBytes: 32 * GiB, freeMemoryBytes: 20 * GiB, vramBytes: 4 * GiB, unifiedMemory: true };
    const ranked = recommendPresets(MODEL_CATALOG, igpu, { role: 'completion' });
    assert.deepEqual(ids(ranked), ['qwen2.5-coder-3b-q8_0', 'qwen2.5-coder-1.5b-q8_0', 'qwen2.5-coder-0.5b-q8_0']);
    assert.ok(ranked.every((r) => r.fit.where === 'gpu'));
  });

  it('with little memory puts the smallest first, and a GPU placement before a CPU one', () => {
    const small: MachineFacts = { totalMemoryBytes: 8 * GiB, freeMemoryBytes: 3.5 * GiB, vramBytes: 2 * GiB };
    const ranked = recommendPresets(MODEL_CATALOG, small);
    const wheres = ranked.map((r) => r.fit.where);
    assert.deepEqual(
      wheres,
      [...wheres].sort((a, b) => ['gpu', 'cpu', 'none'].indexOf(a) - ['gpu', 'cpu', 'none'].indexOf(b)),
    );
    assert.equal(ranked[0]?.preset.id, 'qwen2.5-coder-0.5b-q8_0');
    assert.equal(ranked.at(-1)?.fit.fits, false);
  });
});

describe('formatBytes', () => {
  it('uses decimal units like download pages do', () => {
    assert.equal(formatBytes(1_646_573_056), '1.6 GB');
    assert.equal(formatBytes(531_068_128), '531 MB');
    assert.equal(formatBytes(1_185_376), '1.2 MB');
    assert.equal(formatBytes(4_206_649), '4.2 MB');
    assert.equal(formatBytes(2048), '2 KB');
    assert.equal(formatBytes(12), '12 bytes');
  });
});
