// `verdant route` as a real process (dist/cli.js): the classifier's TypeScript forward pass over router-weights.json
// in the CLI process (no engine worker, no onnxruntime-node), the policy's hard limits (local-only, cloud-only,
// untrusted, a prompt over the local context, a spent budget), and usage errors.
import * as assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { annualIntensity, cloudSciRecord } from '../../src/core/carbon/cloudRecord';
import { declaredSize } from '../../src/core/carbon/energy/cloud';
import { runCliProcess } from '../support/cli';
import { processesWhere } from '../support/processes';

// A clean environment: no zone or router folder from the machine.
const cli = (args: string[], env: NodeJS.ProcessEnv = {}) => runCliProcess(args, { PATH: process.env.PATH, HOME: os.tmpdir(), ...env });

interface RouteJson {
  route: string;
  cascade: boolean;
  reason: string;
  mode: string;
  pLocalOk: number;
  classifier: string;
  warning?: string;
  options: {
    route: string;
    gCO2e: number;
    rangeG: [number, number];
    latencyMs: number;
    pLocalOk: number;
    blocked?: string;
    method: string;
    note?: string;
  }[];
}

async function route(...args: string[]): Promise<RouteJson> {
  const r = await cli(['route', ...args, '--json']);
  assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}${r.stdout}`);
  return JSON.parse(r.stdout) as RouteJson;
}

const cloudOption = (o: RouteJson) => o.options.find((x) => x.route === 'cloud');

/** Live processes (Linux; elsewhere none are seen) whose command line or HOME names `dir`. */
function processesNaming(dir: string): string[] {
  return processesWhere((p) => p.argv.some((a) => a.includes(dir)) || p.env.includes(`HOME=${dir}`)).map((p) => `${p.pid}: ${p.argv.join(' ')}`);
}

/** Every file under `dir`, relative. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => !d.isDirectory())
    .map((d) => path.relative(dir, path.join(d.parentPath, d.name)));
}

describe('verdant route', function () {
  this.timeout(60_000);

  it('--text / --text-file / --code-file: the router reads what a request asks, not only its size (#18)', async () => {
    const common = [
      '--kind',
      'ask',
      '--tokens',
      '300',
      '--files',
      '1',
      '--zone',
      'DE',
      '--cloud-zone',
      'FR',
      '--context',
      '8192',
      '--local-tps',
      '30',
    ];
    const hard = await route(...common, '--text', 'why does summing these floats in parallel give a different result on every run?');
    const easy = await route(...common, '--text', 'how do I print a list on one line separated by commas?');
    assert.ok(hard.pLocalOk < easy.pLocalOk, `p ${hard.pLocalOk} (numerics) vs ${easy.pLocalOk} (a print)`);
    // The numerics question goes to the cloud, or at least starts with a local draft the cloud can take over.
    assert.ok(hard.route === 'cloud' || hard.cascade, hard.reason);
    assert.deepEqual([easy.route, easy.cascade], ['local', false], easy.reason);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'verdant-route-text-'));
    try {
      writeFileSync(path.join(dir, 'q.txt'), 'why does summing these floats in parallel give a different result on every run?');
      writeFileSync(
        path.join(dir, 'a.rs'),
        'let v = head.load(Ordering::Acquire);\nwhile head.compare_exchange(v, n, Ordering::AcqRel, Ordering::Relaxed).is_err() {}\n',
      );
      assert.equal((await route(...common, '--text-file', path.join(dir, 'q.txt'))).pLocalOk, hard.pLocalOk);
      const withCode = await route(...common, '--text-file', path.join(dir, 'q.txt'), '--code-file', path.join(dir, 'a.rs'), '--language', 'rust');
      assert.notEqual(withCode.pLocalOk, hard.pLocalOk, 'the code counts too');
      const missing = await cli(['route', ...common, '--text-file', path.join(dir, 'absent.txt')]);
      assert.equal(missing.code, 2);
      assert.match(missing.stderr, /--text-file: .*absent\.txt/);
      assert.equal((await cli(['route', ...common, '--text', 'x', '--text-file', path.join(dir, 'q.txt')])).code, 2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('never answers cloud for an inline completion, whatever the mode, size or text (#18)', async () => {
    for (const mode of ['balanced', 'greenest', 'fastest', 'cloud-only']) {
      for (const text of ['', 'implement the red-black tree rebalancing after insert']) {
        const o = await route('--kind', 'completion', '--tokens', '900', '--mode', mode, '--zone', 'DE', '--cloud-zone', 'SE', '--text', text);
        assert.equal(o.route, 'local', `${mode} "${text}": ${o.reason}`);
      }
    }
  });

  it('--json: the decision, the classifier that ran and every option with its grams', async () => {
    const o = await route(
      '--kind',
      'explain',
      '--tokens',
      '1200',
      '--selection-chars',
      '2000',
      '--zone',
      'DE',
      '--cloud-zone',
      'FR',
      '--local-tps',
      '30',
    );
    assert.deepEqual(
      Object.keys(o)
        .filter((k) => k !== 'warning' && k !== 'setup')
        .sort(),
      ['cascade', 'classifier', 'mode', 'options', 'pLocalOk', 'reason', 'route'].sort(),
    );
    assert.ok(['local', 'cloud'].includes(o.route), o.route);
    assert.equal(typeof o.cascade, 'boolean');
    assert.equal(o.mode, 'balanced');
    assert.equal(o.classifier, 'ts');
    assert.ok(o.pLocalOk >= 0 && o.pLocalOk <= 1, String(o.pLocalOk));
    assert.match(o.reason, /^(local|cloud)/);
    assert.deepEqual(
      o.options.map((x) => x.route),
      ['local', 'cloud'],
    );
    for (const x of o.options) {
      assert.ok(x.gCO2e > 0 && x.rangeG[0] <= x.gCO2e && x.gCO2e <= x.rangeG[1], JSON.stringify(x));
      assert.ok(x.latencyMs > 0);
      assert.equal(x.pLocalOk, o.pLocalOk);
      assert.equal(x.blocked, undefined);
    }
  });

  it('local-only always stays local; cloud-only goes to the cloud', async () => {
    const [small, huge, cloud] = await Promise.all([
      route('--kind', 'explain', '--tokens', '300', '--mode', 'local-only'),
      route('--kind', 'refactor', '--tokens', '60000', '--files', '12', '--mode', 'local-only'),
      route('--kind', 'explain', '--tokens', '300', '--mode', 'cloud-only'),
    ]);
    for (const o of [small, huge]) {
      assert.equal(o.route, 'local');
      assert.equal(o.cascade, false, 'local-only never escalates');
      assert.match(o.reason, /local-only mode/);
    }
    assert.equal(cloud.route, 'cloud');
    assert.match(cloud.reason, /cloud-only mode/);
  });

  it('--untrusted and --no-cloud never route to the cloud', async () => {
    const [untrusted, noCloud] = await Promise.all([
      route('--kind', 'ask', '--tokens', '60000', '--mode', 'cloud-only', '--untrusted'),
      route('--kind', 'tests', '--tokens', '60000', '--no-cloud'),
    ]);
    assert.equal(untrusted.route, 'local');
    assert.equal(untrusted.cascade, false);
    assert.match(cloudOption(untrusted)?.blocked ?? '', /not trusted/);
    assert.equal(noCloud.route, 'local');
    assert.deepEqual(
      noCloud.options.map((x) => x.route),
      ['local'],
    );
  });

  it('balanced sends a prompt beyond the local context to the cloud', async () => {
    const o = await route('--kind', 'summarize', '--tokens', '50000', '--context', '8192');
    assert.equal(o.route, 'cloud');
    assert.equal(o.cascade, false);
    assert.match(o.reason, /exceeds? the local context of 8192/);
  });

  it('a spent budget with --budget-action stop blocks the cloud; warn routes as usual and says so', async () => {
    const args = ['--kind', 'summarize', '--tokens', '50000', '--context', '8192', '--budget', '5', '--used', '5'];
    const [stop, warn] = await Promise.all([route(...args, '--budget-action', 'stop'), route(...args)]);
    assert.equal(stop.route, 'local');
    assert.match(cloudOption(stop)?.blocked ?? '', /budget/);
    assert.match(stop.reason, /budget/);
    assert.equal(warn.route, 'cloud');
    assert.match(warn.warning ?? '', /budget of 5(\.00)? g is exceeded/);
  });

  it('--cloud-model / --model-params: a model the catalogue lacks is costed as `verdant ask` records it, the guess labelled', async () => {
    const base = ['--kind', 'explain', '--tokens', '1000', '--zone', 'DE', '--mode', 'cloud-only'];
    const model = 'Qwen/Qwen2.5-Coder-32B-Instruct';
    const [declared, named, assumed, catalogue] = await Promise.all([
      route(...base, '--cloud-model', model, '--model-params', '32'),
      route(...base, '--cloud-model', model),
      route(...base, '--cloud-model', 'acme/secret-coder-v2'),
      route(...base),
    ]);
    // The ledger's record of the same request at the same grid (no latency cap: the request took 10 minutes).
    const recorded = cloudSciRecord({
      feature: 'explain',
      endpoint: 'https://llm.example.org/v1',
      model,
      tokensIn: 1000,
      tokensOut: 350,
      latencyMs: 600_000,
      at: Date.UTC(2026, 0, 1),
      localZone: 'DE',
      declaredSize: declaredSize('32'),
      intensity: annualIntensity('DE'),
    });
    const c = cloudOption(declared)!;
    assert.equal(c.method, recorded.energy.method);
    assert.equal(c.method, 'ecologits-2025.11+declared-size');
    assert.ok(Math.abs(c.gCO2e - recorded.sciG) <= 1e-6, `${c.gCO2e} vs the ledger's ${recorded.sciG}`);
    assert.equal(c.note, 'size 32B declared');
    assert.ok(c.gCO2e < 0.7 * cloudOption(catalogue)!.gCO2e, 'a 32B model costs less than the default 70B');
    assert.deepEqual([cloudOption(named)!.method, cloudOption(named)!.note], ['ecologits-2025.11+name-size', 'size 32B from the name']);
    assert.equal(cloudOption(assumed)!.method, 'ecologits-2025.11+assumed-size');
    assert.match(cloudOption(assumed)!.note ?? '', /assumed 70\.6B/);
    assert.deepEqual([cloudOption(catalogue)!.method, cloudOption(catalogue)!.note], ['ecologits-2025.11', undefined]);
    const text = await cli(['route', ...base, '--cloud-model', 'acme/secret-coder-v2']);
    assert.equal(text.code, 0, text.stderr);
    assert.ok(
      text.stdout.split('\n').some((l) => /^cloud\s+\d.*size unknown, assumed 70\.6B/.test(l)),
      text.stdout,
    );
  });

  it('classifies in this process from router-weights.json: router.onnx is not read', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'verdant-route-'));
    const tilted = mkdtempSync(path.join(os.tmpdir(), 'verdant-route-'));
    try {
      writeFileSync(path.join(dir, 'router.onnx'), 'not an onnx model\n');
      copyFileSync(path.join('dist', 'router-weights.json'), path.join(dir, 'router-weights.json'));
      // The same weights with a bias far below: p must follow the weights file the CLI was pointed at.
      const weights = JSON.parse(readFileSync(path.join('dist', 'router-weights.json'), 'utf8')) as { bias: number };
      writeFileSync(path.join(tilted, 'router-weights.json'), JSON.stringify({ ...weights, bias: weights.bias - 50 }));
      const args = ['route', '--kind', 'commit', '--tokens', '900', '--files', '3', '--json'];
      const runs = await Promise.all([cli(args, { VERDANT_ROUTER_DIR: dir }), cli(args), cli(args, { VERDANT_ROUTER_DIR: tilted })]);
      runs.forEach((r) => assert.equal(r.code, 0, r.stderr));
      const [brokenOnnx, shipped, low] = runs.map((r) => JSON.parse(r.stdout) as RouteJson);
      assert.ok(brokenOnnx && shipped && low);
      assert.equal(brokenOnnx.classifier, 'ts');
      assert.equal(brokenOnnx.pLocalOk, shipped.pLocalOk, 'a broken router.onnx changes nothing');
      assert.equal(brokenOnnx.route, shipped.route);
      assert.ok(shipped.pLocalOk > 0.0001, String(shipped.pLocalOk));
      assert.equal(low.pLocalOk, 0, 'a bias 50 lower drives p to 0');
    } finally {
      rmSync(dir, { recursive: true, force: true });
      rmSync(tilted, { recursive: true, force: true });
    }
  });

  it('never starts an engine worker: no process outlives it, nothing is written to its home (no engine.lock)', async () => {
    const home = mkdtempSync(path.join(os.tmpdir(), 'verdant-route-home-'));
    try {
      const env = {
        HOME: home,
        XDG_CONFIG_HOME: path.join(home, '.config'),
        XDG_DATA_HOME: path.join(home, '.local', 'share'),
        APPDATA: path.join(home, 'AppData'),
      };
      const runs = await Promise.all([
        cli(['route', '--kind', 'completion', '--tokens', '300', '--json'], env),
        cli(['route', '--kind', 'refactor', '--tokens', '60000', '--files', '12', '--mode', 'cloud-only', '--json'], env),
        cli(['route', '--kind', 'summarize', '--tokens', '2000', '--mode', 'local-only', '--no-cloud', '--json'], env),
      ]);
      runs.forEach((r) => assert.equal(r.code, 0, r.stderr));
      assert.deepEqual(
        runs.map((r) => (JSON.parse(r.stdout) as RouteJson).classifier),
        ['ts', 'ts', 'ts'],
      );
      assert.deepEqual(filesUnder(home), [], 'no engine.lock, engine.key or engine.log');
      assert.deepEqual(processesNaming(home), [], 'no engine worker (or any process) started with this home');
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  it('prints the route, the reason and a table of options as text', async () => {
    const r = await cli(['route', '--kind', 'completion', '--tokens', '400', '--zone', 'SE']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.match(lines[0]!, /^route: (local|cloud|local draft first.*) \(balanced, p\(local ok\) \d\.\d\d, classifier ts\)$/);
    assert.match(lines[1]!, /^(local|cloud)/);
    assert.ok(
      lines.some((l) => /^option\s+CO2e\s+range\s+latency/.test(l)),
      r.stdout,
    );
    assert.ok(lines.some((l) => /^local\s+\d/.test(l)) && lines.some((l) => /^cloud\s+\d/.test(l)), r.stdout);
  });

  it('costs the local side on a named device profile', async () => {
    const base = ['route', '--kind', 'explain', '--tokens', '1200', '--zone', 'DE', '--cloud-zone', 'FR', '--local-tps', '40', '--json'];
    const [igpu, cpu] = await Promise.all([cli([...base, '--device', 'phoenix-hs-igpu']), cli([...base, '--device', 'phoenix-hs-cpu'])]);
    assert.equal(igpu.code, 0, igpu.stderr);
    const a = JSON.parse(igpu.stdout) as { setup: { device: string }; options: { route: string; gCO2e: number }[] };
    const b = JSON.parse(cpu.stdout) as typeof a;
    assert.match(a.setup.device, /\(--device phoenix-hs-igpu\)$/);
    const localOf = (o: typeof a) => o.options.find((x) => x.route === 'local')!.gCO2e;
    assert.notEqual(localOf(a), localOf(b), 'the profile changes the local estimate');
    assert.equal(a.options.find((x) => x.route === 'cloud')!.gCO2e, b.options.find((x) => x.route === 'cloud')!.gCO2e);
  });

  it('bad flags exit 2 with one line that names the fix', async () => {
    const cases: [string[], RegExp][] = [
      [['--kind', 'poem', '--tokens', '10'], /--kind must be one of completion, explain, refactor, tests, summarize, commit, ask, not "poem"/],
      [['--tokens', '10'], /--kind is required: one of completion, explain/],
      [['--kind', 'ask'], /--tokens N .* is required/],
      [['--kind', 'ask', '--tokens=-5'], /--tokens must be a whole number of at least 0, not "-5"/],
      [['--kind', 'ask', '--tokens', '10', '--mode', 'cheapest'], /--mode must be one of greenest, balanced, fastest, local-only, cloud-only/],
      [['--kind', 'ask', '--tokens', '10', '--budget-action', 'stop'], /need --budget G/],
      [['--kind', 'ask', '--tokens', '10', '--device', 'toaster'], /--device must be one of .*phoenix-hs-igpu/],
      [['--kind', 'ask', '--tokens', '10', '--model-params', 'big'], /--model-params: model size must be billions of parameters/],
    ];
    const runs = await Promise.all(cases.map(([args]) => cli(['route', ...args])));
    runs.forEach((r, i) => {
      assert.equal(r.code, 2, `${cases[i]![0].join(' ')}: ${r.stderr}`);
      assert.equal(r.stdout, '');
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, cases[i]![1]);
    });
    const json = await cli(['route', '--kind', 'poem', '--tokens', '10', '--json']);
    assert.equal(json.code, 2);
    assert.match(JSON.parse(json.stdout).error, /--kind must be one of/);
  });
});
