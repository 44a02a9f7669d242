// What the operating system's scheduler is told to run a deferred job while VS Code is closed (#23): the command
// lines, the at(1) script, the Task Scheduler XML and the launchd property list, built here without running
// anything (src/core/scheduling/osScheduler.ts runs them). Each entry runs `verdant run-queued-job <id>` once, at
// the job's time, with the user's own rights; that command claims the job from the queue (so it starts at most
// once, whoever else looks) and removes the entry when it is done.
import { createHash } from 'node:crypto';
import type { JobSpec } from './queue';

/** One job's entry in the OS scheduler. */
export interface OsEntry {
  /** The job id (letters, digits, '-' and '_'): names the entry. */
  readonly id: string;
  /** When to run, epoch ms (an entry never runs before it). */
  readonly at: number;
  /** The job's deadline, epoch ms: Task Scheduler deletes an entry that expired unrun. */
  readonly deadline: number;
  /** Program and arguments, run without a shell. */
  readonly argv: readonly string[];
  /** Extra environment (ELECTRON_RUN_AS_NODE=1 when the program is VS Code's own Electron). */
  readonly env: Readonly<Record<string, string>>;
  /** Said in the entry's description. */
  readonly label: string;
  /** Wake the computer from sleep to run it (off unless the user opts in; not every scheduler can). */
  readonly wake: boolean;
  /**
   * Task Scheduler only: run it whether or not the user is logged on (S4U: no password stored, no network shares);
   * off unless the user opts in, so by default it runs only in the user's own session.
   */
  readonly loggedOff?: boolean;
}

/** Every entry's name starts with this, so that listing and removing never touch anything of another program. */
export const ENTRY_PREFIX = 'verdant-job-';
export const LAUNCHD_PREFIX = 'dev.verdant.job.';
export const SCHTASKS_FOLDER = '\\Verdant\\';

/**
 * What the entry vouches for: a digest of what the job runs and where it came from, passed on the entry's command
 * line. run-queued-job runs the job only when the queue's file still hashes to it: a job file rewritten by someone
 * else (another program, another user with access to the folder) is not run, although the CLI cannot check the
 * extension's signatures (their key is in VS Code's secret storage).
 */
export function specDigest(spec: JobSpec): string {
  const { session: _session, ...what } = spec as JobSpec & { session?: string };
  return createHash('sha256')
    .update(`verdant-job-spec-v1\0${canonicalJson(what)}`)
    .digest('hex');
}

function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/** A quoted word for a POSIX shell: single quotes, each embedded one closed, escaped and reopened. */
export function shQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** The next whole minute at or after `ms` (at and launchd count minutes: an entry must never run early). */
export function ceilMinute(ms: number): number {
  return Math.ceil(ms / 60_000) * 60_000;
}

// ---- systemd (Linux with a user instance) ----

/** `systemd-run --user` arguments for a transient timer and service named verdant-job-<id>. */
export function systemdRunArgs(e: OsEntry): string[] {
  const d = new Date(Math.ceil(e.at / 1000) * 1000);
  const calendar = `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} UTC`;
  return [
    '--user',
    `--unit=${ENTRY_PREFIX}${e.id}`,
    `--description=Verdant deferred job: ${e.label.replace(/[\r\n]+/g, ' ').slice(0, 120)}`,
    `--on-calendar=${calendar}`,
    // The default accuracy is a minute: the job would start up to 59 s late and be counted in a dirtier hour.
    '--timer-property=AccuracySec=1s',
    ...(e.wake ? ['--timer-property=WakeSystem=true'] : []),
    // Low priority, as Efficiency Mode runs the engine worker: the user may be back at the machine meanwhile.
    '--property=Nice=10',
    '--property=IOSchedulingClass=idle',
    // The unit goes away when it ended, failed or not (--collect), so the next registration of the id is free.
    '--collect',
    '--quiet',
    ...Object.entries(e.env).map(([k, v]) => `--setenv=${k}=${v}`),
    '--',
    ...e.argv,
  ];
}

// ---- at(1) (Linux and other Unixes without a systemd user instance) ----

/** The marker line each of our at jobs carries: `at -c N` shows it, so listing finds our jobs by id. */
export function atMarker(id: string): string {
  return `# ${ENTRY_PREFIX}${id}`;
}

/** `at -t` time in UTC (the caller runs at with TZ=UTC): [[CC]YY]MMDDhhmm, rounded up to the minute. */
export function atTime(ms: number): string {
  const d = new Date(ceilMinute(ms));
  return `${d.getUTCFullYear()}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}`;
}

/** The script at(1) runs with /bin/sh: the marker, the environment, and the command at low priority, its output to nowhere (the job keeps its own log). */
export function atScript(e: OsEntry): string {
  return [
    atMarker(e.id),
    ...Object.entries(e.env).map(([k, v]) => `export ${k}=${shQuote(v)}`),
    `exec nice -n 10 ${e.argv.map(shQuote).join(' ')} </dev/null >/dev/null 2>&1`,
    '',
  ].join('\n');
}

// ---- launchd (macOS) ----

const xmlText = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/**
 * A LaunchAgent property list (~/Library/LaunchAgents/dev.verdant.job.<id>.plist). StartCalendarInterval has no
 * year and counts in local time (`local` gives the entry's time as the Mac's clock reads it); run-queued-job
 * unloads the agent when it ran, so it never comes back a year later.
 */
export function launchdPlist(e: OsEntry, local: { month: number; day: number; hour: number; minute: number }): string {
  const env = Object.entries(e.env);
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">',
    '<plist version="1.0">',
    '<dict>',
    `  <key>Label</key><string>${LAUNCHD_PREFIX}${e.id}</string>`,
    '  <key>ProgramArguments</key>',
    '  <array>',
    ...e.argv.map((a) => `    <string>${xmlText(a)}</string>`),
    '  </array>',
    ...(env.length > 0
      ? [
          '  <key>EnvironmentVariables</key>',
          '  <dict>',
          ...env.map(([k, v]) => `    <key>${xmlText(k)}</key><string>${xmlText(v)}</string>`),
          '  </dict>',
        ]
      : []),
    '  <key>StartCalendarInterval</key>',
    '  <dict>',
    `    <key>Month</key><integer>${local.month}</integer>`,
    `    <key>Day</key><integer>${local.day}</integer>`,
    `    <key>Hour</key><integer>${local.hour}</integer>`,
    `    <key>Minute</key><integer>${local.minute}</integer>`,
    '  </dict>',
    '  <key>ProcessType</key><string>Background</string>',
    '  <key>LowPriorityIO</key><true/>',
    '  <key>Nice</key><integer>10</integer>',
    '</dict>',
    '</plist>',
    '',
  ].join('\n');
}

// ---- Task Scheduler (Windows) ----

/** A Task Scheduler time in UTC, as its XML takes it. */
function taskTime(ms: number): string {
  return new Date(Math.ceil(ms / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** A command-line word as Windows programs (the MSVC runtime, Node) split them back. */
export function winQuote(s: string): string {
  if (s !== '' && !/[\s"]/.test(s)) return s;
  return `"${s.replace(/(\\*)"/g, '$1$1\\"').replace(/(\\+)$/, '$1$1')}"`;
}

/**
 * The task's program and arguments. The Exec action cannot set environment variables, so an entry that needs some
 * (VS Code's Electron as Node) runs through cmd.exe, which sets them first; then no part may hold what cmd
 * would expand or split (", %, ^, &, |, <, >), and an entry that does is refused with the reason.
 */
export function taskAction(e: OsEntry): { command: string; arguments: string } {
  const [program, ...args] = e.argv;
  if (program === undefined) throw new Error('The job entry has no program to run.');
  const env = Object.entries(e.env);
  if (env.length === 0) return { command: program, arguments: args.map(winQuote).join(' ') };
  const parts = [...env.flat(), ...e.argv];
  const bad = parts.find((p) => /["%^&|<>\r\n]/.test(p));
  if (bad !== undefined) throw new Error(`Task Scheduler cannot be given ${JSON.stringify(bad)} through cmd.exe (it holds one of " % ^ & | < >).`);
  const sets = env.map(([k, v]) => `set "${k}=${v}"&&`).join(' ');
  return { command: 'cmd.exe', arguments: `/d /s /c "${sets} ${e.argv.map((a) => `"${a}"`).join(' ')}"` };
}

/**
 * The task's XML for `schtasks /Create /XML`: one time trigger, "run only when the user is logged on" (an
 * interactive token: no password stored; S4U when the user opted in to logged-off runs), least privilege, low priority, no wake unless asked, started late when
 * the computer was off at the time (StartWhenAvailable), never two at once, and deleted once its deadline passed.
 */
export function schtasksXml(e: OsEntry): string {
  const action = taskAction(e);
  return [
    '<?xml version="1.0" encoding="UTF-16"?>',
    '<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">',
    '  <RegistrationInfo>',
    `    <Description>${xmlText(`Verdant deferred job: ${e.label}`.slice(0, 200))}</Description>`,
    '  </RegistrationInfo>',
    '  <Triggers>',
    '    <TimeTrigger>',
    `      <StartBoundary>${taskTime(e.at)}</StartBoundary>`,
    `      <EndBoundary>${taskTime(Math.max(e.deadline, e.at + 60_000))}</EndBoundary>`,
    '      <Enabled>true</Enabled>',
    '    </TimeTrigger>',
    '  </Triggers>',
    '  <Principals>',
    '    <Principal id="Author">',
    `      <LogonType>${e.loggedOff ? 'S4U' : 'InteractiveToken'}</LogonType>`,
    '      <RunLevel>LeastPrivilege</RunLevel>',
    '    </Principal>',
    '  </Principals>',
    '  <Settings>',
    '    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>',
    '    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>',
    '    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>',
    '    <StartWhenAvailable>true</StartWhenAvailable>',
    `    <WakeToRun>${e.wake ? 'true' : 'false'}</WakeToRun>`,
    '    <ExecutionTimeLimit>PT72H</ExecutionTimeLimit>',
    '    <DeleteExpiredTaskAfter>PT0S</DeleteExpiredTaskAfter>',
    '    <Priority>7</Priority>',
    '  </Settings>',
    '  <Actions Context="Author">',
    '    <Exec>',
    `      <Command>${xmlText(action.command)}</Command>`,
    `      <Arguments>${xmlText(action.arguments)}</Arguments>`,
    '    </Exec>',
    '  </Actions>',
    '</Task>',
    '',
  ].join('\r\n');
}

/** The task's name: in Verdant's own folder of the Task Scheduler library. */
export function taskName(id: string): string {
  return `${SCHTASKS_FOLDER}${ENTRY_PREFIX}${id}`;
}
