// The JSON-schema subset check (src/engine/jsonSchema.ts): what node-llama-cpp's grammar supports passes; what its
// converter would silently turn into something else is refused with the keyword's path.
import * as assert from 'node:assert/strict';
import { EngineError } from '../../src/engine/errors';
import { MAX_SCHEMA_CHARS, requestJsonSchema, unsupportedJsonSchema } from '../../src/engine/jsonSchema';

describe('JSON schema subset', () => {
  const ok = (schema: object) => assert.equal(unsupportedJsonSchema(schema), null, JSON.stringify(schema));
  const refused = (schema: object, re: RegExp) => {
    const why = unsupportedJsonSchema(schema);
    assert.ok(why !== null, `expected ${JSON.stringify(schema)} to be refused`);
    assert.match(why, re);
    assert.match(why, /node-llama-cpp's JSON schema subset/);
  };

  it('accepts every form of the subset, with annotations', () => {
    ok({ type: 'string' });
    ok({ type: 'string', minLength: 1, maxLength: 40, description: 'a title', title: 'Title' });
    ok({ type: 'string', format: 'date-time' });
    ok({ type: ['string', 'null'] });
    ok({ type: 'integer', default: 1, examples: [1, 2] });
    ok({ enum: ['a', 1, true, null] });
    ok({ type: 'string', enum: ['small', 'large'] });
    ok({ const: 'x' });
    ok({
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      type: 'object',
      properties: { a: { type: 'boolean' } },
      required: ['a'],
      additionalProperties: false,
    });
    ok({ type: 'object', additionalProperties: { type: 'number' }, minProperties: 1, maxProperties: 4 });
    ok({ type: 'object' });
    ok({ type: 'array', items: { enum: ['src/cart.ts'] }, minItems: 1, maxItems: 3 });
    ok({ type: 'array', prefixItems: [{ type: 'string' }, { type: 'number' }] });
    ok({ oneOf: [{ type: 'null' }, { type: 'object', properties: { a: { type: 'string' } } }] });
    ok({ $defs: { node: { type: 'object', properties: { next: { oneOf: [{ type: 'null' }, { $ref: '#/$defs/node' }] } } } }, $ref: '#/$defs/node' });
    ok({ type: 'object', $defs: { id: { type: 'integer' } }, properties: { list: { type: 'array', items: { $ref: '#/$defs/id' } } } });
  });

  it('refuses what the converter would silently change, naming where', () => {
    refused(
      { type: 'object', properties: { a: { anyOf: [{ type: 'string' }] } } },
      /^jsonSchema #\/properties\/a: anyOf is not supported \(use oneOf/,
    );
    refused({ type: 'string', pattern: 'x' }, /^jsonSchema #: keyword "pattern" is not supported here/);
    refused({ type: 'number', minimum: 0 }, /keyword "minimum"/);
    refused({ type: 'string', format: 'email' }, /format "email" is not supported/);
    refused({ type: 'strnig' }, /type "strnig" is not a JSON schema type/);
    refused({ type: ['object', 'null'] }, /a type list may only hold string, number, integer, boolean and null \(use oneOf\)/);
    refused({}, /needs a type, enum, const, oneOf or \$ref/);
    refused({ properties: { a: { type: 'string' } } }, /properties without a type/);
    refused({ $ref: '#/definitions/a', definitions: { a: { type: 'string' } } }, /must point into \$defs/);
    refused({ $ref: '#/$defs/missing' }, /names no definition/);
    refused({ type: 'array', items: [{ type: 'string' }] }, /#: items must be one schema \(use prefixItems/);
    refused({ type: 'array', items: { type: 'string' }, uniqueItems: true }, /keyword "uniqueItems"/);
    refused({ type: 'object', properties: { 'a/b': { type: 'string', nullable: true } } }, /#\/properties\/a~1b: keyword "nullable"/);
    refused({ oneOf: [] }, /oneOf must be a non-empty list/);
    refused({ enum: [{ a: 1 }] }, /enum must be a non-empty list of strings/);
    refused({ const: [1] }, /const must be a string, number, boolean or null/);
    refused({ type: 'string', maxLength: 1e6 }, /maxLength must be a whole number from 0 to 10000/);
    refused({ type: 'array', minItems: -1 }, /minItems must be a whole number/);
    refused({ type: 'string', $defs: { a: { type: 'string' } } }, /keyword "\$defs" is not supported here/);
    let deep: object = { type: 'string' };
    for (let i = 0; i < 100; i++) deep = { type: 'array', items: deep };
    refused(deep, /nested more than 64 levels deep/);
  });

  it('checks the request: no fim, an object, not too big', () => {
    const bad = (f: () => unknown, re: RegExp) =>
      assert.throws(f, (e: unknown) => e instanceof EngineError && e.code === 'bad-request' && re.test(e.message));
    assert.equal(requestJsonSchema({ kind: 'completion', prompt: 'a', maxTokens: 1 }), undefined);
    const schema = { type: 'string' };
    assert.equal(requestJsonSchema({ kind: 'chat', messages: [{ role: 'user', content: 'a' }], maxTokens: 1, jsonSchema: schema }), schema);
    bad(() => requestJsonSchema({ kind: 'fim', prefix: 'a', suffix: 'b', maxTokens: 1, jsonSchema: schema }), /cannot constrain a fim request/);
    bad(() => requestJsonSchema({ kind: 'completion', prompt: 'a', maxTokens: 1, jsonSchema: null as unknown as object }), /not null/);
    bad(() => requestJsonSchema({ kind: 'completion', prompt: 'a', maxTokens: 1, jsonSchema: [] }), /not an array/);
    const big = { enum: Array.from({ length: 10000 }, (_, i) => `value-${i}`) };
    bad(
      () => requestJsonSchema({ kind: 'completion', prompt: 'a', maxTokens: 1, jsonSchema: big }),
      new RegExp(`more than the ${MAX_SCHEMA_CHARS} allowed`),
    );
    const cyclic: Record<string, unknown> = { type: 'object' };
    cyclic.self = cyclic;
    bad(() => requestJsonSchema({ kind: 'completion', prompt: 'a', maxTokens: 1, jsonSchema: cyclic }), /must be plain JSON data/);
  });
});
