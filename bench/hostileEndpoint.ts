// The cloud client and a local server backend (Ollama's) against a hostile server on 127.0.0.1
// (`npm run bench -- hostile-endpoint`): for the cloud client a 600 MiB non-streamed answer, one 600 MiB SSE line, and
// an endless stream of small events; for Ollama a 600 MiB info() answer, one 600 MiB NDJSON line, and an endless
// NDJSON stream; each with the client's default limits. Records how much the client process's RSS and V8 heap grew
// (peak over a baseline taken after a warm-up request), what the call ended with, and how many bytes the server got
// out before the client hung up. Writes bench/results/hostile-endpoint.json.
// Each scenario's client runs in a fresh process (peak RSS is per process); the server runs in this one and writes
// from one reused buffer, waiting for the socket to drain, so it holds little itself.
//   node out/bench/hostileEndpoint.js [--mib 600] [--scenarios body,ollama-line]
//   node --expose-gc out/bench/hostileEndpoint.js --client SCENARIO --url URL   (one client; prints one JSON line)
import { spawn } from 'node:child_process';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { CloudClient } from '../src/core/cloud/client';
import { OllamaBackend } from '../src/engine/backends/ollama';
import { machine, MiB, round, writeResult } from './util';

const { values } = parseArgs({
  options: { mib: { type: 'string', default: '600' }, scenarios: { type: 'string' }, client: { type: 'string' }, url: { type: 'string' } },
});
const TOTAL = Number(values.mib) * MiB;
const SCENARIOS = ['body', 'line', 'endless', 'ollama-body', 'ollama-line', 'ollama-endless'] as const;
type Scenario = (typeof SCENARIOS)[number];
const MAX_TOKENS = 1024;
const MODEL = 'bench-model';
const CHUNK = `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: 'word ' }, finish_reason: null }] })}\n\n`;
const ollamaLine = (response: string, done = false) =>
  `${JSON.stringify({ model: MODEL, created_at: '2026-01-01T00:00:00Z', response, done, ...(done ? { done_reason: 'stop' } : {}) })}\n`;
/** The prompt of the Ollama client's warm-up request, answered with a short stream. */
const WARM_UP = 'warm-up';

interface ClientReport {
  readonly outcome: string;
  readonly textChars: number;
  readonly ms: number;
  readonly rssBaselineMiB: number;
  readonly rssPeakGrowthMiB: number;
  readonly heapBaselineMiB: number;
  readonly heapPeakGrowthMiB: number;
}

// ---- the server (this process) ----

/** Writes `piece` until `total` bytes are out or the client hangs up; resolves with the bytes written. */
async function pour(res: ServerResponse, head: string, piece: Buffer, total: number, tail: string): Promise<number> {
  let closed = false;
  res.once('close', () => {
    closed = true;
  });
  let written = Buffer.byteLength(head);
  res.write(head);
  while (written < total && !closed) {
    written += piece.length;
    if (!res.write(piece))
      await new Promise<void>((resolve) => {
        const done = () => {
          res.off('drain', done);
          res.off('close', done);
          resolve();
        };
        res.on('drain', done);
        res.on('close', done);
      });
  }
  if (!closed) res.end(tail);
  return written;
}

function serve(scenario: Scenario, res: ServerResponse): Promise<number> {
  const x = Buffer.alloc(64 * 1024, 'x');
  const ndjson = () => res.writeHead(200, { 'content-type': 'application/x-ndjson' });
  switch (scenario) {
    case 'body':
      res.writeHead(200, { 'content-type': 'application/json' });
      return pour(res, '{"choices":[{"index":0,"message":{"role":"assistant","content":"', x, TOTAL, '"},"finish_reason":"stop"}]}');
    case 'line':
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      return pour(res, 'data: {"choices":[{"index":0,"delta":{"content":"', x, TOTAL, '"},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n');
    case 'endless':
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      return pour(res, '', Buffer.from(CHUNK.repeat(Math.floor(x.length / CHUNK.length))), TOTAL, '');
    case 'ollama-body':
      res.writeHead(200, { 'content-type': 'application/json' });
      return pour(res, '{"license":"', x, TOTAL, '"}');
    case 'ollama-line':
      ndjson();
      return pour(res, `{"model":"${MODEL}","response":"`, x, TOTAL, `","done":false}\n${ollamaLine('', true)}`);
    case 'ollama-endless': {
      ndjson();
      const line = ollamaLine('word ');
      return pour(res, '', Buffer.from(line.repeat(Math.floor(x.length / line.length))), TOTAL, '');
    }
  }
}

function runClient(scenario: Scenario, url: string): Promise<ClientReport> {
  const child = spawn(process.execPath, ['--expose-gc', __filename, '--client', scenario, '--url', url], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  return new Promise((resolve, reject) =>
    child.on('close', (code) => {
      const line = out.trim().split('\n').at(-1) ?? '';
      try {
        resolve(JSON.parse(line) as ClientReport);
      } catch {
        reject(new Error(`the ${scenario} client exited with ${code} and printed ${JSON.stringify(out.slice(-500))}`));
      }
    }),
  );
}

/** The scenarios named by --scenarios (all by default). */
function chosen(): readonly Scenario[] {
  const names = values.scenarios?.split(',') ?? [...SCENARIOS];
  const unknown = names.filter((n) => !(SCENARIOS as readonly string[]).includes(n));
  if (unknown.length > 0) throw new Error(`--scenarios takes ${SCENARIOS.join(', ')}; not ${unknown.join(', ')}`);
  return names as Scenario[];
}

async function orchestrate(): Promise<void> {
  let current: Scenario = 'body';
  let written: Promise<number> = Promise.resolve(0);
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (d: string) => {
      body += d;
    });
    req.on('end', () => {
      // The clients' warm-ups: the cloud client's asks for a small model list, Ollama's for a short answer.
      if (req.url?.endsWith('/models'))
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ object: 'list', data: [{ id: MODEL }] }));
      else if (req.url === '/api/ps') res.writeHead(200, { 'content-type': 'application/json' }).end('{"models":[]}');
      else if (body.includes(`"prompt":"${WARM_UP}"`))
        res.writeHead(200, { 'content-type': 'application/x-ndjson' }).end(ollamaLine('ok') + ollamaLine('', true));
      else written = serve(current, res);
    });
  });
  const port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
  const scenarios: Record<string, ClientReport & { serverSentMiB: number }> = {};
  try {
    for (const scenario of chosen()) {
      current = scenario;
      const report = await runClient(scenario, `http://127.0.0.1:${port}${scenario.startsWith('ollama') ? '' : '/v1'}`);
      scenarios[scenario] = { ...report, serverSentMiB: round((await written) / MiB, 2) };
      console.error(`${scenario}: ${JSON.stringify(scenarios[scenario])}`);
    }
  } finally {
    server.closeAllConnections();
    server.close();
  }
  writeResult('hostile-endpoint', {
    date: new Date().toISOString(),
    machine: machine(),
    poured: { mib: TOTAL / MiB },
    maxTokens: MAX_TOKENS,
    scenarios,
    note: 'growth = peak over the baseline taken after a warm-up request and a forced GC; RSS and heap used sampled every 2 ms, RSS also from the process high-water mark (getrusage) when the call raised it',
  });
}

// ---- one client (a child process) ----

/** How one call under test ended. */
interface Ending {
  readonly outcome: string;
  readonly textChars: number;
}

/** A client under test: warmed up once, then called once under measurement, then closed. */
interface Subject {
  warmUp(): Promise<void>;
  call(): Promise<Ending>;
  close(): Promise<void>;
}

/** An error as the row shows it: its class, its code, the start of its message. */
function failed(e: unknown): Ending {
  const err = e as { name?: string; code?: string; message?: string; partialText?: string };
  return {
    outcome: `${err.name ?? 'Error'}${err.code ? ` (${err.code})` : ''}: ${String(err.message).slice(0, 120)}`,
    textChars: err.partialText?.length ?? 0,
  };
}

function cloudSubject(scenario: Scenario, url: string): Subject {
  const c = new CloudClient({ baseUrl: url, model: MODEL, apiKey: async () => 'sk-bench-0123456789', retries: { max: 0 } });
  return {
    async warmUp() {
      const warm = await c.testConnection();
      if (!warm.ok) throw new Error(`warm-up failed: ${warm.message}`);
    },
    async call() {
      const r = await c.chat({ messages: [{ role: 'user', content: 'hi' }], maxTokens: MAX_TOKENS, stream: scenario !== 'body' });
      return { outcome: `answer, finish reason "${r.finishReason}"`, textChars: r.text.length };
    },
    close: () => c.close(),
  };
}

function ollamaSubject(scenario: Scenario, url: string): Subject {
  const b = new OllamaBackend({ url, model: MODEL });
  return {
    async warmUp() {
      await b.generate({ kind: 'completion', prompt: WARM_UP, maxTokens: 8 });
    },
    async call() {
      if (scenario === 'ollama-body') {
        await b.info();
        return { outcome: 'info', textChars: 0 };
      }
      const r = await b.generate({ kind: 'completion', prompt: 'hi', maxTokens: MAX_TOKENS });
      return { outcome: `answer, stopReason "${r.stopReason}"`, textChars: r.text.length };
    },
    close: () => b.dispose(),
  };
}

async function client(scenario: Scenario, url: string): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  const subject = scenario.startsWith('ollama') ? ollamaSubject(scenario, url) : cloudSubject(scenario, url);
  await subject.warmUp();
  gc?.();
  const rss0 = process.memoryUsage.rss();
  const maxRss0 = process.resourceUsage().maxRSS * 1024;
  const heap0 = process.memoryUsage().heapUsed;
  let heapPeak = heap0;
  let rssPeak = rss0;
  const sample = () => {
    const m = process.memoryUsage();
    heapPeak = Math.max(heapPeak, m.heapUsed);
    rssPeak = Math.max(rssPeak, m.rss);
  };
  const sampler = setInterval(sample, 2);
  const t0 = performance.now();
  let ending: Ending;
  try {
    ending = await subject.call();
  } catch (e) {
    ending = failed(e);
  } finally {
    clearInterval(sampler);
    await subject.close();
  }
  const { outcome, textChars } = ending;
  const ms = performance.now() - t0;
  sample();
  // A peak inside one synchronous step (a Buffer.concat) escapes the sampler; the process high-water mark has it.
  const maxRss = process.resourceUsage().maxRSS * 1024;
  if (maxRss > maxRss0) rssPeak = Math.max(rssPeak, maxRss);
  const report: ClientReport = {
    outcome,
    textChars,
    ms: round(ms, 1),
    rssBaselineMiB: round(rss0 / MiB, 1),
    rssPeakGrowthMiB: round((rssPeak - rss0) / MiB, 1),
    heapBaselineMiB: round(heap0 / MiB, 1),
    heapPeakGrowthMiB: round((heapPeak - heap0) / MiB, 1),
  };
  console.log(JSON.stringify(report));
}

if (values.client) {
  if (!(SCENARIOS as readonly string[]).includes(values.client) || !values.url) throw new Error(`--client takes ${SCENARIOS.join(', ')} and --url`);
  void client(values.client as Scenario, values.url);
} else {
  void orchestrate();
}
