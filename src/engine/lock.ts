// Finding the one engine worker of this machine (per user): a lock file in the extension's global storage names the
// worker's pid and socket. Written atomically (hard link of a complete temp file), so a reader never sees half a
// lock; a lock whose pid is dead is stale and is removed by whoever finds it.
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface LockInfo {
  readonly pid: number;
  readonly socket: string;
  readonly protocol: number;
  readonly version: string;
  readonly startedAt: number;
}

export function lockPathFor(stateDir: string): string {
  return path.join(stateDir, 'engine.lock');
}

/**
 * The socket lives outside the storage folder: Unix socket paths are limited to about 100 bytes, and global storage
 * paths can be longer. The name is derived from the storage folder, so different users/profiles never collide.
 */
export function socketPathFor(stateDir: string, platform: NodeJS.Platform = process.platform): string {
  const hash = createHash('sha256').update(path.resolve(stateDir)).digest('hex').slice(0, 16);
  if (platform === 'win32') return `\\\\.\\pipe\\verdant-engine-${hash}`;
  const uid = typeof process.getuid === 'function' ? process.getuid() : 0;
  return path.join(os.tmpdir(), `verdant-engine-${uid}-${hash}.sock`);
}

export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // exists, but belongs to someone else
  }
}

/** The lock's content, or undefined when there is none or it is unreadable (torn, or not ours). */
export async function readLock(lockPath: string): Promise<LockInfo | undefined> {
  let text: string;
  try {
    text = await fs.readFile(lockPath, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const o = JSON.parse(text) as Partial<LockInfo>;
    if (typeof o.pid === 'number' && typeof o.socket === 'string' && typeof o.protocol === 'number') return o as LockInfo;
  } catch { /* torn or foreign content: treated as stale */ }
  return undefined;
}

/** Removes the lock if it is stale (unreadable, or its pid is dead). Returns true when no live lock remains. */
export async function clearStaleLock(lockPath: string): Promise<boolean> {
  const info = await readLock(lockPath);
  if (info && pidAlive(info.pid)) return false;
  await fs.rm(lockPath, { force: true });
  return true;
}

/** Takes the lock for this process. False when another live process holds it. */
export async function acquireLock(lockPath: string, info: LockInfo): Promise<boolean> {
  await fs.mkdir(path.dirname(lockPath), { recursive: true });
  const tmp = `${lockPath}.${process.pid}.tmp`;
  await fs.writeFile(tmp, JSON.stringify(info), { mode: 0o600 });
  try {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        await fs.link(tmp, lockPath);
        return true;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        if (!(await clearStaleLock(lockPath))) return false;
      }
    }
    return false;
  } finally {
    await fs.rm(tmp, { force: true });
  }
}

/** Removes the lock only if it is still this process's. */
export async function releaseLock(lockPath: string, pid: number = process.pid): Promise<void> {
  const info = await readLock(lockPath);
  if (info?.pid === pid) await fs.rm(lockPath, { force: true });
}
