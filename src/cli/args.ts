// Command-line parsing on top of node:util parseArgs, with usage errors that say what to type instead.
import { parseArgs } from 'node:util';
import { errorMessage } from '../core/errors';
import { GPU_CHOICES, MAX_THREADS, type GpuChoice } from '../core/settings';

export interface FlagSpec {
  readonly type: 'boolean' | 'string';
  readonly short?: string;
  readonly description: string;
  readonly value?: string; // placeholder shown in help, e.g. "N"
}

export type FlagSpecs = Readonly<Record<string, FlagSpec>>;

export class UsageError extends Error {}

export interface Parsed {
  readonly flags: Readonly<Record<string, string | boolean | undefined>>;
  readonly positionals: readonly string[];
}

export function parse(argv: readonly string[], specs: FlagSpecs): Parsed {
  const options: Record<string, { type: 'boolean' | 'string'; short?: string }> = {};
  for (const [name, s] of Object.entries(specs)) options[name] = s.short ? { type: s.type, short: s.short } : { type: s.type };
  try {
    const { values, positionals } = parseArgs({ args: [...argv], options, strict: true, allowPositionals: true });
    return { flags: values, positionals };
  } catch (e) {
    throw new UsageError(usageMessage(e, argv));
  }
}

function usageMessage(e: unknown, argv: readonly string[]): string {
  const text = errorMessage(e);
  // `--duration -30m`: a value that starts with a dash reads as another option.
  const ambiguous = /Option '(?:-\w, )?(--[\w-]+)[^']*' argument is ambiguous/.exec(text)?.[1];
  if (ambiguous !== undefined) {
    const value = argv[argv.indexOf(ambiguous) + 1] ?? '';
    return `${ambiguous} ${value}: a value that starts with "-" reads as an option; write ${ambiguous}=${value} if you mean it.`;
  }
  const unknown = /Unknown option '([^']+)'/.exec(text);
  if (unknown) return `unknown option ${unknown[1]}; run "verdant --help" for the options.`;
  const missing = /Option '([^']+)' argument missing/.exec(text)?.[1];
  if (missing !== undefined) return `option ${missing.split(',').pop()?.trim()} needs a value.`;
  return text.split('\n')[0]!.replace(/\.$/, '') + '; run "verdant --help".';
}

export function flagHelp(specs: FlagSpecs): string[] {
  const rows = Object.entries(specs).map(([name, s]) => {
    const left = `${s.short ? `-${s.short}, ` : '    '}--${name}${s.value ? ` ${s.value}` : ''}`;
    return [left, s.description] as const;
  });
  const width = Math.max(...rows.map(([l]) => l.length));
  return rows.map(([l, d]) => `  ${l.padEnd(width)}  ${d}`);
}

export interface NumberRule {
  readonly min: number;
  readonly max?: number;
  readonly integer?: boolean;
}

/** The largest value a numeric flag takes unless it says otherwise: 1e308 tokens is no request, only an overflow. */
const DEFAULT_MAX = 1e12;

/** --gpu and --threads of a command that loads a local model: the engine's GPU choice (default auto) and thread count (0: automatic). */
export function engineFlags(flags: Readonly<Record<string, string | boolean | undefined>>): { gpu: GpuChoice; threads: number } {
  const gpu = (flags.gpu ?? 'auto') as GpuChoice;
  if (!GPU_CHOICES.includes(gpu)) throw new UsageError(`--gpu must be one of ${GPU_CHOICES.join(', ')}, not "${String(flags.gpu)}".`);
  return { gpu, threads: numberFlag(flags.threads, 'threads', { min: 0, max: MAX_THREADS, integer: true }) ?? 0 };
}

/** A numeric flag's value (undefined when absent), or a usage error that says what is allowed. */
export function numberFlag(value: string | boolean | undefined, name: string, rule: NumberRule): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  const max = rule.max ?? DEFAULT_MAX;
  if (typeof value !== 'string' || !Number.isFinite(n) || n < rule.min || n > max || (rule.integer && !Number.isInteger(n))) {
    const what = rule.integer ? 'a whole number' : 'a number';
    const range = rule.max !== undefined ? `from ${rule.min} to ${max}` : n > max ? `of at most ${max.toExponential()}` : `of at least ${rule.min}`;
    throw new UsageError(`--${name} must be ${what} ${range}, not "${value}".`);
  }
  return n;
}
