// The deferred-job queue: a folder shared by every VS Code window and the CLI (the extension's globalStorage/jobs).
// Pure Node, no lock held across operations, safe with several processes reading and writing at once.
//
// Layout, per job:
//   <id>.json    the job: spec, deadline, duration, zone, plan. Written by add(), rewritten by replan() and
//                setDeadline() while the job is unclaimed. Never holds the state.
//   <id>.claim   created exactly once, exclusively (a complete temp file hard-linked into place: fails with EEXIST
//                when it exists, and a reader never sees half of it). Its creator owns the job's fate: 'run'
//                (queued -> running) or 'cancel' (queued -> cancelled). Later rewritten (temp + rename) only by
//                that owner (finish) or, once the owner is dead, by recover() ('interrupted').
// The state is derived: no claim = queued, else the claim's state. So the queued -> running step is one atomic
// filesystem operation that a second claimer or a canceller loses, and a replan() that races a claim can only
// update the plan of a job that has just started (harmless), never undo the claim. Every rewrite is temp + fsync +
// rename, so a file is either the old or the new version; a damaged one (power loss, hand edit) is moved aside to
// `<name>.corrupt` and reported, never fatal and never hiding the other jobs.
//
// Authenticated: with a signer (the extension's, keyed from SecretStorage), every job file carries an HMAC of its
// content, and a job file without a valid one (written by hand, by another program, or by another user) is moved
// aside to `<id>.json.unsigned` and reported, never listed, claimed or run.
//
// At most once: a job whose owner died while it ran (or before it started: a claim is taken just before running)
// becomes 'interrupted' and is never run again by the queue; the user can queue it again.
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BOOT_SLACK_MS, bootTime } from '../process/times';
import type { JobPlan } from './plan';
import { errorMessage } from '../errors';

/**
 * Where and under what conditions a job was queued: it runs only in a window of the same workspace, and never with
 * more than it had then (an untrusted window's job runs locally even in a trusted one; consent is the lesser).
 */
export interface JobOrigin {
  /** The workspace's identity: its .code-workspace URI, else its folder URIs, one per line; '' for no folder. */
  readonly workspace: string;
  readonly trusted: boolean;
  readonly consent: 'granted' | 'denied' | 'unknown';
}

/** `session`: the VS Code window that queued it (that window runs it; others only after a grace period). */
export type JobSpec =
  | {
      readonly kind: 'shell';
      /** A shell command line (tasks.json), or, with argv, that program and arguments as shown to the user. */
      readonly command: string;
      /** Program and arguments run without a shell (`verdant run-when-clean --detach`). */
      readonly argv?: readonly string[];
      readonly cwd?: string;
      readonly label: string;
      readonly session?: string;
      readonly origin?: JobOrigin;
    }
  | {
      readonly kind: 'task';
      readonly task: string;
      readonly payload: unknown;
      readonly label: string;
      readonly session?: string;
      readonly origin?: JobOrigin;
    };

/** Signs job files and checks their signatures (an HMAC keyed per user: src/core/scheduling/signing.ts). */
export interface JobSigner {
  sign(text: string): Promise<string>;
  verify(text: string, mac: string): Promise<boolean>;
}

export type JobState = 'queued' | 'running' | 'done' | 'failed' | 'cancelled' | 'interrupted';

export interface JobOwner {
  readonly pid: number;
  readonly host: string;
  /** One per scheduler instance (a VS Code window's session id, or a random one). */
  readonly session: string;
}

export interface Job {
  readonly id: string;
  /** As given to add(), extra fields kept. */
  readonly spec: JobSpec;
  /** Epoch ms (the queue's clock). */
  readonly createdAt: number;
  /** The job must have finished by then, epoch ms. */
  readonly deadline: number;
  readonly durationMinutes: number;
  readonly zone: string;
  readonly plan: JobPlan;
  readonly state: JobState;
  /** Who claimed it to run (running and after). */
  readonly owner?: JobOwner;
  readonly startedAt?: number;
  readonly endedAt?: number;
  readonly exitCode?: number | null;
  readonly error?: string;
}

export interface AddOptions {
  readonly deadline: number;
  readonly durationMinutes: number;
  readonly zone: string;
  readonly plan: JobPlan;
}

export interface FinishResult {
  /** 'interrupted' when the runner itself stopped the job (shutting down). */
  readonly state: 'done' | 'failed' | 'interrupted';
  readonly exitCode?: number | null;
  readonly error?: string;
}

export interface JobList {
  /** Ordered by plan.start, then creation. */
  readonly jobs: Job[];
  /** One sentence per damaged file (moved aside) or other oddity; never fatal. */
  readonly problems: string[];
}

export interface JobQueueOptions {
  readonly dir: string;
  /** Epoch ms for createdAt/startedAt/endedAt and prune (Date.now by default; the scheduler's clock). */
  readonly now?: () => number;
  /** When this machine booted, epoch ms: a claim from another boot is dead whatever its pid (pid reuse). */
  readonly bootTime?: () => number;
  /** With one, jobs are written signed and only jobs with a valid signature are read. */
  readonly signer?: JobSigner;
}

export type JobQueueErrorCode = 'bad-id' | 'bad-input' | 'not-found' | 'not-queued' | 'not-running' | 'corrupt';

export class JobQueueError extends Error {
  constructor(
    readonly code: JobQueueErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'JobQueueError';
  }
}

/** What <id>.claim holds. */
interface Claim {
  readonly v: 1;
  readonly action: 'run' | 'cancel';
  readonly owner: JobOwner;
  /** When it was claimed, epoch ms. */
  readonly at: number;
  /** Boot time of the claimer's machine, epoch ms. */
  readonly boot?: number;
  readonly state: Exclude<JobState, 'queued'>;
  readonly endedAt?: number;
  readonly exitCode?: number | null;
  readonly error?: string;
}

/** What <id>.json holds. */
type JobRecord = Pick<Job, 'id' | 'spec' | 'createdAt' | 'deadline' | 'durationMinutes' | 'zone' | 'plan'> & { readonly v: 1 };

const ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,79}$/;
const JOB_FILE = /^(.+)\.json$/;
const CLAIM_FILE = /^(.+)\.claim$/;
/** A job's output log, a palette task's result and a refactor's edits, written when the OS scheduler ran it. */
const LOG_FILE = /^([A-Za-z0-9_-]+)\.(?:log|result\.md|edits\.json)$/;
/** A claim written without hard links may be seen half-written for this long (see createExclusive). */
const YOUNG_CLAIM_MS = 30_000;
const TEMP_MAX_AGE_MS = 60 * 60_000;
const NOT_SIGNED = 'is not signed by Verdant for this user';
const TERMINAL: ReadonlySet<JobState> = new Set(['done', 'failed', 'cancelled', 'interrupted']);

/** Throws unless `id` is a job id (letters, digits, '-' and '_': never a path). */
export function assertJobId(id: unknown): asserts id is string {
  if (typeof id !== 'string' || !ID.test(id)) {
    throw new JobQueueError('bad-id', `${JSON.stringify(id)} is not a job id: ids are letters, digits, '-' and '_' (see the job list).`);
  }
}

export class JobQueue {
  readonly dir: string;
  private readonly now: () => number;
  private readonly bootTime: () => number;
  private readonly signer: JobSigner | undefined;

  constructor(options: JobQueueOptions | string) {
    const o: JobQueueOptions = typeof options === 'string' ? { dir: options } : options;
    this.dir = o.dir;
    this.now = o.now ?? Date.now;
    this.bootTime = o.bootTime ?? bootTime;
    this.signer = o.signer;
  }

  async add(spec: JobSpec, options: AddOptions): Promise<Job> {
    const specProblem = jobSpecProblem(spec);
    if (specProblem) throw new JobQueueError('bad-input', `Cannot queue the job: ${specProblem}.`);
    const { deadline, durationMinutes, zone, plan } = options;
    if (!isNum(deadline)) throw new JobQueueError('bad-input', 'Cannot queue the job: its deadline is not a time (epoch ms).');
    if (!isNum(durationMinutes) || durationMinutes <= 0)
      throw new JobQueueError('bad-input', `Cannot queue the job: its duration must be more than 0 minutes, not ${durationMinutes}.`);
    if (typeof zone !== 'string') throw new JobQueueError('bad-input', 'Cannot queue the job: its zone is not a string.');
    const planProblem = jobPlanProblem(plan);
    if (planProblem) throw new JobQueueError('bad-input', `Cannot queue the job: its plan ${planProblem}.`);
    const createdAt = this.now();
    const record: JobRecord = { v: 1, id: newJobId(createdAt), spec, createdAt, deadline, durationMinutes, zone, plan };
    await fs.mkdir(this.dir, { recursive: true });
    await writeAtomic(this.jobPath(record.id), await this.serialize(record));
    return compose(record, undefined);
  }

  /** Every job; damaged files are moved aside and reported in `problems`. */
  async list(): Promise<JobList> {
    let names: string[];
    try {
      names = await fs.readdir(this.dir);
    } catch (e) {
      if (code(e) === 'ENOENT') return { jobs: [], problems: [] };
      throw e;
    }
    const jobs: Job[] = [];
    const problems: string[] = [];
    for (const name of names) {
      const id = JOB_FILE.exec(name)?.[1];
      if (id === undefined || !ID.test(id)) continue;
      try {
        const job = await this.load(id, problems);
        if (job) jobs.push(job);
      } catch (e) {
        problems.push(`Could not read job ${id}: ${errorMessage(e)}`);
      }
    }
    jobs.sort((a, b) => a.plan.start - b.plan.start || a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return { jobs, problems };
  }

  /** The job, or undefined when there is none with this id (or its file was damaged: then it is moved aside). */
  async get(id: string): Promise<Job | undefined> {
    assertJobId(id);
    const problems: string[] = [];
    const job = await this.load(id, problems);
    // A damaged file is an error to report; an unsigned one is simply not a job (it was moved aside and logged).
    const damaged = problems.filter((p) => !p.includes(NOT_SIGNED));
    if (!job && damaged.length > 0) throw new JobQueueError('corrupt', damaged.join(' '));
    return job;
  }

  /** Stores a new plan for a queued job. */
  async replan(id: string, plan: JobPlan): Promise<Job> {
    return this.rewriteQueued(id, 'replan', { plan });
  }

  /** A new deadline with the plan made for it, for a queued job. */
  async setDeadline(id: string, deadline: number, plan: JobPlan): Promise<Job> {
    if (!isNum(deadline)) throw new JobQueueError('bad-input', 'The new deadline is not a time (epoch ms).');
    return this.rewriteQueued(id, 'change the deadline of', { deadline, plan });
  }

  /**
   * queued -> running, exactly once across processes. Undefined when the job is no longer queued (another process
   * claimed or cancelled it, or it ended).
   */
  async claim(id: string, owner: JobOwner): Promise<Job | undefined> {
    const ownerProblem = jobOwnerProblem(owner);
    if (ownerProblem) throw new JobQueueError('bad-input', `Cannot claim job ${String(id)}: its owner ${ownerProblem}.`);
    const job = await this.mustGet(id);
    if (job.state !== 'queued') return undefined;
    const claim: Claim = { v: 1, action: 'run', owner: copyOwner(owner), at: this.now(), boot: this.bootTime(), state: 'running' };
    if (!(await createExclusive(this.claimPath(id), JSON.stringify(claim)))) return undefined;
    return compose(toRecord(job), claim);
  }

  /** Records how a job this process claimed ended. */
  async finish(id: string, result: FinishResult): Promise<Job> {
    if (!isObj(result) || !['done', 'failed', 'interrupted'].includes(result.state as string)) {
      throw new JobQueueError(
        'bad-input',
        `A job ends 'done', 'failed' or 'interrupted', not ${JSON.stringify((result as { state?: unknown } | undefined)?.state)}.`,
      );
    }
    const job = await this.mustGet(id);
    const claim = await this.readClaim(id);
    // 'interrupted' is accepted too: recover() may have judged a suspended owner dead; the owner knows better.
    if (!claim || claim.action !== 'run' || (claim.state !== 'running' && claim.state !== 'interrupted')) {
      throw new JobQueueError('not-running', `Job ${id} (${job.spec.label}) is ${job.state}, not running: its end was not recorded.`);
    }
    const { exitCode: _x, error: _e, ...was } = claim; // a correction of 'interrupted' drops its message
    const ended: Claim = {
      ...was,
      state: result.state,
      endedAt: this.now(),
      ...(result.exitCode !== undefined && { exitCode: result.exitCode }),
      ...(result.error !== undefined && { error: String(result.error) }),
    };
    await writeAtomic(this.claimPath(id), JSON.stringify(ended));
    return compose(toRecord(job), ended);
  }

  /** queued -> cancelled; throws when the job is not queued (also when another process claimed it a moment ago). */
  async cancel(id: string, by?: JobOwner): Promise<Job> {
    const job = await this.mustGet(id);
    if (job.state !== 'queued') throw notQueued(job, 'cancel');
    const at = this.now();
    const owner = by ? copyOwner(by) : { pid: process.pid, host: os.hostname(), session: 'cancel' };
    const claim: Claim = { v: 1, action: 'cancel', owner, at, state: 'cancelled', endedAt: at };
    if (!(await createExclusive(this.claimPath(id), JSON.stringify(claim)))) {
      const now = await this.mustGet(id);
      throw notQueued(now, 'cancel');
    }
    return compose(toRecord(job), claim);
  }

  /**
   * running -> interrupted for the jobs whose owner on `host` is dead (or ran before this machine last booted).
   * They are not run again.
   */
  async recover(isAlive: (pid: number) => boolean, host: string): Promise<Job[]> {
    const { jobs } = await this.list();
    const boot = this.bootTime();
    const recovered: Job[] = [];
    for (const job of jobs) {
      if (job.state !== 'running' || !job.owner || job.owner.host !== host) continue;
      const claim = await this.readClaim(job.id);
      if (!claim || claim.state !== 'running') continue;
      const rebooted = claim.boot !== undefined && Math.abs(claim.boot - boot) > BOOT_SLACK_MS;
      if (!rebooted && isAlive(claim.owner.pid)) continue;
      const why = rebooted ? 'the machine restarted' : `its process (pid ${claim.owner.pid}) ended`;
      const ended: Claim = {
        ...claim,
        state: 'interrupted',
        endedAt: this.now(),
        error: `It stopped when ${why} while it ran, and was not run again (a job runs at most once): queue it again to run it.`,
      };
      await writeAtomic(this.claimPath(job.id), JSON.stringify(ended));
      recovered.push(compose(toRecord(job), ended));
    }
    return recovered;
  }

  /**
   * Deletes jobs that ended (done, failed, cancelled, interrupted) more than `keepMs` ago, and leftovers (claims
   * without a job, temp files of crashed writes, damaged files older than `keepMs`). Returns the ids removed.
   */
  async prune(keepMs: number): Promise<string[]> {
    if (!isNum(keepMs) || keepMs < 0) throw new JobQueueError('bad-input', `Keep finished jobs for 0 or more ms, not ${keepMs}.`);
    const cutoff = this.now() - keepMs;
    const { jobs } = await this.list();
    const removed: string[] = [];
    for (const job of jobs) {
      if (!TERMINAL.has(job.state) || (job.endedAt ?? job.createdAt) > cutoff) continue;
      // The job file first: a claim without its job is a leftover, a job without its claim would be queued again.
      await fs.rm(this.jobPath(job.id), { force: true });
      await fs.rm(this.claimPath(job.id), { force: true });
      removed.push(job.id);
    }
    let names: string[];
    try {
      names = await fs.readdir(this.dir);
    } catch (e) {
      if (code(e) === 'ENOENT') return removed;
      throw e;
    }
    const realNow = Date.now(); // file times are the real clock's
    for (const name of names) {
      const file = path.join(this.dir, name);
      // A claim, or a log or result of a job the OS scheduler ran, without its job is a leftover.
      const leftOf = CLAIM_FILE.exec(name)?.[1] ?? LOG_FILE.exec(name)?.[1];
      if (leftOf !== undefined && ID.test(leftOf)) {
        if (!names.includes(`${leftOf}.json`)) await fs.rm(file, { force: true });
        continue;
      }
      const maxAge = name.endsWith('.tmp') ? TEMP_MAX_AGE_MS : name.endsWith('.corrupt') || name.endsWith('.unsigned') ? keepMs : undefined;
      if (maxAge === undefined) continue;
      const st = await fs.stat(file).catch(() => undefined);
      if (st && realNow - st.mtimeMs > maxAge) await fs.rm(file, { force: true });
    }
    return removed;
  }

  /** Where a job run outside VS Code (run-queued-job) writes its output. */
  logPath(id: string): string {
    assertJobId(id);
    return path.join(this.dir, `${id}.log`);
  }

  /** Where a palette task run outside VS Code writes its answer, for the next window to open. */
  resultPath(id: string): string {
    assertJobId(id);
    return path.join(this.dir, `${id}.result.md`);
  }

  /** Where a planned refactor run outside VS Code writes its steps' edits, for the next window to review. */
  editsPath(id: string): string {
    assertJobId(id);
    return path.join(this.dir, `${id}.edits.json`);
  }

  private jobPath(id: string): string {
    return path.join(this.dir, `${id}.json`);
  }

  private claimPath(id: string): string {
    return path.join(this.dir, `${id}.claim`);
  }

  private async mustGet(id: string): Promise<Job> {
    const job = await this.get(id);
    if (!job) throw new JobQueueError('not-found', `There is no job ${id} (it may have been pruned): see the job list.`);
    return job;
  }

  private async rewriteQueued(id: string, what: string, change: Partial<Pick<JobRecord, 'deadline' | 'plan'>>): Promise<Job> {
    if (change.plan !== undefined) {
      const planProblem = jobPlanProblem(change.plan);
      if (planProblem) throw new JobQueueError('bad-input', `Cannot ${what} job ${id}: the plan ${planProblem}.`);
    }
    const job = await this.mustGet(id);
    if (job.state !== 'queued') throw notQueued(job, what);
    const record: JobRecord = { ...toRecord(job), ...change };
    await writeAtomic(this.jobPath(id), await this.serialize(record));
    // Claimed meanwhile? The claim wins (the state comes from it); the new plan is only kept as information.
    return compose(record, await this.readClaim(id));
  }

  /** Reads a job and its claim; a damaged job file is moved aside and reported. */
  private async load(id: string, problems: string[]): Promise<Job | undefined> {
    const file = this.jobPath(id);
    const text = await readIfPresent(file);
    if (text === undefined) return undefined;
    const parsed = parseJson(text);
    const problem = parsed.ok ? jobRecordProblem(parsed.value, id) : parsed.reason;
    if (!parsed.ok || problem !== undefined) {
      await quarantine(file);
      problems.push(`The file of job ${id} was damaged (${problem}); it was moved aside to ${id}.json.corrupt.`);
      return undefined;
    }
    if (this.signer && !(await this.signedByUs(parsed.value as JobRecord & { mac?: unknown }))) {
      await quarantine(file, '.unsigned');
      problems.push(
        `Job ${id} ${NOT_SIGNED} (a file written by hand or by another program); it is ignored and was moved aside to ${id}.json.unsigned.`,
      );
      return undefined;
    }
    const claim = await this.readClaim(id, problems);
    // prune() deletes the job file, then the claim: a job read just before and its claim just after would look
    // queued again. (claim() re-reads the job, so it could not run; this keeps it out of the list too.)
    if (!claim && !(await fs.stat(file).catch(() => undefined))) return undefined;
    const { mac: _mac, ...record } = parsed.value as JobRecord & { mac?: unknown };
    return compose(record, claim);
  }

  /** The file's text: the record, signed when there is a signer (the MAC covers the record as written without it). */
  private async serialize(record: JobRecord): Promise<string> {
    if (!this.signer) return JSON.stringify(record, null, 2);
    return JSON.stringify({ ...record, mac: await this.signer.sign(JSON.stringify(record)) }, null, 2);
  }

  private async signedByUs(value: JobRecord & { mac?: unknown }): Promise<boolean> {
    const { mac, ...record } = value;
    return typeof mac === 'string' && this.signer !== undefined && this.signer.verify(JSON.stringify(record), mac);
  }

  /**
   * The claim, or undefined when there is none. A damaged claim means the job was claimed but what happened is
   * unknown: it becomes 'interrupted' (never run again). One written without hard links may still be being
   * written (YOUNG_CLAIM_MS): then it reads as running.
   */
  private async readClaim(id: string, problems: string[] = []): Promise<Claim | undefined> {
    const file = this.claimPath(id);
    const text = await readIfPresent(file);
    if (text === undefined) return undefined;
    const parsed = parseJson(text);
    const problem = parsed.ok ? claimProblem(parsed.value) : parsed.reason;
    if (parsed.ok && problem === undefined) return parsed.value as Claim;
    const st = await fs.stat(file).catch(() => undefined);
    const unknownOwner = { pid: 0, host: '', session: '' };
    if (st && Date.now() - st.mtimeMs < YOUNG_CLAIM_MS) return { v: 1, action: 'run', owner: unknownOwner, at: st.mtimeMs, state: 'running' };
    await fs.copyFile(file, `${file}.corrupt`).catch(() => undefined);
    const repaired: Claim = {
      v: 1,
      action: 'run',
      owner: unknownOwner,
      at: st?.mtimeMs ?? this.now(),
      state: 'interrupted',
      endedAt: this.now(),
      error: `Its claim file was damaged (${problem}), so whether it ran is unknown; it is not run again: queue it again to run it.`,
    };
    await writeAtomic(file, JSON.stringify(repaired));
    problems.push(`The claim of job ${id} was damaged (${problem}); the job is marked interrupted and the file was copied to ${id}.claim.corrupt.`);
    return repaired;
  }
}

function compose(record: JobRecord, claim: Claim | undefined): Job {
  const { v: _v, ...base } = record;
  if (!claim) return { ...base, state: 'queued' };
  const run = claim.action === 'run';
  return {
    ...base,
    state: claim.state,
    ...(run && claim.owner.pid > 0 && { owner: claim.owner }),
    ...(run && { startedAt: claim.at }),
    ...(claim.endedAt !== undefined && { endedAt: claim.endedAt }),
    ...(claim.exitCode !== undefined && { exitCode: claim.exitCode }),
    ...(claim.error !== undefined && { error: claim.error }),
  };
}

function toRecord(job: Job): JobRecord {
  const { id, spec, createdAt, deadline, durationMinutes, zone, plan } = job;
  return { v: 1, id, spec, createdAt, deadline, durationMinutes, zone, plan };
}

function notQueued(job: Job, what: string): JobQueueError {
  const where = job.state === 'running' && job.owner ? ` (pid ${job.owner.pid} on ${job.owner.host})` : '';
  return new JobQueueError('not-queued', `Cannot ${what} job ${job.id} (${job.spec.label}): it is ${job.state}${where}, not queued.`);
}

/** Time-ordered, so a directory listing reads in creation order; random enough for several processes at once. */
function newJobId(now: number): string {
  return `${Math.max(0, Math.floor(now)).toString(36)}-${randomBytes(5).toString('hex')}`;
}

function copyOwner(o: JobOwner): JobOwner {
  return { pid: o.pid, host: o.host, session: o.session };
}

// ---- files ----

function code(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}

function tempName(file: string): string {
  return `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
}

async function writeTemp(file: string, data: string): Promise<string> {
  const tmp = tempName(file);
  const fh = await fs.open(tmp, 'wx', 0o600);
  try {
    await fh.writeFile(data, 'utf8');
    await fh.sync(); // durable before it becomes visible: a power cut leaves the old or the new file, not an empty one
  } finally {
    await fh.close();
  }
  return tmp;
}

/** Windows refuses to replace a file another process (a virus scanner, a reader) has open for a moment. */
async function renameRetrying(from: string, to: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await fs.rename(from, to);
      return;
    } catch (e) {
      if (attempt >= 10 || !['EPERM', 'EACCES', 'EBUSY'].includes(code(e) ?? '')) throw e;
      await new Promise((r) => setTimeout(r, 10 * (attempt + 1)));
    }
  }
}

async function writeAtomic(file: string, data: string): Promise<void> {
  const tmp = await writeTemp(file, data);
  try {
    await renameRetrying(tmp, file);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
}

/** Creates `file` with `data` only if it does not exist; false when it does. */
async function createExclusive(file: string, data: string): Promise<boolean> {
  const tmp = await writeTemp(file, data);
  try {
    await fs.link(tmp, file); // atomic, complete, and EEXIST when taken: the claim protocol's single step
    return true;
  } catch (e) {
    if (code(e) === 'EEXIST') return false;
    if (!['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EXDEV'].includes(code(e) ?? '')) throw e;
  } finally {
    await fs.rm(tmp, { force: true });
  }
  // No hard links on this filesystem (FAT, some shares): O_EXCL is as exclusive, but readers may see the file
  // before its content (readClaim treats a young unreadable claim as running).
  let fh: fs.FileHandle;
  try {
    fh = await fs.open(file, 'wx', 0o600);
  } catch (e) {
    if (code(e) === 'EEXIST') return false;
    throw e;
  }
  try {
    await fh.writeFile(data, 'utf8');
    await fh.sync();
  } finally {
    await fh.close();
  }
  return true;
}

async function readIfPresent(file: string): Promise<string | undefined> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (e) {
    if (code(e) === 'ENOENT') return undefined; // pruned since the listing
    throw e;
  }
}

async function quarantine(file: string, suffix = '.corrupt'): Promise<void> {
  try {
    await renameRetrying(file, `${file}${suffix}`);
  } catch (e) {
    if (code(e) !== 'ENOENT') throw e; // another process moved it first
  }
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false; reason: string } {
  if (text.trim() === '') return { ok: false, reason: 'empty' };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false, reason: 'not JSON' };
  }
}

// ---- shape checks (what we read back may have been edited by hand) ----

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isStr = (v: unknown): v is string => typeof v === 'string';
const isNumOrNull = (v: unknown): boolean => v === null || isNum(v);
const CLAIM_STATES: readonly string[] = ['running', 'done', 'failed', 'cancelled', 'interrupted'];

function originProblem(v: unknown): string | undefined {
  if (!isObj(v)) return 'the origin is not an object';
  if (!isStr(v.workspace) || typeof v.trusted !== 'boolean') return 'the origin has no workspace or trust';
  return ['granted', 'denied', 'unknown'].includes(v.consent as string) ? undefined : "the origin's consent is not granted, denied or unknown";
}

export function jobSpecProblem(v: unknown): string | undefined {
  if (!isObj(v)) return 'the spec is not an object';
  if (!isStr(v.label) || v.label.trim() === '') return 'the label is empty';
  if (v.origin !== undefined) {
    const origin = originProblem(v.origin);
    if (origin) return origin;
  }
  if (v.kind === 'shell') {
    if (!isStr(v.command) || v.command.trim() === '') return 'the shell command is empty';
    if (v.cwd !== undefined && !isStr(v.cwd)) return 'cwd is not a string';
    if (v.argv !== undefined && (!Array.isArray(v.argv) || v.argv.length === 0 || !v.argv.every(isStr) || v.argv[0] === ''))
      return 'argv is not a program and its arguments';
    return undefined;
  }
  if (v.kind === 'task') return isStr(v.task) && v.task !== '' ? undefined : 'the task name is empty';
  return `the kind is ${JSON.stringify(v.kind)}, not 'shell' or 'task'`;
}

export function jobPlanProblem(v: unknown): string | undefined {
  if (!isObj(v)) return 'is not an object';
  for (const k of ['start', 'end', 'savingPct', 'plannedAt'] as const) if (!isNum(v[k])) return `has no ${k}`;
  if (!isNumOrNull(v.windowGPerKWh) || !isNumOrNull(v.nowGPerKWh)) return 'has a bad intensity';
  if (typeof v.runNow !== 'boolean' || !isStr(v.reason) || !isStr(v.source) || !isStr(v.zone)) return 'lacks runNow, reason, source or zone';
  return undefined;
}

function jobOwnerProblem(v: unknown): string | undefined {
  if (!isObj(v) || !Number.isInteger(v.pid) || (v.pid as number) <= 0 || !isStr(v.host) || !isStr(v.session)) return 'is not {pid, host, session}';
  return undefined;
}

function jobRecordProblem(v: unknown, id: string): string | undefined {
  if (!isObj(v)) return 'not an object';
  if (v.id !== id) return 'its id does not match its file name';
  const spec = jobSpecProblem(v.spec);
  if (spec) return spec;
  if (!isNum(v.createdAt) || !isNum(v.deadline) || !isNum(v.durationMinutes) || v.durationMinutes <= 0) return 'bad createdAt, deadline or duration';
  if (!isStr(v.zone)) return 'no zone';
  const plan = jobPlanProblem(v.plan);
  return plan ? `the plan ${plan}` : undefined;
}

function claimProblem(v: unknown): string | undefined {
  if (!isObj(v)) return 'not an object';
  if (v.action !== 'run' && v.action !== 'cancel') return 'no action';
  const owner = jobOwnerProblem(v.owner);
  if (owner && !(isObj(v.owner) && v.owner.pid === 0)) return `the owner ${owner}`;
  if (!isNum(v.at) || !isStr(v.state) || !CLAIM_STATES.includes(v.state)) return 'no time or state';
  if (v.endedAt !== undefined && !isNum(v.endedAt)) return 'bad endedAt';
  if (v.exitCode !== undefined && !isNumOrNull(v.exitCode)) return 'bad exitCode';
  if (v.error !== undefined && !isStr(v.error)) return 'bad error';
  return undefined;
}
