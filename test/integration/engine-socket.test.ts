// Who may be at either end of the engine socket (#16 item 1): the real worker process and EngineClient, hostile
// listeners and clients on this machine, and (when the suite runs as root) a second real OS user, `nobody`, who
// squats the old predictable path, pokes at the worker and stands in for it.
import * as assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { bootTime } from '../../src/core/process/times';
import { authenticate, Untrusted } from '../../src/engine/client';
import { EngineError } from '../../src/engine/errors';
import { readMessages, writeMessage } from '../../src/engine/framing';
import { keyPathFor, newNonce } from '../../src/engine/handshake';
import { lockPathFor, pidAlive, readLock, type LockInfo } from '../../src/engine/lock';
import { PROTOCOL_VERSION, type WorkerMessage } from '../../src/engine/protocol';
import { socketProblem } from '../../src/engine/rendezvous';
import { LILY, workerFixture } from '../support/engineWorkers';
import { skipBecause } from '../support/prerequisites';
import { until } from '../support/wait';

const SECRET_CODE = 'const launchCodes = "0000";';
const NOBODY = { uid: 65534, gid: 65534 };

/** A listener that records every line it receives and answers a hello with a greeting it cannot prove. */
async function impostor(socketPath: string): Promise<{ lines: string[]; close: () => Promise<void> }> {
  const lines: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    readMessages(
      s,
      (m) => {
        lines.push(JSON.stringify(m));
        writeMessage(s, {
          type: 'hello',
          protocol: PROTOCOL_VERSION,
          version: 'x',
          pid: process.pid,
          node: 'x',
          nonce: newNonce(),
          proof: newNonce(),
        } satisfies WorkerMessage);
      },
      () => {},
    );
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(socketPath, r));
  return {
    lines,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

function lockNaming(socket: string, pid = process.pid): LockInfo {
  return { pid, socket, protocol: PROTOCOL_VERSION, version: 'test', startedAt: Date.now(), boot: bootTime() };
}

/** The next message on a raw socket, or 'closed'. */
function nextOrClose(socket: net.Socket, inbox: WorkerMessage[]): Promise<WorkerMessage | 'closed'> {
  return until('a message or the close', () => inbox.shift() ?? (socket.destroyed || socket.readableEnded ? ('closed' as const) : undefined));
}

describe("engine socket: only this user's Verdant at either end (real worker)", function () {
  this.timeout(180_000);
  const w = workerFixture('verdant-socket-');

  before(() => w.load());
  beforeEach(() => w.fresh());
  afterEach(async () => {
    await w.cleanup();
  });

  it('listens in a fresh folder only this user can enter, named only in the lock, with a 0600 key beside the lock', async function () {
    if (process.platform === 'win32') skipBecause(this, 'Windows uses a named pipe with a random name');
    const pid = (await w.client('window A').status()).pid;
    const lock = await readLock(lockPathFor(w.stateDir));
    assert.equal(lock?.pid, pid);
    assert.equal(await socketProblem(lock.socket), undefined);
    assert.equal(statSync(path.dirname(lock.socket)).mode & 0o777, 0o700);
    assert.equal(lstatSync(lock.socket).isSocket(), true);
    const key = statSync(keyPathFor(w.stateDir));
    assert.equal(key.mode & 0o777, 0o600);
    assert.equal(key.size, 32);
    // Another state folder's worker gets another, unrelated folder: nothing to predict from the name.
    const before = lock.socket;
    await w.cleanup();
    w.fresh();
    await w.client('window B').status();
    const other = (await readLock(lockPathFor(w.stateDir)))!.socket;
    assert.notEqual(path.dirname(other), path.dirname(before));
  });

  it('serves nothing to a client that cannot prove the key: no status before the handshake, none after a bad proof, no shutdown', async () => {
    const a = w.client('window A');
    const pid = (await a.status()).pid;
    const lock = (await readLock(lockPathFor(w.stateDir)))!;
    const raw = async () => {
      const socket = net.connect(lock.socket);
      const inbox: WorkerMessage[] = [];
      readMessages(
        socket,
        (m) => inbox.push(m as WorkerMessage),
        () => {},
      );
      socket.on('error', () => {});
      await new Promise((r) => socket.once('connect', r));
      return { socket, inbox };
    };

    // Straight to a request, and straight to shutdown: refused, and the connection ends.
    for (const first of [{ type: 'status', id: 1 }, { type: 'shutdown' }]) {
      const c = await raw();
      writeMessage(c.socket, first);
      const answer = await nextOrClose(c.socket, c.inbox);
      assert.ok(answer !== 'closed' && answer.type === 'error' && answer.error.code === 'unauthorized', JSON.stringify(answer));
      assert.equal(await nextOrClose(c.socket, c.inbox), 'closed');
    }

    // A hello, the worker's proof, then a made-up proof: refused; a status sent after it gets no answer.
    const c = await raw();
    writeMessage(c.socket, { type: 'hello', protocol: PROTOCOL_VERSION, client: 'intruder', nonce: newNonce() });
    const hello = await nextOrClose(c.socket, c.inbox);
    assert.ok(hello !== 'closed' && hello.type === 'hello');
    writeMessage(c.socket, { type: 'auth', proof: newNonce() });
    writeMessage(c.socket, { type: 'status', id: 2 });
    const refused = await nextOrClose(c.socket, c.inbox);
    assert.ok(refused !== 'closed' && refused.type === 'error' && refused.error.code === 'unauthorized', JSON.stringify(refused));
    assert.equal(await nextOrClose(c.socket, c.inbox), 'closed', 'nothing more, no status');

    // The real handshake with another key: the client refuses the worker (it cannot check its proof) first.
    await assert.rejects(
      authenticate(lock.socket, randomBytes(32), 'wrong key', () => {}),
      (e: unknown) => e instanceof Untrusted && /could not prove/.test(e.message),
    );

    assert.ok(pidAlive(pid), 'the worker was not shut down');
    assert.equal((await a.status()).pid, pid, 'and still serves its own windows');
  });

  it('a window sends nothing to a socket whose folder others can enter (another user could be listening there)', async function () {
    if (process.platform === 'win32') skipBecause(this, 'Unix sockets only');
    const open = mkdtempSync(path.join(os.tmpdir(), 'verdant-open-'));
    chmodSync(open, 0o755);
    const fake = await impostor(path.join(open, 'engine.sock'));
    try {
      writeFileSync(lockPathFor(w.stateDir), JSON.stringify(lockNaming(path.join(open, 'engine.sock'))));
      await assert.rejects(
        w.client('window A').generate(w.config(), { kind: 'completion', prompt: SECRET_CODE, maxTokens: 4 }),
        (e: unknown) =>
          e instanceof EngineError &&
          e.code === 'unauthorized' &&
          /not private to this user .*can be entered by other users/.test(e.message) &&
          e.message.includes(lockPathFor(w.stateDir)),
      );
      assert.deepEqual(fake.lines, [], 'not even a hello');
    } finally {
      await fake.close();
      rmSync(open, { recursive: true, force: true });
    }
  });

  it('a window stops at its hello when what answers cannot prove the key: the code before the cursor never goes', async function () {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'verdant-sock-'));
    const socketPath = process.platform === 'win32' ? `\\\\.\\pipe\\verdant-test-${randomBytes(8).toString('hex')}` : path.join(dir, 'engine.sock');
    const fake = await impostor(socketPath);
    try {
      writeFileSync(lockPathFor(w.stateDir), JSON.stringify(lockNaming(socketPath)));
      await assert.rejects(
        w.client('window A').generate(w.config(), { kind: 'completion', prompt: SECRET_CODE, maxTokens: 4 }),
        (e: unknown) => e instanceof EngineError && e.code === 'unauthorized' && /could not prove it is Verdant's engine/.test(e.message),
      );
      assert.equal(fake.lines.length, 1, fake.lines.join('\n'));
      const hello = JSON.parse(fake.lines[0]!) as Record<string, unknown>;
      assert.deepEqual(Object.keys(hello).sort(), ['client', 'nonce', 'protocol', 'type']);
      assert.ok(!fake.lines[0]!.includes('launchCodes'));
    } finally {
      await fake.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a worker from before the handshake (protocol 3, socket in the temp folder) is told only to exit, and replaced', async function () {
    if (process.platform === 'win32') skipBecause(this, 'the old worker is simulated on a Unix socket');
    const old = path.join(os.tmpdir(), `verdant-engine-test-${randomBytes(6).toString('hex')}.sock`);
    // Protocol 3's rules: hello in its own version first, then requests; shutdown ends it.
    const v3 = spawn(
      process.execPath,
      [
        '-e',
        `
      const net = require('net'), fs = require('fs'), p = process.argv[1], got = [];
      net.createServer((s) => {
        let buf = '', greeted = false;
        s.setEncoding('utf8');
        s.on('data', (d) => {
          buf += d;
          for (let i; (i = buf.indexOf('\\n')) >= 0;) {
            const m = JSON.parse(buf.slice(0, i)); buf = buf.slice(i + 1); got.push(m);
            if (m.type === 'hello' && m.protocol === 3) { greeted = true; s.write(JSON.stringify({ type: 'hello', protocol: 3, version: '0.9', pid: process.pid, node: '' }) + '\\n'); }
            else if (m.type === 'shutdown' && greeted) { fs.writeFileSync(p + '.got', JSON.stringify(got)); process.exit(0); }
            else s.write(JSON.stringify({ type: 'error', id: null, error: { code: 'protocol-mismatch', message: 'say hello first' } }) + '\\n');
          }
        });
      }).listen(p, () => console.log('listening'));`,
        old,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      let out = '';
      v3.stdout!.setEncoding('utf8').on('data', (d: string) => {
        out += d;
      });
      await until('the protocol 3 worker', () => out.includes('listening'));
      mkdirSync(w.stateDir, { recursive: true });
      writeFileSync(lockPathFor(w.stateDir), JSON.stringify({ ...lockNaming(old, v3.pid), protocol: 3, version: '0.9' }));
      const status = await w.client('window A').status();
      assert.notEqual(status.pid, v3.pid);
      await until('the old worker to exit', () => v3.exitCode !== null);
      const got = JSON.parse(readFileSync(`${old}.got`, 'utf8')) as { type: string }[];
      assert.deepEqual(
        got.map((m) => m.type),
        ['hello', 'shutdown'],
        'nothing but the way out',
      );
    } finally {
      v3.kill('SIGKILL');
      rmSync(old, { force: true });
      rmSync(`${old}.got`, { force: true });
    }
  });

  describe('with a second real OS user (nobody)', function () {
    let scripts = '';
    before(function () {
      if (process.platform === 'win32' || process.getuid?.() !== 0) skipBecause(this, 'needs root, to run a script as the user nobody');
      scripts = mkdtempSync(path.join(os.tmpdir(), 'verdant-nobody-'));
      chmodSync(scripts, 0o755);
    });
    after(() => {
      if (scripts) rmSync(scripts, { recursive: true, force: true });
    });

    /** Runs `code` as nobody; its stdout lines as they come. */
    const asNobody = (name: string, code: string): { child: ChildProcess; out: string[]; exited: Promise<number | null> } => {
      const file = path.join(scripts, `${name}.js`);
      writeFileSync(file, code, { mode: 0o644 });
      const child = spawn(process.execPath, [file], { ...NOBODY, cwd: scripts, stdio: ['ignore', 'pipe', 'inherit'] });
      const out: string[] = [];
      child.stdout!.setEncoding('utf8').on('data', (d: string) => out.push(...d.split('\n').filter(Boolean)));
      return { child, out, exited: new Promise((r) => child.once('exit', r)) };
    };

    it('taking the path older versions used, first, no longer keeps the worker from starting', async () => {
      // 0.x named the socket from the state folder alone: /tmp/verdant-engine-<uid>-<hash>.sock.
      const hash = createHash('sha256').update(path.resolve(w.stateDir)).digest('hex').slice(0, 16);
      const old = path.join(os.tmpdir(), `verdant-engine-${process.getuid!()}-${hash}.sock`);
      const squat = asNobody(
        'squat',
        `require('fs').mkdirSync(${JSON.stringify(old)}); console.log(require('fs').statSync(${JSON.stringify(old)}).uid);`,
      );
      try {
        assert.equal(await squat.exited, 0);
        assert.equal(squat.out[0], String(NOBODY.uid));
        const status = await w.client('window A').status();
        assert.ok(status.pid > 0);
      } finally {
        rmSync(old, { recursive: true, force: true });
      }
    });

    it("cannot enter the socket's folder, connect to the worker, or read the key", async () => {
      await w.client('window A').status();
      const lock = (await readLock(lockPathFor(w.stateDir)))!;
      chmodSync(w.stateDir, 0o755); // as global storage folders often are: the key's own mode must keep it
      const probe = asNobody(
        'probe',
        `
        const fs = require('fs'), net = require('net');
        const code = (f) => { try { f(); return 'ok'; } catch (e) { return e.code; } };
        console.log('readdir ' + code(() => fs.readdirSync(${JSON.stringify(path.dirname(lock.socket))})));
        console.log('key ' + code(() => fs.readFileSync(${JSON.stringify(keyPathFor(w.stateDir))})));
        const s = net.connect(${JSON.stringify(lock.socket)});
        s.on('connect', () => { console.log('connect ok'); process.exit(0); });
        s.on('error', (e) => { console.log('connect ' + e.code); process.exit(0); });`,
      );
      assert.equal(await probe.exited, 0);
      assert.deepEqual(probe.out, ['readdir EACCES', 'key EACCES', 'connect EACCES']);
    });

    it("a listener of that user, named in the lock, gets nothing: its folder is not this user's", async () => {
      const fake = asNobody(
        'listen',
        `
        const fs = require('fs'), net = require('net'), path = require('path');
        const dir = fs.mkdtempSync('/tmp/verdant-sock-');
        const got = [];
        net.createServer((s) => s.on('data', (d) => { got.push(String(d)); fs.writeFileSync(path.join(dir, 'got'), got.join('')); })).listen(path.join(dir, 'engine.sock'), () => console.log(dir));`,
      );
      try {
        const dir = await until('the listener', () => fake.out[0]);
        mkdirSync(w.stateDir, { recursive: true });
        writeFileSync(lockPathFor(w.stateDir), JSON.stringify(lockNaming(path.join(dir, 'engine.sock'), fake.child.pid)));
        await assert.rejects(
          w.client('window A').generate(w.config(), { kind: 'completion', prompt: LILY + SECRET_CODE, maxTokens: 4 }),
          (e: unknown) =>
            e instanceof EngineError && e.code === 'unauthorized' && new RegExp(`belongs to uid ${NOBODY.uid}, not this user`).test(e.message),
        );
        assert.throws(() => readFileSync(path.join(dir, 'got')), /ENOENT/, 'it received nothing');
        rmSync(dir, { recursive: true, force: true });
      } finally {
        fake.child.kill('SIGKILL');
      }
    });
  });
});
