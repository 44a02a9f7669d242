// Is this machine running on battery? Read from what each OS exposes, without native code: sysfs on Linux, pmset on
// macOS, CIM through PowerShell on Windows. Undefined when the OS does not say (desktops, containers, errors).
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';

export interface PowerProbeDeps {
  readonly platform?: NodeJS.Platform;
  readonly readFile?: (file: string) => Promise<string>;
  readonly readDir?: (dir: string) => Promise<string[]>;
  readonly run?: (cmd: string, args: readonly string[]) => Promise<string>;
  readonly sysfsRoot?: string;
}

const run = (cmd: string, args: readonly string[]) =>
  new Promise<string>((resolve, reject) => {
    execFile(cmd, [...args], { timeout: 5000, windowsHide: true }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
  });

export async function onBattery(deps: PowerProbeDeps = {}): Promise<boolean | undefined> {
  return (await probe(deps)).onBattery;
}

/**
 * One reading, and whether asking again can tell more: not when the OS has no way to say (the command is missing:
 * PowerShell on a stripped Windows, pmset on a stripped macOS) or Windows reports no battery at all.
 */
async function probe(deps: PowerProbeDeps): Promise<{ onBattery: boolean | undefined; askAgain: boolean }> {
  const platform = deps.platform ?? process.platform;
  try {
    if (platform === 'linux') return { onBattery: await linux(deps), askAgain: true };
    if (platform === 'darwin') return { onBattery: parsePmset(await (deps.run ?? run)('pmset', ['-g', 'batt'])), askAgain: true };
    if (platform === 'win32') {
      const out = await (deps.run ?? run)('powershell.exe', [
        '-NoProfile',
        '-NonInteractive',
        '-Command',
        '(Get-CimInstance -ClassName Win32_Battery | Select-Object -ExpandProperty BatteryStatus) -join ","',
      ]);
      // No Win32_Battery at all (a desktop; or Wine, whose powershell.exe prints nothing): none will appear later.
      const battery = parseWin32BatteryStatus(out);
      return { onBattery: battery, askAgain: battery !== undefined };
    }
  } catch (e) {
    return { onBattery: undefined, askAgain: (e as { code?: unknown } | undefined)?.code !== 'ENOENT' };
  }
  return { onBattery: undefined, askAgain: false };
}

/**
 * The power state, polled: each call reads it again, until the OS has shown it cannot tell (no such command, no
 * battery), after which it answers undefined without spawning anything.
 */
export class PowerProbe {
  private settled = false;
  /** Times the OS was asked. */
  asked = 0;

  constructor(private readonly deps: PowerProbeDeps = {}) {}

  async onBattery(): Promise<boolean | undefined> {
    if (this.settled) return undefined;
    this.asked++;
    const r = await probe(this.deps);
    this.settled = !r.askAgain;
    return r.onBattery;
  }

  /** Whether asking again can tell anything. */
  get gaveUp(): boolean {
    return this.settled;
  }
}

async function linux(deps: PowerProbeDeps): Promise<boolean | undefined> {
  const root = deps.sysfsRoot ?? '/sys/class/power_supply';
  const read = deps.readFile ?? ((f: string) => fs.readFile(f, 'utf8'));
  const supplies = await (deps.readDir ?? ((d: string) => fs.readdir(d)))(root);
  let sawMains = false;
  let mainsOnline = false;
  let discharging = false;
  for (const name of supplies) {
    const type = (await read(path.join(root, name, 'type')).catch(() => '')).trim();
    if (type === 'Mains' || type === 'USB' || type === 'USB_C') {
      sawMains = true;
      if ((await read(path.join(root, name, 'online')).catch(() => '0')).trim() === '1') mainsOnline = true;
    } else if (type === 'Battery') {
      const status = (await read(path.join(root, name, 'status')).catch(() => '')).trim();
      if (status === 'Discharging') discharging = true;
    }
  }
  if (discharging) return true;
  if (sawMains) return !mainsOnline;
  return undefined;
}

/** `pmset -g batt` prints "Now drawing from 'Battery Power'" or "'AC Power'". */
export function parsePmset(out: string): boolean | undefined {
  const m = /drawing from '([^']+)'/.exec(out);
  return m ? m[1] === 'Battery Power' : undefined;
}

/** Win32_Battery.BatteryStatus: 1 = discharging; 2 = on AC; others are charging states on AC. No battery: empty. */
export function parseWin32BatteryStatus(out: string): boolean | undefined {
  const codes = out
    .trim()
    .split(/[,\s]+/)
    .filter((s) => s !== '')
    .map(Number);
  if (codes.length === 0 || codes.some(Number.isNaN)) return undefined;
  return codes.includes(1);
}
