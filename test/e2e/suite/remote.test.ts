// The WSL / dev container / Remote-SSH path of README.md (issue #19), as far as a loopback-only test can walk it.
// code-server is itself a remote setup: the workbench runs in the browser, the extension host (and Verdant with it)
// on the server, beside the workspace. The user points verdant.local.backend at an OpenAI-compatible server and
// verdant.local.serverUrl at it (in real life LM Studio on the Windows host, at the WSL gateway's private address;
// here a stand-in on 127.0.0.1), and a palette task is answered by that server. The repository's own
// .vscode/settings.json points both settings elsewhere (test/fixtures/ws): machine scope makes VS Code drop that.
import * as assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { VerdantApi } from '../../../src/extension';
import { FakeServer } from '../../support/fakeServer';
import { sendJson, shred, streamBody } from '../../support/streaming';

const MODEL = 'qwen2.5-coder-1.5b-instruct';
const ANSWER = 'It returns the n-th Fibonacci number, recursively.';
const QUESTION = 'What does fibonacci return?';

describe('a local server from a remote window (WSL, dev containers, Remote-SSH)', function () {
  this.timeout(120_000);
  let api: VerdantApi;
  let server: FakeServer;
  const G = vscode.ConfigurationTarget.Global;
  const config = () => vscode.workspace.getConfiguration('verdant');
  const KEYS = ['local.backend', 'local.serverUrl', 'local.serverModel', 'routing.mode'];

  before(async () => {
    api = await vscode.extensions.getExtension<VerdantApi>('verdant-dev.verdant')!.activate();
    const chunk = (delta: object, finish: string | null = null) =>
      `data: ${JSON.stringify({ choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
    server = await FakeServer.start({
      // LM Studio's OpenAI-compatible API, as the lmstudio backend uses it.
      'GET /v1/models': (_s, res) => sendJson(res, 200, { object: 'list', data: [{ id: MODEL, object: 'model' }] }),
      'POST /v1/chat/completions': (_s, res) =>
        streamBody(res, 'text/event-stream', [...shred(ANSWER, 9).map((content) => chunk({ content })), chunk({}, 'stop'), 'data: [DONE]\n\n']),
    });
  });

  after(async () => {
    for (const key of KEYS) await config().update(key, undefined, G);
    await server.close();
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });

  it('runs where the workspace is, and ignores a serverUrl the repository sets', async () => {
    // extensionKind ["workspace"]: in a remote window Verdant runs in the remote extension host (desktop VS Code
    // without a remote reports UI for every extension).
    if (vscode.env.remoteName) assert.equal(vscode.extensions.getExtension('verdant-dev.verdant')!.extensionKind, vscode.ExtensionKind.Workspace);
    for (const [key, value] of [
      ['local.backend', 'llama.cpp'],
      ['local.serverUrl', ''],
      ['local.serverModel', ''],
    ] as const) {
      const seen = config().inspect(key);
      assert.equal(config().get(key), value, `${key}: the repository's value is ignored`);
      assert.deepEqual([seen?.workspaceValue, seen?.workspaceFolderValue], [undefined, undefined], key);
    }
    await assert.rejects(Promise.resolve(config().update('local.serverUrl', server.url, vscode.ConfigurationTarget.Workspace)));
    assert.equal(config().get('local.serverUrl'), '');
  });

  it('ignores a serverUrl in the user settings of the machine the UI runs on: only the remote machine’s apply', async function () {
    const data = process.env.E2E_USER_DATA;
    if (!data) this.skip(); // desktop VS Code (run-electron.ts) is no remote window
    const file = path.join(data, 'User', 'settings.json');
    const original = readFileSync(file, 'utf8');
    const userSettings = () => JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    // As a user who set it on the machine the UI runs on (Windows): in their own settings file, not the remote's.
    // VS Code reads that file again when it writes a setting there itself (completions.maxLines, window scope).
    writeFileSync(file, JSON.stringify({ ...JSON.parse(original), 'verdant.local.serverUrl': 'http://127.0.0.1:9' }));
    try {
      await config().update('completions.maxLines', 7, G);
      assert.deepEqual([userSettings()['verdant.completions.maxLines'], userSettings()['verdant.local.serverUrl']], [7, 'http://127.0.0.1:9']);
      assert.equal(config().get('completions.maxLines'), 7, 'the user settings file was read again');
      assert.equal(config().get('local.serverUrl'), '', 'a machine-scoped value there does not apply in a remote window');
    } finally {
      writeFileSync(file, original);
      await config().update('completions.maxLines', 7, G); // read the restored file again
      await config().update('completions.maxLines', undefined, G);
    }
    assert.equal(userSettings()['verdant.local.serverUrl'], undefined);
  });

  it('answers a palette task from the server at the user’s verdant.local.serverUrl', async () => {
    await config().update('local.backend', 'lmstudio', G);
    await config().update('local.serverUrl', server.url, G);
    await config().update('local.serverModel', MODEL, G);
    await config().update('routing.mode', 'local-only', G);
    // The workspace's settings file still names another server: the user's own setting wins.
    assert.equal(config().inspect('local.serverUrl')?.workspaceValue, undefined);
    assert.equal(config().inspect('local.serverUrl')?.globalValue, server.url);
    if (process.env.E2E_USER_DATA) {
      // In a remote window a machine-scoped setting is written to the remote machine's settings (VS Code's "Remote
      // settings"; code-server's Machine/settings.json), which README.md tells WSL and Remote-SSH users to edit.
      const machine = JSON.parse(readFileSync(path.join(process.env.E2E_USER_DATA, 'Machine', 'settings.json'), 'utf8')) as Record<string, unknown>;
      assert.equal(machine['verdant.local.serverUrl'], server.url);
    }

    const folder = vscode.workspace.workspaceFolders![0]!;
    await vscode.window.showTextDocument(await vscode.workspace.openTextDocument(vscode.Uri.joinPath(folder.uri, 'sample.ts')));
    const outcome = await vscode.commands.executeCommand<{ route: string; model: string; grams?: number }>('verdant.ask', QUESTION);
    assert.equal(outcome.route, 'local');
    assert.equal(outcome.model, MODEL);

    const chats = server.seen.filter((s) => s.path === '/v1/chat/completions');
    assert.equal(chats.length, 1, `requests: ${server.seen.map((s) => `${s.method} ${s.path}`).join(', ')}`);
    assert.equal(chats[0]!.body.model, MODEL);
    const sent = JSON.stringify(chats[0]!.body.messages);
    assert.match(sent, /What does fibonacci return\?/);
    assert.ok(sent.includes('fibonacci(n - 1) + fibonacci(n - 2)'), 'the workspace file (sample.ts) went to the user’s server');
    assert.ok(sent.includes('sample.ts'));

    const answer = vscode.window.activeTextEditor?.document;
    assert.equal(answer?.languageId, 'markdown');
    assert.match(answer?.getText() ?? '', new RegExp(`^# ${QUESTION.replace('?', '\\?')}\\n\\n${ANSWER}[\\s\\S]*\\*Route: local`));
    assert.deepEqual([api.carbon.lastRecord?.route, api.carbon.lastRecord?.model], ['local', MODEL]);
  });
});
