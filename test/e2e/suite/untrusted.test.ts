// Restricted mode in a real VS Code (the runner's --untrusted pass: workspace trust on, the fixture folder not
// trusted): with a cloud endpoint, a key, consent and even routing.mode cloud-only set, nothing is sent to the
// endpoint: tasks run locally and say why, Retry in Cloud is refused, a refactor's steps stay local.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import type { VerdantApi } from '../../../src/extension';
import { setUpHybrid, startCloudStandIn, teardownHybrid, type CloudStandIn } from './cloudStandIn';

describe('untrusted workspace: code never leaves the machine', function () {
  this.timeout(180_000);
  let api: VerdantApi;
  let cloud: CloudStandIn;

  before(async () => {
    api = await vscode.extensions.getExtension<VerdantApi>('verdant-dev.verdant')!.activate();
    cloud = await startCloudStandIn(() => 'a cloud answer');
    await setUpHybrid(cloud, api.consent);
    await vscode.workspace.getConfiguration('verdant').update('routing.mode', 'cloud-only', vscode.ConfigurationTarget.Global);
  });

  after(async () => {
    await api.engine.stopWorker();
    await teardownHybrid(cloud, api.consent, ['routing.mode']);
  });

  it('runs in restricted mode', () => {
    assert.equal(vscode.workspace.isTrusted, false);
    assert.match(api.statusText(), /Verdant/);
  });

  it('runs tasks locally, says why, and refuses Retry in Cloud', async () => {
    const doc = await vscode.workspace.openTextDocument({ content: 'Once upon a time, there was a little girl named Lily.', language: 'plaintext' });
    await vscode.window.showTextDocument(doc);
    const outcome = await vscode.commands.executeCommand<{ route: string; reason: string }>('verdant.summarizeFile');
    assert.equal(outcome.route, 'local');
    assert.match(outcome.reason, /cloud-only mode, but this workspace is not trusted, so code stays on this machine/);
    assert.equal(await vscode.commands.executeCommand('verdant.retryInCloud'), undefined, 'the retry is refused');
    assert.equal(cloud.requests.length, 0, 'nothing reached the endpoint');
  });

  it('plans a refactor whose steps all stay local', async () => {
    const doc = await vscode.workspace.openTextDocument({
      content: 'export function computeTotal(a: number) { return a; }\nconst x = computeTotal(1);\n',
      language: 'typescript',
    });
    const editor = await vscode.window.showTextDocument(doc);
    editor.selection = new vscode.Selection(0, 18, 0, 18);
    const planned = new Promise<void>((resolve) => {
      const s = api.refactors.onDidChange((e) => {
        if (e.type === 'planned') {
          s.dispose();
          resolve();
        }
      });
    });
    const running = vscode.commands.executeCommand('verdant.planRefactor', 'rename computeTotal to calculateTotal');
    await planned;
    const steps = api.refactors.current?.steps ?? [];
    assert.ok(steps.length > 0);
    for (const p of steps) {
      assert.equal(p.route, 'local');
      assert.equal(p.decision.options.find((o) => o.route === 'cloud')?.blocked, 'this workspace is not trusted, so code stays on this machine');
    }
    await vscode.commands.executeCommand('workbench.action.closeQuickOpen');
    await running;
    assert.equal(cloud.requests.length, 0);
  });
});
