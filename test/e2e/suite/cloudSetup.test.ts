// Configure Cloud Endpoint driven as a user drives it (the runner answers its quick picks and input boxes and clicks
// its notification buttons in the real page), against OpenAI-compatible endpoints on 127.0.0.1 (#22 item 5).
import * as assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as vscode from 'vscode';
import type { VerdantApi } from '../../../src/extension';
import { takeUiSteps, type UiStep } from './screenshot';

const PRESET = 'Verdant: Configure Cloud Endpoint';
const SELF_HOSTED = 'Self-hosted OpenAI-compatible (vLLM, llama-server, …)';
const EARLIER = { endpoint: 'https://api.scaleway.ai/v1', model: 'qwen3-32b', key: 'earlier-key' };

interface Endpoint {
  readonly url: string;
  /** The Authorization header of each request. */
  readonly auth: string[];
  close(): void;
}

/** An endpoint that answers /models with `model` (up), or 503 to everything (down). */
async function endpoint(up: boolean, model = 'llama-3.3-70b-instruct'): Promise<Endpoint> {
  const auth: string[] = [];
  const server = http.createServer((req, res) => {
    auth.push(req.headers.authorization ?? '');
    req.resume();
    if (!up) return void res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":{"message":"down for maintenance"}}');
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ object: 'list', data: [{ id: model, object: 'model' }] }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, auth, close: () => server.close() };
}

/** The steps up to the connection test: the self-hosted preset at `url`, a model the catalogue knows, and `key` ('' keeps the stored one). */
const setUp = (url: string, key: string): UiStep[] => [
  { title: PRESET, type: 'Self-hosted' },
  { title: `${SELF_HOSTED}: base URL`, type: url },
  { title: 'Model name at the endpoint', type: 'llama-3.3-70b-instruct' },
  { title: `${SELF_HOSTED}: API key`, type: key },
];

describe('Configure Cloud Endpoint, as a user answers it (#22)', function () {
  this.timeout(180_000);
  const config = () => vscode.workspace.getConfiguration('verdant');
  const G = vscode.ConfigurationTarget.Global;
  const saved = () => ({ endpoint: config().get('cloud.endpoint'), model: config().get('cloud.model'), enable: config().get('cloud.enable') });
  const servers: Endpoint[] = [];

  before(async function () {
    if (!process.env.E2E_SHOTS) this.skip(); // no browser page to answer the prompts (under @vscode/test-electron)
    await vscode.extensions.getExtension<VerdantApi>('verdant-dev.verdant')!.activate();
  });

  beforeEach(async () => {
    await config().update('cloud.endpoint', EARLIER.endpoint, G);
    await config().update('cloud.model', EARLIER.model, G);
    await vscode.commands.executeCommand('verdant.setCloudApiKey', EARLIER.key);
  });

  afterEach(async () => {
    for (const s of servers.splice(0)) s.close();
    for (const key of ['cloud.endpoint', 'cloud.model', 'cloud.enable']) await config().update(key, undefined, G);
    await vscode.commands.executeCommand('verdant.clearCloudApiKey');
  });

  /** Runs the command while the runner takes `steps`; the command's own answer (whether the cloud was enabled). */
  async function configure(steps: UiStep[]): Promise<unknown> {
    const done = vscode.commands.executeCommand<boolean>('verdant.configureCloudEndpoint');
    await takeUiSteps(steps);
    return done;
  }

  it('Discard on a setup whose test failed puts the earlier endpoint, model and key back', async () => {
    const down = await endpoint(false);
    servers.push(down);
    assert.equal(await configure([...setUp(down.url, 'new-key'), { button: 'Discard' }]), false);
    assert.deepEqual(down.auth.slice(0, 1), ['Bearer new-key'], 'the test ran with the key just entered');
    assert.deepEqual(saved(), { endpoint: EARLIER.endpoint, model: EARLIER.model, enable: false });
    // The earlier key is back: a setup that keeps the stored key sends it.
    const up = await endpoint(true);
    servers.push(up);
    await configure([...setUp(up.url, ''), { button: 'Not now' }]);
    assert.deepEqual(up.auth, [`Bearer ${EARLIER.key}`]);
  });

  it('Keep Anyway saves the endpoint that did not answer, and leaves the cloud off', async () => {
    const down = await endpoint(false);
    servers.push(down);
    assert.equal(await configure([...setUp(down.url, 'new-key'), { button: 'Keep Anyway' }]), false);
    assert.deepEqual(saved(), { endpoint: down.url, model: 'llama-3.3-70b-instruct', enable: false });
  });

  it('Edit starts over from the earlier settings; the second setup answers and Enable turns the cloud on', async () => {
    const down = await endpoint(false);
    const up = await endpoint(true);
    servers.push(down, up);
    const enabled = await configure([...setUp(down.url, 'typo-key'), { button: 'Edit' }, ...setUp(up.url, ''), { button: 'Enable' }]);
    assert.equal(enabled, true);
    assert.deepEqual(up.auth, [`Bearer ${EARLIER.key}`], 'Edit put the earlier key back before starting over');
    assert.deepEqual(saved(), { endpoint: up.url, model: 'llama-3.3-70b-instruct', enable: true });
  });
});
