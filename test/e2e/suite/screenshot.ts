// Screenshots from inside the suite: the runner (run-in-code-server.mjs) watches E2E_SHOTS for requests.
import { existsSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { until } from '../../support/wait';

/** Asks the runner for a screenshot of the whole workbench (test-output/screenshots/<name>.png). */
export async function screenshot(name: string): Promise<void> {
  const dir = process.env.E2E_SHOTS;
  if (!dir) return; // under @vscode/test-electron there is no browser to photograph
  writeFileSync(path.join(dir, `request-${name}`), '');
  await until(`screenshot ${name} taken`, () => existsSync(path.join(dir, `done-${name}`)), 60_000, 100);
}
