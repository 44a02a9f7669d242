// JSON-schema-constrained output from the in-process llama.cpp engine, with the real node-llama-cpp and the real
// stories260K model (CPU, 1 thread): a tiny story model that never writes JSON by itself, so valid JSON can only
// come from the grammar.
import * as assert from 'node:assert/strict';
import { EngineError } from '../../src/engine/errors';
import { LlamaEngine, type ModelConfig } from '../../src/engine/llama/engine';
import type { ChatMessage } from '../../src/engine/types';
import { testModels, type TestModels } from '../support/models';

const FILES = ['src/cart.ts', 'src/invoice.ts', 'src/report.ts'];
const SIZES = ['small', 'medium', 'large'];

/** A refactor plan. `files` has minItems 1 so the enum is really exercised (an empty list would pass anything). */
const PLAN_SCHEMA = {
  type: 'object',
  properties: {
    steps: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          title: { type: 'string', maxLength: 60 },
          files: { type: 'array', items: { enum: FILES }, minItems: 1, maxItems: 3 },
          size: { enum: SIZES },
        },
      },
      minItems: 1,
      maxItems: 3,
    },
  },
} as const;

const PLAN_MESSAGES: ChatMessage[] = [
  { role: 'system', content: 'You plan refactors. Answer with the plan as JSON.' },
  { role: 'user', content: 'Move the tax code from cart.ts and invoice.ts into a new module.' },
];

interface Plan {
  steps: { title: string; files: string[]; size: string }[];
}

function assertPlan(text: string): Plan {
  const plan = JSON.parse(text) as Plan;
  assert.deepEqual(Object.keys(plan), ['steps']);
  assert.ok(plan.steps.length >= 1 && plan.steps.length <= 3, `${plan.steps.length} steps`);
  for (const step of plan.steps) {
    assert.deepEqual(Object.keys(step), ['title', 'files', 'size']);
    assert.equal(typeof step.title, 'string');
    assert.ok(step.title.length <= 60);
    assert.ok(step.files.length >= 1 && step.files.length <= 3);
    for (const f of step.files) assert.ok(FILES.includes(f), `file ${f}`);
    assert.ok(SIZES.includes(step.size), `size ${step.size}`);
  }
  return plan;
}

const isJson = (text: string) => {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
};

describe('llama.cpp engine: JSON-schema grammar (real model)', function () {
  this.timeout(60000);
  let models: TestModels;
  let engine: LlamaEngine;
  const config = (over: Partial<ModelConfig> = {}): ModelConfig => ({
    modelPath: models.base,
    gpu: 'cpu',
    threads: 1,
    contextSize: 1024,
    sequences: 2,
    ...over,
  });

  before(async () => {
    models = await testModels();
    engine = await LlamaEngine.load(config());
  });
  after(async () => {
    await engine?.dispose();
  });

  it('makes a story model answer a chat with complete JSON that matches the schema', async () => {
    let streamed = '';
    const r = await engine.generate(
      { kind: 'chat', messages: PLAN_MESSAGES, maxTokens: 400, jsonSchema: PLAN_SCHEMA },
      {
        onText: (t) => {
          streamed += t;
        },
      },
    );
    console.log(`      stories260K under the grammar: ${r.text}`);
    assertPlan(r.text);
    assert.equal(r.stopReason, 'eos', 'the JSON is complete');
    assert.equal(r.text, r.text.trim(), 'the grammar’s trailing newlines are not part of the text');
    assert.equal(streamed, r.text, 'the stream is the same JSON');
    assert.ok(r.timing.generatedTokens < 400);
    assert.ok(r.confidence.meanLogProb! < 0);
  });

  it('without the schema the same prompt gives no JSON (so the test above can fail)', async () => {
    const r = await engine.generate({ kind: 'chat', messages: PLAN_MESSAGES, maxTokens: 400 });
    assert.equal(isJson(r.text), false, r.text);
    assert.doesNotMatch(r.text.trimStart(), /^\{/);
  });

  it('constrains a plain completion too, and a oneOf / $ref / const / format / tuple schema', async () => {
    const schema = {
      $defs: { when: { type: 'string', format: 'date' } },
      type: 'object',
      properties: {
        kind: { const: 'note' },
        due: { $ref: '#/$defs/when' },
        count: { type: 'integer' },
        ok: { type: 'boolean' },
        pair: { type: 'array', prefixItems: [{ type: 'string', maxLength: 8 }, { type: ['number', 'null'] }], maxItems: 2 },
        owner: { oneOf: [{ type: 'null' }, { type: 'object', properties: { name: { type: 'string', maxLength: 12 } } }] },
      },
    };
    const r = await engine.generate({ kind: 'completion', prompt: 'Once upon a time', maxTokens: 300, jsonSchema: schema });
    assert.equal(r.stopReason, 'eos', r.text);
    const v = JSON.parse(r.text);
    assert.deepEqual(Object.keys(v), ['kind', 'due', 'count', 'ok', 'pair', 'owner']);
    assert.equal(v.kind, 'note');
    assert.match(v.due, /^\d{4}-\d{2}-\d{2}$/);
    assert.ok(Number.isInteger(v.count));
    assert.equal(typeof v.ok, 'boolean');
    assert.equal(v.pair.length, 2);
    assert.equal(typeof v.pair[0], 'string');
    assert.ok(v.pair[1] === null || typeof v.pair[1] === 'number');
    assert.ok(v.owner === null || (typeof v.owner.name === 'string' && Object.keys(v.owner).length === 1));
  });

  it('reports a cut-off JSON as maxTokens, with the text as streamed', async () => {
    for (const maxTokens of [3, 12, 40]) {
      let streamed = '';
      const r = await engine.generate(
        { kind: 'chat', messages: PLAN_MESSAGES, maxTokens, jsonSchema: PLAN_SCHEMA },
        {
          onText: (t) => {
            streamed += t;
          },
        },
      );
      assert.equal(r.stopReason, 'maxTokens');
      assert.equal(r.timing.generatedTokens, maxTokens);
      assert.match(r.text, /^\{/);
      assert.equal(isJson(r.text), false);
      assert.equal(streamed, r.text);
    }
  });

  it('calls the JSON complete when the budget runs out after its last token, before the grammar’s end newlines', async () => {
    const full = await engine.generate({ kind: 'chat', messages: PLAN_MESSAGES, maxTokens: 400, jsonSchema: PLAN_SCHEMA });
    // stories260K writes each of the four closing newlines as its own token, and they count as generated.
    const n = full.timing.generatedTokens;
    for (const maxTokens of [n - 4, n - 1]) {
      const r = await engine.generate({ kind: 'chat', messages: PLAN_MESSAGES, maxTokens, jsonSchema: PLAN_SCHEMA });
      assert.equal(r.text, full.text, `maxTokens ${maxTokens}`);
      assert.equal(r.stopReason, 'eos', `maxTokens ${maxTokens}`);
    }
    const short = await engine.generate({ kind: 'chat', messages: PLAN_MESSAGES, maxTokens: n - 5, jsonSchema: PLAN_SCHEMA });
    assert.equal(short.stopReason, 'maxTokens');
    assert.equal(isJson(short.text), false);
  });

  it('keeps KV-cache prefix reuse, and leaves nothing behind for the next request on the sequence', async () => {
    const key = 'file:///plan.json';
    const plain = await engine.generate({ kind: 'chat', messages: PLAN_MESSAGES, maxTokens: 40, sessionKey: 'reference' });
    const a = await engine.generate({ kind: 'chat', messages: PLAN_MESSAGES, maxTokens: 400, jsonSchema: PLAN_SCHEMA, sessionKey: key });
    // The same request again: the prompt comes from the cache, and a fresh grammar state gives the same JSON.
    const b = await engine.generate({ kind: 'chat', messages: PLAN_MESSAGES, maxTokens: 400, jsonSchema: PLAN_SCHEMA, sessionKey: key });
    assert.equal(b.timing.evaluatedTokens, 1, 'only the last prompt token is evaluated again');
    assert.equal(b.text, a.text);
    assert.equal(b.stopReason, 'eos');
    // A normal request next on the same sequence: also from the cache, and unconstrained (as on another sequence).
    const c = await engine.generate({ kind: 'chat', messages: PLAN_MESSAGES, maxTokens: 40, sessionKey: key });
    assert.equal(c.timing.evaluatedTokens, 1);
    assert.equal(c.text, plain.text);
    assert.equal(isJson(c.text), false);
  });

  it('compiles each schema once, keeping the 16 most recently used', async () => {
    const fresh = await LlamaEngine.load(config({ sequences: 1 }));
    try {
      const ask = (schema: object) => fresh.generate({ kind: 'completion', prompt: 'Once', maxTokens: 24, jsonSchema: schema });
      await ask({ enum: ['a', 'b'] });
      await ask({ enum: ['a', 'b'] });
      assert.equal(fresh.grammarCacheSize, 1);
      for (let i = 0; i < 20; i++) {
        const r = await ask({ type: 'object', properties: { [`k${i}`]: { type: 'boolean' } } });
        assert.equal(r.stopReason, 'eos', r.text);
        assert.deepEqual(Object.keys(JSON.parse(r.text)), [`k${i}`]);
      }
      assert.equal(fresh.grammarCacheSize, 16);
    } finally {
      await fresh.dispose();
    }
  });

  describe('bad schemas and requests: one clear bad-request each, before anything runs', () => {
    const badRequest = (re: RegExp) => (e: unknown) => e instanceof EngineError && e.code === 'bad-request' && re.test(e.message);
    const chat = (jsonSchema: unknown) => engine.generate({ kind: 'chat', messages: PLAN_MESSAGES, maxTokens: 50, jsonSchema: jsonSchema as object });

    it('a keyword outside the grammar’s subset, named with its path', async () => {
      await assert.rejects(
        chat({ type: 'object', properties: { a: { anyOf: [{ type: 'string' }, { type: 'null' }] } } }),
        badRequest(/jsonSchema #\/properties\/a: anyOf is not supported \(use oneOf.*node-llama-cpp's JSON schema subset/),
      );
      await assert.rejects(chat({ type: 'string', pattern: '^[a-z]+$' }), badRequest(/jsonSchema #: keyword "pattern" is not supported/));
      await assert.rejects(
        chat({ type: 'object', properties: { n: { type: 'integer', minimum: 0 } } }),
        badRequest(/#\/properties\/n: keyword "minimum"/),
      );
    });

    it('an unknown type, a dangling $ref, an empty schema, a bad enum', async () => {
      await assert.rejects(chat({ type: 'strnig' }), badRequest(/type "strnig" is not a JSON schema type/));
      await assert.rejects(
        chat({ type: 'object', properties: { a: { $ref: '#/$defs/missing' } } }),
        badRequest(/#\/properties\/a: \$ref "#\/\$defs\/missing" names no definition/),
      );
      await assert.rejects(chat({}), badRequest(/needs a type, enum, const, oneOf or \$ref/));
      await assert.rejects(chat({ enum: [] }), badRequest(/enum must be a non-empty list/));
    });

    it('something that is not a schema object', async () => {
      await assert.rejects(chat('{"type":"object"}'), badRequest(/jsonSchema must be a JSON schema object, not string/));
      await assert.rejects(chat([{ type: 'string' }]), badRequest(/not an array/));
    });

    it('a schema llama.cpp cannot compile: the library’s message and what to do', async () => {
      await assert.rejects(
        chat({ enum: ['a\u0000b'] }),
        badRequest(/could not turn the JSON schema into a grammar \(Failed to parse grammar\); remove control characters/),
      );
      assert.equal(engine.grammarCacheSize <= 16, true);
      // The failure is not cached: the engine still serves the good schema.
      const r = await engine.generate({ kind: 'completion', prompt: 'Once', maxTokens: 10, jsonSchema: { enum: ['ab'] } });
      assert.equal(r.text, '"ab"');
      assert.equal(r.stopReason, 'eos');
    });

    it('a fim request with a schema', async () => {
      await assert.rejects(
        engine.generate({ kind: 'fim', prefix: 'a', suffix: 'b', maxTokens: 8, jsonSchema: { type: 'string' } }),
        badRequest(/jsonSchema cannot constrain a fim request/),
      );
    });
  });
});
