// Screenshots, Command Palette listings and UI steps from inside the suite: the runner (run-in-code-server.mjs) watches
// E2E_SHOTS for requests and drives the real browser page.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { until } from '../../support/wait';

/** Asks the runner for a screenshot of the whole workbench (test-output/screenshots/<name>.png). */
export async function screenshot(name: string): Promise<void> {
  const dir = process.env.E2E_SHOTS;
  if (!dir) return; // under @vscode/test-electron there is no browser to photograph
  writeFileSync(path.join(dir, `request-${name}`), '');
  await until(`screenshot ${name} taken`, () => existsSync(path.join(dir, `done-${name}`)), 60_000, 100);
}

let paletteRequests = 0;

/**
 * The Command Palette's rows for a query, as the user sees them; undefined where there is no browser to drive (under
 * @vscode/test-electron).
 */
export async function paletteRows(query: string): Promise<string[] | undefined> {
  const dir = process.env.E2E_SHOTS;
  if (!dir) return undefined;
  const id = `q${++paletteRequests}`;
  writeFileSync(path.join(dir, `palette-${id}`), query);
  const answer = path.join(dir, `listed-${id}`);
  await until(`the palette listing for ${query}`, () => existsSync(answer), 60_000, 100);
  return JSON.parse(readFileSync(answer, 'utf8')) as string[];
}

/** One step a user takes in the workbench's UI: answer the quick pick or input box titled `title`, or click a notification's button. */
export type UiStep = { readonly title: string; readonly type: string } | { readonly button: string };

let uiRequests = 0;

/**
 * Has the runner take `steps` in the real browser page, in order, while the caller's command waits on them; false
 * where there is no browser to drive (under @vscode/test-electron). Rejects naming the step that could not be taken.
 */
export async function takeUiSteps(steps: readonly UiStep[]): Promise<boolean> {
  const dir = process.env.E2E_SHOTS;
  if (!dir) return false;
  const id = `s${++uiRequests}`;
  writeFileSync(path.join(dir, `ui-${id}`), JSON.stringify(steps));
  const answer = path.join(dir, `done-ui-${id}`);
  await until(`the runner to take ${JSON.stringify(steps)}`, () => existsSync(answer), 120_000, 100);
  const { error } = JSON.parse(readFileSync(answer, 'utf8')) as { error?: string };
  if (error) throw new Error(`the runner could not take a UI step: ${error}`);
  return true;
}
