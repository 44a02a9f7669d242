// Hardening of the shared engine worker and its client, as real processes: the worker SIGKILLed while it loads a
// model, requests cancelled before they were even sent, 1,000 keystrokes' completions fired at it faster than it
// answers, and a wall clock that jumps while a window waits for the worker or asks how long it has been up.
import * as assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import type { CompletionInput } from '../../src/core/completion/input';
import { CompletionPipeline, type CompletionEngine, type Suggestion } from '../../src/core/completion/pipeline';
import type { EngineClientOptions } from '../../src/engine/client';
import { EngineError } from '../../src/engine/errors';
import type { ModelConfig } from '../../src/engine/llama/engine';
import { keyPathFor } from '../../src/engine/handshake';
import { lockPathFor, pidAlive, readLock } from '../../src/engine/lock';
import { newSocketPath } from '../../src/engine/rendezvous';
import { EngineServer } from '../../src/engine/server';
import type { FimRequest, GenerateOptions } from '../../src/engine/types';
import { LILY, WORKER, workerFixture } from '../support/engineWorkers';
import { processesWhere } from '../support/processes';
import { sleep, until } from '../support/wait';

const HOUR = 3_600_000;

/** Live processes whose command line names this state folder (Linux; elsewhere nothing is checked). */
function processesFor(stateDir: string): number[] {
  return processesWhere((p) => p.argv.includes(stateDir)).map((p) => p.pid);
}

function resourceCounts(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const r of process.getActiveResourcesInfo()) counts.set(r, (counts.get(r) ?? 0) + 1);
  return counts;
}

describe('hardening: engine worker and client (real processes)', function () {
  this.timeout(180_000);
  const w = workerFixture('verdant-hardening-');
  const client = (name: string, over: Partial<EngineClientOptions> = {}) => w.client(name, over);
  const config = (over: Partial<ModelConfig> = {}) => w.config(over);

  before(() => w.load());
  beforeEach(() => w.fresh());
  afterEach(async () => {
    const pid = await w.cleanup();
    for (const p of processesFor(w.stateDir)) if (p !== pid && pidAlive(p)) process.kill(p, 'SIGKILL');
  });

  it('a worker SIGKILLed while loading a model: one clear error for the load, a restart, the next request succeeds, no orphan', async () => {
    const events: { type: string; pendingFailed?: number }[] = [];
    const a = client('window A', { onWorkerEvent: (e) => events.push(e) });
    const loading = a.load(config({ modelPath: w.models.fim })).then(
      () => 'loaded',
      (e: unknown) => e,
    );
    // Kill it once the worker itself says the load is under way (status answers while the model loads).
    let firstPid = 0;
    await until(
      'the worker to start loading',
      async () => {
        const s = await a.status();
        firstPid = s.pid;
        return s.loading !== null;
      },
      20000,
      2,
    );
    process.kill(firstPid, 'SIGKILL');
    const outcome = await loading;
    assert.ok(outcome instanceof EngineError, `the load should fail, got ${String(outcome)}`);
    assert.equal(outcome.code, 'worker-crashed');
    assert.match(outcome.message, /stopped unexpectedly; Verdant is restarting it/);
    assert.deepEqual(events[0], { type: 'crashed', pendingFailed: 1 });

    await until('the restart', () => events.some((e) => e.type === 'restarted'));
    const r = await a.generate(config({ modelPath: w.models.fim }), { kind: 'completion', prompt: LILY, maxTokens: 4 });
    assert.ok(r.text.length > 0);
    const secondPid = a.workerPid!;
    assert.notEqual(secondPid, firstPid);
    assert.deepEqual(
      events.map((e) => e.type),
      ['crashed', 'restarted'],
    );
    assert.equal(pidAlive(firstPid), false, 'the killed worker is gone (reaped, not a zombie)');
    assert.equal((await readLock(lockPathFor(w.stateDir)))?.pid, secondPid);
    if (existsSync('/proc/self/cmdline')) assert.deepEqual(processesFor(w.stateDir), [secondPid], 'exactly one worker for this state folder');
  });

  it('a request aborted before it was sent (while the worker starts, or between keystrokes) never reaches the worker', async () => {
    const a = client('window A');
    for (const phase of ['worker starting', 'worker running']) {
      const ac = new AbortController();
      const pending = a.generate(config(), { kind: 'completion', prompt: LILY, maxTokens: 400, sessionKey: phase }, { signal: ac.signal });
      ac.abort(); // generate() is still waiting for its connection
      const r = await pending;
      assert.equal(r.stopReason, 'abort', `${phase}: ${r.stopReason} after ${r.timing.generatedTokens} tokens`);
      assert.equal(r.timing.generatedTokens, 0, phase);
    }
    // The worker's own count: nothing was sent, so nothing ran (a cancel sent after the request could have reached
    // a busy worker only after a short generation had run to its end).
    const s = await a.status();
    assert.equal(s.activeRequests, 0);
    assert.deepEqual(s.requests, { finished: 0, aborted: 0, failed: 0 });
    const served = await a.generate(config(), { kind: 'completion', prompt: LILY, maxTokens: 4 });
    assert.equal(served.stopReason, 'maxTokens');
  });

  it('typing while the worker starts: keystrokes superseded meanwhile never reach the worker, and the last one is answered', async () => {
    // The worker starts only when the test says so (a gate in front of the real worker script), so every keystroke
    // but the last is superseded while the window waits for it, however fast or slow this machine is.
    const go = path.join(w.stateDir, 'go');
    const gate = path.join(w.stateDir, 'gated-worker.js');
    writeFileSync(
      gate,
      `const fs = require('fs');
      (function wait() { if (fs.existsSync(${JSON.stringify(go)})) require(${JSON.stringify(WORKER)}); else setTimeout(wait, 20); })();\n`,
    );
    const a = client('window A', { workerScript: gate, startTimeoutMs: 300_000 });
    const cfg = config({ modelPath: w.models.fim });
    let calls = 0;
    let answered = 0;
    const pipeline = new CompletionPipeline({
      engine: {
        async generate(request: FimRequest, options: GenerateOptions) {
          calls++;
          const r = await a.generate(cfg, request, options);
          if (r.stopReason !== 'abort') answered++;
          return r;
        },
      },
      settings: () => ({ maxLines: 8, maxTokens: 48, onBattery: 'normal', debounce: { fixedMs: 2, minMs: 1, maxMs: 600 } }),
    });
    const results: Promise<Suggestion | undefined>[] = [];
    let previous: AbortController | undefined;
    for (let i = 0; i < 200; i++) {
      // Different lines of a story, each typed over the last (no keystroke continues the one before).
      const prefix = i === 199 ? LILY : `${LILY.slice(0, 20 + (i % 37))}${i % 2 ? ' and' : ' or'}`;
      previous?.abort();
      previous = new AbortController();
      results.push(
        pipeline.complete(
          {
            documentKey: 'file:///story.txt',
            languageId: 'plaintext',
            filePath: 'story.txt',
            prefix,
            suffix: '\nThe end.',
            linePrefix: prefix,
            lineSuffix: '',
            manual: false,
          },
          previous.signal,
        ),
      );
      await sleep(3);
    }
    writeFileSync(go, '');
    const last = (await Promise.all(results))[199];
    assert.ok(last && last.text.length > 0, `the last keystroke got ${JSON.stringify(last)}`);
    assert.equal(answered, 1, `${answered} of ${calls} engine requests ran to the end`);
    assert.deepEqual((await a.status()).requests, { finished: 1, aborted: 0, failed: 0 }, 'only the last keystroke reached the worker');
  });

  it('1,000 completion requests fired faster than the engine answers: bounded engine work, all settle, no leak, the last one answers', async function () {
    const a = client('window A');
    const probe = client('probe');
    const cfg = config({ modelPath: w.models.fim });
    await a.load(cfg);
    await probe.status();
    await a.generate(cfg, { kind: 'fim', prefix: LILY, suffix: '', maxTokens: 2 });
    const gc = (v8.setFlagsFromString('--expose-gc'), vm.runInNewContext('gc')) as () => void;
    gc();
    const heapBefore = process.memoryUsage().heapUsed;
    const resourcesBefore = resourceCounts();

    let active = 0;
    let maxActive = 0;
    let answered = 0;
    const engine: CompletionEngine = {
      async generate(request: FimRequest, options: GenerateOptions) {
        maxActive = Math.max(maxActive, ++active);
        try {
          const r = await a.generate(cfg, request, options);
          if (r.stopReason !== 'abort') answered++;
          return r;
        } finally {
          active--;
        }
      },
    };
    const pipeline = new CompletionPipeline({
      engine,
      // A short fixed debounce, so that most keystrokes get past it and reach the engine before the next one.
      settings: () => ({ maxLines: 8, maxTokens: 48, onBattery: 'normal', debounce: { fixedMs: 2, minMs: 1, maxMs: 600 } }),
    });
    let workerMax = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        workerMax = Math.max(workerMax, (await probe.status()).activeRequests);
        await sleep(10);
      }
    })();

    // Typing LILY over and over (the last 57 keystrokes end on it with the real suffix), 0-4 ms apart; each
    // keystroke cancels the previous one's token, as VS Code does.
    const N = 1000;
    const results: Promise<Suggestion | undefined>[] = [];
    let previous: AbortController | undefined;
    for (let i = 0; i < N; i++) {
      const cycle = Math.floor((N - 1 - i) / LILY.length);
      const prefix = LILY.slice(0, LILY.length - ((N - 1 - i) % LILY.length));
      const suffix = cycle === 0 ? '\nThe end.' : `\nThe end, part ${cycle}.`;
      const input: CompletionInput = {
        documentKey: 'file:///story.txt',
        languageId: 'plaintext',
        filePath: 'story.txt',
        prefix,
        suffix,
        linePrefix: prefix,
        lineSuffix: '',
        manual: false,
      };
      previous?.abort();
      previous = new AbortController();
      results.push(pipeline.complete(input, previous.signal));
      await sleep(i % 3 === 0 ? 0 : 4);
    }
    // Only a hang is caught here, generously: on a busy machine this takes many times its idle 5 s.
    let limit: NodeJS.Timeout | undefined;
    const settled = await Promise.race([
      Promise.allSettled(results),
      new Promise<never>((_, reject) => {
        limit = setTimeout(() => reject(new Error('not every request settled within 120 s')), 120_000);
      }),
    ]).finally(() => clearTimeout(limit));
    sampling = false;
    await sampler;

    const rejected = settled.filter((s) => s.status === 'rejected');
    assert.equal(rejected.length, 0, JSON.stringify(rejected.slice(0, 3)));
    const last = settled[N - 1]!;
    assert.ok(last.status === 'fulfilled' && last.value && last.value.text.length > 0, `the last request got ${JSON.stringify(last)}`);
    assert.ok(pipeline.stats.engineCalls > 20, `only ${pipeline.stats.engineCalls} requests reached the engine: the test did not load it`);
    // Bounded by construction, whatever the machine's speed: one engine request per document at a time (a cancelled
    // one ends before the next starts), so the worker never holds more than one of this document's requests.
    assert.equal(maxActive, 1, `${maxActive} engine requests at once from one document`);
    assert.ok(workerMax <= 1, `the worker had ${workerMax} requests at once`);
    // Every engine call ended in the worker as answered or cancelled (how many of each depends on the machine).
    const { requests } = await probe.status();
    assert.equal(requests.failed, 0);
    assert.ok(answered <= requests.finished, `${answered} answered, the worker finished ${requests.finished}`);

    await until('the worker to be idle', async () => (await probe.status()).activeRequests === 0);
    await sleep(50); // the pipeline's next-tick cancellation timers
    const resourcesAfter = resourceCounts();
    for (const [kind, n] of resourcesAfter) {
      assert.ok(
        n <= (resourcesBefore.get(kind) ?? 0),
        `${kind}: ${resourcesBefore.get(kind) ?? 0} before, ${n} after (${[...resourcesAfter].join(', ')})`,
      );
    }
    gc();
    const grown = (process.memoryUsage().heapUsed - heapBefore) / 2 ** 20;
    assert.ok(grown < 20, `the heap grew by ${grown.toFixed(1)} MB`);
  });

  it('a wall clock moved back an hour while a window waits for the worker to start does not make it wait an hour', async () => {
    // A "worker" that starts and never listens.
    const hang = path.join(w.stateDir, 'hang.js');
    writeFileSync(hang, 'setTimeout(() => {}, 30000);\n');
    const a = client('window A', { workerScript: hang, startTimeoutMs: 1500 });
    const realNow = Date.now;
    const t0 = performance.now();
    let outcome: unknown;
    try {
      const pending = a.status();
      Date.now = () => realNow() - HOUR;
      // Waits itself (not through mocha's timeout) so that the clock is put back even when this fails.
      // An hour's wait would show as this; the 1.5 s the window should wait takes longer only on a busy machine.
      outcome = await Promise.race([
        pending.then(
          () => 'started?',
          (e: unknown) => e,
        ),
        sleep(60_000).then(() => 'still waiting after 60 s'),
      ]);
    } finally {
      Date.now = realNow;
    }
    assert.ok(
      outcome instanceof EngineError && outcome.code === 'worker-unavailable' && /did not start within 2 s/.test(outcome.message),
      String(outcome),
    );
    assert.ok(performance.now() - t0 >= 1500, `gave up after ${(performance.now() - t0).toFixed(0)} ms, before its 1.5 s`);
  });

  it("the worker's uptime stays a duration when the wall clock moves back", async () => {
    const server = new EngineServer({
      socketPath: await newSocketPath(),
      lockPath: lockPathFor(w.stateDir),
      keyPath: keyPathFor(w.stateDir),
      idleMs: 60000,
      version: 'test',
      log: () => {},
      loadEngine: () => Promise.reject(new EngineError('model-not-found', 'no model in this test')),
    });
    assert.equal(await server.start(), true);
    const realNow = Date.now;
    try {
      const a = client('window A');
      assert.equal((await a.status()).pid, process.pid, 'served in-process');
      Date.now = () => realNow() - HOUR;
      const s = await a.status();
      // A wall clock moved back an hour would make a wall-clock uptime negative.
      assert.ok(Number.isFinite(s.uptimeMs) && s.uptimeMs >= 0, `uptime ${s.uptimeMs} ms`);
    } finally {
      Date.now = realNow;
      await w.cleanup(); // the in-process server is this process: only its clients go
      await server.stop('test over');
    }
  });
});
