// The ledger record of a cloud request (#17): at the endpoint's grid, and never dropped for a model the catalogue
// does not know (declared, named or assumed size, each with its method and a wider range).
import * as assert from 'node:assert/strict';
import { cloudSciRecord, type CloudRequestFacts } from '../../src/core/carbon/cloudRecord';
import { estimateCloud, parseModelParams, resolveModelSize, sizeFromName } from '../../src/core/carbon/energy/cloud';
import { lookupGridAverage } from '../../src/core/carbon/sources';

const facts: CloudRequestFacts = {
  feature: 'ask',
  endpoint: 'https://llm.example.org/v1',
  model: 'Qwen/Qwen2.5-Coder-32B-Instruct',
  tokensIn: 500,
  tokensOut: 400,
  latencyMs: 60_000,
  at: Date.UTC(2026, 0, 1),
  localZone: 'DE',
};
const width = (r: { rangeG: readonly [number, number] }) => r.rangeG[1] - r.rangeG[0];

describe('cloud SCI record', () => {
  it("is computed at verdant.cloud.zone's grid, else World for an unknown endpoint", () => {
    const se = cloudSciRecord({ ...facts, zoneSetting: 'SE' });
    assert.deepEqual([se.intensity.zone, se.intensity.gPerKWh, se.intensity.source], ['SE', lookupGridAverage('SE').gPerKWh, 'embedded']);
    const world = cloudSciRecord(facts);
    assert.equal(world.intensity.gPerKWh, lookupGridAverage('').gPerKWh);
    assert.ok(world.labels?.some((l) => /World average/.test(l)));
    assert.ok(Math.abs(se.operationalG / world.operationalG - 35.89 / 472.94) < 1e-9);
    const live = cloudSciRecord({
      ...facts,
      zoneSetting: 'SE',
      intensity: { gPerKWh: 20, source: 'electricity-maps', zone: 'SE', signal: 'average', isEstimated: false },
    });
    assert.deepEqual([live.intensity.source, live.intensity.gPerKWh], ['electricity-maps', 20]);
  });

  it('an unknown name with a size in it: estimated at that size, method and range say so', () => {
    const r = cloudSciRecord(facts);
    assert.equal(r.energy.method, 'ecologits-2025.11+name-size');
    const at32 = estimateCloud({ activeParamsB: 32, totalParamsB: 32, outputTokens: 400, latencySeconds: 60 });
    assert.equal(r.energy.kWh, at32.energy.kWh);
    assert.ok(r.energy.rangeKWh[0] < at32.energy.rangeKWh[0] && r.energy.rangeKWh[1] > at32.energy.rangeKWh[1], 'wider than the catalogue range');
    assert.ok(r.labels?.some((l) => /32B read from the name/.test(l)));
  });

  it('a declared size wins, with a narrower range than a guessed one', () => {
    const declared = parseModelParams('32');
    assert.ok(!('error' in declared));
    const r = cloudSciRecord({ ...facts, model: 'my-coder', declaredSize: declared });
    assert.equal(r.energy.method, 'ecologits-2025.11+declared-size');
    const moe = cloudSciRecord({
      ...facts,
      model: 'my-coder',
      declaredSize: parseModelParams('235/22') as { totalParamsB: number; activeParamsB: number },
    });
    assert.equal(moe.energy.kWh, estimateCloud({ activeParamsB: 22, totalParamsB: 235, outputTokens: 400, latencySeconds: 60 }).energy.kWh);
    assert.ok(width(r) < width(cloudSciRecord({ ...facts, model: 'Qwen2.5-Coder-32B' })));
  });

  it('no catalogue entry, no size, none in the name: still recorded, assumed 70.6B with the widest range', () => {
    const r = cloudSciRecord({ ...facts, model: 'my-finetune' });
    assert.equal(r.energy.method, 'ecologits-2025.11+assumed-size');
    assert.ok(r.sciG > 0 && r.rangeG[0] < r.sciG && r.rangeG[1] > r.sciG);
    assert.ok(width(r) > width(cloudSciRecord(facts)));
    assert.ok(r.labels?.some((l) => /assumed 70\.6B/.test(l) && /verdant\.cloud\.modelParams/.test(l)));
    // A catalogue model keeps EcoLogits' method and range.
    assert.equal(cloudSciRecord({ ...facts, model: 'Qwen/Qwen3-32B' }).energy.method, 'ecologits-2025.11');
  });

  it('sizes: parse, read from a name, resolve in order', () => {
    assert.deepEqual(parseModelParams(' 235 / 22 '), { totalParamsB: 235, activeParamsB: 22 });
    assert.deepEqual(parseModelParams('qwen3-32b'), { catalog: 'qwen3-32b' });
    for (const bad of ['', 'big', '22/235', '-3', '0']) assert.ok('error' in parseModelParams(bad), bad);
    assert.deepEqual(sizeFromName('Qwen/Qwen2.5-Coder-32B-Instruct'), { totalParamsB: 32, activeParamsB: 32 });
    assert.deepEqual(sizeFromName('Qwen3-30B-A3B'), { totalParamsB: 30, activeParamsB: 3 });
    assert.equal(sizeFromName('Qwen2.5-Coder'), undefined);
    assert.equal(resolveModelSize('Qwen/Qwen3-32B').method, 'catalog');
    assert.equal(resolveModelSize('Qwen/Qwen3-32B', { totalParamsB: 30, activeParamsB: 30 }).method, 'declared');
  });
});
