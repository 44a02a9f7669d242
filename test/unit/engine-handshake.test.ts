// The engine handshake's pieces (src/engine/handshake.ts, rendezvous.ts): proofs that serve one role only, and a
// key file that is made once, whole, private, and refused or replaced when it is not.
import * as assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { engineKey, isNonce, keyPathFor, newNonce, proofMatches, proofOf } from '../../src/engine/handshake';
import { currentOwner, newSocketPath, removeSocket, socketProblem } from '../../src/engine/rendezvous';

describe('engine handshake', () => {
  let dir = '';
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'verdant-key-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('a proof holds for its key, role and both nonces only', () => {
    const key = Buffer.alloc(32, 7);
    const [c, w] = [newNonce(), newNonce()];
    assert.ok(isNonce(c) && c !== w);
    const proof = proofOf(key, 'worker', c, w);
    assert.equal(proofMatches(key, 'worker', c, w, proof), true);
    assert.equal(proofMatches(key, 'client', c, w, proof), false, "the worker's proof is no client proof");
    assert.equal(proofMatches(key, 'worker', w, c, proof), false, 'nonces swapped');
    assert.equal(proofMatches(key, 'worker', c, newNonce(), proof), false, 'another connection');
    assert.equal(proofMatches(Buffer.alloc(32, 8), 'worker', c, w, proof), false, 'another key');
    for (const bad of [undefined, 42, '', proof.toUpperCase(), proof.slice(2), `${proof}00`, 'zz'.repeat(32)]) {
      assert.equal(proofMatches(key, 'worker', c, w, bad), false, String(bad));
    }
  });

  it('makes one 0600 key of 32 bytes, the same for every caller at once', async () => {
    const keyPath = keyPathFor(dir);
    const keys = await Promise.all(Array.from({ length: 12 }, () => engineKey(keyPath, currentOwner())));
    assert.ok(keys.every((k) => k.equals(keys[0]!)));
    assert.ok(keys[0]!.equals(readFileSync(keyPath)));
    if (process.platform !== 'win32') assert.equal(statSync(keyPath).mode & 0o777, 0o600);
    assert.deepEqual(readdirSync(dir), ['engine.key'], 'no temp file left');
  });

  it('replaces a key other users could read, and one that is torn', async function () {
    if (process.platform === 'win32') this.skip();
    const keyPath = keyPathFor(dir);
    const first = await engineKey(keyPath, currentOwner());
    chmodSync(keyPath, 0o644);
    const second = await engineKey(keyPath, currentOwner());
    assert.ok(!second.equals(first), 'a key others could read may be known: a new one');
    assert.equal(statSync(keyPath).mode & 0o777, 0o600);
    writeFileSync(keyPath, 'short', { mode: 0o600 });
    const third = await engineKey(keyPath, currentOwner());
    assert.equal(third.length, 32);
  });

  it('refuses a key that belongs to another user, naming the fix', async function () {
    if (process.platform === 'win32' || process.getuid?.() !== 0) this.skip();
    const keyPath = keyPathFor(dir);
    await engineKey(keyPath, currentOwner());
    chownSync(keyPath, 65534, 65534);
    await assert.rejects(engineKey(keyPath, currentOwner()), /belongs to uid 65534, not this user; delete it/);
  });

  it('a new socket path is in a fresh 0700 folder; removeSocket removes only such a folder', async function () {
    if (process.platform === 'win32') this.skip();
    const a = await newSocketPath();
    const b = await newSocketPath();
    assert.notEqual(path.dirname(a), path.dirname(b));
    assert.equal(statSync(path.dirname(a)).mode & 0o777, 0o700);
    assert.match((await socketProblem(a)) ?? '', /ENOENT/, 'no socket yet');
    await removeSocket(a);
    await removeSocket(b);
    assert.throws(() => statSync(path.dirname(a)), /ENOENT/);
    // A lock could name any path: a folder not named as Verdant names them stays, and so does its content.
    const other = path.join(dir, 'engine.sock');
    writeFileSync(other, 'x');
    await removeSocket(other);
    assert.equal(readFileSync(other, 'utf8'), 'x');
  });

  it("uses $XDG_RUNTIME_DIR only when it is this user's private folder", async function () {
    if (process.platform === 'win32') this.skip();
    chmodSync(dir, 0o700);
    const inside = await newSocketPath(process.platform, { XDG_RUNTIME_DIR: dir });
    assert.equal(path.dirname(path.dirname(inside)), dir);
    await removeSocket(inside);
    chmodSync(dir, 0o755);
    const outside = await newSocketPath(process.platform, { XDG_RUNTIME_DIR: dir });
    assert.notEqual(path.dirname(path.dirname(outside)), dir, 'a folder others can enter is passed over');
    await removeSocket(outside);
  });
});
