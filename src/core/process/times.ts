// When the machine booted and when a process started, in epoch ms: what tells a pid that still names our process
// from one the system has since given to another (after a crash and a reboot, or after pid reuse). Pure Node.
import { readFileSync } from 'node:fs';
import * as os from 'node:os';

/** How far two readings of the boot time may differ on one boot (os.uptime drifts against the wall clock). */
export const BOOT_SLACK_MS = 5 * 60_000;

/** Boot time, epoch ms (moves by a second or so between calls: compare with BOOT_SLACK_MS). */
export function bootTime(): number {
  return Date.now() - os.uptime() * 1000;
}

/** Linux's USER_HZ, the unit of /proc/<pid>/stat's start time: 100 on every architecture Node runs on. */
const CLOCK_TICKS_PER_S = 100;

/**
 * When process `pid` started, epoch ms, where the system says so cheaply (Linux /proc); undefined elsewhere or when
 * the process is gone. `procRoot` is for tests.
 */
export function processStartTime(pid: number, procRoot = '/proc'): number | undefined {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    const stat = readFileSync(`${procRoot}/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces or ')': fields are counted after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[19]); // field 22, starttime, counted from field 3
    const btime = /^btime (\d+)$/m.exec(readFileSync(`${procRoot}/stat`, 'utf8'))?.[1];
    if (!Number.isFinite(ticks) || btime === undefined) return undefined;
    return Number(btime) * 1000 + (ticks / CLOCK_TICKS_PER_S) * 1000;
  } catch {
    return undefined;
  }
}
