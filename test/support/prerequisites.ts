// The tests' view of scripts/prerequisites.mjs (one list of what to look for, shared with `npm test`'s first
// stage): a hardware-dependent test skips itself with the reason and the install line instead of failing.
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';

interface Prerequisites {
  vulkanProblem(): string | undefined;
  missingPrerequisites(o: { stages: string[] }): { what: string; optional: boolean }[];
  installAdvice(missing: readonly unknown[]): string;
}

// A computed specifier: esbuild leaves it a real import() of the script at run time (mocha runs in the repository).
const load = (): Promise<Prerequisites> => import(pathToFileURL(path.resolve('scripts', 'prerequisites.mjs')).href);

/** Why this machine has no Vulkan device for the tests, with what to install; undefined when it has one. */
export async function vulkanSkipReason(): Promise<string | undefined> {
  const p = await load();
  const problem = p.vulkanProblem();
  if (!problem) return undefined;
  const advice = p.installAdvice(p.missingPrerequisites({ stages: ['integration'] }).filter((m) => m.optional));
  return `${problem}${advice ? `; to run it: ${advice}` : ''}`;
}

/** Skips the running test, saying why in its title (mocha's reporters print the title of a skipped test). */
export function skipBecause(context: Mocha.Context, reason: string): never {
  if (context.test) context.test.title += ` (skipped: ${reason})`;
  context.skip();
}
