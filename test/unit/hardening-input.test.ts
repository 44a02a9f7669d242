// Hardening against bad input: malformed model files (through the GGUF validator, the engine's load path and
// `verdant complete`), grid zones that do not exist (the embedded table, the source choice, the services and the
// CLI), and forecast files and forecasts that are empty, out of order, duplicated, overlapping, negative or gappy
// (`verdant window`, `verdant run-when-clean --dry-run`, findCleanestWindow and planJob). Each case must end in one
// clear error or a sensible answer, quickly and without a large allocation; never a crash or a silently wrong plan.
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { constants, openSync, closeSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { runCli } from '../../src/cli/cli';
import { AWS_REGION_COUNTRIES, GCP_REGIONS } from '../../src/core/carbon/data/cloudRegions';
import { WORLD_AVERAGE } from '../../src/core/carbon/data/gridAverages';
import { chooseSource } from '../../src/core/carbon/sourceChoice';
import { EmbeddedSource, flatForecast, lookupGridAverage } from '../../src/core/carbon/sources/embedded';
import { createIntensityService } from '../../src/core/carbon/sources/service';
import type { FetchLike } from '../../src/core/carbon/sources/http';
import type { IntensityForecast } from '../../src/core/carbon/types';
import { averageOver, findCleanestWindow, WindowError } from '../../src/core/carbon/window';
import { planJob } from '../../src/core/scheduling/plan';
import { CARBON_SOURCES } from '../../src/core/settings';
import { EngineError } from '../../src/engine/errors';
import { GGUF_TYPE, readGguf } from '../../src/engine/gguf';
import { LlamaEngine } from '../../src/engine/llama/engine';
import { array, encodeGguf, encodeGgufHeader, entry, type GgufLayout } from '../support/ggufRewrite';

const T = GGUF_TYPE;
const MIN = 60_000;

async function cli(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, { out: (t) => out.push(t), write: (t) => out.push(t), err: (t) => err.push(t), baseDir: process.cwd() });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

/** Runs `fn` while recording the largest Buffer allocation anyone asks for. */
async function largestAllocation<R>(fn: () => Promise<R>): Promise<{ result: R; largest: number }> {
  const originals = { alloc: Buffer.alloc, allocUnsafe: Buffer.allocUnsafe, allocUnsafeSlow: Buffer.allocUnsafeSlow };
  const patchable = Buffer as unknown as Record<string, (size: number, ...rest: unknown[]) => Buffer>;
  let largest = 0;
  for (const [name, f] of Object.entries(originals) as [string, (size: number, ...rest: unknown[]) => Buffer][]) {
    patchable[name] = (size, ...rest) => {
      largest = Math.max(largest, size);
      return f.call(Buffer, size, ...rest);
    };
  }
  try {
    const result = await fn();
    return { result, largest };
  } finally {
    Object.assign(Buffer, originals);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Malformed model files

/** A small, valid llama-shaped file whose fields the cases below patch. */
const LAYOUT: GgufLayout = {
  metadata: new Map([
    ['general.architecture', entry(T.STRING, 'llama')],
    ['llama.context_length', entry(T.UINT32, 2048)],
    ['tokenizer.ggml.tokens', entry(T.ARRAY, array(T.STRING, ['<unk>', 'tok-a', 'tok-b']))],
  ]),
  tensors: [
    { name: 'tensor.one', dims: [8, 2], type: 0, offset: 0 },
    { name: 'tensor.two', dims: [8], type: 0, offset: 64 },
  ],
};
const GOOD = encodeGguf(LAYOUT, Buffer.alloc(96));
const HEADER = encodeGgufHeader(LAYOUT);

/** Byte offsets of the fields the cases patch, found in the encoded header. */
const at = (() => {
  const find = (s: string) => {
    const i = HEADER.indexOf(s, 0, 'latin1');
    assert.ok(i > 0, s);
    return i;
  };
  const arch = find('llama');
  const tokensKey = find('tokenizer.ggml.tokens');
  const arrayType = tokensKey + 'tokenizer.ggml.tokens'.length + 4;
  const one = find('tensor.one');
  const nDims = one + 'tensor.one'.length;
  return {
    tensorCount: 8,
    kvCount: 16,
    firstKeyLength: 24,
    valueType: find('general.architecture') + 'general.architecture'.length,
    stringValueLength: arch - 8,
    arrayItemType: arrayType,
    arrayLength: arrayType + 4,
    arrayItemLength: arrayType + 12,
    tensorNameLength: one - 8,
    nDims,
    dim0: nDims + 4,
    dim1: nDims + 12,
    tensorType: nDims + 20,
    tensorOffset: nDims + 24,
  };
})();

function patched(fields: Record<string, number | bigint>, width: Record<string, 4 | 8> = {}): Buffer {
  const b = Buffer.from(GOOD);
  for (const [field, v] of Object.entries(fields)) {
    const offset = (at as Record<string, number>)[field];
    if ((width[field] ?? 8) === 4) b.writeUInt32LE(Number(v), offset);
    else b.writeBigUInt64LE(BigInt(v), offset);
  }
  return b;
}

const TWO_60 = 2n ** 60n;

/** Each malformed file and what its one error must say. */
const MALFORMED: readonly { name: string; bytes: Buffer | string; message: RegExp }[] = [
  { name: 'zero-length', bytes: '', message: /is empty; download it again/ },
  {
    name: 'non-GGUF (plain text)',
    bytes: 'This is a README, not weights.\n',
    message: /is not a GGUF model \(it starts with "This is "\); choose a \.gguf file/,
  },
  { name: 'non-GGUF (random bytes)', bytes: Buffer.from('8f1a22c4d5e6f708192a3b4c5d6e7f80', 'hex'), message: /is not a GGUF model/ },
  {
    name: 'non-GGUF (HTML error page)',
    bytes: '<html><body>502 Bad Gateway</body></html>',
    message: /an HTML\/XML page, perhaps a download error page/,
  },
  { name: 'only the magic', bytes: 'GGUF', message: /is truncated: 4 of at least 8 bytes/ },
  { name: 'magic and version, no counts', bytes: GOOD.subarray(0, 8), message: /is truncated: 8 of at least 24 bytes/ },
  {
    name: 'tensor count 2^60',
    bytes: patched({ tensorCount: TWO_60 }),
    message: /corrupt GGUF header \(tensor count 1152921504606846976 at byte 8\)/,
  },
  {
    name: 'metadata count 2^60',
    bytes: patched({ kvCount: TWO_60 }),
    message: /corrupt GGUF header \(metadata count 1152921504606846976 at byte 16\)/,
  },
  {
    name: 'key length 2^60',
    bytes: patched({ firstKeyLength: TWO_60 }),
    message: /corrupt GGUF header \(metadata key #0 length 1152921504606846976/,
  },
  {
    name: 'string value length 2^60',
    bytes: patched({ stringValueLength: TWO_60 }),
    message: /corrupt GGUF header \(value of general\.architecture length 1152921504606846976/,
  },
  {
    name: 'array length 2^60',
    bytes: patched({ arrayLength: TWO_60 }),
    message: /corrupt GGUF header \(tokenizer\.ggml\.tokens array length 1152921504606846976/,
  },
  {
    name: 'array length 2^28 (plausible, past the end)',
    bytes: patched({ arrayLength: 2n ** 28n }),
    message: /is truncated: \d+ of at least \d+ bytes \(it ends inside the GGUF header\)/,
  },
  {
    name: 'array item length 2^60',
    bytes: patched({ arrayItemLength: TWO_60 }),
    message: /corrupt GGUF header \(tokenizer\.ggml\.tokens\[0\] length 1152921504606846976/,
  },
  { name: 'array item type 2^32-1', bytes: patched({ arrayItemType: 0xffffffff }, { arrayItemType: 4 }), message: /unknown value type 4294967295/ },
  {
    name: 'value type 2^32-1',
    bytes: patched({ valueType: 0xffffffff }, { valueType: 4 }),
    message: /general\.architecture has unknown value type 4294967295/,
  },
  {
    name: 'tensor name length 2^60',
    bytes: patched({ tensorNameLength: TWO_60 }),
    message: /corrupt GGUF header \(tensor #0 name length 1152921504606846976/,
  },
  { name: 'tensor with 2^31 dimensions', bytes: patched({ nDims: 2 ** 31 }, { nDims: 4 }), message: /tensor tensor\.one has 2147483648 dimensions/ },
  { name: 'tensor dimension 2^60', bytes: patched({ dim0: TWO_60 }), message: /tensor tensor\.one dimension 1152921504606846976/ },
  {
    name: 'tensor of 2^30 x 2^30 floats (size overflows)',
    bytes: patched({ dim0: 2n ** 30n, dim1: 2n ** 30n }),
    message: /tensor tensor\.one: tensor size overflows/,
  },
  { name: 'tensor offset 2^60', bytes: patched({ tensorOffset: TWO_60 }), message: /tensor tensor\.one offset 1152921504606846976/ },
  {
    name: 'tensor type 2^32-1',
    bytes: patched({ tensorType: 0xffffffff }, { tensorType: 4 }),
    message: /uses tensor type 4294967295 \(in tensor\.one\), which Verdant does not know/,
  },
  { name: 'tensor count 2^20 (plausible, past the end)', bytes: patched({ tensorCount: 2n ** 20n }), message: /(is truncated|corrupt GGUF header)/ },
  {
    name: 'truncated in the metadata',
    bytes: GOOD.subarray(0, at.arrayItemLength + 3),
    message: /is truncated: \d+ of at least \d+ bytes \(it ends inside the GGUF header\); download it again/,
  },
  {
    name: 'truncated in the tensor data',
    bytes: GOOD.subarray(0, GOOD.length - 10),
    message: new RegExp(`is truncated: ${GOOD.length - 10} of ${GOOD.length} bytes; download it again`),
  },
];

function expectModelError(file: string, e: unknown, message: RegExp, what: string): void {
  assert.ok(e instanceof EngineError, `${what}: expected an EngineError, got ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
  assert.match(e.code, /^model-(invalid|not-found)$/, what);
  assert.match(e.message, message, what);
  assert.ok(e.message.includes(file), `${what}: the message names the file`);
  assert.ok(!e.message.includes('\n') && e.message.length < 400, `${what}: one short line: ${e.message}`);
}

describe('hardening: malformed model files', function () {
  this.timeout(20_000);
  let dir: string;
  const files = new Map<string, string>();

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'verdant-hardening-gguf-'));
    let n = 0;
    for (const c of MALFORMED) {
      const file = path.join(dir, `m${n++}.gguf`);
      await writeFile(file, c.bytes);
      files.set(c.name, file);
    }
    await mkdir(path.join(dir, 'x.gguf'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('the unpatched file is valid, so each case below breaks exactly one thing', async () => {
    const info = await readGguf(
      await (async () => {
        const f = path.join(dir, 'good.gguf');
        await writeFile(f, GOOD);
        return f;
      })(),
    );
    assert.deepEqual(
      info.tensors.map((t) => [t.name, t.dims]),
      [
        ['tensor.one', [8, 2]],
        ['tensor.two', [8]],
      ],
    );
    assert.equal(info.vocabSize, 3);
  });

  it("the GGUF validator gives one clear error each, without a large allocation (a hang meets mocha's timeout)", async () => {
    for (const c of MALFORMED) {
      const file = files.get(c.name)!;
      const { result, largest } = await largestAllocation(() =>
        readGguf(file).then(
          () => undefined,
          (e: unknown) => e,
        ),
      );
      expectModelError(file, result, c.message, c.name);
      assert.ok(largest <= 1 << 20, `${c.name}: allocated ${largest} bytes`);
    }
    const sub = path.join(dir, 'x.gguf');
    await assert.rejects(readGguf(sub), (e: unknown) => {
      expectModelError(sub, e, /is not a file; choose a \.gguf file/, 'a directory named x.gguf');
      return true;
    });
  });

  it('the engine load path refuses each one before llama.cpp is loaded', async () => {
    const cases: [string, string, RegExp][] = [
      ...MALFORMED.map((c): [string, string, RegExp] => [c.name, files.get(c.name)!, c.message]),
      ['a directory named x.gguf', path.join(dir, 'x.gguf'), /is not a file/],
      ['a missing file', path.join(dir, 'missing.gguf'), /^No model file at .*missing\.gguf; check verdant\.local\.modelPath/],
    ];
    for (const [name, file, message] of cases) {
      let imported = false;
      const e = await LlamaEngine.load(
        { modelPath: file, gpu: 'cpu', threads: 1, contextSize: 256, sequences: 1 },
        {
          availableMemory: () => 2 ** 50,
          importLlama: () => {
            imported = true;
            throw new Error('llama.cpp must not see this file');
          },
        },
      ).then(
        () => undefined,
        (err: unknown) => err,
      );
      expectModelError(file, e, message, name);
      assert.equal(imported, false, `${name}: llama.cpp was loaded`);
    }
  });

  it('`verdant complete --model` prints the one error and exits 1 (text and --json)', async () => {
    for (const [name, file] of [
      ['zero-length', files.get('zero-length')!],
      ['tensor count 2^60', files.get('tensor count 2^60')!],
      ['directory', path.join(dir, 'x.gguf')],
    ] as const) {
      const r = await cli('complete', '--model', file, '--prompt', 'x', '--gpu', 'cpu', '--threads', '1');
      assert.equal(r.code, 1, name);
      assert.equal(r.out, '', name);
      assert.match(r.err, /^verdant: .*\.gguf (is empty|has a corrupt GGUF header|is not a file)/, name);
      assert.equal(r.err.split('\n').length, 1, `${name}: one line`);
      const json = await cli('complete', '--model', file, '--prompt', 'x', '--gpu', 'cpu', '--json');
      assert.equal(json.code, 1);
      assert.match(JSON.parse(json.out).error, /\.gguf/);
    }
  });

  it('every cut of a header is refused as truncated, never misread', async () => {
    for (let cut = 0; cut < GOOD.length; cut += cut < HEADER.length ? 1 : 16) {
      const file = path.join(dir, 'cut.gguf');
      await writeFile(file, GOOD.subarray(0, cut));
      const e = await readGguf(file).then(
        () => undefined,
        (err: unknown) => err,
      );
      expectModelError(file, e, cut === 0 ? /is empty/ : cut < 4 ? /is not a GGUF model/ : /is truncated/, `cut at ${cut}`);
    }
  });

  it('random byte corruption of the header: a clean parse or one EngineError, never anything else', async () => {
    let seed = 0x5eed;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    let refused = 0;
    const file = path.join(dir, 'fuzz.gguf');
    const { largest } = await largestAllocation(async () => {
      for (let i = 0; i < 250; i++) {
        const b = Buffer.from(GOOD);
        for (let k = 1 + rand(3); k > 0; k--) b[4 + rand(HEADER.length - 4)] = rand(256);
        await writeFile(file, b);
        const e = await readGguf(file).then(
          () => undefined,
          (err: unknown) => err,
        );
        if (e === undefined) continue;
        assert.ok(e instanceof EngineError && e.code === 'model-invalid', `mutation ${i}: ${e instanceof Error ? e.stack : String(e)}`);
        refused++;
      }
    });
    assert.ok(refused > 60, `${refused} refused`);
    assert.ok(largest <= 1 << 20, `allocated ${largest} bytes`);
  });

  it('a named pipe called x.gguf is refused instead of blocking forever', async function () {
    if (process.platform === 'win32') this.skip();
    const fifo = path.join(dir, 'pipe.gguf');
    try {
      execFileSync('mkfifo', [fifo]);
    } catch {
      this.skip(); // no mkfifo here
    }
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'hang'>((resolve) => {
      timer = setTimeout(() => resolve('hang'), 2000);
    });
    const outcome = await Promise.race([
      readGguf(fifo).then(
        () => 'parsed',
        (e: unknown) => e,
      ),
      timeout,
    ]);
    clearTimeout(timer);
    if (outcome === 'hang') {
      // Unblock the stuck open() so that the test process can still exit, then fail.
      closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
      assert.fail('readGguf blocked on a named pipe');
    }
    expectModelError(fifo, outcome, /is not a file; choose a \.gguf file/, 'fifo');
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Zones that do not exist

const BAD_ZONES = [
  'XX',
  'NOT-A-ZONE',
  '',
  '   ',
  'aws:nowhere-1',
  'gcp:nowhere1',
  'azure:nowhere',
  'aws:',
  'gcp:',
  ':',
  '-',
  'ZZ-ZZ-ZZ',
  'X'.repeat(10_000),
  'FR\u0000',
  '__proto__',
  'constructor',
  'toString',
  'gcp:constructor',
  'gcp:__proto__',
  'aws:constructor',
  'aws:__proto__',
  'azure:hasOwnProperty',
  'azure:constructor',
];

describe('hardening: zones that do not exist', function () {
  this.timeout(20_000);

  it('lookupGridAverage falls back to the World average with the reason, for every one', () => {
    for (const zone of BAD_ZONES) {
      const r = lookupGridAverage(zone);
      const what = JSON.stringify(zone.slice(0, 30));
      assert.equal(r.matched, 'world', what);
      assert.equal(r.gPerKWh, WORLD_AVERAGE.gPerKWh, what);
      assert.equal(r.key, 'WORLD', what);
      assert.match(r.detail, /^Ember \d{4} World average \((no zone set|no figure for .*|unknown cloud region .*)\)$/s, what);
    }
    // The real tables are untouched by the own-key checks.
    assert.equal(lookupGridAverage(`gcp:${Object.keys(GCP_REGIONS)[0]}`).matched, 'cloud-region');
    assert.equal(lookupGridAverage(`aws:${Object.keys(AWS_REGION_COUNTRIES)[0]}`).matched, 'country');
  });

  it('the embedded source and its flat forecast stay finite', () => {
    const now = Date.parse('2026-11-26T12:00:00Z');
    for (const zone of BAD_ZONES) {
      const reading = new EmbeddedSource(() => now).read(zone);
      assert.ok(Number.isFinite(reading.gPerKWh) && reading.gPerKWh > 0, JSON.stringify(zone.slice(0, 30)));
      const f = flatForecast(reading, now);
      assert.ok(f.points.every((p) => p.gPerKWh === reading.gPerKWh));
    }
  });

  it('the source choice picks a known source for every zone and choice, and the service always answers', async () => {
    const offline: FetchLike = async () => ({ status: 404, headers: { get: () => null }, text: async () => '{"error":"zone not found"}' });
    for (const zone of BAD_ZONES) {
      for (const choice of CARBON_SOURCES) {
        for (const hasElectricityMapsToken of [false, true]) {
          const picked = chooseSource({ choice, zone, postcode: '', hasElectricityMapsToken, carbonAwareSdkUrl: '' });
          assert.ok(
            (CARBON_SOURCES as readonly string[]).includes(picked.source) && (picked.source as string) !== 'auto',
            `${choice} ${zone.slice(0, 20)}`,
          );
          const service = createIntensityService({
            source: picked.source,
            zone: picked.zone,
            fetch: offline,
            now: () => Date.parse('2026-11-26T12:00:00Z'),
            baseUrls: {
              'carbon-aware-sdk': 'http://127.0.0.1:9',
              'electricity-maps': 'http://127.0.0.1:9',
              watttime: 'http://127.0.0.1:9',
              'uk-carbon-intensity': 'http://127.0.0.1:9',
            },
            credentials: { electricityMapsToken: async () => (hasElectricityMapsToken ? 'token' : undefined), wattTime: async () => undefined },
          });
          const what = `${choice} → ${picked.source} ${JSON.stringify(zone.slice(0, 20))}`;
          const r = await service.current();
          assert.ok(Number.isFinite(r.gPerKWh) && r.gPerKWh > 0, what);
          // Zones reach the services validated (settings: 40 characters; the CLI: 64), so only those must read short.
          if (picked.source !== 'embedded')
            assert.ok(r.fallbackReason && (zone.length > 64 || r.fallbackReason.length < 600), `${what}: ${r.fallbackReason}`);
          const f = await service.forecast();
          assert.ok(f.points.length > 0 && f.points.every((p) => Number.isFinite(p.gPerKWh)), what);
        }
      }
    }
  });

  describe('the CLI', () => {
    const saved = { ...process.env };
    before(() => {
      // No keys, zone or proxy from this machine; any live source that is asked goes to a closed local port.
      for (const k of Object.keys(process.env)) if (/^VERDANT_|_PROXY$|_proxy$/.test(k)) delete process.env[k];
      for (const id of ['UK_CARBON_INTENSITY', 'ELECTRICITY_MAPS', 'WATTTIME']) process.env[`VERDANT_${id}_URL`] = 'http://127.0.0.1:9';
    });
    after(() => {
      for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
      Object.assign(process.env, saved);
    });

    const CLI_ZONES = ['XX', 'NOT-A-ZONE', '', 'aws:nowhere-1', 'gcp:constructor', 'Z'.repeat(64)];

    it('`verdant intensity --zone` gives the World average and says why (text and --json)', async () => {
      for (const zone of CLI_ZONES) {
        const what = JSON.stringify(zone.slice(0, 20));
        const r = await cli('intensity', '--zone', zone, '--json');
        assert.equal(r.code, 0, `${what}: ${r.err}`);
        const o = JSON.parse(r.out);
        assert.deepEqual([o.gPerKWh, o.source], [Math.round(WORLD_AVERAGE.gPerKWh * 100) / 100, 'embedded'], what);
        assert.match(o.detail, /World average \((no zone set|no figure for|unknown cloud region)/, what);
        const text = await cli('intensity', '--zone', zone);
        assert.equal(text.code, 0, what);
        assert.match(text.out, /gCO2e\/kWh in .*\(embedded, average, Ember \d{4} World average/, what);
        assert.doesNotMatch(text.out, /undefined|NaN/, what);
      }
    });

    it('text that cannot be a zone (10,000 characters, control characters) is a usage error that says what a zone is', async () => {
      for (const zone of ['Z'.repeat(10_000), 'FR\u0000', 'GB\nDE']) {
        for (const command of [['intensity'], ['forecast'], ['window', '--duration', '1h'], ['run-when-clean', '--duration', '1h', '--dry-run']]) {
          const tail = command[0] === 'run-when-clean' ? ['--', 'true'] : [];
          const r = await cli(...command, '--zone', zone, ...tail);
          assert.equal(r.code, 2, `${command[0]} ${JSON.stringify(zone.slice(0, 10))}`);
          assert.match(r.err, /^verdant: --zone \(or \$VERDANT_ZONE\) must be a grid zone such as FR, SE-SE3, GB-RG41 or aws:eu-north-1, not "/);
          assert.ok(r.err.length < 300 && !r.err.includes('\n') && !r.err.includes('\u0000'), r.err);
        }
      }
    });

    it('a live source asked about a zone it does not know falls back with the fix, not a crash', async () => {
      for (const source of ['uk-carbon-intensity', 'electricity-maps', 'watttime', 'carbon-aware-sdk']) {
        for (const zone of ['XX', 'aws:nowhere-1', 'gcp:constructor']) {
          const r = await cli('intensity', '--zone', zone, '--source', source, '--json');
          assert.equal(r.code, 0, `${source} ${zone}: ${r.err}`);
          const o = JSON.parse(r.out);
          assert.equal(o.source, 'embedded', `${source} ${zone}`);
          assert.ok(Number.isFinite(o.gPerKWh), `${source} ${zone}`);
          assert.equal(typeof o.fallbackReason, 'string', `${source} ${zone}`);
        }
      }
      const bad = await cli('intensity', '--zone', 'XX', '--source', 'nowhere');
      assert.equal(bad.code, 2);
      assert.match(bad.err, /^verdant: --source must be one of auto, embedded, /);
    });

    it('`verdant forecast`, `window`, `estimate` and `run-when-clean --dry-run` work on an unknown zone', async () => {
      for (const zone of ['XX', 'NOT-A-ZONE', '', 'aws:nowhere-1']) {
        const what = JSON.stringify(zone);
        const f = await cli('forecast', '--zone', zone, '--json');
        assert.equal(f.code, 0, `${what}: ${f.err}`);
        assert.equal(JSON.parse(f.out).points.length, 24, what);
        const w = await cli('window', '--duration', '90m', '--zone', zone, '--json');
        assert.equal(w.code, 0, `${what}: ${w.err}`);
        assert.equal(JSON.parse(w.out).savingPct, 0, `${what}: a flat average gives no better time`);
        const e = await cli('estimate', '--route', 'cloud', '--out', '100', '--zone', zone, '--json');
        assert.equal(e.code, 0, `${what}: ${e.err}`);
        assert.ok(Number.isFinite(JSON.parse(e.out).gCO2e), what);
        const plan = await cli('run-when-clean', '--duration', '30m', '--zone', zone, '--dry-run', '--json', '--', 'true');
        assert.equal(plan.code, 0, `${what}: ${plan.err}`);
        const p = JSON.parse(plan.out);
        assert.equal(p.runNow, true, what);
        assert.match(p.reason, /no grid forecast for .*running now rather than guessing/, what);
      }
    });

    it('a device name that is an Object.prototype member is a usage error, not NaN', async () => {
      for (const device of ['toString', 'constructor', '__proto__', 'hasOwnProperty']) {
        const e = await cli('estimate', '--route', 'local', '--device', device, '--out', '10', '--seconds', '1', '--zone', 'FR', '--json');
        assert.equal(e.code, 2, `estimate --device ${device}: ${e.out}`);
        assert.match(JSON.parse(e.out).error, /--device must be one of /);
        const r = await cli('route', '--kind', 'ask', '--tokens', '10', '--device', device, '--json');
        assert.equal(r.code, 2, `route --device ${device}: ${r.out}`);
        assert.match(JSON.parse(r.out).error, /--device must be one of /);
      }
    });
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Bad forecasts

const T0 = Date.parse('2026-11-26T12:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();

function forecastOf(
  points: ReadonlyArray<readonly [number, number]>,
  pointMinutes = 30,
  source: IntensityForecast['source'] = 'uk-carbon-intensity',
): IntensityForecast {
  return { zone: 'GB', source, signal: 'average', pointMinutes, points: points.map(([t, g]) => ({ at: iso(t), gPerKWh: g })) };
}

/** 30-minute points from `t0`: the values given (undefined = a gap). */
function halfHourly(t0: number, values: readonly (number | undefined)[]): [number, number][] {
  return values.flatMap((v, i) => (v === undefined ? [] : [[t0 + i * 30 * MIN, v] as [number, number]]));
}

/** Deterministic shuffle. */
function shuffled<X>(xs: readonly X[]): X[] {
  const out = [...xs];
  let seed = 7;
  for (let i = out.length - 1; i > 0; i--) {
    seed = (seed * 48271) % 2147483647;
    const j = seed % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** Brute force over whole-minute starts, independent of window.ts: the lowest average fully covered by points. */
function bruteForce(points: ReadonlyArray<readonly [number, number]>, pointMinutes: number, from: number, durationMinutes: number, deadline: number) {
  const valueAt = (t: number) => points.find(([s]) => s <= t && t < s + pointMinutes * MIN)?.[1];
  let best: { start: number; avg: number } | undefined;
  for (let start = from; start + durationMinutes * MIN <= deadline; start += MIN) {
    const values = Array.from({ length: durationMinutes }, (_, m) => valueAt(start + m * MIN));
    if (values.some((v) => v === undefined)) continue;
    const avg = (values as number[]).reduce((a, b) => a + b, 0) / durationMinutes;
    if (!best || avg < best.avg - 1e-9) best = { start, avg };
  }
  return best;
}

describe('hardening: bad forecasts', function () {
  this.timeout(20_000);

  describe('findCleanestWindow and planJob', () => {
    const values = [300, 280, 250, 120, 90, 95, 200, 310];
    const sorted = halfHourly(T0, values);

    it('sort points that arrive out of order: the same window as the sorted forecast', () => {
      const q = { durationMinutes: 60, from: T0, deadline: T0 + 4 * 60 * MIN };
      const expected = findCleanestWindow(forecastOf(sorted), q);
      assert.equal(expected.start, iso(T0 + 4 * 30 * MIN));
      assert.deepEqual(findCleanestWindow(forecastOf(shuffled(sorted)), q), expected);
      assert.deepEqual(findCleanestWindow(forecastOf([...sorted].reverse()), q), expected);
      const plan = planJob({ forecast: forecastOf(shuffled(sorted)), now: T0, durationMinutes: 60, deadline: T0 + 4 * 60 * MIN });
      assert.equal(plan.start, T0 + 4 * 30 * MIN);
      assert.equal(plan.runNow, false);
    });

    it('refuse duplicate and overlapping points instead of counting time twice', () => {
      const q = { durationMinutes: 60, from: T0, deadline: T0 + 4 * 60 * MIN };
      // Without the check, the duplicate 12:00 point at 0 would make 12:00-13:00 look like the cleanest hour.
      const duplicate = forecastOf([...sorted, [T0, 0]]);
      assert.throws(
        () => findCleanestWindow(duplicate, q),
        (e: unknown) => e instanceof WindowError && /two points at 2026-11-26T12:00:00\.000Z/.test(e.message),
      );
      const same = forecastOf([...sorted, sorted[2]!]);
      assert.throws(() => findCleanestWindow(same, q), /two points at 2026-11-26T13:00:00\.000Z/);
      // 60-minute points every 30 minutes: each half hour would count twice.
      const overlapping = forecastOf(sorted, 60);
      assert.throws(
        () => findCleanestWindow(overlapping, q),
        /overlapping points: 2026-11-26T12:00:00\.000Z lasts 60 minutes, past the next point at 2026-11-26T12:30:00\.000Z/,
      );
      for (const [f, reason] of [
        [duplicate, /two points at/],
        [overlapping, /overlapping points/],
      ] as const) {
        const plan = planJob({ forecast: f, now: T0, durationMinutes: 60, deadline: T0 + 4 * 60 * MIN });
        assert.equal(plan.runNow, true);
        assert.equal(plan.start, T0);
        assert.match(plan.reason, reason);
        assert.match(plan.reason, /Running now\.$/);
        assert.equal(plan.windowGPerKWh, null, 'no number made of a bad forecast');
      }
    });

    it('refuse NaN, infinite and negative intensities, and a point length that is not positive', () => {
      const q = { durationMinutes: 60, from: T0, deadline: T0 + 4 * 60 * MIN };
      for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, -50, Number.NEGATIVE_INFINITY]) {
        const points = sorted.map(([t, g], i): [number, number] => [t, i === 5 ? bad : g]);
        assert.throws(
          () => findCleanestWindow(forecastOf(points), q),
          (e: unknown) => e instanceof WindowError && e.message.includes(`point 5 (${iso(T0 + 150 * MIN)}) with ${bad} gCO2e/kWh`),
          String(bad),
        );
        const plan = planJob({ forecast: forecastOf(points), now: T0, durationMinutes: 60, deadline: T0 + 4 * 60 * MIN });
        assert.deepEqual([plan.runNow, plan.windowGPerKWh, plan.savingPct], [true, null, 0], String(bad));
        assert.match(plan.reason, /an intensity must be a number of 0 or more/);
      }
      for (const pointMinutes of [0, -30, Number.NaN, Number.POSITIVE_INFINITY]) {
        assert.throws(
          () => findCleanestWindow(forecastOf(sorted, pointMinutes), q),
          /each point must last more than 0 minutes/,
          String(pointMinutes),
        );
        const plan = planJob({ forecast: forecastOf(sorted, pointMinutes), now: T0, durationMinutes: 60, deadline: T0 + 4 * 60 * MIN });
        assert.equal(plan.runNow, true, String(pointMinutes));
      }
      const badTime = { ...forecastOf(sorted), points: [...forecastOf(sorted).points, { at: 'soon', gPerKWh: 1 }] };
      assert.throws(() => findCleanestWindow(badTime, q), /point 8 at "soon", which is not a date and time/);
    });

    it('say so for an empty forecast', () => {
      const empty = forecastOf([]);
      assert.throws(
        () => findCleanestWindow(empty, { durationMinutes: 30, from: T0, deadline: T0 + 3_600_000 }),
        /does not cover the next 30 minutes/,
      );
      const plan = planJob({ forecast: empty, now: T0, durationMinutes: 30, deadline: T0 + 3_600_000 });
      assert.equal(plan.runNow, true);
      assert.match(plan.reason, /no grid forecast .*running now/);
    });

    it('never plan across a gap: the window is the brute-force best among fully covered ones', () => {
      // 30-min points with two gaps; the lowest values sit right after a gap, so a window that spanned it would win.
      const gappy = halfHourly(T0, [300, 300, undefined, undefined, 40, 60, 300, undefined, 50, 300, 300, 300]);
      for (const duration of [30, 60, 90, 120]) {
        for (const from of [T0, T0 + 10 * MIN, T0 + 95 * MIN]) {
          const deadline = T0 + 6 * 60 * MIN;
          const best = bruteForce(gappy, 30, from, duration, deadline);
          const what = `${duration} min from ${iso(from)}`;
          const covered = averageOver(forecastOf(gappy), from, from + duration * MIN) !== undefined;
          if (!covered) {
            assert.throws(
              () => findCleanestWindow(forecastOf(shuffled(gappy)), { durationMinutes: duration, from, deadline }),
              /does not cover/,
              what,
            );
            const plan = planJob({ forecast: forecastOf(shuffled(gappy)), now: from, durationMinutes: duration, deadline });
            assert.equal(plan.runNow, true, what);
            assert.match(plan.reason, /does not cover the next \d+ minutes: running now/, what);
            continue;
          }
          const w = findCleanestWindow(forecastOf(shuffled(gappy)), { durationMinutes: duration, from, deadline });
          assert.ok(best, what);
          assert.equal(Date.parse(w.start), best.start, what);
          assert.equal(w.avgGPerKWh, Math.round(best.avg * 100) / 100, what);
          const plan = planJob({ forecast: forecastOf(shuffled(gappy)), now: from, durationMinutes: duration, deadline });
          const window = bruteForce(gappy, 30, plan.start, duration, plan.end);
          assert.ok(window && window.start === plan.start, `${what}: the planned window ${iso(plan.start)} is fully covered`);
        }
      }
    });
  });

  describe('forecast files (`verdant window` and `verdant run-when-clean --dry-run`)', () => {
    let dir: string;
    let n = 0;
    before(async () => {
      dir = await mkdtemp(path.join(os.tmpdir(), 'verdant-hardening-forecast-'));
    });
    after(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    async function file(content: unknown): Promise<string> {
      const f = path.join(dir, `f${n++}.json`);
      await writeFile(f, typeof content === 'string' ? content : JSON.stringify(content));
      return f;
    }
    const doc = (points: ReadonlyArray<readonly [number, number]>, extra: Record<string, unknown> = {}) => ({
      zone: 'GB',
      source: 'uk-carbon-intensity',
      signal: 'average',
      pointMinutes: 30,
      ...extra,
      points: points.map(([t, g]): unknown => ({ at: iso(t), gPerKWh: g })),
    });
    const windowCli = (f: string, ...more: string[]) =>
      cli('window', '--duration', '60m', '--within', '4h', '--forecast-file', f, '--from', iso(T0), '--json', ...more);
    const dryRun = (f: string) =>
      cli('run-when-clean', '--duration', '60m', '--within', '4h', '--forecast-file', f, '--dry-run', '--json', '--', 'true');

    /** Both commands refuse the file with a usage error whose message names the file and matches. */
    async function refused(content: unknown, message: RegExp): Promise<void> {
      const f = await file(content);
      for (const r of [await windowCli(f), await dryRun(f)]) {
        assert.equal(r.code, 2, `${JSON.stringify(content).slice(0, 120)}: ${r.out}`);
        const error = JSON.parse(r.out).error as string;
        assert.ok(error.includes(f), error);
        assert.match(error, message);
      }
    }

    it('refuse an empty file, no points, and JSON that is not a forecast', async () => {
      await refused('', /Unexpected end of JSON input; give the JSON that "verdant forecast --json" prints/);
      await refused('   \n', /give the JSON that "verdant forecast --json" prints/);
      await refused('{"points": [', /give the JSON that "verdant forecast --json" prints/);
      for (const content of ['[]', '{}', 'null', '42', '"text"', '{"points": {}}', doc([])]) {
        await refused(content, /has no points like \{"at": "2026-11-26T12:00:00Z", "gPerKWh": 120\}/);
      }
    });

    it('refuse a point that cannot be read, naming it, instead of dropping it into a silent gap', async () => {
      const good = halfHourly(T0, [300, 200, 100, 300]);
      for (const bad of [
        { at: iso(T0 + 120 * MIN), gPerKWh: 'NaN' },
        { at: iso(T0 + 120 * MIN), gPerKWh: null },
        { at: 'tomorrow', gPerKWh: 5 },
        { at: iso(T0 + 120 * MIN) },
        null,
        'x',
        [iso(T0), 5],
      ]) {
        const d = doc(good);
        d.points.push(bad);
        await refused(d, /point 4 is .*, not a point like \{"at"/);
      }
    });

    it('refuse negative intensities', async () => {
      await refused(
        doc(halfHourly(T0, [300, 200, -100, 300])),
        /point 2 \(2026-11-26T13:00:00\.000Z\) with -100 gCO2e\/kWh; an intensity must be a number of 0 or more/,
      );
    });

    it('refuse duplicate and overlapping points, and a point length that is not a positive number', async () => {
      const good = halfHourly(T0, [300, 200, 100, 300]);
      await refused(doc([...good, [T0 + 30 * MIN, 5]]), /two points at 2026-11-26T12:30:00\.000Z; give one value per time/);
      await refused(doc(good, { pointMinutes: 60 }), /overlapping points/);
      // Without pointMinutes the step comes from the points; duplicates at the start must not make it 0.
      await refused(
        doc(
          [
            [T0, 300],
            [T0, 300],
            [T0 + 30 * MIN, 100],
          ],
          { pointMinutes: undefined },
        ),
        /two points at 2026-11-26T12:00:00\.000Z/,
      );
      for (const pointMinutes of [0, -30, '30', null, true]) {
        await refused(doc(good, { pointMinutes }), /pointMinutes must be the length of each point in minutes \(more than 0\)/);
      }
    });

    it('sort points that are out of order: the same plan as the sorted file', async () => {
      const points = halfHourly(T0, [300, 280, 250, 120, 90, 95, 200, 310]);
      const expected = JSON.parse((await windowCli(await file(doc(points)))).out);
      assert.equal(expected.start, iso(T0 + 120 * MIN));
      for (const order of [shuffled(points), [...points].reverse()]) {
        const r = await windowCli(await file(doc(order)));
        assert.equal(r.code, 0, r.out);
        assert.deepEqual(JSON.parse(r.out), expected);
      }
      // Without pointMinutes the step is read from the sorted points, not the first two in the file.
      const r = await windowCli(await file(doc([...points].reverse(), { pointMinutes: undefined })));
      assert.deepEqual(JSON.parse(r.out), expected);
    });

    it('plan around gaps: `window` and `run-when-clean` choose a fully covered window', async () => {
      const now = Math.floor(Date.now() / MIN) * MIN;
      // Cleanest right after a gap: a window across the gap would look best if the gap counted as clean.
      const values = [300, 300, 300, undefined, undefined, 40, 60, 300, 300];
      const w = await windowCli(await file(doc(halfHourly(T0, values))));
      assert.equal(w.code, 0, w.out);
      assert.deepEqual([JSON.parse(w.out).start, JSON.parse(w.out).avgGPerKWh], [iso(T0 + 150 * MIN), 50]);
      const d = await dryRun(await file(doc(halfHourly(now, values))));
      assert.equal(d.code, 0, d.out);
      const plan = JSON.parse(d.out);
      assert.deepEqual([plan.runNow, plan.start, plan.windowGPerKWh], [false, iso(now + 150 * MIN), 50]);
      // A gap right now: nothing covers the next hour, so it says so and runs now.
      const late = await dryRun(await file(doc(halfHourly(now, [undefined, undefined, 40, 60]))));
      assert.equal(late.code, 0, late.out);
      assert.match(JSON.parse(late.out).reason, /does not cover the next 60 minutes: running now/);
      const lateWindow = await windowCli(await file(doc(halfHourly(T0, [undefined, undefined, 40, 60]))));
      assert.equal(lateWindow.code, 2);
      assert.match(JSON.parse(lateWindow.out).error, /does not cover the next 60 minutes/);
    });
  });
});
