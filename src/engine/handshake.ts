// Mutual authentication between a window and the engine worker. Both read a random key from engine.key (0600, in
// the extension's global storage, which only this user can read); each proves it knows the key with an HMAC over
// both sides' fresh nonces, the worker first. A client talking to something that cannot prove it sends it nothing
// of the user's code; a worker serves nothing to a client that cannot. Labels keep the two proofs apart, so one
// side's answer never serves as the other's.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { EngineError } from './errors';
import type { Owner } from './rendezvous';

const KEY_BYTES = 32;
/** Nonces and proofs alike: 32 bytes, hex. */
const HEX32 = /^[0-9a-f]{64}$/;

export function keyPathFor(stateDir: string): string {
  return path.join(stateDir, 'engine.key');
}

export function newNonce(): string {
  return randomBytes(32).toString('hex');
}

export function isNonce(v: unknown): v is string {
  return typeof v === 'string' && HEX32.test(v);
}

/** What `role` sends to prove it holds `key` on the connection both nonces name. */
export function proofOf(key: Buffer, role: 'worker' | 'client', clientNonce: string, workerNonce: string): string {
  return createHmac('sha256', key).update(`verdant-engine-v1\0${role}\0${clientNonce}\0${workerNonce}`).digest('hex');
}

export function proofMatches(key: Buffer, role: 'worker' | 'client', clientNonce: string, workerNonce: string, given: unknown): boolean {
  if (typeof given !== 'string' || !HEX32.test(given)) return false;
  return timingSafeEqual(Buffer.from(proofOf(key, role, clientNonce, workerNonce), 'hex'), Buffer.from(given, 'hex'));
}

/**
 * The key in `keyPath`, made now if there is none. A key others could read is replaced (it may be known); one that
 * belongs to another user is refused, with the fix. Written whole before it appears (hard link of a complete temp
 * file), so a reader never sees half a key.
 */
export async function engineKey(keyPath: string, owner: Owner): Promise<Buffer> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const found = await readKey(keyPath, owner);
    if (found.key) return found.key;
    if (found.replace) await fs.rm(keyPath, { force: true });
    await writeKey(keyPath); // then read back what is there: ours, or one another window made meanwhile
  }
  throw new EngineError('worker-unavailable', `Could not create the engine key ${keyPath}; check that the folder is writable.`);
}

async function readKey(keyPath: string, owner: Owner): Promise<{ key?: Buffer; replace?: boolean }> {
  let st;
  try {
    st = await fs.lstat(keyPath);
  } catch {
    return {};
  }
  if (owner.uid !== undefined && st.uid !== owner.uid) {
    throw new EngineError('worker-unavailable', `${keyPath} belongs to uid ${st.uid}, not this user; delete it (Verdant makes a new one).`);
  }
  if (!st.isFile() || st.size !== KEY_BYTES || (owner.uid !== undefined && (st.mode & 0o077) !== 0)) return { replace: true };
  const key = await fs.readFile(keyPath);
  return key.length === KEY_BYTES ? { key } : { replace: true };
}

async function writeKey(keyPath: string): Promise<void> {
  await fs.mkdir(path.dirname(keyPath), { recursive: true });
  const tmp = `${keyPath}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await fs.writeFile(tmp, randomBytes(KEY_BYTES), { mode: 0o600, flag: 'wx' });
  try {
    await fs.link(tmp, keyPath);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  } finally {
    await fs.rm(tmp, { force: true });
  }
}
