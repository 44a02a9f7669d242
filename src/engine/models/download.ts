// Downloads one model file, resumably and verified. Bytes go to `<dest>.part`; an interrupted download (network
// drop, cancel, crash) keeps it and the next call continues with an HTTP Range request. The file only appears
// at `dest`, by an atomic rename after fsync, once its size and sha256 match the pinned values, so a half
// written or tampered model is never loaded. Every failure is an EngineError whose message names the fix.
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { request, type Dispatcher } from 'undici';
import { EngineError } from '../errors';
import { formatBytes } from './fit';
import { errorMessage } from '../../core/errors';

export interface DownloadOptions {
  readonly url: string;
  readonly dest: string;
  /** Hex sha256 of the whole file. */
  readonly sha256: string;
  readonly expectedBytes?: number;
  /** Cancels promptly; the .part file stays for a later resume. */
  readonly signal?: AbortSignal;
  /** Throttled; `total` is null while the server has not said how big the file is. */
  readonly onProgress?: (received: number, total: number | null) => void;
}

/** Knobs and seams with production defaults; tests pass small timeouts, their own dispatcher or fake disk numbers. */
export interface DownloadDeps {
  readonly dispatcher?: Dispatcher;
  /** Time allowed for the response headers. */
  readonly headersTimeoutMs?: number;
  /** Time allowed between two chunks of the body before the download counts as stalled. */
  readonly stallTimeoutMs?: number;
  readonly maxRedirects?: number;
  readonly progressIntervalMs?: number;
  /** Bytes free for a new file in `dir`. */
  readonly freeDiskBytes?: (dir: string) => Promise<number>;
}

export interface DownloadResult {
  readonly path: string;
  readonly bytes: number;
  /** True when earlier partial bytes were kept and only the rest was fetched. */
  readonly resumed: boolean;
  readonly sha256: string;
}

const DEFAULTS = {
  headersTimeoutMs: 30_000,
  stallTimeoutMs: 60_000,
  maxRedirects: 10,
  progressIntervalMs: 250,
};

/** Left free beyond the file itself, so the disk is never filled to the last byte. */
export const DISK_RESERVE_BYTES = 100 * 2 ** 20;

export async function statfsFreeBytes(dir: string): Promise<number> {
  const s = await fs.statfs(dir);
  return Number(s.bavail) * Number(s.bsize);
}

/** The disk-space decision on its own: null when there is room, else the 'disk-full' error to throw. */
export function checkDiskSpace(args: { dir: string; fileName: string; missingBytes: number; freeBytes: number }): EngineError | null {
  const needed = args.missingBytes + DISK_RESERVE_BYTES;
  if (args.freeBytes >= needed) return null;
  return new EngineError(
    'disk-full',
    `Not enough disk space for ${args.fileName} in ${args.dir}: it needs ${formatBytes(needed)} and ${formatBytes(args.freeBytes)} is free; free up space or choose another folder.`,
  );
}

export async function downloadFile(options: DownloadOptions, deps: DownloadDeps = {}): Promise<DownloadResult> {
  const cfg = { ...DEFAULTS, ...definedOnly(deps) };
  const freeDiskBytes = deps.freeDiskBytes ?? statfsFreeBytes;
  const expectedSha = options.sha256.toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(expectedSha)) {
    throw new EngineError('bad-request', `"${options.sha256}" is not a sha256 (64 hex digits); fix the model entry.`);
  }
  let url = parseHttpUrl(options.url);
  const dest = path.resolve(options.dest);
  const dir = path.dirname(dest);
  const name = path.basename(dest);
  const part = `${dest}.part`;
  await fs.mkdir(dir, { recursive: true });
  throwIfAborted(options.signal, name);

  let existing = await fileSize(part);
  if (options.expectedBytes != null && existing > options.expectedBytes) {
    await fs.rm(part, { force: true }); // longer than the real file: not a prefix of it
    existing = 0;
  }
  if (options.expectedBytes != null && options.expectedBytes > existing) {
    const err = checkDiskSpace({ dir, fileName: name, missingBytes: options.expectedBytes - existing, freeBytes: await freeDiskBytes(dir) });
    if (err) throw err;
  }

  // The final digest must cover the whole file, so the bytes kept from last time are hashed first.
  let hash = createHash('sha256');
  if (existing > 0) await hashFile(part, hash, options.signal, name);

  // A complete .part whose rename did not happen (crash, full verify failure before): verify it without the network.
  if (options.expectedBytes != null && existing === options.expectedBytes) {
    return finish({ part, dest, hash, bytes: existing, resumed: existing > 0, expectedSha, expectedBytes: options.expectedBytes, name });
  }

  for (let attempt = 0; ; attempt++) {
    const res = await get(url, existing, options.signal, cfg, name, deps.dispatcher);
    url = res.url;
    const plan = await planBody(res, existing, options.expectedBytes, name);
    if (plan.kind === 'restart' && attempt === 0) {
      await fs.rm(part, { force: true });
      existing = 0;
      hash = createHash('sha256');
      continue;
    }
    if (plan.kind === 'restart')
      throw failed(`The server sent a different part of ${name} than was asked for; try again later or choose another model.`);
    if (plan.kind === 'complete') {
      return finish({ part, dest, hash, bytes: existing, resumed: existing > 0, expectedSha, expectedBytes: options.expectedBytes, name });
    }

    if (plan.start === 0 && existing > 0) {
      // The server ignored the Range header and sends the whole file: begin again.
      existing = 0;
      hash = createHash('sha256');
    }
    if (options.expectedBytes == null && plan.total != null && plan.total > existing) {
      const err = checkDiskSpace({ dir, fileName: name, missingBytes: plan.total - existing, freeBytes: await freeDiskBytes(dir) });
      if (err) {
        res.body.destroy();
        throw err;
      }
    }
    const bytes = await writeBody(res.body, { part, append: existing > 0, start: existing, total: plan.total, hash, options, cfg, name });
    if (plan.total != null && bytes !== plan.total) {
      throw failed(
        `The download of ${name} ended early at ${formatBytes(bytes)} of ${formatBytes(plan.total)}; try again later, the download resumes where it stopped.`,
      );
    }
    return finish({ part, dest, hash, bytes, resumed: existing > 0, expectedSha, expectedBytes: options.expectedBytes, name });
  }
}

interface HttpResponse {
  readonly url: URL;
  readonly statusCode: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Dispatcher.ResponseData['body'];
}

/** GET with manual, bounded redirects (Hugging Face answers with a 302 to its CDN); the Range goes to every hop. */
async function get(
  start: URL,
  from: number,
  signal: AbortSignal | undefined,
  cfg: typeof DEFAULTS,
  name: string,
  dispatcher: Dispatcher | undefined,
): Promise<HttpResponse> {
  let url = start;
  for (let hops = 0; ; hops++) {
    let res: Dispatcher.ResponseData;
    try {
      res = await request(url, {
        method: 'GET',
        headers: { 'user-agent': 'verdant-model-downloader', 'accept-encoding': 'identity', ...(from > 0 ? { range: `bytes=${from}-` } : {}) },
        signal,
        headersTimeout: cfg.headersTimeoutMs,
        bodyTimeout: cfg.stallTimeoutMs,
        ...(dispatcher ? { dispatcher } : {}),
      });
    } catch (e) {
      throw networkError(e, url, name, signal);
    }
    const location = header(res.headers, 'location');
    if ([301, 302, 303, 307, 308].includes(res.statusCode) && location) {
      await discard(res.body);
      if (hops >= cfg.maxRedirects)
        throw failed(`Downloading ${name} was redirected more than ${cfg.maxRedirects} times; the address is probably wrong, check the model entry.`);
      const next = parseHttpUrl(new URL(location, url).toString());
      if (url.protocol === 'https:' && next.protocol === 'http:') {
        throw failed(`Downloading ${name} was redirected from https to insecure http (${next.host}); refusing. Check your network or proxy.`);
      }
      url = next;
      continue;
    }
    return { url, statusCode: res.statusCode, headers: res.headers, body: res.body };
  }
}

type BodyPlan = { kind: 'write'; start: number; total: number | null } | { kind: 'complete' } | { kind: 'restart' };

/** Decides what a response means for the bytes we already have; throws for HTTP errors. */
async function planBody(res: HttpResponse, existing: number, expectedBytes: number | undefined, name: string): Promise<BodyPlan> {
  const { statusCode: status } = res;
  if (status === 200) {
    const length = header(res.headers, 'content-length');
    const total = length != null && /^\d+$/.test(length) ? Number(length) : null;
    await checkTotal(res, total, expectedBytes, name);
    return { kind: 'write', start: 0, total };
  }
  if (status === 206) {
    const range = parseContentRange(header(res.headers, 'content-range'));
    if (range?.start !== existing) {
      await discard(res.body); // a range we did not ask for: our .part cannot be trusted to line up
      return { kind: 'restart' };
    }
    await checkTotal(res, range.total, expectedBytes, name);
    return { kind: 'write', start: range.start, total: range.total };
  }
  if (status === 416 && existing > 0) {
    await discard(res.body);
    const range = parseContentRange(header(res.headers, 'content-range'));
    if (range?.start === null && range.total === existing && (expectedBytes == null || expectedBytes === existing)) {
      return { kind: 'complete' };
    }
    return { kind: 'restart' };
  }
  await discard(res.body);
  throw httpError(status, res.url, name, header(res.headers, 'retry-after'));
}

async function checkTotal(res: HttpResponse, total: number | null, expectedBytes: number | undefined, name: string): Promise<void> {
  if (total == null || expectedBytes == null || total === expectedBytes) return;
  res.body.destroy();
  throw failed(
    `The server offers ${formatBytes(total)} for ${name} but ${formatBytes(expectedBytes)} was expected: the file changed upstream; update Verdant or choose another model.`,
  );
}

interface WriteArgs {
  readonly part: string;
  readonly append: boolean;
  readonly start: number;
  readonly total: number | null;
  readonly hash: Hash;
  readonly options: DownloadOptions;
  readonly cfg: typeof DEFAULTS;
  readonly name: string;
}

/** Streams the body into the .part file and the hash; returns the file's length when the body ends. */
async function writeBody(body: Dispatcher.ResponseData['body'], a: WriteArgs): Promise<number> {
  const fh = await fs.open(a.part, a.append ? 'a' : 'w');
  let received = a.start;
  let lastReport = 0;
  const report = (force: boolean) => {
    if (!a.options.onProgress) return;
    const now = performance.now();
    if (!force && now - lastReport < a.cfg.progressIntervalMs) return;
    lastReport = now;
    a.options.onProgress(received, a.total);
  };
  try {
    report(true);
    // The pinned size caps the body even when the server announces none (chunked): a hostile or broken server
    // cannot fill the disk with a file that is not the model.
    const pinned = a.options.expectedBytes;
    for await (const chunk of body as AsyncIterable<Buffer>) {
      if (a.total != null && received + chunk.length > a.total) {
        throw failed(`The server sent more than the ${formatBytes(a.total)} it announced for ${a.name}; try again later.`);
      }
      if (pinned != null && received + chunk.length > pinned) {
        await fh.close().catch(() => undefined);
        await fs.rm(a.part, { force: true });
        throw failed(
          `The server sent more than the ${formatBytes(pinned)} ${a.name} is pinned at: it is not that file; update Verdant or choose another model.`,
        );
      }
      await fh.write(chunk);
      a.hash.update(chunk);
      received += chunk.length;
      report(false);
    }
    await fh.sync();
    report(true);
    return received;
  } catch (e) {
    body.destroy();
    if (e instanceof EngineError) throw e;
    if (a.options.signal?.aborted) throw cancelled(a.name);
    if (errorCode(e) === 'ENOSPC') {
      throw new EngineError(
        'disk-full',
        `The disk filled up while downloading ${a.name}; free up space and try again, the download resumes where it stopped.`,
        { cause: e },
      );
    }
    const soFar = a.total != null ? `${formatBytes(received)} of ${formatBytes(a.total)}` : formatBytes(received);
    const what = isStall(e) ? 'stalled' : 'was interrupted';
    throw failed(`The download of ${a.name} ${what} after ${soFar}; check your connection and try again, the download resumes where it stopped.`, e);
  } finally {
    await fh.close();
  }
}

interface FinishArgs {
  readonly part: string;
  readonly dest: string;
  readonly hash: Hash;
  readonly bytes: number;
  readonly resumed: boolean;
  readonly expectedSha: string;
  readonly expectedBytes: number | undefined;
  readonly name: string;
}

/** Verifies size and digest; a bad file is deleted, a good one renamed into place atomically. */
async function finish(a: FinishArgs): Promise<DownloadResult> {
  const actual = a.hash.digest('hex');
  const sizeOk = a.expectedBytes == null || a.bytes === a.expectedBytes;
  if (!sizeOk || actual !== a.expectedSha) {
    await fs.rm(a.part, { force: true });
    const detail = sizeOk ? `sha256 ${actual}, expected ${a.expectedSha}` : `${a.bytes} bytes, expected ${a.expectedBytes}`;
    throw new EngineError('checksum-mismatch', `${a.name} was corrupted in transit (${detail}); download it again.`);
  }
  await fs.rename(a.part, a.dest);
  await syncDir(path.dirname(a.dest));
  return { path: a.dest, bytes: a.bytes, resumed: a.resumed, sha256: actual };
}

async function hashFile(file: string, hash: Hash, signal: AbortSignal | undefined, name: string): Promise<void> {
  try {
    for await (const chunk of createReadStream(file, signal ? { signal } : {})) hash.update(chunk as Buffer);
  } catch (e) {
    if (signal?.aborted) throw cancelled(name);
    throw e;
  }
}

function httpError(status: number, url: URL, name: string, retryAfter: string | undefined): EngineError {
  const resume = 'the download resumes where it stopped';
  if (status === 404 || status === 410) {
    return failed(`${name} was not found at ${url.host} (HTTP ${status}); the model entry is out of date, update Verdant or choose another model.`);
  }
  if (status === 401 || status === 403) {
    return failed(
      `${url.host} refused access to ${name} (HTTP ${status}); the model may need a login, download it in a browser and set verdant.local.modelPath to the file.`,
    );
  }
  if (status === 429) {
    const wait = retryAfter && /^\d+$/.test(retryAfter) ? `about ${Math.ceil(Number(retryAfter) / 60)} minute(s)` : 'a few minutes';
    return failed(`${url.host} is limiting downloads (HTTP 429); wait ${wait} and try again, ${resume}.`);
  }
  if (status >= 500) {
    return failed(`${url.host} had a server error (HTTP ${status}) while sending ${name}; try again later, ${resume}.`);
  }
  return failed(`${url.host} answered HTTP ${status} for ${name}; try again later or choose another model.`);
}

function networkError(e: unknown, url: URL, name: string, signal: AbortSignal | undefined): EngineError {
  if (signal?.aborted) return cancelled(name);
  const code = errorCode(e);
  const host = url.host;
  const why =
    code === 'ECONNREFUSED'
      ? `${host} refused the connection`
      : code === 'ENOTFOUND' || code === 'EAI_AGAIN'
        ? `${host} could not be found (no DNS answer)`
        : code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'ETIMEDOUT'
          ? `connecting to ${host} timed out`
          : code === 'UND_ERR_HEADERS_TIMEOUT'
            ? `${host} did not answer in time`
            : `the connection to ${host} failed (${code ?? errorMessage(e)})`;
  return failed(`Could not download ${name}: ${why}; check your internet connection or proxy and try again.`, e);
}

function failed(message: string, cause?: unknown): EngineError {
  return new EngineError('download-failed', message, cause === undefined ? undefined : { cause });
}

function cancelled(name: string): EngineError {
  return new EngineError('cancelled', `The download of ${name} was cancelled; start it again to resume where it stopped.`);
}

function throwIfAborted(signal: AbortSignal | undefined, name: string): void {
  if (signal?.aborted) throw cancelled(name);
}

function isStall(e: unknown): boolean {
  return errorCode(e) === 'UND_ERR_BODY_TIMEOUT';
}

function errorCode(e: unknown): string | undefined {
  for (let cur: unknown = e, depth = 0; cur && depth < 4; depth++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}

function parseHttpUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new EngineError('bad-request', `"${raw}" is not a valid download address; fix the model entry.`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new EngineError('bad-request', `Only http and https downloads are supported, not ${url.protocol} ("${raw}"); fix the model entry.`);
  }
  return url;
}

export interface ContentRange {
  /** null for the star form (`bytes *` + `/<total>`) that comes with a 416. */
  readonly start: number | null;
  readonly end: number | null;
  /** null when the server sends `*` (length unknown). */
  readonly total: number | null;
}

/** Parses a Content-Range header (`bytes <start>-<end>/<total>`, or the star form); null when malformed. */
export function parseContentRange(value: string | undefined): ContentRange | null {
  const m = value ? /^bytes\s+(?:(\d+)-(\d+)|\*)\/(\d+|\*)$/i.exec(value.trim()) : null;
  if (!m) return null;
  const total = m[3] === '*' ? null : Number(m[3]);
  if (m[1] === undefined) return { start: null, end: null, total };
  const start = Number(m[1]);
  const end = Number(m[2]);
  if (end < start || (total != null && end >= total)) return null;
  return { start, end, total };
}

function header(headers: HttpResponse['headers'], name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

async function fileSize(file: string): Promise<number> {
  try {
    return (await fs.stat(file)).size;
  } catch (e) {
    if (errorCode(e) === 'ENOENT') return 0;
    throw e;
  }
}

/** Makes the rename itself durable; directories cannot be opened for syncing on Windows, where it is skipped. */
async function syncDir(dir: string): Promise<void> {
  if (process.platform === 'win32') return;
  const fh = await fs.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Drains a body we do not want (so the connection can be reused); a broken one just gets dropped. */
async function discard(body: Dispatcher.ResponseData['body']): Promise<void> {
  await body.dump().catch(() => undefined);
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
