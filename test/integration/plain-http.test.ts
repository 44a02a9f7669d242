// The plain-http rule where connections are made (issue #19): a local server named by a host name (the WSL or
// container host, a .local name) is reached only at the private addresses the name looks up to, and a URL the rule
// refuses is never dialled. Everything here connects to 127.0.0.1 only: names are looked up by a stand-in resolver
// that answers 127.0.0.1, or 0.0.0.0 (refused; were it dialled it would reach this machine, nothing else).
import * as assert from 'node:assert/strict';
import { createHttpBackend } from '../../src/engine/backends';
import type { Resolve } from '../../src/engine/backends/plainHttp';
import { EngineError } from '../../src/engine/errors';
import { sendJson } from '../support/streaming';
import { FakeServer } from '../support/fakeServer';

describe('plain http to a named or refused local server', function () {
  this.timeout(30_000);
  let server: FakeServer;
  let port: number;
  const asked: string[] = [];
  const resolveTo =
    (address: string): Resolve =>
    (hostname, _options, callback) => {
      asked.push(hostname);
      callback(null, [{ address, family: 4 }]);
    };

  beforeEach(async () => {
    asked.length = 0;
    server = await FakeServer.start({ 'GET /v1/models': (_s, res) => sendJson(res, 200, { data: [{ id: 'qwen2.5-coder-1.5b' }] }) });
    port = Number(new URL(server.url).port);
  });
  afterEach(() => server.close());

  async function refusal(p: Promise<unknown>): Promise<string> {
    try {
      await p;
    } catch (e) {
      assert.ok(e instanceof EngineError, String(e));
      assert.equal(e.code, 'backend-unavailable');
      return e.message;
    }
    return assert.fail('expected a refusal');
  }

  it('reaches host.docker.internal at the private address it looks up to, with the name in the Host header', async () => {
    const url = `http://host.docker.internal:${port}`;
    const backend = createHttpBackend('lmstudio', { url, model: 'qwen2.5-coder-1.5b', resolve: resolveTo('127.0.0.1') });
    try {
      assert.equal((await backend.info()).model, 'qwen2.5-coder-1.5b');
    } finally {
      await backend.dispose();
    }
    assert.ok(asked.length > 0 && asked.every((h) => h === 'host.docker.internal'), asked.join());
    assert.equal(server.seen[0]?.headers.host, `host.docker.internal:${port}`);
  });

  it('dials nothing when the name looks up to no private address', async () => {
    const url = `http://mypc.local:${port}`;
    const backend = createHttpBackend('ollama', { url, model: 'm', resolve: resolveTo('0.0.0.0') });
    try {
      assert.equal(
        await refusal(backend.info()),
        `Nothing was sent to ${url}: mypc.local looked up to 0.0.0.0, none of them loopback or private, and plain http goes only to this ` +
          "machine or a private network; use that machine's private address or https in verdant.local.serverUrl.",
      );
    } finally {
      await backend.dispose();
    }
    assert.deepEqual(asked, ['mypc.local']);
    assert.equal(server.connections, 0);
  });

  it('dials nothing for an address the settings would refuse, whoever built the backend', async () => {
    const url = `http://0.0.0.0:${port}`;
    const backend = createHttpBackend('llama-server', { url, model: '' });
    try {
      assert.equal(
        await refusal(backend.generate({ kind: 'completion', prompt: 'x', maxTokens: 4 })),
        `Nothing was sent to ${url}: plain http goes only to this machine or a private network, and 0.0.0.0 is where a server listens, ` +
          'not an address to connect to; change verdant.local.serverUrl.',
      );
    } finally {
      await backend.dispose();
    }
    assert.equal(server.connections, 0);
  });
});
