import * as assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BASELINE, CLOUD_MODELS, ECOLOGITS, estimateCloud, gpuCount, PROVIDER_PUE, resolveCloudModel } from '../../src/core/carbon/energy/cloud';
import {
  classifyCpu,
  detectDevice,
  engineOf,
  inferenceLoad,
  lookupTdp,
  normalizeCpuModel,
  osFacts,
  profile,
  tdpLoadWatts,
  type OsFacts,
} from '../../src/core/carbon/energy/devices';
import { estimateLocal } from '../../src/core/carbon/energy/local';
import { counterDeltaUj, RaplMeter, readRaplMicrojoules } from '../../src/core/carbon/energy/rapl';
import { buildSciRecord, localEmbodied, sciForLocalUsage, type SciInput, type SciIntensity } from '../../src/core/carbon/sci';
import type { EnergyEstimate } from '../../src/core/carbon/types';
import type { LocalUsageRecord } from '../../src/core/usage';

/** |actual - expected| <= rel x |expected| (our hand values carry 6 significant digits). */
function near(actual: number, expected: number, rel = 1e-4, what = ''): void {
  assert.ok(Math.abs(actual - expected) <= rel * Math.abs(expected), `${what} ${actual} is not within ${rel} of ${expected}`);
}

const x64 = (cpuModel: string, logicalCpus: number, extra: Partial<OsFacts> = {}): OsFacts => ({
  cpuModel,
  logicalCpus,
  platform: 'linux',
  arch: 'x64',
  ...extra,
});

describe('EcoLogits cloud estimate', () => {
  // Worked by hand from ecologits/impacts/llm.py with B = 64, PUE 1.2, H100 embodied 273 kg, server 5700 kg,
  // lifetime 3 y = 94,608,000 s; e^(beta x 64) = e^(-0.717179) = 0.488127.
  it('70B dense, 500 output tokens: 4 GPUs, 0.3288 Wh, 0.0283 g embodied', () => {
    // memory 1.2 x 70 x 16/8 = 168 GB; ceil(168/80) = 3 -> 2^ceil(log2 3) = 4 GPUs
    // f_E = 1.166527e-6 x 0.488127 x 70 + 4.052928e-5 = 3.98590e-5 + 4.05293e-5 = 8.03883e-5 Wh per token per GPU
    // GPUs x E_GPU = 4 x 500 x 8.03883e-5 = 0.160777 Wh
    // dT = 500 x (6.785088e-4 x 70 + 3.119310e-4 x 64 + 0.0194737) = 500 x 0.0869329 = 43.4665 s
    // E_server = 43.4665/3600 h x 1.2 kW x 4/8 / 64 = 1.13194e-4 kWh = 0.113194 Wh
    // E_request = 1.2 x (0.113194 + 0.160777) = 0.328764 Wh (2.37 J per output token)
    // M = 43.4665 / (64 x 94,608,000) x (4/8 x 5700 + 4 x 273) kg = 7.17875e-9 x 3942 kg = 0.0282985 g
    const r = estimateCloud({ activeParamsB: 70, totalParamsB: 70, outputTokens: 500, pue: 1.2 });
    assert.equal(r.gpus, 4);
    near(r.gpuKWh * 1000, 0.160777, 1e-4, 'GPU Wh');
    near(r.latencySeconds, 43.4665, 1e-5, 'dT');
    near(r.serverKWh * 1000, 0.113194, 1e-4, 'server Wh');
    near(r.energy.kWh * 1000, 0.328764, 1e-4, 'request Wh');
    near(r.embodiedG, 0.0282985, 1e-4, 'embodied g');
    assert.equal(r.energy.method, 'ecologits-2025.11');
    assert.equal(r.energy.pue, 1.2);
    assert.equal(r.energy.measured, false);
  });

  it('8B dense, 500 output tokens: 1 GPU, 0.0446 Wh (0.32 J per token)', () => {
    // memory 19.2 GB -> 1 GPU; f_E = 1.166527e-6 x 0.488127 x 8 + 4.052928e-5 = 4.50846e-5 Wh
    // dT = 500 x (5.42807e-3 + 1.99636e-2 + 1.94737e-2) = 22.4327 s; E_server = 22.4327/3600 x 1.2 x 1/8 / 64 = 0.0146046 Wh
    // E_request = 1.2 x (0.0146046 + 500 x 4.50846e-5) = 1.2 x 0.0371469 = 0.0445763 Wh; M = 22.4327/6.054912e9 x 985.5 kg = 0.00365115 g
    const r = estimateCloud({ activeParamsB: 8, totalParamsB: 8, outputTokens: 500, pue: 1.2 });
    assert.equal(r.gpus, 1);
    near(r.energy.kWh * 1000, 0.0445763, 1e-4);
    near((r.energy.kWh * 3.6e6) / 500, 0.320949, 1e-4, 'J per token');
    near(r.embodiedG, 0.00365115, 1e-4);
  });

  it('MoE uses active parameters for energy and total parameters for GPUs (Qwen3-235B-A22B)', () => {
    // memory 1.2 x 235 x 2 = 564 GB -> ceil 7.05 = 8 -> 8 GPUs
    // f_E = 1.166527e-6 x 0.488127 x 22 + 4.052928e-5 = 5.30564e-5 Wh; GPUs x E_GPU = 8 x 500 x 5.30564e-5 = 0.212226 Wh
    // dT = 500 x (0.0149272 + 0.0199636 + 0.0194737) = 27.1822 s; E_server = 27.1822/3600 x 1.2 x 8/8 / 64 = 0.141574 Wh
    // E_request = 1.2 x 0.353800 = 0.424560 Wh; M = 27.1822/6.054912e9 x (5700 + 8 x 273) kg = 0.0353936 g
    const moe = estimateCloud({ model: 'qwen3-235b-a22b', outputTokens: 500, pue: 1.2 });
    assert.equal(moe.gpus, 8);
    assert.equal(moe.activeParamsB, 22);
    near(moe.gpuKWh * 1000, 0.212226, 1e-4);
    near(moe.energy.kWh * 1000, 0.42456, 1e-4);
    near(moe.embodiedG, 0.0353936, 1e-4);
    const dense = estimateCloud({ activeParamsB: 235, totalParamsB: 235, outputTokens: 500, pue: 1.2 });
    assert.equal(dense.gpus, 8);
    assert.ok(dense.energy.kWh > 3 * moe.energy.kWh, 'a dense 235B costs far more than 22B active');
    assert.equal(estimateCloud({ model: 'deepseek-r1', outputTokens: 1, pue: 1.2 }).gpus, 32, '1.2 x 671 x 2 = 1610 GB -> 21 -> 32');
    assert.equal(estimateCloud({ model: 'gpt-oss-120b', outputTokens: 1 }).activeParamsB, 5.1);
  });

  it('counts GPUs as EcoLogits does: powers of two of 80 GB', () => {
    assert.deepEqual([1, 33, 34, 66, 67, 133, 134, 266, 267].map(gpuCount), [1, 1, 2, 2, 4, 4, 8, 8, 16]);
  });

  it('caps dT at the measured request latency, and the range spans batch size and PUE', () => {
    const capped = estimateCloud({ activeParamsB: 70, totalParamsB: 70, outputTokens: 500, pue: 1.2, latencySeconds: 10 });
    assert.equal(capped.latencySeconds, 10);
    near(capped.serverKWh, ((10 / 3600) * 1.2 * 0.5) / 64, 1e-9);
    const r = estimateCloud({ model: 'llama-3.3-70b-instruct', outputTokens: 500, provider: 'ovhcloud' });
    assert.equal(r.energy.pue, PROVIDER_PUE.ovhcloud.pue);
    assert.ok(r.energy.rangeKWh[0] < r.energy.kWh && r.energy.kWh < r.energy.rangeKWh[1]);
    assert.ok(r.embodiedRangeG[0] < r.embodiedG && r.embodiedG < r.embodiedRangeG[1]);
    const point = estimateCloud({ model: 'llama-3.3-70b-instruct', outputTokens: 500, pue: 1.2, batchRange: [64, 64] });
    assert.deepEqual(point.energy.rangeKWh, [point.energy.kWh, point.energy.kWh], "EcoLogits' own point estimate");
    assert.equal(estimateCloud({ model: 'llama-3.3-70b-instruct', outputTokens: 0 }).energy.kWh, 0);
  });

  it('resolves provider model names to the catalogue and refuses unknown models without sizes', () => {
    assert.equal(resolveCloudModel('meta-llama/Llama-3.3-70B-Instruct'), 'llama-3.3-70b-instruct');
    assert.equal(resolveCloudModel('Meta-Llama-3_3-70B-Instruct'), 'llama-3.3-70b-instruct');
    assert.equal(resolveCloudModel('Meta-Llama-3-1-8B-Instruct-FP8'), 'llama-3.1-8b-instruct');
    assert.equal(resolveCloudModel('mistral-small-3.2-24b-instruct-2506'), 'mistral-small-3.2-24b-instruct');
    assert.equal(resolveCloudModel('Qwen/Qwen3-235B-A22B'), 'qwen3-235b-a22b');
    assert.equal(resolveCloudModel('deepseek-ai/DeepSeek-R1-0528'), 'deepseek-r1');
    assert.equal(resolveCloudModel('Qwen3-32B'), 'qwen3-32b');
    assert.equal(resolveCloudModel('google/gemma-3-27b-it'), 'gemma-3-27b-it');
    assert.equal(resolveCloudModel('gpt-4o'), undefined);
    assert.throws(() => estimateCloud({ model: 'gpt-4o', outputTokens: 10 }), /activeParamsB and totalParamsB/);
    assert.throws(() => estimateCloud({ activeParamsB: 70, totalParamsB: 8, outputTokens: 10 }), RangeError);
    assert.equal(BASELINE.model in CLOUD_MODELS, true);
    assert.equal(ECOLOGITS.batchSize, 64);
  });
});

describe('device detection', () => {
  const phoenix = x64('AMD Ryzen 7 7840HS w/ Radeon 780M Graphics', 16);

  it('Ryzen 7 7840HS: CPU, Vulkan iGPU, NPU, and a server backend that does not say', () => {
    assert.equal(detectDevice(phoenix, 'llama.cpp (cpu)').id, 'phoenix-hs-cpu');
    const igpu = detectDevice(phoenix, 'llama.cpp (vulkan)');
    assert.equal(igpu.id, 'phoenix-hs-igpu');
    assert.equal(igpu.accelerator, 'igpu');
    assert.equal(igpu.method, 'device-profile');
    assert.equal(detectDevice(phoenix, 'onnxruntime (npu)').id, 'phoenix-npu');
    const server = detectDevice(phoenix, 'ollama');
    assert.equal(server.accelerator, 'unknown');
    assert.deepEqual(server.watts, { typical: 38, low: 25, high: 54 });
    assert.equal(lookupTdp(phoenix.cpuModel)?.watts, 54, 'the TDP table knows it, the chip profile wins');
    assert.equal(detectDevice(x64('AMD Ryzen 7 PRO 7840U w/ Radeon 780M Graphics', 16), 'llama.cpp (cpu)').id, 'phoenix-u-cpu');
  });

  it('Apple M-series: the SoC profile by tier, whatever the backend', () => {
    const mac = (cpuModel: string): OsFacts => ({ cpuModel, logicalCpus: 8, platform: 'darwin', arch: 'arm64' });
    const m2 = detectDevice(mac('Apple M2'), 'llama.cpp (metal)');
    assert.equal(m2.id, 'apple-m');
    assert.equal(m2.accelerator, 'soc');
    assert.equal(detectDevice(mac('Apple M2'), 'mlx').id, 'apple-m');
    assert.equal(detectDevice(mac('Apple M1 Pro'), 'ollama').id, 'apple-m-pro');
    assert.equal(detectDevice(mac('Apple M3 Max'), 'llama.cpp (cpu)').id, 'apple-m-max');
  });

  it('Intel i7-1360P: the 28 W laptop class (not in the TDP table)', () => {
    for (const model of ['Intel(R) Core(TM) i7-1360P', '13th Gen Intel(R) Core(TM) i7-1360P']) {
      assert.equal(normalizeCpuModel(model), 'Intel Core i7-1360P');
      assert.equal(detectDevice(x64(model, 16), 'llama.cpp (cpu)').id, 'laptop-28w-cpu');
    }
    assert.equal(lookupTdp('Intel(R) Core(TM) i7-1360P'), undefined);
    assert.equal(detectDevice(x64('Intel(R) Core(TM) i7-1360P', 16), 'llama.cpp (vulkan)').id, 'laptop-28w-igpu');
    assert.equal(detectDevice(x64('Intel(R) Core(TM) i7-1360P', 16), 'llama.cpp (cuda)').id, 'laptop-dgpu');
    assert.equal(detectDevice(x64('Intel(R) Core(TM) Ultra 7 155H', 22), 'llama.cpp (cpu)').id, 'intel-ultra-h-cpu');
  });

  it('classifies CPU strings and backends', () => {
    assert.equal(classifyCpu('AMD Ryzen 9 5900X 12-Core Processor'), 'desktop');
    assert.equal(classifyCpu('AMD Ryzen 7 5800H with Radeon Graphics'), 'laptop-45w');
    assert.equal(classifyCpu('Intel(R) Core(TM) i7-8550U CPU @ 1.80GHz'), 'laptop-15w');
    assert.equal(classifyCpu('Intel(R) Core(TM) i7-1165G7 @ 2.80GHz'), 'laptop-15w');
    assert.equal(classifyCpu('AMD Ryzen 9 7945HX with Radeon Graphics'), 'laptop-45w', 'Dragon Range is not Phoenix');
    assert.equal(classifyCpu('Mystery RISC-V SoC'), undefined);
    assert.deepEqual(
      [
        'llama.cpp (cpu)',
        'llama.cpp (vulkan)',
        'llama.cpp (metal)',
        'llama.cpp (cuda)',
        'ollama',
        'lm studio',
        'mlx',
        'lemonade',
        'llama-server',
      ].map(engineOf),
      ['cpu', 'gpu', 'gpu', 'cuda', 'server', 'server', 'server', 'server', 'server'],
    );
    assert.equal(detectDevice(x64('AMD Ryzen 9 5900X 12-Core Processor', 24), 'llama.cpp (vulkan)').id, 'desktop-dgpu');
  });

  it("TDP fallback: CodeCarbon's table, 4 W per thread, 85 W, and the load curve", () => {
    near(tdpLoadWatts(54, 0), 5.4, 1e-12);
    near(tdpLoadWatts(54, 0.5), 11.475, 1e-12, '54 x (0.1 + 0.9 x 0.125)');
    near(tdpLoadWatts(54, 1), 54, 1e-12);
    // i7-10750H: 45 W from the table; 12 logical -> 6 physical, 5 threads -> load 5/6; 45 x (0.1 + 0.9 x 0.578704) = 27.9375 W
    const i7 = detectDevice(x64('Intel(R) Core(TM) i7-10750H CPU @ 2.60GHz', 12), 'llama.cpp (cpu)');
    assert.equal(i7.method, 'tdp-model');
    assert.equal(i7.basis, 'tdp');
    near(i7.watts.typical, 27.9375, 1e-9);
    near(i7.watts.low, 27.9375 * 0.6, 1e-9);
    near(inferenceLoad(x64('x', 12)) ?? 0, 5 / 6, 1e-12);
    near(detectDevice(x64('Intel(R) Core(TM) i7-10750H CPU @ 2.60GHz', 12, { engineThreads: 6 }), 'llama.cpp (cpu)').watts.typical, 45, 1e-12);
    // Ryzen 9 5900X: 105 W; 24 logical -> 12 physical, 11 threads; 105 x (0.1 + 0.9 x (11/12)^3) = 83.2891 W
    near(detectDevice(x64('AMD Ryzen 9 5900X 12-Core Processor', 24), 'llama.cpp (cpu)').watts.typical, 83.2891, 1e-5);
    // Unknown CPU, 8 threads: 4 x 8 = 32 W; 4 physical, 3 threads, load 0.75: 32 x (0.1 + 0.9 x 0.421875) = 15.35 W, x0.4..x1.6
    const unknown = detectDevice(x64('Mystery RISC-V SoC', 8), 'llama.cpp (cpu)');
    assert.equal(unknown.id, 'tdp-perThread');
    assert.deepEqual(
      [unknown.watts.typical, unknown.watts.low, unknown.watts.high].map((v) => Number(v.toFixed(6))),
      [15.35, 6.14, 24.56],
    );
    assert.equal(detectDevice(x64('Mystery RISC-V SoC', 8), 'llama.cpp (vulkan)').id, 'generic-gpu');
    // Undetected: 85 W; with 4 logical CPUs load 1/2 -> 85 x 0.2125 = 18.0625 W; with no CPU count CodeCarbon's constant 50 %
    near(detectDevice(x64('', 4), 'llama.cpp (cpu)').watts.typical, 18.0625, 1e-12);
    const blind = detectDevice(x64('', 0), 'llama.cpp (cpu)');
    assert.equal(blind.id, 'tdp-undetected');
    near(blind.watts.typical, 42.5, 1e-12);
  });

  it('reads facts from an os-like source', () => {
    const facts = osFacts({
      cpus: () => [{ model: ' Apple M2 ', speed: 0, times: { user: 0, nice: 0, sys: 0, idle: 0, irq: 0 } }],
      platform: () => 'darwin',
      arch: () => 'arm64',
    });
    assert.deepEqual(facts, { cpuModel: 'Apple M2', logicalCpus: 1, platform: 'darwin', arch: 'arm64' });
    assert.equal(typeof detectDevice(osFacts(), 'llama.cpp (cpu)').watts.typical, 'number', 'this machine');
  });
});

describe('local energy', () => {
  it('kWh = W x s / 3.6e6 with the profile range, or the measured joules', () => {
    const device = profile('phoenix-hs-cpu'); // 38 W (25-54)
    const e = estimateLocal({ engineMs: 1500, device });
    near(e.kWh, 57 / 3.6e6, 1e-12, '38 W x 1.5 s = 57 J');
    near(e.rangeKWh[0], 37.5 / 3.6e6, 1e-12);
    near(e.rangeKWh[1], 81 / 3.6e6, 1e-12);
    assert.equal(e.method, 'device-profile');
    assert.equal(e.measured, false);
    const m = estimateLocal({ engineMs: 1500, device, measuredJoules: 40 });
    assert.deepEqual(m, { kWh: 40 / 3.6e6, rangeKWh: [40 / 3.6e6, 40 / 3.6e6], method: 'rapl', measured: true });
    assert.throws(() => estimateLocal({ engineMs: -1, device }), RangeError);
  });
});

describe('RAPL', () => {
  function sysfs(domains: Record<string, Record<string, string>>): string {
    const root = mkdtempSync(path.join(os.tmpdir(), 'verdant-rapl-'));
    write(root, domains);
    return root;
  }
  function write(root: string, domains: Record<string, Record<string, string>>): void {
    for (const [name, files] of Object.entries(domains)) {
      mkdirSync(path.join(root, name), { recursive: true });
      for (const [f, v] of Object.entries(files)) writeFileSync(path.join(root, name, f), v + '\n');
    }
  }
  const MAX = '262143328850';

  it('sums package domains only (not core subdomains, psys, dram or an MMIO duplicate)', async () => {
    const root = sysfs({
      'intel-rapl:0': { name: 'package-0', energy_uj: '1000000', max_energy_range_uj: MAX },
      'intel-rapl:0:0': { name: 'core', energy_uj: '400000' },
      'intel-rapl:1': { name: 'psys', energy_uj: '9000000' },
      'intel-rapl:0:1': { name: 'dram', energy_uj: '7' },
      'intel-rapl-mmio:0': { name: 'package-0', energy_uj: '1000001' },
      'amd-rapl:1': { name: 'package-1', energy_uj: '2500000', max_energy_range_uj: MAX },
    });
    const r = await readRaplMicrojoules({ root });
    assert.deepEqual(
      r?.domains.map((d) => d.domain),
      ['amd-rapl:1', 'intel-rapl:0'],
    );
    assert.equal(r?.totalUj, 3500000);
  });

  it('is null when powercap is absent or the counters are not readable', async () => {
    assert.equal(await readRaplMicrojoules({ root: '/nonexistent/powercap' }), null);
    const root = sysfs({ 'intel-rapl:0': { name: 'package-0', energy_uj: '5' } });
    const denied = async (f: string) => {
      if (f.endsWith('energy_uj')) throw Object.assign(new Error('EACCES'), { code: 'EACCES' });
      return 'package-0';
    };
    assert.equal(await readRaplMicrojoules({ root, readFile: denied }), null);
    const meter = new RaplMeter({ root, readFile: denied });
    assert.equal(await meter.available(), false);
    assert.equal(await meter.start(), false);
    assert.equal(await meter.stop(), null);
  });

  it('measures a span, including a counter wrap-around', async () => {
    const root = sysfs({ 'intel-rapl:0': { name: 'package-0', energy_uj: '262143000000', max_energy_range_uj: MAX } });
    const meter = new RaplMeter({ root });
    assert.equal(await meter.start(), true);
    write(root, { 'intel-rapl:0': { energy_uj: '500000' } });
    const m = await meter.stop();
    // (262143328850 - 262143000000) + 500000 = 828850 uJ
    assert.equal(m?.measured, true);
    assert.equal(m?.method, 'rapl');
    near(m?.joules ?? 0, 0.82885, 1e-12);
    assert.equal(counterDeltaUj(100, 350, 1000), 250);
    assert.equal(counterDeltaUj(900, 50, 1000), 150);
    assert.equal(counterDeltaUj(900, 50, 0), 0, 'no range: a wrap cannot be measured');
  });
});

describe('SCI records', () => {
  const grid: SciIntensity = { gPerKWh: 200, source: 'embedded', zone: 'GB', signal: 'average', isEstimated: true };
  const est = (kWh: number, lo: number, hi: number, method = 'device-profile'): EnergyEstimate => ({
    kWh,
    rangeKWh: [lo, hi],
    method,
    measured: false,
  });
  const input = (over: Partial<SciInput> = {}): SciInput => ({
    id: 'r1',
    ts: '2026-01-01T00:00:00.000Z',
    route: 'local',
    feature: 'inline-completion',
    model: 'qwen2.5-coder-1.5b',
    tokens: { in: 1200, out: 30 },
    energy: est(1e-5, 5e-6, 2e-5),
    embodiedG: 0.002,
    embodiedRangeG: [0.001, 0.003],
    intensity: grid,
    baseline: { model: 'llama-3.3-70b-instruct', energy: est(3e-4, 2e-4, 5e-4, 'ecologits-2025.11'), embodiedG: 0.03, intensity: grid },
    ...over,
  });

  it('operational = kWh x g/kWh, SCI = O + M, range from the energy and embodied ranges, saved = baseline - SCI', () => {
    const r = buildSciRecord(input());
    near(r.operationalG, 0.002, 1e-12, '1e-5 kWh x 200');
    near(r.sciG, 0.004, 1e-12);
    near(r.rangeG[0], 5e-6 * 200 + 0.001, 1e-12);
    near(r.rangeG[1], 2e-5 * 200 + 0.003, 1e-12);
    near(r.baseline.sciG, 3e-4 * 200 + 0.03, 1e-12, '0.09 g');
    near(r.savedG, 0.086, 1e-12);
    assert.equal(r.baseline.route, 'cloud');
    assert.equal(r.id, 'r1');
    assert.equal(buildSciRecord(input({ id: undefined }), () => 'generated').id, 'generated');
  });

  it('savings are negative when the request cost more than the baseline', () => {
    const r = buildSciRecord(input({ energy: est(1e-3, 1e-3, 1e-3), embodiedG: 0, embodiedRangeG: undefined }));
    near(r.sciG, 0.2, 1e-12);
    near(r.savedG, 0.09 - 0.2, 1e-12);
    assert.ok(r.savedG < 0);
  });

  it('market-based labels never change a number; intensity uncertainty only widens the range', () => {
    const plain = buildSciRecord(input());
    const labelled = buildSciRecord(input({ labels: ['supplier: 100 % renewable (RECs)', 'PPA-backed data centre'] }));
    const { labels, ...numbers } = labelled;
    assert.deepEqual(labels, ['supplier: 100 % renewable (RECs)', 'PPA-backed data centre']);
    assert.deepEqual(numbers, plain);
    const wide = buildSciRecord(input({ intensityUncertainty: 0.14 }));
    assert.equal(wide.sciG, plain.sciG);
    assert.equal(wide.savedG, plain.savedG);
    near(wide.rangeG[1], 2e-5 * 200 * 1.14 + 0.003, 1e-12);
    assert.throws(() => buildSciRecord(input({ intensity: { ...grid, gPerKWh: -1 } })), RangeError);
  });

  it('one local inference against the Llama 3.3 70B baseline on the same grid', () => {
    const usage: LocalUsageRecord = {
      at: Date.UTC(2026, 0, 1),
      feature: 'inline-completion',
      backend: 'llama.cpp (cpu)',
      model: 'qwen2.5-coder-1.5b',
      engineMs: 800,
      promptTokens: 1200,
      evaluatedTokens: 40,
      generatedTokens: 30,
    };
    const r = sciForLocalUsage(usage, profile('phoenix-hs-cpu'), grid, undefined, { id: 'u1' });
    // local: 38 W x 0.8 s = 30.4 J = 8.44444e-6 kWh -> 1.68889e-3 g at 200 g/kWh
    // embodied: 300 kg x 0.8 s / (4 x 365.25 x 86400 s) = 1.90129e-3 g; SCI = 3.59017e-3 g
    near(r.operationalG, 1.68889e-3, 1e-5);
    near(r.embodiedG, 1.90129e-3, 1e-5);
    near(r.sciG, 3.59017e-3, 1e-5);
    // baseline, 30 output tokens on 70.6B, 4 GPUs, PUE 1.2: f_E = 8.07299e-5 Wh; GPUs 4 x 30 x 8.07299e-5 = 9.68759e-3 Wh
    // dT = 30 x 0.0873400 = 2.62020 s; server 2.62020/3600 x 1.2 x 0.5 / 64 = 6.82344e-3 Wh; E = 1.2 x 0.0165110 = 0.0198132 Wh
    // O = 1.98132e-5 kWh x 200 = 3.96265e-3 g; M = 2.62020 / 6.054912e9 x 3942 kg = 1.70586e-3 g; SCI = 5.66851e-3 g
    near(r.baseline.sciG, 5.66851e-3, 1e-5);
    near(r.savedG, 5.66851e-3 - 3.59017e-3, 1e-4);
    assert.equal(r.baseline.model, 'llama-3.3-70b-instruct');
    assert.deepEqual(r.tokens, { in: 1200, out: 30 });
    assert.equal(r.ts, '2026-01-01T00:00:00.000Z');
    assert.equal(r.energy.method, 'device-profile');
    const measured = sciForLocalUsage(usage, profile('phoenix-hs-cpu'), grid, { ...grid, gPerKWh: 44.18, zone: 'FR' }, { measuredJoules: 20 });
    assert.equal(measured.energy.method, 'rapl');
    near(measured.operationalG, (20 / 3.6e6) * 200, 1e-12);
    assert.ok(measured.baseline.sciG < r.baseline.sciG, 'a cleaner baseline grid');
    const warmUp = sciForLocalUsage({ ...usage, feature: 'warm-up', generatedTokens: 0 }, profile('phoenix-hs-cpu'), grid);
    assert.equal(warmUp.baseline.sciG, 0);
    assert.ok(warmUp.savedG < 0, 'a warm-up has no cloud equivalent');
    near(localEmbodied(profile('phoenix-hs-cpu'), 3600).g, 300000 / (4 * 365.25 * 24), 1e-12, 'one hour of a 4-year laptop');
  });
});
