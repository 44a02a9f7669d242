// Where the VS Code extension keeps its state, so the CLI reads the same ledger: the extension's global storage
// folder under the user data folder of VS Code (or VSCodium / code-server when those are what is installed).
import { existsSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const EXTENSION_ID = 'verdant-dev.verdant';

export function userDataCandidates(
  env: NodeJS.ProcessEnv = process.env,
  platform: NodeJS.Platform = process.platform,
  home = os.homedir(),
): string[] {
  const products = ['Code', 'Code - Insiders', 'VSCodium'];
  if (platform === 'win32') {
    const appData = env.APPDATA ?? path.join(home, 'AppData', 'Roaming');
    return products.map((p) => path.join(appData, p, 'User'));
  }
  if (platform === 'darwin') return products.map((p) => path.join(home, 'Library', 'Application Support', p, 'User'));
  const config = env.XDG_CONFIG_HOME ?? path.join(home, '.config');
  return [
    ...products.map((p) => path.join(config, p, 'User')),
    path.join(env.XDG_DATA_HOME ?? path.join(home, '.local', 'share'), 'code-server', 'User'),
  ];
}

/** The ledger folder: --ledger, then VERDANT_LEDGER_DIR, then the first VS Code install that has one. */
export function defaultLedgerDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.VERDANT_LEDGER_DIR) return env.VERDANT_LEDGER_DIR;
  const candidates = userDataCandidates(env).map((u) => path.join(u, 'globalStorage', EXTENSION_ID, 'ledger'));
  return candidates.find((c) => existsSync(c)) ?? candidates[0]!; // userDataCandidates gives three or more
}

/** The extension's global storage folder (its queue, ledger): VERDANT_STATE_DIR, else the first VS Code install that has one. */
export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.VERDANT_STATE_DIR) return env.VERDANT_STATE_DIR;
  const candidates = userDataCandidates(env).map((u) => path.join(u, 'globalStorage', EXTENSION_ID));
  return candidates.find((c) => existsSync(c)) ?? candidates[0]!;
}
