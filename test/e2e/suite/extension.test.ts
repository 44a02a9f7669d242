// Runs inside a real VS Code extension host (code-server, or desktop VS Code via @vscode/test-electron).
import * as assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import * as vscode from 'vscode';
import type { VerdantApi } from '../../../src/extension';
import { until } from '../../support/wait';
import { screenshot } from './screenshot';

const EXTENSION_ID = 'verdant-dev.verdant';

/** Native libraries mapped into this process (Linux), plus CommonJS modules of the inference packages. */
function loadedInferenceModules(): string[] {
  const pattern = /node-llama-cpp|@node-llama-cpp|onnxruntime|libllama|libggml/;
  const fromCache = Object.keys(require.cache).filter((f) => pattern.test(f));
  const maps =
    process.platform === 'linux' && existsSync('/proc/self/maps')
      ? readFileSync('/proc/self/maps', 'utf8')
          .split('\n')
          .map((l) => l.split(/\s+/)[5] ?? '')
          .filter((f) => pattern.test(f))
      : [];
  return [...new Set([...fromCache, ...maps])];
}

describe('Verdant in a real extension host', () => {
  let api: VerdantApi;
  const config = () => vscode.workspace.getConfiguration('verdant');

  before(async () => {
    const ext = vscode.extensions.getExtension<VerdantApi>(EXTENSION_ID);
    assert.ok(ext, `${EXTENSION_ID} is installed`);
    api = await ext.activate();
    console.log(
      `[verdant e2e] ${vscode.env.appName} ${vscode.version}, node ${process.versions.node}, ` +
        `remote ${vscode.env.remoteName ?? 'none'}, activate() took ${api.activationMs.toFixed(2)} ms`,
    );
    if (process.env.E2E_METRICS) {
      writeFileSync(process.env.E2E_METRICS, JSON.stringify({ activationMs: api.activationMs, vscode: vscode.version, appName: vscode.env.appName }));
    }
  });

  it('activates on startup and reports its version', () => {
    const ext = vscode.extensions.getExtension(EXTENSION_ID)!;
    assert.equal(ext.isActive, true);
    assert.equal(api.version, ext.packageJSON.version);
    assert.ok(api.activationMs > 0);
  });

  it('registers every command it contributes', async () => {
    const contributed: string[] = vscode.extensions
      .getExtension(EXTENSION_ID)!
      .packageJSON.contributes.commands.map((c: { command: string }) => c.command);
    const registered = new Set(await vscode.commands.getCommands(true));
    assert.ok(contributed.length >= 5);
    assert.deepEqual(
      contributed.filter((c) => !registered.has(c)),
      [],
    );
  });

  it("binds no key that VS Code's own default keybindings use (#22: Shift+Tab took outdent away)", async () => {
    await vscode.commands.executeCommand('workbench.action.openDefaultKeybindingsFile');
    const text = await until('the default keybindings', () => {
      const doc = vscode.window.activeTextEditor?.document;
      return doc && /keybindings/i.test(doc.uri.path) ? doc.getText() : undefined;
    });
    await vscode.commands.executeCommand('workbench.action.closeActiveEditor');
    const defaults = JSON.parse(text.replace(/^\s*\/\/.*$/gm, '')) as { key: string; command: string }[];
    const contributed = vscode.extensions.getExtension(EXTENSION_ID)!.packageJSON.contributes.keybindings as {
      key: string;
      mac?: string;
      command: string;
    }[];
    const mine = contributed.map((k) => ({ key: (process.platform === 'darwin' ? (k.mac ?? k.key) : k.key).toLowerCase(), command: k.command }));
    assert.ok(defaults.length > 100, `read ${defaults.length} default keybindings`);
    for (const { key, command } of mine) {
      // The file lists extensions' bindings too, ours among them.
      const taken = defaults.filter((d) => d.key.toLowerCase() === key && !d.command.startsWith('-') && d.command !== command);
      assert.deepEqual(
        taken.map((d) => d.command),
        [],
        `${key} is VS Code's own`,
      );
    }
  });

  it('loads no native inference module on activation', () => {
    assert.deepEqual(loadedInferenceModules(), []);
  });

  it('shows the status-bar item', () => {
    assert.equal(api.statusText(), '$(sparkle) Verdant: no model');
  });

  it('says once what to do first while no model is chosen, and the status bar says "no model" until one is (#22)', async () => {
    assert.equal(await api.firstStartHint, true, 'a fresh profile with no model gets the hint');
    await screenshot('first-start');
    await config().update('local.modelPath', '/models/qwen2.5-coder-1.5b-q8_0.gguf', vscode.ConfigurationTarget.Global);
    try {
      await until('the status bar without "no model"', () => api.statusText() === '$(sparkle) Verdant');
    } finally {
      await config().update('local.modelPath', undefined, vscode.ConfigurationTarget.Global);
    }
    await until('"no model" again', () => api.statusText() === '$(sparkle) Verdant: no model');
  });

  it('ignores workspace settings that try to redirect code or change what runs', () => {
    // test/fixtures/ws/.vscode/settings.json sets all of these; machine/application scope must make VS Code drop them.
    const c = config();
    assert.equal(c.get('cloud.enable'), false);
    assert.equal(c.get('cloud.endpoint'), '');
    assert.equal(c.get('local.modelPath'), '');
    assert.equal(c.get('local.gpu'), 'auto');
    assert.deepEqual([c.get('local.backend'), c.get('local.serverUrl'), c.get('local.serverModel')], ['llama.cpp', '', '']);
    assert.equal(c.get('routing.mode'), 'balanced', 'a repository cannot switch routing to cloud-only');
    assert.equal(c.get('routing.dailyBudgetGrams'), 0);
    assert.equal(c.inspect('cloud.endpoint')?.workspaceValue, undefined);
  });

  it('refuses to write a machine-scoped setting into the workspace', async () => {
    await assert.rejects(Promise.resolve(config().update('cloud.endpoint', 'https://attacker.example/v1', vscode.ConfigurationTarget.Workspace)));
    assert.equal(config().get('cloud.endpoint'), '');
  });

  it('turns off and on again with verdant.toggle, and the status bar follows', async () => {
    assert.equal(await vscode.commands.executeCommand('verdant.toggle'), false);
    await until('status off', () => api.statusText() === '$(circle-slash) Verdant');
    assert.equal(config().get('enable'), false);
    assert.equal(await vscode.commands.executeCommand('verdant.toggle'), true);
    await until('status on', () => api.statusText() === '$(sparkle) Verdant: no model');
  });

  it('warns in the status bar about an invalid setting and recovers when it is fixed', async () => {
    await config().update('local.threads', 1000, vscode.ConfigurationTarget.Global);
    try {
      await until('warning', () => api.statusText() === '$(warning) Verdant: no model');
      const view = await vscode.commands.executeCommand<{ lines: string[] }>('verdant.showStatus');
      assert.ok(
        view.lines.some((l) => /verdant\.local\.threads must be a whole number from 0 to 256, not 1000/.test(l)),
        view.lines.join('\n'),
      );
    } finally {
      await vscode.commands.executeCommand('workbench.action.closeQuickOpen');
      await config().update('local.threads', undefined, vscode.ConfigurationTarget.Global);
    }
    await until('recovered', () => api.statusText() === '$(sparkle) Verdant: no model');
  });

  it('opens its log and its settings', async () => {
    await vscode.commands.executeCommand('verdant.showLog');
    await vscode.commands.executeCommand('verdant.openSettings');
    // In code-server (a remote window) that is the Remote tab, where the machine-scoped settings are (#22).
    await screenshot('settings');
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });

  it('opens a workspace file (the fixture workspace is loaded)', async () => {
    const folder = vscode.workspace.workspaceFolders?.[0];
    assert.ok(folder);
    const doc = await vscode.workspace.openTextDocument(vscode.Uri.joinPath(folder.uri, 'sample.ts'));
    assert.match(doc.getText(), /fibonacci/);
  });
});
