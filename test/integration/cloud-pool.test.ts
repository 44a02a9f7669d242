// The cloud client pool with the real CloudClient against an OpenAI-compatible stub on 127.0.0.1: requests through
// the pool share one connection; a settings change while an answer streams lets it finish on the old client, which
// is closed (its socket with it) when that request's lease is released; dispose closes the rest. The server counts
// TCP connections and sockets; the factory records each client's close().
import * as assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { CloudClient, type CloudClientOptions } from '../../src/core/cloud/client';
import { CloudClients } from '../../src/core/cloud/pool';
import { FakeServer, type Route } from '../support/fakeServer';
import { sleep, until } from '../support/wait';

const KEY = 'pool-test-key';

const chunk = (model: string, content: string) =>
  `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', model, choices: [{ index: 0, delta: { content }, finish_reason: null }] })}\n\n`;
const finish = (model: string) => `data: ${JSON.stringify({ id: 'c1', model, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] })}\n\n`;
const DONE = 'data: [DONE]\n\n';

const ask = { messages: [{ role: 'user' as const, content: 'Say hello.' }], maxTokens: 32 };

/** An answer in two pieces, the second only once `gate` resolves (at once without one). */
async function answer(res: ServerResponse, model: string, gate?: Promise<void>): Promise<void> {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  res.write(chunk(model, 'Hello'));
  await gate;
  for (const p of [chunk(model, ' world'), finish(model), DONE]) if (!res.destroyed) res.write(p);
  if (!res.destroyed) res.end();
}

/** A gate the test opens. */
function gate(): { opened: Promise<void>; open: () => void } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

describe('CloudClients (the cloud client pool) with CloudClient', function () {
  this.timeout(60_000);
  let server: FakeServer | undefined;
  let clients: CloudClients | undefined;
  /** The model of each client the pool closed, in order. */
  const closed: string[] = [];
  let made = 0;

  function options(model: string): CloudClientOptions {
    assert.ok(server);
    return {
      baseUrl: server.url,
      model,
      apiKey: async () => KEY,
      // Only hangs: a loopback answer on a busy machine may take seconds.
      timeouts: { connectMs: 30_000, headersMs: 30_000, bodyIdleMs: 30_000 },
      retries: { max: 0 },
    };
  }

  async function setup(route: Route): Promise<CloudClients> {
    server = await FakeServer.start(route, '/v1');
    clients = new CloudClients((o) => {
      made++;
      const client = new CloudClient(o);
      const close = client.close.bind(client);
      client.close = async () => {
        closed.push(o.model);
        await close();
      };
      return client;
    });
    return clients;
  }

  afterEach(async () => {
    await clients?.dispose();
    closed.length = 0;
    made = 0;
    try {
      await server?.noOpenSockets();
    } finally {
      await server?.close();
      server = undefined;
      clients = undefined;
    }
  });

  it('sends two requests in a row over one TCP connection', async () => {
    const pool = await setup((seen, res) => answer(res, seen.body.model));
    for (let i = 0; i < 2; i++) {
      const r = await pool.use(options('m1'), (c) => c.chat(ask));
      assert.equal(r.text, 'Hello world');
      // undici frees the connection a tick after the body ends; a request sent in that tick opens another one.
      await sleep(10);
    }
    assert.deepEqual(
      server?.seen.map((s) => s.headers.authorization),
      [`Bearer ${KEY}`, `Bearer ${KEY}`],
      'the key, read per request through the pool',
    );
    assert.equal(server?.connections, 1, "the second request reused the first one's connection");
    assert.equal(made, 1);
    assert.deepEqual(closed, []);
  });

  it('(control) a client per request, as before the pool, opens a connection per request', async () => {
    await setup((seen, res) => answer(res, seen.body.model));
    for (let i = 0; i < 2; i++) {
      const client = new CloudClient(options('m1'));
      try {
        await client.chat(ask);
      } finally {
        await client.close();
      }
    }
    assert.equal(server?.connections, 2);
  });

  it('lets a streaming answer finish across a settings change, then closes the old client and its socket', async () => {
    const first = gate();
    const sockets = new Map<string, Socket>();
    const pool = await setup((seen, res, req) => {
      sockets.set(seen.body.model, req.socket);
      return answer(res, seen.body.model, seen.body.model === 'm1' ? first.opened : undefined);
    });
    const old = pool.acquire(options('m1'));
    let streamed = '';
    const running = old.client.chat(ask, {
      onText: (t) => {
        streamed += t;
      },
    });
    await until('the first piece of the answer', () => streamed === 'Hello');
    const oldSocket = sockets.get('m1');
    assert.ok(oldSocket);
    const oldSocketClosed = new Promise((resolve) => oldSocket.once('close', resolve));

    // The settings change (another model) while the answer streams: a new client, the old one left running.
    const next = pool.acquire(options('m2'));
    assert.notEqual(next.client, old.client);
    assert.equal(pool.open, 2);
    const other = await next.client.chat(ask);
    assert.equal(other.text, 'Hello world');
    await next.release();
    assert.equal(server?.connections, 2, 'the new client has its own connection');
    assert.deepEqual(closed, []);

    first.open();
    const r = await running;
    assert.equal(r.text, 'Hello world', 'the running answer was not cut');
    assert.equal(r.finishReason, 'stop');
    assert.deepEqual(closed, [], 'not closed while its lease is held');

    await old.release();
    assert.deepEqual(closed, ['m1'], 'the old client closed on its last release, the current one kept');
    await oldSocketClosed;
    assert.equal(pool.open, 1);
    assert.equal(pool.inFlight, 0);
    // The current client still serves.
    assert.equal((await pool.use(options('m2'), (c) => c.chat(ask))).text, 'Hello world');
    assert.deepEqual(closed, ['m1']);
  });

  it('dispose closes an idle client at once', async () => {
    const pool = await setup((seen, res) => answer(res, seen.body.model));
    await pool.use(options('m1'), (c) => c.chat(ask));
    await pool.dispose();
    assert.deepEqual(closed, ['m1']);
    await server?.noOpenSockets();
    assert.throws(() => pool.acquire(options('m1')), /disposed/);
  });

  it('dispose lets a running answer finish and closes its client on release', async () => {
    const held = gate();
    const pool = await setup((seen, res) => answer(res, seen.body.model, held.opened));
    const lease = pool.acquire(options('m1'));
    let streamed = '';
    const running = lease.client.chat(ask, {
      onText: (t) => {
        streamed += t;
      },
    });
    await until('the first piece of the answer', () => streamed === 'Hello');
    await pool.dispose();
    assert.deepEqual(closed, [], 'leased: left open');
    held.open();
    assert.equal((await running).text, 'Hello world');
    await lease.release();
    assert.deepEqual(closed, ['m1']);
    await server?.noOpenSockets();
  });
});
