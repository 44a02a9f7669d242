// Offline evaluation of the router (`npm run eval:router`, after `npm run build`): every request of the corpus's
// held-out split (src/core/routing/model/corpus/*.jsonl, isHeldOut in src/core/routing/training.ts: never trained
// on) through the ONNX classifier (onnxruntime-node, in this process) and the policy in balanced and greenest
// modes, under one fixed, documented setup (EVAL_SETUP). `--data FILE` scores a JSON Lines file instead (the
// corpus format, or the older {input, localOk} rows of eval.jsonl). Writes bench/results/router-eval.json and prints:
// - classifier agreement with the labels (p >= 0.5 means "local suffices"; a request labelled "either" agrees with
//   both routes);
// - policy agreement: the route is local (a cascade counts as local-first) where the label says local, the cloud
//   where it says cloud, either where it says either; the same on the disagreement slice (requests tagged
//   short-but-hard or long-but-mechanical, where size and difficulty point different ways);
// - confusion matrices, and the best single-route baseline (always local or always cloud, whichever scores higher);
// - carbon: the grams of the router's choices against all-cloud and all-local, where a local answer on a row
//   labelled not-localOk costs local + cloud (the user retries in the cloud), and a cascade costs the local draft
//   plus the cloud when it escalates, with the label as the oracle (escalate iff !localOk).
// The grams are the policy's own estimates (src/core/routing/estimates.ts) for each row's tokens and local speed.
//   node out/bench/evalRouter.js [--out FILE]
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { detectDevice } from '../src/core/carbon/energy/devices';
import { lookupGridAverage } from '../src/core/carbon/sources';
import { featureVector, type RoutingInput } from '../src/core/routing/features';
import { decideRoute, type RouteContext, type RoutingMode } from '../src/core/routing/policy';
import { agrees, corpusInput, isHeldOut, parseCorpus, readCorpusDir, readWordVectors, type Label } from '../src/core/routing/training';
import type { WordVectors } from '../src/core/routing/wordVectors';
import { OnnxRouter } from '../src/engine/router/onnxRouter';

export interface EvalRow {
  readonly input: RoutingInput;
  readonly label: Label;
  readonly why: string;
  readonly tags?: readonly string[];
  readonly id?: string;
}

/** Where size and difficulty disagree: short-but-hard and long-but-mechanical requests. */
const DISAGREEMENT_TAGS = new Set(['short-hard', 'long-mechanical']);
const inDisagreement = (r: EvalRow) => (r.tags ?? []).some((t) => DISAGREEMENT_TAGS.has(t));
/** The local model suffices: labelled local or either (the grams count no cloud retry). */
const localOk = (r: EvalRow) => r.label !== 'cloud';

/**
 * The fixed reference setup: a developer in Germany on a Ryzen 7 7840HS laptop (Framework 16 class) running the
 * local model under llama.cpp (the backend string the extension's router uses), and a cloud endpoint in France
 * serving Llama 3.3 70B at the provider-default PUE. Local speed and context are each row's own.
 */
export const EVAL_SETUP = {
  userZone: 'DE',
  cloudZone: 'FR',
  cloudModel: 'llama-3.3-70b-instruct',
  cpuModel: 'AMD Ryzen 7 7840HS w/ Radeon 780M Graphics',
  logicalCpus: 16,
  backend: 'llama.cpp (vulkan)',
  trusted: true,
  consent: 'granted',
  cascade: true,
} as const;

export const EVAL_MODES = ['balanced', 'greenest'] as const;
export type EvalMode = (typeof EVAL_MODES)[number];

export const DEFAULT_CORPUS_DIR = path.join('src', 'core', 'routing', 'model', 'corpus');
export const DEFAULT_MODEL_FILE = path.join('src', 'core', 'routing', 'model', 'router.onnx');
export const DEFAULT_WORD_VECTORS_FILE = path.join('src', 'core', 'routing', 'model', 'word-vectors.bin');

/** A JSON Lines file of corpus requests, or of the older {input, localOk, why} rows. */
export function readEvalRows(file: string): EvalRow[] {
  const content = readFileSync(file, 'utf8');
  const first = content.split('\n').find((l) => l.trim() !== '');
  if (first !== undefined && 'label' in (JSON.parse(first) as object)) {
    return parseCorpus(content, file).map((r) => ({ input: corpusInput(r), label: r.label, why: r.why, tags: r.tags, id: r.id }));
  }
  return content
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l, i) => {
      const row = JSON.parse(l) as { input: RoutingInput; localOk: boolean; why: string };
      if (typeof row.localOk !== 'boolean' || typeof row.input !== 'object') throw new Error(`${file}:${i + 1}: expected {input, localOk, why}`);
      return { input: row.input, label: row.localOk ? 'local' : 'cloud', why: row.why };
    });
}

/** The held-out split of the corpus: what the model never saw. */
export function heldOutRows(dir = DEFAULT_CORPUS_DIR): EvalRow[] {
  return readCorpusDir(dir)
    .filter(isHeldOut)
    .map((r) => ({ input: corpusInput(r), label: r.label, why: r.why, tags: r.tags, id: r.id }));
}

/** Counts of predictions against labels: "local" predicted or not, for rows labelled localOk or not. */
export interface Confusion {
  /** Labelled localOk, sent local (or a local-first cascade). */
  readonly localOkRoutedLocal: number;
  /** Labelled localOk, sent to the cloud: grams and latency spent for nothing. */
  readonly localOkRoutedCloud: number;
  /** Labelled not-localOk, sent local: the user gets a poor answer first (and retries in the cloud). */
  readonly notOkRoutedLocal: number;
  readonly notOkRoutedCloud: number;
}

export interface Accuracy {
  readonly correct: number;
  readonly total: number;
  readonly accuracy: number;
}

export interface CarbonTotals {
  readonly routerG: number;
  readonly allCloudG: number;
  readonly allLocalG: number;
  /** Routes that match the labels: local exactly where the local model will do, the cloud elsewhere. */
  readonly labelRoutesG: number;
  /** The least any router could emit: the cheaper of local and cloud where the local model will do, else the cloud. */
  readonly minimumG: number;
  readonly savedVsAllCloudG: number;
  readonly savedVsAllCloudPct: number;
  readonly savedVsAllLocalG: number;
  readonly savedVsAllLocalPct: number;
}

export interface ModeResult {
  readonly mode: EvalMode;
  readonly accuracy: Accuracy;
  /** On the requests where size and difficulty disagree. */
  readonly disagreement: Accuracy;
  readonly confusion: Confusion;
  readonly routes: { readonly local: number; readonly cascade: number; readonly cloud: number; readonly later: number };
  readonly carbon: CarbonTotals;
}

export interface RowResult {
  readonly row: number;
  readonly kind: string;
  readonly promptTokens: number;
  readonly label: Label;
  readonly id?: string;
  readonly p: number;
  readonly localG: number;
  readonly cloudG: number;
  /** 'local', 'cascade', 'cloud' or 'later' per mode. */
  readonly routes: Readonly<Record<EvalMode, string>>;
}

export interface SensitivityRow {
  readonly userZone: string;
  readonly cloudZone: string;
  readonly allCloudG: number;
  readonly allLocalG: number;
  readonly labelRoutesG: number;
  readonly minimumG: number;
  readonly balancedG: number;
  readonly greenestG: number;
  readonly balancedBeatsAllCloud: boolean;
}

export interface EvalReport {
  readonly setup: typeof EVAL_SETUP & { readonly device: string; readonly userGPerKWh: number; readonly cloudGPerKWh: number };
  readonly rows: number;
  readonly labels: Readonly<Record<Label, number>>;
  readonly disagreementRows: number;
  readonly classifier: Accuracy & { readonly confusion: Confusion; readonly provider: string; readonly disagreement: Accuracy };
  readonly baseline: {
    readonly alwaysLocal: Accuracy;
    readonly alwaysCloud: Accuracy;
    readonly best: 'local' | 'cloud';
    readonly bestAccuracy: number;
  };
  readonly modes: Readonly<Record<EvalMode, ModeResult>>;
  /** The same rows and answers under other grids: where the balanced router beats all-cloud. */
  readonly sensitivity: readonly SensitivityRow[];
  readonly perRow: readonly RowResult[];
}

const r6 = (n: number) => Math.round(n * 1e6) / 1e6;
const r4 = (n: number) => Math.round(n * 1e4) / 1e4;
const r1 = (n: number) => Math.round(n * 10) / 10;

function accuracy(correct: number, total: number): Accuracy {
  return { correct, total, accuracy: total > 0 ? r4(correct / total) : 0 };
}

/** Confusion of local/cloud against local-ok (local or either) / cloud labels. */
function confusion(pairs: readonly { local: boolean; localOk: boolean }[]): Confusion {
  const count = (local: boolean, ok: boolean) => pairs.filter((x) => x.local === local && x.localOk === ok).length;
  return {
    localOkRoutedLocal: count(true, true),
    localOkRoutedCloud: count(false, true),
    notOkRoutedLocal: count(true, false),
    notOkRoutedCloud: count(false, false),
  };
}

/** The grids of one evaluation: the fixed setup's, or another pair for the sensitivity table. */
export interface Grids {
  readonly userZone: string;
  readonly cloudZone: string;
}

const DEFAULT_GRIDS: Grids = { userZone: EVAL_SETUP.userZone, cloudZone: EVAL_SETUP.cloudZone };

/** Grid pairs of the sensitivity table: a clean, a mid and a coal-heavy user grid against three cloud grids. */
export const SENSITIVITY_USER_ZONES = ['SE', 'FR', 'GB', 'DE', 'PL'] as const;
export const SENSITIVITY_CLOUD_ZONES = ['FR', 'DE', 'US'] as const;

function evalDevice() {
  return detectDevice({ cpuModel: EVAL_SETUP.cpuModel, logicalCpus: EVAL_SETUP.logicalCpus, platform: 'linux', arch: 'x64' }, EVAL_SETUP.backend);
}

/** The decision context of one row under the fixed setup (or other grids). */
export function evalContext(row: EvalRow, mode: RoutingMode, grids: Grids = DEFAULT_GRIDS): RouteContext {
  return {
    mode,
    local: {
      device: evalDevice(),
      tokensPerSecond: row.input.localTokensPerSecond,
      gPerKWh: lookupGridAverage(grids.userZone).gPerKWh,
      contextTokens: row.input.localContextTokens,
    },
    cloud: { model: EVAL_SETUP.cloudModel, gPerKWh: lookupGridAverage(grids.cloudZone).gPerKWh },
    trusted: EVAL_SETUP.trusted,
    consent: EVAL_SETUP.consent,
    cascade: EVAL_SETUP.cascade,
  };
}

function carbonTotals(routerG: number, allCloudG: number, allLocalG: number, labelRoutesG: number, minimumG: number): CarbonTotals {
  const pct = (saved: number, of: number) => (of > 0 ? r1((100 * saved) / of) : 0);
  return {
    routerG: r6(routerG),
    allCloudG: r6(allCloudG),
    allLocalG: r6(allLocalG),
    labelRoutesG: r6(labelRoutesG),
    minimumG: r6(minimumG),
    savedVsAllCloudG: r6(allCloudG - routerG),
    savedVsAllCloudPct: pct(allCloudG - routerG, allCloudG),
    savedVsAllLocalG: r6(allLocalG - routerG),
    savedVsAllLocalPct: pct(allLocalG - routerG, allLocalG),
  };
}

interface PolicyRun {
  readonly perRow: RowResult[];
  readonly modes: Record<EvalMode, ModeResult>;
}

/** The policy in each mode over the rows, given the classifier's answers, under one pair of grids. */
export function evaluatePolicy(rows: readonly EvalRow[], p: readonly number[], grids: Grids = DEFAULT_GRIDS): PolicyRun {
  const perRow: RowResult[] = [];
  const modeRoutes: Record<EvalMode, { route: string; local: boolean }[]> = { balanced: [], greenest: [] };
  const grams: Record<EvalMode, number> = { balanced: 0, greenest: 0 };
  let allCloudG = 0;
  let allLocalG = 0;
  let labelRoutesG = 0;
  let minimumG = 0;
  rows.forEach((row, i) => {
    const routes = {} as Record<EvalMode, string>;
    let localG = 0;
    let cloudG = 0;
    for (const mode of EVAL_MODES) {
      const d = decideRoute(
        { kind: row.input.kind, promptTokens: row.input.promptTokens, selectionChars: row.input.selectionChars },
        evalContext(row, mode, grids),
        p[i]!,
      );
      localG = d.options.find((o) => o.route === 'local')?.gCO2e ?? NaN;
      cloudG = d.options.find((o) => o.route === 'cloud')?.gCO2e ?? NaN;
      // 'later' is the same local run in a cleaner window (no deferral in this setup, so it never happens).
      const local = d.route !== 'cloud';
      // A local answer (plain or a cascade's draft) that will not do is followed by the cloud: the user's retry,
      // or the cascade escalating (the label is the oracle for escalation).
      grams[mode] += local ? localG + (localOk(row) ? 0 : cloudG) : cloudG;
      routes[mode] = d.cascade ? 'cascade' : d.route;
      modeRoutes[mode].push({ route: routes[mode], local });
    }
    allCloudG += cloudG;
    allLocalG += localG + (localOk(row) ? 0 : cloudG);
    labelRoutesG += row.label === 'cloud' ? cloudG : row.label === 'local' ? localG : Math.min(localG, cloudG);
    minimumG += localOk(row) ? Math.min(localG, cloudG) : cloudG;
    perRow.push({
      row: i + 1,
      ...(row.id ? { id: row.id } : {}),
      kind: row.input.kind,
      promptTokens: row.input.promptTokens,
      label: row.label,
      p: r4(p[i]!),
      localG: r6(localG),
      cloudG: r6(cloudG),
      routes,
    });
  });

  const modes = {} as Record<EvalMode, ModeResult>;
  for (const mode of EVAL_MODES) {
    const pairs = modeRoutes[mode].map((x, i) => ({
      local: x.local,
      localOk: localOk(rows[i]!),
      agrees: agrees(x.local ? 'local' : 'cloud', rows[i]!.label),
      slice: inDisagreement(rows[i]!),
    }));
    const n = (route: string) => modeRoutes[mode].filter((x) => x.route === route).length;
    const slice = pairs.filter((x) => x.slice);
    modes[mode] = {
      mode,
      accuracy: accuracy(pairs.filter((x) => x.agrees).length, rows.length),
      disagreement: accuracy(slice.filter((x) => x.agrees).length, slice.length),
      confusion: confusion(pairs),
      routes: { local: n('local'), cascade: n('cascade'), cloud: n('cloud'), later: n('later') },
      carbon: carbonTotals(grams[mode], allCloudG, allLocalG, labelRoutesG, minimumG),
    };
  }
  return { perRow, modes };
}

/**
 * Evaluates the classifier and the policy on labelled rows. `classify` answers P(local suffices) for each feature
 * vector (OnnxRouter.predict, or the reference forward pass).
 */
export async function evaluateRouter(
  rows: readonly EvalRow[],
  classify: (features: Float32Array[]) => Promise<number[]> | number[],
  vectors: WordVectors,
  provider = 'onnx (cpu)',
): Promise<EvalReport> {
  if (rows.length === 0) throw new Error('evaluateRouter: no rows.');
  const p = await classify(rows.map((r) => featureVector(r.input, vectors)));
  if (p.length !== rows.length) throw new Error(`evaluateRouter: ${p.length} answers for ${rows.length} rows.`);
  const { perRow, modes } = evaluatePolicy(rows, p);
  const sensitivity: SensitivityRow[] = [];
  for (const userZone of SENSITIVITY_USER_ZONES) {
    for (const cloudZone of SENSITIVITY_CLOUD_ZONES) {
      const m = evaluatePolicy(rows, p, { userZone, cloudZone }).modes;
      const c = m.balanced.carbon;
      sensitivity.push({
        userZone,
        cloudZone,
        allCloudG: c.allCloudG,
        allLocalG: c.allLocalG,
        labelRoutesG: c.labelRoutesG,
        minimumG: c.minimumG,
        balancedG: c.routerG,
        greenestG: m.greenest.carbon.routerG,
        balancedBeatsAllCloud: c.routerG < c.allCloudG,
      });
    }
  }
  const classifierPairs = rows.map((r, i) => ({
    local: p[i]! >= 0.5,
    localOk: localOk(r),
    agrees: agrees(p[i]! >= 0.5 ? 'local' : 'cloud', r.label),
    slice: inDisagreement(r),
  }));
  const count = (label: Label) => rows.filter((r) => r.label === label).length;
  const labels = { local: count('local'), cloud: count('cloud'), either: count('either') };
  const alwaysLocal = accuracy(labels.local + labels.either, rows.length);
  const alwaysCloud = accuracy(labels.cloud + labels.either, rows.length);
  const slice = classifierPairs.filter((x) => x.slice);
  const device = evalDevice();
  return {
    setup: {
      ...EVAL_SETUP,
      device: `${device.label} (${device.watts.typical} W typical)`,
      userGPerKWh: lookupGridAverage(EVAL_SETUP.userZone).gPerKWh,
      cloudGPerKWh: lookupGridAverage(EVAL_SETUP.cloudZone).gPerKWh,
    },
    rows: rows.length,
    labels,
    disagreementRows: slice.length,
    classifier: {
      ...accuracy(classifierPairs.filter((x) => x.agrees).length, rows.length),
      confusion: confusion(classifierPairs),
      provider,
      disagreement: accuracy(slice.filter((x) => x.agrees).length, slice.length),
    },
    baseline: {
      alwaysLocal,
      alwaysCloud,
      best: alwaysLocal.correct >= alwaysCloud.correct ? 'local' : 'cloud',
      bestAccuracy: Math.max(alwaysLocal.accuracy, alwaysCloud.accuracy),
    },
    modes,
    sensitivity,
    perRow,
  };
}

/** Loads router.onnx on onnxruntime-node and evaluates `rows` with it. */
export async function evaluateWithOnnx(
  rows: readonly EvalRow[],
  modelFile = DEFAULT_MODEL_FILE,
  vectors = readWordVectors(DEFAULT_WORD_VECTORS_FILE),
): Promise<EvalReport> {
  const router = await OnnxRouter.load(modelFile);
  try {
    return await evaluateRouter(rows, (f) => router.predict(f), vectors, `onnx (${router.providers.join(', ')})`);
  } finally {
    await router.dispose();
  }
}

export function summary(r: EvalReport): string {
  const pct = (a: Accuracy) => `${a.correct}/${a.total} = ${(a.accuracy * 100).toFixed(1)} %`;
  const g = (n: number) => `${n.toFixed(3)} g`;
  const cm = (c: Confusion) =>
    `labelled local-ok: ${c.localOkRoutedLocal} local / ${c.localOkRoutedCloud} cloud; labelled not-ok: ${c.notOkRoutedLocal} local / ${c.notOkRoutedCloud} cloud`;
  const lines = [
    `router evaluation: ${r.rows} requests (${r.labels.local} local, ${r.labels.cloud} cloud, ${r.labels.either} either; ${r.disagreementRows} where size and difficulty disagree)`,
    `setup: user grid ${r.setup.userZone} ${r.setup.userGPerKWh} g/kWh on ${r.setup.device}; cloud ${r.setup.cloudModel} in ${r.setup.cloudZone} ${r.setup.cloudGPerKWh} g/kWh`,
    `classifier (${r.classifier.provider}): ${pct(r.classifier)}, disagreement slice ${pct(r.classifier.disagreement)}  [${cm(r.classifier.confusion)}]`,
    `best single route: always ${r.baseline.best}, ${(r.baseline.bestAccuracy * 100).toFixed(1)} % (local ${pct(r.baseline.alwaysLocal)}, cloud ${pct(r.baseline.alwaysCloud)})`,
  ];
  for (const m of Object.values(r.modes)) {
    const c = m.carbon;
    lines.push(
      `${m.mode}: policy ${pct(m.accuracy)}, disagreement slice ${pct(m.disagreement)}; routes ${m.routes.local} local, ${m.routes.cascade} cascade, ${m.routes.cloud} cloud  [${cm(m.confusion)}]`,
      `  carbon: router ${g(c.routerG)} vs all-cloud ${g(c.allCloudG)} (saved ${g(c.savedVsAllCloudG)}, ${c.savedVsAllCloudPct} %) vs all-local ${g(c.allLocalG)} (saved ${g(c.savedVsAllLocalG)}, ${c.savedVsAllLocalPct} %); label-matching routes ${g(c.labelRoutesG)}, least possible ${g(c.minimumG)}`,
    );
  }
  lines.push('grams by grid (user zone -> cloud zone): balanced / greenest / all-cloud / all-local / label-matching routes / least possible');
  for (const x of r.sensitivity) {
    lines.push(
      `  ${`${x.userZone} -> ${x.cloudZone}`.padEnd(9)} ${g(x.balancedG)} / ${g(x.greenestG)} / ${g(x.allCloudG)} / ${g(x.allLocalG)} / ${g(x.labelRoutesG)} / ${g(x.minimumG)}${x.balancedBeatsAllCloud ? '  (balanced beats all-cloud)' : ''}`,
    );
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { out: { type: 'string', default: path.join('bench', 'results', 'router-eval.json') }, data: { type: 'string' } },
  });
  const report = await evaluateWithOnnx(values.data ? readEvalRows(values.data) : heldOutRows());
  console.log(summary(report));
  const result = {
    date: new Date().toISOString(),
    machine: {
      cpu: os.cpus()[0]?.model,
      logicalCores: os.availableParallelism(),
      platform: `${process.platform}-${process.arch}`,
      node: process.versions.node,
    },
    data: values.data ?? `${DEFAULT_CORPUS_DIR} (held-out split)`,
    ...report,
  };
  mkdirSync(path.dirname(values.out!), { recursive: true });
  writeFileSync(values.out!, JSON.stringify(result, null, 2) + '\n');
  console.log(`wrote ${values.out}`);
}

if (require.main === module) {
  main().catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : e);
    process.exitCode = 1;
  });
}
