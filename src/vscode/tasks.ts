// Palette tasks (Explain Selection, Refactor Selection, Ask), each through one routing decision: the local engine,
// or the user's green-cloud endpoint after consent, with secrets redacted and the exact request kept for "Show Last
// Cloud Request". Every task writes a ledger record; the route, model and grams are shown with the result. When the
// cloud fails, the task offers to run locally with the same input, so nothing typed or selected is lost.
import * as vscode from 'vscode';
import type { Config } from '../config';
import { redactDiff, redactFile, sensitiveReason } from '../core/cloud/outgoing';
import { redactSecrets } from '../core/cloud/redact';
import { formatGrams } from '../core/carbon/dashboardData';
import { extractCodeBlock, taskMessages, type TaskContext, type TaskKind } from '../core/tasks/prompts';
import { runCascade } from '../core/routing/cascade';
import { CHARS_PER_TOKEN } from '../core/routing/estimates';
import { cloudBlocked, type RouteDecision } from '../core/routing/policy';
import type { LocalUsageRecord, UsageLog } from '../core/usage';
import type { ChatMessage, GenerateResult } from '../engine/types';
import type { CarbonAccounting } from './carbonAccounting';
import type { CloudConsent } from './cloudConsent';
import type { LocalEngine } from './localEngine';
import type { EngineHttpModule } from './engineHttp';
import type { Router, RouteQuery } from './router';
import type { CloudKeyStore } from './secrets';

export const TASK_COMMANDS = {
  explain: 'verdant.explainSelection',
  refactor: 'verdant.refactorSelection',
  ask: 'verdant.ask',
  generateTests: 'verdant.generateTests',
  summarizeFile: 'verdant.summarizeFile',
  writeCommitMessage: 'verdant.writeCommitMessage',
  applyProposal: 'verdant.applyProposal',
  discardProposal: 'verdant.discardProposal',
  revokeConsent: 'verdant.revokeCloudConsent',
  showLastCloudRequest: 'verdant.showLastCloudRequest',
  retryInCloud: 'verdant.retryInCloud',
  retryLocally: 'verdant.retryLocally',
} as const;

const PROPOSAL_SCHEME = 'verdant-proposal';

/** Palette tasks that can wait for a clean window: their input is captured when queued, the result is a document. */
export const DEFERRABLE_TASKS = ['summarize', 'tests', 'explain', 'ask'] as const;
export type DeferrableTask = (typeof DEFERRABLE_TASKS)[number];
const DEFERRABLE_TITLES: Record<DeferrableTask, string> = { summarize: 'Summary of', tests: 'Tests for', explain: 'Explanation of', ask: 'Answer about' };
const RETRY_CLOUD = 'Retry in Cloud';
const RETRY_LOCAL = 'Retry Locally';

export interface TasksDeps {
  readonly config: Config;
  readonly engine: LocalEngine;
  readonly carbon: CarbonAccounting;
  readonly usage: UsageLog;
  readonly keys: CloudKeyStore;
  readonly consent: CloudConsent;
  readonly log: vscode.LogOutputChannel;
  /** The cloud client lives in the lazily loaded HTTP bundle. */
  readonly engineHttp: () => EngineHttpModule;
  readonly router: Pick<Router, 'route' | 'withoutConsent' | 'afterDraft' | 'noteLocalResult' | 'recordAcceptance' | 'noteCloudUnreachable' | 'noteCloudReached'>;
}

export interface TaskOutcome {
  readonly route: 'local' | 'cloud';
  readonly reason: string;
  readonly model: string;
  readonly text: string;
  readonly grams: number | undefined;
  /** The ledger records of this task's attempts (a cascade has two), in order. */
  readonly recordIds: readonly string[];
  /** Refactor: the proposal waiting for Apply / Discard. */
  readonly proposalId?: number;
  /** The router's decision (before any retry or fallback changed the route). */
  readonly decision?: RouteDecision;
  /** A cascade whose local draft was unsure and went on to the cloud (grams count both). */
  readonly cascaded?: boolean;
}

/** The last task, so "Retry in Cloud" / "Retry Locally" can run it again with the same input. */
interface LastTask {
  readonly kind: TaskKind;
  route: 'local' | 'cloud' | undefined;
  readonly execute: (force?: 'local' | 'cloud') => Promise<TaskOutcome | undefined>;
}

interface Proposal {
  readonly id: number;
  readonly kind: TaskKind;
  readonly route: 'local' | 'cloud';
  readonly uri: vscode.Uri;
  readonly range: vscode.Range;
  readonly version: number;
  readonly original: string;
  readonly proposed: string;
}

interface LastCloudRequest {
  readonly at: string;
  readonly host: string;
  readonly model: string;
  readonly messages: readonly ChatMessage[];
  readonly redactions: number;
}

export class Tasks implements vscode.Disposable {
  private readonly disposables: vscode.Disposable[] = [];
  private readonly proposals = new Map<number, Proposal>();
  private current: Proposal | undefined;
  private nextId = 1;
  private lastCloud: LastCloudRequest | undefined;
  private last: LastTask | undefined;

  constructor(private readonly deps: TasksDeps) {
    this.disposables.push(
      vscode.workspace.registerTextDocumentContentProvider(PROPOSAL_SCHEME, {
        provideTextDocumentContent: (uri) => {
          const [side, id] = uri.path.replace(/^\//, '').split('/');
          const p = this.proposals.get(Number(id));
          return p ? (side === 'original' ? p.original : p.proposed) : '';
        },
      }),
      vscode.commands.registerCommand(TASK_COMMANDS.explain, () => this.fromSelection('explain')),
      vscode.commands.registerCommand(TASK_COMMANDS.refactor, (instruction?: string) => this.fromSelection('refactor', instruction)),
      vscode.commands.registerCommand(TASK_COMMANDS.ask, (question?: string) => this.ask(question)),
      vscode.commands.registerCommand(TASK_COMMANDS.generateTests, () => this.generateTests()),
      vscode.commands.registerCommand(TASK_COMMANDS.summarizeFile, () => this.summarizeFile()),
      vscode.commands.registerCommand(TASK_COMMANDS.writeCommitMessage, () => this.writeCommitMessage()),
      vscode.commands.registerCommand(TASK_COMMANDS.applyProposal, (id?: number) => this.apply(id)),
      vscode.commands.registerCommand(TASK_COMMANDS.discardProposal, (id?: number) => this.discard(id)),
      vscode.commands.registerCommand(TASK_COMMANDS.revokeConsent, async () => {
        await deps.consent.set('unknown');
        void vscode.window.showInformationMessage('Verdant: cloud consent for this workspace was withdrawn; you will be asked again.');
      }),
      vscode.commands.registerCommand(TASK_COMMANDS.showLastCloudRequest, () => this.showLastCloudRequest()),
      vscode.commands.registerCommand(TASK_COMMANDS.retryInCloud, () => this.retry('cloud')),
      vscode.commands.registerCommand(TASK_COMMANDS.retryLocally, () => this.retry('local')),
    );
  }

  /** The last request sent to the cloud, exactly as sent (after redaction). */
  get lastCloudRequest(): LastCloudRequest | undefined {
    return this.lastCloud;
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }

  private async fromSelection(kind: 'explain' | 'refactor', instruction?: string): Promise<TaskOutcome | undefined> {
    const editor = vscode.window.activeTextEditor;
    if (!editor || editor.selection.isEmpty) {
      void vscode.window.showInformationMessage('Verdant: select some code first.');
      return undefined;
    }
    if (kind === 'refactor' && instruction === undefined) {
      instruction = await vscode.window.showInputBox({ title: 'Verdant: Refactor Selection', prompt: 'What should change? (empty: improve clarity, keep behaviour)' });
      if (instruction === undefined) return undefined;
    }
    const doc = editor.document;
    const range = new vscode.Range(editor.selection.start, editor.selection.end);
    const ctx: TaskContext = { languageId: doc.languageId, filePath: vscode.workspace.asRelativePath(doc.uri), code: doc.getText(range), instruction: instruction || undefined };
    const version = doc.version;
    return this.remember(kind, async (force) => {
      const outcome = await this.run(kind, ctx, undefined, force);
      if (!outcome) return undefined;
      if (kind === 'explain') {
        await this.showMarkdown(`Explanation of ${ctx.filePath}`, outcome);
        void this.offerRetry(kind, outcome);
        return outcome;
      }
      const proposed = extractCodeBlock(outcome.text);
      if (proposed === undefined) {
        void vscode.window.showWarningMessage('Verdant: the model did not return replacement code; its answer is shown instead.');
        await this.showMarkdown(`Refactoring of ${ctx.filePath}`, outcome);
        void this.offerRetry(kind, outcome);
        return outcome;
      }
      const proposal: Proposal = { id: this.nextId++, kind, route: outcome.route, uri: doc.uri, range, version, original: ctx.code, proposed };
      this.proposals.set(proposal.id, proposal);
      this.current = proposal;
      await vscode.commands.executeCommand('vscode.diff',
        vscode.Uri.from({ scheme: PROPOSAL_SCHEME, path: `/original/${proposal.id}` }),
        vscode.Uri.from({ scheme: PROPOSAL_SCHEME, path: `/proposed/${proposal.id}` }),
        `Refactor ${ctx.filePath} (Verdant: ${outcome.route}, ${outcome.model}${outcome.grams !== undefined ? `, ${formatGrams(outcome.grams)} CO2e` : ''})`);
      void this.offerRetry(kind, outcome, ['Apply', 'Discard'], 'Verdant proposes a refactoring').then((c) => {
        if (c === 'Apply') void this.apply(proposal.id);
        else if (c === 'Discard') this.discard(proposal.id);
      });
      return { ...outcome, proposalId: proposal.id };
    });
  }

  private async ask(question?: string): Promise<TaskOutcome | undefined> {
    question ??= await vscode.window.showInputBox({ title: 'Verdant: Ask', prompt: 'Your question (the current file is given as context)' });
    if (!question) return undefined;
    const doc = vscode.window.activeTextEditor?.document;
    const ctx: TaskContext = { languageId: doc?.languageId ?? 'text', filePath: doc ? vscode.workspace.asRelativePath(doc.uri) : '(no file)', code: doc?.getText() ?? '', instruction: question };
    return this.remember('ask', async (force) => {
      // The answer streams into a markdown document as it is generated; the route line is added when it is done.
      const answer = await vscode.workspace.openTextDocument({ language: 'markdown', content: `# ${question}\n\n` });
      await vscode.window.showTextDocument(answer, { preview: false, viewColumn: vscode.ViewColumn.Beside });
      const sink = streamInto(answer);
      const outcome = await this.run('ask', ctx, sink.write, force);
      await sink.flush();
      await appendTo(answer, outcome ? `\n\n---\n*${routeLine(outcome)}*\n` : '\n\n---\n*No answer.*\n');
      if (outcome) void this.offerRetry('ask', outcome);
      return outcome;
    });
  }

  /** Tests for the selection, or the whole file: a new editor in the same language. */
  private async generateTests(): Promise<TaskOutcome | undefined> {
    const editor = vscode.window.activeTextEditor;
    if (!editor) {
      void vscode.window.showInformationMessage('Verdant: open the code to test first.');
      return undefined;
    }
    const doc = editor.document;
    const code = editor.selection.isEmpty ? doc.getText() : doc.getText(editor.selection);
    const filePath = vscode.workspace.asRelativePath(doc.uri);
    return this.remember('tests', async (force) => {
      const outcome = await this.run('tests', { languageId: doc.languageId, filePath, code }, undefined, force);
      if (!outcome) return undefined;
      const tests = extractCodeBlock(outcome.text);
      if (tests === undefined) {
        await this.showMarkdown(`Tests for ${filePath}`, outcome);
      } else {
        const out = await vscode.workspace.openTextDocument({ language: doc.languageId, content: tests });
        await vscode.window.showTextDocument(out, { viewColumn: vscode.ViewColumn.Beside, preview: false });
      }
      void this.offerRetry('tests', outcome, [], 'Verdant: tests generated');
      return outcome;
    });
  }

  private async summarizeFile(): Promise<TaskOutcome | undefined> {
    const doc = vscode.window.activeTextEditor?.document;
    if (!doc) {
      void vscode.window.showInformationMessage('Verdant: open the file to summarize first.');
      return undefined;
    }
    const filePath = vscode.workspace.asRelativePath(doc.uri);
    const code = doc.getText();
    return this.remember('summarize', async (force) => {
      const outcome = await this.run('summarize', { languageId: doc.languageId, filePath, code }, undefined, force);
      if (!outcome) return undefined;
      await this.showMarkdown(`Summary of ${filePath}`, outcome);
      void this.offerRetry('summarize', outcome);
      return outcome;
    });
  }

  /** A commit message for the staged changes, written into the Source Control input box. */
  private async writeCommitMessage(): Promise<TaskOutcome | undefined> {
    const git = vscode.extensions.getExtension<GitExtension>('vscode.git');
    const api = git ? (git.isActive ? git.exports : await git.activate()).getAPI(1) : undefined;
    const active = vscode.window.activeTextEditor?.document.uri;
    const repo = api?.repositories.find((r) => active && active.fsPath.startsWith(r.rootUri.fsPath)) ?? api?.repositories[0];
    if (!repo) {
      void vscode.window.showInformationMessage('Verdant: no Git repository is open.');
      return undefined;
    }
    const diff = await repo.diff(true);
    if (!diff.trim()) {
      void vscode.window.showInformationMessage('Verdant: stage some changes first; the message is written from the staged diff.');
      return undefined;
    }
    return this.remember('commit', async (force) => {
      const outcome = await this.run('commit', { languageId: 'diff', filePath: repo.rootUri.fsPath, code: diff.slice(0, 60_000) }, undefined, force);
      if (!outcome) return undefined;
      repo.inputBox.value = outcome.text.trim().replace(/^```\w*\n?|```$/g, '').trim();
      void this.offerRetry('commit', outcome, [], 'Verdant: commit message written');
      return outcome;
    });
  }

  /**
   * A task whose input was captured earlier (a deferred "run when clean" job): routed and run now, the result shown
   * as a document. Undefined when it was cancelled or failed (the failure is shown).
   */
  async runCaptured(kind: DeferrableTask, ctx: TaskContext, limits: { cloud: boolean } = { cloud: true }): Promise<TaskOutcome | undefined> {
    return this.remember(kind, async (force) => {
      // A retry the user asks for here and now is this window's to allow; the queued run keeps the job's limits.
      const outcome = await this.run(kind, ctx, undefined, force, force ? undefined : limits);
      if (!outcome) return undefined;
      const code = kind === 'tests' ? extractCodeBlock(outcome.text) : undefined;
      if (code !== undefined) {
        await vscode.window.showTextDocument(await vscode.workspace.openTextDocument({ language: ctx.languageId, content: code }), { preview: false });
      } else {
        await this.showMarkdown(`${DEFERRABLE_TITLES[kind]} ${ctx.filePath}`, outcome);
      }
      void this.offerRetry(kind, outcome, [], `Verdant: deferred ${kind} done`);
      return outcome;
    });
  }

  /**
   * One model call on a route already decided (a refactor's plan or step, a chat message): local or cloud, with the
   * same redaction, "Show Last Cloud Request" record and ledger record as every task. The caller owns progress and
   * cancellation; `sink` gets the text as it streams.
   */
  async runOn(route: 'local' | 'cloud', feature: 'refactor-plan' | 'refactor-step' | 'chat', messages: ChatMessage[], signal: AbortSignal,
    report: (chars: number) => void, extra: { jsonSchema?: object; maxTokens?: number; sink?: (text: string) => void } = {}): Promise<TaskOutcome> {
    const reason = feature === 'chat' ? 'chosen in the chat' : 'refactor';
    if (route === 'cloud') {
      const o = await this.runCloud(feature, messages, reason, signal, report, extra.sink, 0, extra.maxTokens);
      this.deps.router.noteCloudReached();
      return o;
    }
    const { result: _generated, ...o } = await this.runLocal(messages, reason, signal, report, extra.sink, feature, extra);
    return o;
  }

  /** Runs a task and keeps it as the one "Retry in Cloud" / "Retry Locally" repeat. */
  private async remember(kind: TaskKind, execute: LastTask['execute'], force?: 'local' | 'cloud'): Promise<TaskOutcome | undefined> {
    const last: LastTask = { kind, route: undefined, execute };
    this.last = last;
    const outcome = await execute(force);
    last.route = outcome?.route;
    return outcome;
  }

  /**
   * Runs the last task again on the other route. Asking for the cloud after a local result says the local answer did
   * not do; asking for the local model after a cloud result says it should have been tried: both feed the router's
   * recent-acceptance signal.
   */
  private async retry(to: 'local' | 'cloud'): Promise<TaskOutcome | undefined> {
    const last = this.last;
    if (!last) {
      void vscode.window.showInformationMessage('Verdant: there is no task to retry yet.');
      return undefined;
    }
    if (last.route === 'local' && to === 'cloud') this.deps.router.recordAcceptance(last.kind, false);
    if (last.route === 'cloud' && to === 'local') this.deps.router.recordAcceptance(last.kind, true);
    return this.remember(last.kind, last.execute, to);
  }

  /** The route and its reason with the result, and the other route one click away (when it is allowed). */
  private offerRetry(kind: TaskKind, o: TaskOutcome, actions: string[] = [], title = `Verdant: ${kind} done`): Thenable<string | undefined> {
    const cloudOk = o.decision?.options.some((x) => x.route === 'cloud' && !x.blocked) ?? false;
    const other = o.route === 'local' ? (cloudOk ? RETRY_CLOUD : undefined) : RETRY_LOCAL;
    return vscode.window.showInformationMessage(`${title} (${routeLine(o)}).`, ...actions, ...(other ? [other] : [])).then((c) => {
      if (c === RETRY_CLOUD) void this.retry('cloud');
      else if (c === RETRY_LOCAL) void this.retry('local');
      return c;
    });
  }

  /** Applies a refactoring as one undoable edit, if the document has not changed since. */
  private async apply(id?: number): Promise<boolean> {
    const p = id !== undefined ? this.proposals.get(id) : this.current;
    if (!p) return false;
    const doc = await vscode.workspace.openTextDocument(p.uri);
    if (doc.version !== p.version || doc.getText(p.range) !== p.original) {
      void vscode.window.showWarningMessage('Verdant: the file changed since the refactoring was proposed; run it again.');
      return false;
    }
    const edit = new vscode.WorkspaceEdit();
    edit.replace(p.uri, p.range, p.proposed);
    const ok = await vscode.workspace.applyEdit(edit);
    if (ok) {
      if (p.route === 'local') this.deps.router.recordAcceptance(p.kind, true);
      this.forget(p);
    }
    return ok;
  }

  /** Discarding a local proposal says the local model's answer did not do. */
  private discard(id?: number): void {
    const p = id !== undefined ? this.proposals.get(id) : this.current;
    if (!p) return;
    if (p.route === 'local') this.deps.router.recordAcceptance(p.kind, false);
    this.forget(p);
  }

  private forget(p: Proposal): void {
    this.proposals.delete(p.id);
    if (this.current === p) this.current = undefined;
  }

  /**
   * Routes (src/vscode/router.ts), asks consent when the cloud is chosen, runs with progress and cancel (a cascade:
   * a local draft first, the cloud when the draft is unsure), records the carbon of every attempt, offers local on a
   * cloud failure. `force` is a retry on the route the user asked for.
   */
  private async run(kind: TaskKind, ctx: TaskContext, sink?: (text: string) => void, force?: 'local' | 'cloud', limits: { cloud: boolean } = { cloud: true }): Promise<TaskOutcome | undefined> {
    const messages = taskMessages(kind, ctx);
    // What the cloud gets: the file through redactFile (a .env loses every value; a staged diff loses the changes to
    // secrets files), then every message through redactSecrets in runCloud.
    const file = kind === 'commit' ? redactDiff(ctx.code) : redactFile(ctx.filePath, ctx.code);
    const cloud = { messages: taskMessages(kind, { ...ctx, code: file.text }), redactions: file.findings.length };
    const secretsFile = ctx.code ? sensitiveReason(ctx.filePath) : undefined;
    const query: RouteQuery = {
      kind,
      promptTokens: Math.ceil(messages.reduce((n, m) => n + m.content.length, 0) / CHARS_PER_TOKEN),
      files: ctx.code ? 1 : 0,
      selectionChars: kind === 'ask' ? 0 : ctx.code.length,
      consent: this.deps.consent.value,
    };
    const routed = await this.deps.router.route(query);
    const entry = routed.entry;
    let decision = routed.decision;
    if (force === 'local') decision = { ...decision, route: 'local', cascade: false, needsConsent: false, reason: `retried locally at your request (${decision.reason})` };
    if (force === 'cloud') {
      const blocked = cloudBlocked(decision);
      if (blocked) {
        entry.outcome = `retry in cloud refused: ${blocked}`;
        void vscode.window.showWarningMessage(`Verdant: cannot retry in the cloud: ${blocked}.`);
        return undefined;
      }
      decision = { ...decision, route: 'cloud', cascade: false, needsConsent: this.deps.consent.value === 'unknown', reason: `retried in the cloud at your request (${decision.reason})` };
    }
    // Palette tasks are interactive, so nothing is deferrable here; deferred jobs go through the scheduler.
    if (decision.route === 'later') decision = { ...decision, route: 'local', reason: `${decision.reason}; interactive tasks run now` };
    if (!limits.cloud && (decision.route === 'cloud' || decision.cascade)) {
      decision = { ...decision, route: 'local', cascade: false, needsConsent: false, reason: `${decision.reason}; queued where the cloud was not allowed (untrusted, or no consent): runs locally` };
    }
    if (decision.needsConsent) {
      const consent = await this.askConsent(kind);
      if (consent !== 'granted') {
        decision = force === 'cloud' ? decision : await this.deps.router.withoutConsent(query, routed);
        if (force === 'cloud' || decision.route === 'cloud') {
          entry.outcome = 'cloud consent not given';
          decision = { ...decision, route: 'local', cascade: false, reason: 'cloud consent not given: ran locally' };
        }
      }
    }
    if (secretsFile && (decision.route === 'cloud' || decision.cascade)) {
      // A secrets file goes out only when the user asked for the cloud for it, and says yes once more.
      const host = hostOf(this.deps.config.settings.cloud.endpoint);
      if (force === 'cloud') {
        const yes = 'Send Redacted';
        if (await vscode.window.showWarningMessage(`Verdant: ${secretsFile}. Send it to ${host} with every value redacted?`, { modal: true }, yes) !== yes) {
          entry.outcome = `not sent: ${secretsFile}`;
          return undefined;
        }
      } else {
        this.deps.log.info(`task ${kind}: ${secretsFile}; kept on this machine`);
        decision = { ...decision, route: 'local', cascade: false, reason: `${secretsFile}: kept on this machine` };
      }
    }
    if (decision.warning) void vscode.window.showWarningMessage(`Verdant: ${decision.warning}`);
    let inCloud = false;
    try {
      const outcome = await this.withProgress(kind, decision, async (signal, report) => {
        if (decision.route === 'cloud') {
          inCloud = true;
          return this.runCloud(kind, cloud.messages, decision.reason, signal, report, sink, cloud.redactions);
        }
        if (!decision.cascade) return this.runLocal(messages, decision.reason, signal, report, sink);
        // Cascade: the draft is held back (not streamed) until the classifier, seeing its confidence, keeps it.
        const c = await runCascade({
          draft: () => this.runLocal(messages, decision.reason, signal, report),
          judge: async (draft) => {
            const v = await this.deps.router.afterDraft(query, draft.result);
            this.deps.log.info(`task ${kind}: ${v.reason} (p ${v.p.toFixed(2)})`);
            return v;
          },
          mayEscalate: async () => this.deps.consent.value === 'granted' || (this.deps.consent.value === 'unknown' && await this.askConsent(kind) === 'granted'),
          escalate: () => {
            inCloud = true;
            return this.runCloud(kind, cloud.messages, decision.reason, signal, report, sink, cloud.redactions);
          },
          isCancel,
        });
        if (!c.escalated) {
          sink?.(c.result.text);
          const { result: _generated, ...kept } = c.result;
          return { ...kept, reason: `${decision.reason}; ${c.reason}` };
        }
        return { ...c.result, reason: `${decision.reason}; ${c.reason}`, grams: (c.draft?.grams ?? 0) + (c.result.grams ?? 0),
          recordIds: [...(c.draft?.recordIds ?? []), ...c.result.recordIds], cascaded: true };
      });
      entry.outcome = outcome.cascaded ? 'local draft, then cloud' : `done (${outcome.route})`;
      entry.grams = outcome.grams;
      return { ...outcome, decision };
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      // The user cancelled: nothing to report, nothing to offer.
      if (isCancel(e)) {
        this.deps.log.info(`task ${kind} cancelled`);
        entry.outcome = 'cancelled';
        return undefined;
      }
      entry.outcome = `failed: ${message}`;
      this.deps.log.error(`task ${kind} (${decision.route}) failed: ${message}`);
      const code = (e as { code?: string }).code;
      if (inCloud && (code === 'network' || code === 'timeout' || code === 'idle-timeout' || code === 'deadline')) this.deps.router.noteCloudUnreachable();
      if (inCloud) {
        const choice = await vscode.window.showErrorMessage(`Verdant: the cloud request failed: ${message}`, 'Run Locally');
        if (choice === 'Run Locally') {
          const reason = 'cloud failed: ran locally';
          const local = await this.withProgress(kind, { route: 'local', cascade: false }, (signal, report) => this.runLocal(messages, reason, signal, report, sink));
          entry.outcome = 'cloud failed, ran locally';
          return { ...local, decision };
        }
      } else {
        void vscode.window.showErrorMessage(`Verdant: ${message}`);
      }
      return undefined;
    }
  }

  private askConsent(kind: TaskKind): Promise<'granted' | 'denied' | 'unknown'> {
    return this.deps.consent.ask(hostOf(this.deps.config.settings.cloud.endpoint), kind === 'ask' ? 'your question and the current file' : 'the selected code');
  }

  private withProgress<T>(kind: TaskKind, decision: Pick<RouteDecision, 'route' | 'cascade'>, work: (signal: AbortSignal, report: (chars: number) => void) => Promise<T>): Promise<T> {
    const route = decision.cascade ? 'local draft first' : decision.route;
    return Promise.resolve(vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Verdant: ${kind} (${route})`, cancellable: true }, (progress, token) => {
      const ac = new AbortController();
      token.onCancellationRequested(() => ac.abort());
      return work(ac.signal, (chars) => progress.report({ message: `${chars} characters` }));
    }));
  }

  private async runLocal(messages: ChatMessage[], reason: string, signal: AbortSignal, report: (chars: number) => void, sink?: (text: string) => void,
    feature: 'task' | 'refactor-plan' | 'refactor-step' | 'chat' = 'task', extra: { jsonSchema?: object; maxTokens?: number } = {}): Promise<TaskOutcome & { result: GenerateResult }> {
    let chars = 0;
    const started = Date.now();
    const r = await this.deps.engine.generate({ kind: 'chat', messages, maxTokens: extra.maxTokens ?? 1024, temperature: 0, ...(extra.jsonSchema ? { jsonSchema: extra.jsonSchema } : {}) },
      { signal, onText: (t) => { chars += t.length; report(chars); sink?.(t); } });
    if (r.stopReason === 'abort') throw Object.assign(new Error('cancelled'), { code: 'cancelled' });
    this.deps.router.noteLocalResult(r);
    const usage: LocalUsageRecord = { at: started, feature, backend: r.backend, model: r.model, engineMs: r.timing.totalMs, promptTokens: r.timing.promptTokens, evaluatedTokens: r.timing.evaluatedTokens, generatedTokens: r.timing.generatedTokens, ...(r.timing.packageJoules !== undefined ? { measuredJoules: r.timing.packageJoules } : {}) };
    this.deps.usage.record(usage);
    const record = await this.deps.carbon.recordOf(usage);
    return { route: 'local', reason, model: r.model, text: r.text, grams: record?.sciG, recordIds: record ? [record.id] : [], result: r };
  }

  private async runCloud(kind: TaskKind | 'refactor-plan' | 'refactor-step' | 'chat', messages: ChatMessage[], reason: string, signal: AbortSignal, report: (chars: number) => void, sink?: (text: string) => void,
    redactedBefore = 0, maxTokens = 2048): Promise<TaskOutcome> {
    const s = this.deps.config.settings.cloud;
    let redactions = redactedBefore;
    const sent = messages.map((m) => {
      const r = redactSecrets(m.content);
      redactions += r.findings.length;
      return { ...m, content: r.text };
    });
    this.lastCloud = { at: new Date().toISOString(), host: hostOf(s.endpoint), model: s.model, messages: sent, redactions };
    const { CloudClient } = this.deps.engineHttp();
    const client = new CloudClient({ baseUrl: s.endpoint, model: s.model, apiKey: () => this.deps.keys.get(), proxyUrl: proxyOf(), timeouts: { deadlineMs: s.requestTimeoutSeconds * 1000 } });
    try {
      let chars = 0;
      const started = Date.now();
      const r = await client.chat({ messages: sent, maxTokens, temperature: 0 }, { signal, onText: (t: string) => { chars += t.length; report(chars); sink?.(t); } });
      this.deps.router.noteCloudReached();
      const record = await this.deps.carbon.recordCloud({ feature: kind, endpoint: s.endpoint, model: r.model || s.model, tokensIn: r.usage.promptTokens, tokensOut: r.usage.completionTokens, latencyMs: r.ms, at: started });
      const said = r.finishReason === 'length' ? `${reason}; the answer was cut at its length limit` : reason;
      return { route: 'cloud', reason: said, model: r.model || s.model, text: r.text, grams: record?.sciG, recordIds: record ? [record.id] : [] };
    } finally {
      client.close();
    }
  }

  private async showMarkdown(title: string, o: TaskOutcome): Promise<void> {
    const header = `<!-- Verdant -->\n# ${title}\n\n*${routeLine(o)}*\n\n`;
    const doc = await vscode.workspace.openTextDocument({ language: 'markdown', content: header + o.text });
    await vscode.window.showTextDocument(doc, { preview: false, viewColumn: vscode.ViewColumn.Beside });
  }

  private async showLastCloudRequest(): Promise<void> {
    const last = this.lastCloud;
    const content = last
      ? `// Sent to ${last.host} at ${last.at}, model ${last.model}, ${last.redactions} secret(s) redacted. The API key went only in the Authorization header.\n${JSON.stringify(last.messages, null, 2)}\n`
      : '// Nothing has been sent to a cloud endpoint in this window.\n';
    await vscode.window.showTextDocument(await vscode.workspace.openTextDocument({ language: 'jsonc', content }), { preview: true });
  }
}

function isCancel(e: unknown): boolean {
  return (e as { code?: string } | undefined)?.code === 'cancelled' || (e instanceof Error && e.name === 'AbortError');
}

/** "Route: local (local: 0.2 g vs cloud 0.9 g, confidence 0.81) · model m · 0.2 g CO2e" */
function routeLine(o: TaskOutcome): string {
  return `Route: ${o.route} (${o.reason}) · model ${o.model}${o.grams !== undefined ? ` · ${formatGrams(o.grams)} CO2e` : ''}`;
}

/** Appends streamed text to a document, batched so a fast stream does not queue an edit per token. */
function streamInto(doc: vscode.TextDocument): { write: (text: string) => void; flush: () => Promise<void> } {
  let pending = '';
  let chain: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    clearTimeout(timer);
    timer = undefined;
    const text = pending;
    pending = '';
    if (text) chain = chain.then(() => appendTo(doc, text));
    return chain;
  };
  return {
    write: (text) => {
      pending += text;
      timer ??= setTimeout(() => void flush(), 80);
    },
    flush,
  };
}

async function appendTo(doc: vscode.TextDocument, text: string): Promise<void> {
  const edit = new vscode.WorkspaceEdit();
  edit.insert(doc.uri, doc.positionAt(doc.getText().length), text);
  await vscode.workspace.applyEdit(edit);
}

/** The few parts of the built-in Git extension's API used here. */
interface GitExtension {
  getAPI(version: 1): { readonly repositories: readonly GitRepository[] };
}

interface GitRepository {
  readonly rootUri: vscode.Uri;
  readonly inputBox: { value: string };
  diff(cached?: boolean): Promise<string>;
}

/** The host of an endpoint URL, as consent and "Show Last Cloud Request" name it. */
export function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

/** VS Code's proxy setting, when set (the client never proxies loopback). */
function proxyOf(): string | undefined {
  return vscode.workspace.getConfiguration('http').get<string>('proxy') || undefined;
}
