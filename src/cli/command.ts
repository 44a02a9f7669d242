// What a `verdant` subcommand is: its flags, what it does, and how its result reads as text.
import type { FlagSpecs } from './args';

export interface CliIo {
  /** Writes a line. */
  readonly out: (text: string) => void;
  /** Writes text as is (streaming output). */
  readonly write: (text: string) => void;
  readonly err: (text: string) => void;
  /** Folder the CLI runs from, for locating installed packages. */
  readonly baseDir: string;
}

export interface CommandArgs {
  readonly flags: Readonly<Record<string, string | boolean | undefined>>;
  readonly positionals: readonly string[];
  readonly io: CliIo;
  readonly json: boolean;
}

export interface Command {
  readonly summary: string;
  readonly usage?: string;
  readonly flags: FlagSpecs;
  run(args: CommandArgs): Promise<unknown>;
  /** Text rendering of the result; --json prints the result itself. */
  format(result: unknown): string;
}
