// `npm run test:electron`: the same e2e suite in desktop VS Code through @vscode/test-electron (needs internet
// to download VS Code the first time; on offline machines use `npm run test:e2e`, which runs it in code-server).
import * as path from 'node:path';
import { runTests } from '@vscode/test-electron';

async function main(): Promise<number> {
  const root = path.resolve(__dirname, '..', '..', '..');
  try {
    await runTests({
      version: process.env.VSCODE_VERSION ?? 'stable',
      extensionDevelopmentPath: root,
      extensionTestsPath: path.join(root, 'out/test/e2e/suite/index.js'),
      launchArgs: [path.join(root, 'test/fixtures/ws'), '--disable-extensions', '--disable-workspace-trust', '--skip-welcome', '--skip-release-notes'],
      extensionTestsEnv: { E2E_RESULTS: path.join(root, 'out/e2e-electron-results.json') },
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
