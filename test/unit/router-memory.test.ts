// The router's memory of what the user did: similar requests lean the way their neighbours went, visibly; unrelated
// ones and other kinds do not; the state survives a round trip and a corrupt store.
import * as assert from 'node:assert/strict';
import { featureVector, type RoutingInput } from '../../src/core/routing/features';
import { MEMORY_SIZE, OutcomeMemory } from '../../src/core/routing/memory';
import { readRouterVectors } from '../support/routerVectors';

const vectors = readRouterVectors();

const ask = (text: string, code = ''): Float32Array =>
  featureVector(
    {
      kind: 'ask',
      promptTokens: 400,
      localContextTokens: 8192,
      files: code ? 1 : 0,
      selectionChars: 0,
      onBattery: false,
      text,
      code,
      language: 'typescript',
    } satisfies RoutingInput,
    vectors,
  );

describe('router outcome memory', () => {
  const race = 'why does this await sometimes run before the other one finishes, a race between two promises?';
  const raceTwin = 'why does this await sometimes run before the other finishes, some race between two promises?';
  const rename = 'rename the variable x to count everywhere in this file';

  it('leans a request towards the cloud when similar ones failed locally, and says so', () => {
    const m = new OutcomeMemory();
    assert.deepEqual(m.lean('ask', ask(raceTwin), 0.8), { p: 0.8 }, 'nothing remembered: p unchanged, no note');
    for (const ok of [false, false, true, false]) m.record('ask', ask(race), ok);
    const lean = m.lean('ask', ask(raceTwin), 0.8);
    assert.ok(lean.p < 0.5, `p ${lean.p}`);
    assert.equal(lean.note, 'similar requests failed locally 3 of 4 times');
    // An unrelated request and another kind are untouched.
    assert.deepEqual(m.lean('ask', ask(rename), 0.8), { p: 0.8 });
    assert.deepEqual(m.lean('explain', ask(raceTwin), 0.8), { p: 0.8 });
  });

  it('moves p but says nothing when similar requests went both ways as often', () => {
    const m = new OutcomeMemory();
    m.record('ask', ask(race), true);
    m.record('ask', ask(race), false);
    const lean = m.lean('ask', ask(raceTwin), 0.9);
    assert.equal(lean.note, undefined);
    assert.ok(lean.p < 0.9 && lean.p > 0.5, `p ${lean.p}`);
  });

  it('leans local when similar requests did well locally', () => {
    const m = new OutcomeMemory();
    for (let i = 0; i < 3; i++) m.record('ask', ask(rename), true);
    const lean = m.lean('ask', ask('rename the variable x to total everywhere in this file'), 0.3);
    assert.ok(lean.p > 0.6, `p ${lean.p}`);
    assert.equal(lean.note, 'similar requests did well locally 3 of 3 times');
  });

  it('survives its own JSON, drops malformed entries, and keeps the newest MEMORY_SIZE', () => {
    const m = new OutcomeMemory();
    for (let i = 0; i < MEMORY_SIZE + 10; i++) m.record('ask', ask(race), i % 2 === 0);
    assert.equal(m.size, MEMORY_SIZE);
    const back = new OutcomeMemory(JSON.parse(JSON.stringify(m.toJSON())));
    assert.equal(back.size, MEMORY_SIZE);
    const a = m.lean('ask', ask(raceTwin), 0.5);
    const b = back.lean('ask', ask(raceTwin), 0.5);
    assert.ok(Math.abs(a.p - b.p) < 1e-6 && a.note === b.note);
    const torn = new OutcomeMemory([
      { kind: 'ask', idx: [1, 2], val: [1], localOk: true },
      { kind: 3 },
      null,
      'x',
      { kind: 'ask', idx: [-1], val: [1], localOk: false },
    ]);
    assert.equal(torn.size, 0);
    assert.equal(new OutcomeMemory({ not: 'a list' }).size, 0);
  });
});
