// An OpenAI-compatible chat endpoint on 127.0.0.1 standing in for the green cloud in the e2e suites: it records
// every request body and answers (non-streaming) with whatever `answer` makes of the prompt, plus usage figures.
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as vscode from 'vscode';
import { resolveTestModel } from '../../support/testModel';

export interface CloudStandIn {
  /** Base URL for verdant.cloud.endpoint. */
  readonly url: string;
  /** Every request body, in order. */
  readonly requests: string[];
  close(): void;
}

export async function startCloudStandIn(answer: (prompt: string) => string): Promise<CloudStandIn> {
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => {
      body += d;
    });
    req.on('end', () => {
      requests.push(body);
      const prompt = (JSON.parse(body) as { messages: { content: string }[] }).messages.map((m) => m.content).join('\n');
      const content = answer(prompt);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          model: 'llama-3.3-70b-instruct',
          choices: [{ message: { role: 'assistant', content }, finish_reason: 'stop' }],
          usage: { prompt_tokens: Math.ceil(prompt.length / 4), completion_tokens: Math.ceil(content.length / 4) },
        }),
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, requests, close: () => server.close() };
}

const SETTINGS = ['cloud.enable', 'cloud.endpoint', 'cloud.model', 'local.modelPath', 'local.gpu', 'local.threads'];

/**
 * The usual hybrid setup: this stand-in as the consented cloud endpoint (with a key in secret storage) and the real
 * test model on one CPU thread as the local model. `teardownHybrid` puts everything back.
 */
export async function setUpHybrid(cloud: CloudStandIn, consent: { set(v: 'granted' | 'unknown'): Thenable<void> | Promise<void> }): Promise<void> {
  const config = vscode.workspace.getConfiguration('verdant');
  const G = vscode.ConfigurationTarget.Global;
  await config.update('cloud.enable', true, G);
  await config.update('cloud.endpoint', cloud.url, G);
  await config.update('cloud.model', 'llama-3.3-70b-instruct', G);
  await vscode.commands.executeCommand('verdant.setCloudApiKey', 'test-key');
  await consent.set('granted');
  await config.update('local.modelPath', await resolveTestModel({ cwd: process.env.E2E_REPO_ROOT ?? process.cwd() }), G);
  await config.update('local.gpu', 'cpu', G);
  await config.update('local.threads', 1, G);
}

export async function teardownHybrid(
  cloud: CloudStandIn,
  consent: { set(v: 'granted' | 'unknown'): Thenable<void> | Promise<void> },
  more: readonly string[] = [],
): Promise<void> {
  cloud.close();
  await consent.set('unknown');
  const config = vscode.workspace.getConfiguration('verdant');
  for (const key of [...SETTINGS, ...more]) await config.update(key, undefined, vscode.ConfigurationTarget.Global);
  await vscode.commands.executeCommand('verdant.clearCloudApiKey');
  await vscode.commands.executeCommand('workbench.action.closeAllEditors');
}
