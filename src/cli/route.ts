// `verdant route`: where the router would send one request, and why. The same pieces as the extension's router
// (src/vscode/router.ts) without VS Code: the feature vector, the classifier (the TypeScript forward pass over
// router-weights.json and word-vectors.bin, in this process: no native runtime, no engine worker), and the policy
// (src/core/routing/policy.ts) over this machine's device profile and the built-in grid averages. The two files are
// looked up in $VERDANT_ROUTER_DIR, next to the CLI bundle (dist/), then in src/core/routing/model/ of a checkout.
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { formatGrams } from '../core/carbon/dashboardData';
import { detectDevice, osFacts, profile, PROFILES, type ProfileId } from '../core/carbon/energy/devices';
import { lookupGridAverage } from '../core/carbon/sources';
import { loadWeights, referenceForward, TS_CLASSIFIER } from '../core/routing/classifier';
import { featureVector, ROUTING_KINDS, type RoutingInput, type RoutingKind } from '../core/routing/features';
import { parseWordVectors } from '../core/routing/wordVectors';
import { BUDGET_ACTIONS, decideRoute, ROUTING_MODES, type BudgetAction, type RouteContext, type RoutingMode } from '../core/routing/policy';
import type { Route } from '../core/routing/estimates';
import { numberFlag, UsageError } from './args';
import { modelParamsFlag } from './ask';
import type { Command, CommandArgs } from './command';
import { errorMessage } from '../core/errors';

/** The cloud model costed when --cloud-model is not given: the all-cloud baseline's size class. */
export const DEFAULT_CLOUD_MODEL = 'llama-3.3-70b-instruct';
/** Until the engine has reported one (as in the extension): the smallest context the catalogue's models run with. */
export const DEFAULT_CONTEXT_TOKENS = 4096;
/** The backend string the extension's router costs the local model with (src/vscode/router.ts). */
const LOCAL_BACKEND = 'llama.cpp';

export interface RouteOptionOutput {
  readonly route: Route;
  readonly gCO2e: number;
  readonly rangeG: readonly [number, number];
  readonly latencyMs: number;
  readonly pLocalOk: number;
  readonly blocked?: string;
  /** How the energy is estimated, as the ledger records it: 'ecologits-2025.11+declared-size' etc. */
  readonly method: string;
  /** When the estimate rests on a guess: the cloud model's size declared, read from its name or assumed. */
  readonly note?: string;
}

export interface RouteOutput {
  readonly route: Route;
  readonly cascade: boolean;
  readonly reason: string;
  readonly mode: RoutingMode;
  readonly pLocalOk: number;
  /** Which classifier gave pLocalOk: 'ts', the in-process forward pass (as in the extension's routing log). */
  readonly classifier: string;
  readonly warning?: string;
  readonly options: readonly RouteOptionOutput[];
  /** What the estimates assumed. */
  readonly setup: {
    readonly device: string;
    readonly localGPerKWh: number;
    readonly localGrid: string;
    readonly cloudModel: string | null;
    readonly cloudGPerKWh: number | null;
    readonly cloudGrid: string | null;
    readonly contextTokens: number;
  };
}

/** Where the router's files are: $VERDANT_ROUTER_DIR, the CLI bundle's folder, a checkout's model folder. */
export function routerFileCandidates(baseDir: string, file: string, env: NodeJS.ProcessEnv = process.env): string[] {
  const dirs = [...(env.VERDANT_ROUTER_DIR ? [env.VERDANT_ROUTER_DIR] : []), baseDir, path.resolve(baseDir, '..', 'src', 'core', 'routing', 'model')];
  return dirs.map((d) => path.join(d, file));
}

/** One of the router's files, read whole; an error naming the file and the fix when it cannot be read. */
function readRouterFile(baseDir: string, file: string): Buffer {
  const candidates = routerFileCandidates(baseDir, file);
  const found = candidates.find((c) => existsSync(c)) ?? candidates[0]!; // baseDir's is always among them
  try {
    return readFileSync(found);
  } catch (e) {
    throw new Error(
      `The router classifier cannot run: ${found}: ${errorMessage(e)}. Rebuild the model files with 'node scripts/build-router-model.mjs' and 'npm run build'.`,
    );
  }
}

/** P(local suffices) for one request, in this process; fails only when the router's files cannot be read. */
export function classifyOnce(input: RoutingInput, baseDir: string): { p: number; classifier: string } {
  const weights = loadWeights(readRouterFile(baseDir, 'router-weights.json').toString('utf8'));
  const vectors = parseWordVectors(readRouterFile(baseDir, 'word-vectors.bin'));
  return { p: referenceForward(weights, featureVector(input, vectors)), classifier: TS_CLASSIFIER };
}

/** A file a flag names, read whole; a usage error naming the flag when it cannot be read. */
function readFlagFile(flag: string, file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`--${flag}: ${errorMessage(e)}`);
  }
}

function oneOf<T extends string>(flag: string, value: string | boolean | undefined, allowed: readonly T[], fallback?: T): T {
  if (value === undefined && fallback !== undefined) return fallback;
  if (value === undefined) throw new UsageError(`--${flag} is required: one of ${allowed.join(', ')}.`);
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw new UsageError(`--${flag} must be one of ${allowed.join(', ')}, not "${String(value)}".`);
  }
  return value as T;
}

const round = (n: number, d: number) => Math.round(n * 10 ** d) / 10 ** d;

/** The request and context the flags describe (exported for tests and the evaluation). */
export function parseRouteFlags(flags: CommandArgs['flags'], env: NodeJS.ProcessEnv = process.env) {
  const kind = oneOf<RoutingKind>('kind', flags.kind, ROUTING_KINDS);
  const mode = oneOf<RoutingMode>('mode', flags.mode, ROUTING_MODES, 'balanced');
  const tokens = numberFlag(flags.tokens, 'tokens', { min: 0, integer: true });
  if (tokens === undefined) throw new UsageError('--tokens N (the prompt tokens of the request) is required.');
  const files = numberFlag(flags.files, 'files', { min: 0, integer: true }) ?? (kind === 'ask' ? 0 : 1);
  const selectionChars = numberFlag(flags['selection-chars'], 'selection-chars', { min: 0, integer: true }) ?? 0;
  const localTps = numberFlag(flags['local-tps'], 'local-tps', { min: 0 });
  const contextTokens = numberFlag(flags.context, 'context', { min: 1, integer: true }) ?? DEFAULT_CONTEXT_TOKENS;
  const budgetG = numberFlag(flags.budget, 'budget', { min: 0 });
  const usedG = numberFlag(flags.used, 'used', { min: 0 });
  if (budgetG === undefined && (usedG !== undefined || flags['budget-action'] !== undefined)) {
    throw new UsageError("--used and --budget-action need --budget G (today's budget in grams CO2e).");
  }
  const budgetAction = oneOf<BudgetAction>('budget-action', flags['budget-action'], BUDGET_ACTIONS, 'warn');
  const zone = String(flags.zone ?? env.VERDANT_ZONE ?? '');
  const cloudZone = typeof flags['cloud-zone'] === 'string' ? flags['cloud-zone'] : zone;
  const cloudModel = typeof flags['cloud-model'] === 'string' ? flags['cloud-model'] : DEFAULT_CLOUD_MODEL;
  const declaredSize = modelParamsFlag(flags['model-params']);
  const noCloud = flags['no-cloud'] === true;
  if (flags.text !== undefined && flags['text-file'] !== undefined) throw new UsageError('give --text or --text-file, not both.');
  const text =
    typeof flags['text-file'] === 'string' ? readFlagFile('text-file', flags['text-file']) : typeof flags.text === 'string' ? flags.text : undefined;
  const code = typeof flags['code-file'] === 'string' ? readFlagFile('code-file', flags['code-file']) : undefined;
  const language = typeof flags.language === 'string' ? flags.language : undefined;

  const input: RoutingInput = {
    kind,
    promptTokens: tokens,
    localContextTokens: contextTokens,
    files,
    selectionChars,
    localTokensPerSecond: localTps,
    onBattery: false,
    ...(text !== undefined ? { text } : {}),
    ...(code !== undefined ? { code } : {}),
    ...(language !== undefined ? { language } : {}),
  };
  const localGrid = lookupGridAverage(zone);
  const cloudGrid = noCloud ? undefined : lookupGridAverage(cloudZone);
  const id = flags.device;
  if (id !== undefined && !Object.hasOwn(PROFILES, String(id)))
    throw new UsageError(`--device must be one of ${Object.keys(PROFILES).join(', ')}, not "${String(id)}".`);
  const device = id !== undefined ? profile(String(id) as ProfileId) : detectDevice(osFacts(), LOCAL_BACKEND);
  const ctx: RouteContext = {
    mode,
    local: { device, tokensPerSecond: localTps, gPerKWh: localGrid.gPerKWh, contextTokens },
    cloud: cloudGrid ? { model: cloudModel, declaredSize, gPerKWh: cloudGrid.gPerKWh } : undefined,
    trusted: flags.untrusted !== true,
    // The person running the CLI is the one asking: nothing to consent to on someone else's behalf.
    consent: 'granted',
    budget: budgetG !== undefined ? { dailyGrams: budgetG, usedTodayG: usedG ?? 0, action: budgetAction } : undefined,
    cascade: true,
  };
  const setup: RouteOutput['setup'] = {
    device: 'reason' in device ? `${device.label} (${String(device.reason)})` : `${device.label} (--device ${device.id})`,
    localGPerKWh: round(localGrid.gPerKWh, 2),
    localGrid: localGrid.detail,
    cloudModel: cloudGrid ? cloudModel : null,
    cloudGPerKWh: cloudGrid ? round(cloudGrid.gPerKWh, 2) : null,
    cloudGrid: cloudGrid ? cloudGrid.detail : null,
    contextTokens,
  };
  return { input, request: { kind, promptTokens: tokens, selectionChars }, ctx, setup };
}

export const routeCommand: Command = {
  summary: 'where the router sends a request (local, cloud, a local draft first) and what each option costs',
  usage:
    'verdant route --kind K --tokens N [--text "request" | --text-file F] [--code-file F [--language L]] [--files N] [--selection-chars N] [--mode M] [--zone Z] [--cloud-zone Z] ' +
    '[--cloud-model M] [--model-params N[/ACTIVE]] [--device PROFILE] [--local-tps N] [--context N] [--no-cloud] [--untrusted] [--budget G --used G [--budget-action warn|stop]] [--json]',
  flags: {
    kind: { type: 'string', value: 'K', description: `the request: ${ROUTING_KINDS.join(', ')}` },
    tokens: { type: 'string', value: 'N', description: 'prompt tokens the request needs (code, context, instruction)' },
    text: {
      type: 'string',
      value: 'TEXT',
      description: 'the request as typed (the question, the refactoring wanted): the router reads what it asks',
    },
    'text-file': { type: 'string', value: 'F', description: 'the request as typed, from a file' },
    'code-file': { type: 'string', value: 'F', description: 'the code the request carries (the selection, the file), from a file' },
    language: { type: 'string', value: 'L', description: "the code's language id, e.g. rust, python" },
    files: { type: 'string', value: 'N', description: 'files the request spans (default 1; 0 for ask)' },
    'selection-chars': { type: 'string', value: 'N', description: 'characters selected (default 0)' },
    mode: { type: 'string', value: 'M', description: `${ROUTING_MODES.join(', ')} (default balanced)` },
    zone: { type: 'string', value: 'Z', description: 'your grid zone, built-in average (default $VERDANT_ZONE, else world)' },
    'cloud-zone': { type: 'string', value: 'Z', description: "the cloud endpoint's grid zone (default --zone)" },
    'cloud-model': { type: 'string', value: 'M', description: `the cloud model (default ${DEFAULT_CLOUD_MODEL})` },
    'model-params': {
      type: 'string',
      value: 'N[/ACTIVE]',
      description: "the cloud model's size in billions when the catalogue lacks it: 32, or 235/22 for a mixture of experts",
    },
    device: { type: 'string', value: 'PROFILE', description: `local device profile (default detected): ${Object.keys(PROFILES).join(', ')}` },
    'local-tps': { type: 'string', value: 'N', description: 'measured local decode speed, tokens/s (default: not measured)' },
    context: { type: 'string', value: 'N', description: `the local model's context, tokens (default ${DEFAULT_CONTEXT_TOKENS})` },
    'no-cloud': { type: 'boolean', description: 'no cloud endpoint configured' },
    untrusted: { type: 'boolean', description: 'an untrusted workspace: code never leaves this machine' },
    budget: { type: 'string', value: 'G', description: 'daily carbon budget, grams CO2e' },
    used: { type: 'string', value: 'G', description: 'grams already used today (with --budget; default 0)' },
    'budget-action': { type: 'string', value: 'A', description: 'warn or stop (no cloud) once the budget is spent (default warn)' },
  },
  async run({ flags, io }): Promise<RouteOutput> {
    const { input, request, ctx, setup } = parseRouteFlags(flags);
    const { p, classifier } = classifyOnce(input, io.baseDir);
    const d = decideRoute(request, ctx, p);
    return {
      route: d.route,
      cascade: d.cascade,
      reason: d.reason,
      mode: d.mode,
      pLocalOk: round(d.pLocalOk, 4),
      classifier,
      ...(d.warning ? { warning: d.warning } : {}),
      options: d.options.map((o) => ({
        route: o.route,
        gCO2e: round(o.gCO2e, 6),
        rangeG: [round(o.rangeG[0], 6), round(o.rangeG[1], 6)] as const,
        latencyMs: Math.round(o.latencyMs),
        pLocalOk: round(o.pLocalOk, 4),
        ...(o.blocked ? { blocked: o.blocked } : {}),
        method: o.method,
        ...(o.note ? { note: o.note } : {}),
      })),
      setup,
    };
  },
  format: (r) => {
    const o = r as RouteOutput;
    const route = o.cascade ? 'local draft first, the cloud if it is unsure' : o.route;
    const seconds = (ms: number) => (ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`);
    const remarks = (x: RouteOptionOutput) => [x.note, x.blocked && `blocked: ${x.blocked}`].filter(Boolean).join('; ');
    const rows = o.options.map((x) => [
      x.route,
      formatGrams(x.gCO2e),
      `${formatGrams(x.rangeG[0])} – ${formatGrams(x.rangeG[1])}`,
      seconds(x.latencyMs),
      remarks(x),
    ]);
    const header = ['option', 'CO2e', 'range', 'latency', ''];
    // Every row, the header included, has the same five cells.
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
    const line = (cells: string[]) =>
      cells
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd();
    const cloud = o.setup.cloudModel ? `cloud ${o.setup.cloudModel} at ${o.setup.cloudGPerKWh} g/kWh` : 'no cloud';
    return [
      `route: ${route} (${o.mode}, p(local ok) ${o.pLocalOk.toFixed(2)}, classifier ${o.classifier})`,
      o.reason,
      ...(o.warning ? [`warning: ${o.warning}`] : []),
      '',
      line(header),
      ...rows.map(line),
      '',
      `local: ${o.setup.device}, ${o.setup.localGPerKWh} g/kWh; ${cloud}; local context ${o.setup.contextTokens} tokens`,
    ].join('\n');
  },
};
