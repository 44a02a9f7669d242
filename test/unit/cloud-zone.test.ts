// One zone for a cloud endpoint, shared by the router and the ledger (#17): verdant.cloud.zone, else the preset,
// else the user's own grid for a self-hosted server, else unknown (World); and which source reads it.
import * as assert from 'node:assert/strict';
import { chooseCloudSource, type SourceFacts } from '../../src/core/carbon/sourceChoice';
import { findPreset } from '../../src/core/cloud/presets';
import { endpointZone, setupZone } from '../../src/core/cloud/zone';

describe('cloud endpoint zone', () => {
  const at = (endpoint: string, zoneSetting = '', localZone = 'GB') => endpointZone({ endpoint, zoneSetting, localZone });

  it('verdant.cloud.zone overrides any endpoint', () => {
    assert.deepEqual([at('https://api.scaleway.ai/v1', 'NO').zone, at('https://api.scaleway.ai/v1', 'NO').origin], ['NO', 'setting']);
    assert.equal(at('http://localhost:8000/v1', ' NO ').zone, 'NO');
    assert.equal(at('https://llm.example.org/v1', 'SE').zone, 'SE');
  });

  it('else the preset, by the region in its host', () => {
    assert.deepEqual(at('https://api-de-muc-1.exoscale.com/v1'), {
      zone: 'DE',
      origin: 'preset',
      detail: 'grid zone DE of Exoscale Dedicated Inference (beta)',
    });
    assert.equal(at('https://api.tokenfactory.nebius.com/v1').zone, 'FI');
  });

  it("a self-hosted server is on the user's grid; an unknown endpoint is World, marked", () => {
    assert.deepEqual([at('http://127.0.0.1:8000/v1').zone, at('http://127.0.0.1:8000/v1').origin], ['GB', 'local']);
    const unknown = at('https://llm.example.org/v1');
    assert.deepEqual([unknown.zone, unknown.origin], ['', 'unknown']);
    assert.match(unknown.detail, /World average/);
    assert.deepEqual([at('https://chatapi.akash.network/api/v1').zone, at('https://chatapi.akash.network/api/v1').origin], ['WORLD', 'unknown']);
  });

  it("a live source reads the endpoint's zone only when it covers it", () => {
    const facts: SourceFacts = { choice: 'auto', zone: 'GB', postcode: 'RG41', hasElectricityMapsToken: true, carbonAwareSdkUrl: '' };
    assert.deepEqual(chooseCloudSource(facts, { zone: 'SE', origin: 'preset' }), { source: 'electricity-maps', zone: 'SE' });
    assert.deepEqual(chooseCloudSource({ ...facts, hasElectricityMapsToken: false }, { zone: 'SE', origin: 'preset' }), {
      source: 'embedded',
      zone: 'SE',
    });
    assert.deepEqual(chooseCloudSource(facts, { zone: 'GB', origin: 'local' }), { source: 'uk-carbon-intensity', zone: 'GB-RG41' });
    assert.deepEqual(chooseCloudSource({ ...facts, choice: 'uk-carbon-intensity' }, { zone: 'SE', origin: 'setting' }), {
      source: 'embedded',
      zone: 'SE',
    });
    assert.deepEqual(chooseCloudSource({ ...facts, choice: 'watttime' }, { zone: 'FI', origin: 'preset' }), { source: 'embedded', zone: 'FI' });
    assert.deepEqual(chooseCloudSource({ ...facts, choice: 'watttime' }, { zone: 'CAISO_NORTH', origin: 'setting' }), {
      source: 'watttime',
      zone: 'CAISO_NORTH',
    });
    assert.deepEqual(chooseCloudSource(facts, { zone: 'WORLD', origin: 'unknown' }), { source: 'embedded', zone: '' });
  });

  it("setup keeps a zone only where the URL cannot find it, and asks for a custom URL's", () => {
    assert.equal(setupZone(findPreset('green-ai-cloud')!, 'https://llm.greencloud.example/v1'), 'SE');
    assert.equal(setupZone(findPreset('exoscale')!, 'https://api-de-fra-1.exoscale.com/v1'), '');
    assert.equal(setupZone(findPreset('exoscale')!, 'https://inference.example.ch/v1'), 'CH');
    assert.equal(setupZone(findPreset('self-hosted')!, 'http://localhost:8000/v1'), '');
    assert.equal(setupZone(findPreset('self-hosted')!, 'https://vllm.example.no/v1'), undefined);
  });
});
