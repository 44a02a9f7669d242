// The local engine from a real extension host: the window starts the shared worker process, streams a completion
// from the real model, and still has no native module loaded in its own process.
import * as assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import * as vscode from 'vscode';
import type { VerdantApi } from '../../../src/extension';
import { resolveTestModel } from '../../support/testModel';

const LILY = 'Once upon a time, there was a little girl named Lily. She';

function nativeInferenceLibrariesInThisProcess(): string[] {
  if (process.platform !== 'linux' || !existsSync('/proc/self/maps')) return [];
  return readFileSync('/proc/self/maps', 'utf8')
    .split('\n')
    .map((l) => l.split(/\s+/)[5] ?? '')
    .filter((f) => /libllama|libggml|llama-addon|onnxruntime/.test(f));
}

describe('local engine from the extension host', function () {
  this.timeout(180_000);
  let api: VerdantApi;
  const config = () => vscode.workspace.getConfiguration('verdant');

  before(async () => {
    api = await vscode.extensions.getExtension<VerdantApi>('verdant-dev.verdant')!.activate();
    const model = await resolveTestModel({ cwd: process.env.E2E_REPO_ROOT ?? process.cwd() });
    await config().update('local.modelPath', model, vscode.ConfigurationTarget.Global);
    await config().update('local.gpu', 'cpu', vscode.ConfigurationTarget.Global);
    await config().update('local.threads', 1, vscode.ConfigurationTarget.Global);
  });

  after(async () => {
    await api.engine.stopWorker();
    for (const key of ['local.modelPath', 'local.gpu', 'local.threads']) await config().update(key, undefined, vscode.ConfigurationTarget.Global);
  });

  it('reports that the model is not loaded before first use', async () => {
    const report = await vscode.commands.executeCommand<{ info: unknown; worker: { clients: number } | null }>('verdant.showEngineStatus');
    assert.equal(report.info, null);
    assert.ok(report.worker && report.worker.clients >= 1, 'the status request started the shared worker');
  });

  it('streams a completion from the worker process', async () => {
    let streamed = '';
    const r = await api.engine.generate(
      { kind: 'completion', prompt: LILY, maxTokens: 12 },
      {
        onText: (t) => {
          streamed += t;
        },
      },
    );
    assert.match(r.text, /^ loved to play outside/);
    assert.equal(streamed, r.text);
    assert.equal(r.backend, 'llama.cpp (cpu)');
  });

  it('shows the loaded model in the engine status', async () => {
    const report = await vscode.commands.executeCommand<{ info: { backend: string; threads: number; model: string }; worker: { pid: number } }>(
      'verdant.showEngineStatus',
    );
    assert.equal(report.info.backend, 'llama.cpp (cpu)');
    assert.equal(report.info.threads, 1);
    assert.equal(report.info.model, 'stories260K.gguf');
    assert.notEqual(report.worker.pid, process.pid, 'inference runs in another process');
  });

  it('keeps native inference code out of the extension host process', () => {
    assert.deepEqual(nativeInferenceLibrariesInThisProcess(), []);
  });

  it('says clearly when no model is chosen', async () => {
    await config().update('local.modelPath', undefined, vscode.ConfigurationTarget.Global);
    await assert.rejects(api.engine.generate({ kind: 'completion', prompt: 'x', maxTokens: 1 }), /Select Local Model/);
  });
});
