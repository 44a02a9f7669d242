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
    const report = await vscode.commands.executeCommand<{ info: unknown; worker: { clients: number } | null; lines: string[] }>(
      'verdant.showEngineStatus',
    );
    assert.equal(report.info, null);
    assert.ok(report.worker && report.worker.clients >= 1, 'the status request started the shared worker');
    assert.ok(report.lines.includes('Runs on: no language model loaded yet; the router on the CPU'), report.lines.join('\n'));
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

  it('shows the loaded model in the engine status, and what the NPU does', async () => {
    const report = await vscode.commands.executeCommand<{
      info: { backend: string; threads: number; model: string };
      worker: { pid: number };
      npu: { generation: string };
      lines: string[];
    }>('verdant.showEngineStatus');
    assert.equal(report.info.backend, 'llama.cpp (cpu)');
    assert.equal(report.info.threads, 1);
    assert.equal(report.info.model, 'stories260K.gguf');
    assert.notEqual(report.worker.pid, process.pid, 'inference runs in another process');
    // Whatever NPU this machine has, Verdant's own engine does not run on it, and the dialog says so.
    const npuLine = report.lines.find((l) => l.startsWith('NPU: '));
    assert.ok(npuLine, `an NPU line among:\n${report.lines.join('\n')}`);
    assert.ok(['xdna1', 'xdna2', 'intel', 'none', 'unknown'].includes(report.npu.generation), report.npu.generation);
    assert.doesNotMatch(npuLine, /\bin use\b/);
    assert.ok(report.lines.includes('Runs on: the language model on the CPU; the router on the CPU'), report.lines.join('\n'));
  });

  it('keeps native inference code out of the extension host process', () => {
    assert.deepEqual(nativeInferenceLibrariesInThisProcess(), []);
  });

  it('says clearly when no model is chosen', async () => {
    await config().update('local.modelPath', undefined, vscode.ConfigurationTarget.Global);
    await assert.rejects(api.engine.generate({ kind: 'completion', prompt: 'x', maxTokens: 1 }), /Select Local Model/);
  });
});
