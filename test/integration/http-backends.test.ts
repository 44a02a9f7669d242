// The HTTP backends against real node:http servers on 127.0.0.1 that speak each protocol as the real servers do
// (Ollama NDJSON, OpenAI-style SSE of LM Studio / mlx_lm.server / Lemonade Server, llama-server SSE): chunked bodies, events split
// across TCP writes, delays between tokens, and the failures users meet (nothing listening, unknown model, 429,
// 503, malformed or cut streams).
import * as assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { EngineError } from '../../src/engine/errors';
import type { GenerateResult, InferenceBackend } from '../../src/engine/types';
import { createHttpBackend, DEFAULT_SERVER_URLS, type HttpBackendKind } from '../../src/engine/backends';
import type { ServerConnectionOptions } from '../../src/engine/backends/http';
import { LlamaServerBackend } from '../../src/engine/backends/llamaServer';
import { OllamaBackend } from '../../src/engine/backends/ollama';
import { OpenAiCompatibleBackend } from '../../src/engine/backends/openaiCompatible';
import { aborted, pour, sendJson, shred, streamAndStall, streamBody, trickle } from '../support/streaming';
import { FakeServer, type Route } from '../support/fakeServer';

const stream = streamBody;
const json = sendJson;

async function freePort(): Promise<number> {
  const s = createServer();
  const port = await new Promise<number>((resolve) => s.listen(0, '127.0.0.1', () => resolve((s.address() as AddressInfo).port)));
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

async function rejection(p: Promise<unknown>): Promise<EngineError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof EngineError, `expected an EngineError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected a rejection');
}

/**
 * Runs a generation that the caller aborts after `afterPieces` pieces, against a server route built with the abort
 * signal (see streamAndStall: the server stalls, so only the abort can end the request).
 */
async function abortAfter(
  backend: InferenceBackend,
  request: Parameters<InferenceBackend['generate']>[0],
  afterPieces: number,
  controller: AbortController,
): Promise<{ result: GenerateResult; pieces: string[] }> {
  const pieces: string[] = [];
  const result = await backend.generate(request, {
    signal: controller.signal,
    onText: (t) => {
      pieces.push(t);
      if (pieces.length === afterPieces) controller.abort();
    },
  });
  return { result, pieces };
}

/** A refactor-plan schema, as the structured-output tests send it. */
const PLAN_SCHEMA = {
  type: 'object',
  properties: {
    steps: { type: 'array', items: { type: 'object', properties: { title: { type: 'string' }, size: { enum: ['small', 'large'] } } }, minItems: 1 },
  },
};
const PLAN_JSON = '{"steps": [{"title": "Split", "size": "small"}]}';

/** No request reaches the server: a fim request cannot carry a jsonSchema. */
async function refusesFimSchema(backend: InferenceBackend, server: FakeServer): Promise<void> {
  const e = await rejection(backend.generate({ kind: 'fim', prefix: 'a', suffix: 'b', maxTokens: 4, jsonSchema: PLAN_SCHEMA }));
  assert.equal(e.code, 'bad-request');
  assert.match(e.message, /jsonSchema cannot constrain a fim request/);
  const notObject = await rejection(backend.generate({ kind: 'completion', prompt: 'a', maxTokens: 4, jsonSchema: 'object' as unknown as object }));
  assert.equal(notObject.code, 'bad-request');
  assert.equal(server.seen.length, 0);
}

/** A server and a backend for one test, closed after it. */
function closedAfterEach(): { server?: FakeServer; backend?: InferenceBackend } {
  const held: { server?: FakeServer; backend?: InferenceBackend } = {};
  afterEach(async () => {
    await held.backend?.dispose();
    await held.server?.close();
    held.backend = held.server = undefined;
  });
  return held;
}

/** A hang caught with its name (generously: a busy machine may take seconds), not by mocha's timeout. */
const within = <T>(p: Promise<T>, what: string, ms = 30_000): Promise<T> =>
  Promise.race([p, sleep(ms).then(() => assert.fail(`${what} within ${ms} ms`))]);

// ---------------------------------------------------------------------------------------------------------------
// Ollama

const ndjson = (o: unknown) => `${JSON.stringify(o)}\n`;
const ollamaPiece = (response: string, logprob?: number) =>
  ndjson({
    model: 'qwen2.5-coder:1.5b',
    created_at: '2025-01-01T00:00:00.000Z',
    response,
    done: false,
    ...(logprob === undefined ? {} : { logprobs: [{ token: response, logprob, bytes: [], top_logprobs: [] }] }),
  });
const ollamaDone = (reason = 'stop') =>
  ndjson({
    model: 'qwen2.5-coder:1.5b',
    created_at: '2025-01-01T00:00:01.000Z',
    response: '',
    done: true,
    done_reason: reason,
    total_duration: 250_000_000,
    load_duration: 5_000_000,
    prompt_eval_count: 26,
    prompt_eval_duration: 130_000_000,
    eval_count: 3,
    eval_duration: 60_000_000,
  });

describe('Ollama backend', () => {
  let server: FakeServer | undefined;
  let backend: InferenceBackend | undefined;
  afterEach(async () => {
    await backend?.dispose();
    await server?.close();
    backend = server = undefined;
  });
  const start = async (routes: Record<string, Route>) => {
    server = await FakeServer.start(routes);
    backend = new OllamaBackend({ url: server.url, model: 'qwen2.5-coder:1.5b' });
    return backend;
  };

  it('streams FIM through /api/generate with suffix, and reports timing and confidence from the final message', async () => {
    const b = await start({
      'POST /api/generate': (_s, res) =>
        stream(
          res,
          'application/x-ndjson',
          shred(ollamaPiece('\n  if a == 0:', -0.1) + ollamaPiece('\n    return b', -0.3) + ollamaPiece('\n  return r', -0.2) + ollamaDone()),
          3,
        ),
    });
    const shown: string[] = [];
    const r = await b.generate(
      { kind: 'fim', prefix: 'def gcd(a, b):', suffix: '\n\nprint(gcd(4, 6))', maxTokens: 32, stop: ['\n\n\n'] },
      { onText: (t) => shown.push(t) },
    );
    assert.equal(r.text, '\n  if a == 0:\n    return b\n  return r');
    assert.equal(shown.join(''), r.text);
    assert.ok(shown.length >= 2, 'text arrives in pieces');
    assert.equal(r.stopReason, 'eos');
    assert.equal(r.usedFim, true);
    assert.equal(r.backend, 'ollama');
    assert.equal(r.model, 'qwen2.5-coder:1.5b');
    assert.equal(r.timing.promptTokens, 26);
    assert.equal(r.timing.evaluatedTokens, null);
    assert.equal(r.timing.generatedTokens, 3);
    assert.equal(r.timing.tokensPerSecond, 50);
    assert.ok(r.timing.ttftMs > 0 && r.timing.ttftMs <= r.timing.totalMs);
    assert.ok(Math.abs((r.confidence.meanLogProb ?? 0) - -0.2) < 1e-9);
    const body = server!.seen[0]!.body;
    assert.equal(body.model, 'qwen2.5-coder:1.5b');
    assert.equal(body.prompt, 'def gcd(a, b):');
    assert.equal(body.suffix, '\n\nprint(gcd(4, 6))');
    assert.equal(body.raw, undefined, 'FIM lets Ollama apply the model template');
    assert.equal(body.stream, true);
    assert.deepEqual(body.options, { num_predict: 32, temperature: 0, stop: ['\n\n\n'] });
  });

  it('completes raw prompts, maps done_reason "length" to maxTokens', async () => {
    const b = await start({
      'POST /api/generate': (_s, res) => stream(res, 'application/x-ndjson', [ollamaPiece('x = 1'), ollamaDone('length')]),
    });
    const r = await b.generate({ kind: 'completion', prompt: '# a\n', maxTokens: 1, temperature: 0.2 });
    assert.equal(r.text, 'x = 1');
    assert.equal(r.stopReason, 'maxTokens');
    assert.equal(r.usedFim, false);
    const body = server!.seen[0]!.body;
    assert.equal(body.raw, true);
    assert.equal(body.suffix, undefined);
    assert.deepEqual(body.options, { num_predict: 1, temperature: 0.2 });
  });

  it('chats through /api/chat', async () => {
    const piece = (content: string) => ndjson({ model: 'm', created_at: 'x', message: { role: 'assistant', content }, done: false });
    const b = await start({
      'POST /api/chat': (_s, res) =>
        stream(
          res,
          'application/x-ndjson',
          shred(
            piece('Hel') +
              piece('lo!') +
              ndjson({
                model: 'm',
                created_at: 'x',
                message: { role: 'assistant', content: '' },
                done: true,
                done_reason: 'stop',
                prompt_eval_count: 9,
                eval_count: 2,
                eval_duration: 20_000_000,
              }),
            7,
          ),
        ),
    });
    const r = await b.generate({
      kind: 'chat',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Hi' },
      ],
      maxTokens: 8,
    });
    assert.equal(r.text, 'Hello!');
    assert.equal(r.timing.promptTokens, 9);
    assert.equal(r.timing.tokensPerSecond, 100);
    assert.deepEqual(server!.seen[0]!.body.messages, [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hi' },
    ]);
  });

  it('sends jsonSchema as `format` on /api/chat and /api/generate, and refuses it on fim', async () => {
    const piece = (content: string) => ndjson({ model: 'm', created_at: 'x', message: { role: 'assistant', content }, done: false });
    const b = await start({
      'POST /api/chat': (_s, res) =>
        stream(res, 'application/x-ndjson', [
          piece(PLAN_JSON.slice(0, 20)),
          piece(PLAN_JSON.slice(20)),
          ndjson({ model: 'm', created_at: 'x', message: { role: 'assistant', content: '' }, done: true, done_reason: 'stop' }),
        ]),
      'POST /api/generate': (_s, res) => stream(res, 'application/x-ndjson', [ollamaPiece(PLAN_JSON), ollamaDone()]),
    });
    await refusesFimSchema(b, server!);
    const chat = await b.generate({ kind: 'chat', messages: [{ role: 'user', content: 'Plan it.' }], maxTokens: 64, jsonSchema: PLAN_SCHEMA });
    assert.deepEqual(JSON.parse(chat.text), { steps: [{ title: 'Split', size: 'small' }] });
    assert.equal(chat.stopReason, 'eos');
    const completion = await b.generate({ kind: 'completion', prompt: 'Plan:', maxTokens: 64, jsonSchema: PLAN_SCHEMA });
    assert.equal(completion.text, PLAN_JSON);
    const [chatBody, generateBody] = server!.seen.map((x) => x.body);
    assert.deepEqual(chatBody.format, PLAN_SCHEMA);
    assert.deepEqual(generateBody.format, PLAN_SCHEMA);
    assert.equal(generateBody.raw, true);
    // Without a schema there is no format at all (not even "json").
    await b.generate({ kind: 'completion', prompt: 'Plan:', maxTokens: 64 });
    assert.equal('format' in server!.seen[2]!.body, false);
  });

  it('applies stop strings client-side, even split across pieces, and closes the stream', async () => {
    const b = await start({
      'POST /api/generate': (_s, res) =>
        stream(
          res,
          'application/x-ndjson',
          [
            ollamaPiece('foo'),
            ollamaPiece('\nbar E'),
            ollamaPiece('ND baz'),
            ...Array.from({ length: 40 }, () => ollamaPiece(' more')),
            ollamaDone(),
          ],
          10,
        ),
    });
    const shown: string[] = [];
    const r = await b.generate({ kind: 'completion', prompt: 'p', maxTokens: 64, stop: ['END'] }, { onText: (t) => shown.push(t) });
    assert.equal(r.text, 'foo\nbar ');
    assert.equal(shown.join(''), 'foo\nbar ', 'the stop string never reaches the editor');
    assert.equal(r.stopReason, 'stop');
    await within(server!.seen[0]!.closedEarly, 'the server sees the connection close');
  });

  it('cancels mid-stream: resolves with the text so far and "abort" at once, and the server sees the socket close', async () => {
    // Two pieces, then (after the abort) more that must not count, and no end: only the abort can end it.
    const controller = new AbortController();
    const b = await start({
      'POST /api/generate': (_s, res) =>
        streamAndStall(res, 'application/x-ndjson', [ollamaPiece('t0 '), ollamaPiece('t1 ')], aborted(controller.signal), [
          ollamaPiece('t2 '),
          ollamaDone(),
        ]),
    });
    const { result } = await abortAfter(b, { kind: 'completion', prompt: 'p', maxTokens: 100 }, 2, controller);
    assert.equal(result.stopReason, 'abort');
    assert.equal(result.text, 't0 t1 ');
    await within(server!.seen[0]!.closedEarly, 'the server sees the connection close');
  });

  it('resolves "abort" without a request when the signal is already aborted', async () => {
    const b = await start({});
    const r = await b.generate({ kind: 'completion', prompt: 'p', maxTokens: 4 }, { signal: AbortSignal.abort() });
    assert.equal(r.stopReason, 'abort');
    assert.equal(r.text, '');
    assert.equal(server!.seen.length, 0);
  });

  it('falls back to completing the prefix when the model cannot insert, and remembers it', async () => {
    const b = await start({
      'POST /api/generate': (s, res) =>
        s.body.suffix !== undefined
          ? json(res, 400, { error: '"qwen2.5-coder:1.5b" does not support insert' })
          : stream(res, 'application/x-ndjson', [ollamaPiece('body'), ollamaDone()]),
    });
    const fim = { kind: 'fim', prefix: 'def f():', suffix: '\n', maxTokens: 8 } as const;
    const r = await b.generate(fim);
    assert.equal(r.text, 'body');
    assert.equal(r.usedFim, false);
    await b.generate(fim);
    assert.deepEqual(
      server!.seen.map((s) => s.body.raw ?? false),
      [false, true, true],
    );
  });

  it('reports info from /api/show and /api/ps', async () => {
    const b = await start({
      'POST /api/show': (_s, res) =>
        json(res, 200, {
          parameters: 'num_ctx                        8192\nstop                           "<|endoftext|>"',
          template: '{{ .Prompt }}',
          capabilities: ['completion', 'insert'],
          details: { format: 'gguf', family: 'qwen2', parameter_size: '1.5B', quantization_level: 'Q4_K_M' },
          model_info: { 'general.architecture': 'qwen2', 'qwen2.context_length': 32768 },
        }),
      'GET /api/ps': (_s, res) =>
        json(res, 200, {
          models: [{ name: 'qwen2.5-coder:1.5b', model: 'qwen2.5-coder:1.5b', size: 2e9, size_vram: 1_500_000_000, context_length: 4096 }],
        }),
    });
    assert.deepEqual(await b.info(), {
      backend: 'ollama',
      model: 'qwen2.5-coder:1.5b',
      devices: ['gpu'],
      vramBytes: 1_500_000_000,
      threads: null,
      fimSupported: true,
      contextSize: 4096,
    });
    assert.deepEqual(server!.seen[0]!.body, { model: 'qwen2.5-coder:1.5b' });
  });

  it('results carry the context size: null until info() has found it, then that (the stream never says it)', async () => {
    const b = await start({
      'POST /api/generate': (_s, res) => stream(res, 'application/x-ndjson', [ollamaPiece('x'), ollamaDone()]),
      'POST /api/show': (_s, res) => json(res, 200, { parameters: 'num_ctx 8192', template: '{{ .Prompt }}' }),
      'GET /api/ps': (_s, res) => json(res, 200, { models: [{ name: 'qwen2.5-coder:1.5b', model: 'qwen2.5-coder:1.5b', context_length: 4096 }] }),
    });
    const request = { kind: 'completion', prompt: 'a', maxTokens: 4 } as const;
    assert.equal((await b.generate(request)).contextTokens, null);
    assert.equal((await b.info()).contextSize, 4096);
    assert.equal((await b.generate(request)).contextTokens, 4096);
    assert.deepEqual(
      server!.seen.map((s) => s.path),
      ['/api/generate', '/api/show', '/api/ps', '/api/generate'],
      'generate itself asks nothing more',
    );
  });

  it('says how to pull an unknown model (404)', async () => {
    const b = await start({ 'POST /api/generate': (s, res) => json(res, 404, { error: `model '${s.body.model}' not found` }) });
    const e = await rejection(b.generate({ kind: 'completion', prompt: 'p', maxTokens: 4 }));
    assert.equal(e.code, 'backend-unavailable');
    assert.match(
      e.message,
      /^Ollama at http:\/\/127\.0\.0\.1:\d+ has no model "qwen2\.5-coder:1\.5b": get it with `ollama pull qwen2\.5-coder:1\.5b`, or change verdant\.local\.serverModel\.$/,
    );
  });

  it('gives one clear error each for 429 and 503', async () => {
    let status = 429;
    const b = await start({
      'POST /api/generate': (_s, res) =>
        json(
          res,
          status,
          { error: status === 429 ? 'server busy, please try again' : 'service unavailable' },
          status === 429 ? { 'retry-after': '3' } : {},
        ),
    });
    const busy = await rejection(b.generate({ kind: 'completion', prompt: 'p', maxTokens: 4 }));
    assert.equal(busy.code, 'backend-unavailable');
    assert.match(busy.message, /is busy \(HTTP 429: server busy, please try again\): wait 3 s and try again\.$/);
    status = 503;
    const down = await rejection(b.generate({ kind: 'completion', prompt: 'p', maxTokens: 4 }));
    assert.match(down.message, /is unavailable \(HTTP 503: service unavailable\): .*try again in a few seconds\.$/);
  });

  it('reports a malformed stream: a garbage line, a stream cut without done', async () => {
    let mode = 'garbage';
    const b = await start({
      'POST /api/generate': (_s, res) =>
        stream(
          res,
          'application/x-ndjson',
          mode === 'garbage' ? [ollamaPiece('ok'), '<html>oops</html>\n', ollamaDone()] : [ollamaPiece('ok'), ollamaPiece(' and')],
        ),
    });
    const garbage = await rejection(b.generate({ kind: 'completion', prompt: 'p', maxTokens: 4 }));
    assert.equal(garbage.code, 'backend-unavailable');
    assert.match(
      garbage.message,
      /^Ollama at http:\/\/127\.0\.0\.1:\d+ sent a malformed response \(a line that is not JSON\): try again, and update Ollama if it keeps happening\.$/,
    );
    mode = 'cut';
    const cut = await rejection(b.generate({ kind: 'completion', prompt: 'p', maxTokens: 4 }));
    assert.match(cut.message, /sent a malformed response \(the stream ended before the final message\)/);
  });

  it('reports a connection dropped mid-stream as a cut stream', async () => {
    const b = await start({
      'POST /api/generate': async (_s, res) => {
        res.writeHead(200, { 'content-type': 'application/x-ndjson' });
        res.write(ollamaPiece('ok'));
        await sleep(20);
        res.socket?.destroy();
      },
    });
    const e = await rejection(b.generate({ kind: 'completion', prompt: 'p', maxTokens: 4 }));
    assert.equal(e.code, 'backend-unavailable');
    assert.match(e.message, /sent a malformed response \(the connection closed before the final message\)/);
  });

  it('reports an error the server sends inside the stream', async () => {
    const b = await start({
      'POST /api/generate': (_s, res) =>
        stream(res, 'application/x-ndjson', [
          ollamaPiece('ok'),
          ndjson({ error: 'an error was encountered while running the model: out of memory' }),
        ]),
    });
    const e = await rejection(b.generate({ kind: 'completion', prompt: 'p', maxTokens: 4 }));
    assert.match(e.message, /reported an error while generating \(an error was encountered while running the model: out of memory\)/);
  });

  it('times out when the server never answers', async () => {
    server = await FakeServer.start({ 'POST /api/generate': () => undefined });
    backend = new OllamaBackend({ url: server.url, model: 'm', timeoutMs: 150 });
    // The server never answers, so only the 150 ms timeout can end this (a hang would meet mocha's timeout).
    const e = await rejection(backend.generate({ kind: 'completion', prompt: 'p', maxTokens: 4 }));
    assert.match(e.message, /did not answer within 0\.2 s: it may be loading the model or busy/);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Servers that are not running

describe('HTTP backends when the server is not running', () => {
  const cases: [HttpBackendKind, RegExp][] = [
    [
      'ollama',
      /^Ollama is not running at http:\/\/127\.0\.0\.1:\d+: start it with `OLLAMA_HOST=127\.0\.0\.1:\d+ ollama serve`, or change verdant\.local\.serverUrl\.$/,
    ],
    ['lmstudio', /^LM Studio is not running at http:\/\/127\.0\.0\.1:\d+: start it with `lms server start`, or change verdant\.local\.serverUrl\.$/],
    [
      'lemonade',
      /^Lemonade Server is not running at http:\/\/127\.0\.0\.1:\d+: start it with `lemonade-server serve --port \d+`, or change verdant\.local\.serverUrl\.$/,
    ],
    ['mlx', /^mlx_lm\.server is not running at http:\/\/127\.0\.0\.1:\d+: start it with `mlx_lm\.server --model mlx-community\/m --port \d+`/],
    ['llama-server', /^llama-server is not running at http:\/\/127\.0\.0\.1:\d+: start it with `llama-server -m <model\.gguf> --port \d+`/],
  ];
  for (const [kind, expected] of cases) {
    it(`${kind}: 'backend-unavailable' naming the start command, for generate and info`, async () => {
      const backend = createHttpBackend(kind, { url: `http://127.0.0.1:${await freePort()}`, model: 'mlx-community/m' });
      try {
        const e = await rejection(backend.generate({ kind: 'fim', prefix: 'a', suffix: 'b', maxTokens: 4 }));
        assert.equal(e.code, 'backend-unavailable');
        assert.match(e.message, expected);
        assert.match((await rejection(backend.info())).message, expected);
      } finally {
        await backend.dispose();
      }
    });
  }

  it('uses each server’s default URL', () => {
    assert.deepEqual(DEFAULT_SERVER_URLS, {
      ollama: 'http://127.0.0.1:11434',
      lmstudio: 'http://127.0.0.1:1234',
      mlx: 'http://127.0.0.1:8080',
      lemonade: 'http://127.0.0.1:8000',
      'llama-server': 'http://127.0.0.1:8080',
    });
  });
});

// ---------------------------------------------------------------------------------------------------------------
// OpenAI-compatible (LM Studio, mlx_lm.server)

const sse = (o: unknown, eol = '\n') => `data: ${JSON.stringify(o)}${eol}${eol}`;
const completionChunk = (text: string, extra: Record<string, unknown> = {}, finish: string | null = null) => ({
  id: 'cmpl-1',
  object: 'text_completion',
  created: 1,
  model: 'm',
  choices: [{ index: 0, text, finish_reason: finish, ...extra }],
});
const chatChunk = (content: string | undefined, finish: string | null = null, logprob?: number) => ({
  id: 'chatcmpl-1',
  object: 'chat.completion.chunk',
  created: 1,
  model: 'm',
  choices: [
    {
      index: 0,
      delta: content === undefined ? {} : { role: 'assistant', content },
      finish_reason: finish,
      ...(logprob === undefined ? {} : { logprobs: { content: [{ token: content, logprob, top_logprobs: [] }] } }),
    },
  ],
});
const usageChunk = (prompt: number, completion: number, cached?: number) => ({
  id: 'cmpl-1',
  object: 'chat.completion',
  created: 1,
  model: 'm',
  choices: [],
  usage: {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    ...(cached === undefined ? {} : { prompt_tokens_details: { cached_tokens: cached } }),
  },
});

describe('OpenAI-compatible backend (LM Studio, mlx_lm.server)', () => {
  let server: FakeServer | undefined;
  let backend: InferenceBackend | undefined;
  afterEach(async () => {
    await backend?.dispose();
    await server?.close();
    backend = server = undefined;
  });

  it('LM Studio: FIM with the Qwen2.5-Coder template, logprobs, usage, CRLF events with comments split across writes', async () => {
    server = await FakeServer.start({
      'POST /v1/completions': (_s, res) =>
        stream(
          res,
          'text/event-stream',
          shred(
            ': keepalive 10/20\r\n\r\n' +
              sse(completionChunk('return', { logprobs: { tokens: ['return'], token_logprobs: [-0.5], top_logprobs: [{ return: -0.5 }] } }), '\r\n') +
              sse(completionChunk(' a + b', { logprobs: { tokens: [' a + b'], token_logprobs: [-1.5], top_logprobs: [] } }), '\r\n') +
              sse(completionChunk('', {}, 'stop'), '\r\n') +
              sse(usageChunk(20, 2, 15), '\r\n') +
              'data: [DONE]\r\n\r\n',
            17,
          ),
          3,
        ),
    });
    backend = new OpenAiCompatibleBackend({ flavour: 'lmstudio', url: `${server.url}/v1`, model: 'qwen2.5-coder-1.5b-instruct' });
    const r = await backend.generate({ kind: 'fim', prefix: 'def add(a, b):\n    ', suffix: '\n', maxTokens: 16, stop: ['\n\n'] });
    assert.equal(r.text, 'return a + b');
    assert.equal(r.usedFim, true);
    assert.equal(r.backend, 'lm studio');
    assert.equal(r.stopReason, 'eos');
    assert.equal(r.confidence.meanLogProb, -1);
    assert.deepEqual([r.timing.promptTokens, r.timing.evaluatedTokens, r.timing.generatedTokens], [20, 5, 2]);
    assert.ok(r.timing.tokensPerSecond > 0);
    const { body, path } = server.seen[0]!;
    assert.equal(path, '/v1/completions', 'a base URL ending in /v1 is not doubled');
    assert.equal(body.prompt, '<|fim_prefix|>def add(a, b):\n    <|fim_suffix|>\n<|fim_middle|>');
    assert.equal(body.logprobs, 1);
    assert.equal(body.max_tokens, 16);
    assert.equal(body.temperature, 0);
    assert.deepEqual(body.stop, ['\n\n']);
    assert.deepEqual(body.stream_options, { include_usage: true });
  });

  it('cuts at the template’s end token when the server prints it as text', async () => {
    server = await FakeServer.start({
      'POST /v1/completions': (_s, res) =>
        stream(
          res,
          'text/event-stream',
          [
            sse(completionChunk('x = 1')),
            sse(completionChunk('<|endoftext|>')),
            sse(completionChunk('junk')),
            sse(completionChunk('', {}, 'length')),
            'data: [DONE]\n\n',
          ],
          10,
        ),
    });
    backend = new OpenAiCompatibleBackend({ flavour: 'lmstudio', url: server.url, model: 'Qwen2.5-Coder-7B', fimTemplate: 'qwen2.5-coder' });
    const r = await backend.generate({ kind: 'fim', prefix: 'a', suffix: 'b', maxTokens: 8 });
    assert.equal(r.text, 'x = 1');
    assert.equal(r.stopReason, 'stop');
  });

  it('sends other files’ chunks in the family’s repository-level layout, and cuts at <|file_sep|>', async () => {
    server = await FakeServer.start({
      'POST /v1/completions': (_s, res) =>
        stream(res, 'text/event-stream', [
          sse(completionChunk('b.run()')),
          sse(completionChunk('<|file_sep|>other.py\n')),
          sse(completionChunk('', {}, 'stop')),
          'data: [DONE]\n\n',
        ]),
    });
    backend = createHttpBackend('mlx', { url: server.url, model: 'mlx-community/Qwen2.5-Coder-1.5B-4bit' });
    const r = await backend.generate({
      kind: 'fim',
      prefix: 'import b\n',
      suffix: '\n',
      maxTokens: 8,
      filePath: 'main.py',
      repoName: 'demo',
      extra: [{ path: 'b.py', text: 'def run():\n    pass' }],
    });
    assert.equal(
      server.seen[0]!.body.prompt,
      '<|repo_name|>demo\n<|file_sep|>b.py\ndef run():\n    pass\n<|file_sep|>main.py\n<|fim_prefix|>import b\n<|fim_suffix|>\n<|fim_middle|>',
    );
    assert.equal(r.text, 'b.run()');
    assert.equal(r.usedFim, true);
  });

  it('mlx_lm.server: without a known FIM family completes the prefix, sends logprobs as a boolean, reads cached tokens', async () => {
    server = await FakeServer.start({
      'POST /v1/completions': (_s, res) =>
        stream(res, 'text/event-stream', [
          ': keepalive 5/5\n\n',
          sse(completionChunk('pass')),
          sse(completionChunk('', {}, 'length')),
          sse(usageChunk(12, 1, 10)),
          'data: [DONE]\n\n',
        ]),
    });
    backend = createHttpBackend('mlx', { url: server.url, model: 'mlx-community/Llama-3.2-1B-4bit' });
    const r = await backend.generate({ kind: 'fim', prefix: 'def f():\n    ', suffix: '\n', maxTokens: 1 });
    assert.equal(r.text, 'pass');
    assert.equal(r.usedFim, false);
    assert.equal(r.backend, 'mlx');
    assert.equal(r.stopReason, 'maxTokens');
    assert.equal(r.confidence.meanLogProb, null, 'mlx_lm.server sends no logprobs while streaming');
    assert.deepEqual([r.timing.promptTokens, r.timing.evaluatedTokens, r.timing.generatedTokens], [12, 2, 1]);
    assert.equal(server.seen[0]!.body.prompt, 'def f():\n    ');
    assert.equal(server.seen[0]!.body.logprobs, true);
  });

  it('chats through /v1/chat/completions with logprobs', async () => {
    server = await FakeServer.start({
      'POST /v1/chat/completions': (_s, res) =>
        stream(
          res,
          'text/event-stream',
          shred(
            sse(chatChunk('', null)) +
              sse(chatChunk('Hi', null, -0.2)) +
              sse(chatChunk(' there', null, -0.4)) +
              sse(chatChunk(undefined, 'stop')) +
              'data: [DONE]\n\n',
            29,
          ),
        ),
    });
    backend = createHttpBackend('lmstudio', { url: server.url, model: 'llama-3.2-3b-instruct', apiKey: 'sk-test-123456' });
    const r = await backend.generate({ kind: 'chat', messages: [{ role: 'user', content: 'Hello' }], maxTokens: 8 });
    assert.equal(r.text, 'Hi there');
    assert.ok(Math.abs((r.confidence.meanLogProb ?? 0) - -0.3) < 1e-9);
    assert.equal(r.timing.generatedTokens, 2, 'counted from the stream when usage is absent');
    assert.equal(r.timing.evaluatedTokens, null);
    const seen = server.seen[0]!;
    assert.equal(seen.headers.authorization, 'Bearer sk-test-123456');
    assert.equal(seen.body.logprobs, true);
    assert.deepEqual(seen.body.messages, [{ role: 'user', content: 'Hello' }]);
  });

  it('sends jsonSchema as a strict response_format json_schema on chat and completions, and refuses it on fim', async () => {
    server = await FakeServer.start({
      'POST /v1/chat/completions': (_s, res) =>
        stream(res, 'text/event-stream', [
          sse(chatChunk(PLAN_JSON.slice(0, 9), null)),
          sse(chatChunk(PLAN_JSON.slice(9), null)),
          sse(chatChunk(undefined, 'stop')),
          'data: [DONE]\n\n',
        ]),
      'POST /v1/completions': (_s, res) =>
        stream(res, 'text/event-stream', [sse(completionChunk(PLAN_JSON)), sse(completionChunk('', {}, 'stop')), 'data: [DONE]\n\n']),
    });
    backend = createHttpBackend('lmstudio', { url: server.url, model: 'qwen2.5-7b-instruct' });
    await refusesFimSchema(backend, server);
    const r = await backend.generate({ kind: 'chat', messages: [{ role: 'user', content: 'Plan it.' }], maxTokens: 64, jsonSchema: PLAN_SCHEMA });
    assert.deepEqual(JSON.parse(r.text), { steps: [{ title: 'Split', size: 'small' }] });
    const expected = { type: 'json_schema', json_schema: { name: 'verdant', schema: PLAN_SCHEMA, strict: true } };
    assert.deepEqual(server.seen[0]!.body.response_format, expected);
    await backend.dispose();
    backend = createHttpBackend('mlx', { url: server.url, model: 'mlx-community/Llama-3.2-1B-4bit' });
    const c = await backend.generate({ kind: 'completion', prompt: 'Plan:', maxTokens: 64, jsonSchema: PLAN_SCHEMA });
    assert.equal(c.text, PLAN_JSON);
    assert.equal(server.seen[1]!.path, '/v1/completions');
    assert.deepEqual(server.seen[1]!.body.response_format, expected);
    await backend.generate({ kind: 'completion', prompt: 'Plan:', maxTokens: 64 });
    assert.equal('response_format' in server.seen[2]!.body, false);
  });

  it('cancels mid-stream at once', async () => {
    const controller = new AbortController();
    const piece = (i: number) => sse(completionChunk(`${i},`));
    server = await FakeServer.start({
      'POST /v1/completions': (_s, res) =>
        streamAndStall(res, 'text/event-stream', [0, 1, 2].map(piece), aborted(controller.signal), [3, 4].map(piece)),
    });
    backend = createHttpBackend('lmstudio', { url: server.url, model: 'm' });
    const { result } = await abortAfter(backend, { kind: 'completion', prompt: 'count:', maxTokens: 100 }, 3, controller);
    assert.equal(result.stopReason, 'abort');
    assert.equal(result.text, '0,1,2,');
    await within(server.seen[0]!.closedEarly, 'the server sees the connection close');
  });

  it('says how to get an unknown model, in generate (404) and info (/v1/models)', async () => {
    server = await FakeServer.start({
      'POST /v1/completions': (s, res) =>
        json(res, 404, {
          error: { message: `Model "${s.body.model}" not found. Please load it first.`, type: 'invalid_request_error', code: 'model_not_found' },
        }),
      'GET /v1/models': (_s, res) =>
        json(res, 200, { object: 'list', data: [{ id: 'qwen2.5-7b-instruct', object: 'model', owned_by: 'organization_owner' }] }),
    });
    backend = createHttpBackend('lmstudio', { url: server.url, model: 'nope-7b' });
    const expected =
      /^LM Studio at http:\/\/127\.0\.0\.1:\d+ has no model "nope-7b": load it with `lms load nope-7b` \(download it first with `lms get nope-7b`\), or change verdant\.local\.serverModel\.$/;
    assert.match((await rejection(backend.generate({ kind: 'completion', prompt: 'p', maxTokens: 4 }))).message, expected);
    assert.match((await rejection(backend.info())).message, expected);
  });

  it('reports info from /v1/models and LM Studio’s own model API', async () => {
    server = await FakeServer.start({
      'GET /v1/models': (_s, res) => json(res, 200, { object: 'list', data: [{ id: 'qwen/qwen2.5-coder-14b', object: 'model' }] }),
      'GET /api/v0/models/qwen/qwen2.5-coder-14b': (_s, res) =>
        json(res, 200, { id: 'qwen/qwen2.5-coder-14b', state: 'loaded', max_context_length: 32768, loaded_context_length: 8192 }),
    });
    backend = createHttpBackend('lmstudio', { url: server.url, model: 'qwen/qwen2.5-coder-14b' });
    assert.deepEqual(await backend.info(), {
      backend: 'lm studio',
      model: 'qwen/qwen2.5-coder-14b',
      devices: [],
      vramBytes: null,
      threads: null,
      fimSupported: true,
      contextSize: 8192,
    });
  });

  it('results carry LM Studio’s loaded context once info() found it; mlx_lm.server’s stay null', async () => {
    server = await FakeServer.start({
      'POST /v1/completions': (_s, res) =>
        stream(res, 'text/event-stream', [sse(completionChunk('x')), sse(completionChunk('', {}, 'stop')), 'data: [DONE]\n\n']),
      'POST /v1/chat/completions': (_s, res) =>
        stream(res, 'text/event-stream', [sse(chatChunk('Yes')), sse(chatChunk(undefined, 'stop')), 'data: [DONE]\n\n']),
      'GET /v1/models': (_s, res) => json(res, 200, { object: 'list', data: [{ id: 'qwen/qwen2.5-coder-14b', object: 'model' }] }),
      'GET /api/v0/models/qwen/qwen2.5-coder-14b': (_s, res) =>
        json(res, 200, { id: 'qwen/qwen2.5-coder-14b', state: 'loaded', max_context_length: 32768, loaded_context_length: 8192 }),
    });
    const completion = { kind: 'completion', prompt: 'a', maxTokens: 4 } as const;
    const chat = { kind: 'chat', messages: [{ role: 'user', content: 'Hi' }], maxTokens: 4 } as const;
    const lms = createHttpBackend('lmstudio', { url: server.url, model: 'qwen/qwen2.5-coder-14b' });
    const mlx = createHttpBackend('mlx', { url: server.url, model: 'qwen/qwen2.5-coder-14b' });
    try {
      assert.equal((await lms.generate(completion)).contextTokens, null);
      await lms.info();
      assert.deepEqual([(await lms.generate(completion)).contextTokens, (await lms.generate(chat)).contextTokens], [8192, 8192]);
      assert.equal((await mlx.info()).contextSize, null);
      assert.deepEqual([(await mlx.generate(completion)).contextTokens, (await mlx.generate(chat)).contextTokens], [null, null]);
    } finally {
      await lms.dispose();
      await mlx.dispose();
    }
  });

  it('gives one clear error each for 429, 503 and a 401 that echoes the key', async () => {
    let status = 429;
    server = await FakeServer.start({
      'POST /v1/chat/completions': (_s, res) => json(res, status, { error: status === 401 ? 'invalid api key sk-test-123456' : 'Too many requests' }),
    });
    backend = createHttpBackend('mlx', { url: server.url, model: 'm', apiKey: 'sk-test-123456' });
    const chat = { kind: 'chat', messages: [{ role: 'user', content: 'x' }], maxTokens: 4 } as const;
    assert.match(
      (await rejection(backend.generate(chat))).message,
      /^mlx_lm\.server at .* is busy \(HTTP 429: Too many requests\): wait a few seconds and try again\.$/,
    );
    status = 503;
    assert.match((await rejection(backend.generate(chat))).message, /is unavailable \(HTTP 503: Too many requests\)/);
    status = 401;
    const auth = await rejection(backend.generate(chat));
    assert.match(auth.message, /refused the request \(HTTP 401: invalid api key \*\*\*\): check the API key/);
    assert.doesNotMatch(auth.message, /sk-test/);
  });

  it('reports a malformed stream: a bad data line, a stream cut without [DONE] or finish_reason', async () => {
    let mode = 'garbage';
    server = await FakeServer.start({
      'POST /v1/completions': (_s, res) =>
        stream(
          res,
          'text/event-stream',
          mode === 'garbage'
            ? [sse(completionChunk('a')), 'data: {"choices": [\n\n', 'data: [DONE]\n\n']
            : [sse(completionChunk('a')), sse(completionChunk('b'))],
        ),
    });
    backend = createHttpBackend('lmstudio', { url: server.url, model: 'm' });
    assert.match(
      (await rejection(backend.generate({ kind: 'completion', prompt: 'p', maxTokens: 4 }))).message,
      /sent a malformed response \(a line that is not JSON\)/,
    );
    mode = 'cut';
    assert.match(
      (await rejection(backend.generate({ kind: 'completion', prompt: 'p', maxTokens: 4 }))).message,
      /sent a malformed response \(the stream ended before the final message\)/,
    );
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Lemonade Server (the OpenAI API under /api/v1; /models entries carry the recipe that runs each model)

describe('Lemonade Server backend', () => {
  const held = closedAfterEach();
  const MODEL = 'Qwen2.5-Coder-1.5B-Instruct-GGUF';
  const lemonadeModels = (_s: unknown, res: ServerResponse) =>
    json(res, 200, {
      object: 'list',
      data: [
        {
          id: MODEL,
          object: 'model',
          owned_by: 'lemonade',
          checkpoint: 'unsloth/Qwen2.5-Coder-1.5B-Instruct-GGUF:Q4_K_M',
          recipe: 'llamacpp',
          context_length: 4096,
          downloaded: true,
        },
        { id: 'Qwen3-1.7B-FLM', object: 'model', owned_by: 'lemonade', checkpoint: 'FastFlowLM/Qwen3-1.7B-NPU2', recipe: 'flm', downloaded: true },
      ],
    });

  it('lists the downloaded models from /api/v1/models: the recipe and context length, whatever API path the URL was pasted with', async () => {
    const server = (held.server = await FakeServer.start({ 'GET /api/v1/models': lemonadeModels }));
    for (const [url, model, recipe, contextSize] of [
      [`${server.url}/api/v1`, MODEL, 'llamacpp', 4096],
      [`${server.url}/v1/`, 'Qwen3-1.7B-FLM', 'flm', null],
    ] as const) {
      const backend = createHttpBackend('lemonade', { url, model });
      try {
        assert.deepEqual(await backend.info(), {
          backend: 'lemonade',
          model,
          devices: [],
          vramBytes: null,
          threads: null,
          fimSupported: model === MODEL,
          contextSize,
          recipe,
        });
      } finally {
        await backend.dispose();
      }
    }
    assert.deepEqual(
      server.seen.map((s) => s.path),
      ['/api/v1/models', '/api/v1/models'],
    );
  });

  it('says how to download a model it does not list', async () => {
    const server = (held.server = await FakeServer.start({ 'GET /api/v1/models': lemonadeModels }));
    held.backend = createHttpBackend('lemonade', { url: server.url, model: 'Phi-4-mini-GGUF' });
    assert.match(
      (await rejection(held.backend.info())).message,
      /^Lemonade Server at http:\/\/127\.0\.0\.1:\d+ has no model "Phi-4-mini-GGUF": download it with `lemonade-server pull Phi-4-mini-GGUF`, or change verdant\.local\.serverModel\.$/,
    );
  });

  it('streams a chat through /api/v1/chat/completions without asking for logprobs, with the context info() found', async () => {
    const server = (held.server = await FakeServer.start({
      'GET /api/v1/models': lemonadeModels,
      'POST /api/v1/chat/completions': (_s, res) =>
        stream(
          res,
          'text/event-stream',
          shred(
            sse(chatChunk('Hello')) + sse(chatChunk(', world')) + sse(chatChunk(undefined, 'stop')) + sse(usageChunk(9, 3)) + 'data: [DONE]\n\n',
            13,
          ),
          2,
        ),
    }));
    const backend = (held.backend = createHttpBackend('lemonade', { url: server.url, model: MODEL }));
    await backend.info();
    const shown: string[] = [];
    const r = await backend.generate(
      { kind: 'chat', messages: [{ role: 'user', content: 'Say hello' }], maxTokens: 8 },
      { onText: (t) => shown.push(t) },
    );
    assert.equal(r.text, 'Hello, world');
    assert.equal(shown.join(''), r.text);
    assert.equal(r.backend, 'lemonade');
    assert.equal(r.stopReason, 'eos');
    assert.equal(r.contextTokens, 4096);
    assert.equal(r.confidence.meanLogProb, null);
    assert.deepEqual([r.timing.promptTokens, r.timing.generatedTokens], [9, 3]);
    const seen = server.seen[1]!;
    assert.equal(seen.path, '/api/v1/chat/completions');
    assert.deepEqual(seen.body.messages, [{ role: 'user', content: 'Say hello' }]);
    assert.equal(seen.body.model, MODEL);
    assert.equal(seen.body.stream, true);
    assert.equal('logprobs' in seen.body, false);
  });

  it('fills in the middle with the model family’s template through /api/v1/completions', async () => {
    const server = (held.server = await FakeServer.start({
      'POST /api/v1/completions': (_s, res) =>
        stream(res, 'text/event-stream', [sse(completionChunk('return a + b')), sse(completionChunk('', {}, 'stop')), 'data: [DONE]\n\n']),
    }));
    held.backend = createHttpBackend('lemonade', { url: server.url, model: MODEL });
    const r = await held.backend.generate({ kind: 'fim', prefix: 'def add(a, b):\n    ', suffix: '\n', maxTokens: 16 });
    assert.equal(r.text, 'return a + b');
    assert.equal(r.usedFim, true);
    const seen = server.seen[0]!;
    assert.equal(seen.path, '/api/v1/completions');
    assert.equal(seen.body.prompt, '<|fim_prefix|>def add(a, b):\n    <|fim_suffix|>\n<|fim_middle|>');
    assert.equal('logprobs' in seen.body, false);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// llama-server

const llamaPiece = (content: string, logprob: number) => ({
  index: 0,
  content,
  tokens: [1],
  stop: false,
  id_slot: 0,
  tokens_predicted: 1,
  tokens_evaluated: 40,
  completion_probabilities: [{ id: 1, token: content, logprob, bytes: [], top_logprobs: [{ id: 1, token: content, logprob, bytes: [] }] }],
});
const llamaFinal = (stopType = 'eos', generationSettings: Record<string, unknown> = { n_predict: 16 }) => ({
  index: 0,
  content: '',
  tokens: [],
  id_slot: 0,
  stop: true,
  model: 'qwen',
  tokens_predicted: 2,
  tokens_evaluated: 40,
  generation_settings: generationSettings,
  prompt: '',
  has_new_line: true,
  truncated: false,
  stop_type: stopType,
  stopping_word: '',
  tokens_cached: 41,
  timings: {
    cache_n: 32,
    prompt_n: 8,
    prompt_ms: 12.5,
    prompt_per_token_ms: 1.56,
    prompt_per_second: 640,
    predicted_n: 2,
    predicted_ms: 25,
    predicted_per_token_ms: 12.5,
    predicted_per_second: 80,
  },
});

describe('llama-server backend', () => {
  let server: FakeServer | undefined;
  let backend: LlamaServerBackend | undefined;
  afterEach(async () => {
    await backend?.dispose();
    await server?.close();
    backend = server = undefined;
  });

  it('streams /infill with n_probs (when confidence is asked) and cache_prompt, reporting timings and cached tokens', async () => {
    server = await FakeServer.start({
      'POST /infill': (_s, res) =>
        stream(res, 'text/event-stream', shred(sse(llamaPiece('return', -0.25)) + sse(llamaPiece(' 1', -0.75)) + sse(llamaFinal()), 23), 3),
    });
    backend = new LlamaServerBackend({ url: server.url, slotId: 1, infillContext: () => [{ filename: 'util.py', text: 'X = 1\n' }] });
    const r = await backend.generate({ kind: 'fim', prefix: 'def f():\n    ', suffix: '\n', maxTokens: 16, stop: ['\n\n'], confidence: true });
    assert.equal(r.text, 'return 1');
    assert.equal(r.usedFim, true);
    assert.equal(r.backend, 'llama-server');
    assert.equal(r.stopReason, 'eos');
    assert.equal(r.confidence.meanLogProb, -0.5);
    assert.deepEqual([r.timing.promptTokens, r.timing.evaluatedTokens, r.timing.generatedTokens, r.timing.tokensPerSecond], [40, 8, 2, 80]);
    const body = server.seen[0]!.body;
    assert.equal(body.input_prefix, 'def f():\n    ');
    assert.equal(body.input_suffix, '\n');
    assert.deepEqual(body.input_extra, [{ filename: 'util.py', text: 'X = 1\n' }]);
    assert.deepEqual([body.n_predict, body.n_probs, body.cache_prompt, body.stream, body.id_slot, body.temperature], [16, 1, true, true, 1, 0]);
    assert.deepEqual(body.stop, ['\n\n']);
    // An inline completion does not ask for probabilities (the server sorts the vocabulary for them).
    await backend.generate({ kind: 'fim', prefix: 'def f():\n    ', suffix: '\n', maxTokens: 16 });
    assert.equal(server.seen[1]!.body.n_probs, undefined);
  });

  it('falls back to /completion when the model has no FIM tokens (501), and maps stop_type', async () => {
    server = await FakeServer.start({
      'POST /infill': (_s, res) =>
        json(res, 501, {
          error: { code: 501, message: 'Infill is not supported by this model: prefix token is missing. ', type: 'not_supported_error' },
        }),
      'POST /completion': (_s, res) => stream(res, 'text/event-stream', [sse(llamaPiece('pass', -0.1)), sse(llamaFinal('limit'))]),
    });
    backend = new LlamaServerBackend({ url: server.url });
    const r = await backend.generate({ kind: 'fim', prefix: 'def f():\n    ', suffix: '\n', maxTokens: 1 });
    assert.equal(r.text, 'pass');
    assert.equal(r.usedFim, false);
    assert.equal(r.stopReason, 'maxTokens');
    assert.equal(server.seen[1]!.body.prompt, 'def f():\n    ');
    await backend.generate({ kind: 'fim', prefix: 'a', suffix: 'b', maxTokens: 1 });
    assert.deepEqual(
      server.seen.map((s) => s.path),
      ['/infill', '/completion', '/completion'],
    );
  });

  it('completes plain prompts through /completion and chats through /v1/chat/completions', async () => {
    server = await FakeServer.start({
      'POST /completion': (_s, res) => stream(res, 'text/event-stream', [sse(llamaPiece('b', -1)), sse(llamaFinal('word'))]),
      'POST /v1/chat/completions': (_s, res) =>
        stream(res, 'text/event-stream', [
          sse(chatChunk('Yes', null, -0.5)),
          sse(chatChunk(undefined, 'stop')),
          sse({ ...usageChunk(30, 1), timings: { cache_n: 25, prompt_n: 5, predicted_n: 1, predicted_per_second: 42 } }),
          'data: [DONE]\n\n',
        ]),
    });
    backend = new LlamaServerBackend({ url: server.url, model: 'qwen' });
    const c = await backend.generate({ kind: 'completion', prompt: 'a', maxTokens: 4, stop: ['c'] });
    assert.deepEqual([c.text, c.stopReason], ['b', 'stop']);
    assert.equal(server.seen[0]!.body.prompt, 'a');
    const chat = await backend.generate({ kind: 'chat', messages: [{ role: 'user', content: 'ok?' }], maxTokens: 4 });
    assert.deepEqual(
      [chat.text, chat.timing.promptTokens, chat.timing.evaluatedTokens, chat.timing.tokensPerSecond, chat.confidence.meanLogProb],
      ['Yes', 30, 5, 42, -0.5],
    );
    assert.equal(server.seen[1]!.body.model, 'qwen');
  });

  it('sends jsonSchema as json_schema to /completion and as response_format to /v1/chat/completions, and refuses it on fim', async () => {
    server = await FakeServer.start({
      'POST /completion': (_s, res) =>
        stream(res, 'text/event-stream', [
          sse(llamaPiece(PLAN_JSON.slice(0, 5), -0.1)),
          sse(llamaPiece(PLAN_JSON.slice(5), -0.1)),
          sse(llamaFinal('eos')),
        ]),
      'POST /v1/chat/completions': (_s, res) =>
        stream(res, 'text/event-stream', [sse(chatChunk(PLAN_JSON, null)), sse(chatChunk(undefined, 'stop')), 'data: [DONE]\n\n']),
    });
    backend = new LlamaServerBackend({ url: server.url });
    await refusesFimSchema(backend, server);
    const c = await backend.generate({ kind: 'completion', prompt: 'Plan:', maxTokens: 64, jsonSchema: PLAN_SCHEMA });
    assert.deepEqual([c.text, c.stopReason], [PLAN_JSON, 'eos']);
    assert.equal(server.seen[0]!.path, '/completion');
    assert.deepEqual(server.seen[0]!.body.json_schema, PLAN_SCHEMA);
    assert.equal('response_format' in server.seen[0]!.body, false);
    const chat = await backend.generate({ kind: 'chat', messages: [{ role: 'user', content: 'Plan it.' }], maxTokens: 64, jsonSchema: PLAN_SCHEMA });
    assert.equal(chat.text, PLAN_JSON);
    assert.deepEqual(server.seen[1]!.body.response_format, {
      type: 'json_schema',
      json_schema: { name: 'verdant', schema: PLAN_SCHEMA, strict: true },
    });
    assert.equal('json_schema' in server.seen[1]!.body, false);
  });

  it('cancels mid-stream at once, and the server sees the socket close', async () => {
    const controller = new AbortController();
    const piece = (i: number) => sse(llamaPiece(`${i};`, -0.1));
    server = await FakeServer.start({
      'POST /infill': (_s, res) => streamAndStall(res, 'text/event-stream', [0, 1].map(piece), aborted(controller.signal), [2, 3].map(piece)),
    });
    backend = new LlamaServerBackend({ url: server.url });
    const { result } = await abortAfter(backend, { kind: 'fim', prefix: 'a', suffix: 'b', maxTokens: 100 }, 2, controller);
    assert.deepEqual([result.stopReason, result.text, result.usedFim], ['abort', '0;1;', true]);
    await within(server.seen[0]!.closedEarly, 'the server sees the connection close');
  });

  it('says the model is still loading (/health 503), then reports /props', async () => {
    let loading = true;
    server = await FakeServer.start({
      'GET /health': (_s, res) =>
        loading ? json(res, 503, { error: { code: 503, message: 'Loading model', type: 'unavailable_error' } }) : json(res, 200, { status: 'ok' }),
      'GET /props': (_s, res) =>
        json(res, 200, {
          default_generation_settings: { id: 0, n_ctx: 8192, params: {} },
          total_slots: 1,
          model_path: '/models/qwen2.5-coder-1.5b-q8_0.gguf',
          chat_template: '',
          build_info: 'b1-abc',
        }),
    });
    backend = new LlamaServerBackend({ url: server.url });
    const e = await rejection(backend.info());
    assert.equal(e.code, 'backend-unavailable');
    assert.match(
      e.message,
      /^llama-server at http:\/\/127\.0\.0\.1:\d+ is still loading the model \(HTTP 503: Loading model\): try again when it has finished\.$/,
    );
    loading = false;
    assert.deepEqual(await backend.info(), {
      backend: 'llama-server',
      model: 'qwen2.5-coder-1.5b-q8_0.gguf',
      devices: [],
      vramBytes: null,
      threads: null,
      fimSupported: true,
      contextSize: 8192,
    });
  });

  it('results carry the context size an answer states (older builds), else what /props said, else null', async () => {
    let settings: Record<string, unknown> = { n_predict: 16 };
    server = await FakeServer.start({
      'POST /completion': (_s, res) => stream(res, 'text/event-stream', [sse(llamaPiece('b', -1)), sse(llamaFinal('eos', settings))]),
      'POST /v1/chat/completions': (_s, res) =>
        stream(res, 'text/event-stream', [sse(chatChunk('Yes')), sse(chatChunk(undefined, 'stop')), 'data: [DONE]\n\n']),
      'GET /health': (_s, res) => json(res, 200, { status: 'ok' }),
      'GET /props': (_s, res) => json(res, 200, { default_generation_settings: { id: 0, n_ctx: 4096, params: {} }, model_path: '/m/qwen.gguf' }),
    });
    backend = new LlamaServerBackend({ url: server.url });
    const completion = { kind: 'completion', prompt: 'a', maxTokens: 4 } as const;
    const chat = { kind: 'chat', messages: [{ role: 'user', content: 'Hi' }], maxTokens: 4 } as const;
    assert.deepEqual([(await backend.generate(completion)).contextTokens, (await backend.generate(chat)).contextTokens], [null, null]);
    await backend.info();
    assert.deepEqual([(await backend.generate(completion)).contextTokens, (await backend.generate(chat)).contextTokens], [4096, 4096]);
    settings = { n_ctx: 8192, n_predict: 16 };
    assert.equal((await backend.generate(completion)).contextTokens, 8192);
    assert.equal((await backend.generate(chat)).contextTokens, 8192, 'the chat endpoint keeps what the last answer said');
    settings = { n_ctx: -1 };
    assert.equal((await backend.generate(completion)).contextTokens, 8192, 'a nonsense n_ctx is not taken');
  });

  it('reports an error event in the stream (older `error:` field) and a cut stream', async () => {
    let mode = 'error';
    server = await FakeServer.start({
      'POST /completion': (_s, res) =>
        stream(
          res,
          'text/event-stream',
          mode === 'error'
            ? [sse(llamaPiece('a', -1)), 'error: {"code":500,"message":"failed to decode the batch","type":"server_error"}\n\n']
            : [sse(llamaPiece('a', -1))],
        ),
    });
    backend = new LlamaServerBackend({ url: server.url });
    assert.match(
      (await rejection(backend.generate({ kind: 'completion', prompt: 'p', maxTokens: 4 }))).message,
      /^llama-server at .* reported an error while generating \(failed to decode the batch\)/,
    );
    mode = 'cut';
    assert.match(
      (await rejection(backend.generate({ kind: 'completion', prompt: 'p', maxTokens: 4 }))).message,
      /malformed response \(the stream ended before the final message\)/,
    );
  });
});

// ---------------------------------------------------------------------------------------------------------------
// A buggy or hostile server at verdant.local.serverUrl (issue #16 item 5): every body, line and event is read only up
// to a cap, an answer ends on the client past maxTokens, and every request has a deadline and a data-only idle timeout.

describe('HTTP backends against a hostile server', () => {
  // Caps small enough that a test server pours far more than them; each pour stops when the client hangs up.
  const SMALL = { maxResponseBytes: 64 * 1024, maxEventBytes: 64 * 1024 };
  const POURED = 64 * 2 ** 20;
  const KIB = 'x'.repeat(1024);

  /** What differs between the stream formats: how a message, a keep-alive and an endless line look, and the paths. */
  interface Family {
    readonly name: string;
    readonly product: string;
    readonly create: (url: string, bounds: ServerConnectionOptions) => InferenceBackend;
    /** The route a completion request streams from. */
    readonly stream: string;
    readonly contentType: string;
    /** One message with `text` ('' for a message that carries no text). */
    readonly piece: (text: string) => string;
    /** Bytes that keep a connection busy but are not data. */
    readonly keepAlive: string;
    /** An endless line or event: `head` once, then `body` again and again. */
    readonly endless: { readonly head: string; readonly body: string; readonly word: 'line' | 'event' };
    /** The first request info() makes: a JSON answer. */
    readonly info: string;
  }
  const FAMILIES: readonly Family[] = [
    {
      name: 'Ollama (NDJSON)',
      product: 'Ollama',
      create: (url, b) => new OllamaBackend({ url, model: 'm', ...b }),
      stream: 'POST /api/generate',
      contentType: 'application/x-ndjson',
      piece: (t) => ollamaPiece(t),
      keepAlive: '\n',
      endless: { head: '{"model":"m","response":"', body: KIB, word: 'line' },
      info: 'POST /api/show',
    },
    {
      name: 'llama-server (SSE)',
      product: 'llama-server',
      create: (url, b) => new LlamaServerBackend({ url, ...b }),
      stream: 'POST /completion',
      contentType: 'text/event-stream',
      piece: (t) => sse(llamaPiece(t, -0.1)),
      keepAlive: ': ping\n\n',
      endless: { head: 'data: {"content":"', body: KIB, word: 'event' },
      info: 'GET /health',
    },
    {
      // One endless event of short data lines (no blank line ever ends it): the event is capped, not only each line.
      name: 'LM Studio (OpenAI-style SSE)',
      product: 'LM Studio',
      create: (url, b) => new OpenAiCompatibleBackend({ flavour: 'lmstudio', url, model: 'm', ...b }),
      stream: 'POST /v1/completions',
      contentType: 'text/event-stream',
      piece: (t) => sse(completionChunk(t)),
      keepAlive: ': ping\n\n',
      endless: { head: '', body: `data: ${KIB}\n`, word: 'event' },
      info: 'GET /v1/models',
    },
  ];
  const ask = { kind: 'completion', prompt: 'p', maxTokens: 100 } as const;
  const head = (res: ServerResponse, contentType: string, extra: Record<string, string> = {}) => {
    res.writeHead(200, { 'content-type': contentType, ...extra });
    res.flushHeaders();
  };

  const held = closedAfterEach();
  const start = async (f: Family, bounds: ServerConnectionOptions, routes: Record<string, Route>) => {
    const s = (held.server = await FakeServer.start(routes));
    const b = (held.backend = f.create(s.url, bounds));
    return { s, b };
  };

  for (const f of FAMILIES) {
    describe(f.name, () => {
      it('stops reading a JSON answer at its cap, and hangs up', async () => {
        let written: Promise<number> | undefined;
        const { s, b } = await start(
          f,
          { limits: SMALL },
          {
            [f.info]: (_seen, res) => {
              head(res, 'application/json');
              res.write('{"models":[');
              written = pour(res, `"${KIB}",`, POURED);
            },
          },
        );
        const e = await rejection(b.info());
        assert.equal(e.code, 'backend-unavailable');
        assert.match(
          e.message,
          new RegExp(
            `^${f.product} at http://127\\.0\\.0\\.1:\\d+ sent a response of more than 64 KiB: check that verdant\\.local\\.serverUrl points at ${f.product}`,
          ),
        );
        await within(s.seen[0]!.closedEarly, 'the server sees the connection close');
        assert.ok((await written!) < POURED, 'the client stopped reading');
      });

      it(`fails on a streamed ${f.endless.word} past its cap, and hangs up`, async () => {
        let written: Promise<number> | undefined;
        const { s, b } = await start(
          f,
          { limits: SMALL },
          {
            [f.stream]: (_seen, res) => {
              head(res, f.contentType);
              res.write(f.piece('Before '));
              res.write(f.endless.head);
              written = pour(res, f.endless.body, POURED);
            },
          },
        );
        const shown: string[] = [];
        const e = await rejection(b.generate(ask, { onText: (t) => shown.push(t) }));
        assert.equal(e.code, 'backend-unavailable');
        assert.match(
          e.message,
          new RegExp(`sent a streamed ${f.endless.word} of more than 64 KiB: check that verdant\\.local\\.serverUrl points at ${f.product}`),
        );
        assert.equal(shown.join(''), 'Before ');
        await within(s.seen[0]!.closedEarly, 'the server sees the connection close');
        assert.ok((await written!) < POURED, 'the client stopped reading');
      });

      it('ends an answer that runs past maxTokens at maxTokens x 16 characters: the text so far, stopReason "maxTokens"', async () => {
        let written: Promise<number> | undefined;
        const { s, b } = await start(
          f,
          {},
          {
            [f.stream]: (_seen, res) => {
              head(res, f.contentType);
              written = pour(res, f.piece('word '), POURED); // never a final message
            },
          },
        );
        const shown: string[] = [];
        const r = await b.generate({ ...ask, maxTokens: 8 }, { onText: (t) => shown.push(t) });
        assert.equal(r.stopReason, 'maxTokens');
        assert.equal(r.text, 'word '.repeat(26).slice(0, 8 * 16));
        assert.equal(shown.join(''), r.text, 'what was shown is what is returned');
        await within(s.seen[0]!.closedEarly, 'the server sees the connection close');
        assert.ok((await written!) < POURED, 'the client stopped reading');
      });

      it('does not count keep-alives as progress: fails once no data came for the idle time', async () => {
        const { s, b } = await start(
          f,
          { timeoutMs: 30_000, idleMs: 300 },
          {
            [f.stream]: (_seen, res) => {
              head(res, f.contentType);
              res.write(f.piece('Hello'));
              // Bytes every 50 ms but never data: only the client's 300 ms data-idle timeout can end the request.
              void trickle(res, f.keepAlive, 50);
            },
          },
        );
        const shown: string[] = [];
        const e = await within(rejection(b.generate(ask, { onText: (t) => shown.push(t) })), 'the idle timeout ends the request');
        assert.equal(e.code, 'backend-unavailable');
        assert.match(e.message, new RegExp(`^${f.product} at .* sent no data for 0\\.3 s in the middle of an answer`));
        assert.equal(shown.join(''), 'Hello');
        await within(s.seen[0]!.closedEarly, 'the server sees the connection close');
      });

      it('fails at the deadline when a stream trickles data forever, or a JSON answer trickles', async () => {
        const { s, b } = await start(
          f,
          { timeoutMs: 30_000, deadlineMs: 500 },
          {
            [f.stream]: (_seen, res) => {
              head(res, f.contentType);
              // A message without text every 50 ms: never idle, never done, never long; only the 500 ms deadline can end it.
              void trickle(res, f.piece(''), 50);
            },
            [f.info]: (_seen, res) => {
              head(res, 'application/json');
              void trickle(res, ' ', 50);
            },
          },
        );
        const deadline = new RegExp(`^${f.product} at .* did not finish answering within 0\\.5 s`);
        for (const [i, call] of [() => b.generate(ask), () => b.info()].entries()) {
          const e = await within(rejection(call()), 'the deadline ends the request');
          assert.equal(e.code, 'backend-unavailable');
          assert.match(e.message, deadline);
          await within(s.seen[i]!.closedEarly, 'the server sees the connection close');
        }
      });
    });
  }

  it('refuses a JSON answer whose Content-Length is over the cap without waiting for it', async () => {
    // The body announces 1 GiB, sends a few bytes and stalls: only a refusal on the header ends the request.
    const { s, b } = await start(
      FAMILIES[0]!,
      { limits: SMALL },
      {
        'POST /api/show': (_seen, res) => {
          head(res, 'application/json', { 'content-length': String(2 ** 30) });
          res.write('{"lic');
        },
      },
    );
    const e = await within(rejection(b.info()), 'the client refuses the answer');
    assert.match(e.message, /sent a response of more than 64 KiB/);
    await within(s.seen[0]!.closedEarly, 'the server sees the connection close');
  });
});
