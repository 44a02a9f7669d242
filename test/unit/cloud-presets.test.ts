import * as assert from 'node:assert/strict';
import { CLOUD_MODELS, estimateCloud, PROVIDER_PUE, resolveCloudModel } from '../../src/core/carbon/energy/cloud';
import { buildSciRecord } from '../../src/core/carbon/sci';
import { lookupGridAverage } from '../../src/core/carbon/sources';
import { carbonContext, CLOUD_PRESETS, findPreset, presetForUrl, presetZone } from '../../src/core/cloud/presets';

describe('cloud presets', () => {
  it('ids are unique and every preset is documented', () => {
    const ids = CLOUD_PRESETS.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length);
    assert.deepEqual(ids.sort(), ['akash', 'exoscale', 'green-ai-cloud', 'infomaniak', 'nebius', 'ovhcloud', 'scaleway', 'self-hosted']);
    for (const p of CLOUD_PRESETS) {
      assert.ok(p.name !== '' && p.notes !== '', p.id);
      assert.equal(p.auth, 'bearer');
      if (p.docsUrl !== null) assert.match(p.docsUrl, /^https:\/\//, p.id);
      assert.equal(p.verified, p.unverified.length === 0, `${p.id}: verified agrees with unverified`);
    }
  });

  it('every base URL is https except self-hosted, and placeholders are {snake_case}', () => {
    for (const p of CLOUD_PRESETS) {
      if (p.id === 'self-hosted') assert.match(p.baseUrl, /^http:\/\/localhost:\d+\/v1$/);
      else assert.match(p.baseUrl, /^https:\/\//, p.id);
      for (const ph of p.baseUrl.match(/\{[^}]*\}/g) ?? []) assert.match(ph, /^\{[a-z_]+\}$/, `${p.id}: ${ph}`);
    }
  });

  it('every model maps to a CLOUD_MODELS entry, by name or with a note saying why', () => {
    for (const p of CLOUD_PRESETS) {
      for (const m of p.models) {
        assert.ok(m.catalogModel !== null && m.catalogModel in CLOUD_MODELS, `${p.id} ${m.id}`);
        const byName = resolveCloudModel(m.id);
        if (byName !== m.catalogModel)
          assert.ok(m.note !== undefined && m.note !== '', `${p.id} ${m.id}: ${byName} vs ${m.catalogModel} needs a note`);
        assert.doesNotThrow(() => estimateCloud({ model: m.catalogModel ?? '', outputTokens: 100, provider: p.provider }));
      }
    }
  });

  it('provider-model names resolve through the catalogue (§6 names)', () => {
    assert.equal(resolveCloudModel('mistral-small-3.2-24b-instruct-2506'), 'mistral-small-3.2-24b-instruct');
    assert.equal(resolveCloudModel('Meta-Llama-3_3-70B-Instruct'), 'llama-3.3-70b-instruct');
    assert.equal(resolveCloudModel('deepseek-ai/DeepSeek-R1-0528'), 'deepseek-r1');
    assert.equal(resolveCloudModel('Meta-Llama-3-1-8B-Instruct-FP8'), 'llama-3.1-8b-instruct');
  });

  it('zones resolve in the embedded table; an unknown site says WORLD and why', () => {
    const expected: Record<string, [string, number]> = {
      scaleway: ['FR', 44.18],
      infomaniak: ['CH', 36.72],
      nebius: ['FI', 72.25],
      exoscale: ['CH', 36.72],
      'green-ai-cloud': ['SE', 35.89],
      ovhcloud: ['WORLD', 472.94],
      akash: ['WORLD', 472.94],
    };
    for (const p of CLOUD_PRESETS) {
      if (p.id === 'self-hosted') {
        assert.equal(p.gridZone, '');
        continue;
      }
      const g = lookupGridAverage(p.gridZone);
      assert.deepEqual([g.key, g.gPerKWh], expected[p.id], p.id);
      if (g.matched === 'world') {
        assert.ok(p.unverified.includes('gridZone'), `${p.id}: an unknown zone is flagged`);
        assert.match(p.notes, /World|anywhere|not published/i, p.id);
      } else {
        assert.equal(g.matched, 'country', p.id);
      }
    }
  });

  it('PUE comes from PROVIDER_PUE, or is null (1.2 used) when none is published', () => {
    for (const p of CLOUD_PRESETS) {
      if (p.pue !== null) assert.equal(p.pue, PROVIDER_PUE[p.provider].pue, p.id);
      if (p.pue === null || !PROVIDER_PUE[p.provider].verified) assert.ok(p.unverified.includes('pue'), `${p.id}: unverified PUE flagged`);
      const ctx = carbonContext(p, p.models[0]?.id ?? 'custom');
      assert.equal(ctx.pue, p.pue ?? 1.2);
    }
    assert.equal(findPreset('ovhcloud')?.pue, 1.28);
    assert.equal(carbonContext(findPreset('ovhcloud')!, 'Qwen3-32B').pueVerified, true);
    assert.equal(carbonContext(findPreset('infomaniak')!, 'llama3').pueVerified, false);
  });

  it('findPreset', () => {
    assert.equal(findPreset('nebius')?.name, 'Nebius Token Factory');
    assert.equal(findPreset('nope'), undefined);
  });

  it('presetForUrl matches on the host', () => {
    const cases: [string, string | undefined][] = [
      ['https://api.scaleway.ai/v1', 'scaleway'],
      ['https://api.scaleway.ai/1f9a5c2e-8d4b-4c1e-9a2b-3c4d5e6f7a8b/v1/', 'scaleway'],
      ['https://4c1e9a2b.ifr.fr-par.scaleway.com/v1', 'scaleway'],
      ['https://oai.endpoints.kepler.ai.cloud.ovh.net/v1', 'ovhcloud'],
      ['https://api.infomaniak.com/1/ai/1234/openai', 'infomaniak'],
      ['https://api.tokenfactory.nebius.com/v1/', 'nebius'],
      ['https://api.studio.nebius.ai/v1', 'nebius'],
      ['https://chatapi.akash.network/api/v1', 'akash'],
      ['  HTTPS://API.SCALEWAY.AI/v1  ', 'scaleway'],
      ['http://localhost:8000/v1', 'self-hosted'],
      ['http://127.0.0.1:8080/v1', 'self-hosted'],
      ['https://evil.example.com/api.scaleway.ai/v1', undefined],
      ['https://api.scaleway.ai.evil.example.com/v1', undefined],
      ['https://api.openai.com/v1', undefined],
      ['not a url', undefined],
    ];
    for (const [url, id] of cases) assert.equal(presetForUrl(url)?.id, id, url);
  });

  it("presets carry their data centre's zone, by the region their host names (#17)", () => {
    const cases: [string, string, string][] = [
      ['https://api-de-fra-1.exoscale.com/v1', 'exoscale', 'DE'],
      ['https://0f3a.inference.at-vie-1.exoscale.com/v1', 'exoscale', 'AT'],
      ['https://0f3a.inference.ch-dk-2.exoscale.com/v1', 'exoscale', 'CH'],
      ['https://0f3a.exoscale.com/v1', 'exoscale', 'CH'],
      ['https://4c1e9a2b.ifr.nl-ams.scaleway.com/v1', 'scaleway', 'NL'],
      ['https://api.scaleway.ai/v1', 'scaleway', 'FR'],
      ['https://a1b2.app.gra.ai.cloud.ovh.net/v1', 'ovhcloud', 'FR'],
      ['https://oai.endpoints.kepler.ai.cloud.ovh.net/v1', 'ovhcloud', 'WORLD'],
      ['https://api.tokenfactory.nebius.com/v1', 'nebius', 'FI'],
      ['https://api.infomaniak.com/1/ai/1/openai', 'infomaniak', 'CH'],
    ];
    for (const [url, id, zone] of cases) {
      const p = presetForUrl(url);
      assert.equal(p?.id, id, url);
      assert.equal(presetZone(p!, url), zone, url);
    }
    assert.equal(findPreset('green-ai-cloud')?.gridZone, 'SE');
    assert.equal(presetForUrl('https://exoscale.com.evil.example/v1'), undefined);
    for (const p of CLOUD_PRESETS) {
      for (const z of Object.values(p.regionZones ?? {})) assert.equal(lookupGridAverage(z).matched, 'country', `${p.id} ${z}`);
    }
  });

  it('carbonContext gives the estimate its inputs', () => {
    const scw = findPreset('scaleway')!;
    assert.deepEqual(carbonContext(scw, 'mistral-small-3.2-24b-instruct-2506'), {
      pue: 1.25,
      pueVerified: false,
      provider: 'scaleway',
      catalogModel: 'mistral-small-3.2-24b-instruct',
      labels: scw.claims,
    });
    // A model the preset does not list still resolves by name; an unknown one is custom (null).
    assert.equal(carbonContext(scw, 'qwen3-235b-a22b-instruct-2507').catalogModel, 'qwen3-235b-a22b');
    assert.equal(carbonContext(scw, 'mixtral-8x22b-instruct').catalogModel, null);
    assert.equal(carbonContext(scw, 'Qwen/Qwen3-32B').catalogModel, 'qwen3-32b');
    const self = findPreset('self-hosted')!;
    assert.equal(carbonContext(self, 'my-finetune').catalogModel, null);
    assert.equal(carbonContext(findPreset('akash')!, 'DeepSeek-V3-1').catalogModel, 'deepseek-r1');
  });

  it('claims are labels only: they never change the estimate', () => {
    const ovh = findPreset('ovhcloud')!;
    const ctx = carbonContext(ovh, 'Meta-Llama-3_3-70B-Instruct');
    assert.ok(ctx.labels.includes('78% renewable (OVHcloud FY2021)'));
    const cloud = estimateCloud({ model: ctx.catalogModel ?? '', outputTokens: 400, provider: ctx.provider, pue: ctx.pue });
    const base = estimateCloud({ model: 'llama-3.3-70b-instruct', outputTokens: 400 });
    const grid = lookupGridAverage(presetZone(ovh, ovh.baseUrl));
    const intensity = { gPerKWh: grid.gPerKWh, source: 'embedded', zone: grid.key, signal: 'average', isEstimated: true } as const;
    const input = {
      id: 'x',
      ts: '2026-01-01T00:00:00.000Z',
      route: 'cloud',
      feature: 'chat',
      model: ctx.catalogModel ?? '',
      tokens: { in: 1000, out: 400 },
      energy: cloud.energy,
      embodiedG: cloud.embodiedG,
      embodiedRangeG: cloud.embodiedRangeG,
      intensity,
      baseline: { model: 'llama-3.3-70b-instruct', energy: base.energy, embodiedG: base.embodiedG, intensity },
    } as const;
    const withLabels = buildSciRecord({ ...input, labels: ctx.labels });
    const without = buildSciRecord(input);
    assert.deepEqual(withLabels.labels, ctx.labels);
    const { labels: _labels, ...rest } = withLabels;
    assert.deepEqual(rest, without);
    // The claims-free preset estimate is the same as a plain provider estimate with the same PUE.
    assert.deepEqual(cloud, estimateCloud({ model: 'llama-3.3-70b-instruct', outputTokens: 400, provider: 'ovhcloud', pue: 1.28 }));
    for (const p of CLOUD_PRESETS) {
      const c = carbonContext(p, p.models[0]?.id ?? 'llama-3.1-8b-instruct');
      assert.deepEqual(c.labels, p.claims);
      assert.ok(c.labels.every((l) => typeof l === 'string' && l !== ''));
    }
  });
});
