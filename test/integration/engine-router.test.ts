// The router classifier served by the engine worker (protocol v3 'route'): a real dist/engine-worker.js process on
// the real onnxruntime-node against the TS reference forward pass, malformed requests over a raw socket, and an
// in-process EngineServer whose model file is corrupt, then fixed (retry after a failed load).
import * as assert from 'node:assert/strict';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadWeights, referenceForward, type RouterWeights } from '../../src/core/routing/classifier';
import { FEATURE_COUNT, featureVector, type RoutingInput } from '../../src/core/routing/features';
import { authenticate, EngineClient } from '../../src/engine/client';
import { EngineError } from '../../src/engine/errors';
import { engineKey, keyPathFor } from '../../src/engine/handshake';
import { lockPathFor, pidAlive, readLock } from '../../src/engine/lock';
import { MAX_ROUTE_ROWS, type WorkerMessage } from '../../src/engine/protocol';
import { currentOwner, newSocketPath } from '../../src/engine/rendezvous';
import { OnnxRouter } from '../../src/engine/router/onnxRouter';
import { EngineServer, type RouterModel } from '../../src/engine/server';
import { readRouterVectors } from '../support/routerVectors';

const vectors = readRouterVectors();

const WORKER = path.resolve('dist/engine-worker.js');
const DATA = path.resolve('src', 'core', 'routing', 'model');
const expectedProvider = (p: string) => (process.platform === 'win32' ? ['dml', 'cpu'].includes(p) : p === 'cpu');

/** A client that writes raw lines after the real handshake, to send what EngineClient never would. */
class RawConnection {
  private readonly inbox: WorkerMessage[] = [];
  private wake: (() => void) | undefined;
  private socket: net.Socket | undefined;

  static async open(stateDir: string): Promise<RawConnection> {
    const lock = await readLock(lockPathFor(stateDir));
    assert.ok(lock, 'a worker holds the lock');
    const conn = new RawConnection();
    const key = await engineKey(keyPathFor(stateDir), currentOwner());
    conn.socket = (
      await authenticate(lock.socket, key, 'raw test', (m) => {
        conn.inbox.push(m);
        conn.wake?.();
      })
    ).socket;
    return conn;
  }

  /** An object is sent as JSON; a string as is (JSON can't carry NaN or Infinity, a hand-written line can). */
  send(message: unknown): void {
    this.socket!.write((typeof message === 'string' ? message : JSON.stringify(message)) + '\n');
  }

  async next(ms = 60_000): Promise<WorkerMessage> {
    const end = Date.now() + ms;
    while (this.inbox.length === 0) {
      if (Date.now() > end) throw new Error('no message from the engine');
      await new Promise<void>((r) => {
        this.wake = r;
        setTimeout(r, 50);
      });
    }
    return this.inbox.shift()!;
  }

  close(): void {
    this.socket?.destroy();
  }
}

function rowsFrom(inputs: RoutingInput[]): Float32Array[] {
  const varied = [new Float32Array(FEATURE_COUNT), new Float32Array(FEATURE_COUNT).fill(0.5), new Float32Array(FEATURE_COUNT).fill(1)];
  return [...inputs.map((input) => featureVector(input, vectors)), ...varied];
}

describe('router classifier served by the engine worker', function () {
  this.timeout(60_000);
  let weights: RouterWeights;
  let rows: Float32Array[];
  let tmp: string;

  before(async () => {
    weights = loadWeights(await readFile(path.join(DATA, 'router-weights.json'), 'utf8'));
    const inputs = (await readFile(path.join(DATA, 'eval.jsonl'), 'utf8'))
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => (JSON.parse(l) as { input: RoutingInput }).input);
    rows = rowsFrom(inputs.filter((_, i) => i % 5 === 0));
  });
  beforeEach(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'verdant-route-'));
  });
  afterEach(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  const assertMatchesReference = (p: readonly number[], features: readonly Float32Array[]) => {
    assert.equal(p.length, features.length);
    const worst = Math.max(...p.map((x, i) => Math.abs(x - referenceForward(weights, features[i]!))));
    assert.ok(worst <= 1e-5, `max |worker - reference| = ${worst}`);
  };

  describe('real worker process', () => {
    let client: EngineClient | undefined;
    afterEach(async () => {
      const pid = (await readLock(lockPathFor(tmp)))?.pid;
      client?.dispose();
      client = undefined;
      if (pid && pidAlive(pid)) process.kill(pid, 'SIGKILL');
    });

    it('answers a route batch like the TS reference, on cpu, and reports the router in its status', async () => {
      client = new EngineClient({ stateDir: tmp, workerScript: WORKER, clientName: 'router test', idleMs: 3000 });
      const before = await client.status();
      assert.equal(before.router, null, 'nothing loads the router before the first route');
      // The worker stays light until routing is used: onnxruntime-node is required inside OnnxRouter.load().
      const ortMapped = async () => /onnxruntime/.test(await readFile(`/proc/${before.pid}/maps`, 'utf8'));
      if (process.platform === 'linux') assert.equal(await ortMapped(), false, 'onnxruntime is loaded before the first route');
      const { p, provider } = await client.route(rows);
      assertMatchesReference(p, rows);
      assert.ok(new Set(p.map((x) => x.toFixed(3))).size > 3, `varied answers: ${p.join(', ')}`);
      assert.ok(expectedProvider(provider), provider);
      if (process.platform === 'linux') assert.equal(await ortMapped(), true, 'the worker, not this process, runs onnxruntime');
      const status = await client.status();
      assert.ok(status.router);
      assert.equal(status.router.provider, provider);
      // A duration, not a negative number or NaN (how long it takes is bench router's business).
      assert.ok(Number.isFinite(status.router.loadMs) && status.router.loadMs >= 0, String(status.router.loadMs));
      assert.equal(status.lastError, null);

      // More rows than one message may carry: the client splits them and keeps the order.
      const many = Array.from({ length: MAX_ROUTE_ROWS + 300 }, (_, i) => rows[i % rows.length]!);
      assertMatchesReference((await client.route(many)).p, many);
    });

    it('answers malformed route messages with bad-request and keeps serving', async () => {
      client = new EngineClient({ stateDir: tmp, workerScript: WORKER, clientName: 'router test', idleMs: 3000 });
      await assert.rejects(
        client.route([new Float32Array(FEATURE_COUNT).fill(Number.NaN)]),
        (e: unknown) => e instanceof EngineError && e.code === 'bad-request' && /row 0 feature 0 is NaN/.test(e.message),
      );
      await assert.rejects(client.route([new Float32Array(3)]), (e: unknown) => e instanceof EngineError && e.code === 'bad-request');
      const pid = (await client.status()).pid;

      const raw = await RawConnection.open(tmp);
      try {
        const good = Array.from(rows[0]!);
        const bad: [string, unknown][] = [
          ['short row', { type: 'route', id: 11, features: [good.slice(1)] }],
          ['NaN (null in JSON)', { type: 'route', id: 12, features: [[Number.NaN, ...good.slice(1)]] }],
          ['Infinity', `{"type":"route","id":13,"features":[[1e999${',0'.repeat(FEATURE_COUNT - 1)}]]}`],
          ['a string', { type: 'route', id: 14, features: [['0.5', ...good.slice(1)]] }],
          ['no rows', { type: 'route', id: 15, features: [] }],
          ['too many rows', { type: 'route', id: 16, features: Array.from({ length: MAX_ROUTE_ROWS + 1 }, () => good) }],
          ['not an array', { type: 'route', id: 17, features: { 0: good } }],
        ];
        for (const [what, message] of bad) {
          raw.send(message);
          const answer = await raw.next();
          assert.equal(answer.type, 'error', what);
          assert.equal(answer.type === 'error' && answer.error.code, 'bad-request', what);
          assert.equal(answer.type === 'error' && answer.id, 11 + bad.findIndex(([w]) => w === what), `${what}: the id is echoed`);
        }
        raw.send({ type: 'route', id: 20, features: [good] });
        const answer = await raw.next();
        assert.equal(answer.type, 'routed');
        assertMatchesReference(answer.type === 'routed' ? answer.p : [], [rows[0]!]);
      } finally {
        raw.close();
      }
      assertMatchesReference((await client.route(rows)).p, rows);
      assert.equal((await client.status()).pid, pid, 'the same worker still serves');
    });
  });

  describe('in-process server', () => {
    let server: EngineServer | undefined;
    let client: EngineClient | undefined;
    const logs: string[] = [];
    const start = async (loadRouter?: () => Promise<RouterModel>) => {
      server = new EngineServer({
        socketPath: await newSocketPath(),
        lockPath: lockPathFor(tmp),
        keyPath: keyPathFor(tmp),
        idleMs: 3_600_000,
        version: 'test',
        log: (m) => logs.push(m),
        loadEngine: () => Promise.reject(new Error('no model in this test')),
        loadRouter,
      });
      assert.equal(await server.start(), true);
      // The lock names this process, which is alive, so the client dials this server rather than spawning a worker.
      client = new EngineClient({ stateDir: tmp, workerScript: WORKER, clientName: 'in-process test' });
      return client;
    };
    afterEach(async () => {
      client?.dispose();
      client = undefined;
      await server?.stop('test done');
      server = undefined;
      logs.length = 0;
    });

    it('reports a corrupt model once per load with the fix, and retries once the file is fixed', async () => {
      const model = path.join(tmp, 'router.onnx');
      await writeFile(model, 'this is not an onnx model\n');
      let loads = 0;
      let disposed = 0;
      // The first load waits until all three first requests have reached the server, so they meet one load in
      // progress whatever the order of their arrival (long rows can arrive in several reads).
      let release = () => {};
      const gate = new Promise<void>((resolve) => (release = resolve));
      const c = await start(async () => {
        loads++;
        await gate;
        const r = await OnnxRouter.load(model);
        return {
          predict: (f) => r.predict(f),
          providers: r.providers,
          dispose: async () => {
            disposed++;
            await r.dispose();
          },
        };
      });

      // Concurrent first requests share one load, and each gets the same one clear error.
      const pending = [1, 2, 3].map(() =>
        c.route(rows).then(
          () => undefined,
          (e: unknown) => e,
        ),
      );
      // One socket, read in order: the answer to a status sent after them means the server has read all three.
      await c.status();
      release();
      const failures = await Promise.all(pending);
      assert.equal(loads, 1);
      for (const e of failures) {
        assert.ok(e instanceof EngineError, String(e));
        assert.equal(e.code, 'router-unavailable');
        assert.match(
          e.message,
          /^Could not load the router model .*router\.onnx \(not a valid ONNX model: corrupt or truncated\?\); rebuild it with 'node scripts\/build-router-model\.mjs'/,
        );
      }
      let status = await c.status();
      assert.equal(status.router, null);
      assert.equal(status.lastError?.code, 'router-unavailable');

      await copyFile(path.join(DATA, 'router.onnx'), model);
      const [first, second] = await Promise.all([c.route(rows), c.route(rows.slice(0, 2))]);
      assert.equal(loads, 2, 'the failed load was forgotten and retried once');
      assertMatchesReference(first.p, rows);
      assertMatchesReference(second.p, rows.slice(0, 2));
      assert.ok(expectedProvider(first.provider), first.provider);
      status = await c.status();
      assert.equal(status.router?.provider, first.provider);
      assert.equal(status.lastError, null, 'a router that loads clears its own earlier error');
      await c.route(rows);
      assert.equal(loads, 2, 'loaded once, then reused');

      await server!.stop('test done');
      server = undefined;
      assert.equal(disposed, 1, 'stop() releases the session');
      assert.ok(
        logs.some((l) => /router load failed: Could not load the router model/.test(l)),
        logs.join('\n'),
      );
    });

    it('answers router-unavailable when the server has no router', async () => {
      const c = await start();
      await assert.rejects(
        c.route(rows),
        (e: unknown) => e instanceof EngineError && e.code === 'router-unavailable' && /no router classifier/.test(e.message),
      );
      assert.ok((await c.status()).pid > 0, 'still serving');
    });
  });
});
