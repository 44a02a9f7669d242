// Where a window meets the engine worker: a socket in a fresh folder only this user can enter (Unix), or a pipe
// with an unguessable name (Windows). A predictable name in a shared folder let another local user block the
// worker (by taking the name first) or stand in for it; a name only the lock file knows, in a 0700 folder that the
// client checks before it dials, leaves neither. The handshake (handshake.ts) then proves both ends know the key.
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** Every socket folder is named so; only such a folder is ever removed (a lock could name any path). */
const DIR_PREFIX = 'verdant-sock-';
const SOCKET_NAME = 'engine.sock';
/** sockaddr_un holds 108 bytes on Linux, 104 on macOS; leave room for the folder's random part. */
const MAX_SOCKET_PATH = 100;

export interface Owner {
  /** This process's uid (undefined on Windows, where folders are per user by their ACLs instead). */
  readonly uid: number | undefined;
}

export const currentOwner = (): Owner => ({ uid: typeof process.getuid === 'function' ? process.getuid() : undefined });

/**
 * A new, unused socket path for a worker about to listen: on Unix a fresh 0700 folder (mkdtemp, so nobody else can
 * have made it) under $XDG_RUNTIME_DIR when that is this user's private folder, else the temp folder.
 */
export async function newSocketPath(platform: NodeJS.Platform = process.platform, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  if (platform === 'win32') return `\\\\.\\pipe\\${DIR_PREFIX}${randomBytes(16).toString('hex')}`;
  const base = await runtimeBase(env);
  const dir = await fs.mkdtemp(path.join(base, DIR_PREFIX));
  await fs.chmod(dir, 0o700); // mkdtemp makes it 0700 already; said again so a future default cannot loosen it
  return path.join(dir, SOCKET_NAME);
}

async function runtimeBase(env: NodeJS.ProcessEnv): Promise<string> {
  const xdg = env.XDG_RUNTIME_DIR;
  if (xdg && path.isAbsolute(xdg) && (await privateFolderProblem(xdg, currentOwner())) === undefined) return xdg;
  const tmp = os.tmpdir();
  return tmp.length + DIR_PREFIX.length + 8 + SOCKET_NAME.length <= MAX_SOCKET_PATH ? tmp : '/tmp';
}

/** Why `dir` is not a folder only `owner` can enter, or undefined when it is. */
async function privateFolderProblem(dir: string, owner: Owner): Promise<string | undefined> {
  let st;
  try {
    st = await fs.lstat(dir);
  } catch (e) {
    return `${dir} cannot be read (${(e as NodeJS.ErrnoException).code})`;
  }
  if (!st.isDirectory()) return `${dir} is not a folder`;
  if (owner.uid !== undefined && st.uid !== owner.uid) return `${dir} belongs to uid ${st.uid}, not this user (uid ${owner.uid})`;
  if ((st.mode & 0o077) !== 0) return `${dir} can be entered by other users (mode ${(st.mode & 0o777).toString(8)})`;
  return undefined;
}

/**
 * Why the client must not dial `socketPath`, or undefined when it may: on Unix the socket and its folder must belong
 * to this user and the folder be closed to others (else another user could be listening there). Windows pipes are
 * checked by the handshake alone.
 */
export async function socketProblem(
  socketPath: string,
  owner: Owner = currentOwner(),
  platform: NodeJS.Platform = process.platform,
): Promise<string | undefined> {
  if (platform === 'win32') return /^\\\\\.\\pipe\\/.test(socketPath) ? undefined : `${socketPath} is not a named pipe`;
  if (!path.isAbsolute(socketPath)) return `${socketPath} is not an absolute path`;
  const folder = await privateFolderProblem(path.dirname(socketPath), owner);
  if (folder) return folder;
  try {
    const st = await fs.lstat(socketPath);
    if (!st.isSocket()) return `${socketPath} is not a socket`;
    if (owner.uid !== undefined && st.uid !== owner.uid) return `${socketPath} belongs to uid ${st.uid}, not this user (uid ${owner.uid})`;
  } catch (e) {
    return `${socketPath} cannot be read (${(e as NodeJS.ErrnoException).code})`;
  }
  return undefined;
}

/** Removes a worker's socket and its folder: only a folder named as newSocketPath names them, owned by this user. */
export async function removeSocket(socketPath: string, owner: Owner = currentOwner(), platform: NodeJS.Platform = process.platform): Promise<void> {
  if (platform === 'win32' || !path.isAbsolute(socketPath) || path.basename(socketPath) !== SOCKET_NAME) return;
  const dir = path.dirname(socketPath);
  if (!path.basename(dir).startsWith(DIR_PREFIX)) return;
  try {
    const st = await fs.lstat(dir);
    if (!st.isDirectory() || (owner.uid !== undefined && st.uid !== owner.uid)) return;
    await fs.rm(socketPath, { force: true });
    await fs.rmdir(dir); // fails, harmlessly, if anything else is in there
  } catch {
    /* already gone, or not ours to remove */
  }
}
