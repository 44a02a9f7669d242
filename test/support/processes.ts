// Live processes as /proc shows them (Linux; elsewhere none are seen), for tests that check what was left running.
import { existsSync, readdirSync, readFileSync } from 'node:fs';

export interface LiveProcess {
  readonly pid: number;
  readonly argv: readonly string[];
  /** Its environment, 'NAME=value' each; empty when it cannot be read (another user's process). */
  readonly env: readonly string[];
}

function readNulList(file: string): string[] {
  try {
    return readFileSync(file, 'utf8').split('\0');
  } catch {
    return [];
  }
}

/** Every live process but this one that `matches`. */
export function processesWhere(matches: (p: LiveProcess) => boolean): LiveProcess[] {
  if (!existsSync('/proc/self/cmdline')) return [];
  const found: LiveProcess[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    const argv = readNulList(`/proc/${name}/cmdline`);
    if (argv.length === 0) continue; // gone meanwhile
    const p = { pid: Number(name), argv, env: readNulList(`/proc/${name}/environ`) };
    if (matches(p)) found.push(p);
  }
  return found;
}
