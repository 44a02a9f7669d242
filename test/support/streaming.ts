// Helpers for test servers that behave like real model servers: bodies written piece by piece with pauses, and
// text cut so JSON objects and events straddle TCP writes.
import type { ServerResponse } from 'node:http';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function streamBody(res: ServerResponse, contentType: string, parts: readonly string[], delayMs = 2): Promise<void> {
  res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-cache' });
  res.flushHeaders();
  for (const p of parts) {
    if (res.destroyed) return;
    res.write(p);
    await sleep(delayMs);
  }
  if (!res.destroyed) res.end();
}

export function shred(text: string, size = 13): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out;
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
}

/** Resolves when the signal aborts. */
export function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}

/**
 * A server that stalls mid-stream: writes `before`, waits for `gate` (say, the client's abort), writes `after`, and
 * then neither writes nor ends. A client that returns at all did so on its own (its abort or its timeout), not
 * because the stream ended: no race with a timer decides the test.
 */
export async function streamAndStall(
  res: ServerResponse,
  contentType: string,
  before: readonly string[],
  gate: Promise<unknown>,
  after: readonly string[] = [],
): Promise<void> {
  res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-cache' });
  res.flushHeaders();
  for (const p of before) if (!res.destroyed) res.write(p);
  await gate;
  for (const p of after) if (!res.destroyed) res.write(p);
}

/**
 * A hostile server's endless body: writes `piece` again and again, waiting for the socket to drain (so the server
 * itself holds little), until the client hangs up or `maxBytes` are written (then it ends the body). Resolves with the
 * bytes written: a client that stopped reading early leaves it far below `maxBytes`.
 */
export async function pour(res: ServerResponse, piece: string | Buffer, maxBytes: number): Promise<number> {
  const bytes = Buffer.from(piece);
  let closed = false;
  res.once('close', () => {
    closed = true;
  });
  let written = 0;
  while (written < maxBytes && !closed) {
    written += bytes.length;
    if (!res.write(bytes)) await drainedOrClosed(res);
  }
  if (!closed) res.end();
  return written;
}

/** Writes `piece` every `everyMs` until the client hangs up; the response never ends on its own. */
export async function trickle(res: ServerResponse, piece: string, everyMs: number): Promise<void> {
  let closed = false;
  res.once('close', () => {
    closed = true;
  });
  while (!closed) {
    res.write(piece);
    await sleep(everyMs);
  }
}

function drainedOrClosed(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}
