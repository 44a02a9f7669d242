// The green-cloud client against real node:http servers on 127.0.0.1 that inject the faults a cloud API and the
// networks in between produce: events split mid-JSON, multi-line data, comments, servers that will not stream,
// slow headers, stalls and resets mid-stream, malformed events, in-stream errors, 429/5xx with Retry-After, refused
// keys, unknown models, proxies. After every case the client is closed and the server must see no open socket.
import * as assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { CloudClient, CloudError, type CloudClientOptions } from '../../src/core/cloud/client';
import { bypassesProxy, isLoopbackHost } from '../../src/core/cloud/endpoint';
import { transportFailure, type FailureContext } from '../../src/core/cloud/failures';
import { backoffMs, DEFAULT_RETRY_POLICY, parseRetryAfter } from '../../src/core/cloud/retry';
import { aborted, pour, sendJson, shred as shredText, streamAndStall, streamBody, trickle } from '../support/streaming';
import { FakeServer, type Route } from '../support/fakeServer';

const KEY = 'sk-test-4f9c2b7e1d0a';
const MODEL = 'green-coder-32b';

const chunk = (content: string, extra: Record<string, unknown> = {}) =>
  `data: ${JSON.stringify({
    id: 'c1',
    object: 'chat.completion.chunk',
    model: MODEL,
    choices: [{ index: 0, delta: { content }, finish_reason: null }],
    ...extra,
  })}\n\n`;
const finish = (reason = 'stop') =>
  `data: ${JSON.stringify({ id: 'c1', model: MODEL, choices: [{ index: 0, delta: {}, finish_reason: reason }] })}\n\n`;
const usageChunk = (p: number, c: number) =>
  `data: ${JSON.stringify({ id: 'c1', model: MODEL, choices: [], usage: { prompt_tokens: p, completion_tokens: c, total_tokens: p + c } })}\n\n`;
const DONE = 'data: [DONE]\n\n';

const sse = (res: ServerResponse, parts: readonly string[], delayMs = 1) => streamBody(res, 'text/event-stream', parts, delayMs);
const shred = (text: string, size = 11) => shredText(text, size);
const json = sendJson;

const completion = (content: string, usage = true) => ({
  id: 'c2',
  object: 'chat.completion',
  model: MODEL,
  choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
  ...(usage ? { usage: { prompt_tokens: 12, completion_tokens: 3 } } : {}),
});

async function rejection(p: Promise<unknown>): Promise<CloudError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof CloudError, `expected a CloudError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected a rejection');
}

const ask = { messages: [{ role: 'user' as const, content: 'Write a haiku about wind power.' }], maxTokens: 64 };

// ---------------------------------------------------------------------------------------------------------------

describe('CloudClient', function () {
  this.timeout(60_000);
  let server: FakeServer | undefined;
  let client: CloudClient | undefined;
  const sleeps: number[] = [];

  /** A server with `route` and a client for it; sleeps are recorded and skipped, so backoff costs no time. */
  async function setup(route: Route, options: Partial<CloudClientOptions> = {}): Promise<{ server: FakeServer; client: CloudClient }> {
    server = await FakeServer.start(route, '/v1');
    client = new CloudClient({
      baseUrl: server.url,
      model: MODEL,
      apiKey: async () => KEY,
      // Only hangs: a loopback answer on a busy machine may take seconds. The timeout tests set their own.
      timeouts: { connectMs: 30_000, headersMs: 30_000, bodyIdleMs: 30_000 },
      retries: { max: 2, baseDelayMs: 100, maxDelayMs: 1000, maxRetryAfterMs: 5000 },
      random: () => 0.5,
      sleep: async (ms) => {
        sleeps.push(ms);
      },
      ...options,
    });
    return { server, client };
  }

  afterEach(async () => {
    sleeps.length = 0;
    await client?.close();
    // The client's close must leave nothing open on the server side.
    try {
      await server?.noOpenSockets();
    } finally {
      await server?.close();
      server = undefined;
      client = undefined;
    }
  });

  describe('streaming', () => {
    it('reads an answer split mid-JSON across writes, with multi-line data and comments, and the final usage', async () => {
      const body = [
        ': keep-alive\n\n',
        chunk('Wind turns '),
        // One event whose JSON spans two data lines (joined with "\n", which JSON allows between tokens).
        `data: {"id":"c1","model":"${MODEL}",\ndata: "choices":[{"index":0,"delta":{"content":"the blades"},"finish_reason":null}]}\n\n`,
        ': still here\n\n',
        chunk(' at dawn.'),
        finish(),
        usageChunk(21, 7),
        DONE,
      ].join('');
      const { server: s, client: c } = await setup((_seen, res) => sse(res, shred(body)));
      const pieces: string[] = [];
      const r = await c.chat(ask, { onText: (t) => pieces.push(t) });
      assert.equal(r.text, 'Wind turns the blades at dawn.');
      assert.deepEqual(pieces, ['Wind turns ', 'the blades', ' at dawn.']);
      assert.equal(r.finishReason, 'stop');
      assert.equal(r.model, MODEL);
      assert.deepEqual(r.usage, { promptTokens: 21, completionTokens: 7, counted: false });
      assert.equal(r.attempts, 1);
      assert.equal(r.endpointHost, new URL(s.url).host);
      assert.ok(r.ttftMs >= 0 && r.ttftMs <= r.ms);
      const seen = s.seen[0]!;
      assert.equal(seen.path, '/v1/chat/completions');
      assert.equal(seen.headers.authorization, `Bearer ${KEY}`);
      assert.ok(!seen.path.includes(KEY));
      assert.equal(seen.body.model, MODEL);
      assert.equal(seen.body.stream, true);
      assert.deepEqual(seen.body.stream_options, { include_usage: true });
      assert.equal(seen.body.max_tokens, 64);
    });

    it('estimates usage (chars / 4) and says so when the stream has none', async () => {
      const { client: c } = await setup((_seen, res) => sse(res, [chunk('abcdefgh'), chunk('ij'), finish('length'), DONE]));
      const r = await c.chat(ask);
      assert.equal(r.text, 'abcdefghij');
      assert.equal(r.finishReason, 'length');
      assert.deepEqual(r.usage, { promptTokens: Math.ceil(ask.messages[0]!.content.length / 4), completionTokens: 3, counted: true });
    });

    it('reuses one keep-alive connection for consecutive requests, and close() ends it', async () => {
      const { server: s, client: c } = await setup((_seen, res) => sse(res, [chunk('ok'), finish(), DONE]));
      await c.chat(ask);
      // undici frees the connection a tick after the body ends; a request sent in that tick opens another one.
      await sleep(10);
      await c.chat(ask);
      assert.equal(s.connections, 1);
      assert.equal(s.sockets.size, 1);
      await c.close();
      await s.noOpenSockets();
    });
  });

  describe('non-streaming fallback', () => {
    it('asks again without streaming after a 400 about streaming, and does not try to stream again', async () => {
      const { server: s, client: c } = await setup((seen, res) => {
        if (seen.body.stream) json(res, 400, { error: { message: 'stream is not supported for this model', type: 'invalid_request_error' } });
        else json(res, 200, completion('Hello there.'));
      });
      const pieces: string[] = [];
      const r = await c.chat(ask, { onText: (t) => pieces.push(t) });
      assert.equal(r.text, 'Hello there.');
      assert.deepEqual(pieces, ['Hello there.']);
      assert.deepEqual(r.usage, { promptTokens: 12, completionTokens: 3, counted: false });
      assert.equal(r.attempts, 2);
      assert.deepEqual(
        s.seen.map((x) => x.body.stream),
        [true, false],
      );
      assert.equal(s.seen[1]!.body.stream_options, undefined);
      await c.chat(ask);
      assert.deepEqual(
        s.seen.map((x) => x.body.stream),
        [true, false, false],
      );
      assert.deepEqual(sleeps, []);
    });

    it("keeps a hostile server's token counts within what was sent and received", async () => {
      const answer = (usage: object) => ({ ...completion('Short answer.'), usage });
      let next: object = {};
      const { client: c } = await setup((_seen, res) => json(res, 200, answer(next)));
      const sentBytes = Buffer.byteLength(ask.messages[0]!.content);
      next = { prompt_tokens: 1e15, completion_tokens: 1e15 };
      const huge = await c.chat(ask);
      assert.ok(huge.usage.promptTokens <= sentBytes + 16 + 64, `prompt ${huge.usage.promptTokens}`);
      assert.equal(huge.usage.completionTokens, ask.maxTokens, 'no more than max_tokens (the answer is shorter)');
      next = { prompt_tokens: -40, completion_tokens: -5 };
      const negative = await c.chat(ask);
      assert.ok(negative.usage.promptTokens > 0 && negative.usage.completionTokens > 0, JSON.stringify(negative.usage));
      next = { prompt_tokens: 9, completion_tokens: 4 };
      assert.deepEqual((await c.chat(ask)).usage, { promptTokens: 9, completionTokens: 4, counted: false }, 'plausible counts are kept');
    });

    it('reads a JSON answer to a streaming request, estimating usage when absent', async () => {
      const { server: s, client: c } = await setup((_seen, res) => json(res, 200, completion('Plain JSON.', false)));
      const r = await c.chat(ask);
      assert.equal(r.text, 'Plain JSON.');
      assert.equal(r.usage.counted, true);
      assert.equal(s.seen.length, 1);
    });
  });

  describe('timeouts', () => {
    it('fails with a timeout when the headers are slow, without retrying, and closes the socket', async () => {
      // The server never answers: only the 150 ms headers timeout can end the request.
      const { server: s, client: c } = await setup(() => new Promise<void>(() => {}), {
        timeouts: { connectMs: 1000, headersMs: 150, bodyIdleMs: 2000 },
      });
      const e = await rejection(c.chat(ask));
      assert.equal(e.code, 'timeout');
      assert.match(e.message, /did not start answering within 0\.2 s/);
      assert.equal(s.seen.length, 1);
      await s.noOpenSockets();
    });

    it('fails with a timeout when a stream stalls mid-way, keeping the partial text, and closes the socket', async () => {
      const { server: s, client: c } = await setup(
        async (_seen, res) => {
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.write(chunk('Partial '));
          res.write(chunk('answer'));
          // The stall lasts until the client hangs up: only its 200 ms body timeout can end the request.
          await new Promise((resolve) => res.on('close', resolve));
        },
        { timeouts: { connectMs: 30_000, headersMs: 30_000, bodyIdleMs: 200 } },
      );
      const pieces: string[] = [];
      const e = await rejection(c.chat(ask, { onText: (t) => pieces.push(t) }));
      assert.equal(e.code, 'idle-timeout');
      assert.match(e.message, /stopped sending for 0\.2 s in the middle of the answer/);
      assert.equal(e.partialText, 'Partial answer');
      assert.equal(pieces.join(''), 'Partial answer');
      assert.equal(s.seen.length, 1, 'no retry after text was streamed');
      await s.noOpenSockets();
    });
  });

  describe('broken streams', () => {
    it('fails with partialText and no retry when the connection is reset mid-stream', async () => {
      const { server: s, client: c } = await setup(async (_seen, res, req) => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write(chunk('Half an '));
        res.write(chunk('answer'));
        await sleep(20);
        req.socket.destroy();
      });
      const e = await rejection(c.chat(ask));
      assert.equal(e.code, 'network');
      assert.match(e.message, /failed in the middle of the answer/);
      assert.equal(e.partialText, 'Half an answer');
      assert.equal(s.seen.length, 1);
      assert.deepEqual(sleeps, []);
    });

    it('retries a reset that comes before any text', async () => {
      const { server: s, client: c } = await setup(async (_seen, res, req) => {
        if (s.seen.length === 1) {
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.write(': opening\n\n');
          await sleep(20);
          req.socket.destroy();
          return;
        }
        await sse(res, [chunk('Second time lucky.'), finish(), DONE]);
      });
      const r = await c.chat(ask);
      assert.equal(r.text, 'Second time lucky.');
      assert.equal(r.attempts, 2);
      assert.deepEqual(sleeps, [50]); // full jitter: 0.5 x min(1000, 100 x 2^0)
    });

    it('reports a malformed event (bad JSON) as a bad response', async () => {
      const { client: c } = await setup((_seen, res) => sse(res, [chunk('ok '), 'data: {"choices": [\n\n', DONE]));
      const e = await rejection(c.chat(ask));
      assert.equal(e.code, 'bad-response');
      assert.match(e.message, /malformed answer \(a line that is not JSON\)/);
      assert.equal(e.partialText, 'ok ');
    });

    it('reports an error object inside the stream with the server message, key redacted', async () => {
      const { client: c } = await setup((_seen, res) =>
        sse(res, [chunk('Once '), `data: ${JSON.stringify({ error: { message: `upstream overloaded for key ${KEY}`, type: 'server_error' } })}\n\n`]),
      );
      const e = await rejection(c.chat(ask));
      assert.equal(e.code, 'server');
      assert.match(e.message, /reported an error while answering \(upstream overloaded for key \*\*\*\)/);
      assert.ok(!e.message.includes(KEY));
      assert.equal(e.partialText, 'Once ');
    });

    it('reports an `event: error` event too', async () => {
      const { client: c } = await setup((_seen, res) => sse(res, ['event: error\ndata: {"message":"quota exceeded"}\n\n']));
      const e = await rejection(c.chat(ask));
      assert.equal(e.code, 'server');
      assert.match(e.message, /quota exceeded/);
      assert.equal(e.partialText, undefined);
    });

    it('treats a stream that ends without [DONE] or a finish reason as cut short', async () => {
      const { client: c } = await setup((_seen, res) => sse(res, [chunk('Cut ')]));
      const e = await rejection(c.chat(ask));
      assert.equal(e.code, 'bad-response');
      assert.match(e.message, /ended before the answer was complete/);
      assert.equal(e.partialText, 'Cut ');
    });
  });

  describe('hostile endpoints', () => {
    // Caps small enough that a test server pours far more than them; each pour stops when the client hangs up.
    const SMALL = { maxResponseBytes: 64 * 1024, maxEventBytes: 64 * 1024 };
    const POURED = 64 * 2 ** 20;
    const KIB = 'x'.repeat(1024);
    const sseHead = (res: ServerResponse) => res.writeHead(200, { 'content-type': 'text/event-stream' });
    const jsonHead = (res: ServerResponse, status = 200) => res.writeHead(status, { 'content-type': 'application/json' });

    it('stops reading a JSON answer, a model list and an error body at their caps, and hangs up', async () => {
      const written: Promise<number>[] = [];
      let mode: 'answer' | 'models' | 'error' = 'answer';
      const { server: s, client: c } = await setup(
        (seen, res) => {
          if (mode === 'error') {
            res.writeHead(500, { 'content-type': 'text/html' });
            written.push(pour(res, `<p>${KIB}</p>`, POURED));
          } else if (seen.path === '/v1/models') {
            jsonHead(res);
            res.write('{"object":"list","data":[');
            written.push(pour(res, `{"id":"${KIB}"},`, POURED));
          } else {
            jsonHead(res);
            res.write('{"choices":[{"message":{"content":"');
            written.push(pour(res, KIB, POURED));
          }
        },
        { limits: SMALL, retries: { max: 0 } },
      );

      const tooLarge = await rejection(c.chat({ ...ask, stream: false }));
      assert.equal(tooLarge.code, 'response-too-large');
      assert.match(tooLarge.message, /sent an answer of more than 64 KiB: check that verdant\.cloud\.endpoint points to an OpenAI-compatible API/);
      await s.seen[0]!.closedEarly;

      mode = 'models';
      const test = await c.testConnection();
      assert.equal(test.ok, false);
      assert.match(test.message, /more than 64 KiB/);
      assert.equal(s.seen.length, 2, 'the model was not asked after the list failed');
      await s.seen[1]!.closedEarly;

      mode = 'error';
      const server = await rejection(c.chat(ask));
      assert.equal(server.code, 'server');
      assert.equal(server.status, 500);
      await s.seen[2]!.closedEarly;
      for (const w of await Promise.all(written)) assert.ok(w < POURED, `the server wrote ${w} bytes: the client read on`);
    });

    it('fails with event-too-large on a streamed line or event past the cap, keeping the text before it', async () => {
      const written: Promise<number>[] = [];
      const { server: s, client: c } = await setup(
        (_seen, res) => {
          sseHead(res);
          res.write(chunk('Before '));
          // One endless data line; then one event of endless short data lines (no blank line ends it).
          written.push(s.seen.length === 1 ? pour(res, KIB, POURED) : pour(res, `data: ${KIB}\n`, POURED));
        },
        { limits: SMALL },
      );
      for (const i of [0, 1]) {
        const e = await rejection(c.chat(ask));
        assert.equal(e.code, 'event-too-large');
        assert.match(e.message, /sent a streamed event of more than 64 KiB: check that verdant\.cloud\.endpoint points to an OpenAI-compatible API/);
        assert.equal(e.partialText, 'Before ');
        await s.seen[i]!.closedEarly;
      }
      assert.equal(s.seen.length, 2, 'no retry after text was streamed');
      for (const w of await Promise.all(written)) assert.ok(w < POURED, `the server wrote ${w} bytes: the client read on`);
    });

    it('ends a stream that runs past maxTokens at maxTokens x 16 characters: the text so far, finish reason "length"', async () => {
      let written: Promise<number> | undefined;
      const { server: s, client: c } = await setup((_seen, res) => {
        sseHead(res);
        written = pour(res, chunk('word '), POURED); // never a finish reason, never [DONE]
      });
      const pieces: string[] = [];
      const r = await c.chat({ ...ask, maxTokens: 8 }, { onText: (t) => pieces.push(t) });
      assert.equal(r.finishReason, 'length');
      assert.equal(r.text, 'word '.repeat(26).slice(0, 8 * 16));
      assert.equal(pieces.join(''), r.text, 'what was shown is what is returned');
      await s.seen[0]!.closedEarly;
      assert.ok((await written!) < POURED);
    });

    it('cuts a non-streamed answer longer than maxTokens allows the same way', async () => {
      const { client: c } = await setup((_seen, res) => json(res, 200, completion('y'.repeat(5000))));
      const r = await c.chat({ ...ask, maxTokens: 8, stream: false });
      assert.equal(r.finishReason, 'length');
      assert.equal(r.text, 'y'.repeat(128));
    });

    it('fails with idle-timeout when a stream sends only keep-alive comments and blank lines after its text', async () => {
      const { server: s, client: c } = await setup(
        (_seen, res) => {
          sseHead(res);
          res.write(chunk('Hello'));
          // Bytes every 50 ms but never data: only the client's 300 ms data-idle timeout can end the request.
          void trickle(res, ': ping\n\n\n', 50);
        },
        { timeouts: { connectMs: 30_000, headersMs: 30_000, bodyIdleMs: 300 } },
      );
      const e = await rejection(c.chat(ask));
      assert.equal(e.code, 'idle-timeout');
      assert.match(e.message, /stopped sending for 0\.3 s in the middle of the answer/);
      assert.equal(e.partialText, 'Hello');
      await s.seen[0]!.closedEarly;
    });

    it('fails with deadline when a stream trickles data forever, headers never come, or a backoff outlasts it', async () => {
      const { server: s, client: c } = await setup(
        (_seen, res) => {
          if (s.seen.length === 1) {
            sseHead(res);
            // Data (an empty delta) every 50 ms: never idle, never done; only the 500 ms deadline can end it.
            void trickle(res, chunk(''), 50);
          } else if (s.seen.length === 3) {
            json(res, 503, { error: 'busy' });
          } // the second request is never answered
        },
        {
          timeouts: { connectMs: 30_000, headersMs: 30_000, bodyIdleMs: 30_000, deadlineMs: 500 },
          // A ten-minute backoff with the real sleep: only the deadline can end the third call's wait.
          sleep: undefined,
          retries: { max: 3, baseDelayMs: 600_000, maxDelayMs: 600_000 },
          random: () => 0.99,
        },
      );
      for (const i of [0, 1, 2]) {
        const e = await rejection(c.chat(ask));
        assert.equal(e.code, 'deadline', `call ${i}: ${e.message}`);
        assert.match(e.message, /did not finish answering within 0\.5 s: try again/);
        if (i < 2) await s.seen[i]!.closedEarly;
      }
      assert.equal(s.seen.length, 3);
    });
  });

  describe('nothing escapes raw', () => {
    it('bad UTF-8 is read as U+FFFD, and a stream cut mid-event is a bad response, not an exception', async () => {
      const bytes = (...parts: (string | number[])[]) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))));
      const { client: c } = await setup((seen, res) => {
        res.writeHead(200, { 'content-type': seen.body.stream ? 'text/event-stream' : 'application/json' });
        if (seen.body.stream) res.end(bytes(chunk('ok '), 'data: {"choices":[{"delta":{"content":"', [0xff, 0xc3]));
        else res.end(bytes('{"choices":[{"message":{"content":"', [0xff, 0xfe], '"},"finish_reason":"stop"}]}'));
      });
      assert.equal((await c.chat({ ...ask, stream: false })).text, '\ufffd\ufffd');
      const e = await rejection(c.chat(ask));
      assert.equal(e.code, 'bad-response');
      assert.equal(e.partialText, 'ok ');
    });

    it("maps any other error thrown while reading to a CloudError naming its kind; an onText callback's own error is its own", async () => {
      const ctx: FailureContext = {
        host: 'api.example',
        model: MODEL,
        secrets: [KEY],
        timeouts: { connectMs: 1, headersMs: 1, bodyIdleMs: 1, deadlineMs: 1 },
        hadKey: true,
        usingProxy: false,
      };
      const e = transportFailure(ctx, new RangeError('Invalid string length'), 'so far');
      assert.ok(e instanceof CloudError);
      assert.equal(e.code, 'bad-response');
      assert.match(
        e.message,
        /sent an answer Verdant could not read \(RangeError\): try again, and check that verdant\.cloud\.endpoint is an OpenAI-compatible API/,
      );
      assert.equal(e.partialText, 'so far');
      const { client: c } = await setup((_seen, res) => sse(res, [chunk('one '), chunk('two '), finish(), DONE]));
      const mine = new TypeError("the caller's own bug");
      await assert.rejects(
        c.chat(ask, {
          onText: () => {
            throw mine;
          },
        }),
        (x: unknown) => x === mine,
      );
    });
  });

  describe('retries', () => {
    it('honours Retry-After in seconds on 429, then succeeds', async () => {
      const { server: s, client: c } = await setup((_seen, res) => {
        if (s.seen.length === 1) json(res, 429, { error: { message: 'Rate limit reached' } }, { 'retry-after': '2' });
        else void sse(res, [chunk('Done.'), finish(), DONE]);
      });
      const r = await c.chat(ask);
      assert.equal(r.text, 'Done.');
      assert.equal(r.attempts, 2);
      assert.deepEqual(sleeps, [2000]);
    });

    it('honours Retry-After as an HTTP date against the injected clock', async () => {
      const now = Date.parse('2025-06-01T12:00:00Z');
      const { server: s, client: c } = await setup(
        (_seen, res) => {
          if (s.seen.length === 1) json(res, 503, { error: 'overloaded' }, { 'retry-after': 'Sun, 01 Jun 2025 12:00:03 GMT' });
          else json(res, 200, completion('Later.'));
        },
        { now: () => now },
      );
      const r = await c.chat(ask);
      assert.equal(r.text, 'Later.');
      assert.deepEqual(sleeps, [3000]);
    });

    it('fails at once, saying when to retry, when Retry-After exceeds the cap', async () => {
      const now = Date.parse('2025-06-01T12:00:00Z');
      const { server: s, client: c } = await setup(
        (_seen, res) => json(res, 429, { error: { message: 'Too many requests' } }, { 'retry-after': '3600' }),
        { now: () => now },
      );
      const e = await rejection(c.chat(ask));
      assert.equal(e.code, 'rate-limited');
      assert.equal(e.status, 429);
      assert.equal(e.retryAfterMs, 3_600_000);
      assert.match(e.message, /asks to wait 3600 s: try again after 2025-06-01T13:00:00Z/);
      assert.equal(s.seen.length, 1);
      assert.deepEqual(sleeps, []);
    });

    it('retries a 500 with full-jitter backoff, then succeeds', async () => {
      const { server: s, client: c } = await setup((_seen, res) => {
        if (s.seen.length <= 2) json(res, s.seen.length === 1 ? 500 : 502, { error: { message: 'internal error' } });
        else void sse(res, [chunk('Third.'), finish(), DONE]);
      });
      const r = await c.chat(ask);
      assert.equal(r.text, 'Third.');
      assert.equal(r.attempts, 3);
      assert.deepEqual(sleeps, [50, 100]);
    });

    it('gives up after the last retry with the server error', async () => {
      const { server: s, client: c } = await setup((_seen, res) => json(res, 503, { error: { message: 'model overloaded' } }));
      const e = await rejection(c.chat(ask));
      assert.equal(e.code, 'server');
      assert.equal(e.status, 503);
      assert.match(e.message, /failed \(HTTP 503: model overloaded\): try again in a moment/);
      assert.equal(s.seen.length, 3);
    });

    it('retries a refused connection, then says the host refused it', async () => {
      const { server: s } = await setup(() => undefined);
      const port = new URL(s.url).port;
      await s.close();
      server = undefined;
      client = new CloudClient({
        baseUrl: `http://127.0.0.1:${port}/v1`,
        model: MODEL,
        retries: { max: 1 },
        sleep: async (ms) => {
          sleeps.push(ms);
        },
      });
      const e = await rejection(client.chat(ask));
      assert.equal(e.code, 'network');
      assert.match(e.message, /refused the connection/);
      assert.equal(sleeps.length, 1);
    });
  });

  describe('refusals', () => {
    it('401: no retry, names the command, never shows the key even when the server echoes it', async () => {
      const { server: s, client: c } = await setup((_seen, res) =>
        json(res, 401, { error: { message: `Incorrect API key provided: ${KEY}. You can find your API key at https://example.com/keys.` } }),
      );
      const e = await rejection(c.chat(ask));
      assert.equal(e.code, 'unauthorized');
      assert.equal(e.status, 401);
      assert.match(e.message, /refused the API key .*: set it again with Verdant: Set Cloud API Key\.$/);
      assert.ok(!e.message.includes(KEY) && !e.message.includes(KEY.slice(0, 10)), e.message);
      assert.ok(!String(e.stack).includes(KEY));
      assert.equal(s.seen.length, 1);
    });

    it('401 without a stored key asks to set one', async () => {
      const { server: s, client: c } = await setup((_seen, res) => json(res, 401, { error: 'missing key' }), { apiKey: async () => undefined });
      const e = await rejection(c.chat(ask));
      assert.equal(e.code, 'unauthorized');
      assert.match(e.message, /needs an API key .*: set it with Verdant: Set Cloud API Key\./);
      assert.equal(s.seen[0]!.headers.authorization, undefined);
    });

    it('404 for the model names the model', async () => {
      const { client: c } = await setup((_seen, res) =>
        json(res, 404, { error: { message: `The model \`${MODEL}\` does not exist`, code: 'model_not_found' } }),
      );
      const e = await rejection(c.chat(ask));
      assert.equal(e.code, 'not-found');
      assert.match(e.message, new RegExp(`has no model "${MODEL}".*check verdant\\.cloud\\.model`));
    });

    it('refuses plain http to another host before any request', async () => {
      let dispatched = 0;
      for (const baseUrl of ['http://api.example.com/v1', 'http://10.0.0.7:8080/v1', 'ftp://example.com']) {
        const c = new CloudClient({
          baseUrl,
          model: MODEL,
          apiKey: async () => {
            dispatched++;
            return KEY;
          },
        });
        const e = await rejection(c.chat(ask));
        assert.equal(e.code, 'insecure');
        assert.match(e.message, /use an https:\/\/ URL in verdant\.cloud\.endpoint/);
        const t = await c.testConnection();
        assert.equal(t.ok, false);
        await c.close();
      }
      assert.equal(dispatched, 0, 'the key was not even read');
      assert.ok(isLoopbackHost('127.0.0.1') && isLoopbackHost('127.8.9.10') && isLoopbackHost('localhost') && isLoopbackHost('[::1]'));
      assert.ok(!isLoopbackHost('128.0.0.1') && !isLoopbackHost('localhost.example.com') && !isLoopbackHost('10.0.0.1'));
    });
  });

  describe('cancellation', () => {
    it('aborting during backoff ends at once', async () => {
      const { server: s, client: c } = await setup((_seen, res) => json(res, 503, { error: 'busy' }), {
        sleep: undefined, // the real, abortable sleep
        // A ten-minute backoff: only the abort can end the wait within mocha's timeout.
        retries: { max: 3, baseDelayMs: 600_000, maxDelayMs: 600_000 },
        random: () => 0.99,
      });
      const controller = new AbortController();
      const p = c.chat(ask, { signal: controller.signal });
      while (s.seen.length === 0) await sleep(5);
      await sleep(30);
      controller.abort();
      const e = await rejection(p);
      assert.equal(e.code, 'cancelled');
      assert.equal(s.seen.length, 1);
    });

    it('aborting mid-stream ends at once with the partial text and closes the connection', async () => {
      // Two pieces, more after the abort, and no end: only the abort can end the request.
      const controller = new AbortController();
      const { server: s, client: c } = await setup((_seen, res) =>
        streamAndStall(res, 'text/event-stream', [chunk('one '), chunk('two ')], aborted(controller.signal), [
          chunk('three '),
          chunk('four '),
          finish(),
          DONE,
        ]),
      );
      const pieces: string[] = [];
      const e = await rejection(
        c.chat(ask, {
          signal: controller.signal,
          onText: (t) => {
            pieces.push(t);
            if (pieces.length === 2) controller.abort();
          },
        }),
      );
      assert.equal(e.code, 'cancelled');
      assert.equal(e.partialText, 'one two ');
      await s.seen[0]!.closedEarly;
      await s.noOpenSockets(); // before close(): the aborted connection is not kept
    });

    it('aborting while waiting for headers closes the socket', async () => {
      // Never answered: only the abort can end the request.
      const { server: s, client: c } = await setup(() => new Promise<void>(() => {}));
      const controller = new AbortController();
      const p = c.chat(ask, { signal: controller.signal });
      while (s.seen.length === 0) await sleep(5);
      controller.abort();
      const e = await rejection(p);
      assert.equal(e.code, 'cancelled');
      await s.seen[0]!.closedEarly;
    });

    it('an already aborted signal sends nothing', async () => {
      const { server: s, client: c } = await setup((_seen, res) => json(res, 200, completion('x')));
      const e = await rejection(c.chat(ask, { signal: AbortSignal.abort() }));
      assert.equal(e.code, 'cancelled');
      assert.equal(s.seen.length, 0);
    });
  });

  describe('testConnection', () => {
    it('is ok when /v1/models lists the model', async () => {
      const { server: s, client: c } = await setup((_seen, res) => json(res, 200, { object: 'list', data: [{ id: 'other' }, { id: MODEL }] }));
      const t = await c.testConnection();
      assert.equal(t.ok, true);
      assert.deepEqual(t.models, ['other', MODEL]);
      assert.match(t.message, /is available/);
      assert.deepEqual(
        s.seen.map((x) => `${x.method} ${x.path}`),
        ['GET /v1/models'],
      );
      assert.equal(s.seen[0]!.headers.authorization, `Bearer ${KEY}`);
    });

    it('asks the model for one token when there is no model list', async () => {
      const { server: s, client: c } = await setup((seen, res) => {
        if (seen.path === '/v1/models') json(res, 404, { error: 'not found' });
        else json(res, 200, completion('OK'));
      });
      const t = await c.testConnection();
      assert.equal(t.ok, true);
      assert.match(t.message, /answered/);
      assert.equal(s.seen[1]!.body.max_tokens, 1);
      assert.equal(s.seen[1]!.body.stream, false);
    });

    it('reports a refused key without asking the model', async () => {
      const { server: s, client: c } = await setup((_seen, res) => json(res, 403, { error: 'forbidden' }));
      const t = await c.testConnection();
      assert.equal(t.ok, false);
      assert.match(t.message, /Set Cloud API Key/);
      assert.equal(s.seen.length, 1);
    });
  });

  describe('proxy', () => {
    it('never proxies loopback', async () => {
      let proxied = 0;
      const proxy = createServer((_req, res) => {
        proxied++;
        res.end();
      });
      proxy.on('connect', (_req, socket: Socket) => {
        proxied++;
        socket.destroy();
      });
      const port = await new Promise<number>((resolve) => proxy.listen(0, '127.0.0.1', () => resolve((proxy.address() as AddressInfo).port)));
      try {
        const { client: c } = await setup((_seen, res) => json(res, 200, completion('direct')), { proxyUrl: `http://127.0.0.1:${port}` });
        assert.equal((await c.chat(ask)).text, 'direct');
        assert.equal(proxied, 0);
      } finally {
        await new Promise<void>((resolve) => proxy.close(() => resolve()));
      }
    });

    it('tunnels other hosts through the proxy with CONNECT, without the key', async () => {
      const connects: { target: string; headers: IncomingHttpHeaders }[] = [];
      const proxy = createServer((_req, res) => res.writeHead(405).end());
      proxy.on('connect', (req: IncomingMessage, socket: Socket) => {
        connects.push({ target: req.url ?? '', headers: req.headers });
        socket.end('HTTP/1.1 403 Forbidden\r\n\r\n');
      });
      const port = await new Promise<number>((resolve) => proxy.listen(0, '127.0.0.1', () => resolve((proxy.address() as AddressInfo).port)));
      const c = new CloudClient({
        baseUrl: 'https://api.green.example/v1',
        model: MODEL,
        apiKey: async () => KEY,
        proxyUrl: `http://127.0.0.1:${port}`,
        retries: { max: 0 },
      });
      try {
        const e = await rejection(c.chat(ask));
        assert.match(e.message, /through the proxy/);
        assert.equal(connects.length, 1);
        assert.equal(connects[0]!.target, 'api.green.example:443');
        assert.ok(!JSON.stringify(connects[0]!.headers).includes(KEY));
      } finally {
        await c.close();
        proxy.closeAllConnections();
        await new Promise<void>((resolve) => proxy.close(() => resolve()));
      }
    });

    it('bypasses NO_PROXY hosts and suffixes', () => {
      assert.ok(bypassesProxy('localhost') && bypassesProxy('127.0.0.1') && bypassesProxy('::1'));
      assert.ok(bypassesProxy('api.corp.example', '.corp.example'));
      assert.ok(bypassesProxy('corp.example', 'other, corp.example:443'));
      assert.ok(bypassesProxy('anything.example', '*'));
      assert.ok(!bypassesProxy('api.green.example', 'corp.example'));
      assert.ok(!bypassesProxy('notcorp.example', 'corp.example'));
    });
  });

  describe('retry timing', () => {
    it('computes full-jitter backoff and reads Retry-After', () => {
      const policy = { ...DEFAULT_RETRY_POLICY, baseDelayMs: 100, maxDelayMs: 1000 };
      assert.equal(
        backoffMs(0, policy, () => 0.999),
        99,
      );
      assert.equal(
        backoffMs(3, policy, () => 0.5),
        400,
      );
      assert.equal(
        backoffMs(10, policy, () => 0.5),
        500,
      );
      assert.equal(
        backoffMs(1, policy, () => 0),
        0,
      );
      const now = Date.parse('2025-06-01T12:00:00Z');
      assert.equal(parseRetryAfter('7', now), 7000);
      assert.equal(parseRetryAfter('1.5', now), 1500);
      assert.equal(parseRetryAfter('Sun, 01 Jun 2025 12:01:00 GMT', now), 60_000);
      assert.equal(parseRetryAfter('Sun, 01 Jun 2025 11:00:00 GMT', now), 0);
      assert.equal(parseRetryAfter('soon', now), undefined);
      assert.equal(parseRetryAfter(undefined, now), undefined);
    });
  });
});
