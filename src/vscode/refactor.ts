// "Verdant: Plan Refactor…": the user states a change in a sentence; Verdant gathers the context with VS Code's own
// providers (definitions, references, workspace symbols, diagnostics), the local model drafts a plan (JSON held to a
// schema by the engine's grammar, then validated and completed against the references: src/core/refactor/plan.ts),
// the plan is shown with each step's route, grams and reason, and the steps run on their routes with only the context
// each needs. Their edits are validated (each applies once to the current text, none overlap) and reviewed together in
// one multi-file diff: one undoable operation, nothing written without the user's accept. A failed or
// cancelled step changes nothing and keeps the plan for "Resume Planned Refactor".
import * as vscode from 'vscode';
import { REFACTOR_CONTEXT } from './contextKeys';
import { formatGrams } from '../core/carbon/dashboardData';
import { sensitiveReason } from '../core/cloud/outgoing';
import { applyEdits } from '../core/refactor/edits';
import { runRefactorStep, STEP_BUDGET_TOKENS, STEP_MAX_TOKENS, type DeferredRefactor, type StepOutcome } from '../core/refactor/steps';
import { stepContext } from '../core/refactor/context';
import { parsePlan, planMessages, planSchema, PlanError, PLAN_EXCERPT_CHARS } from '../core/refactor/plan';
import type { FileEdit, PlanStep, RefactorContext, RefactorFile, RefactorPlan, SymbolHit } from '../core/refactor/types';
import type { RouteDecision } from '../core/routing/policy';
import { parseDuration } from '../core/carbon/window';
import type { Job, JobSpec } from '../core/scheduling/queue';
import type { CloudConsent } from './cloudConsent';
import type { Router } from './router';
import type { TaskOutcome } from '../core/tasks/calls';
import type { TaskRunner } from '../core/tasks/runner';
import type { WorkPurpose } from '../core/inference/types';
import { withAbortSignal } from './cancellation';
import { showFailure } from './unawaited';
import { errorMessage } from '../core/errors';

export const REFACTOR_COMMANDS = {
  plan: 'verdant.planRefactor',
  resume: 'verdant.resumeRefactor',
  apply: 'verdant.applyRefactor',
  /** The plan on screen, queued for the clean window (the plan list's clock button; scripts and tests). */
  deferCurrent: 'verdant.runRefactorWhenClean',
  discard: 'verdant.discardRefactor',
} as const;

const PROPOSED_SCHEME = 'verdant-refactor';

/** Enough for a dozen steps of JSON; the grammar bounds every string. */
const PLAN_MAX_TOKENS = 800;
/** Files one refactor may touch (a rename used in hundreds of files is a job for the language's rename). */
const MAX_FILES = 40;
const CODE_GLOB = '**/*.{ts,tsx,js,jsx,mjs,cjs,py,go,rs,java,kt,cs,cpp,cc,c,h,hpp,rb,php,swift,scala,vue,svelte}';

export interface RefactorDeps {
  /** Queues a job for the cleanest window (the scheduler). */
  readonly defer: (spec: JobSpec, withinMinutes: number, durationMinutes: number) => Promise<Job>;
  readonly runner: Pick<TaskRunner, 'call'>;
  readonly router: Pick<Router, 'route'>;
  readonly consent: Pick<CloudConsent, 'value' | 'ask'>;
  readonly log: vscode.LogOutputChannel;
  readonly cloudHost: () => string;
}

export interface PlannedStep {
  readonly step: PlanStep;
  route: 'local' | 'cloud';
  enabled: boolean;
  readonly decision: RouteDecision;
  readonly tokens: number;
  readonly wholeTokens: number;
}

export type { StepOutcome } from '../core/refactor/steps';

/** A refactor in progress: its context, plan, chosen routes and the steps done so far. */
export interface RefactorSession {
  readonly ctx: RefactorContext;
  readonly plan: RefactorPlan;
  readonly steps: PlannedStep[];
  readonly planGrams: number | undefined;
  /** The plan's ledger record (none for a plan queued earlier: it was recorded when it was made). */
  readonly planRecordIds: readonly string[];
  readonly done: Map<number, StepOutcome>;
  state: 'planned' | 'deferred' | 'running' | 'failed' | 'cancelled' | 'review' | 'applied' | 'discarded';
  error?: string;
}

/** What the command returns (and the e2e suite reads). */
export interface RefactorResult {
  readonly state: RefactorSession['state'];
  readonly steps: readonly { id: number; title: string; files: readonly string[]; route: string; added: boolean; gCO2e: number; reason: string }[];
  readonly notes: readonly string[];
  /** The grams of this run's ledger records: the plan's and each step's. */
  readonly grams: number;
  readonly recordIds: readonly string[];
  readonly tokensSent: number;
  readonly tokensWhole: number;
  readonly filesChanged: readonly string[];
  readonly error?: string;
}

const isCancel = (e: unknown) => (e as { code?: string } | undefined)?.code === 'cancelled' || (e instanceof Error && e.name === 'AbortError');

export class Refactors implements vscode.Disposable {
  private readonly disposables: vscode.Disposable[] = [];
  private session: RefactorSession | undefined;
  /** The proposed text of each file under review, by `/<review>/<path>`. */
  private readonly proposed = new Map<string, string>();
  private nextReview = 1;
  /** The document behind each context path (untitled documents have no path in the workspace). */
  private readonly uris = new Map<string, vscode.Uri>();
  private decide: ((choice: 'apply' | 'discard') => void) | undefined;
  private readonly events = new vscode.EventEmitter<{ type: 'planned' | 'review' | 'ended'; session: RefactorSession }>();
  /** 'planned' when the plan is shown, 'review' when the preview opens, 'ended' when applied, discarded or failed. */
  readonly onDidChange = this.events.event;

  constructor(private readonly deps: RefactorDeps) {
    this.disposables.push(
      this.events,
      this.events.event(() => this.syncContext()),
      vscode.commands.registerCommand(REFACTOR_COMMANDS.plan, (request?: string) => this.planRefactor(request)),
      vscode.commands.registerCommand(REFACTOR_COMMANDS.deferCurrent, (within?: string) => this.deferFromPlan(within)),
      vscode.commands.registerCommand(REFACTOR_COMMANDS.resume, () => this.resume()),
      vscode.commands.registerCommand(REFACTOR_COMMANDS.apply, () => this.decide?.('apply')),
      vscode.commands.registerCommand(REFACTOR_COMMANDS.discard, () => this.decide?.('discard')),
      vscode.workspace.registerTextDocumentContentProvider(PROPOSED_SCHEME, {
        provideTextDocumentContent: (uri) => this.proposed.get(uri.path) ?? '',
      }),
    );
  }

  /** Set while the plan list is open: the clock button's action, callable as a command. */
  private deferShown: ((within?: string) => void) | undefined;

  /**
   * The context keys that show Apply / Discard / Resume Planned Refactor and Run Refactor Plan When Clean in the Command
   * Palette only while there is something for them to act on (#22: package.json's commandPalette `when` clauses).
   */
  private syncContext(): void {
    const s = this.session;
    const keys: [string, boolean][] = [
      [REFACTOR_CONTEXT.review, this.decide !== undefined],
      [REFACTOR_CONTEXT.resumable, s !== undefined && (s.state === 'failed' || s.state === 'cancelled')],
      [REFACTOR_CONTEXT.planOpen, this.deferShown !== undefined],
    ];
    for (const [key, value] of keys)
      vscode.commands
        .executeCommand('setContext', key, value)
        .then(undefined, (e: unknown) => this.deps.log.warn(`refactor: could not set ${key}: ${errorMessage(e)}`));
  }

  private deferFromPlan(within?: string): void {
    this.deferShown?.(within);
  }

  get current(): RefactorSession | undefined {
    return this.session;
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }

  private async planRefactor(given?: string): Promise<RefactorResult | undefined> {
    const editor = vscode.window.activeTextEditor;
    const word = editor ? wordAt(editor) : undefined;
    const request =
      given ??
      (await vscode.window.showInputBox({
        title: 'Verdant: Plan Refactor',
        prompt: 'The change, in a sentence (e.g. "rename computeTotal to calculateTotal", "add a currency parameter to formatPrice")',
        value: word ? `rename ${word} to ` : '',
      }));
    if (!request?.trim()) return undefined;
    const session = await vscode.window
      .withProgress(
        { location: vscode.ProgressLocation.Notification, title: 'Verdant: planning the refactor', cancellable: true },
        (progress, token) =>
          withAbortSignal(token, async (signal) => {
            progress.report({ message: 'gathering context (definitions, references, symbols)…' });
            const ctx = await gatherContext(request.trim(), editor, word, this.uris);
            if (ctx.hits.length === 0)
              throw new Error(`Found no code for "${request.trim()}": put the cursor on the symbol to change, or name it in the request.`);
            progress.report({ message: `${ctx.files.length} files; the local model drafts the plan…` });
            return this.draft(ctx, signal);
          }),
      )
      .then(
        (s) => s,
        (e) => {
          if (isCancel(e)) return undefined;
          this.deps.log.error(`refactor: planning failed: ${errorMessage(e)}`);
          void vscode.window.showErrorMessage(`Verdant: ${errorMessage(e)}`);
          return undefined;
        },
      );
    if (!session) return undefined;
    this.session = session;
    this.events.fire({ type: 'planned', session });
    const { choice, within } = await this.showPlan(session);
    if (choice === 'defer') return this.deferPlan(session, within);
    if (choice === 'cancel') {
      session.state = 'cancelled';
      this.events.fire({ type: 'ended', session });
      return result(session);
    }
    return this.execute(session);
  }

  /** The local model's plan, validated and completed, with a route per step. */
  private async draft(ctx: RefactorContext, signal: AbortSignal): Promise<RefactorSession> {
    const planned = await this.runPlanner(ctx, signal);
    let plan: RefactorPlan;
    try {
      plan = parsePlan(planned.text, ctx);
    } catch (e) {
      if (!(e instanceof PlanError)) throw e;
      // Nothing was changed; offer the plan the references give (one step per file) instead of failing outright.
      this.deps.log.warn(`refactor: ${e.message}`);
      const pick = await vscode.window.showWarningMessage(`Verdant: ${e.message}`, 'Plan From References');
      if (pick !== 'Plan From References') throw Object.assign(new Error('cancelled'), { code: 'cancelled' });
      plan = parsePlan(
        JSON.stringify({
          steps: ctx.files
            .filter((f) => ctx.hits.some((h) => h.path === f.path))
            .map((f) => ({ title: `Update ${f.path}`, files: [f.path], symbols: ctx.symbols, size: 'small', instruction: ctx.request })),
        }),
        ctx,
      );
    }
    const steps: PlannedStep[] = [];
    for (const step of plan.steps) steps.push(await this.routeStep(step, ctx));
    this.deps.log.info(
      `refactor "${ctx.request}": ${plan.steps.length} steps (${plan.notes.join('; ') || 'as drafted'}), plan ${planned.grams !== undefined ? formatGrams(planned.grams) : 'unrecorded'}`,
    );
    return { ctx, plan, steps, planGrams: planned.grams, planRecordIds: planned.recordIds, done: new Map(), state: 'planned' };
  }

  /** The planning call; a prompt too long for the local model's context is retried with fewer code excerpts. */
  private async runPlanner(ctx: RefactorContext, signal: AbortSignal): Promise<TaskOutcome> {
    const budgets = [PLAN_EXCERPT_CHARS, PLAN_EXCERPT_CHARS / 4, PLAN_EXCERPT_CHARS / 16, 0];
    for (const [i, chars] of budgets.entries()) {
      try {
        return await this.deps.runner.call('local', 'refactor-plan', planMessages(ctx, chars), {
          signal,
          jsonSchema: planSchema(ctx),
          maxTokens: PLAN_MAX_TOKENS,
          reason: 'refactor',
        });
      } catch (e) {
        const tooLong = (e as { code?: string }).code === 'bad-request' && /more than the \d+ that fit/.test(errorMessage(e));
        if (!tooLong) throw e;
        // Even the list of files does not fit: the same offer as for an unusable plan (plan from the references).
        if (i === budgets.length - 1)
          throw new PlanError(
            `The refactor's context is too big for the local model to plan (${errorMessage(e)}); nothing was changed.`,
            errorMessage(e),
          );
        this.deps.log.info(`refactor: the plan prompt is too long for the local model (${errorMessage(e)}); retrying with fewer excerpts`);
      }
    }
    throw new Error('unreachable');
  }

  private async routeStep(step: PlanStep, ctx: RefactorContext, forced?: 'local' | 'cloud'): Promise<PlannedStep> {
    const c = stepContext(step, ctx, { budgetTokens: STEP_BUDGET_TOKENS });
    const chars = c.snippets.reduce((n, s) => n + (s.endLine - s.startLine + 1) * 40, 0);
    const routed = (
      await this.deps.router.route({
        kind: 'refactor',
        promptTokens: c.tokens,
        files: step.files.length,
        selectionChars: chars,
        consent: this.deps.consent.value,
        // What the step asks, and the code it carries.
        text: `${ctx.request}: ${step.instruction}`,
        code: c.messages.map((m) => m.content).join('\n'),
      })
    ).decision;
    // A step that touches a secrets file (.env, keys, credentials) never goes to the cloud, even when asked to.
    const secretsFile = step.files.map(sensitiveReason).find((r) => r !== undefined);
    if (secretsFile) {
      const decision = { ...routed, route: 'local' as const, cascade: false, reason: `${secretsFile}: kept on this machine` };
      return { step, route: 'local', enabled: true, decision, tokens: c.tokens, wholeTokens: c.wholeTokens };
    }
    const route = forced ?? (routed.route === 'cloud' ? 'cloud' : 'local');
    return { step, route, enabled: true, decision: routed, tokens: c.tokens, wholeTokens: c.wholeTokens };
  }

  /**
   * Queues the whole plan (context, steps and chosen routes) for the cleanest window; when it comes, the steps run
   * and the review opens. Files edited in the meantime are read again before their step.
   */
  private async deferPlan(session: RefactorSession, withinGiven?: string): Promise<RefactorResult> {
    const text =
      withinGiven ??
      (await vscode.window.showInputBox({
        title: 'Verdant: run the refactor when the grid is clean',
        prompt: 'Done within (e.g. 4h, 12h, 1d); you review it when it is ready',
        value: '12h',
      }));
    let within: number;
    try {
      within = parseDuration(text ?? '');
    } catch (e) {
      if (text) void vscode.window.showErrorMessage(`Verdant: ${errorMessage(e)}`);
      session.state = 'cancelled';
      return result(session);
    }
    const payload: DeferredRefactor = {
      ctx: session.ctx,
      plan: session.plan,
      routes: session.steps.map((p) => ({ id: p.step.id, route: p.route, enabled: p.enabled })),
    };
    const job = await this.deps.defer({ kind: 'task', task: 'refactor', payload, label: `refactor: ${session.ctx.request}` }, within, 15);
    session.state = 'deferred';
    this.events.fire({ type: 'ended', session });
    void vscode.window.showInformationMessage(
      `Verdant: the refactor will run ${job.plan.runNow ? 'now' : `at ${new Date(job.plan.start).toLocaleTimeString()}`} (${job.plan.reason}); you review it then.`,
    );
    return result(session);
  }

  /**
   * A deferred plan whose steps the OS scheduler ran on the local model with VS Code closed (#23): their edits open
   * in the review. They were made against the files as queued, so a file edited since then drops its steps, and
   * Resume runs those here.
   */
  async reviewRanElsewhere(payload: unknown, outcomes: readonly StepOutcome[]): Promise<RefactorResult> {
    const p = payload as Partial<DeferredRefactor> | undefined;
    if (!p?.ctx || !p.plan || !Array.isArray(p.routes))
      throw new Error('The deferred refactor has no plan (the queue file may be damaged); plan it again.');
    const steps: PlannedStep[] = [];
    for (const step of p.plan.steps) {
      const planned = await this.routeStep(step, p.ctx, 'local');
      planned.enabled = p.routes.find((r) => r.id === step.id)?.enabled ?? true;
      steps.push(planned);
    }
    const done = new Map(outcomes.map((o) => [o.id, o] as const));
    const session: RefactorSession = { ctx: p.ctx, plan: p.plan, steps, planGrams: undefined, planRecordIds: [], done, state: 'planned' };
    this.session = session;
    const changed: string[] = [];
    for (const f of p.ctx.files) {
      if (!outcomes.some((o) => o.edits.some((e) => e.path === f.path))) continue;
      if ((await readFile(uriFor(f.path, this.uris))).text !== f.text) changed.push(f.path);
    }
    if (changed.length === 0) return this.review(session);
    for (const d of [...done.values()]) if (d.edits.some((e) => changed.includes(e.path))) done.delete(d.id);
    session.state = 'failed';
    session.error = `${changed.join(', ')} changed since the refactor ran with VS Code closed; nothing was changed. Resume runs those steps again.`;
    this.events.fire({ type: 'ended', session });
    void vscode.window.showWarningMessage(`Verdant: ${session.error}`, 'Resume').then((c) => {
      if (c === 'Resume') showFailure(this.resume());
    });
    return result(session);
  }

  /** A deferred plan whose window came: route the steps as chosen, run them, open the review. */
  async runDeferred(payload: unknown, limits: { cloud: boolean } = { cloud: true }): Promise<RefactorResult> {
    const p = payload as Partial<DeferredRefactor> | undefined;
    if (!p?.ctx || !p.plan || !Array.isArray(p.routes))
      throw new Error('The deferred refactor has no plan (the queue file may be damaged); plan it again.');
    const steps: PlannedStep[] = [];
    for (const step of p.plan.steps) {
      const chosen = p.routes.find((r) => r.id === step.id);
      // Queued where the cloud was not allowed (untrusted, or without consent): every step stays local.
      const planned = await this.routeStep(step, p.ctx, limits.cloud ? chosen?.route : 'local');
      planned.enabled = chosen?.enabled ?? true;
      steps.push(planned);
    }
    const session: RefactorSession = { ctx: p.ctx, plan: p.plan, steps, planGrams: undefined, planRecordIds: [], done: new Map(), state: 'planned' };
    this.session = session;
    // Nobody waits on a deferred refactor (the review opens when it is done): its steps may run at low priority.
    return this.execute(session, 'background');
  }

  /** The plan as a multi-select list: uncheck to drop a step, the button switches its route. */
  private showPlan(session: RefactorSession): Promise<{ choice: 'run' | 'defer' | 'cancel'; within?: string }> {
    type Item = vscode.QuickPickItem & { planned: PlannedStep };
    const switchRoute = { iconPath: new vscode.ThemeIcon('arrow-swap'), tooltip: 'Switch between local and cloud' };
    const whenClean = { iconPath: new vscode.ThemeIcon('clock'), tooltip: 'Run the checked steps when the grid is cleanest' };
    const items = (): Item[] =>
      session.steps.map((p) => {
        const option = p.decision.options.find((o) => o.route === p.route);
        return {
          label: `${p.step.id}. ${p.step.title}${p.step.added ? ' (added by Verdant)' : ''}`,
          description: `${p.route} · ${option ? formatGrams(option.gCO2e) : '?'} CO2e · ${p.tokens} tokens`,
          detail: `${p.step.files.join(', ')} — ${p.decision.reason}`,
          picked: p.enabled,
          buttons: [switchRoute],
          planned: p,
        };
      });
    const pick = vscode.window.createQuickPick<Item>();
    pick.title = `Verdant: refactor plan for "${session.ctx.request}"`;
    pick.placeholder = `${session.steps.length} steps${session.plan.notes.length ? ` · ${session.plan.notes.join(' · ')}` : ''} · uncheck to drop a step, Enter runs the checked steps`;
    pick.canSelectMany = true;
    pick.ignoreFocusOut = true;
    pick.items = items();
    pick.selectedItems = pick.items.filter((i) => i.picked);
    pick.buttons = [whenClean];
    return new Promise((resolve) => {
      let accepted: 'run' | 'defer' | undefined;
      let within: string | undefined;
      const keepChecked = () => {
        const keep = new Set(pick.selectedItems.map((i) => i.planned));
        for (const p of session.steps) p.enabled = keep.has(p);
        return keep.size > 0;
      };
      this.deferShown = (given) => {
        within = given;
        accepted = keepChecked() ? 'defer' : undefined;
        pick.hide();
      };
      pick.onDidTriggerButton(() => this.deferShown?.());
      pick.onDidTriggerItemButton((e) => {
        const p = e.item.planned;
        const cloud = p.decision.options.find((o) => o.route === 'cloud');
        const blocked =
          cloud?.blocked ?? (cloud ? p.step.files.map(sensitiveReason).find((r) => r !== undefined) : 'no cloud endpoint is configured');
        if (p.route === 'local' && blocked) {
          void vscode.window.showWarningMessage(`Verdant: this step cannot go to the cloud: ${blocked}.`);
          return;
        }
        p.route = p.route === 'local' ? 'cloud' : 'local';
        const selected = new Set(pick.selectedItems.map((i) => i.planned));
        pick.items = items();
        pick.selectedItems = pick.items.filter((i) => selected.has(i.planned));
      });
      pick.onDidAccept(() => {
        accepted = keepChecked() ? 'run' : undefined;
        pick.hide();
      });
      pick.onDidHide(() => {
        this.deferShown = undefined;
        this.syncContext();
        pick.dispose();
        resolve({ choice: accepted ?? 'cancel', within });
      });
      pick.show();
      this.syncContext();
    });
  }

  /** Runs the enabled steps not done yet, then opens one preview of every edit. */
  private async execute(session: RefactorSession, purpose: WorkPurpose = 'interactive'): Promise<RefactorResult> {
    session.state = 'running';
    session.error = undefined;
    this.syncContext();
    const todo = session.steps.filter((p) => p.enabled && !session.done.has(p.step.id));
    if (todo.some((p) => p.route === 'cloud') && this.deps.consent.value !== 'granted') {
      const consent =
        this.deps.consent.value === 'unknown'
          ? await this.deps.consent.ask(this.deps.cloudHost(), 'the code of the files in this refactor')
          : 'denied';
      if (consent !== 'granted') for (const p of todo) if (p.route === 'cloud') p.route = 'local';
    }
    const outcome = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: 'Verdant: refactoring', cancellable: true },
      (progress, token) =>
        withAbortSignal(token, async (signal) => {
          for (const [i, p] of todo.entries()) {
            progress.report({ message: `step ${i + 1}/${todo.length} (${p.route}): ${p.step.title}`, increment: 100 / todo.length });
            try {
              session.done.set(p.step.id, await this.runStep(session, p, signal, purpose));
            } catch (e) {
              session.error = isCancel(e) ? 'cancelled' : `step ${p.step.id} (${p.step.title}): ${errorMessage(e)}`;
              this.deps.log.warn(`refactor: ${session.error}`);
              return isCancel(e) ? ('cancelled' as const) : ('failed' as const);
            }
          }
          return 'done' as const;
        }),
    );
    if (outcome !== 'done') {
      session.state = outcome;
      this.events.fire({ type: 'ended', session });
      if (outcome === 'failed') {
        void vscode.window
          .showErrorMessage(`Verdant: the refactor stopped at ${session.error}. Nothing was changed; the plan is kept.`, 'Resume')
          .then((c) => {
            if (c === 'Resume') showFailure(this.resume());
          });
      }
      return result(session);
    }
    return this.review(session);
  }

  private async runStep(session: RefactorSession, p: PlannedStep, signal: AbortSignal, purpose: WorkPurpose): Promise<StepOutcome> {
    // Files edited since planning are read again, so the step's code is what the edit will apply to.
    const ctx = await refreshContext(session.ctx, p.step.files, this.uris);
    return runRefactorStep(p.step, ctx, p.route, (messages) =>
      this.deps.runner.call(p.route, 'refactor-step', messages, { signal, maxTokens: STEP_MAX_TOKENS, reason: 'refactor', purpose }),
    );
  }

  /**
   * One review of every step's edits: a multi-file diff (each file against what the refactor would make of it), then
   * Apply or Discard. Applied as one WorkspaceEdit, so one undo reverts every file; nothing is written before the
   * user's accept, and a file edited in the meantime stops the apply with nothing changed.
   */
  private async review(session: RefactorSession): Promise<RefactorResult> {
    const uriOf = (p: string) => uriFor(p, this.uris);
    const byFile = new Map<string, FileEdit[]>();
    for (const d of session.done.values()) for (const e of d.edits) byFile.set(e.path, [...(byFile.get(e.path) ?? []), e]);
    const id = this.nextReview++;
    const originals = new Map<string, { text: string; version: number }>();
    const resources: [vscode.Uri, vscode.Uri, vscode.Uri][] = [];
    for (const [p, edits] of byFile) {
      const doc = await vscode.workspace.openTextDocument(uriOf(p));
      originals.set(p, { text: doc.getText(), version: doc.version });
      this.proposed.set(`/${id}/${p}`, applyEdits(doc.getText(), edits));
      resources.push([doc.uri, doc.uri, vscode.Uri.from({ scheme: PROPOSED_SCHEME, path: `/${id}/${p}` })]);
    }
    session.state = 'review';
    const r0 = result(session);
    const decided = new Promise<'apply' | 'discard'>((resolve) => {
      this.decide = resolve;
    });
    this.syncContext();
    await vscode.commands
      .executeCommand('vscode.changes', `Verdant refactor: ${session.ctx.request} (${resources.length} files)`, resources)
      .then(undefined, (e) => this.deps.log.warn(`refactor: no multi-file diff view (${errorMessage(e)})`));
    this.events.fire({ type: 'review', session });
    void vscode.window
      .showInformationMessage(
        `Verdant: the refactor is ready for review: ${resources.length} files, ${formatGrams(r0.grams)} CO2e with the plan.`,
        'Apply',
        'Discard',
      )
      .then((c) => this.decide?.(c === 'Apply' ? 'apply' : 'discard'));
    const choice = await decided;
    this.decide = undefined;
    this.syncContext();
    // The diff stays open after the decision, so its proposed side stays readable until the next review.
    for (const key of [...this.proposed.keys()]) if (!key.startsWith(`/${id}/`)) this.proposed.delete(key);
    let applied = false;
    if (choice === 'apply') {
      const edit = new vscode.WorkspaceEdit();
      const stale: string[] = [];
      for (const [p, edits] of byFile) {
        const doc = await vscode.workspace.openTextDocument(uriOf(p));
        if (doc.getText() !== originals.get(p)?.text) stale.push(p);
        for (const e of edits) edit.replace(doc.uri, new vscode.Range(doc.positionAt(e.start), doc.positionAt(e.end)), e.newText);
      }
      if (stale.length > 0) {
        session.state = 'failed';
        session.error = `${stale.join(', ')} changed during the review; nothing was applied. Resume runs those steps again.`;
        for (const d of [...session.done.values()]) if (d.edits.some((e) => stale.includes(e.path))) session.done.delete(d.id);
        void vscode.window.showWarningMessage(`Verdant: ${session.error}`);
      } else {
        applied = await vscode.workspace.applyEdit(edit, { isRefactoring: true });
      }
    }
    if (session.state === 'review') session.state = applied ? 'applied' : 'discarded';
    const r = result(session);
    this.events.fire({ type: 'ended', session });
    const saved = r.tokensWhole > 0 ? Math.round((1 - r.tokensSent / r.tokensWhole) * 100) : 0;
    this.deps.log.info(
      `refactor "${session.ctx.request}" ${session.state}: ${r.filesChanged.length} files, ${formatGrams(r.grams)} CO2e, ${r.tokensSent} tokens sent instead of ${r.tokensWhole} (${saved} % fewer)`,
    );
    if (applied) {
      void vscode.window.showInformationMessage(
        `Verdant: refactor applied to ${r.filesChanged.length} files (${formatGrams(r.grams)} CO2e with the plan; the steps carried ${r.tokensSent} tokens instead of ${r.tokensWhole}, ${saved} % fewer). Undo reverts it as one change.`,
      );
    }
    return r;
  }

  /** Runs the steps a failed or cancelled refactor did not finish; done steps keep their edits. */
  private async resume(): Promise<RefactorResult | undefined> {
    const s = this.session;
    if (!s || (s.state !== 'failed' && s.state !== 'cancelled')) {
      void vscode.window.showInformationMessage('Verdant: there is no stopped refactor to resume.');
      return undefined;
    }
    return this.execute(s);
  }
}

function result(s: RefactorSession): RefactorResult {
  const done = [...s.done.values()];
  const files = new Set(done.flatMap((d) => d.edits.map((e) => e.path)));
  return {
    state: s.state,
    steps: s.steps.map((p) => ({
      id: p.step.id,
      title: p.step.title,
      files: p.step.files,
      route: p.route,
      added: p.step.added,
      gCO2e: p.decision.options.find((o) => o.route === p.route)?.gCO2e ?? 0,
      reason: p.decision.reason,
    })),
    notes: s.plan.notes,
    grams: (s.planGrams ?? 0) + done.reduce((g, d) => g + (d.grams ?? 0), 0),
    recordIds: [...s.planRecordIds, ...done.flatMap((d) => d.recordIds)],
    tokensSent: done.reduce((n, d) => n + d.tokens, 0),
    tokensWhole: s.steps.filter((p) => s.done.has(p.step.id)).reduce((n, p) => n + p.wholeTokens, 0),
    filesChanged: s.state === 'applied' ? [...files].sort() : [],
    ...(s.error ? { error: s.error } : {}),
  };
}

function wordAt(editor: vscode.TextEditor): string | undefined {
  const doc = editor.document;
  if (!editor.selection.isEmpty) {
    const text = doc.getText(editor.selection).trim();
    return /^[A-Za-z_$][\w$]*$/.test(text) ? text : undefined;
  }
  const range = doc.getWordRangeAtPosition(editor.selection.active, /[A-Za-z_$][\w$]*/);
  return range ? doc.getText(range) : undefined;
}

/** Offsets of `name` as a whole identifier in `text` (not inside a longer name). */
function wordOffsets(text: string, name: string): number[] {
  const re = new RegExp(`(?<![\\w$])${name.replace(/\$/g, '\\$')}(?![\\w$])`, 'g');
  return [...text.matchAll(re)].map((m) => m.index ?? 0);
}

/** The document of a context path: the one it was read from, else the file in the workspace folder. */
function uriFor(p: string, uris: ReadonlyMap<string, vscode.Uri>): vscode.Uri {
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
  return uris.get(p) ?? (folder ? vscode.Uri.joinPath(folder, p) : vscode.Uri.file(p));
}

function relative(uri: vscode.Uri): string {
  return vscode.workspace.asRelativePath(uri, false).replace(/\\/g, '/');
}

async function readFile(uri: vscode.Uri): Promise<RefactorFile> {
  const doc = await vscode.workspace.openTextDocument(uri);
  return { path: relative(uri), text: doc.getText(), version: doc.version, languageId: doc.languageId };
}

/** Identifiers in the request that could be the symbols (camelCase, snake_case, dotted names' parts). */
function identifiersIn(request: string): string[] {
  const stop = new Set([
    'rename',
    'to',
    'the',
    'and',
    'a',
    'an',
    'in',
    'of',
    'from',
    'into',
    'extract',
    'module',
    'change',
    'add',
    'remove',
    'parameter',
    'function',
    'class',
    'method',
    'use',
    'with',
  ]);
  return [...new Set((request.match(/[A-Za-z_$][\w$]{2,}/g) ?? []).filter((w) => !stop.has(w.toLowerCase())))];
}

/**
 * The context of a change: the symbol under the cursor (or named in the request), its definition and references
 * from the language's providers, workspace symbols matching the request, the files involved and their diagnostics.
 * Without a language server for the files, a whole-word search finds the occurrences instead.
 */
async function gatherContext(
  request: string,
  editor: vscode.TextEditor | undefined,
  word: string | undefined,
  uris: Map<string, vscode.Uri>,
): Promise<RefactorContext> {
  const symbols = new Set<string>();
  const hits: SymbolHit[] = [];
  const addLocation = (loc: vscode.Location, symbol: string) => {
    if (hits.some((h) => h.path === relative(loc.uri) && h.line === loc.range.start.line && h.character === loc.range.start.character)) return;
    uris.set(relative(loc.uri), loc.uri);
    hits.push({
      path: relative(loc.uri),
      line: loc.range.start.line,
      character: loc.range.start.character,
      length: loc.range.end.character - loc.range.start.character,
      symbol,
    });
  };
  if (editor && word && request.includes(word)) {
    symbols.add(word);
    const pos = editor.selection.isEmpty ? editor.selection.active : editor.selection.start;
    const refs = await vscode.commands.executeCommand<vscode.Location[]>('vscode.executeReferenceProvider', editor.document.uri, pos).then(
      (r) => r ?? [],
      () => [],
    );
    for (const r of refs) addLocation(r, word);
  }
  for (const name of identifiersIn(request)) {
    const found = await vscode.commands.executeCommand<vscode.SymbolInformation[]>('vscode.executeWorkspaceSymbolProvider', name).then(
      (r) => r ?? [],
      () => [],
    );
    for (const s of found.filter((x) => x.name === name)) {
      symbols.add(name);
      const refs = await vscode.commands
        .executeCommand<vscode.Location[]>('vscode.executeReferenceProvider', s.location.uri, s.location.range.start)
        .then(
          (r) => r ?? [],
          () => [],
        );
      for (const r of refs) addLocation(r, name);
    }
  }
  // Whole-word search over the workspace's code as well: a language server may know only the open file (loose files,
  // a project still loading) or none may be installed. Positions it already gave are not repeated.
  {
    const names = symbols.size ? [...symbols] : identifiersIn(request);
    const uris = await vscode.workspace.findFiles(CODE_GLOB, '**/{node_modules,.git,dist,out,build}/**', 500);
    for (const uri of uris) {
      const doc = await vscode.workspace.openTextDocument(uri);
      for (const name of names) {
        for (const offset of wordOffsets(doc.getText(), name)) {
          const at = doc.positionAt(offset);
          symbols.add(name);
          addLocation(new vscode.Location(uri, new vscode.Range(at, at.translate(0, name.length))), name);
        }
      }
    }
  }
  const paths = [...new Set(hits.map((h) => h.path))].slice(0, MAX_FILES);
  const files = await Promise.all(paths.map((p) => readFile(uriFor(p, uris))));
  const diagnostics = files.flatMap((f) =>
    vscode.languages
      .getDiagnostics(uriFor(f.path, uris))
      .filter((d) => d.severity === vscode.DiagnosticSeverity.Error)
      .slice(0, 5)
      .map((d) => ({ path: f.path, line: d.range.start.line, message: d.message })),
  );
  return { request, symbols: [...symbols], files, hits: hits.filter((h) => paths.includes(h.path)), diagnostics };
}

/** The context with the given files read again where they changed since planning (hits found again by name). */
async function refreshContext(ctx: RefactorContext, paths: readonly string[], uris: ReadonlyMap<string, vscode.Uri>): Promise<RefactorContext> {
  const files = [...ctx.files];
  let hits = [...ctx.hits];
  for (const p of paths) {
    const i = files.findIndex((f) => f.path === p);
    const before = files[i];
    if (before === undefined) continue;
    const now = await readFile(uriFor(p, uris));
    if (now.version === before.version && now.text === before.text) continue;
    files[i] = now;
    hits = hits.filter((h) => h.path !== p);
    for (const name of ctx.symbols) {
      now.text.split('\n').forEach((line, n) => {
        for (const character of wordOffsets(line, name)) hits.push({ path: p, line: n, character, length: name.length, symbol: name });
      });
    }
  }
  return { ...ctx, files, hits };
}
