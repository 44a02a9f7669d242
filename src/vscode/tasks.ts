// Palette tasks (Explain Selection, Refactor Selection, Ask), each through one routing decision: the local engine,
// or the user's green-cloud endpoint after consent, with secrets redacted and the exact request kept for "Show Last
// Cloud Request". Every task writes a ledger record; the route, model and grams are shown with the result. When the
// cloud fails, the task offers to run locally with the same input, so nothing typed or selected is lost.
import * as vscode from 'vscode';
import type { Config } from '../config';
import { redactSecrets } from '../core/cloud/redact';
import { formatGrams } from '../core/carbon/dashboardData';
import { extractCodeBlock, taskMessages, type TaskContext, type TaskKind } from '../core/tasks/prompts';
import { decideRoute, type RouteDecision } from '../core/tasks/route';
import type { UsageLog } from '../core/usage';
import type { ChatMessage } from '../engine/types';
import type { CarbonAccounting } from './carbonAccounting';
import type { CloudConsent } from './cloudConsent';
import type { LocalEngine } from './localEngine';
import type { EngineHttpModule } from './engineHttp';
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
} as const;

const PROPOSAL_SCHEME = 'verdant-proposal';

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
}

export interface TaskOutcome {
  readonly route: 'local' | 'cloud';
  readonly reason: string;
  readonly model: string;
  readonly text: string;
  readonly grams: number | undefined;
  /** Refactor: the proposal waiting for Apply / Discard. */
  readonly proposalId?: number;
}

interface Proposal {
  readonly id: number;
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
    const outcome = await this.run(kind, ctx);
    if (!outcome) return undefined;
    if (kind === 'explain') {
      await this.showMarkdown(`Explanation of ${ctx.filePath}`, outcome);
      return outcome;
    }
    const proposed = extractCodeBlock(outcome.text);
    if (proposed === undefined) {
      void vscode.window.showWarningMessage('Verdant: the model did not return replacement code; its answer is shown instead.');
      await this.showMarkdown(`Refactoring of ${ctx.filePath}`, outcome);
      return outcome;
    }
    const proposal: Proposal = { id: this.nextId++, uri: doc.uri, range, version: doc.version, original: ctx.code, proposed };
    this.proposals.set(proposal.id, proposal);
    this.current = proposal;
    await vscode.commands.executeCommand('vscode.diff',
      vscode.Uri.from({ scheme: PROPOSAL_SCHEME, path: `/original/${proposal.id}` }),
      vscode.Uri.from({ scheme: PROPOSAL_SCHEME, path: `/proposed/${proposal.id}` }),
      `Refactor ${ctx.filePath} (Verdant: ${outcome.route}, ${outcome.model}${outcome.grams !== undefined ? `, ${formatGrams(outcome.grams)} CO2e` : ''})`);
    void vscode.window.showInformationMessage(`Verdant proposes a refactoring (${outcome.reason}).`, 'Apply', 'Discard').then((c) => {
      if (c === 'Apply') void this.apply(proposal.id);
      else if (c === 'Discard') this.discard(proposal.id);
    });
    return { ...outcome, proposalId: proposal.id };
  }

  private async ask(question?: string): Promise<TaskOutcome | undefined> {
    question ??= await vscode.window.showInputBox({ title: 'Verdant: Ask', prompt: 'Your question (the current file is given as context)' });
    if (!question) return undefined;
    const doc = vscode.window.activeTextEditor?.document;
    const ctx: TaskContext = { languageId: doc?.languageId ?? 'text', filePath: doc ? vscode.workspace.asRelativePath(doc.uri) : '(no file)', code: doc?.getText() ?? '', instruction: question };
    // The answer streams into a markdown document as it is generated; the route line is added when it is done.
    const answer = await vscode.workspace.openTextDocument({ language: 'markdown', content: `# ${question}\n\n` });
    await vscode.window.showTextDocument(answer, { preview: false, viewColumn: vscode.ViewColumn.Beside });
    const sink = streamInto(answer);
    const outcome = await this.run('ask', ctx, sink.write);
    await sink.flush();
    const footer = outcome ? `\n\n---\n*Route: ${outcome.route} (${outcome.reason}) · model ${outcome.model}${outcome.grams !== undefined ? ` · ${formatGrams(outcome.grams)} CO2e` : ''}*\n` : '\n\n---\n*No answer.*\n';
    await appendTo(answer, footer);
    return outcome;
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
    const outcome = await this.run('tests', { languageId: doc.languageId, filePath: vscode.workspace.asRelativePath(doc.uri), code });
    if (!outcome) return undefined;
    const tests = extractCodeBlock(outcome.text);
    if (tests === undefined) {
      await this.showMarkdown(`Tests for ${vscode.workspace.asRelativePath(doc.uri)}`, outcome);
      return outcome;
    }
    const out = await vscode.workspace.openTextDocument({ language: doc.languageId, content: tests });
    await vscode.window.showTextDocument(out, { viewColumn: vscode.ViewColumn.Beside, preview: false });
    void vscode.window.showInformationMessage(`Verdant: tests generated (${outcome.route}, ${outcome.model}${outcome.grams !== undefined ? `, ${formatGrams(outcome.grams)} CO2e` : ''}).`);
    return outcome;
  }

  private async summarizeFile(): Promise<TaskOutcome | undefined> {
    const doc = vscode.window.activeTextEditor?.document;
    if (!doc) {
      void vscode.window.showInformationMessage('Verdant: open the file to summarize first.');
      return undefined;
    }
    const filePath = vscode.workspace.asRelativePath(doc.uri);
    const outcome = await this.run('summarize', { languageId: doc.languageId, filePath, code: doc.getText() });
    if (outcome) await this.showMarkdown(`Summary of ${filePath}`, outcome);
    return outcome;
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
    const outcome = await this.run('commit', { languageId: 'diff', filePath: repo.rootUri.fsPath, code: diff.slice(0, 60_000) });
    if (outcome) repo.inputBox.value = outcome.text.trim().replace(/^```\w*\n?|```$/g, '').trim();
    return outcome;
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
    if (ok) this.discard(p.id);
    return ok;
  }

  private discard(id?: number): void {
    const p = id !== undefined ? this.proposals.get(id) : this.current;
    if (!p) return;
    this.proposals.delete(p.id);
    if (this.current === p) this.current = undefined;
  }

  /** Routes, asks consent when needed, runs with progress and cancel, records the carbon, offers local on failure. */
  private async run(kind: TaskKind, ctx: TaskContext, sink?: (text: string) => void): Promise<TaskOutcome | undefined> {
    const s = this.deps.config.settings;
    const cloudConfigured = s.cloud.enable && Boolean(s.cloud.endpoint) && Boolean(s.cloud.model) && (await this.deps.keys.has());
    const messages = taskMessages(kind, ctx);
    const contextChars = ctx.code.length + (ctx.instruction?.length ?? 0);
    const facts = { kind, contextChars, cloudConfigured, trusted: vscode.workspace.isTrusted, localAvailable: s.local.backend !== 'llama.cpp' || Boolean(s.local.modelPath) };
    let decision = decideRoute({ ...facts, consent: this.deps.consent.value });
    if (decision.needsConsent) {
      const consent = await this.deps.consent.ask(hostOf(s.cloud.endpoint), kind === 'ask' ? 'your question and the current file' : 'the selected code');
      decision = decideRoute({ ...facts, consent });
      if (decision.needsConsent) decision = { route: 'local', reason: 'cloud consent not given: ran locally', needsConsent: false };
    }
    this.deps.log.info(`task ${kind}: ${decision.route} (${decision.reason})`);
    try {
      return await this.withProgress(kind, decision, (signal, report) =>
        decision.route === 'cloud' ? this.runCloud(kind, messages, decision, signal, report, sink) : this.runLocal(kind, messages, decision, signal, report, sink));
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      // The user cancelled: nothing to report, nothing to offer.
      if ((e as { code?: string }).code === 'cancelled' || (e instanceof Error && e.name === 'AbortError')) {
        this.deps.log.info(`task ${kind} cancelled`);
        return undefined;
      }
      this.deps.log.error(`task ${kind} (${decision.route}) failed: ${message}`);
      if (decision.route === 'cloud') {
        const choice = await vscode.window.showErrorMessage(`Verdant: the cloud request failed: ${message}`, 'Run Locally');
        if (choice === 'Run Locally') {
          const local: RouteDecision = { route: 'local', reason: 'cloud failed: ran locally', needsConsent: false };
          return this.withProgress(kind, local, (signal, report) => this.runLocal(kind, messages, local, signal, report, sink));
        }
      } else {
        void vscode.window.showErrorMessage(`Verdant: ${message}`);
      }
      return undefined;
    }
  }

  private withProgress(kind: TaskKind, decision: RouteDecision, work: (signal: AbortSignal, report: (chars: number) => void) => Promise<TaskOutcome>): Promise<TaskOutcome> {
    return Promise.resolve(vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Verdant: ${kind} (${decision.route})`, cancellable: true }, (progress, token) => {
      const ac = new AbortController();
      token.onCancellationRequested(() => ac.abort());
      return work(ac.signal, (chars) => progress.report({ message: `${chars} characters` }));
    }));
  }

  private async runLocal(_kind: TaskKind, messages: ChatMessage[], decision: RouteDecision, signal: AbortSignal, report: (chars: number) => void, sink?: (text: string) => void): Promise<TaskOutcome> {
    let chars = 0;
    const started = Date.now();
    const r = await this.deps.engine.generate({ kind: 'chat', messages, maxTokens: 1024, temperature: 0 }, { signal, onText: (t) => { chars += t.length; report(chars); sink?.(t); } });
    this.deps.usage.record({ at: started, feature: 'task', backend: r.backend, model: r.model, engineMs: r.timing.totalMs, promptTokens: r.timing.promptTokens, evaluatedTokens: r.timing.evaluatedTokens, generatedTokens: r.timing.generatedTokens, ...(r.timing.packageJoules !== undefined ? { measuredJoules: r.timing.packageJoules } : {}) });
    await this.deps.carbon.flushed();
    return { route: 'local', reason: decision.reason, model: r.model, text: r.text, grams: this.deps.carbon.lastRecord?.sciG };
  }

  private async runCloud(kind: TaskKind, messages: ChatMessage[], decision: RouteDecision, signal: AbortSignal, report: (chars: number) => void, sink?: (text: string) => void): Promise<TaskOutcome> {
    const s = this.deps.config.settings.cloud;
    let redactions = 0;
    const sent = messages.map((m) => {
      const r = redactSecrets(m.content);
      redactions += r.findings.length;
      return { ...m, content: r.text };
    });
    this.lastCloud = { at: new Date().toISOString(), host: hostOf(s.endpoint), model: s.model, messages: sent, redactions };
    const { CloudClient } = this.deps.engineHttp();
    const client = new CloudClient({ baseUrl: s.endpoint, model: s.model, apiKey: () => this.deps.keys.get(), proxyUrl: proxyOf() });
    try {
      let chars = 0;
      const started = Date.now();
      const r = await client.chat({ messages: sent, maxTokens: 2048, temperature: 0 }, { signal, onText: (t: string) => { chars += t.length; report(chars); sink?.(t); } });
      const record = await this.deps.carbon.recordCloud({ feature: kind, endpoint: s.endpoint, model: r.model || s.model, tokensIn: r.usage.promptTokens, tokensOut: r.usage.completionTokens, latencyMs: r.ms, at: started });
      return { route: 'cloud', reason: decision.reason, model: r.model || s.model, text: r.text, grams: record?.sciG };
    } finally {
      client.close();
    }
  }

  private async showMarkdown(title: string, o: TaskOutcome): Promise<void> {
    const header = `<!-- Verdant -->\n# ${title}\n\n*Route: ${o.route} (${o.reason}) · model ${o.model}${o.grams !== undefined ? ` · ${formatGrams(o.grams)} CO2e` : ''}*\n\n`;
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

function hostOf(url: string): string {
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
