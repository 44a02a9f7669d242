// The engine worker's OS priority (Efficiency Mode: src/core/power/efficiency.ts). A worker started for background
// work lowers itself to the lowest priority; work the user waits on that finds it low has it raised back.
// Linux has two catches. The nice value belongs to each thread (setpriority on the pid changes only the main
// thread), so every thread in /proc/self/task is set, and threads started later inherit it from the thread that
// starts them. And where the kernel groups processes by session (autogroup: sched_autogroup_enabled, processes in
// the root cpu cgroup), nice only orders the threads of one session, while sessions share the CPU by their group's
// nice; the worker is started detached, so it leads a session of its own, and its group is set too. An unprivileged
// process may lower its threads' priority but not raise it again (EACCES; CAP_SYS_NICE or a permitting RLIMIT_NICE
// is needed, on macOS root), while a group's nice may go back to 0; Windows lets a process return to Normal, and
// its Efficiency Mode adds EcoQoS, set by a helper the win32-x64 package ships.
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import { errorMessage } from '../core/errors';
import type { EnginePriority } from '../core/power/efficiency';

/** On os.setPriority's scale: nice 19 on Linux and macOS, the Idle class on Windows (Node maps it). */
export const LOW_PRIORITY = os.constants.priority.PRIORITY_LOW;

/** How the worker's priority is read and changed: osPriority() in the worker. */
export interface PriorityControl {
  /** The process's priority (its main thread's on Linux). */
  get(): number;
  /** The nice of the process's own autogroup (Linux); null where it has none of its own. */
  group(): number | null;
  /** Every thread (and its own autogroup) to the lowest priority; lowering is always allowed. */
  lower(): void;
  /** Back to what the process started with; throws what the OS said when it refuses. */
  restore(): void;
  /** Windows: whether EcoQoS is on, or why it is not; absent elsewhere. */
  efficiency?(): string;
}

/** The EcoQoS helper's file name, beside dist/engine-worker.js in the win32-x64 package (scripts/package.mjs). */
export const ECOQOS_HELPER = 'verdant-ecoqos.exe';

/**
 * Windows 11 Efficiency Mode's other half, EcoQoS (the CPU runs the process's threads at its most efficient
 * frequencies), set by the small helper the win32-x64 package ships (src/engine/native/ecoqos.c): Node has no call
 * for it. Resolves undefined when it is set, else why not. Asynchronous: it runs beside the request that raised the
 * worker, never in its way.
 */
export type EcoQoS = (pid: number, on: boolean) => Promise<string | undefined>;

export function ecoQoSHelper(exe: string): EcoQoS {
  if (!existsSync(exe)) return async () => 'its helper is not in this package (win32-x64 only)';
  return (pid, on) =>
    new Promise((resolve) => {
      execFile(exe, [String(pid), on ? 'on' : 'off'], { encoding: 'utf8', windowsHide: true, timeout: 10_000 }, (err, _stdout, stderr) => {
        if (!err) resolve(undefined);
        else if (typeof err.code === 'number') resolve(stderr.trim() || `its helper exited with ${err.code}`);
        else resolve(`its helper did not run (${errorMessage(err)})`);
      });
    });
}

export function osPriority(platform: NodeJS.Platform = process.platform, ecoQoS?: EcoQoS): PriorityControl {
  const start = os.getPriority();
  if (platform === 'win32') {
    // Efficiency Mode as Task Manager sets it: the Idle class and EcoQoS. EcoQoS failing (Windows before 10 1709,
    // Wine) leaves the priority class, which is what keeps the worker out of the way.
    let eco = 'EcoQoS off';
    // The last change asked wins: a raise that follows a lowering at once is not overtaken by its late answer.
    let asked = 0;
    const setEco = (on: boolean) => {
      const mine = ++asked;
      eco = `EcoQoS ${on ? 'on' : 'off'}: being set`;
      void (ecoQoS?.(process.pid, on) ?? Promise.resolve('no helper was given')).then((refused) => {
        if (mine === asked) eco = refused === undefined ? `EcoQoS ${on ? 'on' : 'off'}` : `EcoQoS not set: ${refused}`;
      });
    };
    return {
      get: () => os.getPriority(),
      group: () => null,
      lower: () => {
        os.setPriority(LOW_PRIORITY);
        setEco(true);
      },
      restore: () => {
        os.setPriority(start);
        setEco(false);
      },
      efficiency: () => eco,
    };
  }
  if (platform !== 'linux') {
    return { get: () => os.getPriority(), group: () => null, lower: () => os.setPriority(LOW_PRIORITY), restore: () => os.setPriority(start) };
  }
  const groupStart = ownAutogroupNice();
  const setGroup = (nice: number) => {
    if (groupStart !== null) writeFileSync('/proc/self/autogroup', String(nice));
  };
  return {
    get: () => os.getPriority(),
    group: () => (groupStart === null ? null : ownAutogroupNice()),
    lower: () => {
      setEveryThread(LOW_PRIORITY);
      try {
        setGroup(LOW_PRIORITY);
      } catch {
        // The threads are low, which is what counts where the kernel does not group by session.
      }
    },
    // The group first: it may always go back to where it was, so the worker competes at normal priority for the
    // requests still to answer even when its threads may not be raised.
    restore: () => {
      setGroup(groupStart ?? 0);
      setEveryThread(start);
    },
  };
}

/**
 * The nice of this process's autogroup when the process leads its session (the worker, started detached), else null:
 * another session's group (a shell's) is not the worker's to change.
 */
function ownAutogroupNice(): number | null {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[3]) !== process.pid) return null; // field 6, the session
    const m = /\bnice (-?\d+)/.exec(readFileSync('/proc/self/autogroup', 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null; // a kernel without autogroups
  }
}

/** Rounds until no new thread shows up: one started meanwhile by a thread not yet set would keep the old value. */
function setEveryThread(value: number): void {
  const done = new Set<number>();
  for (let round = 0; round < 5; round++) {
    const fresh = readdirSync('/proc/self/task')
      .map(Number)
      .filter((tid) => !done.has(tid));
    if (fresh.length === 0) return;
    for (const tid of fresh) {
      try {
        os.setPriority(tid, value);
      } catch (e) {
        if ((e as { info?: { code?: string } }).info?.code !== 'ESRCH') throw e; // ESRCH: the thread has ended
      }
      done.add(tid);
    }
  }
}

export interface PriorityStatus {
  readonly level: EnginePriority;
  /** os.getPriority() of the worker now (-20..19; 19 is the lowest). */
  readonly value: number;
  /** The nice of its own autogroup (Linux), null where it has none. */
  readonly group: number | null;
  /** Started low (for background work, or with efficiencyMode 'always'). */
  readonly startedLow: boolean;
  /** What the OS said when work the user waits on found the worker low and it could not be raised. */
  readonly raiseRefused: string | null;
  /** Windows: EcoQoS on, off, or why it could not be set. */
  readonly ecoQoS?: string;
}

/** The worker's priority: where it started, whether it is low now, and whether raising it was refused. */
export class WorkerPriority {
  private level: EnginePriority = 'normal';
  private startedLow = false;
  private refused: string | null = null;

  constructor(
    private readonly control: PriorityControl,
    private readonly log: (message: string) => void,
  ) {}

  /** At start, for background work. */
  lower(): void {
    const was = this.control.get();
    try {
      this.control.lower();
      this.level = 'low';
      this.startedLow = true;
      this.log(`running at low priority for background work (now ${this.describe()}; started at ${was})`);
    } catch (e) {
      this.log(`could not lower the engine's priority (${errorMessage(e)}); running at normal priority`);
    }
  }

  /**
   * For work the user waits on: back to the priority it started with. False when the OS refuses; that is logged
   * once, and later calls return false at once.
   */
  raise(): boolean {
    if (this.level === 'normal') return true;
    if (this.refused !== null) return false;
    try {
      this.control.restore();
      this.level = 'normal';
      this.log(`raised from low priority for interactive work (now ${this.describe()})`);
      return true;
    } catch (e) {
      this.refused = errorMessage(e);
      this.log(
        `could not raise the engine's priority for interactive work (${this.refused}): without privileges the OS lets a process lower its priority but not raise it again`,
      );
      return false;
    }
  }

  status(): PriorityStatus {
    const eco = this.control.efficiency?.();
    return {
      level: this.level,
      value: this.control.get(),
      group: this.control.group(),
      startedLow: this.startedLow,
      raiseRefused: this.refused,
      ...(eco !== undefined ? { ecoQoS: eco } : {}),
    };
  }

  private describe(): string {
    return priorityValue(this.control.get(), this.control.group());
  }
}

function priorityValue(value: number, group: number | null): string {
  return group === null ? String(value) : `${value}, session group ${group}`;
}

/** One line for Show Engine Status. */
export function describePriority(p: PriorityStatus): string {
  const value = p.ecoQoS === undefined ? priorityValue(p.value, p.group) : `${priorityValue(p.value, p.group)}; ${p.ecoQoS}`;
  if (p.level === 'normal') return `Priority: normal (${value})${p.startedLow ? ', raised for interactive work after starting low' : ''}`;
  if (p.raiseRefused === null) return `Priority: low (${value}), started for background work (verdant.local.efficiencyMode)`;
  return `Priority: low (${value}); the OS refused to raise it for interactive work (${p.raiseRefused}), so an engine at normal priority replaces it once its requests are done`;
}
