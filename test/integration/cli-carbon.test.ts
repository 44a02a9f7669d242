// The carbon subcommands as real processes: a live source replayed by a server on 127.0.0.1, a recorded forecast,
// the estimators, and `report` over a ledger written by the Ledger class.
import * as assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { estimateCloud } from '../../src/core/carbon/energy/cloud';
import { Ledger } from '../../src/core/carbon/ledger';
import { buildSciRecord } from '../../src/core/carbon/sci';
import { lookupGridAverage } from '../../src/core/carbon/sources';
import { runCliProcess } from '../support/cli';

// A clean environment: no keys or zone from the machine, HOME in a temp folder.
const cli = (args: string[], env: NodeJS.ProcessEnv = {}) => runCliProcess(args, { PATH: process.env.PATH, HOME: os.tmpdir(), ...env });

describe('verdant carbon commands', function () {
  this.timeout(60_000);
  let server: http.Server;
  let base: string;
  before(async () => {
    server = http.createServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      if (req.url === '/regional/postcode/RG41') {
        res.end(
          JSON.stringify({
            data: [
              {
                regionid: 12,
                dnoregion: 'SSE South',
                shortname: 'South England',
                postcode: 'RG41',
                data: [{ from: '2026-11-26T07:00Z', to: '2026-11-26T07:30Z', intensity: { forecast: 143, index: 'moderate' }, generationmix: [] }],
              },
            ],
          }),
        );
      } else if (req.url === '/intensity') {
        res.end(
          JSON.stringify({
            data: [{ from: '2026-11-26T07:00Z', to: '2026-11-26T07:30Z', intensity: { forecast: 180, actual: 175, index: 'moderate' } }],
          }),
        );
      } else {
        res.statusCode = 500;
        res.end('{"error":"boom"}');
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.close();
  });

  it('intensity --json from the GB API, national and by postcode', async () => {
    const national = await cli(['intensity', '--zone', 'GB', '--json'], { VERDANT_UK_CARBON_INTENSITY_URL: base });
    assert.equal(national.code, 0, national.stderr);
    const n = JSON.parse(national.stdout);
    assert.deepEqual([n.zone, n.gPerKWh, n.source, n.isEstimated, n.signal], ['GB', 175, 'uk-carbon-intensity', false, 'average']);
    const regional = await cli(['intensity', '--zone', 'GB-RG41', '--json'], { VERDANT_UK_CARBON_INTENSITY_URL: base });
    assert.equal(JSON.parse(regional.stdout).gPerKWh, 143);
  });

  it('falls back to the built-in average with a reason when the source fails', async () => {
    const r = await cli(['intensity', '--zone', 'GB', '--source', 'electricity-maps', '--json'], {
      VERDANT_ELECTRICITY_MAPS_URL: base,
      VERDANT_ELECTRICITY_MAPS_TOKEN: 'k',
    });
    assert.equal(r.code, 0, r.stderr);
    const o = JSON.parse(r.stdout);
    assert.equal(o.source, 'embedded');
    assert.match(o.fallbackReason, /Electricity Maps/);
    assert.ok(!r.stdout.includes('"k"'), 'the token is never printed');
  });

  it('window finds the cleanest start in a recorded forecast', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'verdant-cli-'));
    const file = path.join(dir, 'forecast.json');
    const t0 = Date.parse('2026-11-26T12:00:00Z');
    const values = [300, 300, 200, 100, 100, 250];
    writeFileSync(
      file,
      JSON.stringify({
        zone: 'GB',
        source: 'uk-carbon-intensity',
        signal: 'average',
        pointMinutes: 30,
        points: values.map((v, i) => ({ at: new Date(t0 + i * 1_800_000).toISOString(), gPerKWh: v })),
      }),
    );
    const r = await cli(['window', '--duration', '60m', '--within', '3h', '--forecast-file', file, '--from', '2026-11-26T12:00:00Z', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const w = JSON.parse(r.stdout);
    assert.deepEqual([w.start, w.avgGPerKWh, w.nowGPerKWh, w.savingPct], ['2026-11-26T13:30:00.000Z', 100, 300, 66.67]);
    const bad = await cli(['window', '--duration', 'soon', '--forecast-file', file]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /not a duration/);
  });

  it('estimate: cloud by the EcoLogits model, local by device power and time', async () => {
    const cloud = JSON.parse(
      (
        await cli([
          'estimate',
          '--route',
          'cloud',
          '--model',
          'llama-3.3-70b-instruct',
          '--in',
          '200',
          '--out',
          '500',
          '--zone',
          'FR',
          '--pue',
          '1.2',
          '--json',
        ])
      ).stdout,
    );
    assert.equal(cloud.gpus, 4);
    assert.ok(Math.abs(cloud.energyWh - 0.3288) < 0.01, String(cloud.energyWh));
    assert.equal(cloud.intensity.gPerKWh, 44.18);
    assert.ok(cloud.range[0] <= cloud.gCO2e && cloud.gCO2e <= cloud.range[1]);
    const local = JSON.parse(
      (
        await cli([
          'estimate',
          '--route',
          'local',
          '--device',
          'phoenix-hs-igpu',
          '--in',
          '1500',
          '--out',
          '40',
          '--seconds',
          '2',
          '--zone',
          'DE',
          '--json',
        ])
      ).stdout,
    );
    assert.equal(local.device, 'phoenix-hs-igpu');
    assert.ok(Math.abs(local.energyWh - (35 * 2) / 3600) < 1e-6, String(local.energyWh));
    assert.equal(local.method, 'device-profile');
    const usage = await cli(['estimate', '--route', 'local', '--out', '40']);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /--seconds S/);
  });

  it('ask streams an answer from an OpenAI-compatible endpoint, with usage and grams; the key only from the environment', async () => {
    let seen: { auth?: string; body: string } | undefined;
    const llm = http.createServer((req, res) => {
      let body = '';
      req.on('data', (d) => {
        body += d;
      });
      req.on('end', () => {
        seen = { auth: req.headers.authorization, body };
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write(`data: ${JSON.stringify({ choices: [{ delta: { content: 'Use a ' } }] })}\n\n`);
        res.write(
          `data: ${JSON.stringify({ choices: [{ delta: { content: 'Map.' }, finish_reason: 'stop' }], usage: { prompt_tokens: 12, completion_tokens: 4 } })}\n\n`,
        );
        res.end('data: [DONE]\n\n');
      });
    });
    await new Promise<void>((r) => llm.listen(0, '127.0.0.1', () => r()));
    try {
      const url = `http://127.0.0.1:${(llm.address() as AddressInfo).port}/v1`;
      const r = await cli(
        [
          'ask',
          '--endpoint',
          url,
          '--model',
          'llama-3.3-70b-instruct',
          '--api-key-env',
          'MY_KEY',
          '--zone',
          'FR',
          '--json',
          'How do I dedupe? token=ghp_abcdefghijklmnopqrstuvwxyz0123456789',
        ],
        { MY_KEY: 'k-123' },
      );
      assert.equal(r.code, 0, r.stderr);
      const o = JSON.parse(r.stdout);
      assert.deepEqual([o.text, o.promptTokens, o.completionTokens, o.redactions], ['Use a Map.', 12, 4, 1]);
      assert.ok(o.gCO2e > 0);
      assert.equal(seen?.auth, 'Bearer k-123');
      assert.ok(!seen?.body.includes('ghp_abcdefghijklmnopqrstuvwxyz0123456789'), 'the secret in the question was redacted');
      const text = await cli(['ask', '--endpoint', url, '--model', 'm', 'hi']);
      assert.match(text.stdout, /^Use a Map\.\n\[m, 12 \+ 4 tokens/);
      const insecure = await cli(['ask', '--endpoint', 'http://192.0.2.1/v1', '--model', 'm', 'hi']);
      assert.equal(insecure.code, 2);
      assert.match(insecure.stderr, /https/);
    } finally {
      llm.close();
    }
  });

  it("ask --cloud-zone SE --model-params 32: grams at Sweden's grid for a model the catalogue lacks (#17)", async () => {
    const llm = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write(
          `data: ${JSON.stringify({ choices: [{ delta: { content: 'ok' }, finish_reason: 'stop' }], usage: { prompt_tokens: 800, completion_tokens: 1000 } })}\n\n`,
        );
        res.end('data: [DONE]\n\n');
      });
    });
    await new Promise<void>((r) => llm.listen(0, '127.0.0.1', () => r()));
    try {
      const url = `http://127.0.0.1:${(llm.address() as AddressInfo).port}/v1`;
      const ask = async (...extra: string[]) => {
        const r = await cli(['ask', '--endpoint', url, '--model', 'Qwen/Qwen2.5-Coder-32B-Instruct', ...extra, '--json', 'hi']);
        assert.equal(r.code, 0, r.stderr);
        return JSON.parse(r.stdout) as { gCO2e: number; carbon: { zone: string; gPerKWh: number; kWh: number; embodiedG: number; method: string } };
      };
      const se = await ask('--cloud-zone', 'SE', '--model-params', '32');
      assert.deepEqual(
        [se.carbon.zone, se.carbon.gPerKWh, se.carbon.method],
        ['SE', lookupGridAverage('SE').gPerKWh, 'ecologits-2025.11+declared-size'],
      );
      assert.ok(Math.abs(se.gCO2e - (se.carbon.kWh * 35.89 + se.carbon.embodiedG)) < 1e-6, JSON.stringify(se));
      // 32B dense on one GPU: between the GPU energy alone (latency ~0) and EcoLogits' uncapped generation time.
      const lo = estimateCloud({ activeParamsB: 32, totalParamsB: 32, outputTokens: 1000, latencySeconds: 1e-9 }).energy.kWh;
      const hi = estimateCloud({ activeParamsB: 32, totalParamsB: 32, outputTokens: 1000 }).energy.kWh;
      assert.ok(se.carbon.kWh >= lo && se.carbon.kWh <= hi, `${lo} <= ${se.carbon.kWh} <= ${hi}`);
      const world = await ask('--model-params', '32');
      assert.deepEqual([world.carbon.zone, world.carbon.gPerKWh], ['WORLD', lookupGridAverage('').gPerKWh]);
      assert.ok(Math.abs(world.gCO2e - (world.carbon.kWh * 472.94 + world.carbon.embodiedG)) < 1e-6, JSON.stringify(world));
      assert.ok(se.gCO2e < world.gCO2e / 5, `${se.gCO2e} at SE vs ${world.gCO2e} at WORLD`);
      // No size given: still a number, from the "32B" in the name, and the record says so.
      assert.equal((await ask('--cloud-zone', 'SE')).carbon.method, 'ecologits-2025.11+name-size');
      const bad = await cli(['ask', '--endpoint', url, '--model', 'm', '--model-params', 'big', 'hi']);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /--model-params: model size must be billions/);
    } finally {
      llm.close();
    }
  });

  it("ask --ledger DIR writes exactly one record, the one whose grams it prints; the user's own key never leaves in the prompt (#17)", async () => {
    const bodies: string[] = [];
    const llm = http.createServer((req, res) => {
      let body = '';
      req.on('data', (d) => {
        body += d;
      });
      req.on('end', () => {
        bodies.push(body);
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write(
          `data: ${JSON.stringify({ choices: [{ delta: { content: 'ok' }, finish_reason: 'stop' }], usage: { prompt_tokens: 40, completion_tokens: 2 } })}\n\n`,
        );
        res.end('data: [DONE]\n\n');
      });
    });
    await new Promise<void>((r) => llm.listen(0, '127.0.0.1', () => r()));
    const dir = mkdtempSync(path.join(os.tmpdir(), 'verdant-ask-ledger-'));
    try {
      const url = `http://127.0.0.1:${(llm.address() as AddressInfo).port}/v1`;
      const key = 'plainish-key-4711';
      const r = await cli(
        [
          'ask',
          '--endpoint',
          url,
          '--model',
          'Qwen/Qwen2.5-Coder-32B-Instruct',
          '--cloud-zone',
          'SE',
          '--model-params',
          '32',
          '--api-key-env',
          'MY_KEY',
          '--ledger',
          dir,
          '--json',
          `is ${key} my key?`,
        ],
        { MY_KEY: key },
      );
      assert.equal(r.code, 0, r.stderr);
      const o = JSON.parse(r.stdout) as { gCO2e: number; recordId: string; redactions: number };
      const { records, problems } = await new Ledger({ dir }).read();
      assert.deepEqual(problems, []);
      assert.equal(records.length, 1);
      assert.equal(o.recordId, records[0]!.id);
      assert.equal(o.gCO2e, Math.round(records[0]!.sciG * 1e6) / 1e6);
      assert.deepEqual([records[0]!.route, records[0]!.feature, records[0]!.intensity.zone], ['cloud', 'ask', 'SE']);
      assert.ok(!bodies[0]!.includes(key), 'the key is sent only in the Authorization header');
      assert.equal(o.redactions, 1);
      const text = await cli(['ask', '--endpoint', url, '--model', 'm', '--ledger', dir, 'hi']);
      assert.match(text.stdout, /, ledger record [0-9a-f-]{36}\]\n$/);
      assert.equal((await new Ledger({ dir }).read()).records.length, 2);
      assert.equal((await cli(['ask', '--endpoint', url, '--model', 'm', '--ledger', '', 'hi'])).code, 2);
    } finally {
      llm.close();
    }
  });

  it('report totals the ledger the extension writes, and exports CSV', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'verdant-ledger-'));
    const ledger = new Ledger({ dir });
    const side = (g: number) => ({
      energy: { kWh: g / 100, rangeKWh: [g / 200, g / 50] as const, method: 'device-profile', measured: false },
      embodiedG: 0,
      intensity: { gPerKWh: 100, source: 'embedded' as const, zone: 'FR', signal: 'average' as const, isEstimated: true },
    });
    for (const [route, g] of [
      ['local', 1],
      ['local', 2],
      ['cloud', 3],
    ] as const) {
      await ledger.append(
        buildSciRecord({
          ...side(g),
          ts: '2026-11-26T10:00:00Z',
          route,
          feature: 'inline-completion',
          model: 'm',
          tokens: { in: 10, out: 5 },
          baseline: { ...side(5), model: 'llama-3.3-70b-instruct' },
        }),
      );
    }
    const r = await cli(['report', '--ledger', dir, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const o = JSON.parse(r.stdout);
    assert.equal(o.total.count, 3);
    assert.ok(Math.abs(o.total.sciG - 6) < 1e-9);
    assert.ok(Math.abs(o.total.savedG - 9) < 1e-9);
    assert.deepEqual(
      o.byRoute.map((x: { route: string; count: number }) => [x.route, x.count]),
      [
        ['cloud', 1],
        ['local', 2],
      ],
    );
    const csv = await cli(['report', '--ledger', dir, '--csv']);
    assert.equal(csv.stdout.trim().split(/\r?\n/).length, 4);
    assert.match(csv.stdout, /^ts,route,/);
  });
});
