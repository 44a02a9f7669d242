// Hardening, security: a distinctive fake API key must never show up in what Verdant prints, logs, records or
// exports. `verdant ask` runs as a real process against a fake OpenAI-compatible server on 127.0.0.1 that answers
// normally, refuses the key and echoes it back, sends garbage, or resets the connection; stdout, stderr, every
// file the CLI could write under its (temporary) home and ledger folder, and `verdant report` CSV/JSON are scanned.
// Also the CloudClient's errors when the key sits in the endpoint URL or in the server's answer, and downloads whose
// bytes were tampered with (sha256 mismatch: an error, and nothing left on disk).
import * as assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { inspect } from 'node:util';
import { Agent } from 'undici';
import { cloudSciRecord } from '../../src/core/carbon/cloudRecord';
import { Ledger } from '../../src/core/carbon/ledger';
import { CloudClient, CloudError } from '../../src/core/cloud/client';
import { checkEndpoint, readSettings } from '../../src/core/settings';
import { EngineError } from '../../src/engine/errors';
import { downloadFile } from '../../src/engine/models/download';
import { runCliProcess } from '../support/cli';
import { FakeServer, type Route } from '../support/fakeServer';

const KEY = `sk-verdant-SECRET-${randomBytes(12).toString('hex')}`;
/** Parts a careless redaction could leave behind. */
const KEY_TAIL = KEY.slice(-16);

function assertNoKey(text: string, where: string): void {
  assert.ok(!text.includes(KEY), `${where} contains the API key:\n${text.slice(0, 2000)}`);
  assert.ok(!text.includes(KEY_TAIL), `${where} contains the end of the API key:\n${text.slice(0, 2000)}`);
}

/** Every regular file under `dir`, recursively. */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((f) => path.join(dir, f))
    .filter((f) => statSync(f).isFile());
}

const MODEL = 'llama-3.3-70b-instruct';
const sse = (res: http.ServerResponse, events: readonly unknown[]) => {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  for (const e of events) res.write(`data: ${typeof e === 'string' ? e : JSON.stringify(e)}\n\n`);
  res.end('data: [DONE]\n\n');
};
const echoAuth = (seen: { headers: http.IncomingHttpHeaders }) => String(seen.headers.authorization ?? '(none)');

/** What the fake server does, by scenario; each is run in text and in --json mode. */
const SCENARIOS: Readonly<Record<string, { route: Route; code: number }>> = {
  'answers normally, echoing the key in its text and as its model name': {
    code: 0,
    route: (seen, res) =>
      sse(res, [
        { model: KEY, choices: [{ delta: { content: `You sent ${echoAuth(seen)}. ` } }] },
        { model: KEY, choices: [{ delta: { content: 'Use a Map.' }, finish_reason: 'stop' }], usage: { prompt_tokens: 12, completion_tokens: 4 } },
      ]),
  },
  'answers with one JSON body that echoes the key': {
    code: 0,
    route: (seen, res) => {
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ model: KEY, choices: [{ message: { content: `auth was ${echoAuth(seen)}` }, finish_reason: 'stop' }] }));
    },
  },
  '401 echoing the Authorization header (JSON)': {
    code: 1,
    route: (seen, res) => {
      res
        .writeHead(401, { 'content-type': 'application/json' })
        .end(JSON.stringify({ error: { message: `Invalid Authorization header: ${echoAuth(seen)}`, key: KEY } }));
    },
  },
  '401 echoing the key (plain text and a header)': {
    code: 1,
    route: (seen, res) => {
      res
        .writeHead(401, { 'content-type': 'text/plain', 'www-authenticate': `Bearer error="${KEY}"` })
        .end(`Unauthorized: key ${KEY} (${echoAuth(seen)}) is not valid`);
    },
  },
  '403 HTML page dumping the request headers': {
    code: 1,
    route: (seen, res) => {
      res
        .writeHead(403, { 'content-type': 'text/html' })
        .end(`<html><body><h1>Forbidden</h1><pre>${JSON.stringify(seen.headers)}</pre></body></html>`);
    },
  },
  '429 with a long Retry-After, echoing the key': {
    code: 1,
    route: (_seen, res) => {
      res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '3600' }).end(JSON.stringify({ error: `rate limit for ${KEY}` }));
    },
  },
  '500 with garbage bytes around the key': {
    code: 1,
    route: (_seen, res) => {
      res.writeHead(500, { 'content-type': 'application/octet-stream' }).end(Buffer.concat([randomBytes(64), Buffer.from(KEY), randomBytes(64)]));
    },
  },
  'garbage in the event stream': {
    code: 1,
    route: (seen, res) => sse(res, [`{not json ${KEY}`, `{"choices": "${echoAuth(seen)}"`]),
  },
  'an error object inside the stream that echoes the key': {
    code: 1,
    route: (seen, res) => sse(res, [{ error: { message: `upstream rejected ${echoAuth(seen)}`, type: 'server_error' } }]),
  },
  'garbage instead of JSON': {
    code: 1,
    route: (_seen, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end(`<<<${KEY}>>> \u0000\u0001 not json`);
    },
  },
  'resets the connection at once': {
    code: 1,
    route: (_seen, _res, req) => {
      req.socket.destroy();
    },
  },
  'resets the connection after streaming the key': {
    code: 1,
    route: (seen, res, req) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(`data: ${JSON.stringify({ choices: [{ delta: { content: `header ${echoAuth(seen)}` } }] })}\n\n`, () =>
        setTimeout(() => req.socket.destroy(), 20),
      );
    },
  },
};

describe('hardening: the API key never leaks', function () {
  this.timeout(60_000);
  let home: string;
  let env: NodeJS.ProcessEnv;
  const transcripts: string[] = [];

  before(() => {
    home = mkdtempSync(path.join(os.tmpdir(), 'verdant-hardening-home-'));
    // Everything the CLI could write goes under `home`: the ledger folder (src/cli/paths.ts) and VS Code's user data.
    env = {
      PATH: process.env.PATH,
      HOME: home,
      USERPROFILE: home,
      APPDATA: path.join(home, 'AppData'),
      XDG_CONFIG_HOME: path.join(home, '.config'),
      XDG_DATA_HOME: path.join(home, '.local', 'share'),
      VERDANT_LEDGER_DIR: path.join(home, 'ledger'),
      VERDANT_API_KEY: KEY,
      TMPDIR: path.join(home, 'tmp'),
    };
    mkdirSync(env.TMPDIR!, { recursive: true });
  });
  after(() => {
    rmSync(home, { recursive: true, force: true });
  });

  for (const [name, { route, code }] of Object.entries(SCENARIOS)) {
    it(`verdant ask: ${name}`, async () => {
      const server = await FakeServer.start(route, '/v1');
      try {
        const question = `Why is my key ${KEY} refused?`;
        const modes = [[], ['--json']];
        // Both modes at once: the retries after a reset or a 500 wait out real backoff.
        const runs = await Promise.all(
          modes.map((mode) => runCliProcess(['ask', '--endpoint', server.url, '--model', MODEL, '--zone', 'FR', ...mode, question], env)),
        );
        for (const [i, mode] of modes.entries()) {
          const r = runs[i]!;
          transcripts.push(r.stdout, r.stderr);
          const what = `${name} ${mode.join(' ')}`;
          assert.equal(r.code, code, `${what}: exit ${r.code}\n${r.stdout}\n${r.stderr}`);
          if (code !== 0) assert.match(mode.length ? JSON.parse(r.stdout).error : r.stderr, /\S/, `${what}: says what went wrong`);
          assertNoKey(r.stdout, `${what}: stdout`);
          assertNoKey(r.stderr, `${what}: stderr`);
          if (code === 0 && mode.length) {
            // Record it the way the extension does, from what the command reported (the model the server named, when
            // the catalog knows it).
            const o = JSON.parse(r.stdout);
            assertNoKey(o.model, `${what}: model`);
            const facts = {
              feature: 'ask',
              endpoint: server.url,
              tokensIn: o.promptTokens,
              tokensOut: o.completionTokens,
              latencyMs: o.ms,
              at: Date.now(),
              localZone: 'FR',
            };
            let record;
            try {
              record = cloudSciRecord({ ...facts, model: o.model });
            } catch {
              record = cloudSciRecord({ ...facts, model: MODEL });
            }
            await new Ledger({ dir: env.VERDANT_LEDGER_DIR! }).append(record);
          }
        }
        assert.ok(server.seen.length >= 2, 'the server was asked');
        for (const seen of server.seen) {
          assert.equal(seen.headers.authorization, `Bearer ${KEY}`, 'the key goes in the Authorization header');
          // The key the user pasted into the question is redacted before it leaves the machine.
          assertNoKey(JSON.stringify(seen.body ?? ''), `${name}: the request body`);
        }
      } finally {
        await server.close();
      }
    });
  }

  it('leaves the key in no file under its home or ledger folder, and in no report export', async () => {
    assert.ok(transcripts.length >= 2 * 2 * Object.keys(SCENARIOS).length);
    const files = filesUnder(home);
    assert.ok(
      files.some((f) => f.startsWith(env.VERDANT_LEDGER_DIR!)),
      'the ledger has records to scan',
    );
    for (const f of files) assertNoKey(readFileSync(f, 'latin1'), f);
    for (const args of [['report', '--csv'], ['report', '--json'], ['report']]) {
      const r = await runCliProcess(args, env);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(r.stdout.length > 0);
      assertNoKey(r.stdout + r.stderr, args.join(' '));
    }
    const json = JSON.parse((await runCliProcess(['report', '--json'], env)).stdout);
    assert.equal(json.ledger, env.VERDANT_LEDGER_DIR, 'the CLI read the ledger from VERDANT_LEDGER_DIR');
    assert.ok(json.total.count >= 2);
    assertNoKey(await new Ledger({ dir: env.VERDANT_LEDGER_DIR! }).export('json'), 'the JSON export');
  });

  it("never sends the user's own key inside the question, whatever it looks like", async () => {
    const plainKey = 'plain-verdant-password-7731';
    const server = await FakeServer.start((_seen, res) => sse(res, [{ choices: [{ delta: { content: 'ok' }, finish_reason: 'stop' }] }]), '/v1');
    try {
      const r = await runCliProcess(['ask', '--endpoint', server.url, '--model', MODEL, '--json', `my key is ${plainKey}, is that safe?`], {
        ...env,
        VERDANT_API_KEY: plainKey,
      });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(server.seen[0]!.headers.authorization, `Bearer ${plainKey}`);
      assert.ok(!JSON.stringify(server.seen[0]!.body).includes(plainKey), 'the key went out inside the prompt');
      assert.equal(JSON.parse(r.stdout).redactions, 1);
    } finally {
      await server.close();
    }
  });

  it('refuses an endpoint with the key in it without echoing the key', async () => {
    const endpoints = [
      `http://user:${KEY}@127.0.0.1:9/v1`,
      `http://127.0.0.1:9/v1?api_key=${KEY}`,
      `https://api.example.com/v1?key=${KEY}`,
      `http://127.0.0.1:99999/v1?token=${KEY}`, // does not parse as a URL (port), and still must not be echoed
      `http://:${KEY}@[::1:9/v1`,
    ];
    for (const endpoint of endpoints) {
      const r = await runCliProcess(['ask', '--endpoint', endpoint, '--model', MODEL, 'hi'], env);
      assert.equal(r.code, 2, `${endpoint}: ${r.stderr}`);
      assert.match(r.stderr, /^verdant: The cloud endpoint URL contains a credential: remove it from verdant\.cloud\.endpoint/);
      assertNoKey(r.stdout + r.stderr, endpoint);
    }
  });
});

describe('hardening: CloudClient errors never carry the key', function () {
  this.timeout(60_000);
  const HI = { messages: [{ role: 'user' as const, content: 'hi' }], maxTokens: 16 };
  const options = {
    model: MODEL,
    apiKey: async () => KEY,
    retries: { max: 0 },
    timeouts: { connectMs: 30_000, headersMs: 30_000, bodyIdleMs: 30_000 },
  };

  async function failure(p: Promise<unknown>): Promise<CloudError> {
    try {
      await p;
    } catch (e) {
      assert.ok(e instanceof CloudError, `expected a CloudError, got ${inspect(e)}`);
      return e;
    }
    assert.fail('expected a rejection');
  }

  /** The message, and the whole error as a log would print it (causes included). */
  function assertClean(e: CloudError, where: string): void {
    assertNoKey(e.message, `${where}: message`);
    assertNoKey(inspect(e, { depth: 6 }), `${where}: inspected error`);
    assertNoKey(String(e.partialText ?? ''), `${where}: partial text`);
  }

  it('with the key in the endpoint URL: refused before any request, the key not echoed', async () => {
    let requests = 0;
    const server = await FakeServer.start(() => {
      requests++;
    });
    try {
      const port = new URL(server.url).port;
      for (const baseUrl of [
        `http://u:${KEY}@127.0.0.1:${port}/v1`,
        `http://${KEY}@127.0.0.1:${port}/v1`,
        `http://127.0.0.1:${port}/v1?api_key=${KEY}`,
        `http://127.0.0.1:${port}/v1?key=${KEY}`,
        `http://127.0.0.1:999999/v1?api-key=${KEY}`,
        KEY,
        `api.example.com/v1 ${KEY}`,
        `Bearer ${KEY}`, // the key pasted into the endpoint field
      ]) {
        const client = new CloudClient({ ...options, baseUrl });
        try {
          const e = await failure(client.chat(HI));
          assert.equal(e.code, 'insecure', baseUrl);
          assert.match(e.message, /credential|is not a URL/, baseUrl);
          assertClean(e, baseUrl);
          const test = await client.testConnection();
          assert.equal(test.ok, false);
          assertNoKey(test.message, `${baseUrl}: testConnection`);
        } finally {
          await client.close();
        }
      }
      assert.equal(requests, 0, 'nothing was sent');
    } finally {
      await server.close();
    }
    // The settings refuse the same URLs, and their problem messages do not echo the key either.
    for (const url of [
      `https://u:${KEY}@api.example.com/v1`,
      `https://api.example.com/v1?api_key=${KEY}`,
      `https://api.example.com:99999/v1?key=${KEY}`,
      KEY,
      `api.example.com/v1 ${KEY}`,
      `http://192.0.2.7/${KEY}/v1`,
    ]) {
      const r = checkEndpoint(url);
      assert.equal(r.ok, false, url);
      if (!r.ok) assertNoKey(r.reason, url);
      const { problems } = readSettings((k) => (k === 'cloud.endpoint' ? url : undefined));
      assert.equal(problems.length, 1);
      assertNoKey(problems[0]!.message, url);
    }
  });

  it('with the key echoed in every kind of answer: chat and testConnection errors are redacted', async () => {
    for (const [name, { route, code }] of Object.entries(SCENARIOS)) {
      const server = await FakeServer.start({ 'POST /v1/chat/completions': route, 'GET /v1/models': route }, '/v1');
      const client = new CloudClient({ ...options, baseUrl: server.url });
      try {
        if (code === 0) {
          const r = await client.chat(HI);
          assertNoKey(`${r.text} ${r.model}`, name);
        } else {
          assertClean(await failure(client.chat(HI)), name);
          const test = await client.testConnection();
          assert.equal(test.ok, false, name);
          assertNoKey(test.message + JSON.stringify(test.models ?? []), `${name}: testConnection`);
        }
      } finally {
        await client.close();
        await server.close();
      }
    }
  });
});

describe('hardening: downloads are sha256-verified', function () {
  this.timeout(60_000);
  const FILE = randomBytes(300_000);
  const SHA = createHash('sha256').update(FILE).digest('hex');
  let dir: string;
  let server: http.Server;
  let url: string;
  let agent: Agent;
  let body: Buffer = FILE;

  before(async () => {
    server = http.createServer((req, res) => {
      const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
      const start = m ? Number(m[1]) : 0;
      if (start >= body.length) return void res.writeHead(416, { 'content-range': `bytes */${body.length}` }).end();
      res.writeHead(m ? 206 : 200, {
        'content-length': body.length - start,
        ...(m ? { 'content-range': `bytes ${start}-${body.length - 1}/${body.length}` } : {}),
      });
      res.end(body.subarray(start));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/model.gguf`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'verdant-hardening-dl-'));
    agent = new Agent();
    body = FILE;
  });
  afterEach(async () => {
    await agent.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function mismatch(dest: string, expectedBytes?: number): Promise<void> {
    await assert.rejects(
      downloadFile({ url, dest, sha256: SHA, ...(expectedBytes ? { expectedBytes } : {}) }, { dispatcher: agent }),
      (e: unknown) => {
        assert.ok(e instanceof EngineError, String(e));
        assert.equal(e.code, 'checksum-mismatch');
        assert.match(e.message, /^model\.gguf was corrupted in transit \(sha256 [0-9a-f]{64}, expected [0-9a-f]{64}\); download it again\.$/);
        return true;
      },
    );
    assert.equal(existsSync(dest), false, 'no model file is left');
    assert.equal(existsSync(`${dest}.part`), false, 'no partial file is left');
  }

  it('one flipped byte in transit: an error, and nothing left on disk', async () => {
    body = Buffer.from(FILE);
    body[body.length - 1]! ^= 1;
    await mismatch(path.join(dir, 'model.gguf'), FILE.length);
  });

  it('tampered bytes in a complete .part from an earlier run: the same, without trusting it', async () => {
    const dest = path.join(dir, 'model.gguf');
    const part = Buffer.from(FILE);
    part[1000]! ^= 0x80;
    writeFileSync(`${dest}.part`, part);
    await mismatch(dest, FILE.length);
  });

  it('tampered bytes in the kept prefix of a resumed download: caught over the whole file', async () => {
    const dest = path.join(dir, 'model.gguf');
    const prefix = Buffer.from(FILE.subarray(0, 100_000));
    prefix[10]! ^= 0xff;
    writeFileSync(`${dest}.part`, prefix);
    await mismatch(dest, FILE.length);
    // And a clean retry then succeeds.
    const r = await downloadFile({ url, dest, sha256: SHA, expectedBytes: FILE.length }, { dispatcher: agent });
    assert.equal(r.bytes, FILE.length);
    assert.ok(readFileSync(dest).equals(FILE));
  });
});
