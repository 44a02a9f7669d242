// Palette tasks (Explain Selection, Refactor Selection, Ask, Generate Tests, Summarize File, Write Commit Message):
// the editor's side only. Each command gathers its input, hands it to the task runner (src/core/tasks/runner.ts:
// routing, consent, redaction, the run and its ledger record) and shows the result with its route, model and grams,
// the other route one click away. A refactoring becomes a diff to apply or discard.
import * as vscode from 'vscode';
import { formatGrams } from '../core/carbon/dashboardData';
import type { TaskOutcome } from '../core/tasks/calls';
import type { DeferredOutcome, TaskRunner } from '../core/tasks/runner';
import { extractCodeBlock, isDeferrable, TASKS, type TaskContext, type TaskKind } from '../core/tasks/table';
import type { CloudConsent } from './cloudConsent';
import { Proposals } from './proposals';
import type { Router } from './router';
import { ResultDocuments } from './resultDocuments';
import { routeLine } from './taskUi';
import { showFailure } from './unawaited';

export const TASK_COMMANDS = {
  explain: TASKS.explain.command,
  refactor: TASKS.refactor.command,
  ask: TASKS.ask.command,
  generateTests: TASKS.tests.command,
  summarizeFile: TASKS.summarize.command,
  writeCommitMessage: TASKS.commit.command,
  applyProposal: 'verdant.applyProposal',
  discardProposal: 'verdant.discardProposal',
  revokeConsent: 'verdant.revokeCloudConsent',
  showLastCloudRequest: 'verdant.showLastCloudRequest',
  retryInCloud: 'verdant.retryInCloud',
  retryLocally: 'verdant.retryLocally',
} as const;

const RETRY_CLOUD = 'Retry in Cloud';
const RETRY_LOCAL = 'Retry Locally';

export interface TasksDeps {
  readonly runner: Pick<TaskRunner, 'run' | 'lastCloudRequest'>;
  readonly consent: Pick<CloudConsent, 'set'>;
  readonly router: Pick<Router, 'recordAcceptance'>;
}

type Result = TaskOutcome | DeferredOutcome | undefined;
/** How a task shows its outcome once it ran (not when it was queued, cancelled or failed). */
type Show = (o: TaskOutcome) => Promise<TaskOutcome>;
type Force = 'local' | 'cloud' | undefined;

/** The last task, so "Retry in Cloud" / "Retry Locally" can run it again with the same input. */
interface LastTask {
  readonly kind: TaskKind;
  route: 'local' | 'cloud' | undefined;
  readonly execute: (force: Force) => Promise<Result>;
}

export class Tasks implements vscode.Disposable {
  private readonly disposables: vscode.Disposable[] = [];
  private readonly proposals: Proposals;
  /** Markdown results (summaries, explanations, answers) as read-only documents with their title. */
  private readonly results = new ResultDocuments();
  private last: LastTask | undefined;

  constructor(private readonly deps: TasksDeps) {
    this.proposals = new Proposals((kind, accepted) => deps.router.recordAcceptance(kind, accepted));
    this.disposables.push(
      this.proposals,
      this.results,
      vscode.commands.registerCommand(TASK_COMMANDS.explain, () => this.fromSelection('explain')),
      vscode.commands.registerCommand(TASK_COMMANDS.refactor, (instruction?: string) => this.fromSelection('refactor', instruction)),
      vscode.commands.registerCommand(TASK_COMMANDS.ask, (question?: string) => this.ask(question)),
      vscode.commands.registerCommand(TASK_COMMANDS.generateTests, () => this.onCode('tests', 'open the code to test first', true)),
      vscode.commands.registerCommand(TASK_COMMANDS.summarizeFile, () => this.onCode('summarize', 'open the file to summarize first', false)),
      vscode.commands.registerCommand(TASK_COMMANDS.writeCommitMessage, () => this.writeCommitMessage()),
      vscode.commands.registerCommand(TASK_COMMANDS.applyProposal, (id?: number) => this.proposals.apply(id)),
      vscode.commands.registerCommand(TASK_COMMANDS.discardProposal, (id?: number) => this.proposals.discard(id)),
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
  get lastCloudRequest(): TaskRunner['lastCloudRequest'] {
    return this.deps.runner.lastCloudRequest;
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }

  private async fromSelection(kind: 'explain' | 'refactor', instruction?: string): Promise<Result> {
    const editor = vscode.window.activeTextEditor;
    if (!editor || editor.selection.isEmpty) return info('select some code first.');
    if (kind === 'refactor' && instruction === undefined) {
      instruction = await vscode.window.showInputBox({
        title: 'Verdant: Refactor Selection',
        prompt: 'What should change? (empty: improve clarity, keep behaviour)',
      });
      if (instruction === undefined) return undefined;
    }
    const doc = editor.document;
    const range = new vscode.Range(editor.selection.start, editor.selection.end);
    const ctx: TaskContext = {
      languageId: doc.languageId,
      filePath: vscode.workspace.asRelativePath(doc.uri),
      code: doc.getText(range),
      instruction: instruction || undefined,
    };
    const version = doc.version;
    return this.task(kind, ctx, async (o) => {
      const proposed = kind === 'refactor' ? extractCodeBlock(o.text) : undefined;
      if (proposed === undefined) {
        if (kind === 'refactor')
          void vscode.window.showWarningMessage('Verdant: the model did not return replacement code; its answer is shown instead.');
        return this.document(kind, ctx, o);
      }
      const grams = o.grams !== undefined ? `, ${formatGrams(o.grams)} CO2e` : '';
      const p = await this.proposals.show(
        { kind, route: o.route, uri: doc.uri, range, version, original: ctx.code, proposed },
        `Refactor ${ctx.filePath} (Verdant: ${o.route}, ${o.model}${grams})`,
      );
      void this.offerRetry(kind, o, ['Apply', 'Discard'], 'Verdant proposes a refactoring').then((c) => {
        if (c === 'Apply') showFailure(this.proposals.apply(p.id));
        else if (c === 'Discard') this.proposals.discard(p.id);
      });
      return { ...o, proposalId: p.id };
    });
  }

  private async ask(question?: string): Promise<Result> {
    question ??= await vscode.window.showInputBox({ title: 'Verdant: Ask', prompt: 'Your question (the current file is given as context)' });
    if (!question) return undefined;
    const doc = vscode.window.activeTextEditor?.document;
    const ctx: TaskContext = {
      languageId: doc?.languageId ?? 'text',
      filePath: doc ? vscode.workspace.asRelativePath(doc.uri) : '(no file)',
      code: doc?.getText() ?? '',
      instruction: question,
    };
    return this.remember('ask', async (force) => {
      // The answer streams into a read-only markdown result as it is generated; the route line is added when it is done.
      const answer = await this.results.open(`Ask: ${question}`, `# ${question}\n\n`);
      const r = await this.deps.runner.run('ask', ctx, { sink: (t) => answer.append(t), force, mayDefer: true });
      answer.append(r?.route === 'later' ? `\n\n---\n*Queued: ${r.reason}.*\n` : r ? `\n\n---\n*${routeLine(r)}*\n` : '\n\n---\n*No answer.*\n');
      await answer.flush();
      return this.shown('ask', r, async (o) => {
        void this.offerRetry('ask', o);
        return o;
      });
    });
  }

  /** Tests for the selection (or the whole file), or a summary of the file. */
  private onCode(kind: 'tests' | 'summarize', none: string, selection: boolean): Promise<Result> {
    const editor = vscode.window.activeTextEditor;
    if (!editor) return info(none);
    const doc = editor.document;
    const code = selection && !editor.selection.isEmpty ? doc.getText(editor.selection) : doc.getText();
    const ctx: TaskContext = { languageId: doc.languageId, filePath: vscode.workspace.asRelativePath(doc.uri), code };
    return this.task(kind, ctx, (o) => this.document(kind, ctx, o, kind === 'tests' ? 'Verdant: tests generated' : undefined));
  }

  /** A commit message for the staged changes, written into the Source Control input box. */
  private async writeCommitMessage(): Promise<Result> {
    const git = vscode.extensions.getExtension<GitExtension>('vscode.git');
    const api = git ? (git.isActive ? git.exports : await git.activate()).getAPI(1) : undefined;
    const active = vscode.window.activeTextEditor?.document.uri;
    const repo = api?.repositories.find((r) => active && active.fsPath.startsWith(r.rootUri.fsPath)) ?? api?.repositories[0];
    if (!repo) return info('no Git repository is open.');
    const diff = await repo.diff(true);
    if (!diff.trim()) return info('stage some changes first; the message is written from the staged diff.');
    return this.task('commit', { languageId: 'diff', filePath: repo.rootUri.fsPath, code: diff.slice(0, 60_000) }, async (o) => {
      repo.inputBox.value = o.text
        .trim()
        .replace(/^```\w*\n?|```$/g, '')
        .trim();
      void this.offerRetry('commit', o, [], 'Verdant: commit message written');
      return o;
    });
  }

  /** A result made elsewhere (a deferred task the OS scheduler ran with VS Code closed), as a read-only document. */
  async showResult(title: string, text: string): Promise<void> {
    await this.results.open(title, text);
  }

  /**
   * A task whose input was captured earlier (a deferred "run when clean" job): routed and run now, the result shown
   * as a document. Undefined when it was cancelled or failed (the failure is shown).
   */
  async runCaptured(kind: TaskKind, ctx: TaskContext, limits: { cloud: boolean } = { cloud: true }): Promise<TaskOutcome | undefined> {
    if (!isDeferrable(kind)) throw new Error(`Unknown deferred task '${kind}'.`);
    const r = await this.remember(kind, async (force) => {
      // A retry the user asks for here and now is this window's to allow, and they wait on it; the queued run keeps
      // the job's limits, and nobody waits on it (the local engine may run it at low priority).
      const outcome = await this.deps.runner.run(kind, ctx, force ? { force, cloud: true } : { cloud: limits.cloud, purpose: 'background' });
      return this.shown(kind, outcome, (o) => this.document(kind, ctx, o, `Verdant: deferred ${kind} done`));
    });
    return r?.route === 'later' ? undefined : r;
  }

  /** Runs a task through the runner (a deferrable one may be queued instead) and shows what it gave. */
  private task(kind: TaskKind, ctx: TaskContext, show: Show): Promise<Result> {
    return this.remember(kind, async (force) => this.shown(kind, await this.deps.runner.run(kind, ctx, { force, mayDefer: true }), show));
  }

  private async shown(kind: TaskKind, r: Result, show: Show): Promise<Result> {
    if (r === undefined) return undefined;
    if (r.route !== 'later') return show(r);
    const time = new Date(r.at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    void vscode.window.showInformationMessage(`Verdant: ${kind} queued for ${time} (${r.reason}).`, 'Show Deferred Jobs').then((c) => {
      if (c) showFailure(vscode.commands.executeCommand('verdant.showDeferredJobs'));
    });
    return r;
  }

  /** The answer as a document: generated tests as code in the file's language, anything else as markdown. */
  private async document(kind: TaskKind, ctx: TaskContext, o: TaskOutcome, title?: string): Promise<TaskOutcome> {
    const code = kind === 'tests' ? extractCodeBlock(o.text) : undefined;
    if (code !== undefined) {
      await vscode.window.showTextDocument(await vscode.workspace.openTextDocument({ language: ctx.languageId, content: code }), {
        preview: false,
        viewColumn: vscode.ViewColumn.Beside,
      });
    } else {
      const title = `${TASKS[kind].title} ${ctx.filePath}`;
      await this.results.open(title, `# ${title}\n\n*${routeLine(o)}*\n\n${o.text}`);
    }
    void this.offerRetry(kind, o, [], title);
    return o;
  }

  /** Runs a task and keeps it as the one "Retry in Cloud" / "Retry Locally" repeat. */
  private async remember(kind: TaskKind, execute: LastTask['execute'], force?: Force): Promise<Result> {
    const last: LastTask = { kind, route: undefined, execute };
    this.last = last;
    const outcome = await execute(force);
    last.route = outcome?.route === 'later' ? undefined : outcome?.route;
    return outcome;
  }

  /**
   * Runs the last task again on the other route. Asking for the cloud after a local result says the local answer did
   * not do; asking for the local model after a cloud result says it should have been tried: both feed the router's
   * recent-acceptance signal.
   */
  private async retry(to: 'local' | 'cloud'): Promise<Result> {
    const last = this.last;
    if (!last) return info('there is no task to retry yet.');
    if (last.route === 'local' && to === 'cloud') this.deps.router.recordAcceptance(TASKS[last.kind].routingKind, false);
    if (last.route === 'cloud' && to === 'local') this.deps.router.recordAcceptance(TASKS[last.kind].routingKind, true);
    return this.remember(last.kind, last.execute, to);
  }

  /** The route and its reason with the result, and the other route one click away (when it is allowed). */
  private offerRetry(kind: TaskKind, o: TaskOutcome, actions: string[] = [], title = `Verdant: ${kind} done`): Thenable<string | undefined> {
    const cloudOk = o.decision?.options.some((x) => x.route === 'cloud' && !x.blocked) ?? false;
    const other = o.route === 'local' ? (cloudOk ? RETRY_CLOUD : undefined) : RETRY_LOCAL;
    return vscode.window.showInformationMessage(`${title}. ${routeLine(o)}.`, ...actions, ...(other ? [other] : [])).then((c) => {
      if (c === RETRY_CLOUD) showFailure(this.retry('cloud'));
      else if (c === RETRY_LOCAL) showFailure(this.retry('local'));
      return c;
    });
  }

  private async showLastCloudRequest(): Promise<void> {
    const last = this.deps.runner.lastCloudRequest;
    const content = last
      ? `// Sent to ${last.host} at ${last.at}, model ${last.model}, ${last.redactions} secret(s) redacted. The API key went only in the Authorization header.\n${JSON.stringify(last.messages, null, 2)}\n`
      : '// Nothing has been sent to a cloud endpoint in this window.\n';
    await vscode.window.showTextDocument(await vscode.workspace.openTextDocument({ language: 'jsonc', content }), { preview: true });
  }
}

async function info(message: string): Promise<undefined> {
  void vscode.window.showInformationMessage(`Verdant: ${message}`);
  return undefined;
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
