// The extension's LocalEngine outside VS Code (it uses the vscode API only for types): the model's context size,
// which the router needs, comes with each answer, so knownContextTokens is set by a generate alone, without a status
// request to the engine worker (a real dist/engine-worker.js with the real model) or an info() request to a server.
import * as assert from 'node:assert/strict';
import type * as vscode from 'vscode';
import type { Config } from '../../src/config';
import { DEFAULT_SETTINGS, type LocalSettings, type PlannerSettings } from '../../src/core/settings';
import { EngineClient } from '../../src/engine/client';
import * as engineHttp from '../../src/engine/httpEntry';
import { LocalEngine } from '../../src/vscode/localEngine';
import { LILY, WORKER, workerFixture } from '../support/engineWorkers';
import { FakeServer } from '../support/fakeServer';
import { sendJson, streamBody } from '../support/streaming';

const log = { info: () => {}, warn: () => {} } as unknown as vscode.LogOutputChannel;

function localEngine(stateDir: string, local: Partial<LocalSettings>, planner: Partial<PlannerSettings> = {}): LocalEngine {
  const settings = {
    local: { backend: 'llama.cpp', modelPath: '', gpu: 'cpu', threads: 1, serverUrl: '', serverModel: '', ...local },
    planner: { ...DEFAULT_SETTINGS.planner, ...planner },
  };
  return new LocalEngine({
    config: { settings } as unknown as Config,
    log,
    stateDir,
    workerScript: WORKER,
    clientName: 'local-engine test',
    engineHttp: () => engineHttp,
  });
}

describe('LocalEngine learns the context size from answers', function () {
  this.timeout(180_000);
  const w = workerFixture('verdant-local-engine-');
  let engine: LocalEngine | undefined;
  let statusRequests = 0;
  const status = EngineClient.prototype.status;

  before(async () => {
    await w.load();
    EngineClient.prototype.status = function (this: EngineClient) {
      statusRequests++;
      return status.call(this);
    };
  });
  after(() => {
    EngineClient.prototype.status = status;
  });
  beforeEach(() => {
    w.fresh();
    statusRequests = 0;
  });
  afterEach(async () => {
    engine?.dispose();
    engine = undefined;
    await w.cleanup();
  });

  it('llama.cpp: set by the first generate, with no status request to the worker', async () => {
    engine = localEngine(w.stateDir, { backend: 'llama.cpp', modelPath: w.models.base });
    assert.equal(engine.knownContextTokens('completion'), null);
    const r = await engine.generate({ kind: 'completion', prompt: LILY, maxTokens: 4 });
    assert.equal(statusRequests, 0);
    assert.ok(typeof r.contextTokens === 'number' && r.contextTokens > 0, String(r.contextTokens));
    assert.equal(engine.knownContextTokens('completion'), r.contextTokens);
    // The worker's own account of the loaded model agrees (asked only now, after the assertions above).
    const report = await engine.report();
    assert.equal(statusRequests, 1);
    assert.equal(report.worker?.models[0]?.contextSize, r.contextTokens);
  });

  it('a server backend: what its answer or an earlier info() said, and nothing asked for it', async () => {
    let settings: Record<string, unknown> = { n_predict: 4 };
    const server = await FakeServer.start({
      'POST /completion': (_s, res) =>
        streamBody(res, 'text/event-stream', [
          `data: ${JSON.stringify({ content: 'b', stop: false })}\n\n`,
          `data: ${JSON.stringify({ content: '', stop: true, stop_type: 'eos', generation_settings: settings })}\n\n`,
        ]),
      'GET /health': (_s, res) => sendJson(res, 200, { status: 'ok' }),
      'GET /props': (_s, res) => sendJson(res, 200, { default_generation_settings: { n_ctx: 4096 }, model_path: '/m/qwen.gguf' }),
    });
    try {
      engine = localEngine(w.stateDir, { backend: 'llama-server', serverUrl: server.url });
      const request = { kind: 'completion', prompt: 'a', maxTokens: 4 } as const;
      await engine.generate(request);
      assert.equal(engine.knownContextTokens('completion'), null, 'the server has not said');
      settings = { n_ctx: 8192, n_predict: 4 };
      await engine.generate(request);
      assert.equal(engine.knownContextTokens('completion'), 8192);
      assert.deepEqual(
        server.seen.map((s) => s.path),
        ['/completion', '/completion'],
      );
      await engine.load(); // info(): /health and /props
      assert.equal(engine.knownContextTokens('completion'), 4096);
      settings = { n_predict: 4 };
      assert.equal((await engine.generate(request)).contextTokens, 4096);
      assert.equal(engine.knownContextTokens('completion'), 4096);
      assert.equal(statusRequests, 0);
    } finally {
      engine?.dispose();
      await server.close();
    }
  });
  it('runs each role on its own model: the planner on a local server, completions on the worker (#21)', async () => {
    const server = await FakeServer.start({
      'POST /completion': (_s, res) =>
        streamBody(res, 'text/event-stream', [
          `data: ${JSON.stringify({ content: ' planned', stop: false })}\n\n`,
          `data: ${JSON.stringify({ content: '', stop: true, stop_type: 'eos', generation_settings: { n_ctx: 8192, n_predict: 4 } })}\n\n`,
        ]),
    });
    try {
      engine = localEngine(w.stateDir, { backend: 'llama.cpp', modelPath: w.models.fim }, { backend: 'llama-server', serverUrl: server.url });
      const request = { kind: 'completion', prompt: LILY, maxTokens: 4 } as const;
      const planned = await engine.generate(request, {}, 'planner');
      assert.equal(planned.text, ' planned');
      assert.equal(planned.backend, 'llama-server');
      const completed = await engine.generate(request, {}, 'completion');
      assert.equal(completed.model, 'stories260K-fim.gguf');
      assert.equal(server.seen.length, 1, "the completion did not go to the planner's server");
      assert.equal(engine.knownContextTokens('planner'), 8192);
      assert.equal(engine.knownContextTokens('completion'), completed.contextTokens);
      const report = await engine.report();
      assert.deepEqual(
        report.roles.map((r) => [r.assignment.role, r.assignment.servedBy]),
        [
          ['completion', 'completion'],
          ['planner', 'planner'],
        ],
      );
      assert.equal(report.roles[0]!.info?.model, 'stories260K-fim.gguf');
    } finally {
      engine?.dispose();
      await server.close();
    }
  });
});
