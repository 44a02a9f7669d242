// The pure parts of the HTTP backends: line splitting, server-sent events, NDJSON, stop strings, timing, messages.
import * as assert from 'node:assert/strict';
import { EngineError } from '../../src/engine/errors';
import {
  describeFailure,
  Generation,
  HttpStatusError,
  ndjsonMessages,
  parseStreamData,
  serverMessageOf,
  SseParser,
  sseMessages,
  StopMatcher,
  StreamFormatError,
  StreamServerError,
  type FailureContext,
  type StreamMessage,
} from '../../src/engine/backends/http';
import { buildFimPrompt, detectFimFamily, FIM_TEMPLATES, openAiLogProbs, resolveFimRenderer } from '../../src/engine/backends/openaiCompatible';
import { llamaLogProbs } from '../../src/engine/backends/llamaServer';
import { cappedLines, clip, LimitExceeded, readCapped } from '../../src/core/net/bounded';
import { LineSplitter } from '../../src/core/net/lines';
import { DataIdle, DeadlinePassed } from '../../src/core/net/watchdog';

const enc = new TextEncoder();
async function* chunks(...parts: (string | Uint8Array)[]): AsyncGenerator<Uint8Array> {
  for (const p of parts) yield typeof p === 'string' ? enc.encode(p) : p;
}
async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}
/** The lines of a body, with a cap no test line comes near. */
const readLines = (body: AsyncIterable<Uint8Array>, framing: 'sse' | 'ndjson' = 'sse') => cappedLines(body, 1 << 20, framing);
const splitAll = (...parts: string[]) => {
  const s = new LineSplitter();
  return [...parts.flatMap((p) => s.push(p)), ...s.end()];
};

describe('LineSplitter', () => {
  it('splits on LF, CRLF and CR', () => {
    assert.deepEqual(splitAll('a\nb\r\nc\rd\n'), ['a', 'b', 'c', 'd']);
  });
  it('joins a line split across chunks and keeps empty lines', () => {
    assert.deepEqual(splitAll('da', 'ta: 1\n', '\n', 'x'), ['data: 1', '', 'x']);
  });
  it('does not see an extra line when CRLF is split between chunks', () => {
    assert.deepEqual(splitAll('a\r', '\nb\r', '\r\n', 'c'), ['a', 'b', '', 'c']);
  });
  it('returns a final line that has no terminator, and nothing for an empty tail', () => {
    assert.deepEqual(splitAll('one\ntwo'), ['one', 'two']);
    assert.deepEqual(splitAll('one\n'), ['one']);
  });
});

describe('reading lines', () => {
  it('decodes a UTF-8 character split across chunks', async () => {
    const bytes = enc.encode('héllo →\n');
    const lines = await collect(readLines(chunks(bytes.slice(0, 2), bytes.slice(2, 7), bytes.slice(7))));
    assert.deepEqual(lines, ['héllo →']);
  });
});

describe('SseParser', () => {
  const parse = (text: string) => {
    const p = new SseParser();
    const splitter = new LineSplitter();
    const events = [...splitter.push(text), ...splitter.end()].map((l) => p.push(l)).filter((e) => e !== undefined);
    const last = p.end();
    return last ? [...events, last] : events;
  };
  it('dispatches data on a blank line, skips comments and unknown fields', () => {
    assert.deepEqual(parse(': keep-alive\nid: 7\nretry: 10\ndata: {"a":1}\n\n'), [{ event: 'message', data: '{"a":1}' }]);
  });
  it('joins multi-line data, honours `event:` and a value without the space', () => {
    assert.deepEqual(parse('event: delta\ndata:one\ndata: two\n\n'), [{ event: 'delta', data: 'one\ntwo' }]);
  });
  it('does not dispatch a blank line without data, and keeps a last event without its blank line', () => {
    assert.deepEqual(parse('\n\ndata: [DONE]'), [{ event: 'message', data: '[DONE]' }]);
  });
  it('reads the `error:` field of older llama-server builds as an error event', () => {
    assert.deepEqual(parse('error: {"code":500}\n\n'), [{ event: 'error', data: '{"code":500}' }]);
  });
});

describe('stream messages', () => {
  it('parses SSE JSON events, [DONE], CRLF and events split across chunks', async () => {
    const msgs = await collect(
      sseMessages(readLines(chunks('data: {"n":', '1}\r\n\r', '\n: ping\r\n', 'data: {"n":2}\r\n\r\ndata: [DONE]\r\n\r\n'))),
    );
    assert.deepEqual(msgs, [{ done: false, value: { n: 1 } }, { done: false, value: { n: 2 } }, { done: true }]);
  });
  it('parses NDJSON, skipping blank lines, with a final line lacking its newline', async () => {
    const msgs = await collect(ndjsonMessages(readLines(chunks('{"a":1}\n\n{"a"', ':2}'), 'ndjson')));
    assert.deepEqual(
      msgs.map((m: StreamMessage) => (m.done ? null : m.value.a)),
      [1, 2],
    );
  });
  it('rejects a line that is not JSON, or not an object, without echoing it', () => {
    assert.throws(
      () => parseStreamData('secret code here'),
      (e: unknown) => e instanceof StreamFormatError && !e.message.includes('secret'),
    );
    assert.throws(() => parseStreamData('[1,2]'), StreamFormatError);
  });
  it('turns an {"error": ...} object or an error event into a server error', async () => {
    assert.throws(
      () => parseStreamData('{"error":"out of memory"}'),
      (e: unknown) => e instanceof StreamServerError && e.serverMessage === 'out of memory',
    );
    assert.throws(
      () => parseStreamData('{"error":{"code":500,"message":"slot busy"}}'),
      (e: unknown) => e instanceof StreamServerError && e.serverMessage === 'slot busy',
    );
    await assert.rejects(collect(sseMessages(readLines(chunks('error: {"message":"boom"}\n\n')))), StreamServerError);
  });
});

describe('bounded reading (core/net): capped lines, capped bodies, the answer cap', () => {
  const over = (what: string, limit: number) => (e: unknown) => e instanceof LimitExceeded && e.what === what && e.limitBytes === limit;

  it('splits lines as readLines does while every line and event stays within the cap', async () => {
    const text = ': ping\r\ndata: {"a":1}\n\ndata: é€😀\ndata: 2\n\n';
    assert.deepEqual(await collect(cappedLines(chunks(text.slice(0, 9), text.slice(9)), 64, 'sse')), await collect(readLines(chunks(text))));
  });
  it('throws once the line being received passes the cap, before it ends', async () => {
    let sent = 0;
    async function* endless(): AsyncGenerator<Uint8Array> {
      for (;;) {
        sent++;
        yield enc.encode('x'.repeat(100));
      }
    }
    await assert.rejects(collect(cappedLines(endless(), 1000, 'sse')), over('event', 1000));
    assert.equal(sent, 11, 'it stopped at the chunk that passed the cap');
  });
  it("counts an event's lines together, but not comments, and starts again after a blank line", async () => {
    const line = `data: ${'y'.repeat(30)}\n`;
    await assert.rejects(collect(cappedLines(chunks(line, line, line), 80, 'sse')), over('event', 80));
    assert.equal((await collect(cappedLines(chunks(line, line, '\n', line, line, '\n'), 80, 'sse'))).length, 6);
    assert.equal((await collect(cappedLines(chunks(...Array(20).fill(': keep-alive ping\n')), 80, 'sse'))).length, 20);
  });
  it('with NDJSON framing caps each line alone (a line is a message; there are no events to add up)', async () => {
    const line = `${JSON.stringify({ response: 'y'.repeat(30) })}\n`;
    assert.equal((await collect(cappedLines(chunks(...Array(20).fill(line)), 80, 'ndjson'))).length, 20);
    await assert.rejects(collect(cappedLines(chunks(line.slice(0, -1), line.slice(0, -1), line), 80, 'ndjson')), over('line', 80));
  });
  it('reads a body up to its cap, stops past it or when Content-Length announces more, and never throws on bad UTF-8', async () => {
    assert.equal(await readCapped(chunks('{"a":', '1}'), 'answer', 7), '{"a":1}');
    await assert.rejects(readCapped(chunks('{"a":', '12}', 'never read'), 'answer', 7), over('answer', 7));
    let read = false;
    async function* untouched(): AsyncGenerator<Uint8Array> {
      read = true;
      yield enc.encode('{}');
    }
    await assert.rejects(readCapped(untouched(), 'model list', 7, '8'), over('model list', 7));
    assert.equal(read, false, 'refused on its Content-Length, before reading');
    assert.equal(await readCapped(chunks(new Uint8Array([0x22, 0xff, 0xfe, 0x22])), 'answer', 64), '"\ufffd\ufffd"');
  });
  it('clips text to the room left, never between the halves of a surrogate pair', () => {
    assert.equal(clip('abc', 5), 'abc');
    assert.equal(clip('abc', 2), 'ab');
    assert.equal(clip('abc', 0), '');
    assert.equal(clip('a😀b', 2), 'a');
    assert.equal(clip('a😀b', 3), 'a😀');
  });
});

describe('StopMatcher', () => {
  it('cuts at the earliest stop string and drops the rest', () => {
    const m = new StopMatcher(['END', '\n\n']);
    assert.equal(m.push('abc\n\ndef END'), 'abc');
    assert.ok(m.stopped);
    assert.equal(m.push('more'), '');
  });
  it('holds back text that may become a stop string across pieces', () => {
    const m = new StopMatcher(['</end>']);
    assert.equal(m.push('x </'), 'x ');
    assert.equal(m.push('en'), '');
    assert.equal(m.push('d>tail'), '');
    assert.ok(m.stopped);
  });
  it('releases held-back text when it turns out not to be a stop string, or at the end', () => {
    const m = new StopMatcher(['STOP']);
    assert.equal(m.push('a ST'), 'a ');
    assert.equal(m.push('AY'), 'STAY');
    assert.equal(m.push('S'), '');
    assert.equal(m.flush(), 'S');
    assert.ok(!m.stopped);
  });
  it('passes everything through without stop strings', () => {
    const m = new StopMatcher(['']);
    assert.equal(m.push('abc'), 'abc');
  });
});

describe('Generation', () => {
  it('reports text, timing and mean log-probability from what it saw', () => {
    let t = 1000;
    const shown: string[] = [];
    const g = new Generation(
      ['#'],
      (s) => shown.push(s),
      Infinity,
      () => t,
    );
    t = 1050;
    g.addText('a');
    g.addLogProbs([-0.5]);
    t = 1100;
    g.addText('b');
    g.addLogProbs([-1.5]);
    t = 1150;
    g.addText('c#d');
    t = 1200;
    const r = g.finish({ stopReason: 'stop', usedFim: true, backend: 'x', model: 'm', contextTokens: null });
    assert.equal(r.text, 'abc');
    assert.deepEqual(shown, ['a', 'b', 'c']);
    assert.deepEqual(r.timing, { promptTokens: 0, evaluatedTokens: null, generatedTokens: 3, ttftMs: 50, totalMs: 200, tokensPerSecond: 2 / 0.15 });
    assert.equal(r.confidence.meanLogProb, -1);
    assert.equal(r.confidence.meanEntropy, null);
  });
  it('prefers the server’s numbers, and has no log-probability when none came', () => {
    let t = 0;
    const g = new Generation([], undefined, Infinity, () => t);
    t = 10;
    const r = g.finish(
      { stopReason: 'eos', usedFim: false, backend: 'x', model: 'm', contextTokens: 8192 },
      { promptTokens: 12, evaluatedTokens: 4, generatedTokens: 0, tokensPerSecond: 0 },
    );
    assert.equal(r.contextTokens, 8192);
    assert.equal(r.timing.ttftMs, 10);
    assert.equal(r.timing.promptTokens, 12);
    assert.equal(r.timing.evaluatedTokens, 4);
    assert.equal(r.confidence.meanLogProb, null);
  });
});

describe("Generation's cap on the text", () => {
  it('takes text up to maxChars, stop strings applied to what it took, and then nothing more', () => {
    const shown: string[] = [];
    const g = new Generation(['END'], (t) => shown.push(t), 10);
    g.addText('0123');
    g.addLogProbs([-1]);
    g.addText('4567EN');
    assert.equal(g.capped, false);
    g.addText('D89');
    assert.ok(g.capped, 'the piece that crossed the cap was clipped');
    assert.equal(g.stopped, false, '"END" would end past the cap, so it never counts');
    g.addText('more');
    g.addLogProbs([-100]);
    const r = g.finish({ stopReason: 'maxTokens', usedFim: false, backend: 'x', model: 'm', contextTokens: null });
    assert.equal(r.text, '01234567EN', 'what was held back for a stop string comes out at the end');
    assert.equal(shown.join(''), r.text);
    assert.equal(r.timing.generatedTokens, 2);
    assert.equal(r.confidence.meanLogProb, -1, 'log-probabilities after the cap do not count');
  });
  it('never ends between the halves of a surrogate pair', () => {
    const g = new Generation([], undefined, 3);
    g.addText('ab😀');
    assert.ok(g.capped);
    assert.equal(g.finish({ stopReason: 'maxTokens', usedFim: false, backend: 'x', model: 'm', contextTokens: null }).text, 'ab');
  });
});

describe('failure messages', () => {
  const ctx: FailureContext = {
    profile: { product: 'Ollama', startCommand: 'ollama serve', modelHint: (m) => `get it with \`ollama pull ${m}\`` },
    url: 'http://127.0.0.1:11434',
    connectTimeoutMs: 5000,
    timeoutMs: 60000,
    idleMs: 30000,
    secrets: ['sk-secret-key'],
  };
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:11434'), { code: 'ECONNREFUSED' });
  it('names the start command when nothing listens, also through a cause chain', () => {
    for (const e of [refused, new Error('fetch failed', { cause: refused })]) {
      const err = describeFailure(ctx, e, 'm');
      assert.equal(err.code, 'backend-unavailable');
      assert.equal(err.message, 'Ollama is not running at http://127.0.0.1:11434: start it with `ollama serve`, or change verdant.local.serverUrl.');
    }
  });
  it('maps statuses to one message each, never showing the key', () => {
    const msg = (status: number, said: string) => describeFailure(ctx, new HttpStatusError(status, '/api/generate', said, null), 'qwen');
    assert.match(msg(404, "model 'qwen' not found").message, /has no model "qwen": get it with `ollama pull qwen`/);
    assert.match(msg(404, '404 page not found').message, /no \/api\/generate endpoint/);
    assert.match(msg(429, 'too many').message, /busy \(HTTP 429: too many\): wait a few seconds/);
    assert.match(msg(503, 'Loading model').message, /still loading the model/);
    assert.match(msg(500, 'boom').message, /failed \(HTTP 500: boom\): try again/);
    assert.equal(msg(400, 'bad option').code, 'bad-request');
    assert.doesNotMatch(msg(401, 'invalid key sk-secret-key').message, /sk-secret-key/);
  });
  it('passes EngineErrors through, and does not blame the server for a plain bug', () => {
    const e = new EngineError('cancelled', 'x');
    assert.equal(describeFailure(ctx, e, 'm'), e);
    assert.equal(describeFailure(ctx, new TypeError('x is not a function'), 'm').code, 'internal');
  });
  it('names the setting to check when the server sends too much, no data, or too slowly', () => {
    const big = describeFailure(ctx, new LimitExceeded('response', 8 * 2 ** 20), 'm');
    assert.equal(big.code, 'backend-unavailable');
    assert.equal(
      big.message,
      'Ollama at http://127.0.0.1:11434 sent a response of more than 8 MiB: check that verdant.local.serverUrl points at Ollama (another program may be listening on that port).',
    );
    assert.match(
      describeFailure(ctx, new LimitExceeded('line', 4 * 2 ** 20), 'm').message,
      /sent a streamed line of more than 4 MiB: check that verdant\.local\.serverUrl/,
    );
    assert.match(describeFailure(ctx, new DataIdle(), 'm').message, /^Ollama at .* sent no data for 30 s in the middle of an answer: try again/);
    const late = describeFailure(ctx, new DeadlinePassed(304_000), 'm');
    assert.equal(late.code, 'backend-unavailable');
    assert.equal(
      late.message,
      'Ollama at http://127.0.0.1:11434 did not finish answering within 304 s: it is too slow or stuck; restart it, and check that verdant.local.serverUrl points at Ollama.',
    );
  });
  it('explains timeouts with the time waited', () => {
    const timeout = (code: string) => describeFailure(ctx, Object.assign(new Error('timeout'), { code }), 'm').message;
    assert.match(timeout('UND_ERR_HEADERS_TIMEOUT'), /did not answer within 60 s/);
    assert.match(timeout('UND_ERR_BODY_TIMEOUT'), /sent no data for 30 s in the middle of an answer/);
    assert.match(timeout('UND_ERR_CONNECT_TIMEOUT'), /did not accept a connection at .* within 5 s: check that it is running \(`ollama serve`\)/);
    assert.match(timeout('ENOTFOUND'), /host name does not resolve/);
  });
  it('finds the server’s message in the usual error shapes', () => {
    assert.equal(serverMessageOf('{"error":"model \'x\' not found"}'), "model 'x' not found");
    assert.equal(serverMessageOf('{"error":{"code":503,"message":"Loading model","type":"unavailable_error"}}'), 'Loading model');
    assert.equal(serverMessageOf('{"detail":"nope."}'), 'nope');
    assert.equal(serverMessageOf('Not Found\n'), 'Not Found');
    assert.equal(serverMessageOf('<html><head><style>p{}</style></head><body><h1>502 Bad Gateway</h1></body></html>'), '502 Bad Gateway');
  });
});

describe('FIM templates and log-probabilities', () => {
  it('detects the family from model ids', () => {
    assert.equal(detectFimFamily('mlx-community/Qwen2.5-Coder-1.5B-4bit'), 'qwen2.5-coder');
    assert.equal(detectFimFamily('codellama-7b-code'), 'codellama');
    assert.equal(detectFimFamily('bigcode/starcoder2-3b'), 'starcoder2');
    assert.equal(detectFimFamily('deepseek-coder-1.3b-base'), 'deepseek-coder');
    assert.equal(detectFimFamily('llama-3.2-3b-instruct'), null);
    assert.equal(resolveFimRenderer('none', 'qwen2.5-coder'), null);
    assert.equal(resolveFimRenderer('auto', 'llama-3.2-3b-instruct'), null);
  });
  it('builds prompts literally, even with $ patterns in the code', () => {
    assert.equal(buildFimPrompt(FIM_TEMPLATES['qwen2.5-coder'], 'a$&', '$1b'), '<|fim_prefix|>a$&<|fim_suffix|>$1b<|fim_middle|>');
    assert.equal(buildFimPrompt(FIM_TEMPLATES.codellama, 'p', 's'), '<PRE> p <SUF>s <MID>');
    assert.throws(() => resolveFimRenderer({ template: '{prefix}', stop: [] }, 'm'), EngineError);
  });
  it('renders a named family with the core templates, a custom template literally', () => {
    const input = { prefix: 'p', suffix: 's', filePath: 'b.py', extra: [{ path: 'a.py', text: 'A' }] };
    assert.equal(
      resolveFimRenderer('auto', 'Qwen2.5-Coder-7B')!(input).prompt,
      '<|file_sep|>a.py\nA\n<|file_sep|>b.py\n<|fim_prefix|>p<|fim_suffix|>s<|fim_middle|>',
    );
    assert.deepEqual(resolveFimRenderer({ template: '<P>{prefix}<S>{suffix}', stop: ['<E>'] }, 'm')!(input), { prompt: '<P>p<S>s', stop: ['<E>'] });
  });
  it('reads log-probabilities in the OpenAI and llama-server shapes', () => {
    assert.deepEqual(openAiLogProbs({ content: [{ token: 'a', logprob: -0.25 }] }), [-0.25]);
    assert.deepEqual(openAiLogProbs({ tokens: ['a', 'b'], token_logprobs: [-1, null] }), [-1]);
    assert.deepEqual(openAiLogProbs(null), []);
    assert.deepEqual(llamaLogProbs([{ id: 1, token: 'a', logprob: -0.5, top_logprobs: [] }]), [-0.5]);
    assert.deepEqual(
      llamaLogProbs([
        {
          content: 'a',
          probs: [
            { tok_str: 'b', prob: 0.3 },
            { tok_str: 'a', prob: 0.5 },
          ],
        },
      ]),
      [Math.log(0.5)],
    );
  });
});
