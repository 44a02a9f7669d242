// API keys in a real VS Code: a distinctive key goes to an endpoint that echoes the Authorization header back in an
// error body and in its answer; the key must then appear nowhere Verdant writes: the result shown, the log, global
// storage (ledger, queue, state) and exported reports.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { VerdantApi } from '../../../src/extension';
import { sleep, until } from '../../support/wait';
import { setUpHybrid, startCloudStandIn, teardownHybrid } from './cloudStandIn';

const KEY = 'sk-verdant-E2E-SECRET-7f3c9a1b2d4e6f8091a2b3c4d5e6f708';

/** Every file under dir (skipping big binaries such as models), as text. */
function filesUnder(dir: string): { file: string; text: string }[] {
  if (!fs.existsSync(dir)) return [];
  const out: { file: string; text: string }[] = [];
  for (const entry of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const file = path.join(entry.parentPath, entry.name);
    if (fs.statSync(file).size > 5 * 2 ** 20) continue;
    out.push({ file, text: fs.readFileSync(file, 'latin1') });
  }
  return out;
}

describe('security: the cloud API key never appears in results, logs, storage or exports', function () {
  this.timeout(180_000);
  let api: VerdantApi;
  let server: http.Server;
  let mode: 'error' | 'echo' = 'error';
  const config = () => vscode.workspace.getConfiguration('verdant');
  const G = vscode.ConfigurationTarget.Global;
  const exportDir = fs.mkdtempSync(path.join(os.tmpdir(), 'verdant-export-'));

  before(async () => {
    api = await vscode.extensions.getExtension<VerdantApi>('verdant-dev.verdant')!.activate();
    server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        const auth = String(req.headers.authorization ?? '');
        if (mode === 'error') {
          res.writeHead(500, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: { message: `internal error while serving ${auth}` } }));
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            model: 'llama-3.3-70b-instruct',
            choices: [{ message: { role: 'assistant', content: `Summary. (debug: you sent ${auth})` }, finish_reason: 'stop' }],
            usage: { prompt_tokens: 50, completion_tokens: 10 },
          }),
        );
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    await config().update('cloud.enable', true, G);
    await config().update('cloud.endpoint', `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, G);
    await config().update('cloud.model', 'llama-3.3-70b-instruct', G);
    await config().update('routing.mode', 'cloud-only', G);
    await vscode.commands.executeCommand('verdant.setCloudApiKey', KEY);
    await api.consent.set('granted');
  });

  after(async () => {
    server.close();
    await api.consent.set('unknown');
    for (const key of ['cloud.enable', 'cloud.endpoint', 'cloud.model', 'routing.mode']) await config().update(key, undefined, G);
    await vscode.commands.executeCommand('verdant.clearCloudApiKey');
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    fs.rmSync(exportDir, { recursive: true, force: true });
  });

  it('keeps the key out of errors, answers, the log, global storage and exports', async () => {
    const doc = await vscode.workspace.openTextDocument({ content: 'export const add = (a: number, b: number) => a + b;', language: 'typescript' });
    await vscode.window.showTextDocument(doc);
    // 1. The endpoint fails with the key in its error body: the error is shown (and dismissed here).
    mode = 'error';
    const failing = vscode.commands.executeCommand('verdant.summarizeFile');
    await until(
      'the failed task to end (its error dismissed)',
      async () => {
        await vscode.commands.executeCommand('notifications.clearAll');
        return Promise.race([Promise.resolve(failing).then(() => true), sleep(10).then(() => false)]);
      },
      60_000,
      250,
    );
    assert.equal(await failing, undefined, 'the failed task has no outcome');
    // 2. The endpoint answers with the key in the text.
    mode = 'echo';
    const outcome = await vscode.commands.executeCommand<{ route: string; text: string }>('verdant.summarizeFile');
    assert.equal(outcome.route, 'cloud');
    assert.ok(outcome.text.includes('you sent'), 'the answer came back');
    assert.ok(!outcome.text.includes(KEY), `the answer shown has no key: ${outcome.text}`);
    for (const d of vscode.workspace.textDocuments) assert.ok(!d.getText().includes(KEY), `no open document has the key (${d.uri.toString()})`);
    // 3. Exports, the log, and everything in global storage.
    await vscode.commands.executeCommand('verdant.exportCarbonReport', { path: path.join(exportDir, 'report.csv'), format: 'csv' });
    await vscode.commands.executeCommand('verdant.exportCarbonReport', { path: path.join(exportDir, 'report.json'), format: 'json' });
    await sleep(500); // the log channel flushes to its file asynchronously
    const scanned = [...filesUnder(api.logDir), ...filesUnder(api.stateDir), ...filesUnder(exportDir)];
    assert.ok(
      scanned.some((f) => f.file.endsWith('.csv')) && scanned.some((f) => /Verdant\.log$/.test(f.file)),
      `the scan covers the exports and the log (${scanned.length} files)`,
    );
    assert.ok(
      scanned.some((f) => /ledger/.test(f.file)),
      'and the ledger',
    );
    const leaks = scanned.filter((f) => f.text.includes(KEY) || f.text.includes(KEY.slice(10, 40))).map((f) => f.file);
    assert.deepEqual(leaks, []);
  });
});

describe('security: a secrets file (.env) is not sent to the cloud, whatever the route says', function () {
  this.timeout(180_000);
  let api: VerdantApi;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'verdant-envfile-'));

  before(async () => {
    api = await vscode.extensions.getExtension<VerdantApi>('verdant-dev.verdant')!.activate();
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('summarizing a .env with the cloud chosen and consented runs on this machine, and the endpoint gets nothing', async () => {
    const cloud = await startCloudStandIn(() => 'A summary.');
    await setUpHybrid(cloud, api.consent);
    await vscode.workspace.getConfiguration('verdant').update('routing.mode', 'cloud-only', vscode.ConfigurationTarget.Global);
    try {
      const file = path.join(dir, '.env');
      fs.writeFileSync(file, 'DB_PASSWORD=correct-horse-battery\nINTERNAL_API_BASE=https://billing.corp.internal/api\n');
      await vscode.window.showTextDocument(await vscode.workspace.openTextDocument(file));
      const outcome = await vscode.commands.executeCommand<{ route: string; reason: string }>('verdant.summarizeFile');
      assert.equal(outcome.route, 'local');
      assert.match(outcome.reason, /\.env is an environment file .*kept on this machine/);
      assert.deepEqual(cloud.requests, [], 'nothing reached the endpoint');
    } finally {
      await vscode.commands.executeCommand('workbench.action.closeAllEditors');
      await teardownHybrid(cloud, api.consent, ['routing.mode']);
    }
  });
});
