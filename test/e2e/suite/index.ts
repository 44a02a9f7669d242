// extensionTestsPath entry, the @vscode/test-electron contract: run() resolves when every test passed. Used by
// both runners (code-server + chromium here, desktop VS Code through test-electron elsewhere).
import * as fs from 'node:fs';
import * as path from 'node:path';
import Mocha from 'mocha';

export function run(): Promise<void> {
  const mocha = new Mocha({ ui: 'bdd', color: false, timeout: 120_000 });
  // E2E_FILES=routing,tasks runs only those suites (while working on one; the full run takes them all).
  // E2E_UNTRUSTED (the runner's --untrusted pass, workspace trust on): only the restricted-mode suite.
  const only = process.env.E2E_UNTRUSTED
    ? ['untrusted.test.js']
    : process.env.E2E_FILES?.trim()
      ? process.env.E2E_FILES.split(',').map((s) => `${s.trim()}.test.js`)
      : undefined;
  for (const f of fs
    .readdirSync(__dirname)
    .filter((f) => f.endsWith('.test.js') && (only ? only.includes(f) : f !== 'untrusted.test.js'))
    .sort())
    mocha.addFile(path.join(__dirname, f));
  const results = { passed: [] as string[], failed: [] as { title: string; error: string }[], skipped: [] as string[] };
  return new Promise((resolve, reject) => {
    const runner = mocha.run((failures) => {
      // The runner reads this file: the extension host's own exit code alone cannot tell "no test ran".
      if (process.env.E2E_RESULTS) fs.writeFileSync(process.env.E2E_RESULTS, JSON.stringify(results, null, 2));
      if (failures > 0) reject(new Error(`${failures} test(s) failed`));
      else if (results.passed.length === 0) reject(new Error('no test ran'));
      else resolve();
    });
    runner.on('pass', (t) => results.passed.push(t.fullTitle()));
    runner.on('fail', (t, err) => results.failed.push({ title: t.fullTitle(), error: String(err?.stack ?? err) }));
    runner.on('pending', (t) => results.skipped.push(t.fullTitle()));
  });
}
