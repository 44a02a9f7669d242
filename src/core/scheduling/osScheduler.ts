// The operating system's scheduler, driven for deferred jobs that must run while VS Code is closed (#23): a transient
// systemd user timer, else at(1) on Linux; a LaunchAgent on macOS; a Task Scheduler task on Windows. Each keeps one
// entry per job (named from the job id, in Verdant's own namespace), replaced when the job is replanned and removed
// when it ran or was cancelled. Commands run without a shell through the injected `exec`; the entries' content comes
// from osEntries.ts.
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { assertJobId } from './queue';
import {
  atMarker,
  atScript,
  atTime,
  ceilMinute,
  ENTRY_PREFIX,
  LAUNCHD_PREFIX,
  launchdPlist,
  schtasksXml,
  SCHTASKS_FOLDER,
  shQuote,
  systemdRunArgs,
  taskName,
  type OsEntry,
} from './osEntries';

export interface ExecResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a program without a shell; `input` goes to its stdin. Never rejects for a non-zero exit (ENOENT: code 127). */
export type Exec = (file: string, args: readonly string[], options?: { input?: string; env?: NodeJS.ProcessEnv }) => Promise<ExecResult>;

export type OsSchedulerKind = 'systemd' | 'at' | 'launchd' | 'schtasks';

export interface OsScheduler {
  readonly kind: OsSchedulerKind;
  /** Creates the job's entry, replacing one it had. Throws with the scheduler's own words when refused. */
  register(entry: OsEntry): Promise<void>;
  /** Removes the job's entry; nothing when there is none. */
  remove(id: string): Promise<void>;
  /** The ids of the jobs that have an entry. */
  list(): Promise<string[]>;
}

export interface OsSchedulerDeps {
  readonly exec: Exec;
  readonly platform?: NodeJS.Platform;
  readonly env?: NodeJS.ProcessEnv;
  readonly home?: string;
  /** For launchctl's gui/<uid> domain. */
  readonly uid?: number;
  /** A folder for the task XML Task Scheduler reads (deleted after). */
  readonly tmpDir?: string;
}

export class OsSchedulerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OsSchedulerError';
  }
}

function failed(what: string, r: ExecResult): OsSchedulerError {
  const said = (r.stderr.trim() || r.stdout.trim()).split(/\r?\n/).slice(-3).join(' ');
  return new OsSchedulerError(`${what} failed (exit ${r.code})${said ? `: ${said}` : ''}`);
}

/**
 * The scheduler this machine offers, or why there is none (the reason names the fix): a systemd user instance,
 * else at(1) with its daemon's queue readable; launchd on macOS; Task Scheduler on Windows.
 */
export async function detectOsScheduler(deps: OsSchedulerDeps): Promise<OsScheduler | { readonly unavailable: string }> {
  const platform = deps.platform ?? process.platform;
  if (platform === 'win32') {
    const r = await deps.exec('schtasks', ['/Query', '/FO', 'CSV', '/NH']);
    return r.code === 0 || r.code === 1
      ? new SchtasksScheduler(deps)
      : { unavailable: `Task Scheduler did not answer (${failed('schtasks /Query', r).message}).` };
  }
  if (platform === 'darwin') return new LaunchdScheduler(deps);
  const systemd = await deps.exec('systemctl', ['--user', 'show-environment']);
  if (systemd.code === 0) return new SystemdScheduler(deps);
  const at = await deps.exec('atq', []);
  if (at.code === 0) {
    // at queues jobs whether or not its daemon runs: without atd they would never run, and nobody would say.
    const atd = await deps.exec('pgrep', ['-x', 'atd']);
    if (atd.code === 1)
      return { unavailable: 'at(1) is installed but its daemon atd is not running: start it (systemctl start atd, or /usr/sbin/atd as root).' };
    return new AtScheduler(deps);
  }
  return {
    unavailable:
      'there is no systemd user instance (systemctl --user) and no at(1) (install the "at" package and start atd), so deferred jobs run only while VS Code or `verdant` runs.',
  };
}

export class SystemdScheduler implements OsScheduler {
  readonly kind = 'systemd';
  constructor(private readonly deps: OsSchedulerDeps) {}

  async register(entry: OsEntry): Promise<void> {
    assertJobId(entry.id);
    await this.remove(entry.id);
    const r = await this.deps.exec('systemd-run', systemdRunArgs(entry));
    if (r.code !== 0) throw failed('systemd-run --user', r);
  }

  async remove(id: string): Promise<void> {
    assertJobId(id);
    const unit = `${ENTRY_PREFIX}${id}`;
    // Absent units make both say so and exit non-zero: that is the "nothing to remove" case.
    await this.deps.exec('systemctl', ['--user', 'stop', `${unit}.timer`]);
    await this.deps.exec('systemctl', ['--user', 'reset-failed', `${unit}.timer`, `${unit}.service`]);
  }

  async list(): Promise<string[]> {
    const r = await this.deps.exec('systemctl', ['--user', 'list-units', '--all', '--plain', '--no-legend', '--type=timer', `${ENTRY_PREFIX}*`]);
    if (r.code !== 0) throw failed('systemctl --user list-units', r);
    return idsIn(r.stdout, new RegExp(`^${ENTRY_PREFIX}([A-Za-z0-9_-]+)\\.timer\\b`, 'gm'));
  }
}

export class AtScheduler implements OsScheduler {
  readonly kind = 'at';
  constructor(private readonly deps: OsSchedulerDeps) {}

  async register(entry: OsEntry): Promise<void> {
    assertJobId(entry.id);
    await this.remove(entry.id);
    // at keeps the caller's environment for the job: not VS Code's own (its IPC handles, Electron-as-Node), which
    // would point the job's programs at a window that is gone. And at reads -t in the local time zone: TZ=UTC makes
    // it the UTC time atTime() wrote.
    const given = this.deps.env ?? process.env;
    const env = Object.fromEntries(Object.entries(given).filter(([k]) => !/^(VSCODE_|ELECTRON_)|^NODE_OPTIONS$/.test(k)));
    env.TZ = 'UTC';
    // The job itself keeps the user's time zone.
    const tz = given.TZ === undefined ? 'unset TZ\n' : `export TZ=${shQuote(given.TZ)}\n`;
    const r = await this.deps.exec('at', ['-t', atTime(entry.at)], { input: tz + atScript({ ...entry, at: ceilMinute(entry.at) }), env });
    if (r.code !== 0) throw failed('at', r);
  }

  async remove(id: string): Promise<void> {
    assertJobId(id);
    const numbers = (await this.ours()).filter((j) => j.id === id).map((j) => j.number);
    if (numbers.length === 0) return;
    const r = await this.deps.exec('atrm', numbers);
    if (r.code !== 0) throw failed('atrm', r);
  }

  async list(): Promise<string[]> {
    return [...new Set((await this.ours()).map((j) => j.id))];
  }

  /** Our at jobs: atq's numbers whose script (`at -c`) carries our marker. */
  private async ours(): Promise<{ number: string; id: string }[]> {
    const q = await this.deps.exec('atq', []);
    if (q.code !== 0) throw failed('atq', q);
    const found: { number: string; id: string }[] = [];
    for (const number of q.stdout
      .split('\n')
      .map((l) => /^(\d+)\s/.exec(l)?.[1])
      .filter((n): n is string => n !== undefined)) {
      const c = await this.deps.exec('at', ['-c', number]);
      if (c.code !== 0) continue; // ran or was removed since atq
      const id = new RegExp(`^${atMarker('([A-Za-z0-9_-]+)')}$`, 'm').exec(c.stdout)?.[1];
      if (id !== undefined) found.push({ number, id });
    }
    return found;
  }
}

export class LaunchdScheduler implements OsScheduler {
  readonly kind = 'launchd';
  constructor(private readonly deps: OsSchedulerDeps) {}

  private get dir(): string {
    return path.join(this.deps.home ?? os.homedir(), 'Library', 'LaunchAgents');
  }

  private get domain(): string {
    return `gui/${this.deps.uid ?? process.getuid?.() ?? 0}`;
  }

  async register(entry: OsEntry): Promise<void> {
    assertJobId(entry.id);
    await this.remove(entry.id);
    const at = new Date(ceilMinute(entry.at));
    const file = path.join(this.dir, `${LAUNCHD_PREFIX}${entry.id}.plist`);
    await fs.mkdir(this.dir, { recursive: true });
    await fs.writeFile(file, launchdPlist(entry, { month: at.getMonth() + 1, day: at.getDate(), hour: at.getHours(), minute: at.getMinutes() }), {
      mode: 0o600,
    });
    const r = await this.deps.exec('launchctl', ['bootstrap', this.domain, file]);
    if (r.code !== 0) {
      await fs.rm(file, { force: true });
      throw failed('launchctl bootstrap', r);
    }
  }

  async remove(id: string): Promise<void> {
    assertJobId(id);
    await this.deps.exec('launchctl', ['bootout', `${this.domain}/${LAUNCHD_PREFIX}${id}`]);
    await fs.rm(path.join(this.dir, `${LAUNCHD_PREFIX}${id}.plist`), { force: true });
  }

  async list(): Promise<string[]> {
    const names = await fs.readdir(this.dir).catch(() => [] as string[]);
    return idsIn(names.join('\n'), new RegExp(`^${LAUNCHD_PREFIX.replace(/\./g, '\\.')}([A-Za-z0-9_-]+)\\.plist$`, 'gm'));
  }
}

export class SchtasksScheduler implements OsScheduler {
  readonly kind = 'schtasks';
  constructor(private readonly deps: OsSchedulerDeps) {}

  async register(entry: OsEntry): Promise<void> {
    assertJobId(entry.id);
    const dir = await fs.mkdtemp(path.join(this.deps.tmpDir ?? os.tmpdir(), 'verdant-task-'));
    const file = path.join(dir, `${entry.id}.xml`);
    try {
      // UTF-16 with its byte-order mark, as the XML declaration says and Task Scheduler expects.
      await fs.writeFile(file, Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(schtasksXml(entry), 'utf16le')]), { mode: 0o600 });
      const r = await this.deps.exec('schtasks', ['/Create', '/TN', taskName(entry.id), '/XML', file, '/F']);
      if (r.code !== 0) throw failed('schtasks /Create', r);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  }

  async remove(id: string): Promise<void> {
    assertJobId(id);
    const r = await this.deps.exec('schtasks', ['/Delete', '/TN', taskName(id), '/F']);
    // Absent: Windows says it cannot find the task and exits 1; Wine's schtasks exits 1 saying nothing.
    const said = `${r.stderr}${r.stdout}`.trim();
    if (r.code !== 0 && said !== '' && !/cannot find|does not exist|not found/i.test(said)) throw failed('schtasks /Delete', r);
  }

  async list(): Promise<string[]> {
    const r = await this.deps.exec('schtasks', ['/Query', '/FO', 'CSV', '/NH']);
    if (r.code !== 0) throw failed('schtasks /Query', r);
    const folder = SCHTASKS_FOLDER.replace(/\\/g, '\\\\');
    return idsIn(r.stdout, new RegExp(`^"${folder}${ENTRY_PREFIX}([A-Za-z0-9_-]+)"`, 'gm'));
  }
}

function idsIn(text: string, re: RegExp): string[] {
  return [...new Set([...text.matchAll(re)].map((m) => m[1]!))];
}

/** Exec over child_process: no shell, stdin from `input`, output collected; a program that is not there is code 127. */
export const nodeExec: Exec = (file, args, options = {}) =>
  new Promise((resolve) => {
    const child = spawn(file, [...args], { env: options.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'], windowsHide: true });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (e: NodeJS.ErrnoException) => resolve({ code: e.code === 'ENOENT' ? 127 : 126, stdout, stderr: stderr || e.message }));
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr }));
    child.stdin.on('error', () => undefined); // a program that does not read its input
    child.stdin.end(options.input ?? '');
  });

/** This machine's scheduler over nodeExec, asked once (the answer does not change while a process runs). */
export function osSchedulerOnce(): () => Promise<OsScheduler | { readonly unavailable: string }> {
  let found: Promise<OsScheduler | { readonly unavailable: string }> | undefined;
  return () => (found ??= detectOsScheduler({ exec: nodeExec }));
}
