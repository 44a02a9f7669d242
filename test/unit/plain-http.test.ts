// Where plain http may go (issue #19): a local inference server on this machine, the Windows host of WSL, the host of
// a dev container or another machine on the user's own network; never a public address, whatever a name looks up
// to. The cloud endpoint keeps its loopback-only rule. No test here opens a connection.
import * as assert from 'node:assert/strict';
import type { LookupAddress } from 'node:dns';
import { addressScope, plainHttpHost } from '../../src/core/net/address';
import { checkEndpoint, checkServerUrl, readSettings } from '../../src/core/settings';
import { describeFailure, type FailureContext } from '../../src/engine/backends/http';
import { llamaServerProfile } from '../../src/engine/backends/llamaServer';
import { ollamaProfile } from '../../src/engine/backends/ollama';
import { openAiProfile } from '../../src/engine/backends/openaiCompatible';
import { plainHttpGuard, PlainHttpRefused, privateLookup, type Resolve } from '../../src/engine/backends/plainHttp';

describe('plain http to a local server', () => {
  describe('addressScope', () => {
    const cases: Record<string, readonly string[]> = {
      loopback: ['127.0.0.1', '127.255.0.9', '::1', '::ffff:127.0.0.1'],
      private: ['10.0.0.1', '10.255.255.255', '172.16.0.1', '172.31.255.254', '192.168.1.20', 'fd12:3456::1', 'fc00::1', '::ffff:192.168.1.2'],
      'link-local': ['169.254.1.2', 'fe80::1'],
      shared: ['100.64.0.1', '100.127.255.255', '100.100.100.100'],
      unspecified: ['0.0.0.0', '::', '0.1.2.3'],
      public: ['8.8.8.8', '172.15.255.255', '172.32.0.1', '192.169.0.1', '100.63.255.255', '100.128.0.1', '203.0.113.7', '2001:db8::1', 'not-an-ip'],
    };
    for (const [scope, ips] of Object.entries(cases)) {
      it(`${scope}: ${ips.join(', ')}`, () => {
        for (const ip of ips) assert.equal(addressScope(ip), scope, ip);
      });
    }
  });

  describe('plainHttpHost (URL host names)', () => {
    it('accepts loopback, private and link-local addresses as they are, and looks the known names up', () => {
      for (const host of ['127.0.0.1', '[::1]', '10.0.0.8', '172.28.64.1', '192.168.1.20', '[fd00::5]', '[fe80::1]', '169.254.3.4']) {
        assert.deepEqual(plainHttpHost(host), { ok: true, lookup: false }, host);
      }
      for (const host of [
        'localhost',
        'LOCALHOST',
        'ollama.localhost',
        'host.docker.internal',
        'host.containers.internal',
        'mypc.local',
        'mypc.local.',
      ]) {
        assert.deepEqual(plainHttpHost(host), { ok: true, lookup: true }, host);
      }
    });
    it('refuses public, shared and unspecified addresses and any other name, saying which', () => {
      const refused = (host: string) => {
        const r = plainHttpHost(host);
        assert.equal(r.ok, false, host);
        return r.ok ? '' : `${r.scope}: ${r.reason}`;
      };
      assert.equal(refused('203.0.113.7'), 'public: 203.0.113.7 is a public address');
      assert.equal(refused('[2001:db8::1]'), 'public: 2001:db8::1 is a public address');
      assert.equal(
        refused('100.101.102.103'),
        "shared: 100.101.102.103 is in 100.64.0.0/10, shared by carrier-grade NAT and VPNs such as Tailscale, so it may cross a provider's network",
      );
      assert.equal(refused('0.0.0.0'), 'unspecified: 0.0.0.0 is where a server listens, not an address to connect to');
      for (const name of ['gpu.example.com', 'gpubox', 'local', 'host.docker.internal.example.com', 'evil-localhost.com', 'docker.internal']) {
        assert.match(
          refused(name),
          /^name: .* is not this machine, a container host \(host\.docker\.internal, host\.containers\.internal\), a \.local name or a private address$/,
        );
      }
    });
  });

  describe('checkServerUrl (verdant.local.serverUrl)', () => {
    it('accepts what a WSL, dev-container or LAN user points it at', () => {
      for (const [text, url] of [
        ['http://127.0.0.1:11434', 'http://127.0.0.1:11434'],
        ['http://172.28.64.1:11434/', 'http://172.28.64.1:11434'],
        ['http://host.docker.internal:1234/v1', 'http://host.docker.internal:1234/v1'],
        ['http://host.containers.internal:8080', 'http://host.containers.internal:8080'],
        ['http://Studio.local:1234', 'http://studio.local:1234'],
        ['http://[fd7a:115c:a1e0::1]:11434', 'http://[fd7a:115c:a1e0::1]:11434'],
        ['https://llm.example.com/v1', 'https://llm.example.com/v1'],
      ]) {
        assert.deepEqual(checkServerUrl(text!), { ok: true, url }, text);
      }
    });
    it('refuses plain http to a public address, naming https and an SSH tunnel as the fix', () => {
      assert.deepEqual(checkServerUrl('http://203.0.113.7:11434'), {
        ok: false,
        reason:
          'plain http goes only to this machine or a private network, and 203.0.113.7 is a public address; use https://203.0.113.7:11434, ' +
          'or an SSH tunnel to it (ssh -N -L 11434:127.0.0.1:11434 <that machine>) and http://127.0.0.1:11434.',
      });
    });
    it('refuses an unknown name, suggesting the machine’s private address first', () => {
      assert.deepEqual(checkServerUrl('http://gpu.example.com:8080/v1'), {
        ok: false,
        reason:
          'plain http goes only to this machine or a private network, and gpu.example.com is not this machine, a container host ' +
          "(host.docker.internal, host.containers.internal), a .local name or a private address; use that machine's private address, " +
          'https://gpu.example.com:8080/v1, or an SSH tunnel to it (ssh -N -L 8080:127.0.0.1:8080 <that machine>) and http://127.0.0.1:8080.',
      });
    });
    it('refuses carrier-grade NAT (and Tailscale) addresses, and 0.0.0.0 with the address to use instead', () => {
      const r = checkServerUrl('http://100.101.102.103:11434');
      assert.equal(r.ok, false);
      assert.match(r.ok ? '' : r.reason, /is in 100\.64\.0\.0\/10, .*; use https:\/\/100\.101\.102\.103:11434, or an SSH tunnel/);
      assert.deepEqual(checkServerUrl('http://0.0.0.0:1234'), {
        ok: false,
        reason:
          'plain http goes only to this machine or a private network, and 0.0.0.0 is where a server listens, not an address to connect to; ' +
          'use http://127.0.0.1:1234 for a server on this machine, or the address of the machine it runs on.',
      });
    });
    it('refuses credentials, other schemes and text that is not a URL', () => {
      assert.deepEqual(checkServerUrl('http://me:pw@192.168.1.20:11434'), { ok: false, reason: 'the URL contains a credential; remove it.' });
      assert.deepEqual(checkServerUrl('ftp://192.168.1.20/'), { ok: false, reason: '"ftp:" is not supported; use an https:// URL.' });
      assert.deepEqual(checkServerUrl('ollama'), { ok: false, reason: '"ollama" is not a URL; use e.g. http://127.0.0.1:11434.' });
    });
    it('is the rule of verdant.local.serverUrl only: the cloud endpoint and the Carbon Aware SDK stay loopback-only', () => {
      for (const url of ['http://192.168.1.20:8080/v1', 'http://host.docker.internal:8080/v1', 'http://mypc.local/v1']) {
        assert.equal(checkEndpoint(url).ok, false, url);
        const { settings, problems } = readSettings((k) => ({ 'local.serverUrl': url, 'cloud.endpoint': url, 'carbon.carbonAwareSdkUrl': url })[k]);
        assert.equal(settings.local.serverUrl, url);
        assert.deepEqual([settings.cloud.endpoint, settings.carbon.carbonAwareSdkUrl], ['', '']);
        assert.deepEqual(
          problems.map((p) => p.key),
          ['verdant.cloud.endpoint', 'verdant.carbon.carbonAwareSdkUrl'],
        );
        assert.match(problems[0]!.message, /plain http is allowed only to this machine; use https:/);
      }
    });
  });

  describe('looking a name up (the connection side)', () => {
    const answers =
      (addresses: readonly string[]): Resolve =>
      (_host, options, callback) => {
        assert.equal(options.all, true);
        callback(
          null,
          addresses.map((address): LookupAddress => ({ address, family: address.includes(':') ? 6 : 4 })),
        );
      };
    const lookUp = (resolve: Resolve, all: boolean) =>
      new Promise<{ err: Error | null; address: unknown; family?: number }>((resolve_) =>
        privateLookup(resolve)('mypc.local', { all }, (err, address, family) => resolve_({ err, address, family })),
      );

    it('keeps only the private addresses of a name (a .local name often has a public IPv6 one too)', async () => {
      const mixed = answers(['2001:db8::7', '192.168.1.20', 'fd00::7']);
      assert.deepEqual((await lookUp(mixed, true)).address, [
        { address: '192.168.1.20', family: 4 },
        { address: 'fd00::7', family: 6 },
      ]);
      const one = await lookUp(mixed, false);
      assert.deepEqual([one.err, one.address, one.family], [null, '192.168.1.20', 4]);
    });
    it('fails before connecting when a name has no private address', async () => {
      const { err } = await lookUp(answers(['203.0.113.7', '2001:db8::7']), true);
      assert.ok(err instanceof PlainHttpRefused);
      assert.deepEqual(
        [err.code, err.message],
        ['ERR_VERDANT_PLAIN_HTTP', 'mypc.local looked up to 203.0.113.7, 2001:db8::7, none of them loopback or private'],
      );
    });
    it('passes a lookup failure on as it is', async () => {
      const notFound = Object.assign(new Error('getaddrinfo ENOTFOUND mypc.local'), { code: 'ENOTFOUND' });
      const { err } = await lookUp((_h, _o, callback) => callback(notFound, []), true);
      assert.equal(err, notFound);
    });
    it('guards each kind of URL: https untouched, a private address as it is, a name looked up privately, a public address refused', () => {
      assert.deepEqual(plainHttpGuard('https://llm.example.com/v1'), {});
      assert.deepEqual(plainHttpGuard('http://192.168.1.20:11434'), {});
      assert.equal(typeof plainHttpGuard('http://host.docker.internal:11434').lookup, 'function');
      assert.deepEqual(plainHttpGuard('http://203.0.113.7:11434'), {
        refusal: 'plain http goes only to this machine or a private network, and 203.0.113.7 is a public address',
      });
    });
    it('says nothing was sent and what the name looked up to', () => {
      const ctx: FailureContext = {
        profile: { product: 'Ollama', startCommand: 'ollama serve', modelHint: () => '' },
        url: 'http://mypc.local:11434',
        connectTimeoutMs: 5000,
        timeoutMs: 60000,
        idleMs: 30000,
        secrets: [],
      };
      const err = describeFailure(ctx, new Error('fetch failed', { cause: new PlainHttpRefused('mypc.local', ['203.0.113.7']) }), 'm');
      assert.equal(err.code, 'backend-unavailable');
      assert.equal(
        err.message,
        'Nothing was sent to http://mypc.local:11434: mypc.local looked up to 203.0.113.7, none of them loopback or private, and plain http goes only to ' +
          "this machine or a private network; use that machine's private address or https in verdant.local.serverUrl.",
      );
    });
  });

  describe('a server on another machine that does not answer', () => {
    const ctxAt = (url: string, profile: FailureContext['profile']): FailureContext => ({
      profile,
      url,
      connectTimeoutMs: 5000,
      timeoutMs: 60000,
      idleMs: 30000,
      secrets: [],
    });
    const failure = (code: string) => Object.assign(new Error(code), { code });

    it('says how to make it take connections from other machines, and names the firewall', () => {
      const ollama = ctxAt('http://172.28.64.1:11434', ollamaProfile('http://172.28.64.1:11434'));
      assert.equal(
        describeFailure(ollama, new Error('fetch failed', { cause: failure('ECONNREFUSED') }), 'm').message,
        'Ollama is not running at http://172.28.64.1:11434, or takes no connections from other machines: on that machine, start it listening ' +
          "on the network (`OLLAMA_HOST=0.0.0.0:11434 ollama serve`, or OLLAMA_HOST in the Ollama app's environment) and let port 11434 " +
          'through its firewall, or change verdant.local.serverUrl.',
      );
      assert.equal(
        describeFailure(ollama, failure('UND_ERR_CONNECT_TIMEOUT'), 'm').message,
        'Ollama did not accept a connection at http://172.28.64.1:11434 within 5 s: on that machine, start it listening on the network ' +
          "(`OLLAMA_HOST=0.0.0.0:11434 ollama serve`, or OLLAMA_HOST in the Ollama app's environment) and let port 11434 through its firewall; " +
          'check that verdant.local.serverUrl is right.',
      );
      const lmStudio = ctxAt('http://host.docker.internal:1234', openAiProfile('lmstudio', 'http://host.docker.internal:1234', 'm'));
      assert.match(
        describeFailure(lmStudio, failure('ECONNREFUSED'), 'm').message,
        /: on that machine, turn on "Serve on Local Network" in its server settings and let port 1234 through its firewall, or change/,
      );
      const llama = ctxAt('http://mypc.local:8081', llamaServerProfile('http://mypc.local:8081'));
      assert.match(describeFailure(llama, failure('EHOSTUNREACH'), 'm').message, /\(`llama-server -m <model\.gguf> --host 0\.0\.0\.0 --port 8081`\)/);
    });
    it('keeps the start command for a server on this machine', () => {
      const local = ctxAt('http://127.0.0.1:11434', ollamaProfile('http://127.0.0.1:11434'));
      assert.equal(
        describeFailure(local, failure('ECONNREFUSED'), 'm').message,
        'Ollama is not running at http://127.0.0.1:11434: start it with `ollama serve`, or change verdant.local.serverUrl.',
      );
    });
  });
});
