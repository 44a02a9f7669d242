// The task runner (src/core/tasks/runner.ts) with real parts: the local model in node-llama-cpp, the cloud client
// against an OpenAI-compatible server on 127.0.0.1, a real ledger in a temporary folder, and the routing policy
// deciding on facts the test sets. The invariant: every attempt that runs inference writes exactly one ledger record,
// the outcome names that record and its grams; a queued ("later") task runs nothing and records nothing.
import * as assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ServerResponse } from 'node:http';
import { cloudSciRecord } from '../../src/core/carbon/cloudRecord';
import { profile } from '../../src/core/carbon/energy/devices';
import { Ledger } from '../../src/core/carbon/ledger';
import { sciForLocalUsage } from '../../src/core/carbon/sci';
import type { SciRecord } from '../../src/core/carbon/types';
import { CloudClient } from '../../src/core/cloud/client';
import { RoutingLog } from '../../src/core/routing/log';
import { cascadeVerdict, decideRoute, type RouteContext, type RouteDecision, type RoutingMode } from '../../src/core/routing/policy';
import type { RouteQuery, Routed, TaskRouter } from '../../src/core/routing/query';
import type { TaskOutcome } from '../../src/core/tasks/calls';
import { TaskRunner, type DeferredOutcome, type TaskUi } from '../../src/core/tasks/runner';
import { extractCodeBlock, type TaskContext } from '../../src/core/tasks/table';
import { OpenAiCompatibleBackend } from '../../src/engine/backends';
import { LlamaEngine } from '../../src/engine/llama/engine';
import type { InferenceBackend, WorkPurpose } from '../../src/engine/types';
import { FakeServer, type Seen } from '../support/fakeServer';
import { ALNUM, seededChars } from '../support/fakeSecrets';
import { testModels } from '../support/models';
import { streamBody } from '../support/streaming';

const DEVICE = profile('phoenix-hs-igpu');
/** A GitHub token's shape, built at run time (no secret-looking literal in the repository). */
const SECRET = `ghp_${seededChars(36, ALNUM, 17)}`;
const CTX: TaskContext = {
  languageId: 'typescript',
  filePath: 'src/add.ts',
  code: `export const add = (a: number, b: number) => a + b;\nconst token = "${SECRET}";\n`,
};

/** The policy on facts the test sets: the mode, the grid now, an optional cleaner window, a fixed P(local ok). */
class PolicyRouter implements TaskRouter {
  readonly log = new RoutingLog();
  mode: RoutingMode = 'local-only';
  p = 0.9;
  /** p after a draft (the cascade's second look). */
  pAfterDraft = 0.9;
  window: RouteContext['deferral'];
  /** The grids, g/kWh: here (dirty) and the endpoint's (clean) unless a test turns them round. */
  localG = 400;
  cloudG = 50;
  localResults = 0;
  cloudReached = 0;
  contextTokens = 4096;
  /** Pieces of split requests decided (decidePiece). */
  pieces: RouteQuery[] = [];

  private context(q: RouteQuery): RouteContext {
    return {
      mode: this.mode,
      trusted: true,
      consent: q.consent,
      cascade: true,
      local: { device: DEVICE, tokensPerSecond: 30, gPerKWh: this.localG, contextTokens: this.contextTokens },
      cloud: { model: 'llama-3.3-70b-instruct', pue: 1.2, gPerKWh: this.cloudG },
      ...(q.deferrable && this.window ? { deferral: this.window } : {}),
    };
  }

  async route(q: RouteQuery): Promise<Routed> {
    const decision = decideRoute(q, this.context(q), this.p);
    return {
      decision,
      p: this.p,
      entry: this.log.add({ at: Date.now(), kind: q.kind, promptTokens: q.promptTokens, decision, classifier: 'test', decisionMs: 0 }),
      localContextTokens: this.contextTokens,
    };
  }

  async decidePiece(q: RouteQuery): Promise<RouteDecision> {
    this.pieces.push(q);
    return decideRoute(q, this.context(q), this.p);
  }

  async reroute(q: RouteQuery, routed: Routed, why: string): Promise<RouteDecision> {
    const decision = decideRoute(q, this.context(q), routed.p);
    routed.entry.outcome = `${why}: ${decision.route}`;
    return decision;
  }

  async afterDraft(_q: RouteQuery, draft: { text: string }) {
    return { ...cascadeVerdict(this.pAfterDraft, draft.text), p: this.pAfterDraft };
  }

  noteLocalResult(): void {
    this.localResults++;
  }

  noteCloudReached(): void {
    this.cloudReached++;
  }

  noteCloudUnreachable(): void {}
  recordAcceptance(): void {}
}

describe('task runner: one ledger record per attempt, the outcome names it', function () {
  this.timeout(120_000);
  let engine: LlamaEngine;
  let server: FakeServer;
  let dir: string;
  let ledger: Ledger;
  let cloudFails = false;

  const answer = (res: ServerResponse) => {
    const chunk = (o: unknown) => `data: ${JSON.stringify(o)}\n\n`;
    void streamBody(res, 'text/event-stream', [
      chunk({ model: 'llama-3.3-70b-instruct', choices: [{ delta: { content: 'It adds two numbers.' } }] }),
      chunk({ choices: [{ delta: {}, finish_reason: 'stop' }], usage: { prompt_tokens: 90, completion_tokens: 6 } }),
      'data: [DONE]\n\n',
    ]);
  };

  before(async () => {
    engine = await LlamaEngine.load({ modelPath: (await testModels()).base, gpu: 'cpu', threads: 1, contextSize: 2048, sequences: 1 });
    server = await FakeServer.start((_seen: Seen, res) => {
      if (cloudFails) res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":{"message":"overloaded"}}');
      else answer(res);
    }, '/v1');
  });
  after(async () => {
    await engine?.dispose();
    await server?.close();
  });
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'verdant-runner-'));
    ledger = new Ledger({ dir });
    cloudFails = false;
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** Who asked for each local generation: the purpose it carried (undefined: interactive, the default). */
  let purposes: (WorkPurpose | undefined)[] = [];
  beforeEach(() => {
    purposes = [];
  });
  const telling = (backend: Pick<InferenceBackend, 'generate'>, into: (WorkPurpose | undefined)[]): Pick<InferenceBackend, 'generate'> => ({
    generate: (request, options) => {
      into.push(options?.purpose);
      return backend.generate(request, options);
    },
  });

  function setUp(
    over: {
      consent?: 'granted' | 'denied' | 'unknown';
      defer?: 'accept' | 'decline';
      offerLocal?: boolean;
      failAppend?: boolean;
      /** Another local model than the in-process one (a local server's backend). */
      local?: Pick<InferenceBackend, 'generate'>;
    } = {},
  ) {
    const router = new PolicyRouter();
    const asked: string[] = [];
    const deferred: string[] = [];
    const errors: string[] = [];
    const consent = {
      value: over.consent ?? ('granted' as const),
      ask: async (host: string) => {
        asked.push(host);
        return 'granted' as const;
      },
    };
    const client = new CloudClient({ baseUrl: server.url, model: 'llama-3.3-70b-instruct', apiKey: async () => 'test-key', retries: { max: 0 } });
    const write = async (record: SciRecord) => {
      if (over.failAppend) return undefined;
      await ledger.append(record);
      return record;
    };
    const ui: TaskUi = {
      progress: (_title, work) => work(new AbortController().signal, () => undefined),
      warn: () => undefined,
      error: (m) => {
        errors.push(m);
      },
      confirmSecretsFile: async () => false,
      offerLocal: async () => over.offerLocal ?? false,
    };
    const runner = new TaskRunner({
      router,
      consent,
      ui,
      log: { info: () => undefined, error: () => undefined },
      local: {
        generate: (req, o) => (over.local ?? engine).generate(req, o),
        record: (usage) =>
          write(sciForLocalUsage(usage, DEVICE, { gPerKWh: 400, source: 'embedded', zone: 'DE', signal: 'average', isEstimated: true })),
      },
      cloud: {
        target: () => ({ endpoint: server.url, model: 'llama-3.3-70b-instruct' }),
        chat: (req, o) => client.chat(req, o),
        record: (attempt) => write(cloudSciRecord({ ...attempt, localZone: 'DE' })),
      },
      defer: async (kind, ctx) => {
        deferred.push(`${kind} ${ctx.filePath}`);
        return over.defer === 'accept' ? { at: Date.now() + 3_600_000, label: `${kind} ${ctx.filePath}` } : undefined;
      },
    });
    return { router, runner, asked, deferred, errors, close: () => client.close() };
  }

  async function assertRecords(o: TaskOutcome | DeferredOutcome | undefined, routes: string[]): Promise<TaskOutcome> {
    assert.ok(o && o.route !== 'later', `an outcome that ran, not ${JSON.stringify(o)}`);
    const { records } = await ledger.read();
    assert.deepEqual(
      records.map((r) => r.route),
      routes,
    );
    assert.deepEqual(
      o.recordIds,
      records.map((r) => r.id),
      'the outcome names its records, in order',
    );
    const sum = records.reduce((n, r) => n + r.sciG, 0);
    assert.ok(o.grams !== undefined && Math.abs(o.grams - sum) < 1e-12, `grams shown ${o.grams} are the records' ${sum}`);
    return o;
  }

  it('local: one local record, its grams shown', async () => {
    const t = setUp();
    const o = await assertRecords(await t.runner.run('summarize', CTX), ['local']);
    assert.equal(o.route, 'local');
    assert.equal(t.router.localResults, 1);
    assert.equal(t.router.log.last?.outcome, 'done (local)');
    assert.equal(server.seen.length, 0, 'nothing went to the cloud');
    await t.close();
  });

  it('a deferred run asks the local engine for background work on each local attempt; a run now and a retry do not (#19)', async () => {
    const t = setUp({ local: telling(engine, purposes) });
    t.router.mode = 'local-only';
    await assertRecords(await t.runner.run('summarize', CTX, { purpose: 'background' }), ['local']);
    await t.runner.run('summarize', CTX);
    await t.runner.run('summarize', CTX, { force: 'local' });
    await t.runner.call('local', 'refactor-step', [{ role: 'user', content: 'Once upon a time' }], { purpose: 'background', maxTokens: 4 });
    assert.deepEqual(purposes, ['background', undefined, undefined, 'background']);
    await t.close();
  });

  it("cloud: consent asked once, the secret redacted, one cloud record at the endpoint's feature", async () => {
    const t = setUp({ consent: 'unknown' });
    t.router.mode = 'cloud-only';
    const sent = server.seen.length;
    const o = await assertRecords(await t.runner.run('explain', CTX), ['cloud']);
    assert.equal(o.route, 'cloud');
    assert.deepEqual(t.asked, [new URL(server.url).host]);
    assert.equal(server.seen.length, sent + 1);
    assert.ok(!JSON.stringify(server.seen.at(-1)?.body).includes(SECRET), 'the secret never left');
    assert.ok((t.runner.lastCloudRequest?.redactions ?? 0) >= 1);
    assert.equal((await ledger.read()).records[0]!.feature, 'explain');
    await t.close();
  });

  it('a cloud failure offered locally: the failed attempt records nothing, the local run one record', async () => {
    const t = setUp({ offerLocal: true });
    t.router.mode = 'cloud-only';
    cloudFails = true;
    const o = await assertRecords(await t.runner.run('explain', CTX), ['local']);
    assert.equal(o.reason, 'cloud failed: ran locally');
    assert.equal(t.router.log.last?.outcome, 'cloud failed, ran locally');
    assert.equal(t.router.log.last?.grams, o.grams);
    await t.close();
  });

  it('a cascade that escalates: two records, the grams of both', async () => {
    const t = setUp();
    t.router.mode = 'balanced';
    [t.router.localG, t.router.cloudG] = [50, 400];
    t.router.p = 0.5;
    assert.equal(
      (await t.router.route({ kind: 'explain', promptTokens: 100, files: 1, selectionChars: 50, consent: 'granted' })).decision.cascade,
      true,
      'fixture: a cascade',
    );
    t.router.pAfterDraft = 0.1;
    const o = await assertRecords(await t.runner.run('explain', CTX), ['local', 'cloud']);
    assert.equal(o.cascaded, true);
    await t.close();
  });

  it('"later": queued when the user takes the window, nothing run or recorded; run now (one record) when not', async () => {
    const queued = setUp({ defer: 'accept' });
    queued.router.mode = 'local-only';
    queued.router.window = { windowGPerKWh: 20, startsInMs: 3_600_000 };
    queued.router.cloudG = 400;
    const sent = server.seen.length;
    const later = await queued.runner.run('summarize', CTX, { mayDefer: true });
    assert.equal(later?.route, 'later');
    assert.deepEqual(queued.deferred, ['summarize src/add.ts']);
    assert.equal((await ledger.read()).records.length, 0, 'a queued task records nothing now');
    assert.equal(queued.router.localResults + server.seen.length - sent, 0, 'and runs nothing');
    assert.match(queued.router.log.last?.outcome ?? '', /^queued for /);
    await queued.close();

    const now = setUp({ defer: 'decline' });
    now.router.mode = 'local-only';
    now.router.window = { windowGPerKWh: 20, startsInMs: 3_600_000 };
    now.router.cloudG = 400;
    await assertRecords(await now.runner.run('summarize', CTX, { mayDefer: true }), ['local']);
    assert.deepEqual(now.deferred, ['summarize src/add.ts'], 'the window was offered');
    assert.match(now.router.log.last?.outcome ?? '', /^done/);
    // Not asked for now (a queued job running, or a retry): never offered again.
    const again = setUp({ defer: 'accept' });
    again.router.mode = 'local-only';
    again.router.window = { windowGPerKWh: 20, startsInMs: 3_600_000 };
    again.router.cloudG = 400;
    assert.equal((await again.runner.run('summarize', CTX))?.route, 'local');
    assert.deepEqual(again.deferred, []);
    await now.close();
    await again.close();
  });

  it("a record that cannot be written shows no grams rather than another request's", async () => {
    const t = setUp({ failAppend: true });
    const o = await t.runner.run('summarize', CTX);
    assert.ok(o && o.route === 'local');
    assert.equal(o.grams, undefined);
    assert.deepEqual(o.recordIds, []);
    await t.close();
  });

  describe('a refactor longer than the local context, in regions that each fit it', () => {
    /** Twelve top-level functions of about 250 characters: 3 kB, with blank lines between them. */
    const functions = Array.from(
      { length: 12 },
      (_, i) =>
        `export function total${i}(items: Item[]): number {\n  let sum = 0;\n  for (const item of items) {\n    sum += item.price * item.count + ${i};\n  }\n  return oldRound(sum);\n}\n`,
    ).join('\n');
    const LONG: TaskContext = { languageId: 'typescript', filePath: 'src/totals.ts', code: functions, instruction: 'rename oldRound to roundCents' };

    /** A local LM Studio-style server that does what was asked to the code it was sent, and counts what it saw. */
    async function renamingServer(): Promise<FakeServer> {
      return FakeServer.start({
        'POST /v1/chat/completions': (seen, res) => {
          const prompt = String((seen.body as { messages: { content: string }[] }).messages.at(-1)?.content);
          const code = /```typescript\n([\s\S]*?)```/.exec(prompt)?.[1] ?? '';
          const answer = `\`\`\`typescript\n${code.replace(/oldRound/g, 'roundCents')}\`\`\`\nRenamed the helper.`;
          const chunk = (o: unknown) => `data: ${JSON.stringify(o)}\n\n`;
          void streamBody(res, 'text/event-stream', [
            chunk({ choices: [{ delta: { content: answer } }] }),
            chunk({ choices: [{ delta: {}, finish_reason: 'stop' }] }),
            chunk({ choices: [], usage: { prompt_tokens: Math.ceil(prompt.length / 3.5), completion_tokens: Math.ceil(answer.length / 3.5) } }),
            'data: [DONE]\n\n',
          ]);
        },
      });
    }

    it('runs each region locally (one record each), nothing in the cloud, and joins the answers in order', async () => {
      const local = await renamingServer();
      try {
        const t = setUp({
          local: telling(
            new OpenAiCompatibleBackend({ flavour: 'lmstudio', url: `${local.url}/v1`, model: 'qwen2.5-coder-1.5b-instruct' }),
            purposes,
          ),
        });
        t.router.mode = 'balanced';
        t.router.contextTokens = 512;
        const whole = await t.router.route({ kind: 'refactor', promptTokens: 950, files: 1, selectionChars: LONG.code.length, consent: 'granted' });
        assert.equal(whole.decision.route, 'cloud', 'fixture: the whole selection does not fit the local context');
        const sent = server.seen.length;
        const o = await t.runner.run('refactor', LONG, { purpose: 'background' });
        const n = t.router.pieces.length;
        assert.deepEqual(purposes, Array<WorkPurpose>(n).fill('background'), 'a deferred refactor: every part is background work');
        assert.ok(n >= 3, `split into ${n} regions`);
        await assertRecords(
          o,
          Array.from({ length: n }, () => 'local'),
        );
        assert.equal(server.seen.length, sent, 'nothing went to the cloud');
        assert.equal(local.seen.length, n, 'one local request per region');
        // Each region was sent alone, whole functions only, and together they are the selection.
        // (The prompt's fence adds a line break after the code.)
        const sentCode = local.seen.map((x) => /```typescript\n([\s\S]*?)\n```/.exec(String(x.body.messages.at(-1).content))![1]!);
        assert.equal(sentCode.join(''), LONG.code);
        assert.ok(sentCode.every((c) => c.startsWith('export function total') && c.length < LONG.code.length / 2));
        assert.ok(t.router.pieces.every((q) => q.text === LONG.instruction && q.promptTokens < 512));
        assert.ok(o && o.route !== 'later');
        assert.equal(extractCodeBlock(o.text), LONG.code.replace(/oldRound/g, 'roundCents').replace(/\n$/, ''));
        assert.match(o.reason, new RegExp(`^local in ${n} parts: the selection with its answer exceeds the local context of 512 tokens`));
        assert.equal(t.router.log.last?.outcome, `done (local, ${n} parts)`);
        await t.close();
      } finally {
        await local.close();
      }
    });

    it('a part whose answer has no code block stops the task with the part named; the parts that ran stay recorded', async () => {
      // The tiny test model writes stories, never a fenced block.
      const t = setUp();
      t.router.mode = 'balanced';
      t.router.contextTokens = 512;
      const sent = server.seen.length;
      const o = await t.runner.run('refactor', LONG);
      assert.equal(o, undefined);
      assert.match(t.errors[0] ?? '', /^The local model's answer for part 1 of \d+ has no complete code block, so nothing was changed\./);
      assert.deepEqual(
        (await ledger.read()).records.map((r) => r.route),
        ['local'],
      );
      assert.equal(server.seen.length, sent);
      assert.match(t.router.log.last?.outcome ?? '', /^failed: /);
      await t.close();
    });

    it('Retry Locally splits it too, whatever the router reads in the parts', async () => {
      const local = await renamingServer();
      try {
        const t = setUp({
          local: new OpenAiCompatibleBackend({ flavour: 'lmstudio', url: `${local.url}/v1`, model: 'qwen2.5-coder-1.5b-instruct' }),
        });
        t.router.mode = 'balanced';
        t.router.contextTokens = 512;
        t.router.p = 0.2;
        const o = await t.runner.run('refactor', LONG, { force: 'local' });
        const n = t.router.pieces.length;
        assert.ok(n >= 3, `split into ${n} regions`);
        await assertRecords(
          o,
          Array.from({ length: n }, () => 'local'),
        );
        assert.ok(o && o.route !== 'later');
        assert.equal(extractCodeBlock(o.text), LONG.code.replace(/oldRound/g, 'roundCents').replace(/\n$/, ''));
        assert.match(o.reason, new RegExp(`^retried locally at your request, local in ${n} parts: `));
        await t.close();
      } finally {
        await local.close();
      }
    });

    it('is not split when a region would not stay local, or the whole fits', async () => {
      const hard = setUp();
      hard.router.mode = 'balanced';
      hard.router.contextTokens = 512;
      hard.router.p = 0.2;
      const o = await assertRecords(await hard.runner.run('refactor', LONG), ['cloud']);
      assert.equal(o.route, 'cloud');
      assert.ok(hard.router.pieces.length >= 1 && hard.router.pieces.length < 12);
      await hard.close();
      rmSync(dir, { recursive: true, force: true });
      ledger = new Ledger({ dir });
      const fits = setUp();
      fits.router.mode = 'local-only';
      fits.router.contextTokens = 2048;
      await fits.runner.run('refactor', { ...LONG, code: LONG.code.slice(0, 600) });
      assert.deepEqual(fits.router.pieces, [], 'a selection that fits is not cut');
      await fits.close();
    });
  });
});
