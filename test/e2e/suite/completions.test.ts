// Inline completions in a real VS Code extension host, with the real engine (shared worker) and the FIM test model.
import * as assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { VerdantApi } from '../../../src/extension';
import { makeFimVariant } from '../../support/ggufRewrite';
import { resolveTestModel } from '../../support/testModel';
import { sleep, until } from '../../support/wait';

const STORY = 'Once upon a time, there was a little girl named Lily.';

describe('inline completions in VS Code (real engine, FIM model)', function () {
  this.timeout(180_000);
  let api: VerdantApi;
  const config = () => vscode.workspace.getConfiguration('verdant');
  const stats = () => api.completions.pipeline.stats;

  async function openAtEnd(text: string): Promise<vscode.TextEditor> {
    const doc = await vscode.workspace.openTextDocument({ content: text, language: 'plaintext' });
    const editor = await vscode.window.showTextDocument(doc, { preserveFocus: false });
    // Typing goes to the focused widget, and inline suggestions only trigger in a focused editor.
    await vscode.commands.executeCommand('workbench.action.focusActiveEditorGroup');
    await until('the editor focused', () => vscode.window.activeTextEditor?.document === doc);
    const end = doc.positionAt(text.length);
    editor.selection = new vscode.Selection(end, end);
    return editor;
  }

  async function typeAndWaitForSuggestion(text: string): Promise<NonNullable<typeof api.completions.pipeline.lastSuggestion>> {
    const shown = stats().shown;
    const doc = vscode.window.activeTextEditor!.document;
    const before = doc.getText();
    for (const ch of text) await vscode.commands.executeCommand('type', { text: ch });
    assert.equal(doc.getText(), before + text, 'the keystrokes reached the editor');
    return until(
      () => `a suggestion (pipeline ${JSON.stringify(stats())})`,
      () => stats().shown > shown && api.completions.pipeline.lastSuggestion,
    );
  }

  before(async () => {
    api = await vscode.extensions.getExtension<VerdantApi>('verdant-dev.verdant')!.activate();
    const base = await resolveTestModel({ cwd: process.env.E2E_REPO_ROOT ?? process.cwd() });
    const fim = path.join(mkdtempSync(path.join(os.tmpdir(), 'verdant-e2e-fim-')), 'stories260K-fim.gguf');
    await makeFimVariant(base, fim);
    await config().update('local.modelPath', fim, vscode.ConfigurationTarget.Global);
    await config().update('local.gpu', 'cpu', vscode.ConfigurationTarget.Global);
    await config().update('local.threads', 1, vscode.ConfigurationTarget.Global);
    await api.engine.load();
    // Right after start-up the workbench may not yet route keystrokes to inline-suggestion providers: wait until a
    // keystroke reaches ours before measuring anything.
    await openAtEnd('warming up the workbench');
    await until(
      'the workbench to ask Verdant for inline completions',
      async () => {
        await vscode.commands.executeCommand('type', { text: ' ' });
        return stats().requests > 0;
      },
      60_000,
      250,
    );
    await vscode.commands.executeCommand('workbench.action.revertAndCloseActiveEditor');
  });

  after(async () => {
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    await api.engine.stopWorker();
    for (const key of ['local.modelPath', 'local.gpu', 'local.threads']) await config().update(key, undefined, vscode.ConfigurationTarget.Global);
  });

  it('shows ghost text after typing, and Tab (commit) inserts it', async () => {
    const editor = await openAtEnd(STORY);
    const suggestion = await typeAndWaitForSuggestion(' She');
    assert.equal(suggestion.source, 'engine');
    assert.ok(suggestion.text.trim().length > 0);
    // The workbench renders the ghost text a moment after the provider answers; Tab (commit) then inserts it.
    const expected = `${STORY} She${suggestion.text}`;
    await until(
      () => `Tab to insert the suggestion (the text is ${JSON.stringify(editor.document.getText().slice(-40))})`,
      async () => {
        await vscode.commands.executeCommand('editor.action.inlineSuggest.commit');
        return editor.document.getText() === expected;
      },
      60_000,
      100,
    );
    assert.ok(stats().accepted >= 1, 'the accept command reached the pipeline');
  });

  it('serves typing-through from the cache without calling the engine', async () => {
    await openAtEnd(`${STORY} One day,`);
    const first = await typeAndWaitForSuggestion(' she');
    assert.ok(first.text.length >= 3, `suggestion "${first.text}"`);
    const engineCalls = stats().engineCalls;
    // VS Code keeps the ghost text itself while the typed characters match it; once it has dropped the suggestion
    // (here: hidden), the next keystroke asks the provider, and the pipeline walks back to the cached one.
    await vscode.commands.executeCommand('type', { text: first.text[0] });
    await vscode.commands.executeCommand('editor.action.inlineSuggest.hide');
    const next = await typeAndWaitForSuggestion(first.text[1]!);
    assert.equal(next.source, 'typing-through');
    assert.equal(next.text, first.text.slice(2));
    assert.equal(stats().engineCalls, engineCalls, 'no engine call while typing through');
  });

  /**
   * A local server (llama-server's API on 127.0.0.1) that takes each completion request and never answers, set as
   * the local backend for `body`: a request is still running whenever the test looks, however fast or slow this
   * machine is, and only a cancel ends it.
   */
  async function withHangingServer(body: (server: { received: () => number; closed: () => number }) => Promise<void>): Promise<void> {
    let received = 0;
    let closed = 0;
    const server = http.createServer((req, res) => {
      if (req.method === 'GET') {
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(req.url === '/props' ? JSON.stringify({ model_path: 'stories260K-fim.gguf' }) : '{"status":"ok"}');
        return;
      }
      received++;
      res.on('close', () => {
        closed++;
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const G = vscode.ConfigurationTarget.Global;
    await config().update('local.backend', 'llama-server', G);
    await config().update('local.serverUrl', `http://127.0.0.1:${(server.address() as AddressInfo).port}`, G);
    try {
      await body({ received: () => received, closed: () => closed });
    } finally {
      for (const key of ['local.backend', 'local.serverUrl']) await config().update(key, undefined, G);
      server.closeAllConnections();
      server.close();
    }
  }

  it('cancels a request the user has typed away from', async () => {
    await withHangingServer(async (server) => {
      await openAtEnd(`${STORY} She saw a red ball.\n`);
      const stale = stats().staleCancelled;
      await vscode.commands.executeCommand('type', { text: ' ' });
      await until('the request to reach the server', () => server.received() > 0);
      // The request is still running (the server never answers): the status bar shows the engine at work (#22).
      await until('the status bar to show the engine busy', () => api.statusText().startsWith('$(loading~spin) Verdant'));
      await vscode.commands.executeCommand('deleteLeft');
      await until('the stale request cancelled', () => stats().staleCancelled > stale);
      await until('the server to see the cancelled request go', () => server.closed() > 0);
      await until('the busy state to end with the request', () => !api.statusText().startsWith('$(loading~spin)'));
    });
  });

  it('stands aside while the suggest widget is open: the running request ends when it opens, and typing in it asks the engine nothing (#22)', async () => {
    // The suggest widget's items come from a provider the test owns: the widget opens on request, whatever
    // language servers this VS Code has.
    const words = vscode.languages.registerCompletionItemProvider('plaintext', {
      provideCompletionItems: () => ['apple', 'apricot', 'avocado'].map((w) => new vscode.CompletionItem(w, vscode.CompletionItemKind.Text)),
    });
    try {
      await withHangingServer(async (server) => {
        await openAtEnd(`${STORY} She ate an`);
        await vscode.commands.executeCommand('type', { text: ' ' });
        await until('the request to reach the server', () => server.received() > 0);
        const yields = stats().suggestWidgetYields;
        await vscode.commands.executeCommand('editor.action.triggerSuggest');
        // VS Code asks inline providers again once the widget shows an item (selectedCompletionInfo): that ask
        // cancels the running request there and then.
        await until('the provider to stand aside for the open suggest widget', () => stats().suggestWidgetYields > yields);
        await until('the server to see the running request go', () => server.closed() > 0);
        const before = { requests: stats().requests, engineCalls: stats().engineCalls, received: server.received() };
        // Typing filters the open widget (apple, apricot stay listed); each keystroke asks the provider, which stands
        // aside each time instead of asking the engine.
        for (const ch of 'ap') {
          const asked = stats().suggestWidgetYields;
          await vscode.commands.executeCommand('type', { text: ch });
          await until(`the provider asked again after '${ch}' with the widget open`, () => stats().suggestWidgetYields > asked);
        }
        assert.deepEqual(
          { requests: stats().requests, engineCalls: stats().engineCalls, received: server.received() },
          before,
          'no completion request and no engine call while the suggest widget is open',
        );
        await vscode.commands.executeCommand('hideSuggestWidget');
      });
    } finally {
      words.dispose();
    }
  });

  it('records each completion in the carbon ledger, with the all-cloud baseline', async () => {
    await config().update('carbon.zone', 'FR', vscode.ConfigurationTarget.Global);
    try {
      await openAtEnd(`${STORY} Her mom`);
      const before = (await api.carbon.ledger.read()).records.length;
      await typeAndWaitForSuggestion(' said');
      await api.carbon.flushed();
      const { records, problems } = await api.carbon.ledger.read();
      assert.deepEqual(problems, []);
      // The completion's record; an idle warm-up may have appended one of its own meanwhile.
      const r = records
        .slice(before)
        .filter((x) => x.feature === 'inline-completion')
        .pop();
      assert.ok(r, 'a record was appended');
      assert.equal(r.route, 'local');
      assert.equal(r.feature, 'inline-completion');
      assert.equal(r.model, 'stories260K-fim.gguf');
      assert.deepEqual([r.intensity.zone, r.intensity.source, r.intensity.gPerKWh], ['FR', 'embedded', 44.18]);
      assert.ok(r.sciG > 0 && r.energy.kWh > 0 && r.rangeG[0] <= r.sciG && r.sciG <= r.rangeG[1]);
      assert.equal(r.baseline.model, 'llama-3.3-70b-instruct');
      assert.ok(Math.abs(r.savedG - (r.baseline.sciG - r.sciG)) < 1e-12);
    } finally {
      await config().update('carbon.zone', undefined, vscode.ConfigurationTarget.Global);
    }
  });

  it('runs palette tasks on the planner model while ghost text comes from the completion model; without a planner, on the completion model (#21)', async () => {
    const G = vscode.ConfigurationTarget.Global;
    const base = await resolveTestModel({ cwd: process.env.E2E_REPO_ROOT ?? process.cwd() });
    await config().update('planner.modelPath', base, G);
    await config().update('planner.gpu', 'cpu', G);
    const status = () =>
      vscode.commands.executeCommand<{ lines: string[]; worker: { models: { modelPath: string }[] } | null }>('verdant.showEngineStatus');
    try {
      // A text no earlier test typed, so the suggestion comes from the engine, not the suggestion cache.
      await openAtEnd('One day, a little boy named Tim went to the park.');
      const seen = api.usage.recent().length;
      await typeAndWaitForSuggestion(' He');
      const ghost = api.usage
        .recent()
        .slice(seen)
        .filter((r) => r.feature === 'inline-completion')
        .pop();
      assert.equal(ghost?.model, 'stories260K-fim.gguf', 'ghost text from the completion model');
      const task = await vscode.commands.executeCommand<{ route: string; model: string }>('verdant.summarizeFile');
      assert.deepEqual([task.route, task.model], ['local', 'stories260K.gguf'], 'the palette task on the planner model');
      const both = await status();
      assert.ok(both.lines.includes('Completion model: stories260K-fim.gguf'), both.lines.join('\n'));
      assert.ok(both.lines.includes('Planner model: stories260K.gguf'), both.lines.join('\n'));
      assert.deepEqual(
        both.worker?.models.map((m) => path.basename(m.modelPath)).sort(),
        ['stories260K-fim.gguf', 'stories260K.gguf'],
        'the shared worker holds both (memory allows)',
      );
      assert.equal(
        both.lines.filter((l) => /^ {2}memory about [\d.]+ GiB \(weights and cache\), loaded in/.test(l)).length,
        2,
        both.lines.join('\n'),
      );

      await config().update('planner.modelPath', undefined, G);
      const one = await status();
      assert.ok(one.lines.includes('Planner model: none; tasks and plans run on the completion model (stories260K-fim.gguf)'), one.lines.join('\n'));
      const again = await vscode.commands.executeCommand<{ route: string; model: string }>('verdant.summarizeFile');
      assert.deepEqual([again.route, again.model], ['local', 'stories260K-fim.gguf'], 'where the status said');
    } finally {
      await vscode.commands.executeCommand('workbench.action.closeAllEditors');
      for (const key of ['planner.modelPath', 'planner.gpu']) await config().update(key, undefined, G);
    }
  });

  it('stays quiet in a language turned off in the settings', async () => {
    await config().update('completions.disabledLanguages', ['plaintext'], vscode.ConfigurationTarget.Global);
    try {
      await openAtEnd(STORY);
      const requests = stats().requests;
      await vscode.commands.executeCommand('type', { text: ' She' });
      await vscode.commands.executeCommand('editor.action.inlineSuggest.trigger');
      await sleep(500);
      assert.equal(stats().requests, requests);
    } finally {
      await config().update('completions.disabledLanguages', undefined, vscode.ConfigurationTarget.Global);
    }
  });
});
