// The engine worker entry (dist/engine-worker.js) forked as a real child process with an IPC channel.
import * as assert from 'node:assert/strict';
import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { PROTOCOL_VERSION, type WorkerMessage } from '../../src/engine/protocol';

const WORKER = 'dist/engine-worker.js';

function nextMessage(child: ChildProcess): Promise<WorkerMessage> {
  return once(child, 'message').then(([m]) => m as WorkerMessage);
}

describe('engine worker process', () => {
  let child: ChildProcess | undefined;
  afterEach(() => { if (child && child.exitCode === null) child.kill('SIGKILL'); });

  it('answers the versioned handshake', async () => {
    child = fork(WORKER, [], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    child.send({ type: 'hello', protocol: PROTOCOL_VERSION });
    const m = await nextMessage(child);
    assert.equal(m.type, 'hello');
    if (m.type === 'hello') {
      assert.equal(m.protocol, PROTOCOL_VERSION);
      assert.equal(m.pid, child.pid);
    }
  });

  it('refuses another protocol version with a fix, and rejects junk', async () => {
    child = fork(WORKER, [], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    child.send({ type: 'hello', protocol: PROTOCOL_VERSION + 1 });
    const m = await nextMessage(child);
    assert.equal(m.type, 'error');
    if (m.type === 'error') assert.match(m.message, /not supported .* reload the window/);
    child.send({ type: 'frobnicate' });
    assert.equal((await nextMessage(child)).type, 'error');
  });

  it('exits when the parent disconnects or asks it to shut down', async () => {
    child = fork(WORKER, [], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    const exited = once(child, 'exit');
    child.send({ type: 'shutdown' });
    const [code] = await exited;
    assert.equal(code, 0);
  });

  it('refuses to run without an IPC channel', () => {
    const r = spawnSync(process.execPath, [WORKER], { encoding: 'utf8', timeout: 10000 });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /IPC channel/);
  });
});
