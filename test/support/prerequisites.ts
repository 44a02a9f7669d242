// The tests' view of scripts/prerequisites.mjs (one list of what to look for, shared with `npm test`'s first
// stage): a hardware-dependent test skips itself with the reason and the install line instead of failing.
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';

export interface Missing {
  readonly what: string;
  readonly why: string;
  readonly deb: string;
  readonly optional: boolean;
}

/** scripts/prerequisites.mjs, typed. */
export interface Prerequisites {
  missingPrerequisites(o: { stages: string[]; env?: NodeJS.ProcessEnv; platform?: string }): Missing[];
  describeMissing(missing: readonly Missing[]): string;
  installAdvice(missing: readonly Missing[]): string;
  vulkanProblem(env?: NodeJS.ProcessEnv, platform?: string): string | undefined;
  chromiumBinary(env?: NodeJS.ProcessEnv): string | undefined;
}

// A computed specifier: esbuild leaves it a real import() of the script at run time (mocha runs in the repository).
export const loadPrerequisites = (): Promise<Prerequisites> => import(pathToFileURL(path.resolve('scripts', 'prerequisites.mjs')).href);

/** Why this machine has no Vulkan device for the tests, with what to install; undefined when it has one. */
export async function vulkanSkipReason(): Promise<string | undefined> {
  const p = await loadPrerequisites();
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
