// The NPU told honestly: its generation from real CPU model strings and a real folder laid out like Linux's
// /sys/class/accel, and the Show Engine Status lines that say what runs where.
import * as assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, promises as fs, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { BackendInfo } from '../../src/core/inference/types';
import { describePlacement, detectNpu, devicesText, npuOfCpu, type NpuDetection, type NpuGeneration, type NpuReads } from '../../src/core/power/npu';
import { LOCAL_BACKENDS } from '../../src/core/settings';

// os.cpus()[0].model as each OS reports it.
const CPUS: readonly [string, NpuGeneration][] = [
  ['AMD Ryzen 7 7840HS w/ Radeon 780M Graphics', 'xdna1'], // Framework 16 (the primary user's)
  ['AMD Ryzen 7 8840U w/ Radeon 780M Graphics', 'xdna1'],
  ['AMD Ryzen 5 7640U w/ Radeon 760M Graphics', 'xdna1'],
  ['AMD Ryzen 9 8945HS w/ Radeon 780M Graphics', 'xdna1'],
  ['AMD Ryzen 7 PRO 7840U w/ Radeon 780M Graphics', 'xdna1'],
  ['AMD Ryzen 7 8700G w/ Radeon 780M Graphics', 'xdna1'],
  ['AMD Ryzen 7 260 w/ Radeon 780M Graphics', 'xdna1'],
  ['AMD Ryzen 5 7540U w/ Radeon 740M Graphics', 'none'], // Phoenix 2: no NPU
  ['AMD Ryzen 5 8500G w/ Radeon 740M Graphics', 'none'],
  ['AMD Ryzen 9 7945HX with Radeon Graphics', 'none'], // Dragon Range
  ['AMD Ryzen 9 5900X 12-Core Processor', 'none'],
  ['AMD Ryzen AI 9 HX 370 w/ Radeon 890M', 'xdna2'],
  ['AMD Ryzen AI 7 350 w/ Radeon 860M', 'xdna2'],
  ['AMD Ryzen AI 5 340 w/ Radeon 840M', 'xdna2'],
  ['AMD RYZEN AI MAX+ 395 w/ Radeon 8060S', 'xdna2'],
  ['Intel(R) Core(TM) Ultra 7 155H', 'intel'], // Meteor Lake
  ['Intel(R) Core(TM) Ultra 7 258V', 'intel'], // Lunar Lake
  ['Intel(R) Core(TM) Ultra 9 285K', 'intel'], // Arrow Lake
  ['Intel(R) Core(TM) i7-1165G7 @ 2.80GHz', 'none'],
  ['13th Gen Intel(R) Core(TM) i7-1360P', 'none'],
  ['Apple M2 Pro', 'none'],
  ['', 'unknown'],
];

/** A folder laid out like /sys/class/accel: one accelN/device/uevent per device. */
function accelTree(devices: Record<string, string>): string {
  const root = mkdtempSync(path.join(os.tmpdir(), 'verdant-accel-'));
  for (const [name, uevent] of Object.entries(devices)) {
    mkdirSync(path.join(root, name, 'device'), { recursive: true });
    writeFileSync(path.join(root, name, 'device', 'uevent'), uevent);
  }
  return root;
}

const uevent = (driver: string, pciId: string) =>
  `DRIVER=${driver}\nPCI_CLASS=118000\nPCI_ID=${pciId}\nPCI_SUBSYS_ID=F111:0006\nPCI_SLOT_NAME=0000:c4:00.1\nMODALIAS=pci:v00001022d00001502\n`;

const roots: string[] = [];
function reads(devices: Record<string, string> | 'missing'): NpuReads {
  const accelRoot = devices === 'missing' ? path.join(os.tmpdir(), 'verdant-accel-none', 'accel') : accelTree(devices);
  if (devices !== 'missing') roots.push(accelRoot);
  return { readDir: (dir) => fs.readdir(dir), readFile: (file) => fs.readFile(file, 'utf8'), accelRoot };
}

const HX370 = 'AMD Ryzen AI 9 HX 370 w/ Radeon 890M';
const FW16 = 'AMD Ryzen 7 7840HS w/ Radeon 780M Graphics';

describe('NPU detection', () => {
  after(() => {
    for (const r of roots) rmSync(r, { recursive: true, force: true });
  });

  it('reads the generation from the CPU model name', () => {
    for (const [model, generation] of CPUS) assert.equal(npuOfCpu(model), generation, model);
  });

  it('Linux: the amdxdna driver and its PCI id confirm the generation', async () => {
    const xdna1 = await detectNpu({ cpuModel: FW16, platform: 'linux' }, reads({ accel0: uevent('amdxdna', '1022:1502') }));
    assert.deepEqual([xdna1.generation, xdna1.usable], ['xdna1', false]);
    assert.match(xdna1.why, /^no maintained runtime runs language models on this NPU today \(the amdxdna driver is loaded\)$/);

    const xdna2 = await detectNpu({ cpuModel: HX370, platform: 'linux' }, reads({ accel0: uevent('amdxdna', '1022:17F0') }));
    assert.deepEqual([xdna2.generation, xdna2.usable], ['xdna2', true]);
    assert.match(xdna2.why, /amdxdna driver is loaded; Lemonade Server can run NPU models on it \(FastFlowLM\)/);

    // The kernel's word wins over a CPU name Verdant cannot place.
    const unnamed = await detectNpu({ cpuModel: '', platform: 'linux' }, reads({ accel0: uevent('amdxdna', '1022:1502') }));
    assert.equal(unnamed.generation, 'xdna1');
  });

  it('Linux: without the driver an XDNA 2 NPU is not usable, and the reason names the driver', async () => {
    for (const r of [reads('missing'), reads({}), reads({ accel0: uevent('habanalabs', '1da3:1020') })]) {
      const npu = await detectNpu({ cpuModel: HX370, platform: 'linux' }, r);
      assert.deepEqual([npu.generation, npu.usable], ['xdna2', false]);
      assert.match(npu.why, /the amdxdna driver is not loaded \(Linux 6\.14 or later has it\)/);
    }
    const fw16 = await detectNpu({ cpuModel: FW16, platform: 'linux' }, reads('missing'));
    assert.deepEqual([fw16.generation, fw16.usable], ['xdna1', false]);
    assert.match(fw16.why, /and the amdxdna driver is not loaded/);
  });

  it('Linux: an Intel NPU, an AMD NPU of an unknown generation, no NPU at all', async () => {
    const intel = await detectNpu(
      { cpuModel: 'Intel(R) Core(TM) Ultra 7 155H', platform: 'linux' },
      reads({ accel0: uevent('intel_vpu', '8086:7D1D') }),
    );
    assert.deepEqual([intel.generation, intel.usable], ['intel', false]);
    assert.match(intel.why, /intel_vpu driver is loaded/);
    const newer = await detectNpu({ cpuModel: 'AMD Eng Sample', platform: 'linux' }, reads({ accel0: uevent('amdxdna', '1022:1B0B') }));
    assert.deepEqual([newer.generation, newer.usable, newer.label], ['unknown', false, 'AMD NPU (amdxdna, PCI 1022:1b0b)']);
    const none = await detectNpu({ cpuModel: 'AMD Ryzen 9 5900X 12-Core Processor', platform: 'linux' }, reads('missing'));
    assert.deepEqual([none.generation, none.label, none.usable], ['none', 'none', false]);
  });

  it('Windows and macOS: the CPU name decides, and nothing is read', async () => {
    const untouchable: NpuReads = {
      readDir: () => assert.fail('no sysfs outside Linux'),
      readFile: () => assert.fail('no sysfs outside Linux'),
    };
    assert.deepEqual(
      [await detectNpu({ cpuModel: FW16, platform: 'win32' }, untouchable)].map((n) => [n.generation, n.usable, n.why]),
      [['xdna1', false, 'no maintained runtime runs language models on this NPU today']],
    );
    assert.equal((await detectNpu({ cpuModel: HX370, platform: 'win32' }, untouchable)).usable, true);
    const mac = await detectNpu({ cpuModel: 'Apple M3 Max', platform: 'darwin' }, untouchable);
    assert.deepEqual([mac.generation, mac.label, mac.usable], ['none', 'Apple Neural Engine', false]);
    assert.equal((await detectNpu({ cpuModel: '', platform: 'win32' }, untouchable)).generation, 'unknown');
  });
});

describe('what runs where (Show Engine Status)', () => {
  const info = (over: Partial<BackendInfo>): BackendInfo => ({
    backend: 'llama.cpp (vulkan)',
    model: 'qwen2.5-coder-1.5b-q8_0.gguf',
    devices: [],
    vramBytes: null,
    threads: 7,
    fimSupported: true,
    contextSize: 4096,
    ...over,
  });
  const npuOf = (generation: NpuGeneration, usable = generation === 'xdna2'): NpuDetection => ({
    generation,
    label: {
      xdna1: 'AMD Ryzen AI NPU, XDNA 1 (Phoenix / Hawk Point)',
      xdna2: 'AMD Ryzen AI NPU, XDNA 2 (Strix / Krackan / Strix Halo)',
      intel: 'Intel NPU (Core Ultra)',
      none: 'none',
      unknown: 'unknown',
    }[generation],
    usable,
    why: generation === 'none' ? 'no NPU that Verdant knows of on AMD Ryzen 9 5900X' : 'the OS does not name the CPU',
  });
  const vulkan = info({ devices: ['AMD Radeon 780M Graphics (RADV PHOENIX)'], vramBytes: 2 ** 30 });

  it('XDNA 1 (Ryzen 7 7840HS): not used, the model on the iGPU via Vulkan or the CPU, the router on the CPU', () => {
    assert.deepEqual(describePlacement(npuOf('xdna1'), { backend: 'llama.cpp', info: vulkan }), [
      'NPU: AMD Ryzen AI NPU, XDNA 1 (Phoenix / Hawk Point), not used: no maintained runtime runs language models on this NPU today',
      'Runs on: the language model on the GPU via Vulkan (AMD Radeon 780M Graphics (RADV PHOENIX)); the router on the CPU',
    ]);
    assert.equal(
      describePlacement(npuOf('xdna1'), { backend: 'llama.cpp', info: info({ backend: 'llama.cpp (cpu)' }) })[1],
      'Runs on: the language model on the CPU; the router on the CPU',
    );
    assert.equal(
      describePlacement(npuOf('xdna1'), { backend: 'llama.cpp', info: null })[1],
      'Runs on: no language model loaded yet; the router on the CPU',
    );
  });

  it('XDNA 2: reachable through Lemonade Server; in use only when Lemonade runs the model with an NPU recipe', () => {
    const xdna2 = npuOf('xdna2');
    assert.equal(
      describePlacement(xdna2, { backend: 'llama.cpp', info: vulkan })[0],
      'NPU: AMD Ryzen AI NPU, XDNA 2 (Strix / Krackan / Strix Halo), not used: reachable through Lemonade Server (set verdant.local.backend to lemonade)',
    );
    const flm = info({ backend: 'lemonade', model: 'Qwen3-1.7B-FLM', recipe: 'flm', threads: null });
    assert.deepEqual(describePlacement(xdna2, { backend: 'lemonade', info: flm }), [
      'NPU: AMD Ryzen AI NPU, XDNA 2 (Strix / Krackan / Strix Halo), in use: Lemonade Server runs Qwen3-1.7B-FLM on it (recipe flm)',
      'Runs on: the language model on the NPU through Lemonade Server (recipe flm); the router on the CPU',
    ]);
    const gguf = info({ backend: 'lemonade', model: 'Qwen2.5-Coder-1.5B-Instruct-GGUF', recipe: 'llamacpp', threads: null });
    assert.deepEqual(describePlacement(xdna2, { backend: 'lemonade', info: gguf }), [
      'NPU: AMD Ryzen AI NPU, XDNA 2 (Strix / Krackan / Strix Halo), not used: Lemonade Server runs Qwen2.5-Coder-1.5B-Instruct-GGUF with the llamacpp recipe; choose an NPU model in Lemonade to use it',
      'Runs on: the language model on a GPU or the CPU through Lemonade Server (recipe llamacpp); the router on the CPU',
    ]);
    assert.deepEqual(describePlacement(xdna2, { backend: 'lemonade', info: null }), [
      "NPU: AMD Ryzen AI NPU, XDNA 2 (Strix / Krackan / Strix Halo), reachable through Lemonade Server; whether it runs the model depends on the model's recipe, which Lemonade has not reported",
      'Runs on: the language model on Lemonade Server, which did not answer; the router on the CPU',
    ]);
    // Without its driver (Linux), the reason is the driver's.
    const noDriver = { ...xdna2, usable: false, why: 'AMD Ryzen AI 9 HX 370 has one, but the amdxdna driver is not loaded' };
    assert.match(
      describePlacement(noDriver, { backend: 'lemonade', info: flm })[0]!,
      /, not used: AMD Ryzen AI 9 HX 370 has one, but the amdxdna driver is not loaded$/,
    );
  });

  it('Intel NPU: not used by Verdant; none: no NPU found; unknown: says why', () => {
    assert.equal(describePlacement(npuOf('intel'), { backend: 'llama.cpp', info: vulkan })[0], 'NPU: Intel NPU (Core Ultra), not used by Verdant');
    assert.equal(
      describePlacement(npuOf('none'), { backend: 'llama.cpp', info: vulkan })[0],
      'NPU: none found (no NPU that Verdant knows of on AMD Ryzen 9 5900X)',
    );
    assert.equal(describePlacement(npuOf('unknown'), { backend: 'llama.cpp', info: vulkan })[0], 'NPU: unknown (the OS does not name the CPU)');
    const ane: NpuDetection = { generation: 'none', label: 'Apple Neural Engine', usable: false, why: 'Verdant runs nothing on the Neural Engine' };
    assert.equal(
      describePlacement(ane, { backend: 'mlx', info: info({ backend: 'mlx' }) }).join('\n'),
      [
        'NPU: Apple Neural Engine, not used: Verdant runs nothing on the Neural Engine',
        'Runs on: the language model on the Apple GPU through mlx_lm.server; the router on the CPU',
      ].join('\n'),
    );
  });

  it('never says "in use" unless the backend is lemonade and its recipe runs on the NPU', () => {
    const infos = [
      null,
      vulkan,
      info({ backend: 'lemonade', recipe: 'llamacpp' }),
      info({ backend: 'lemonade', recipe: 'flm' }),
      info({ backend: 'lemonade', recipe: 'ryzenai-llm' }),
    ];
    for (const generation of ['xdna1', 'xdna2', 'intel', 'none', 'unknown'] as const) {
      for (const usable of [true, false]) {
        for (const backend of LOCAL_BACKENDS) {
          for (const i of infos) {
            const [line] = describePlacement(npuOf(generation, usable), { backend, info: i });
            const inUse = /\bin use\b/.test(line!);
            assert.equal(
              inUse,
              generation === 'xdna2' && usable && backend === 'lemonade' && (i?.recipe === 'flm' || i?.recipe === 'ryzenai-llm'),
              `${generation} ${usable} ${backend} ${i?.recipe}: ${line}`,
            );
          }
        }
      }
    }
  });

  it('names the devices only as far as the backend reported them', () => {
    assert.equal(devicesText({ backend: 'llama.cpp', info: vulkan }), 'AMD Radeon 780M Graphics (RADV PHOENIX)');
    assert.equal(devicesText({ backend: 'llama.cpp', info: info({ backend: 'llama.cpp (cpu)' }) }), 'CPU only');
    assert.equal(devicesText({ backend: 'ollama', info: info({ backend: 'ollama', vramBytes: 0 }) }), 'CPU only');
    for (const backend of ['lmstudio', 'mlx', 'lemonade', 'llama-server'] as const) {
      assert.equal(devicesText({ backend, info: info({ backend }) }), 'not reported by the server', backend);
    }
    assert.equal(
      describePlacement(npuOf('none'), { backend: 'lmstudio', info: info({ backend: 'lm studio' }) })[1],
      'Runs on: the language model on LM Studio, which does not tell Verdant which device; the router on the CPU',
    );
    assert.equal(
      describePlacement(npuOf('none'), { backend: 'ollama', info: info({ backend: 'ollama', devices: ['gpu'], vramBytes: 2 ** 30 }) })[1],
      'Runs on: the language model on a GPU through Ollama (it reports VRAM in use); the router on the CPU',
    );
  });
});
