// The cloud client pool's bookkeeping with fake clients: which options make a configuration, when a client is made,
// and that a client is closed once, only when no lease on it is left and it is no longer current (or the pool is
// disposed). The real CloudClient on real sockets is in test/integration/cloud-pool.test.ts.
import * as assert from 'node:assert/strict';
import type { CloudClientOptions } from '../../src/core/cloud/client';
import { CloudClients } from '../../src/core/cloud/pool';

class FakeClient {
  closes = 0;
  constructor(readonly options: CloudClientOptions) {}
  async close(): Promise<void> {
    this.closes++;
  }
}

function pool(): { clients: CloudClients<FakeClient>; made: FakeClient[] } {
  const made: FakeClient[] = [];
  const clients = new CloudClients((o) => {
    const c = new FakeClient(o);
    made.push(c);
    return c;
  });
  return { clients, made };
}

const A: CloudClientOptions = { baseUrl: 'https://a.example/v1', model: 'm1', timeouts: { deadlineMs: 60_000, connectMs: 5_000 } };
const B: CloudClientOptions = { ...A, model: 'm2' };

describe('CloudClients (the cloud client pool)', () => {
  it('shares one client per configuration: the key callback, field order and undefined fields do not count', async () => {
    const { clients, made } = pool();
    const one = clients.acquire({ ...A, apiKey: async () => 'k1' });
    const two = clients.acquire({
      model: 'm1',
      proxyUrl: undefined,
      timeouts: { connectMs: 5_000, deadlineMs: 60_000 },
      baseUrl: 'https://a.example/v1',
      apiKey: async () => 'k2',
    });
    assert.equal(made.length, 1);
    assert.equal(one.client, two.client);
    assert.equal(clients.inFlight, 2);
    await one.release();
    await two.release();
    assert.equal(clients.inFlight, 0);
    assert.equal(made[0]!.closes, 0, 'the current client stays open between requests');
    assert.equal(clients.acquire(A).client, made[0]);
  });

  it('tells every other option apart: endpoint, model, proxy, timeouts, limits, retries; functions by identity', () => {
    const { clients, made } = pool();
    const now = () => 0;
    const variants: CloudClientOptions[] = [
      A,
      B,
      { ...A, baseUrl: 'https://b.example/v1' },
      { ...A, proxyUrl: 'http://proxy:3128' },
      { ...A, proxyUrl: 'http://proxy:3128', noProxy: 'corp' },
      { ...A, timeouts: { deadlineMs: 30_000 } },
      { ...A, limits: { maxResponseBytes: 1024 } },
      { ...A, retries: { max: 0 } },
      { ...A, now },
      { ...A, now: () => 0 },
    ];
    for (const v of variants) clients.acquire(v);
    assert.equal(made.length, variants.length);
    clients.acquire({ ...A, now });
    assert.equal(made.length, variants.length, 'the same function is the same configuration');
  });

  it("reads the key through the latest acquire's callback", async () => {
    const { clients, made } = pool();
    await clients.acquire({ ...A, apiKey: async () => 'old' }).release();
    assert.equal(await made[0]!.options.apiKey?.(), 'old');
    clients.acquire({ ...A, apiKey: async () => 'new' });
    assert.equal(await made[0]!.options.apiKey?.(), 'new');
    clients.acquire(A);
    assert.equal(await made[0]!.options.apiKey?.(), undefined, 'no callback: no key');
  });

  it('closes an idle client as soon as another configuration is acquired', () => {
    const { clients, made } = pool();
    void clients.acquire(A).release();
    clients.acquire(B);
    assert.deepEqual(
      made.map((c) => c.closes),
      [1, 0],
    );
    assert.equal(clients.open, 1);
  });

  it('closes a retired client only when its last lease is released, once', async () => {
    const { clients, made } = pool();
    const first = clients.acquire(A);
    const second = clients.acquire(A);
    const other = clients.acquire(B);
    assert.equal(made.length, 2);
    assert.equal(made[0]!.closes, 0, 'still in use');
    await first.release();
    await first.release(); // a second release of the same lease counts for nothing
    assert.equal(made[0]!.closes, 0, 'one lease left');
    await second.release();
    assert.equal(made[0]!.closes, 1);
    await other.release();
    assert.equal(made[1]!.closes, 0, 'the current one stays');
    assert.equal(clients.open, 1);
  });

  it('brings back a retired client that is still running when its configuration returns', async () => {
    const { clients, made } = pool();
    const running = clients.acquire(A);
    await clients.acquire(B).release();
    const again = clients.acquire(A);
    assert.equal(again.client, made[0]);
    assert.deepEqual(
      made.map((c) => c.closes),
      [0, 1],
      'B was idle: closed when A came back',
    );
    await running.release();
    await again.release();
    assert.equal(made[0]!.closes, 0, 'A is current again');
  });

  it('makes a new client for a configuration whose old client was closed', async () => {
    const { clients, made } = pool();
    await clients.acquire(A).release();
    await clients.acquire(B).release();
    assert.notEqual(clients.acquire(A).client, made[0]);
    assert.equal(made.length, 3);
  });

  it('dispose closes idle clients at once and leased ones on release; acquire then throws', async () => {
    const { clients, made } = pool();
    const retired = clients.acquire(A);
    const current = clients.acquire(B);
    await current.release();
    const leased = clients.acquire(B);
    await clients.dispose();
    assert.deepEqual(
      made.map((c) => c.closes),
      [0, 0],
      'both leased',
    );
    await retired.release();
    await leased.release();
    assert.deepEqual(
      made.map((c) => c.closes),
      [1, 1],
    );
    assert.equal(clients.open, 0);
    assert.throws(() => clients.acquire(A), /disposed/);
    await clients.dispose();
    assert.deepEqual(
      made.map((c) => c.closes),
      [1, 1],
      'closed once',
    );
  });

  it('use() releases however the work ends', async () => {
    const { clients, made } = pool();
    assert.equal(await clients.use(A, async (c) => c.options.model), 'm1');
    await assert.rejects(
      clients.use(A, async () => {
        throw new Error('boom');
      }),
      /boom/,
    );
    assert.equal(clients.inFlight, 0);
    await clients.dispose();
    assert.equal(made[0]!.closes, 1);
  });
});
