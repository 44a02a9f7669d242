// The `verdant` command line: global flags, subcommand dispatch, text or --json output, and exit codes
// (0 ok, 1 failure, 2 usage error). Later subcommands register in COMMANDS.
import { flagHelp, parse, UsageError, type FlagSpecs } from './args';
import type { CliIo, Command } from './command';
import { completeCommand } from './complete';
import { askCommand } from './ask';
import { estimateCommand, forecastCommand, intensityCommand, windowCommand } from './carbon';
import { reportCommand } from './report';
import { routeCommand } from './route';
import { runWhenCleanCommand } from './runWhenClean';
import { jobsCommand, runQueuedJobCommand } from './jobs';
import { machineInfo } from './machine';
import { VERSION } from '../core/version';
import { errorMessage } from '../core/errors';

export type { CliIo } from './command';

const GLOBAL_FLAGS: FlagSpecs = {
  help: { type: 'boolean', short: 'h', description: 'show help (for a command: verdant COMMAND --help)' },
  version: { type: 'boolean', short: 'v', description: 'print the version' },
  json: { type: 'boolean', description: 'print one JSON object instead of text' },
};

const COMMANDS: Readonly<Record<string, Command>> = {
  info: {
    summary: 'show the runtime, CPU, memory and which inference packages are installed',
    flags: {},
    run: async ({ io }) => ({ version: VERSION, ...machineInfo(io.baseDir) }),
    format: (r) => {
      const info = r as ReturnType<typeof machineInfo> & { version: string };
      const lines = [
        `verdant ${info.version}`,
        `node ${info.node} on ${info.platform}-${info.arch}`,
        `cpu ${info.cpu}, ${info.logicalCores} logical cores`,
        `memory ${info.memoryGiB} GiB (${info.freeMemoryGiB} GiB free)`,
      ];
      for (const [name, p] of Object.entries(info.packages)) lines.push(`${name} ${p.installed ? p.version : 'not installed'}`);
      return lines.join('\n');
    },
  },
  complete: completeCommand,
  intensity: intensityCommand,
  forecast: forecastCommand,
  window: windowCommand,
  estimate: estimateCommand,
  report: reportCommand,
  ask: askCommand,
  route: routeCommand,
  'run-when-clean': runWhenCleanCommand,
  jobs: jobsCommand,
  'run-queued-job': runQueuedJobCommand,
};

export function helpText(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  return [
    `verdant ${VERSION}: carbon-aware local/cloud AI coding assistant, command line`,
    '',
    'Usage: verdant [--json] COMMAND [options]',
    '       verdant --help | --version',
    '',
    'Commands:',
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
    '',
    'Options:',
    ...flagHelp(GLOBAL_FLAGS),
  ].join('\n');
}

function commandHelp(name: string, command: Command): string {
  const flags = flagHelp({ ...command.flags, ...GLOBAL_FLAGS });
  return [`Usage: ${command.usage ?? `verdant ${name} [options]`}`, '', `${command.summary}`, '', 'Options:', ...flags].join('\n');
}

/** Runs the CLI and returns its exit code. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const json = argv.includes('--json');
  const fail = (code: number, message: string) => {
    if (json) io.out(JSON.stringify({ error: message, exitCode: code }));
    else io.err(`verdant: ${message}`);
    return code;
  };
  try {
    const name = argv.find((a) => !a.startsWith('-'));
    const command = name === undefined ? undefined : COMMANDS[name];
    if (name !== undefined && !command) throw new UsageError(`unknown command "${name}"; commands: ${Object.keys(COMMANDS).join(', ')}.`);
    const parsed = parse(argv, { ...GLOBAL_FLAGS, ...(command?.flags ?? {}) });
    if (parsed.flags.version && !command) {
      io.out(json ? JSON.stringify({ name: 'verdant', version: VERSION }) : VERSION);
      return 0;
    }
    if (parsed.flags.help || !command || !name) {
      const text = command && name ? commandHelp(name, command) : helpText();
      io.out(json ? JSON.stringify({ help: text }) : text);
      return command || parsed.flags.help ? 0 : 2;
    }
    const result = await command.run({ flags: parsed.flags, positionals: parsed.positionals.slice(1), io, json });
    // A command that wrote its own output (e.g. CSV) returns undefined.
    if (result !== undefined) io.out(json ? JSON.stringify(result) : command.format(result));
    return 0;
  } catch (e) {
    if (e instanceof UsageError) return fail(2, e.message);
    return fail(1, errorMessage(e));
  }
}
