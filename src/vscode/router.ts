// The router in the extension host: gathers a request's features and the live facts (settings, trust, consent,
// the grid now, the endpoint's grid, today's grams, the measured local speed), computes whether the local model
// suffices with the classifier's TypeScript forward pass (in-process: routing never starts the engine worker),
// applies the policy (src/core/routing/policy.ts) and keeps the routing log.
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { Config } from '../config';
import { declaredSize } from '../core/carbon/energy/cloud';
import { carbonContext, presetForUrl } from '../core/cloud/presets';
import { assignRole } from '../core/localRoles';
import { AcceptanceTracker } from '../core/routing/acceptance';
import { OutcomeMemory } from '../core/routing/memory';
import { loadWeights, referenceForward, TS_CLASSIFIER, type RouterWeights } from '../core/routing/classifier';
import { parseWordVectors, type WordVectors } from '../core/routing/wordVectors';
import type { CloudSide } from '../core/routing/estimates';
import { featureVector, type RoutingKind } from '../core/routing/features';
import { RoutingLog, renderRoutingLog } from '../core/routing/log';
import {
  cascadeVerdict,
  decideRoute,
  MODE_DESCRIPTIONS,
  ROUTING_MODES,
  type CascadeVerdict,
  type RouteContext,
  type RouteDecision,
  type RoutingMode,
} from '../core/routing/policy';
import type { RouteQuery, Routed, TaskRouter } from '../core/routing/query';
import { planJob } from '../core/scheduling/plan';
import { DEFERRED_TASK_MINUTES } from '../core/tasks/table';
import type { GenerateResult } from '../engine/types';
import type { CarbonAccounting } from './carbonAccounting';
import type { LocalEngine } from './localEngine';
import type { CloudKeyStore } from './secrets';
import { errorMessage } from '../core/errors';

export const ROUTER_COMMANDS = {
  switchMode: 'verdant.switchRoutingMode',
  showLog: 'verdant.showRoutingLog',
} as const;

const ACCEPTANCE_KEY = 'verdant.routing.acceptance';
const MEMORY_KEY = 'verdant.routing.outcomes';
/** After the endpoint could not be reached, route as offline for this long (then try it again). */
const OFFLINE_MS = 2 * 60 * 1000;
/** Until the engine reports its context size: the smallest context the catalogue's models run with. */
const DEFAULT_CONTEXT_TOKENS = 4096;

export type { RouteQuery, Routed } from '../core/routing/query';

export interface RouterDeps {
  readonly config: Config;
  readonly engine: Pick<LocalEngine, 'knownContextTokens'>;
  readonly carbon: Pick<CarbonAccounting, 'intensity' | 'cloudIntensity' | 'device' | 'ledger' | 'forecast'>;
  readonly keys: Pick<CloudKeyStore, 'has'>;
  readonly globalState: vscode.Memento;
  readonly extensionPath: string;
  readonly log: vscode.LogOutputChannel;
  /** The power state as last polled (undefined: unknown, taken as mains). */
  readonly onBattery: () => boolean | undefined;
}

export class Router implements TaskRouter, vscode.Disposable {
  readonly log = new RoutingLog();
  private readonly acceptance: AcceptanceTracker;
  /** Local answers kept or redone, with their requests' features: similar requests lean the same way. */
  private readonly memory: OutcomeMemory;
  /** The features of the last request of each kind, for the outcome Retry / Apply / Discard reports on it. */
  private readonly lastFeatures = new Map<RoutingKind, Float32Array>();
  private weights: RouterWeights | undefined;
  private vectors: WordVectors | undefined;
  private localTps: number | undefined;
  private prefillTps: number | undefined;
  private offlineUntil = 0;
  /** The backend that answered last, e.g. "llama.cpp (vulkan)": it tells the iGPU from the CPU for the power profile. */
  private localBackend: string | undefined;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly deps: RouterDeps) {
    this.acceptance = new AcceptanceTracker(deps.globalState.get(ACCEPTANCE_KEY));
    this.memory = new OutcomeMemory(deps.globalState.get(MEMORY_KEY));
    this.disposables.push(
      vscode.commands.registerCommand(ROUTER_COMMANDS.switchMode, (mode?: RoutingMode) => this.switchMode(mode)),
      vscode.commands.registerCommand(ROUTER_COMMANDS.showLog, () => this.showLog()),
    );
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }

  /** Routes one request and logs the decision. */
  async route(q: RouteQuery): Promise<Routed> {
    const started = performance.now();
    const features = this.features(q);
    this.lastFeatures.set(q.kind, features);
    const { decision, p, classifier } = await this.decide(q, features);
    const entry = this.log.add({
      at: Date.now(),
      kind: q.kind,
      promptTokens: q.promptTokens,
      decision,
      classifier,
      decisionMs: performance.now() - started,
    });
    this.deps.log.info(
      `route ${q.kind} (${q.promptTokens} tokens): ${decision.route}${decision.cascade ? ' (cascade)' : ''}; ${decision.reason}; classifier ${classifier}`,
    );
    return { decision, entry, p, localContextTokens: this.contextTokens };
  }

  async decidePiece(q: RouteQuery): Promise<RouteDecision> {
    return (await this.decide(q, this.features(q))).decision;
  }

  /** The classifier, moved by what the user did with similar requests (the reason says so), then the policy. */
  private async decide(q: RouteQuery, features: Float32Array): Promise<{ decision: RouteDecision; p: number; classifier: string }> {
    const classified = this.classify(features);
    const lean = this.memory.lean(q.kind, features, classified.p);
    const decided = decideRoute({ kind: q.kind, promptTokens: q.promptTokens, selectionChars: q.selectionChars }, await this.context(q), lean.p);
    const decision = lean.note ? { ...decided, reason: `${decided.reason}; ${lean.note}` } : decided;
    return { decision, p: lean.p, classifier: classified.classifier };
  }

  /**
   * The same request decided again with changed facts (consent refused, run now rather than later): the policy on
   * the same probability (no second classification, no second log entry; the entry notes the change).
   */
  async reroute(q: RouteQuery, routed: Routed, why: string): Promise<RouteDecision> {
    const decision = decideRoute({ kind: q.kind, promptTokens: q.promptTokens, selectionChars: q.selectionChars }, await this.context(q), routed.p);
    routed.entry.outcome = `${why}: ${decision.route}`;
    return decision;
  }

  /** After a cascade's local draft: the classifier again, now with the draft's confidence. */
  async afterDraft(q: RouteQuery, draft: GenerateResult): Promise<CascadeVerdict & { p: number }> {
    const features = this.features(q, draft.confidence.meanLogProb ?? undefined);
    const { p } = this.classify(features);
    return { ...cascadeVerdict(p, draft.text), p };
  }

  /** The measured speeds of the local model, from its last answer. */
  noteLocalResult(r: GenerateResult): void {
    this.localBackend = r.backend;
    if (r.timing.generatedTokens > 4 && r.timing.tokensPerSecond > 0) this.localTps = r.timing.tokensPerSecond;
    const evaluated = r.timing.evaluatedTokens ?? r.timing.promptTokens;
    if (evaluated > 64 && r.timing.ttftMs > 0) this.prefillTps = evaluated / (r.timing.ttftMs / 1000);
    // The model's context size comes with every answer (r.contextTokens, kept by LocalEngine): nothing to ask for.
  }

  /** A cloud request failed to reach the endpoint (network, timeout): the next decisions treat the cloud as offline. */
  noteCloudUnreachable(): void {
    this.offlineUntil = Date.now() + OFFLINE_MS;
  }

  /** A cloud request got through: the endpoint is reachable again. */
  noteCloudReached(): void {
    this.offlineUntil = 0;
  }

  /** A local result kept (true) or sent to the cloud again (false), for the recent-acceptance feature. */
  recordAcceptance(kind: RoutingKind, accepted: boolean): void {
    this.acceptance.record(kind, accepted);
    this.deps.globalState
      .update(ACCEPTANCE_KEY, this.acceptance.toJSON())
      .then(undefined, (e: unknown) => this.deps.log.warn(`router: could not keep the acceptance history: ${errorMessage(e)}`));
    const features = this.lastFeatures.get(kind);
    if (features) {
      this.memory.record(kind, features, accepted);
      this.deps.globalState
        .update(MEMORY_KEY, this.memory.toJSON())
        .then(undefined, (e: unknown) => this.deps.log.warn(`router: could not keep the outcome memory: ${errorMessage(e)}`));
    }
  }

  private get contextTokens(): number {
    return this.deps.engine.knownContextTokens('planner') ?? DEFAULT_CONTEXT_TOKENS; // tasks run on the planner
  }

  acceptanceRate(kind: RoutingKind): number | undefined {
    return this.acceptance.rate(kind);
  }

  /** Every kind's acceptance average and outcome count (what is persisted). */
  acceptanceState(): ReturnType<AcceptanceTracker['toJSON']> {
    return this.acceptance.toJSON();
  }

  private features(q: RouteQuery, draftMeanLogProb?: number): Float32Array {
    this.vectors ??= parseWordVectors(readFileSync(path.join(this.deps.extensionPath, 'dist', 'word-vectors.bin')));
    return featureVector(
      {
        kind: q.kind,
        promptTokens: q.promptTokens,
        localContextTokens: this.contextTokens,
        files: q.files,
        selectionChars: q.selectionChars,
        localTokensPerSecond: this.localTps,
        draftMeanLogProb,
        recentAcceptance: this.acceptance.rate(q.kind),
        onBattery: this.deps.onBattery() === true,
        ...(q.text !== undefined ? { text: q.text } : {}),
        ...(q.code !== undefined ? { code: q.code } : {}),
        ...(q.language !== undefined ? { language: q.language } : {}),
      },
      this.vectors,
    );
  }

  /**
   * P(local suffices), in this process: the router is a logistic regression over the request's facts and text, so its TypeScript forward pass
   * (the same numbers as router.onnx, to 1e-6: test/integration/router-onnx.test.ts) answers in microseconds, and
   * routing never starts the engine worker (cloud-only mode, or no local model, needs none).
   */
  private classify(features: Float32Array): { p: number; classifier: string } {
    this.weights ??= loadWeights(readFileSync(path.join(this.deps.extensionPath, 'dist', 'router-weights.json'), 'utf8'));
    return { p: referenceForward(this.weights, features), classifier: TS_CLASSIFIER };
  }

  private async context(q: RouteQuery): Promise<RouteContext> {
    const s = this.deps.config.settings;
    const backend = this.localBackend ?? s.local.backend;
    const intensity = await this.deps.carbon.intensity();
    const hasKey = s.cloud.enable && s.cloud.endpoint && s.cloud.model ? await this.deps.keys.has() : false;
    const cloud = hasKey ? await this.cloudSide() : undefined;
    const cloudUnavailable = !s.cloud.endpoint
      ? 'no cloud endpoint is configured'
      : !s.cloud.enable
        ? 'the cloud is switched off (verdant.cloud.enable)'
        : !s.cloud.model
          ? 'no cloud model is set (verdant.cloud.model)'
          : 'no cloud API key is stored (run "Verdant: Set Cloud API Key")';
    const planner = assignRole(s, 'planner').model;
    const budget =
      s.routing.dailyBudgetGrams > 0
        ? { dailyGrams: s.routing.dailyBudgetGrams, usedTodayG: await this.gramsToday(), action: s.routing.budgetAction }
        : undefined;
    return {
      mode: s.routing.mode,
      local: {
        device: this.deps.carbon.device(backend),
        tokensPerSecond: this.localTps,
        prefillTokensPerSecond: this.prefillTps,
        gPerKWh: intensity.gPerKWh,
        contextTokens: this.contextTokens,
        // Tasks run on the planner's model, else the completion model's (src/core/localRoles.ts).
        ...(planner ? {} : { unavailable: 'no local model is chosen (run "Verdant: Select Local Model" or "Verdant: Select Planner Model")' }),
      },
      cloud,
      ...(cloud ? {} : { cloudUnavailable }),
      trusted: vscode.workspace.isTrusted,
      offline: Date.now() < this.offlineUntil,
      consent: q.consent,
      budget,
      cascade: s.routing.cascade,
      deferral: q.deferrable ? await this.deferral() : undefined,
    };
  }

  /**
   * The cleanest window of the forecast within verdant.routing.deferWithinHours, for a request that may wait; none
   * without a real forecast (the scheduler's own rule: never guess) or when now is already the cleanest.
   */
  private async deferral(): Promise<RouteContext['deferral']> {
    const hours = this.deps.config.settings.routing.deferWithinHours;
    if (hours <= 0) return undefined;
    const now = Date.now();
    const plan = planJob({
      forecast: await this.deps.carbon.forecast(),
      now,
      durationMinutes: DEFERRED_TASK_MINUTES,
      deadline: now + hours * 3_600_000,
    });
    return plan.runNow || plan.windowGPerKWh === null ? undefined : { windowGPerKWh: plan.windowGPerKWh, startsInMs: plan.start - now };
  }

  /**
   * The endpoint's grid (the zone and intensity the ledger records it at: CarbonAccounting.cloudIntensity), PUE and
   * model size (verdant.cloud.modelParams, as CarbonAccounting.recordCloud passes it to the ledger's record).
   */
  private async cloudSide(): Promise<CloudSide> {
    const s = this.deps.config.settings.cloud;
    const preset = presetForUrl(s.endpoint);
    const ctx = preset ? carbonContext(preset, s.model) : undefined;
    const { intensity } = await this.deps.carbon.cloudIntensity(s.endpoint);
    return { model: ctx?.catalogModel ?? s.model, declaredSize: declaredSize(s.modelParams), pue: ctx?.pue, gPerKWh: intensity.gPerKWh };
  }

  private async gramsToday(): Promise<number> {
    const start = new Date();
    start.setHours(0, 0, 0, 0);
    const { records } = await this.deps.carbon.ledger.read({ since: start });
    return records.reduce((sum, r) => sum + r.sciG, 0);
  }

  private async switchMode(given?: RoutingMode): Promise<RoutingMode | undefined> {
    const current = this.deps.config.settings.routing.mode;
    let mode = given;
    if (mode === undefined) {
      const picked = await vscode.window.showQuickPick(
        ROUTING_MODES.map((m) => ({
          label: m === current ? `$(check) ${m}` : m,
          mode: m,
          detail: MODE_DESCRIPTIONS[m],
        })),
        { title: 'Verdant: Routing Mode', placeHolder: `Now: ${current}` },
      );
      mode = picked?.mode;
    }
    if (mode === undefined) return undefined;
    if (!ROUTING_MODES.includes(mode)) throw new Error(`Unknown routing mode '${String(mode)}': use one of ${ROUTING_MODES.join(', ')}.`);
    await vscode.workspace.getConfiguration('verdant').update('routing.mode', mode, vscode.ConfigurationTarget.Global);
    return mode;
  }

  private async showLog(): Promise<string> {
    const content = renderRoutingLog(this.log.list(), this.deps.config.settings.routing.mode);
    await vscode.window.showTextDocument(await vscode.workspace.openTextDocument({ language: 'markdown', content }), { preview: true });
    return content;
  }
}
