// The shared engine worker as real processes: dist/engine-worker.js started detached by EngineClient, found by
// other clients through the lock file, serving the real model over a local socket.
import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync, existsSync } from 'node:fs';
import * as path from 'node:path';
import { bootTime, processStartTime } from '../../src/core/process/times';
import type { EngineClientOptions } from '../../src/engine/client';
import { EngineError } from '../../src/engine/errors';
import type { ModelConfig } from '../../src/engine/llama/engine';
import { lockPathFor, pidAlive, readLock } from '../../src/engine/lock';
import { PROTOCOL_VERSION } from '../../src/engine/protocol';
import { LILY, workerFixture } from '../support/engineWorkers';
import { skipBecause, vulkanSkipReason } from '../support/prerequisites';
import { until } from '../support/wait';

describe('engine worker shared by windows (real processes)', function () {
  this.timeout(180_000);
  const w = workerFixture('verdant-engine-');
  const client = (name: string, over: Partial<EngineClientOptions> = {}) => w.client(name, over);
  const config = (over: Partial<ModelConfig> = {}) => w.config(over);

  before(() => w.load());
  beforeEach(() => w.fresh());
  afterEach(async () => {
    await w.cleanup();
  });

  it('two windows share one worker, and both are served', async () => {
    const a = client('window A');
    const b = client('window B');
    const [ra, rb] = await Promise.all([
      a.generate(config(), { kind: 'completion', prompt: LILY, maxTokens: 8, sessionKey: 'a' }),
      b.generate(config(), { kind: 'completion', prompt: LILY, maxTokens: 8, sessionKey: 'b' }),
    ]);
    assert.equal(a.workerPid, b.workerPid);
    assert.equal(ra.text, rb.text);
    const status = await b.status();
    assert.equal(status.pid, a.workerPid);
    assert.equal(status.clients, 2);
    assert.equal(status.models[0]?.backend, 'llama.cpp (cpu)');
    assert.equal((await readLock(lockPathFor(w.stateDir)))?.pid, a.workerPid);
  });

  it('four windows starting at the same moment end up on one worker', async () => {
    const windows = [1, 2, 3, 4].map((n) => client(`window ${n}`));
    const statuses = await Promise.all(windows.map((w) => w.status()));
    assert.equal(new Set(statuses.map((s) => s.pid)).size, 1, JSON.stringify(statuses.map((s) => s.pid)));
    assert.equal(statuses[0]!.pid, (await readLock(lockPathFor(w.stateDir)))?.pid);
  });

  it('streams text and cancels through the AbortSignal', async () => {
    const a = client('window A');
    const ac = new AbortController();
    let streamed = '';
    const r = await a.generate(
      config(),
      { kind: 'completion', prompt: LILY, maxTokens: 400 },
      {
        signal: ac.signal,
        onText: (t) => {
          streamed += t;
          if (streamed.length > 20) ac.abort();
        },
      },
    );
    assert.equal(r.stopReason, 'abort');
    assert.ok(r.timing.generatedTokens < 400);
    assert.ok(streamed.startsWith(r.text.slice(0, 10)));
  });

  it('carries a jsonSchema over the socket: the worker answers with JSON that matches it, and refuses a bad one', async () => {
    const a = client('window A');
    const jsonSchema = { type: 'object', properties: { size: { enum: ['small', 'medium', 'large'] }, note: { type: 'string', maxLength: 20 } } };
    let streamed = '';
    const r = await a.generate(
      config(),
      { kind: 'chat', messages: [{ role: 'user', content: 'Plan it as JSON.' }], maxTokens: 100, jsonSchema },
      {
        onText: (t) => {
          streamed += t;
        },
      },
    );
    const v = JSON.parse(r.text) as { size: string; note: string };
    assert.deepEqual(Object.keys(v), ['size', 'note']);
    assert.ok(['small', 'medium', 'large'].includes(v.size), v.size);
    assert.ok(v.note.length <= 20);
    assert.equal(r.stopReason, 'eos');
    assert.equal(streamed, r.text);
    await assert.rejects(
      a.generate(config(), {
        kind: 'completion',
        prompt: LILY,
        maxTokens: 8,
        jsonSchema: { type: 'object', properties: { n: { type: 'integer', minimum: 1 } } },
      }),
      (e: unknown) => e instanceof EngineError && e.code === 'bad-request' && /#\/properties\/n: keyword "minimum" is not supported/.test(e.message),
    );
  });

  it('reports a bad model file clearly and stays up', async () => {
    const a = client('window A');
    // Loading it (Show Engine Status's Load Model) fails with the reason, and the status keeps it.
    await assert.rejects(a.load(config({ modelPath: w.models.corrupt.truncated })), /truncated/);
    assert.match((await a.status()).lastError?.message ?? '', /truncated/);
    await assert.rejects(
      a.generate(config({ modelPath: w.models.corrupt.truncated }), { kind: 'completion', prompt: 'x', maxTokens: 1 }),
      (e: unknown) => e instanceof EngineError && e.code === 'model-invalid' && /truncated/.test(e.message),
    );
    const pid = a.workerPid;
    const r = await a.generate(config(), { kind: 'completion', prompt: LILY, maxTokens: 4 });
    assert.equal(a.workerPid, pid);
    assert.ok(r.text.length > 0);
  });

  it('stops the requests of a window that goes away', async () => {
    const a = client('window A');
    const b = client('window B');
    await b.load(config());
    // A queue of 50 long completions on one document (about 8 s of work on an idle machine, one after another).
    const running = Array.from({ length: 50 }, () =>
      a.generate(config(), { kind: 'completion', prompt: LILY, maxTokens: 400, sessionKey: 'doc' }).catch((e: unknown) => e),
    );
    await until('requests running', async () => (await b.status()).activeRequests > 10);
    a.dispose(); // the window closes: its socket goes away
    await until('requests dropped', async () => (await b.status()).activeRequests === 0);
    // The worker's own count says the queue was dropped, not worked through: however slow the machine, only the
    // requests that had finished before the window closed ran to their end.
    const { requests } = await b.status();
    assert.equal(requests.finished + requests.aborted, 50, JSON.stringify(requests));
    assert.ok(requests.aborted >= 40, `${requests.aborted} of 50 were cancelled in the worker`);
    assert.ok((await Promise.all(running)).every((r) => r instanceof EngineError && r.code === 'cancelled'));
  });

  it('restarts after the worker is killed mid-generation, and the next request succeeds', async () => {
    const events: string[] = [];
    const a = client('window A', { onWorkerEvent: (e) => events.push(e.type) });
    await a.load(config());
    const firstPid = a.workerPid!;
    // 20 long completions on one document, one after another; the worker dies as the first one streams its text.
    let killed = false;
    const kill = () => {
      if (!killed) {
        killed = true;
        process.kill(firstPid, 'SIGKILL');
      }
    };
    const running = Array.from({ length: 20 }, (_, i) =>
      a
        .generate(config(), { kind: 'completion', prompt: LILY, maxTokens: 400, sessionKey: 'doc' }, { onText: i === 0 ? kill : undefined })
        .catch((e: unknown) => e),
    );
    const outcomes = await Promise.all(running);
    assert.ok(killed);
    const crashed = outcomes.filter((e) => e instanceof EngineError && e.code === 'worker-crashed' && /restarting it/.test(e.message));
    // Requests queued behind the first cannot have finished before it did, so nearly all of them fail (a worker far
    // ahead of this process's view of the stream could have finished a few).
    assert.ok(crashed.length >= 10, `${crashed.length} of 20 requests reported the crash`);
    assert.ok(
      outcomes.every((o) => !(o instanceof Error) || crashed.includes(o)),
      'nothing failed for another reason',
    );
    await until('restart', () => events.includes('restarted'));
    const r = await a.generate(config(), { kind: 'completion', prompt: LILY, maxTokens: 4 });
    assert.ok(r.text.length > 0);
    assert.notEqual(a.workerPid, firstPid);
    assert.deepEqual(events, ['crashed', 'restarted']);
  });

  it('recovers from a stale lock left by a dead worker', async () => {
    const dead = spawnSync(process.execPath, ['-e', 'process.pid'], { encoding: 'utf8' }).pid!;
    writeFileSync(
      lockPathFor(w.stateDir),
      JSON.stringify({ pid: dead, socket: path.join(w.stateDir, 'gone.sock'), protocol: PROTOCOL_VERSION, version: '0', startedAt: 0 }),
    );
    const a = client('window A');
    const status = await a.status();
    assert.notEqual(status.pid, dead);
    assert.equal((await readLock(lockPathFor(w.stateDir)))?.pid, status.pid);
  });

  it('recovers from a lock whose pid now belongs to an unrelated live process (pid reuse)', async function () {
    // An unrelated process that started after the lock was written, as after a crash and pid reuse.
    const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    try {
      if (processStartTime(process.pid) === undefined)
        skipBecause(this, `${process.platform} does not say when a process started (only /proc is read)`);
      await until('the other process', () => processStartTime(other.pid!) !== undefined);
      writeFileSync(
        lockPathFor(w.stateDir),
        JSON.stringify({
          pid: other.pid,
          socket: path.join(w.stateDir, 'gone.sock'),
          protocol: PROTOCOL_VERSION,
          version: '0',
          startedAt: Date.now() - 3_600_000,
          boot: bootTime(),
        }),
      );
      const status = await client('window A', { startTimeoutMs: 60_000 }).status();
      assert.notEqual(status.pid, other.pid);
      assert.equal((await readLock(lockPathFor(w.stateDir)))?.pid, status.pid);
      assert.equal(other.exitCode, null, 'the unrelated process was left alone');
    } finally {
      other.kill('SIGKILL');
    }
  });

  it('recovers from a lock written before the machine restarted, whose pid is alive again', async () => {
    writeFileSync(
      lockPathFor(w.stateDir),
      JSON.stringify({
        pid: process.pid,
        socket: path.join(w.stateDir, 'gone.sock'),
        protocol: PROTOCOL_VERSION,
        version: '0',
        startedAt: Date.now(),
        boot: bootTime() - 86_400_000,
      }),
    );
    const status = await client('window A', { startTimeoutMs: 60_000 }).status();
    assert.notEqual(status.pid, process.pid);
    assert.equal((await readLock(lockPathFor(w.stateDir)))?.pid, status.pid);
  });

  it('recovers from a torn lock file', async () => {
    writeFileSync(lockPathFor(w.stateDir), '{"pid": 12');
    const a = client('window A');
    assert.ok((await a.status()).pid > 0);
  });

  it('exits after the idle timeout once no window is connected, removing its lock', async () => {
    const a = client('window A', { idleMs: 300 });
    const pid = (await a.status()).pid;
    a.dispose();
    await until('worker exit', () => !pidAlive(pid));
    assert.equal(existsSync(lockPathFor(w.stateDir)), false);
  });

  it('runs the Vulkan backend on lavapipe when a Vulkan device is exposed', async function () {
    const missing = await vulkanSkipReason();
    if (missing) skipBecause(this, missing);
    this.timeout(300000); // the first Vulkan use compiles shaders on the CPU (tens of seconds, once)
    const a = client('window A', { workerEnv: { GGML_VK_VISIBLE_DEVICES: '0' }, startTimeoutMs: 60000 });
    const info = await a.load(config({ gpu: 'vulkan' }));
    assert.equal(info.backend, 'llama.cpp (vulkan)');
    assert.ok(info.devices.length > 0, 'a device is listed');
    const r = await a.generate(config({ gpu: 'vulkan' }), { kind: 'completion', prompt: LILY, maxTokens: 4 });
    assert.match(r.text, /^ loved to play/);
    assert.equal(r.backend, 'llama.cpp (vulkan)');
  });
});
