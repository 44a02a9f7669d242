import * as assert from 'node:assert/strict';
// Type-level only: node-llama-cpp is ESM, so no values are imported from it here.
import type { GbnfJsonSchema } from 'node-llama-cpp' with { 'resolution-mode': 'import' };
import { MAX_PLAN_STEPS, PLAN_EXCERPT_CHARS, PlanError, parsePlan, planMessages, planSchema } from '../../src/core/refactor/plan';
import type { RefactorContext } from '../../src/core/refactor/types';
import { bigFile, cartContext, file, findHits, REQUEST } from '../fixtures/refactor/cart-fixture';

const GOOD = {
  steps: [
    {
      title: 'Rename the definition',
      files: ['src/cart.ts'],
      symbols: ['computeTotal'],
      size: 'small',
      instruction: 'Rename computeTotal to calculateTotal where it is defined and used in cart.ts.',
    },
    {
      title: 'Update the callers',
      files: ['src/invoice.ts', 'src/report.ts'],
      symbols: ['computeTotal'],
      size: 'medium',
      instruction: 'Import and call calculateTotal instead of computeTotal.',
    },
  ],
};

function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v)) deepFreeze(x);
  }
  return v;
}

function planError(fn: () => unknown, match: RegExp): PlanError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof PlanError, `expected a PlanError, got ${String(caught)}`);
  assert.match(caught.message, /nothing was changed/);
  assert.match(caught.message, match);
  return caught;
}

describe('refactor plan: parsePlan', () => {
  const ctx = cartContext();

  it('reads a valid plan, numbering steps and recording file versions', () => {
    const plan = parsePlan(JSON.stringify(GOOD), ctx);
    assert.equal(plan.request, REQUEST);
    assert.deepEqual(
      plan.steps.map((s) => [s.id, s.title, s.files, s.size, s.added]),
      [
        [1, 'Rename the definition', ['src/cart.ts'], 'small', false],
        [2, 'Update the callers', ['src/invoice.ts', 'src/report.ts'], 'medium', false],
      ],
    );
    assert.deepEqual(plan.steps[0]!.symbols, ['computeTotal']);
    assert.equal(plan.steps[1]!.instruction, 'Import and call calculateTotal instead of computeTotal.');
    assert.deepEqual(plan.notes, []);
    assert.deepEqual(plan.fileVersions, { 'src/cart.ts': 3, 'src/invoice.ts': 1, 'src/report.ts': 7 });
  });

  it('reads the plan from a ```json fence, and from prose around one object', () => {
    const expected = parsePlan(JSON.stringify(GOOD), ctx);
    const fenced = `Here is the plan:\n\n\`\`\`json\n${JSON.stringify(GOOD, null, 2)}\n\`\`\`\n`;
    assert.deepEqual(parsePlan(fenced, ctx), expected);
    const prose = `Sure! The plan is ${JSON.stringify(GOOD)} -- the {callers} follow the definition.`;
    assert.deepEqual(parsePlan(prose, ctx), expected);
    assert.deepEqual(parsePlan(`\uFEFF  ${JSON.stringify(GOOD, null, 1)}\n\n`, ctx), expected);
  });

  it('rejects an answer that is not one JSON object', () => {
    planError(
      () => parsePlan('I would rename the function first, then update the callers.', ctx),
      /^The local model's plan is not valid JSON \(no JSON object found in the answer\); nothing was changed\. Try again, or choose a larger local model\.$/,
    );
    planError(() => parsePlan('', ctx), /not valid JSON \(the answer is empty\)/);
    planError(() => parsePlan('{"steps": [{"title": "Rename", "files": ["src/cart.ts"]', ctx), /not valid JSON \(a "\{" is never closed\)/);
    planError(
      () => parsePlan(`${JSON.stringify(GOOD)}\nor else\n${JSON.stringify(GOOD)}`, ctx),
      /not valid JSON \(the answer has 2 JSON objects, expected one\)/,
    );
    planError(() => parsePlan(JSON.stringify(GOOD.steps), ctx), /not valid JSON \(it is an array, not an object with "steps"\)/);
    planError(() => parsePlan("{steps: [{title: 'x'}]}", ctx), /not valid JSON/);
  });

  it('rejects wrong shapes with one clear reason', () => {
    const withStep = (patch: Record<string, unknown>) => JSON.stringify({ steps: [{ ...GOOD.steps[0], ...patch }] });
    planError(() => parsePlan('{"plan": []}', ctx), /cannot be used \(it has no "steps" array\)/);
    planError(() => parsePlan('{"steps": "rename it"}', ctx), /"steps" is string "rename it", not an array/);
    planError(() => parsePlan('{"steps": []}', ctx), /cannot be used \(it has no steps\)/);
    planError(() => parsePlan('{"steps": ["rename"]}', ctx), /step 1 is string "rename", not an object/);
    planError(() => parsePlan(withStep({ files: 'src/cart.ts' }), ctx), /step 1's "files" is string "src\/cart\.ts", not a list of paths/);
    planError(() => parsePlan(withStep({ files: undefined }), ctx), /step 1's "files" is missing/);
    planError(() => parsePlan(withStep({ size: 'huge' }), ctx), /step 1's "size" is string "huge", expected small, medium or large/);
    planError(() => parsePlan(withStep({ size: 2 }), ctx), /"size" is number 2/);
    planError(() => parsePlan(withStep({ title: 42 }), ctx), /step 1's "title" is number 42, not text/);
    planError(() => parsePlan(withStep({ instruction: ['a'] }), ctx), /"instruction" is an array, not text/);
    planError(() => parsePlan(withStep({ symbols: 'computeTotal' }), ctx), /"symbols" is string "computeTotal", not a list of names/);
  });

  it('names the files that are not part of the change', () => {
    const bad = {
      steps: [
        { ...GOOD.steps[0], files: ['src/cart.ts', 'src/tax.ts'] },
        { ...GOOD.steps[1], files: ['lib/old.ts', 'src/report.ts'] },
      ],
    };
    const e = planError(() => parsePlan(JSON.stringify(bad), ctx), /not part of this change: src\/tax\.ts, lib\/old\.ts\)/);
    assert.match(e.message, /^The local model's plan cannot be used \(it names files that are not part of this change/);
  });

  it('keeps a file named by two steps in the first, and drops a step left without files', () => {
    const dup = {
      steps: [
        GOOD.steps[0],
        { title: 'Callers', files: ['src/invoice.ts', 'src/cart.ts'], symbols: ['computeTotal'], size: 'small', instruction: 'Update the calls.' },
        { title: 'Re-check cart', files: ['./src/cart.ts'], symbols: [], size: 'small', instruction: 'Check cart.ts again.' },
        { title: 'Report', files: ['src/report.ts', 'src/report.ts'], symbols: ['computeTotal'], size: 'small', instruction: 'Update report.ts.' },
      ],
    };
    const plan = parsePlan(JSON.stringify(dup), ctx);
    assert.deepEqual(
      plan.steps.map((s) => [s.id, s.title, s.files]),
      [
        [1, 'Rename the definition', ['src/cart.ts']],
        [2, 'Callers', ['src/invoice.ts']],
        [3, 'Report', ['src/report.ts']],
      ],
    );
    assert.deepEqual(plan.notes, [
      'src/cart.ts was in steps 1 and 2; Verdant kept it in step 1.',
      'src/cart.ts was in steps 1 and 3; Verdant kept it in step 1.',
      'Step 3 ("Re-check cart") had no files of its own; Verdant dropped it.',
    ]);
  });

  it('adds a step for every file with occurrences that the plan left out', () => {
    const plan = parsePlan(JSON.stringify({ steps: [GOOD.steps[0]] }), ctx);
    assert.equal(plan.steps.length, 3);
    const [, inv, rep] = plan.steps;
    assert.ok(inv && rep);
    assert.deepEqual(
      [inv.id, inv.title, inv.files, inv.symbols, inv.added],
      [2, 'Update src/invoice.ts', ['src/invoice.ts'], ['computeTotal'], true],
    );
    assert.equal(inv.size, 'small');
    assert.equal(
      inv.instruction,
      'Update the uses of computeTotal in src/invoice.ts (lines 1, 10) for this change: rename computeTotal to calculateTotal',
    );
    assert.deepEqual([rep.id, rep.files, rep.added, rep.size], [3, ['src/report.ts'], true, 'medium']);
    assert.deepEqual(plan.notes, [
      'Verdant added a step for src/invoice.ts: it uses computeTotal but the plan left it out.',
      'Verdant added a step for src/report.ts: it uses computeTotal but the plan left it out.',
    ]);
  });

  it('a file without occurrences may be planned, but is not added', () => {
    const ctx2 = cartContext([file('src/types.ts', 'export type Cents = number;\n')]);
    const plan = parsePlan(
      JSON.stringify({ steps: [...GOOD.steps, { title: 'Types', files: ['src/types.ts'], symbols: [], size: 'small', instruction: 'Nothing.' }] }),
      ctx2,
    );
    assert.deepEqual(
      plan.steps.map((s) => s.files),
      [['src/cart.ts'], ['src/invoice.ts', 'src/report.ts'], ['src/types.ts']],
    );
    assert.deepEqual(plan.steps[2]!.symbols, []);
    assert.equal(parsePlan(JSON.stringify(GOOD), ctx2).steps.length, 2);
  });

  it('fills a missing size, title, instruction and symbols, with notes', () => {
    const plan = parsePlan(
      JSON.stringify({ steps: [{ files: ['src/cart.ts', 'src/invoice.ts', 'src/report.ts'], title: '  ', instruction: '', symbols: ['nope'] }] }),
      ctx,
    );
    const [s] = plan.steps;
    assert.ok(s);
    assert.equal(s.size, 'medium');
    assert.equal(s.instruction, REQUEST);
    assert.equal(s.title, 'Update src/cart.ts, src/invoice.ts, src/report.ts');
    assert.deepEqual(s.symbols, ['computeTotal'], 'unknown symbols dropped, then derived from the files');
    assert.deepEqual(plan.notes, [
      'Step 1 had no size; Verdant treats it as medium.',
      'Step 1 had no instruction; Verdant uses the request for it.',
      'Step 1 had no title; Verdant named it "Update src/cart.ts, src/invoice.ts, src/report.ts".',
    ]);
    assert.equal(parsePlan(JSON.stringify({ steps: [{ ...GOOD.steps[0], size: ' Large' }] }), ctx).steps[0]!.size, 'large');
  });

  it('never returns half a plan: a late error throws PlanError and leaves the context untouched', () => {
    const frozen = deepFreeze(cartContext());
    const before = JSON.stringify(frozen);
    const late = { steps: [GOOD.steps[0], GOOD.steps[1], { ...GOOD.steps[1], size: 'enormous' }] };
    let result: unknown = 'unset';
    assert.throws(() => {
      result = parsePlan(JSON.stringify(late), frozen);
    }, PlanError);
    assert.equal(result, 'unset');
    assert.equal(JSON.stringify(frozen), before);
    // Whatever the model writes, the only error is PlanError.
    const garbage = [
      'null',
      '42',
      '"steps"',
      '[]',
      '{}',
      '{"steps": [null]}',
      '{"steps": [{}]}',
      '{"steps": {"0": {}}}',
      '{"steps": [{"files": [1]}]}',
      '}{',
      '```json\n```',
      '{"__proto__": {"steps": []}}',
    ];
    for (const g of garbage) assert.throws(() => parsePlan(g, frozen), PlanError, g);
  });
});

describe('refactor plan: planSchema', () => {
  it("limits files and symbols to the context and fits node-llama-cpp's JSON-schema grammar", () => {
    const ctx = cartContext();
    const schema = planSchema(ctx);
    const typed: GbnfJsonSchema = schema; // compiles: the schema uses only what node-llama-cpp supports
    assert.equal(typed, schema);
    const step = schema.properties.steps.items;
    assert.deepEqual(step.properties.files.items, { enum: ['src/cart.ts', 'src/invoice.ts', 'src/report.ts'] });
    assert.equal(step.properties.files.minItems, 1);
    assert.deepEqual(step.properties.symbols.items, { enum: ['computeTotal'] });
    assert.deepEqual(step.properties.size, { enum: ['small', 'medium', 'large'] });
    assert.equal(step.properties.title.maxLength, 80);
    assert.equal(step.properties.instruction.maxLength, 300);
    assert.equal(step.additionalProperties, false);
    assert.deepEqual(Object.keys(step.properties), ['title', 'files', 'symbols', 'size', 'instruction']);
    assert.deepEqual(step.required, ['title', 'files', 'symbols', 'size', 'instruction']);
    assert.equal(schema.additionalProperties, false);
    assert.deepEqual([schema.properties.steps.minItems, schema.properties.steps.maxItems], [1, 3]);
    // Nothing outside node-llama-cpp's keywords, anywhere.
    const allowed = new Set([
      'type',
      'properties',
      'required',
      'additionalProperties',
      'items',
      'minItems',
      'maxItems',
      'enum',
      'minLength',
      'maxLength',
    ]);
    const walk = (node: unknown): void => {
      if (Array.isArray(node) || typeof node !== 'object' || node === null) return;
      for (const [k, v] of Object.entries(node)) {
        assert.ok(allowed.has(k), `unsupported keyword ${k}`);
        if (k === 'properties') for (const p of Object.values(v as object)) walk(p);
        else walk(v);
      }
    };
    walk(schema);
    // Any GOOD plan is also an instance of the schema (enums hold the values used).
    for (const s of GOOD.steps) for (const f of s.files) assert.ok((step.properties.files.items as { enum: readonly string[] }).enum.includes(f));
  });

  it('caps the steps at MAX_PLAN_STEPS, handles no symbols, and refuses an empty context', () => {
    const files = Array.from({ length: 20 }, (_, i) => file(`src/m${i}.ts`, 'export const x = computeTotal([]);\n'));
    const many: RefactorContext = { request: REQUEST, symbols: [], files, hits: findHits(files, ['computeTotal']), diagnostics: [] };
    const schema = planSchema(many);
    assert.equal(schema.properties.steps.maxItems, MAX_PLAN_STEPS);
    assert.deepEqual(schema.properties.steps.items.properties.symbols, { type: 'array', items: { type: 'string', maxLength: 80 }, maxItems: 0 });
    const typed: GbnfJsonSchema = schema;
    assert.ok(typed);
    assert.throws(() => planSchema({ ...many, files: [] }), PlanError);
  });
});

describe('refactor plan: planMessages', () => {
  it('gives the request, the symbols, occurrences with line numbers, excerpts and diagnostics', () => {
    const messages = planMessages(cartContext([file('src/types.ts', 'export type Cents = number;\n')]));
    assert.deepEqual(
      messages.map((m) => m.role),
      ['system', 'user'],
    );
    assert.match(messages[0]!.content, /only with one JSON object/);
    const user = messages[1]!.content;
    assert.match(user, /^Plan this change: rename computeTotal to calculateTotal\nSymbols involved: computeTotal\n/);
    assert.match(user, /## src\/cart\.ts \(typescript\): 2 occurrences of computeTotal, at lines 8, 13/);
    assert.match(user, /## src\/invoice\.ts \(typescript\): 2 occurrences of computeTotal, at lines 1, 10/);
    assert.match(user, /## src\/report\.ts \(typescript\): 3 occurrences of computeTotal, at lines 1, 5, 6/);
    assert.match(user, / {4}8\| export function computeTotal\(items: readonly Item\[\]\): number \{/);
    // Touching excerpts of one file share a fence: cart.ts lines 6-14 in one block.
    assert.match(user, /## src\/cart\.ts[^\n]*\n```\n {4}6\| \n[\s\S]*? {3}13\| {3}return computeTotal\(items\) === 0;\n {3}14\| \}\n```\n/);
    assert.match(user, /problem at line 5: Property 'number' does not exist on type 'Invoice'\./);
    assert.match(user, /Other files that may be involved \(no occurrences found\): src\/types\.ts/);
    assert.match(user, /At most 4 steps/);
  });

  it('stays bounded for a large context', () => {
    const files = Array.from({ length: 40 }, (_, i) => bigFile(`src/module${i}/service.ts`, 500, [10, 100, 200, 300, 400]));
    const ctx: RefactorContext = { request: REQUEST, symbols: ['computeTotal'], files, hits: findHits(files, ['computeTotal']), diagnostics: [] };
    const user = planMessages(ctx)[1]!.content;
    const excerptChars = [...user.matchAll(/```\n([\s\S]*?)\n```/g)].reduce((n, m) => n + m[1]!.length + 1, 0);
    assert.ok(excerptChars <= PLAN_EXCERPT_CHARS, `excerpts ${excerptChars}`);
    assert.ok(user.length < PLAN_EXCERPT_CHARS + 40 * 200, `prompt ${user.length}`);
    assert.match(user, /## src\/module39\/service\.ts/, 'every file is listed');
    assert.match(user, /## src\/module0\/service\.ts[^\n]*\n```\n/, 'the first file has an excerpt');
  });
});
