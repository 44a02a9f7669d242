// `npm run test:electron`: the same e2e suite in desktop VS Code through @vscode/test-electron (needs internet
// to download VS Code the first time; on offline machines use `npm run test:e2e`, which runs it in code-server).
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runTests } from '@vscode/test-electron';

async function main(): Promise<number> {
  const root = path.resolve(__dirname, '..', '..', '..');
  // The same user settings as the code-server runner: no telemetry, no word suggestions competing with ghost text.
  const userData = mkdtempSync(path.join(os.tmpdir(), 'verdant-electron-'));
  mkdirSync(path.join(userData, 'User'), { recursive: true });
  writeFileSync(
    path.join(userData, 'User', 'settings.json'),
    JSON.stringify({
      'telemetry.telemetryLevel': 'off',
      'workbench.startupEditor': 'none',
      'update.mode': 'none',
      'editor.wordBasedSuggestions': 'off',
      'git.openRepositoryInParentFolders': 'never',
    }),
  );
  try {
    await runTests({
      version: process.env.VSCODE_VERSION ?? 'stable',
      extensionDevelopmentPath: root,
      extensionTestsPath: path.join(root, 'out/test/e2e/suite/index.js'),
      launchArgs: [
        path.join(root, 'test/fixtures/ws'),
        '--user-data-dir',
        userData,
        '--disable-extensions',
        '--disable-workspace-trust',
        '--skip-welcome',
        '--skip-release-notes',
      ],
      extensionTestsEnv: { E2E_RESULTS: path.join(root, 'out/e2e-electron-results.json'), E2E_REPO_ROOT: root },
    });
    return 0;
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    if (/ENOTFOUND|EAI_AGAIN|ECONNREFUSED|getaddrinfo/.test(message)) {
      console.error(`test:electron: VS Code could not be downloaded (${message}). Offline? Run "npm run test:e2e" (code-server) instead.`);
    } else {
      console.error(`test:electron: ${message}`);
    }
    return 1;
  }
}

void main().then((code) => process.exit(code));
