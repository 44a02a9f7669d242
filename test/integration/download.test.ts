// downloadFile() against real HTTP servers on 127.0.0.1 (node:http) that misbehave in the ways real mirrors and
// CDNs do: dropped connections, ignored Range headers, redirects, rate limits, stalls and corrupted bytes.
import * as assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Agent } from 'undici';
import { EngineError, type EngineErrorCode } from '../../src/engine/errors';
import { checkDiskSpace, downloadFile, parseContentRange, type DownloadDeps } from '../../src/engine/models/download';
import { TEST_MODEL, resolveTestModel, sha256File } from '../support/testModel';

const FILE = randomBytes(4 * 2 ** 20 + 12_345); // a few MB, not a multiple of the chunk size
const SHA = createHash('sha256').update(FILE).digest('hex');
const CHUNK = 64 * 1024;

interface Served {
  readonly url: string;
  readonly ranges: (string | undefined)[];
  close(): Promise<void>;
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, n: number) => void;

async function serve(handler: Handler): Promise<Served> {
  const ranges: (string | undefined)[] = [];
  const server = http.createServer((req, res) => {
    ranges.push(req.headers.range);
    handler(req, res, ranges.length);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    ranges,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

interface SendOptions {
  readonly body?: Buffer;
  readonly ignoreRange?: boolean;
  /** Destroy the socket after this many body bytes. */
  readonly dropAfter?: number;
  /** Stop sending (but keep the socket open) after this many body bytes. */
  readonly stallAfter?: number;
  /** Pause between chunks, so a client can abort midway. */
  readonly delayMs?: number;
}

/** Serves `body` with Range support the way a CDN does, in chunks. */
function sendFile(req: http.IncomingMessage, res: http.ServerResponse, o: SendOptions = {}): void {
  const body = o.body ?? FILE;
  let start = 0;
  const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  if (m && !o.ignoreRange) {
    start = Number(m[1]);
    if (start >= body.length) {
      res.writeHead(416, { 'content-range': `bytes */${body.length}` }).end();
      return;
    }
    res.writeHead(206, { 'content-length': body.length - start, 'content-range': `bytes ${start}-${body.length - 1}/${body.length}` });
  } else {
    res.writeHead(200, { 'content-length': body.length });
  }
  let pos = start;
  let sent = 0;
  let closed = false;
  res.on('close', () => {
    closed = true;
  });
  const pump = () => {
    if (closed) return;
    if (o.dropAfter != null && sent >= o.dropAfter) return void res.socket?.destroy();
    if (o.stallAfter != null && sent >= o.stallAfter) return; // hold the connection open, send nothing
    if (pos >= body.length) return void res.end();
    const chunk = body.subarray(pos, Math.min(pos + CHUNK, body.length));
    pos += chunk.length;
    sent += chunk.length;
    const ok = res.write(chunk);
    const next = () => (o.delayMs ? setTimeout(pump, o.delayMs) : setImmediate(pump));
    if (ok) next();
    else res.once('drain', next);
  };
  pump();
}

async function rejectsWith(p: Promise<unknown>, code: EngineErrorCode, message?: RegExp): Promise<EngineError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof EngineError, `expected an EngineError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (message) assert.match(e.message, message);
    return e;
  }
  assert.fail(`expected '${code}', but it resolved`);
}

describe('downloadFile (real HTTP on 127.0.0.1)', function () {
  this.timeout(60_000);
  let dir: string;
  let dest: string;
  let agent: Agent;
  let deps: DownloadDeps;
  const servers: Served[] = [];
  const start = async (h: Handler) => {
    const s = await serve(h);
    servers.push(s);
    return s;
  };

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'verdant-dl-'));
    dest = path.join(dir, 'models', 'model.gguf');
    agent = new Agent();
    deps = { dispatcher: agent, headersTimeoutMs: 30_000, stallTimeoutMs: 30_000 };
  });
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
    await agent.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const part = () => `${dest}.part`;
  /** Leaves partial bytes from an "earlier" download. */
  const seedPart = (bytes: Buffer) => {
    mkdirSync(path.dirname(dest), { recursive: true });
    writeFileSync(part(), bytes);
  };

  it('downloads, verifies and renames into place, reporting throttled progress', async () => {
    const s = await start((req, res) => sendFile(req, res));
    const progress: [number, number | null][] = [];
    const r = await downloadFile(
      { url: `${s.url}/m.gguf`, dest, sha256: SHA, expectedBytes: FILE.length, onProgress: (a, b) => progress.push([a, b]) },
      { ...deps, progressIntervalMs: 60_000 },
    );
    assert.deepEqual(r, { path: dest, bytes: FILE.length, resumed: false, sha256: SHA });
    assert.ok(readFileSync(dest).equals(FILE));
    assert.equal(existsSync(part()), false);
    assert.deepEqual(
      progress,
      [
        [0, FILE.length],
        [FILE.length, FILE.length],
      ],
      'first and last only, within the interval',
    );
    assert.deepEqual(s.ranges, [undefined]);
  });

  it('keeps the .part when aborted, then resumes it with a Range request', async () => {
    const s = await start((req, res) => sendFile(req, res, { delayMs: 2 }));
    const ac = new AbortController();
    const first = downloadFile(
      {
        url: `${s.url}/m.gguf`,
        dest,
        sha256: SHA,
        expectedBytes: FILE.length,
        signal: ac.signal,
        onProgress: (n) => {
          if (n >= 1e6) ac.abort();
        },
      },
      { ...deps, progressIntervalMs: 0 },
    );
    await rejectsWith(first, 'cancelled', /cancelled; start it again to resume/);
    const kept = statSync(part()).size;
    assert.ok(kept >= 1e6 && kept < FILE.length, `kept ${kept} bytes`);
    assert.ok(FILE.subarray(0, kept).equals(readFileSync(part())), 'the .part is a prefix of the file');
    assert.equal(existsSync(dest), false);

    const r = await downloadFile({ url: `${s.url}/m.gguf`, dest, sha256: SHA, expectedBytes: FILE.length }, deps);
    assert.equal(r.resumed, true);
    assert.equal(r.sha256, SHA);
    assert.equal(s.ranges.at(-1), `bytes=${kept}-`);
    assert.ok(readFileSync(dest).equals(FILE));
    assert.equal(existsSync(part()), false);
  });

  it('starts over cleanly when the server ignores Range and answers 200', async () => {
    const s = await start((req, res) => sendFile(req, res, { ignoreRange: true }));
    seedPart(Buffer.alloc(1000, 0xee)); // junk that must not end up in the file
    const r = await downloadFile({ url: `${s.url}/m.gguf`, dest, sha256: SHA, expectedBytes: FILE.length }, deps);
    assert.equal(r.resumed, false);
    assert.deepEqual(s.ranges, ['bytes=1000-']);
    assert.ok(readFileSync(dest).equals(FILE));
  });

  it('restarts from zero when a 206 does not start where it was asked to', async () => {
    const s = await start((req, res) => {
      if (req.headers.range) {
        res.writeHead(206, { 'content-length': FILE.length, 'content-range': `bytes 0-${FILE.length - 1}/${FILE.length}` });
        res.end(FILE);
      } else {
        sendFile(req, res);
      }
    });
    seedPart(FILE.subarray(0, 5000));
    const r = await downloadFile({ url: `${s.url}/m.gguf`, dest, sha256: SHA, expectedBytes: FILE.length }, deps);
    assert.equal(r.resumed, false);
    assert.deepEqual(s.ranges, ['bytes=5000-', undefined]);
    assert.ok(readFileSync(dest).equals(FILE));
  });

  it('fails with download-failed when the connection drops mid-body, keeps the .part, then resumes', async () => {
    const s = await start((req, res, n) => sendFile(req, res, n === 1 ? { dropAfter: 1_048_576 } : {}));
    const url = `${s.url}/m.gguf`;
    await rejectsWith(
      downloadFile({ url, dest, sha256: SHA, expectedBytes: FILE.length }, deps),
      'download-failed',
      /^The download of model\.gguf was interrupted after .* of 4\.2 MB; check your connection and try again, the download resumes where it stopped\.$/,
    );
    const kept = statSync(part()).size;
    assert.ok(kept > 0 && kept <= 1_048_576, `kept ${kept}`);
    const r = await downloadFile({ url, dest, sha256: SHA, expectedBytes: FILE.length }, deps);
    assert.equal(r.resumed, true);
    assert.equal(s.ranges[1], `bytes=${kept}-`);
    assert.ok(readFileSync(dest).equals(FILE));
  });

  it('deletes everything on a sha256 mismatch (corrupted bytes)', async () => {
    const bad = Buffer.from(FILE);
    bad[123_456]! ^= 0xff;
    const s = await start((req, res) => sendFile(req, res, { body: bad }));
    const e = await rejectsWith(
      downloadFile({ url: `${s.url}/m.gguf`, dest, sha256: SHA, expectedBytes: FILE.length }, deps),
      'checksum-mismatch',
      /^model\.gguf was corrupted in transit \(sha256 [0-9a-f]{64}, expected [0-9a-f]{64}\); download it again\.$/,
    );
    assert.ok(e.message.includes(SHA));
    assert.equal(existsSync(part()), false);
    assert.equal(existsSync(dest), false);
  });

  it('refuses a server whose file has a different size than pinned, before downloading it', async () => {
    const s = await start((req, res) => sendFile(req, res));
    await rejectsWith(
      downloadFile({ url: `${s.url}/m.gguf`, dest, sha256: SHA, expectedBytes: FILE.length + 1 }, deps),
      'download-failed',
      /the file changed upstream; update Verdant or choose another model\.$/,
    );
    assert.equal(existsSync(dest), false);
  });

  it('stops a body without a length at the pinned size, and keeps nothing of it', async () => {
    // Chunked, no Content-Length, three times the pinned size: only the pin can stop it.
    const s = await start((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      for (let i = 0; i < 3; i++) res.write(FILE);
      res.end();
    });
    let most = 0;
    await rejectsWith(
      downloadFile(
        {
          url: `${s.url}/m.gguf`,
          dest,
          sha256: SHA,
          expectedBytes: FILE.length,
          onProgress: (n) => {
            most = Math.max(most, n);
          },
        },
        deps,
      ),
      'download-failed',
      /sent more than the .* model\.gguf is pinned at: it is not that file/,
    );
    assert.ok(most <= FILE.length, `${most} bytes were written for a file pinned at ${FILE.length}`);
    assert.equal(existsSync(part()), false, 'nothing of it is kept');
    assert.equal(existsSync(dest), false);
  });

  for (const [status, extra, message] of [
    [
      404,
      {},
      /^model\.gguf was not found at 127\.0\.0\.1:\d+ \(HTTP 404\); the model entry is out of date, update Verdant or choose another model\.$/,
    ],
    [
      503,
      {},
      /^127\.0\.0\.1:\d+ had a server error \(HTTP 503\) while sending model\.gguf; try again later, the download resumes where it stopped\.$/,
    ],
    [429, { 'retry-after': '120' }, /^127\.0\.0\.1:\d+ is limiting downloads \(HTTP 429\); wait about 2 minute\(s\) and try again/],
    [403, {}, /refused access to model\.gguf \(HTTP 403\); the model may need a login/],
  ] as const) {
    it(`turns HTTP ${status} into download-failed with a fix`, async () => {
      const s = await start((_req, res) => res.writeHead(status, extra).end('nope'));
      await rejectsWith(downloadFile({ url: `${s.url}/m.gguf`, dest, sha256: SHA }, deps), 'download-failed', message);
      assert.equal(existsSync(part()), false);
      assert.equal(existsSync(dest), false);
    });
  }

  it('reports a refused connection', async () => {
    const s = await serve((_req, res) => res.end());
    await s.close(); // the port is now closed
    await rejectsWith(
      downloadFile({ url: `${s.url}/m.gguf`, dest, sha256: SHA }, deps),
      'download-failed',
      /^Could not download model\.gguf: 127\.0\.0\.1:\d+ refused the connection; check your internet connection or proxy and try again\.$/,
    );
  });

  it('follows redirects to another host (as Hugging Face does to its CDN), sending the Range on', async () => {
    const cdn = await start((req, res) => sendFile(req, res));
    const hub = await start((req, res) => {
      if (req.url === '/resolve/m.gguf') res.writeHead(302, { location: '/hop' }).end();
      else res.writeHead(307, { location: `${cdn.url}/blob?sig=1` }).end();
    });
    seedPart(FILE.subarray(0, 777));
    const r = await downloadFile({ url: `${hub.url}/resolve/m.gguf`, dest, sha256: SHA, expectedBytes: FILE.length }, deps);
    assert.equal(r.resumed, true);
    assert.deepEqual(hub.ranges, ['bytes=777-', 'bytes=777-']);
    assert.deepEqual(cdn.ranges, ['bytes=777-']);
    assert.ok(readFileSync(dest).equals(FILE));
  });

  it('gives up on a redirect loop', async () => {
    const s = await start((_req, res) => res.writeHead(302, { location: '/again' }).end());
    await rejectsWith(
      downloadFile({ url: `${s.url}/m.gguf`, dest, sha256: SHA }, { ...deps, maxRedirects: 3 }),
      'download-failed',
      /redirected more than 3 times/,
    );
    assert.equal(s.ranges.length, 4);
  });

  it('reports a stalled body and keeps what arrived', async () => {
    const s = await start((req, res) => sendFile(req, res, { stallAfter: 512 * 1024 }));
    await rejectsWith(
      downloadFile({ url: `${s.url}/m.gguf`, dest, sha256: SHA }, { ...deps, stallTimeoutMs: 300 }),
      'download-failed',
      /^The download of model\.gguf stalled after .*; check your connection and try again, the download resumes where it stopped\.$/,
    );
    assert.ok(statSync(part()).size > 0);
  });

  it('times out when the server never answers', async () => {
    const s = await start(() => undefined);
    await rejectsWith(
      downloadFile({ url: `${s.url}/m.gguf`, dest, sha256: SHA }, { ...deps, headersTimeoutMs: 300 }),
      'download-failed',
      /did not answer in time/,
    );
  });

  it('finishes a complete .part from the 416 answer to its Range request', async () => {
    const s = await start((req, res) => sendFile(req, res));
    seedPart(FILE);
    const r = await downloadFile({ url: `${s.url}/m.gguf`, dest, sha256: SHA }, deps);
    assert.equal(r.resumed, true);
    assert.deepEqual(s.ranges, [`bytes=${FILE.length}-`]);
    assert.ok(readFileSync(dest).equals(FILE));
  });

  it('verifies a complete .part of the pinned size without touching the network', async () => {
    const s = await start((req, res) => sendFile(req, res));
    seedPart(FILE);
    const r = await downloadFile({ url: `${s.url}/m.gguf`, dest, sha256: SHA, expectedBytes: FILE.length }, deps);
    assert.equal(r.bytes, FILE.length);
    assert.equal(s.ranges.length, 0);
  });

  it('refuses to start without disk space, naming what is needed and free', async () => {
    const s = await start((req, res) => sendFile(req, res));
    await rejectsWith(
      downloadFile({ url: `${s.url}/m.gguf`, dest, sha256: SHA, expectedBytes: FILE.length }, { ...deps, freeDiskBytes: async () => 1_000_000 }),
      'disk-full',
      /^Not enough disk space for model\.gguf in .*: it needs 109 MB and 1\.0 MB is free; free up space or choose another folder\.$/,
    );
    assert.equal(s.ranges.length, 0, 'no request made');
    // Size unknown up front: the Content-Length decides.
    await rejectsWith(downloadFile({ url: `${s.url}/m.gguf`, dest, sha256: SHA }, { ...deps, freeDiskBytes: async () => 1_000_000 }), 'disk-full');
    assert.equal(existsSync(dest), false);
  });

  it('only accepts http and https URLs and a real sha256', async () => {
    await rejectsWith(downloadFile({ url: 'ftp://127.0.0.1/m.gguf', dest, sha256: SHA }, deps), 'bad-request', /Only http and https/);
    await rejectsWith(downloadFile({ url: 'http://127.0.0.1/m.gguf', dest, sha256: 'abc' }, deps), 'bad-request', /not a sha256/);
  });
});

describe('download decisions', () => {
  it('checkDiskSpace allows the file plus a reserve, and names the numbers when refusing', () => {
    assert.equal(checkDiskSpace({ dir: '/m', fileName: 'a.gguf', missingBytes: 1.6e9, freeBytes: 50e9 }), null);
    const e = checkDiskSpace({ dir: '/m', fileName: 'a.gguf', missingBytes: 1.6e9, freeBytes: 0.9e9 });
    assert.equal(e?.code, 'disk-full');
    assert.equal(e?.message, 'Not enough disk space for a.gguf in /m: it needs 1.7 GB and 900 MB is free; free up space or choose another folder.');
    // Resuming needs only the missing part.
    assert.equal(checkDiskSpace({ dir: '/m', fileName: 'a.gguf', missingBytes: 0.1e9, freeBytes: 0.9e9 }), null);
  });

  it('parseContentRange reads both forms and rejects nonsense', () => {
    assert.deepEqual(parseContentRange('bytes 100-199/200'), { start: 100, end: 199, total: 200 });
    assert.deepEqual(parseContentRange('bytes 0-9/*'), { start: 0, end: 9, total: null });
    assert.deepEqual(parseContentRange('bytes */200'), { start: null, end: null, total: 200 });
    assert.equal(parseContentRange('bytes 5-1/200'), null);
    assert.equal(parseContentRange('bytes 0-200/200'), null);
    assert.equal(parseContentRange('items 0-1/2'), null);
    assert.equal(parseContentRange(undefined), null);
  });
});

describe('resolveTestModel', function () {
  this.timeout(60_000);
  let tmp: string;
  beforeEach(() => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'verdant-tm-'));
  });
  afterEach(() => rmSync(tmp, { recursive: true, force: true }));

  it('returns the shared copy next to the repository, verified', async () => {
    // A repository with ../shared/models beside it, holding the real model's bytes.
    const model = await resolveTestModel();
    const sharedCopy = path.join(tmp, 'shared', 'models', TEST_MODEL.fileName);
    mkdirSync(path.dirname(sharedCopy), { recursive: true });
    copyFileSync(model, sharedCopy);
    const found = await resolveTestModel({ env: {}, homeDir: tmp, cwd: path.join(tmp, 'repo') });
    assert.equal(found, sharedCopy);
    assert.equal(await sha256File(found), TEST_MODEL.sha256);
    assert.equal(statSync(found).size, TEST_MODEL.sizeBytes);
  });

  it('honours VERDANT_TEST_MODEL, and says so when it points nowhere', async () => {
    const own = path.join(tmp, 'mine.gguf');
    writeFileSync(own, 'x');
    assert.equal(await resolveTestModel({ env: { VERDANT_TEST_MODEL: own } }), own);
    await assert.rejects(resolveTestModel({ env: { VERDANT_TEST_MODEL: path.join(tmp, 'missing.gguf') } }), /no file there; fix or unset it/);
  });

  it('downloads into the cache when there is no shared copy, then uses the cache', async () => {
    const bytes = readFileSync(await resolveTestModel());
    const s = await serve((req, res) => sendFile(req, res, { body: bytes }));
    try {
      const opts = { env: { VERDANT_CACHE: path.join(tmp, 'cache') }, cwd: path.join(tmp, 'repo'), url: `${s.url}/stories260K.gguf` };
      const cached = path.join(tmp, 'cache', 'models', TEST_MODEL.fileName);
      assert.equal(await resolveTestModel(opts), cached);
      assert.equal(await resolveTestModel(opts), cached);
      assert.equal(s.ranges.length, 1, 'the second call used the verified cache');
    } finally {
      await s.close();
    }
  });

  it('explains what it tried when nothing works', async () => {
    const dead = await serve((_req, res) => res.writeHead(404).end());
    try {
      await assert.rejects(
        resolveTestModel({ env: { VERDANT_CACHE: path.join(tmp, 'cache') }, cwd: path.join(tmp, 'repo'), url: `${dead.url}/x.gguf` }),
        (e: Error) => /not available\. Tried:/.test(e.message) && /not present/.test(e.message) && /HTTP 404/.test(e.message),
      );
    } finally {
      await dead.close();
    }
  });
});
