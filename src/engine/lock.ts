// Finding the one engine worker of this machine (per user): a lock file in the extension's global storage names the
// worker's pid and socket (a fresh private path each time: rendezvous.ts). Written atomically (hard link of a complete temp file), so a reader never sees half a
// lock; a lock whose holder is gone (its pid dead, or given to another process since) is stale and is removed by
// whoever finds it.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { BOOT_SLACK_MS, bootTime, processStartTime } from '../core/process/times';
import { removeSocket } from './rendezvous';

export interface LockInfo {
  readonly pid: number;
  readonly socket: string;
  readonly protocol: number;
  readonly version: string;
  readonly startedAt: number;
  /** The machine's boot time when the worker started (absent in locks of older versions). */
  readonly boot?: number;
}

/** A process may start this long before it writes its lock (a worker loads its code first). */
const START_SLACK_MS = 2000;

/**
 * Whether the lock still names a live worker: its pid alive, the machine not rebooted since, and (where the system
 * says when a process started) that process not younger than the lock. Otherwise, why not: a crash and a reboot,
 * or pid reuse, can leave a lock naming an unrelated live process that would block every window for good.
 */
export function lockHolder(
  info: LockInfo,
  clocks: { boot: () => number; startOf: (pid: number) => number | undefined } = { boot: bootTime, startOf: (pid) => processStartTime(pid) },
): { alive: true } | { alive: false; why: string } {
  if (!pidAlive(info.pid)) return { alive: false, why: `its process ${info.pid} has ended` };
  if (typeof info.boot === 'number' && Math.abs(info.boot - clocks.boot()) > BOOT_SLACK_MS)
    return { alive: false, why: 'the machine has restarted since it was written' };
  const started = clocks.startOf(info.pid);
  if (started !== undefined && typeof info.startedAt === 'number' && started > info.startedAt + START_SLACK_MS) {
    return { alive: false, why: `pid ${info.pid} now belongs to another process, started after the lock was written` };
  }
  return { alive: true };
}

export function lockPathFor(stateDir: string): string {
  return path.join(stateDir, 'engine.lock');
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
  } catch {
    /* torn or foreign content: treated as stale */
  }
  return undefined;
}

/** Removes the lock if it is stale (unreadable, or see lockHolder). Returns true when no live lock remains. */
export async function clearStaleLock(lockPath: string): Promise<boolean> {
  const info = await readLock(lockPath);
  if (info && lockHolder(info).alive) return false;
  await fs.rm(lockPath, { force: true });
  if (info) await removeSocket(info.socket); // a crashed worker's socket folder
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
