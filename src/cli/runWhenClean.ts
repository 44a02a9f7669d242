// `verdant run-when-clean --duration 30m [--within 12h] -- COMMAND [ARGS...]`: plans the job against the grid forecast
// (src/core/scheduling/plan.ts), waits for the cleanest window, then runs the command (argv, no shell, stdio
// inherited) and exits with its exit code. The wait is against the wall clock in slices of at most a minute, so a
// laptop that slept or a clock that jumped neither waits forever nor runs early. Ctrl-C / SIGTERM while waiting
// cancels (130 / 143, nothing runs); while the command runs they are forwarded to it. Without a real forecast (the
// embedded average, or a source that fell back) it says so and runs now.
import { spawn as nodeSpawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { constants } from 'node:os';
import { parseDuration } from '../core/carbon/window';
import { planJob, type JobPlan } from '../core/scheduling/plan';
import { CARBON_SOURCES } from '../core/settings';
import { UsageError } from './args';
import { intensityService, readForecastFile } from './carbon';
import type { Command, CommandArgs } from './command';
import { detach } from './jobs';
import { defaultStateDir } from './paths';

const MINUTE = 60_000;
/** The longest single sleep: after it the wall clock is read again. */
export const WAIT_SLICE_MS = 60_000;

const USAGE =
  'verdant run-when-clean --duration 30m [--within 12h] [--zone Z] [--source S] [--forecast-file F] [--dry-run | --detach [--state DIR]] [--json] -- COMMAND [ARGS...]';

type Signal = 'SIGINT' | 'SIGTERM';
const SIGNALS: readonly Signal[] = ['SIGINT', 'SIGTERM'];

/** What the command touches outside itself; the defaults are the real process. */
export interface RunWhenCleanDeps {
  readonly now: () => number;
  readonly spawn: (file: string, args: readonly string[], options: SpawnOptions) => ChildProcess;
  /** Where SIGINT/SIGTERM arrive (process). */
  readonly signals: Pick<NodeJS.Process, 'on' | 'off'>;
  /** Ends the CLI with this code (after stdout and stderr are flushed). */
  readonly exit: (code: number) => Promise<void>;
  readonly env: NodeJS.ProcessEnv;
}

async function flushAndExit(code: number): Promise<void> {
  const flush = (s: NodeJS.WriteStream) =>
    new Promise<void>((resolve) => {
      s.write('', () => resolve());
    });
  await Promise.all([flush(process.stdout), flush(process.stderr)]);
  process.exit(code);
}

const defaultDeps: RunWhenCleanDeps = {
  now: () => Date.now(),
  spawn: (file, args, options) => nodeSpawn(file, [...args], options),
  signals: process,
  exit: flushAndExit,
  env: process.env,
};

/** The dry-run output, and what the plan line on stderr is made of. */
export interface RunWhenCleanPlan {
  readonly start: string;
  readonly end: string;
  readonly runNow: boolean;
  readonly windowGPerKWh: number | null;
  readonly nowGPerKWh: number | null;
  readonly savingPct: number;
  readonly reason: string;
  readonly source: string;
  readonly zone: string;
  readonly command: readonly string[];
}

function minutesFlag(value: string, name: string): number {
  let m: number;
  try {
    m = parseDuration(value);
  } catch (e) {
    throw new UsageError(`--${name}: ${(e as Error).message}`);
  }
  if (!(m > 0)) throw new UsageError(`--${name} must be longer than 0 minutes, not "${value}".`);
  return m;
}

/** 2026-11-26 14:00Z (seconds only when they are not 0). */
function clock(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace(/\.\d{3}Z$/, 'Z')
    .replace(/:00Z$/, 'Z')
    .replace('T', ' ');
}

/** The command as a shell would show it (for messages only: it is never run through a shell). */
export function showCommand(argv: readonly string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

function planLine(plan: JobPlan): string {
  if (!plan.runNow) {
    return `waiting until ${clock(plan.start)} for the cleanest window (${plan.savingPct} % less than now, ${plan.source}); Ctrl-C cancels`;
  }
  return /running now/i.test(plan.reason) ? plan.reason : `running now: ${plan.reason}`;
}

/** Resolves at `until` (wall clock), or when `cancel` fires; never sleeps longer than WAIT_SLICE_MS at a time. */
async function waitUntil(until: number, now: () => number, cancel: AbortSignal): Promise<void> {
  while (!cancel.aborted) {
    const left = until - now();
    if (left <= 0) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        cancel.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, Math.min(left, WAIT_SLICE_MS));
      cancel.addEventListener('abort', done);
    });
  }
}

/** Runs command with args, with stdio inherited, forwarding SIGINT/SIGTERM; resolves to the exit code (127/126 when it could not start). */
function runChild(command: string, args: readonly string[], deps: RunWhenCleanDeps, err: (text: string) => void): Promise<number> {
  return new Promise((resolve) => {
    let settled = false;
    const forward = (sig: Signal) => () => {
      if (child.exitCode === null && child.signalCode === null) child.kill(sig);
    };
    const handlers = SIGNALS.map((sig) => [sig, forward(sig)] as const);
    const finish = (code: number) => {
      if (settled) return;
      settled = true;
      for (const [sig, h] of handlers) deps.signals.off(sig, h);
      resolve(code);
    };
    const child = deps.spawn(command, args, { stdio: 'inherit', env: deps.env });
    for (const [sig, h] of handlers) deps.signals.on(sig, h);
    child.on('error', (e: NodeJS.ErrnoException) => {
      // A failed start (no pid, no exit to follow); a failed kill() of a running child is not fatal.
      if (child.pid !== undefined) return;
      const code = e.code ?? 'error';
      const what =
        code === 'ENOENT'
          ? /[/\\]/.test(command)
            ? 'no such file'
            : 'not found on PATH'
          : code === 'EACCES'
            ? 'permission denied: not an executable file'
            : e.message;
      err(`verdant: could not start ${command}: ${code} (${what})`);
      finish(code === 'ENOENT' ? 127 : 126);
    });
    child.on('exit', (code, signal) => {
      finish(code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0));
    });
  });
}

export function createRunWhenCleanCommand(overrides: Partial<RunWhenCleanDeps> = {}): Command {
  const deps: RunWhenCleanDeps = { ...defaultDeps, ...overrides };
  return {
    summary: 'wait for the cleanest window of the grid forecast, then run a command',
    usage: USAGE,
    flags: {
      duration: { type: 'string', value: 'D', description: 'how long the command runs: 30m, 1.5h, 2h30m' },
      within: { type: 'string', value: 'D', description: 'it must finish within this long from now (default 24h)' },
      'forecast-file': { type: 'string', value: 'F', description: 'plan against this forecast JSON instead of asking a source' },
      'dry-run': { type: 'boolean', description: 'print the plan as JSON and run nothing' },
      detach: {
        type: 'boolean',
        description:
          'queue it and hand it to the OS scheduler (systemd, at, launchd, Task Scheduler), print the job id and return: it runs at its time with nothing left open',
      },
      state: {
        type: 'string',
        value: 'DIR',
        description: "with --detach: the extension's global storage folder, for the queue and the ledger (default: found like the ledger)",
      },
      zone: { type: 'string', value: 'Z', description: 'grid zone: FR, SE-SE3, GB, GB-RG41, aws:eu-north-1, CAISO_NORTH… (default $VERDANT_ZONE)' },
      source: { type: 'string', value: 'S', description: `${CARBON_SOURCES.join(', ')} (default auto)` },
    },
    async run(args: CommandArgs) {
      const { flags, io } = args;
      // Everything after `--` arrives here unparsed (parseArgs stops at the terminator), flags of the command included.
      const argv = [...args.positionals];
      const [command, ...commandArgs] = argv;
      if (command === undefined || command === '') throw new UsageError(`no command to run; write it after "--": ${USAGE}`);
      if (typeof flags.duration !== 'string') throw new UsageError('--duration is required: how long the command runs, e.g. --duration 30m.');
      const duration = minutesFlag(flags.duration, 'duration');
      const within = minutesFlag(typeof flags.within === 'string' ? flags.within : '24h', 'within');
      if (duration > within)
        throw new UsageError(`--duration ${flags.duration} is longer than --within ${flags.within ?? '24h'}: the command could not finish in time.`);
      const forecast =
        typeof flags['forecast-file'] === 'string'
          ? await readForecastFile(flags['forecast-file'])
          : await intensityService(args, deps.env).forecast();
      const now = deps.now();
      const plan = planJob({ forecast, now, durationMinutes: duration, deadline: now + within * MINUTE });
      const shown = showCommand(argv);

      if (flags['dry-run'] && flags.detach) throw new UsageError('--dry-run runs nothing and --detach queues it: choose one.');
      if (flags['dry-run']) {
        const out: RunWhenCleanPlan = {
          start: new Date(plan.start).toISOString(),
          end: new Date(plan.end).toISOString(),
          runNow: plan.runNow,
          windowGPerKWh: plan.windowGPerKWh,
          nowGPerKWh: plan.nowGPerKWh,
          savingPct: plan.savingPct,
          reason: plan.reason,
          source: plan.source,
          zone: plan.zone,
          command: argv,
        };
        // The global --json (from the parsed flags: a `--json` after `--` belongs to the command).
        if (!flags.json) io.err(`verdant: dry run: ${planLine(plan)}`);
        return out;
      }

      if (flags.detach) {
        const stateDir = typeof flags.state === 'string' ? flags.state : defaultStateDir(deps.env);
        const detached = await detach({
          stateDir,
          add: (queue) =>
            queue.add(
              { kind: 'shell', command: shown, argv, label: shown, cwd: process.cwd() },
              { deadline: now + within * MINUTE, durationMinutes: duration, zone: plan.zone, plan },
            ),
        });
        if (!flags.json) io.err(`verdant: job ${detached.id} handed to ${detached.scheduler}: ${planLine(plan).replace(/; Ctrl-C cancels$/, '')}`);
        return { ...detached, reason: plan.reason, command: argv };
      }
      io.err(`verdant: ${planLine(plan)}`);
      if (!plan.runNow) {
        const cancel = new AbortController();
        let caught: Signal | undefined;
        const handlers = SIGNALS.map(
          (sig) =>
            [
              sig,
              () => {
                caught ??= sig;
                cancel.abort();
              },
            ] as const,
        );
        for (const [sig, h] of handlers) deps.signals.on(sig, h);
        try {
          await waitUntil(plan.start, deps.now, cancel.signal);
        } finally {
          for (const [sig, h] of handlers) deps.signals.off(sig, h);
        }
        if (caught) {
          io.err(`verdant: cancelled: ${shown} did not run`);
          await deps.exit(128 + constants.signals[caught]);
          return undefined;
        }
      }
      const code = await runChild(command, commandArgs, deps, io.err);
      await deps.exit(code);
      return undefined;
    },
    // Only --dry-run and --detach return a result: the plan, or the job id, as JSON either way.
    format: (r) => JSON.stringify(r, null, 2),
  };
}

export const runWhenCleanCommand = createRunWhenCleanCommand();
