// JSON-schema-constrained output (`RequestCommon.jsonSchema`). The local engine compiles the schema to a llama.cpp
// GBNF grammar with node-llama-cpp (its `GbnfJsonSchema` type); HTTP backends hand it to the server's own
// structured-output option. node-llama-cpp's converter never complains: what it does not know it turns into
// something else (an unknown `type`, `anyOf` or `allOf` becomes `null`, a dangling `$ref` any JSON, and `pattern`,
// `minimum`... are dropped), so the local engine checks the schema against the subset first and refuses the rest,
// naming the keyword and where it is.
//
// The subset (node-llama-cpp 3.x GbnfJsonSchema):
//   { type: 'string', minLength?, maxLength? }          { type: 'string', format: 'date' | 'time' | 'date-time' }
//   { type: 'number' | 'integer' | 'boolean' | 'null' }  { type: [...those and 'string'] }
//   { enum: [string | number | boolean | null, ...] }    { const: string | number | boolean | null }
//   { type: 'object', properties?, additionalProperties?: boolean | schema, minProperties?, maxProperties? }
//       every listed property is required and comes in the listed order (`required` is accepted and has no
//       further effect); additionalProperties defaults to false, unlike JSON Schema
//   { type: 'array', items?, prefixItems?, minItems?, maxItems? }
//   { oneOf: [schema, ...] } (the grammar lets a value match several)   { $ref: '#/$defs/name' } with `$defs` on an
//   enclosing object, array, oneOf or $ref schema
// plus the annotations description, title, $schema, $id, $comment, default, examples anywhere.
import { EngineError } from './errors';
import type { GenerateRequest } from './types';
import { errorMessage } from '../core/errors';

/** Longest schema accepted, as JSON text (it crosses the worker socket and is compiled per distinct schema). */
export const MAX_SCHEMA_CHARS = 64 * 1024;
/** Largest minLength/maxLength/minItems/maxItems/...: llama.cpp expands `x{0,n}` into n grammar rules. */
export const MAX_SCHEMA_COUNT = 10_000;
const MAX_DEPTH = 64;

const ANNOTATIONS = ['description', 'title', '$schema', '$id', '$comment', 'default', 'examples'];
const BASIC_TYPES = new Set(['string', 'number', 'integer', 'boolean', 'null']);
const FORMATS = new Set(['date', 'time', 'date-time']);

const SUBSET_HINT =
  "the local engine supports node-llama-cpp's JSON schema subset: type string (minLength, maxLength, " +
  'format date/time/date-time), number, integer, boolean, null, object (properties, additionalProperties, ' +
  'min/maxProperties), array (items, prefixItems, min/maxItems), enum, const, oneOf, and $ref to $defs';

/**
 * The request's schema after the checks every backend makes (a plain JSON object, not on a fim request, not too
 * big); undefined when the request has none. Throws 'bad-request' otherwise.
 */
export function requestJsonSchema(request: GenerateRequest): object | undefined {
  const schema: unknown = request.jsonSchema;
  if (schema === undefined) return undefined;
  if (request.kind === 'fim') {
    throw new EngineError(
      'bad-request',
      'jsonSchema cannot constrain a fim request (the middle is code, not JSON); use a chat or completion request.',
    );
  }
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) {
    throw new EngineError(
      'bad-request',
      `jsonSchema must be a JSON schema object, not ${schema === null ? 'null' : Array.isArray(schema) ? 'an array' : typeof schema}.`,
    );
  }
  let text: string;
  try {
    text = JSON.stringify(schema);
  } catch (e) {
    throw new EngineError('bad-request', `jsonSchema must be plain JSON data (${errorMessage(e)}).`);
  }
  if (text.length > MAX_SCHEMA_CHARS) {
    throw new EngineError('bad-request', `jsonSchema is ${text.length} characters of JSON, more than the ${MAX_SCHEMA_CHARS} allowed; simplify it.`);
  }
  return schema;
}

/** Why the schema is outside the subset the local engine's grammar supports, or null when it is inside. */
export function unsupportedJsonSchema(schema: object): string | null {
  try {
    check(schema, '#', [], 0);
    return null;
  } catch (e) {
    if (e instanceof SchemaProblem) return `jsonSchema ${e.path}: ${e.problem}; ${SUBSET_HINT}.`;
    throw e;
  }
}

class SchemaProblem extends Error {
  constructor(
    readonly path: string,
    readonly problem: string,
  ) {
    super(problem);
  }
}

type Defs = readonly Readonly<Record<string, unknown>>[];

function check(node: unknown, path: string, defs: Defs, depth: number): void {
  const fail = (problem: string): never => {
    throw new SchemaProblem(path, problem);
  };
  if (depth > MAX_DEPTH) fail(`nested more than ${MAX_DEPTH} levels deep`);
  if (typeof node !== 'object' || node === null || Array.isArray(node)) fail('a schema must be an object');
  const s = node as Record<string, unknown>;
  // The same order node-llama-cpp decides in: the first of these present picks the form; the others must not be.
  const form =
    '$ref' in s
      ? '$ref'
      : 'oneOf' in s
        ? 'oneOf'
        : 'const' in s
          ? 'const'
          : 'enum' in s
            ? 'enum'
            : s.type === 'object'
              ? 'object'
              : s.type === 'array'
                ? 'array'
                : s.type === 'string' && 'format' in s
                  ? 'format'
                  : s.type === 'string'
                    ? 'string'
                    : 'type' in s
                      ? 'basic'
                      : null;
  if (form === null) {
    for (const k of ['anyOf', 'allOf', 'not', 'if', 'properties', 'items']) {
      if (k in s)
        fail(
          k === 'anyOf'
            ? 'anyOf is not supported (use oneOf: the grammar lets a value match any of its alternatives)'
            : `${k} without a type is not supported`,
        );
    }
    fail('a schema needs a type, enum, const, oneOf or $ref (an empty schema, "any JSON", is not supported)');
  }
  const allowed = new Set<string>(ANNOTATIONS);
  const allow = (...keys: string[]) => keys.forEach((k) => allowed.add(k));
  const localDefs = (): Defs => {
    if (s.$defs === undefined) return defs;
    if (!isRecord(s.$defs)) fail('$defs must be an object of schemas');
    const mine = s.$defs as Record<string, unknown>;
    const all = [...defs, mine];
    for (const [name, def] of Object.entries(mine)) check(def, `${path}/$defs/${escape(name)}`, all, depth + 1);
    return all;
  };
  switch (form) {
    case '$ref': {
      allow('$ref', '$defs');
      const all = localDefs();
      const ref = s.$ref;
      if (typeof ref !== 'string' || !ref.startsWith('#/$defs/'))
        fail(`$ref ${JSON.stringify(ref)} must point into $defs ("#/$defs/name"; "#/definitions/..." is not supported)`);
      const name = (ref as string).slice('#/$defs/'.length);
      if (!all.some((d) => Object.prototype.hasOwnProperty.call(d, name)))
        fail(`$ref ${JSON.stringify(ref)} names no definition in an enclosing $defs`);
      break;
    }
    case 'oneOf': {
      allow('oneOf', '$defs');
      const all = localDefs();
      if (!Array.isArray(s.oneOf) || s.oneOf.length === 0) fail('oneOf must be a non-empty list of schemas');
      (s.oneOf as unknown[]).forEach((alt, i) => check(alt, `${path}/oneOf/${i}`, all, depth + 1));
      break;
    }
    case 'const':
      allow('const', 'type');
      if (!isLiteral(s.const)) fail('const must be a string, number, boolean or null');
      break;
    case 'enum':
      allow('enum', 'type');
      if (!Array.isArray(s.enum) || s.enum.length === 0 || !s.enum.every(isLiteral))
        fail('enum must be a non-empty list of strings, numbers, booleans or nulls');
      break;
    case 'object': {
      allow('type', 'properties', 'additionalProperties', 'minProperties', 'maxProperties', 'required', '$defs');
      const all = localDefs();
      if (s.properties !== undefined) {
        if (!isRecord(s.properties)) fail('properties must be an object of schemas');
        for (const [key, value] of Object.entries(s.properties as Record<string, unknown>))
          check(value, `${path}/properties/${escape(key)}`, all, depth + 1);
      }
      const extra = s.additionalProperties;
      if (extra !== undefined && typeof extra !== 'boolean') check(extra, `${path}/additionalProperties`, all, depth + 1);
      count(s, 'minProperties', fail);
      count(s, 'maxProperties', fail);
      if (s.required !== undefined && !(Array.isArray(s.required) && s.required.every((k) => typeof k === 'string')))
        fail('required must be a list of property names');
      break;
    }
    case 'array': {
      allow('type', 'items', 'prefixItems', 'minItems', 'maxItems', '$defs');
      const all = localDefs();
      if (s.items !== undefined) {
        if (typeof s.items === 'boolean' || Array.isArray(s.items)) fail('items must be one schema (use prefixItems for a tuple)');
        check(s.items, `${path}/items`, all, depth + 1);
      }
      if (s.prefixItems !== undefined) {
        if (!Array.isArray(s.prefixItems)) fail('prefixItems must be a list of schemas');
        (s.prefixItems as unknown[]).forEach((item, i) => check(item, `${path}/prefixItems/${i}`, all, depth + 1));
      }
      count(s, 'minItems', fail);
      count(s, 'maxItems', fail);
      break;
    }
    case 'format':
      allow('type', 'format');
      if (typeof s.format !== 'string' || !FORMATS.has(s.format))
        fail(`format ${JSON.stringify(s.format)} is not supported (only date, time and date-time)`);
      break;
    case 'string':
      allow('type', 'minLength', 'maxLength');
      count(s, 'minLength', fail);
      count(s, 'maxLength', fail);
      break;
    case 'basic': {
      allow('type');
      const types = Array.isArray(s.type) ? s.type : [s.type];
      if (types.length === 0) fail('type must name at least one type');
      for (const t of types) {
        if (typeof t !== 'string' || !BASIC_TYPES.has(t)) {
          fail(
            Array.isArray(s.type) && (t === 'object' || t === 'array')
              ? `type ${JSON.stringify(s.type)}: a type list may only hold string, number, integer, boolean and null (use oneOf)`
              : `type ${JSON.stringify(t)} is not a JSON schema type the grammar supports`,
          );
        }
      }
      break;
    }
  }
  for (const key of Object.keys(s)) {
    if (!allowed.has(key)) fail(`keyword ${JSON.stringify(key)} is not supported here${key === 'anyOf' ? ' (use oneOf)' : ''}`);
  }
}

function count(s: Record<string, unknown>, key: string, fail: (problem: string) => never): void {
  const v = s[key];
  if (v === undefined) return;
  if (!Number.isInteger(v) || (v as number) < 0 || (v as number) > MAX_SCHEMA_COUNT)
    fail(`${key} must be a whole number from 0 to ${MAX_SCHEMA_COUNT}, not ${JSON.stringify(v)}`);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isLiteral(v: unknown): boolean {
  return v === null || typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));
}

/** JSON Pointer escaping for a key in a path. */
function escape(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}
