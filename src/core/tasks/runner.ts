// The one place a palette task goes through: build the prompt, route it (in-process), ask consent, redact, run it
// locally or in the cloud (with the cascade) through ModelCalls (src/core/tasks/calls.ts: one ledger record per
// attempt, whose grams the result names), or queue it for a cleaner window. Palette tasks and deferred jobs run
// here; refactor plans and steps, the chat provider and the CLI's `ask` and `complete` make their model calls through
// the same ModelCalls. The editor (src/vscode) keeps only input, UI and diffs. Everything is passed in: the router,
// the consent store, the local engine, the cloud endpoint, the ledger and the UI.
import { hostOf } from '../cloud/endpoint';
import { redactDiff, redactFile, sensitiveReason } from '../cloud/outgoing';
import { errorMessage } from '../errors';
import type { ChatMessage, WorkPurpose } from '../inference/types';
import { runCascade } from '../routing/cascade';
import { CHARS_PER_TOKEN } from '../routing/estimates';
import { cloudBlocked, fitsLocalContext, type RouteDecision } from '../routing/policy';
import type { Consent, RouteQuery, Routed, TaskRouter } from '../routing/query';
import { ModelCalls, strip, type CallFeature, type CallOptions, type ModelCallsDeps, type SentCloudRequest, type TaskOutcome } from './calls';
import { rejoinable, splitRegions } from './regions';
import { extractCodeBlock, TASKS, type TaskContext, type TaskKind } from './table';

/** A deferrable task the router sent to a cleaner window: queued, not run. */
export interface DeferredOutcome {
  readonly route: 'later';
  readonly reason: string;
  /** When the window starts (epoch ms), and the queued job's label. */
  readonly at: number;
  readonly label: string;
  readonly decision: RouteDecision;
}

/** What the runner shows or asks; the editor shows notifications, the CLI writes to stderr and asks nothing. */
export interface TaskUi {
  /** Runs `work` with progress and a cancel button; `report` gets the characters generated so far. */
  progress<T>(title: string, work: (signal: AbortSignal, report: (chars: number) => void) => Promise<T>): Promise<T>;
  warn(message: string): void;
  error(message: string): void;
  /** A secrets file the user asked to send to the cloud: send it (every value redacted)? */
  confirmSecretsFile(reason: string, host: string): Promise<boolean>;
  /** The cloud request failed: run it locally with the same input? */
  offerLocal(message: string): Promise<boolean>;
}

export interface TaskRunnerDeps extends Omit<ModelCallsDeps, 'observe'> {
  readonly router: TaskRouter;
  readonly consent: { readonly value: Consent; ask(host: string, what: string): Promise<Consent> };
  readonly ui: TaskUi;
  readonly log: { info(message: string): void; error(message: string): void };
  /**
   * Queues a deferrable task for the window the router found (asking the user first); undefined when the user
   * chose to run it now. Absent where there is no queue (the CLI).
   */
  readonly defer?: (kind: TaskKind, ctx: TaskContext, decision: RouteDecision) => Promise<{ at: number; label: string } | undefined>;
}

export interface RunOptions {
  /** Gets the answer's text as it streams (a cascade's kept draft, once kept). */
  readonly sink?: (text: string) => void;
  /** A retry on the route the user asked for. */
  readonly force?: 'local' | 'cloud';
  /** False for a job queued where the cloud was not allowed (untrusted, or no consent). */
  readonly cloud?: boolean;
  /** Asked for now, in the editor: a deferrable task may be offered a cleaner window. */
  readonly mayDefer?: boolean;
  /** 'background' for a deferred job nobody waits on: the local engine may run it at low priority. */
  readonly purpose?: WorkPurpose;
}

export function isCancel(e: unknown): boolean {
  return (e as { code?: string } | undefined)?.code === 'cancelled' || (e instanceof Error && e.name === 'AbortError');
}

const UNREACHABLE = new Set(['network', 'timeout', 'idle-timeout', 'deadline']);

export class TaskRunner {
  private readonly calls: ModelCalls;

  constructor(private readonly deps: TaskRunnerDeps) {
    this.calls = new ModelCalls({ ...deps, observe: deps.router });
  }

  /** The last request sent to the cloud, exactly as sent (after redaction). */
  get lastCloudRequest(): SentCloudRequest | undefined {
    return this.calls.lastCloudRequest;
  }

  /** One model call on a route already decided (a refactor's plan or step, a chat message): see ModelCalls.call. */
  call(route: 'local' | 'cloud', feature: CallFeature, messages: ChatMessage[], opts: CallOptions = {}): Promise<TaskOutcome> {
    return this.calls.call(route, feature, messages, opts);
  }

  /**
   * A palette task: routed, consent asked when the cloud is chosen, run with progress and cancel (a cascade: a local
   * draft first, the cloud when the draft is unsure), every attempt recorded, local offered on a cloud failure.
   * Undefined when it was cancelled, refused or failed (the failure is shown).
   */
  async run(kind: TaskKind, ctx: TaskContext, opts: RunOptions = {}): Promise<TaskOutcome | DeferredOutcome | undefined> {
    const { force } = opts;
    const spec = TASKS[kind];
    const messages = spec.prompt(ctx);
    // What the cloud gets: the file through redactFile (a .env loses every value; a staged diff loses the changes to
    // secrets files), then every message through redactSecrets in callCloud.
    const file = kind === 'commit' ? redactDiff(ctx.code) : redactFile(ctx.filePath, ctx.code);
    const cloud = { messages: spec.prompt({ ...ctx, code: file.text }), redactions: file.findings.length };
    const secretsFile = ctx.code ? sensitiveReason(ctx.filePath) : undefined;
    const query: RouteQuery = {
      kind: spec.routingKind,
      promptTokens: promptTokens(messages),
      files: ctx.code ? 1 : 0,
      selectionChars: kind === 'ask' ? 0 : ctx.code.length,
      consent: this.deps.consent.value,
      deferrable: spec.deferrable && opts.mayDefer === true && !force && this.deps.defer !== undefined,
      text: ctx.instruction ?? '',
      code: ctx.code,
      language: ctx.languageId,
    };
    const routed = await this.deps.router.route(query);
    const entry = routed.entry;
    let decision = routed.decision;
    if (force === 'local')
      decision = { ...decision, route: 'local', cascade: false, needsConsent: false, reason: `retried locally at your request (${decision.reason})` };
    if (force === 'cloud') {
      const blocked = cloudBlocked(decision);
      if (blocked) {
        entry.outcome = `retry in cloud refused: ${blocked}`;
        this.deps.ui.warn(`cannot retry in the cloud: ${blocked}.`);
        return undefined;
      }
      decision = {
        ...decision,
        route: 'cloud',
        cascade: false,
        needsConsent: this.deps.consent.value === 'unknown',
        reason: `retried in the cloud at your request (${decision.reason})`,
      };
    }
    // "Retry Locally" splits too, whatever the router reads in the parts: the user asked for this machine.
    const pieces =
      decision.route !== 'later' && force !== 'cloud'
        ? await this.localPieces(kind, ctx, query, routed.localContextTokens, force === 'local')
        : undefined;
    if (pieces) return this.runPieces(ctx, pieces, routed, opts);
    if (decision.route === 'later') {
      const queued = query.deferrable && this.deps.defer ? await this.deps.defer(kind, ctx, decision) : undefined;
      if (queued) {
        entry.outcome = `queued for ${new Date(queued.at).toISOString()}`;
        return { route: 'later', reason: decision.reason, at: queued.at, label: queued.label, decision };
      }
      decision = await this.deps.router.reroute({ ...query, deferrable: false }, routed, 'run now instead');
    }
    if (opts.cloud === false && (decision.route === 'cloud' || decision.cascade)) {
      decision = {
        ...decision,
        route: 'local',
        cascade: false,
        needsConsent: false,
        reason: `${decision.reason}; queued where the cloud was not allowed (untrusted, or no consent): runs locally`,
      };
    }
    if (decision.needsConsent && (await this.askConsent(kind)) !== 'granted') {
      decision =
        force === 'cloud' ? decision : await this.deps.router.reroute({ ...query, consent: 'denied', deferrable: false }, routed, 'consent refused');
      if (force === 'cloud' || decision.route === 'cloud') {
        entry.outcome = 'cloud consent not given';
        decision = { ...decision, route: 'local', cascade: false, reason: 'cloud consent not given: ran locally' };
      }
    }
    if (secretsFile && (decision.route === 'cloud' || decision.cascade)) {
      // A secrets file goes out only when the user asked for the cloud for it, and says yes once more.
      if (force === 'cloud') {
        if (!(await this.deps.ui.confirmSecretsFile(secretsFile, this.cloudHost()))) {
          entry.outcome = `not sent: ${secretsFile}`;
          return undefined;
        }
      } else {
        this.deps.log.info(`task ${kind}: ${secretsFile}; kept on this machine`);
        decision = { ...decision, route: 'local', cascade: false, reason: `${secretsFile}: kept on this machine` };
      }
    }
    if (decision.warning) this.deps.ui.warn(decision.warning);
    const final = decision;
    // A refactor's answer is the selection rewritten: room for all of it (the default would cut a long one short).
    const maxTokens = kind === 'refactor' ? answerRoom(ctx.code, query.promptTokens, routed.localContextTokens) : undefined;
    const title = `${kind} (${final.cascade ? 'local draft first' : final.route})`;
    let inCloud = false;
    const toCloud = (signal: AbortSignal, report: (chars: number) => void) => {
      inCloud = true;
      return this.calls.chatCloud(kind, cloud.messages, { signal, report, sink: opts.sink, reason: final.reason }, cloud.redactions);
    };
    try {
      const outcome = await this.deps.ui.progress(title, async (signal, report): Promise<TaskOutcome> => {
        if (final.route === 'cloud') return toCloud(signal, report);
        const chat = { signal, report, reason: final.reason, purpose: opts.purpose, ...(maxTokens ? { maxTokens } : {}) };
        if (!final.cascade) return strip(await this.calls.chatLocal('task', messages, { ...chat, sink: opts.sink }));
        // Cascade: the draft is held back (not streamed) until the classifier, seeing its confidence, keeps it.
        const c = await runCascade({
          draft: () => this.calls.chatLocal('task', messages, chat),
          judge: async (draft) => {
            const v = await this.deps.router.afterDraft(query, draft.result);
            this.deps.log.info(`task ${kind}: ${v.reason} (p ${v.p.toFixed(2)})`);
            return v;
          },
          mayEscalate: async () =>
            this.deps.consent.value === 'granted' || (this.deps.consent.value === 'unknown' && (await this.askConsent(kind)) === 'granted'),
          escalate: () => toCloud(signal, report),
          isCancel,
        });
        if (!c.escalated) {
          opts.sink?.(c.result.text);
          return { ...strip(c.result), reason: `${final.reason}; ${c.reason}` };
        }
        return {
          ...c.result,
          reason: `${final.reason}; ${c.reason}`,
          grams: sumGrams(c.draft?.grams, c.result.grams),
          recordIds: [...(c.draft?.recordIds ?? []), ...c.result.recordIds],
          cascaded: true,
        };
      });
      entry.outcome = outcome.cascaded ? 'local draft, then cloud' : `done (${outcome.route})`;
      entry.grams = outcome.grams;
      return { ...outcome, decision: final };
    } catch (e) {
      const message = errorMessage(e);
      // The user cancelled: nothing to report, nothing to offer.
      if (isCancel(e)) {
        this.deps.log.info(`task ${kind} cancelled`);
        entry.outcome = 'cancelled';
        return undefined;
      }
      entry.outcome = `failed: ${message}`;
      this.deps.log.error(`task ${kind} (${final.route}) failed: ${message}`);
      if (!inCloud) {
        this.deps.ui.error(message);
        return undefined;
      }
      if (UNREACHABLE.has((e as { code?: string }).code ?? '')) this.deps.router.noteCloudUnreachable();
      if (!(await this.deps.ui.offerLocal(`the cloud request failed: ${message}`))) return undefined;
      const reason = 'cloud failed: ran locally';
      const local = await this.deps.ui.progress(`${kind} (local)`, async (signal, report) =>
        strip(await this.calls.chatLocal('task', messages, { signal, report, sink: opts.sink, reason, ...(maxTokens ? { maxTokens } : {}) })),
      );
      entry.outcome = 'cloud failed, ran locally';
      entry.grams = local.grams;
      return { ...local, decision: final };
    }
  }

  /**
   * A refactor too long for the local context, cut between top-level blocks into regions that each fit it and that
   * each route local (the router reads every region with the same instruction): a long mechanical change stays on
   * this machine. Undefined when the request fits, cannot be cut, or some region would not stay local (unless the
   * user asked for local: `forced`).
   */
  private async localPieces(
    kind: TaskKind,
    ctx: TaskContext,
    query: RouteQuery,
    contextTokens: number,
    forced: boolean,
  ): Promise<Piece[] | undefined> {
    if (kind !== 'refactor' || contextTokens <= 0 || fitsLocalContext(query, contextTokens)) return undefined;
    const spec = TASKS[kind];
    const templateChars = promptTokens(spec.prompt({ ...ctx, code: '' })) * CHARS_PER_TOKEN;
    // The region goes in once and comes back a little longer (expectedOutputTokens: 1.1x), with a tenth to spare.
    const maxChars = Math.floor((0.9 * (contextTokens * CHARS_PER_TOKEN - templateChars)) / 2.1);
    const regions = maxChars > 0 ? splitRegions(ctx.code, maxChars) : undefined;
    if (!regions) return undefined;
    const pieces: Piece[] = [];
    for (const code of regions) {
      const messages = spec.prompt({ ...ctx, code });
      const q: RouteQuery = { ...query, promptTokens: promptTokens(messages), selectionChars: code.length, code, deferrable: false };
      if (!fitsLocalContext(q, contextTokens)) return undefined;
      const decision = await this.deps.router.decidePiece(q);
      if (!forced && (decision.route !== 'local' || decision.cascade)) return undefined;
      pieces.push({ code, messages, decision, maxTokens: contextTokens - q.promptTokens });
    }
    return pieces;
  }

  /** The regions of a split refactor, locally one after another, joined into one answer (one record each). */
  private async runPieces(
    ctx: TaskContext,
    pieces: readonly Piece[],
    routed: Routed,
    { sink, purpose, force }: RunOptions,
  ): Promise<TaskOutcome | undefined> {
    const n = pieces.length;
    const ps = pieces.map((x) => x.decision.pLocalOk);
    const confidence = `confidence ${Math.min(...ps).toFixed(2)} to ${Math.max(...ps).toFixed(2)}`;
    const forced = force === 'local';
    const reason =
      `${forced ? 'retried locally at your request, ' : ''}local in ${n} parts: the selection with its answer exceeds the local context of ` +
      `${routed.localContextTokens} tokens, and each part fits it${forced ? ` (${confidence})` : ` and reads as local work (${confidence})`}`;
    const { entry } = routed;
    this.deps.log.info(`task refactor: ${reason}`);
    const decision: RouteDecision = { ...routed.decision, route: 'local', cascade: false, needsConsent: false, reason };
    const done: TaskOutcome[] = [];
    try {
      const outcome = await this.deps.ui.progress(`refactor (local, ${n} parts)`, async (signal, report) => {
        let before = 0;
        const code: string[] = [];
        for (const [i, piece] of pieces.entries()) {
          const o = strip(
            await this.calls.chatLocal('task', piece.messages, {
              signal,
              report: (c) => report(before + c),
              reason,
              maxTokens: piece.maxTokens,
              purpose,
            }),
          );
          done.push(o);
          before += o.text.length;
          const replacement = extractCodeBlock(o.text);
          if (replacement === undefined)
            throw new Error(
              `The local model's answer for part ${i + 1} of ${n} has no complete code block, so nothing was changed. Retry in the cloud, or refactor a smaller selection.`,
            );
          code.push(rejoinable(replacement, piece.code));
        }
        const fence = '`'.repeat(Math.max(3, ...[...code.join('').matchAll(/`+/g)].map((m) => m[0].length + 1)));
        const text = `${fence}${ctx.languageId}\n${code.join('').replace(/\n$/, '')}\n${fence}\n\nRefactored locally in ${n} parts, each within the local model's context.`;
        sink?.(text);
        return {
          route: 'local' as const,
          reason,
          model: done[0]!.model,
          text,
          grams: done.reduce<number | undefined>((g, o) => sumGrams(g, o.grams), undefined),
          recordIds: done.flatMap((o) => o.recordIds),
        };
      });
      entry.outcome = `done (local, ${n} parts)`;
      entry.grams = outcome.grams;
      return { ...outcome, decision };
    } catch (e) {
      // The parts that ran stay in the ledger: they used energy whether or not the whole came together.
      entry.outcome = isCancel(e) ? 'cancelled' : `failed: ${errorMessage(e)}`;
      if (isCancel(e)) this.deps.log.info('task refactor cancelled');
      else {
        this.deps.log.error(`task refactor (local, ${n} parts) failed after ${done.length}: ${errorMessage(e)}`);
        this.deps.ui.error(errorMessage(e));
      }
      return undefined;
    }
  }

  private cloudHost(): string {
    return this.deps.cloud ? hostOf(this.deps.cloud.target().endpoint) : '(no endpoint)';
  }

  private askConsent(kind: TaskKind): Promise<Consent> {
    return this.deps.consent.ask(this.cloudHost(), TASKS[kind].sends);
  }
}

/** One region of a split refactor: its code, its prompt, how the router decided it, and room for its answer. */
interface Piece {
  readonly code: string;
  readonly messages: ChatMessage[];
  readonly decision: RouteDecision;
  readonly maxTokens: number;
}

/**
 * Tokens a local refactor may answer with: the selection comes back a little longer (1.5x, and a few sentences),
 * never fewer than the default 1,024 and never past what the context leaves after the prompt.
 */
function answerRoom(code: string, prompt: number, contextTokens: number): number {
  const wanted = Math.max(1024, Math.ceil((1.5 * code.length) / CHARS_PER_TOKEN) + 128);
  return contextTokens > prompt ? Math.min(wanted, contextTokens - prompt) : wanted;
}

function promptTokens(messages: readonly ChatMessage[]): number {
  return Math.ceil(messages.reduce((n, m) => n + m.content.length, 0) / CHARS_PER_TOKEN);
}

function sumGrams(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined && b === undefined ? undefined : (a ?? 0) + (b ?? 0);
}
