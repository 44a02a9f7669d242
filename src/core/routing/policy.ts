// The router's decision: local, cloud or later for one request, under the user's policy mode, the hard limits
// (no cloud configured, offline, untrusted workspace, consent denied, daily budget spent, no local model) and the
// classifier's probability that the local model suffices. Pure and fast (target p99 < 1 ms): the classifier runs
// before, elsewhere (the engine worker), and its answer comes in as pLocalOk. Every decision carries a one-line
// reason with the numbers behind it, e.g. "local: 0.2 g vs cloud 0.9 g, confidence 0.81".
import { formatGrams } from '../carbon/dashboardData';
import {
  estimateCloudOption,
  estimateLaterOption,
  estimateLocalOption,
  expectedOutputTokens,
  type CloudSide,
  type LocalSide,
  type OptionEstimate,
  type Route,
} from './estimates';
import type { RoutingKind } from './features';

export const ROUTING_MODES = ['greenest', 'balanced', 'fastest', 'local-only', 'cloud-only'] as const;
export type RoutingMode = (typeof ROUTING_MODES)[number];

export const BUDGET_ACTIONS = ['warn', 'stop'] as const;
export type BudgetAction = (typeof BUDGET_ACTIONS)[number];

export const MODE_DESCRIPTIONS: Record<RoutingMode, string> = {
  greenest: 'fewest grams CO2e, counting a cloud retry when the local answer may not do',
  balanced: 'local when it is likely good enough, the cloud when not, a local draft first when unsure',
  fastest: 'the quickest complete answer',
  'local-only': 'nothing leaves this machine',
  'cloud-only': 'the cloud model whenever it is allowed',
};

/** The classifier's p(local suffices) at or above which balanced mode trusts the local model. */
export const CONFIDENT = 0.65;
/** Below this, balanced mode goes straight to the cloud. */
export const UNLIKELY = 0.35;
/**
 * In the unsure band, at or above this the classifier leans local: balanced mode drafts locally first whatever the
 * draft costs (the draft will likely be kept). Below it a draft runs only where it is cheap (CASCADE_MAX_COST).
 */
export const LEANS_LOCAL = 0.5;
/** After a local draft (cascade), escalate when the classifier, now seeing the draft's confidence, falls below this. */
export const ESCALATE_BELOW = 0.5;
/** Balanced mode sends an unsure request (when no local draft can run) to the cloud when it is this many times greener. */
export const GREENER_BY = 4;
/** A draft the classifier does not lean towards is worth it only while it costs at most this many times the cloud answer. */
export const CASCADE_MAX_COST = 2;
/** A deferral must save at least this share of the grams to be worth the wait. */
const LATER_MIN_SAVING = 0.2;

/** Kinds whose answer the user reads as a whole, so a quick local draft can be checked before it is shown. */
const CASCADE_KINDS: ReadonlySet<RoutingKind> = new Set(['explain', 'summarize', 'ask', 'commit', 'tests', 'refactor']);

export interface RouteRequest {
  readonly kind: RoutingKind;
  readonly promptTokens: number;
  readonly selectionChars: number;
  /** Defaults to the kind's typical answer length. */
  readonly outputTokens?: number;
}

export interface RouteContext {
  readonly mode: RoutingMode;
  /** The local model; `unavailable` says why it cannot run (no model chosen, engine failing). */
  readonly local: LocalSide & { readonly contextTokens: number; readonly unavailable?: string };
  /** The configured endpoint, or undefined when none is set up (endpoint, model, key, verdant.cloud.enable). */
  readonly cloud?: CloudSide;
  /** Why `cloud` is undefined, in the user's terms (#22: "no endpoint" was said when one was set but switched off). */
  readonly cloudUnavailable?: string;
  readonly trusted: boolean;
  /** The network is known to be down. */
  readonly offline?: boolean;
  readonly consent: 'granted' | 'denied' | 'unknown';
  readonly budget?: { readonly dailyGrams: number; readonly usedTodayG: number; readonly action: BudgetAction };
  /** Try local first and escalate on low confidence for uncertain requests (verdant.routing.cascade). */
  readonly cascade: boolean;
  /** A deferrable request with a cleaner window before its deadline. */
  readonly deferral?: { readonly windowGPerKWh: number; readonly startsInMs: number };
}

export interface RouteOption extends OptionEstimate {
  readonly pLocalOk: number;
  /** Why this option cannot be taken now; absent when it can. */
  readonly blocked?: string;
}

export interface RouteDecision {
  readonly route: Route;
  /** Route 'local' as a draft: escalate to the cloud when the draft's confidence is low (cascadeVerdict). */
  readonly cascade: boolean;
  readonly reason: string;
  readonly mode: RoutingMode;
  readonly pLocalOk: number;
  readonly options: readonly RouteOption[];
  /** The cloud is chosen but this workspace's consent has not been asked yet. */
  readonly needsConsent: boolean;
  /** Said alongside the result (a budget exceeded in warn mode). */
  readonly warning?: string;
}

function g(v: number): string {
  return formatGrams(v);
}

function p2(v: number): string {
  return v.toFixed(2);
}

/** Why the cloud cannot be used for this request, or undefined when it can (consent may still need asking). */
function cloudBlock(ctx: RouteContext, cloud: OptionEstimate | undefined): string | undefined {
  if (!ctx.cloud || !cloud) return ctx.cloudUnavailable ?? 'no cloud endpoint is configured';
  if (!ctx.trusted) return 'this workspace is not trusted, so code stays on this machine';
  if (ctx.consent === 'denied') return "you chose to keep this workspace's code on this machine";
  if (ctx.offline) return 'the network is offline';
  const b = ctx.budget;
  if (b && b.dailyGrams > 0 && b.action === 'stop' && b.usedTodayG + cloud.gCO2e > b.dailyGrams) {
    return `today's carbon budget of ${g(b.dailyGrams)} is spent (${g(b.usedTodayG)} used), so no bursting`;
  }
  return undefined;
}

function budgetWarning(ctx: RouteContext, cost: number): string | undefined {
  const b = ctx.budget;
  if (!b || b.dailyGrams <= 0 || b.action !== 'warn') return undefined;
  if (b.usedTodayG + cost <= b.dailyGrams) return undefined;
  return `Today's carbon budget of ${g(b.dailyGrams)} is exceeded (${g(b.usedTodayG + cost)} with this request).`;
}

/** Why the cloud cannot take this request (its option's block, or no cloud option at all), or undefined when it can. */
export function cloudBlocked(decision: RouteDecision): string | undefined {
  const cloud = decision.options.find((o) => o.route === 'cloud');
  return cloud ? cloud.blocked : 'no cloud endpoint is configured';
}

/** Whether the prompt and its expected answer fit a local context of `contextTokens` (0: unknown, so yes). */
export function fitsLocalContext(req: RouteRequest, contextTokens: number): boolean {
  const tokensOut = req.outputTokens ?? expectedOutputTokens(req.kind, req.selectionChars);
  return contextTokens <= 0 || req.promptTokens + tokensOut <= contextTokens;
}

/**
 * Decides the route. `pLocalOk` is the classifier's probability that the local model's answer will do (0..1); a
 * non-finite value counts as 0.5 (unknown).
 */
export function decideRoute(req: RouteRequest, ctx: RouteContext, pLocalOkIn: number): RouteDecision {
  const p = Number.isFinite(pLocalOkIn) ? Math.min(1, Math.max(0, pLocalOkIn)) : 0.5;
  const tokensOut = req.outputTokens ?? expectedOutputTokens(req.kind, req.selectionChars);
  const local = estimateLocalOption(req.promptTokens, tokensOut, ctx.local);
  const cloudEst = ctx.cloud ? estimateCloudOption(req.promptTokens, tokensOut, ctx.cloud) : undefined;
  const cloudBlocked = cloudBlock(ctx, cloudEst);
  const localBlocked = ctx.local.unavailable;
  // The answer shares the context with the prompt.
  const fits = fitsLocalContext({ ...req, outputTokens: tokensOut }, ctx.local.contextTokens);

  const later =
    ctx.deferral && !localBlocked ? estimateLaterOption(local, ctx.deferral.windowGPerKWh, ctx.local.gPerKWh, ctx.deferral.startsInMs) : undefined;
  const options: RouteOption[] = [{ ...local, pLocalOk: p, ...(localBlocked ? { blocked: localBlocked } : {}) }];
  if (cloudEst) options.push({ ...cloudEst, pLocalOk: p, ...(cloudBlocked ? { blocked: cloudBlocked } : {}) });
  if (later) options.push({ ...later, pLocalOk: p });

  const cloudOk = cloudEst !== undefined && cloudBlocked === undefined;
  // A local answer that will not do is retried in the cloud: count that retry, weighted by its probability.
  const expLocalG = cloudOk ? local.gCO2e + (1 - p) * cloudEst.gCO2e : local.gCO2e;
  const expLocalMs = cloudOk ? local.latencyMs + (1 - p) * cloudEst.latencyMs : local.latencyMs;
  const vs = cloudEst ? ` vs cloud ${g(cloudEst.gCO2e)}` : '';
  const conf = `confidence ${p2(p)}`;
  const unsure = p >= UNLIKELY && p < CONFIDENT;
  // A cascade needs both sides and a prompt the draft can take; the fastest mode never waits for a draft first.
  const cascadeCan = ctx.cascade && cloudOk && CASCADE_KINDS.has(req.kind) && fits && ctx.mode !== 'fastest' && ctx.mode !== 'local-only';
  // A draft that costs far more than the cloud answer is frugal only when it will likely be kept.
  const draftCost = cloudOk && cloudEst.gCO2e > 0 ? local.gCO2e / cloudEst.gCO2e : Infinity;
  const draftCheap = draftCost <= CASCADE_MAX_COST;

  const decision = (route: Route, reason: string, cascade = false): RouteDecision => {
    // A cascade may escalate: its expected cost counts the cloud answer with the probability the draft will not do.
    const cost = cascade && cloudEst ? expLocalG : (options.find((o) => o.route === route)?.gCO2e ?? 0);
    const warning = budgetWarning(ctx, cost);
    return {
      route,
      cascade,
      reason,
      mode: ctx.mode,
      pLocalOk: p,
      options,
      needsConsent: route === 'cloud' && ctx.consent === 'unknown',
      ...(warning ? { warning } : {}),
    };
  };
  const goLocal = (why: string, cascade = false): RouteDecision => {
    const text = cascade ? `local draft first, the cloud if it is unsure: ${g(local.gCO2e)}${vs}, ${conf}` : `local: ${g(local.gCO2e)}${vs}, ${conf}`;
    return decision('local', why ? `${text} (${why})` : text, cascade);
  };
  const goCloud = (why: string): RouteDecision =>
    decision('cloud', `cloud: ${g(cloudEst?.gCO2e ?? 0)} vs local ${g(local.gCO2e)}, ${conf}${why ? ` (${why})` : ''}`);

  // A deferred run is the same local run, so a poor answer is still retried in the cloud: count that retry as for
  // local now, or an unchanged (or dirtier) window would look cheaper than running now whenever p is low.
  const expLaterG = later ? later.gCO2e + (cloudOk ? (1 - p) * cloudEst.gCO2e : 0) : Infinity;
  const bestNowG = cloudOk ? Math.min(expLocalG, cloudEst.gCO2e) : local.gCO2e;
  const laterWorth =
    (ctx.mode === 'greenest' || ctx.mode === 'balanced' || ctx.mode === 'local-only') && expLaterG < (1 - LATER_MIN_SAVING) * bestNowG;
  const laterReason = `later: ${g(expLaterG)} in the clean window vs ${g(bestNowG)} now`;

  // Hard limits first: what cannot run does not compete. A forced local route still says why the local run may fail
  // (no model) or be cut (a prompt over its context).
  const tooBig = fits ? '' : `; the prompt and its answer exceed the local context (${ctx.local.contextTokens} tokens), so the prompt will be cut`;
  const localCaveat = localBlocked ? `; and ${localBlocked}` : tooBig;
  // An inline completion is never sent to the cloud for its carbon: it must come in a few hundred milliseconds, and
  // the cloud model is no completion engine. Without a local model there is no completion at all.
  if (req.kind === 'completion') return goLocal(localBlocked ? `${localBlocked}: no inline completion` : `inline completions stay local${tooBig}`);
  if (!cloudOk) {
    if (laterWorth && !localBlocked) return decision('later', `${laterReason} (${ctx.mode === 'local-only' ? 'local-only mode' : cloudBlocked})`);
    if (ctx.mode === 'cloud-only') return goLocal(`cloud-only mode, but ${cloudBlocked}${localCaveat}`);
    if (localBlocked) return goLocal(`${localBlocked}; and ${cloudBlocked}`);
    return goLocal(`${ctx.mode === 'local-only' ? 'local-only mode' : cloudBlocked}${tooBig}`);
  }
  if (ctx.mode === 'local-only') return laterWorth ? decision('later', `${laterReason} (local-only mode)`) : goLocal(`local-only mode${localCaveat}`);
  if (ctx.mode === 'cloud-only') return goCloud('cloud-only mode');
  if (localBlocked) return goCloud(localBlocked);
  if (!fits) return goCloud(`the prompt (${req.promptTokens} tokens) and its answer exceed the local context of ${ctx.local.contextTokens}`);

  switch (ctx.mode) {
    case 'fastest':
      return expLocalMs <= cloudEst.latencyMs
        ? goLocal(`fastest: about ${seconds(expLocalMs)} vs ${seconds(cloudEst.latencyMs)}`)
        : goCloud(`fastest: about ${seconds(cloudEst.latencyMs)} vs ${seconds(expLocalMs)} locally`);
    case 'greenest':
      if (laterWorth) return decision('later', laterReason);
      // Unsure: a local draft first, the cloud only if the draft is unsure too (its cost is the expected local cost).
      if (unsure && cascadeCan && draftCheap) return goLocal('', true);
      return expLocalG <= cloudEst.gCO2e
        ? goLocal(`greenest, counting a likely cloud retry: ${g(expLocalG)}`, cascadeCan && draftCheap && p < CONFIDENT)
        : goCloud(`greenest: the local answer would likely need a cloud retry, ${g(expLocalG)} expected`);
    case 'balanced':
    default: {
      if (laterWorth) return decision('later', laterReason);
      if (p < UNLIKELY) return goCloud('the local model is unlikely to do this well');
      // Confident: the local answer will do, whatever the grams (the classifier decides, not the grid).
      if (p >= CONFIDENT) return goLocal('');
      // Unsure: a local draft first where it can run, when the classifier leans local or the draft is cheap; else
      // the greener option (the cloud when far greener).
      if (cascadeCan && p >= LEANS_LOCAL)
        return goLocal(draftCheap ? '' : `leans local; the draft costs ${draftCost.toFixed(1)}x the cloud answer`, true);
      if (cascadeCan && draftCheap) return goLocal('', true);
      if (local.gCO2e > GREENER_BY * cloudEst.gCO2e)
        return goCloud(`unsure, and the cloud is ${Math.floor(local.gCO2e / cloudEst.gCO2e)}x greener for this request`);
      return expLocalG <= cloudEst.gCO2e ? goLocal('unsure: the greener option') : goCloud('unsure: the greener option');
    }
  }
}

function seconds(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

export interface CascadeVerdict {
  readonly escalate: boolean;
  readonly reason: string;
}

/**
 * After a cascade's local draft: escalate when the classifier, given the draft's confidence, now rates the local
 * answer below ESCALATE_BELOW, or the draft is empty. Both attempts' carbon is recorded by the caller.
 */
export function cascadeVerdict(pWithDraft: number, draftText: string): CascadeVerdict {
  if (draftText.trim() === '') return { escalate: true, reason: 'the local draft was empty: escalated to the cloud' };
  const p = Number.isFinite(pWithDraft) ? pWithDraft : 0;
  return p < ESCALATE_BELOW
    ? { escalate: true, reason: `the local draft's confidence ${p2(p)} was below ${ESCALATE_BELOW}: escalated to the cloud` }
    : { escalate: false, reason: `the local draft's confidence ${p2(p)} was enough: kept` };
}
