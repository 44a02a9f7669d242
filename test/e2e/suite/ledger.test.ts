// The ledger invariant in a real VS Code: every request that runs inference writes exactly one ledger record per
// attempt, and the result shown names that record's grams: a chat-provider request (local and cloud), palette tasks
// on either route, and a deferred job. (A refactor's plan and steps: test/e2e/suite/refactor.test.ts, the same check
// on its result's recordIds and grams.)
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import type { VerdantApi } from '../../../src/extension';
import type { SciRecord } from '../../../src/core/carbon/types';
import { workspaceIdentity } from '../../../src/vscode/scheduler';
import { until } from '../../support/wait';
import { setUpHybrid, startCloudStandIn, teardownHybrid, type CloudStandIn } from './cloudStandIn';

type Outcome = { route: string; grams?: number; recordIds: readonly string[] };

describe("ledger: one record per attempt, and the grams shown are that record's", function () {
  this.timeout(180_000);
  let api: VerdantApi;
  let cloud: CloudStandIn;
  const G = vscode.ConfigurationTarget.Global;
  const mode = (m: string) => vscode.workspace.getConfiguration('verdant').update('routing.mode', m, G);

  /** Runs `work` and returns its outcome with the records written meanwhile (warm-ups and completions aside). */
  async function recording<T>(work: () => Thenable<T> | Promise<T>): Promise<{ outcome: T; records: SciRecord[] }> {
    const records: SciRecord[] = [];
    const sub = api.carbon.onDidRecord((r) => {
      if (r.feature !== 'warm-up' && r.feature !== 'inline-completion') records.push(r);
    });
    try {
      const outcome = await work();
      await api.carbon.flushed();
      return { outcome, records };
    } finally {
      sub.dispose();
    }
  }

  function assertOneRecord(what: string, outcome: Outcome, records: SciRecord[], route: string, feature: string): void {
    assert.equal(records.length, 1, `${what}: ${records.map((r) => `${r.route}/${r.feature}`).join(', ')}`);
    const [record] = records;
    assert.ok(record);
    assert.deepEqual(outcome.recordIds, [record.id], `${what}: the result names its record`);
    assert.equal(record.route, route, what);
    assert.equal(record.feature, feature, what);
    assert.equal(outcome.grams, record.sciG, `${what}: the grams shown are the record's`);
    assert.ok(record.sciG > 0, `${what}: ${record.sciG} g`);
  }

  before(async () => {
    api = await vscode.extensions.getExtension<VerdantApi>('verdant-dev.verdant')!.activate();
    cloud = await startCloudStandIn(() => 'Here is an answer.');
    await setUpHybrid(cloud, api.consent);
  });
  after(async () => {
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    await teardownHybrid(cloud, api.consent, ['routing.mode', 'cloud.zone']);
  });

  it('a chat-provider request on either model', async () => {
    const messages = [vscode.LanguageModelChatMessage.User('Once upon a time')];
    let streamed = '';
    const local = await recording(() =>
      api.chat(
        'local',
        messages,
        (t) => {
          streamed += t;
        },
        new AbortController().signal,
      ),
    );
    assertOneRecord('chat, local', local.outcome, local.records, 'local', 'chat');
    assert.equal(streamed, local.outcome.text, 'the answer streamed into the chat');
    const sent = cloud.requests.length;
    // A self-hosted endpoint declared in Sweden: the record is at Sweden's grid, as the router's estimate is.
    await vscode.workspace.getConfiguration('verdant').update('cloud.zone', 'SE', G);
    const remote = await recording(() => api.chat('cloud', messages, () => undefined, new AbortController().signal));
    assertOneRecord('chat, cloud', remote.outcome, remote.records, 'cloud', 'chat');
    assert.equal(remote.records[0]!.intensity.zone, 'SE');
    const cloudGrams = async () =>
      (await api.router.route({ kind: 'ask', promptTokens: 400, files: 0, selectionChars: 0, consent: 'granted' })).decision.options.find(
        (o) => o.route === 'cloud',
      )?.gCO2e ?? NaN;
    const atSweden = await cloudGrams();
    await vscode.workspace.getConfiguration('verdant').update('cloud.zone', 'WORLD', G);
    const atWorld = await cloudGrams();
    assert.ok(atSweden < atWorld / 2, `the router prices the cloud at the endpoint's zone too (${atSweden} g at SE, ${atWorld} g at WORLD)`);
    assert.equal(cloud.requests.length, sent + 1);
    assert.ok(
      api.tasks.lastCloudRequest?.messages.some((m) => m.content === 'Once upon a time'),
      'Show Last Cloud Request has it',
    );
  });

  it('a palette task on the local route and on the cloud route', async () => {
    await vscode.window.showTextDocument(
      await vscode.workspace.openTextDocument({ content: 'export const add = (a: number, b: number) => a + b;\n', language: 'typescript' }),
    );
    await mode('local-only');
    const local = await recording(() => vscode.commands.executeCommand<Outcome>('verdant.summarizeFile'));
    assertOneRecord('summarize, local', local.outcome, local.records, 'local', 'task');
    await mode('cloud-only');
    const remote = await recording(() => vscode.commands.executeCommand<Outcome>('verdant.summarizeFile'));
    assertOneRecord('summarize, cloud', remote.outcome, remote.records, 'cloud', 'summarize');
  });

  it('a deferred job when it runs', async () => {
    await mode('cloud-only');
    const ctx = { languageId: 'typescript', filePath: 'src/add.ts', code: 'export const add = (a: number, b: number) => a + b;\n' };
    const now = Date.now();
    const job = await api.jobs.queue.add(
      {
        kind: 'task',
        task: 'summarize',
        payload: ctx,
        label: 'summarize src/add.ts',
        origin: { workspace: workspaceIdentity(), trusted: true, consent: 'granted' },
      },
      {
        deadline: now + 3_600_000,
        durationMinutes: 5,
        zone: 'FR',
        plan: {
          start: now,
          end: now + 300_000,
          windowGPerKWh: null,
          nowGPerKWh: null,
          savingPct: 0,
          runNow: true,
          reason: 'test',
          source: 'embedded',
          zone: 'FR',
          plannedAt: now,
        },
      },
    );
    const run = await recording(async () => {
      await api.jobs.scheduler.runNow(job.id);
      return until('the job to end', async () => {
        const j = await api.jobs.queue.get(job.id);
        return j && j.state !== 'running' ? j : undefined;
      });
    });
    assert.equal(run.outcome.state, 'done', run.outcome.error);
    assert.equal(run.records.length, 1, run.records.map((r) => `${r.route}/${r.feature}`).join(', '));
    assert.equal(run.records[0]!.route, 'cloud');
  });
});
