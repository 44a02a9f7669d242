// Typed, validated Verdant settings. Pure: the VS Code adapter (src/config.ts) and the CLI both feed raw values in
// through a reader, so validation is the same everywhere and unit-testable without VS Code.

import { parseModelParams } from './carbon/energy/cloud';
import { SOURCE_IDS } from './carbon/types';
import { isLoopbackHost } from './cloud/endpoint';
import { plainHttpHost } from './net/address';
import { EFFICIENCY_MODES, type EfficiencyMode } from './power/efficiency';
import { BUDGET_ACTIONS, ROUTING_MODES, type BudgetAction, type RoutingMode } from './routing/policy';

export const GPU_CHOICES = ['auto', 'vulkan', 'cuda', 'metal', 'cpu'] as const;
export type GpuChoice = (typeof GPU_CHOICES)[number];

/** Who runs the local model: Verdant's own engine (node-llama-cpp), or a local inference server. */
export const LOCAL_BACKENDS = ['llama.cpp', 'ollama', 'lmstudio', 'mlx', 'lemonade', 'llama-server'] as const;
export type LocalBackendKind = (typeof LOCAL_BACKENDS)[number];

export interface LocalSettings {
  readonly backend: LocalBackendKind;
  /** Absolute path of a GGUF model file; '' means none chosen yet. */
  readonly modelPath: string;
  readonly gpu: GpuChoice;
  /** CPU threads for inference; 0 means automatic (physical cores minus one, at least 1). */
  readonly threads: number;
  /** Base URL of the local inference server ('' = the backend's usual address). */
  readonly serverUrl: string;
  /** Model name on that server. */
  readonly serverModel: string;
  /** When Verdant's engine worker runs at low OS priority (src/core/power/efficiency.ts). */
  readonly efficiencyMode: EfficiencyMode;
}

/**
 * The planner model (#21): an instruct model for palette tasks, local drafts, refactor plans and commit messages,
 * next to the completion model of LocalSettings. Threads and Efficiency Mode are the engine's, shared. Empty (no
 * model path for llama.cpp) means the completion model does this work (src/core/localRoles.ts).
 */
export type PlannerSettings = Pick<LocalSettings, 'backend' | 'modelPath' | 'gpu' | 'serverUrl' | 'serverModel'>;

export interface CloudSettings {
  /** The user's consent to send code to the endpoint. Off by default. */
  readonly enable: boolean;
  /** Base URL of an OpenAI-compatible API ('' = none). */
  readonly endpoint: string;
  readonly model: string;
  /** The endpoint's grid zone, overriding its preset's ('' = from the preset; unknown endpoints: World average). */
  readonly zone: string;
  /** The model's size when the catalogue does not know it: '' or text parseModelParams accepts ('32', '235/22', 'qwen3-32b'). */
  readonly modelParams: string;
  /** Longest one request may take as a whole (connection, answer, retries). */
  readonly requestTimeoutSeconds: number;
}

export const BATTERY_MODES = ['normal', 'reduced', 'pause'] as const;
export type BatteryMode = (typeof BATTERY_MODES)[number];

export interface CompletionsSettings {
  /** Inline completions on (also the pause switch). */
  readonly enable: boolean;
  /** Language ids with no inline completions. */
  readonly disabledLanguages: readonly string[];
  /** Glob patterns of files with no inline completions. */
  readonly exclude: readonly string[];
  readonly maxLines: number;
  readonly maxTokens: number;
  /** Fixed debounce in ms; 0 = adaptive. */
  readonly debounceMs: number;
  readonly onBattery: BatteryMode;
}

export const CARBON_SOURCES = ['auto', ...SOURCE_IDS] as const;
export type CarbonSourceChoice = (typeof CARBON_SOURCES)[number];

export interface CarbonSettings {
  /** Grid zone: a country code ('FR'), a sub-national zone ('SE-SE3'), or a source's own region; '' = unknown. */
  readonly zone: string;
  /** UK outward postcode (e.g. 'RG41') for the regional GB Carbon Intensity API. */
  readonly postcode: string;
  readonly source: CarbonSourceChoice;
  /** Base URL of a self-hosted Carbon Aware SDK WebAPI. */
  readonly carbonAwareSdkUrl: string;
  /** Days of ledger records to keep; 0 = forever. */
  readonly retentionDays: number;
}

export interface RoutingSettings {
  readonly mode: RoutingMode;
  /** Grams CO2e a day; 0 = no budget. */
  readonly dailyBudgetGrams: number;
  readonly budgetAction: BudgetAction;
  /** For uncertain requests, a local draft first and the cloud only when it is unsure. */
  readonly cascade: boolean;
  /** A deferrable task may be offered a cleaner window this many hours ahead at most; 0 = never offered. */
  readonly deferWithinHours: number;
}

export const SCHEDULER_NOTIFICATIONS = ['quiet', 'normal'] as const;
/** Where a deferred job goes when no VS Code window is open at its time: the OS scheduler, or nowhere (it waits). */
export const SCHEDULER_WHEN_CLOSED = ['os', 'never'] as const;

export interface SchedulerSettings {
  /** 'quiet': a status-bar message and the log when a deferred job starts or ends; 'normal': a notification. */
  readonly notifications: (typeof SCHEDULER_NOTIFICATIONS)[number];
  /** 'os': shell jobs are handed to the OS scheduler and run at their time with VS Code closed; 'never': they wait for a window. */
  readonly whenClosed: (typeof SCHEDULER_WHEN_CLOSED)[number];
  /** Whether an OS entry may wake the computer from sleep to run its job (Task Scheduler, systemd). */
  readonly wakeToRun: boolean;
  /** Windows: a Task Scheduler entry runs whether or not the user is logged on (S4U), not only in their session. */
  readonly runWhenLoggedOff: boolean;
}

export interface VerdantSettings {
  readonly enable: boolean;
  readonly local: LocalSettings;
  readonly planner: PlannerSettings;
  readonly completions: CompletionsSettings;
  readonly cloud: CloudSettings;
  readonly carbon: CarbonSettings;
  readonly routing: RoutingSettings;
  readonly scheduler: SchedulerSettings;
}

export const DEFAULT_SETTINGS: VerdantSettings = {
  enable: true,
  local: { backend: 'llama.cpp', modelPath: '', gpu: 'auto', threads: 0, serverUrl: '', serverModel: '', efficiencyMode: 'background' },
  planner: { backend: 'llama.cpp', modelPath: '', gpu: 'auto', serverUrl: '', serverModel: '' },
  completions: { enable: true, disabledLanguages: [], exclude: [], maxLines: 8, maxTokens: 96, debounceMs: 0, onBattery: 'reduced' },
  cloud: { enable: false, endpoint: '', model: '', zone: '', modelParams: '', requestTimeoutSeconds: 300 },
  carbon: { zone: '', postcode: '', source: 'auto', carbonAwareSdkUrl: '', retentionDays: 365 },
  routing: { mode: 'balanced', dailyBudgetGrams: 0, budgetAction: 'warn', cascade: true, deferWithinHours: 4 },
  scheduler: { notifications: 'quiet', whenClosed: 'os', wakeToRun: false, runWhenLoggedOff: false },
};

export const MAX_THREADS = 256;

/** Longest text setting (a path, URL, model name, zone or list item); longer is a paste gone wrong, not a value. */
export const MAX_TEXT_LENGTH = 4096;
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;

/** A grid zone as the settings accept it: 'FR', 'SE-SE3', 'aws:eu-north-1', 'CAISO_NORTH'. */
export const ZONE_PATTERN = /^[A-Za-z0-9_:.-]{2,40}$/;

/** One invalid setting: the key, and a sentence that says what is wrong and how to fix it. */
export interface SettingProblem {
  readonly key: string;
  readonly message: string;
}

export interface ValidatedSettings {
  readonly settings: VerdantSettings;
  readonly problems: readonly SettingProblem[];
}

/** Returns the raw value of a setting key relative to `verdant.` (e.g. 'local.gpu'), or undefined when unset. */
export type SettingsReader = (key: string) => unknown;

/** A window-scoped setting's value in each scope (VS Code's `inspect()`), the user's first. */
export interface ScopedValues {
  readonly globalValue?: unknown;
  readonly workspaceValue?: unknown;
  readonly workspaceFolderValue?: unknown;
}

/**
 * Window-scoped settings an opened repository may tighten but never loosen: the exclusion lists are the union of
 * every scope's (a workspace adds to the user's exclusion of .env files, it cannot drop it), and the switches are on only
 * when no scope turns them off.
 */
export const TIGHTEN_ONLY: Readonly<Record<string, 'union' | 'every'>> = {
  'completions.exclude': 'union',
  'completions.disabledLanguages': 'union',
  'completions.enable': 'every',
  enable: 'every',
};

/**
 * The effective value of a TIGHTEN_ONLY key. A workspace value of the wrong type is ignored (it must not turn the
 * user's list into "invalid, so empty"); the user's own wrong value is passed on to be reported.
 */
export function tightened(key: string, v: ScopedValues): unknown {
  const how = TIGHTEN_ONLY[key];
  const user = v.globalValue;
  const workspace = [v.workspaceValue, v.workspaceFolderValue].filter((x) => x !== undefined && x !== null);
  if (how === 'union') {
    if (user !== undefined && user !== null && !Array.isArray(user)) return user;
    const lists = [user, ...workspace].filter((x): x is unknown[] => Array.isArray(x));
    return lists.length === 0 ? undefined : [...new Set(lists.flat())];
  }
  if (user !== undefined && user !== null && typeof user !== 'boolean') return user;
  const switches = [user, ...workspace].filter((x): x is boolean => typeof x === 'boolean');
  return switches.length === 0 ? undefined : switches.every(Boolean);
}

/** Reads every setting, falling back to its default (and reporting a problem) when a value is invalid. */
export function readSettings(read: SettingsReader): ValidatedSettings {
  const problems: SettingProblem[] = [];
  const v = new Validator(read, problems);
  const d = DEFAULT_SETTINGS;
  const settings: VerdantSettings = {
    enable: v.boolean('enable', d.enable),
    local: {
      backend: v.oneOf('local.backend', LOCAL_BACKENDS, d.local.backend),
      modelPath: v.modelPath('local.modelPath'),
      gpu: v.oneOf('local.gpu', GPU_CHOICES, d.local.gpu),
      threads: v.integer('local.threads', d.local.threads, 0, MAX_THREADS),
      serverUrl: v.endpoint('local.serverUrl', checkServerUrl),
      serverModel: v.string('local.serverModel', d.local.serverModel),
      efficiencyMode: v.oneOf('local.efficiencyMode', EFFICIENCY_MODES, d.local.efficiencyMode),
    },
    planner: {
      backend: v.oneOf('planner.backend', LOCAL_BACKENDS, d.planner.backend),
      modelPath: v.modelPath('planner.modelPath'),
      gpu: v.oneOf('planner.gpu', GPU_CHOICES, d.planner.gpu),
      serverUrl: v.endpoint('planner.serverUrl', checkServerUrl),
      serverModel: v.string('planner.serverModel', d.planner.serverModel),
    },
    completions: {
      enable: v.boolean('completions.enable', d.completions.enable),
      disabledLanguages: v.stringList('completions.disabledLanguages'),
      exclude: v.stringList('completions.exclude'),
      maxLines: v.integer('completions.maxLines', d.completions.maxLines, 1, 200),
      maxTokens: v.integer('completions.maxTokens', d.completions.maxTokens, 8, 2048),
      debounceMs: v.integer('completions.debounceMs', d.completions.debounceMs, 0, 5000),
      onBattery: v.oneOf('completions.onBattery', BATTERY_MODES, d.completions.onBattery),
    },
    cloud: {
      enable: v.boolean('cloud.enable', d.cloud.enable),
      endpoint: v.endpoint('cloud.endpoint'),
      model: v.string('cloud.model', d.cloud.model),
      zone: v.zone('cloud.zone'),
      modelParams: v.modelParams('cloud.modelParams'),
      requestTimeoutSeconds: v.integer('cloud.requestTimeoutSeconds', d.cloud.requestTimeoutSeconds, 10, 3600),
    },
    carbon: {
      zone: v.zone('carbon.zone'),
      postcode: v.postcode('carbon.postcode'),
      source: v.oneOf('carbon.source', CARBON_SOURCES, d.carbon.source),
      carbonAwareSdkUrl: v.endpoint('carbon.carbonAwareSdkUrl'),
      retentionDays: v.integer('carbon.retentionDays', d.carbon.retentionDays, 0, 36500),
    },
    routing: {
      mode: v.oneOf('routing.mode', ROUTING_MODES, d.routing.mode),
      dailyBudgetGrams: v.number('routing.dailyBudgetGrams', d.routing.dailyBudgetGrams, 0, 1e6),
      budgetAction: v.oneOf('routing.budgetAction', BUDGET_ACTIONS, d.routing.budgetAction),
      cascade: v.boolean('routing.cascade', d.routing.cascade),
      deferWithinHours: v.number('routing.deferWithinHours', d.routing.deferWithinHours, 0, 48),
    },
    scheduler: {
      notifications: v.oneOf('scheduler.notifications', SCHEDULER_NOTIFICATIONS, d.scheduler.notifications),
      whenClosed: v.oneOf('scheduler.whenClosed', SCHEDULER_WHEN_CLOSED, d.scheduler.whenClosed),
      wakeToRun: v.boolean('scheduler.wakeToRun', d.scheduler.wakeToRun),
      runWhenLoggedOff: v.boolean('scheduler.runWhenLoggedOff', d.scheduler.runWhenLoggedOff),
    },
  };
  return { settings, problems };
}

class Validator {
  constructor(
    private readonly read: SettingsReader,
    private readonly problems: SettingProblem[],
  ) {}

  private problem<T>(key: string, message: string, fallback: T): T {
    this.problems.push({ key: `verdant.${key}`, message });
    return fallback;
  }

  boolean(key: string, fallback: boolean): boolean {
    const raw = this.read(key);
    if (raw === undefined || raw === null) return fallback;
    if (typeof raw === 'boolean') return raw;
    return this.problem(key, `verdant.${key} must be true or false, not ${describe(raw)}; using ${fallback}.`, fallback);
  }

  string(key: string, fallback: string): string {
    const raw = this.read(key);
    if (raw === undefined || raw === null) return fallback;
    if (typeof raw !== 'string') return this.problem(key, `verdant.${key} must be text, not ${describe(raw)}; using "${fallback}".`, fallback);
    if (!isOneLine(raw)) {
      return this.problem(
        key,
        `verdant.${key} must be one line of at most ${MAX_TEXT_LENGTH} characters, not ${describe(raw)}; using "${fallback}".`,
        fallback,
      );
    }
    return raw.trim();
  }

  stringList(key: string): string[] {
    const raw = this.read(key);
    if (raw === undefined || raw === null) return [];
    if (Array.isArray(raw) && raw.every((x) => typeof x === 'string' && isOneLine(x))) return raw.map((x) => x.trim()).filter((x) => x !== '');
    return this.problem(
      key,
      `verdant.${key} must be a list of text values (one line each, at most ${MAX_TEXT_LENGTH} characters), not ${describe(raw)}; using an empty list.`,
      [],
    );
  }

  oneOf<T extends string>(key: string, choices: readonly T[], fallback: T): T {
    const raw = this.read(key);
    if (raw === undefined || raw === null) return fallback;
    if (typeof raw === 'string' && (choices as readonly string[]).includes(raw)) return raw as T;
    return this.problem(key, `verdant.${key} must be one of ${choices.join(', ')}, not ${describe(raw)}; using ${fallback}.`, fallback);
  }

  integer(key: string, fallback: number, min: number, max: number): number {
    const raw = this.read(key);
    if (raw === undefined || raw === null) return fallback;
    if (typeof raw === 'number' && Number.isInteger(raw) && raw >= min && raw <= max) return raw;
    return this.problem(key, `verdant.${key} must be a whole number from ${min} to ${max}, not ${describe(raw)}; using ${fallback}.`, fallback);
  }

  number(key: string, fallback: number, min: number, max: number): number {
    const raw = this.read(key);
    if (raw === undefined || raw === null) return fallback;
    if (typeof raw === 'number' && Number.isFinite(raw) && raw >= min && raw <= max) return raw;
    return this.problem(key, `verdant.${key} must be a number from ${min} to ${max}, not ${describe(raw)}; using ${fallback}.`, fallback);
  }

  modelPath(key: string): string {
    const path = this.string(key, '');
    if (path === '') return '';
    if (!isAbsolutePath(path)) {
      return this.problem(key, `verdant.${key} must be an absolute path to a .gguf file, not ${describe(path)}; set the full path.`, '');
    }
    if (!/\.gguf$/i.test(path)) {
      return this.problem(key, `verdant.${key} must name a .gguf model file, not ${describe(path)}; choose a GGUF file.`, '');
    }
    return path;
  }

  zone(key: string): string {
    const zone = this.string(key, '');
    if (zone === '' || ZONE_PATTERN.test(zone)) return zone;
    return this.problem(key, `verdant.${key} must be a zone such as FR, SE-SE3 or US-CAL-CISO, not ${describe(zone)}; using none.`, '');
  }

  modelParams(key: string): string {
    const text = this.string(key, '');
    if (text === '') return '';
    const parsed = parseModelParams(text);
    return 'error' in parsed ? this.problem(key, `verdant.${key}: ${parsed.error}; using the catalogue or the model's name.`, '') : text;
  }

  postcode(key: string): string {
    const pc = this.string(key, '').toUpperCase().replace(/\s+/g, '');
    if (pc === '' || /^[A-Z]{1,2}[0-9][A-Z0-9]?$/.test(pc)) return pc;
    return this.problem(key, `verdant.${key} must be the outward part of a UK postcode, like RG41 or SW1A, not ${describe(pc)}; using none.`, '');
  }

  endpoint(key: string, check: (text: string) => EndpointCheck = checkEndpoint): string {
    const text = this.string(key, '');
    if (text === '') return '';
    const checked = check(text);
    return checked.ok ? checked.url : this.problem(key, `verdant.${key}: ${checked.reason}`, '');
  }
}

export type EndpointCheck = { ok: true; url: string } | { ok: false; reason: string };

/**
 * An endpoint must be https, or plain http only to this machine (a local server); credentials never go in the URL
 * because settings are readable and get synced: the API key lives in VS Code's secret storage.
 */
export function checkEndpoint(text: string): EndpointCheck {
  return checkUrl(text, 'https://api.example.com/v1', 'remove it and store the API key with "Verdant: Set Cloud API Key"', (url) => {
    return isLoopbackHost(url.hostname)
      ? undefined
      : `plain http is allowed only to this machine; use https://${url.host}${hideTokens(url.pathname)}.`;
  });
}

/**
 * The local inference server (verdant.local.serverUrl) may also be reached by plain http on the user's own network:
 * the Windows host from WSL, a container's host, another machine at a private address (plainHttpHost,
 * src/core/net/address.ts). That is safe only because the setting is machine-scoped: a repository cannot set it.
 */
export function checkServerUrl(text: string): EndpointCheck {
  return checkUrl(text, 'http://127.0.0.1:11434', 'remove it', (url) => {
    const host = plainHttpHost(url.hostname);
    if (host.ok) return undefined;
    const port = url.port || '80';
    const https = `https://${url.host}${url.pathname === '/' ? '' : hideTokens(url.pathname)}`;
    const tunnel = `an SSH tunnel to it (ssh -N -L ${port}:127.0.0.1:${port} <that machine>) and http://127.0.0.1:${port}`;
    const fix =
      host.scope === 'unspecified'
        ? `use http://127.0.0.1:${port} for a server on this machine, or the address of the machine it runs on`
        : host.scope === 'name'
          ? `use that machine's private address, ${https}, or ${tunnel}`
          : `use ${https}, or ${tunnel}`;
    return `plain http goes only to this machine or a private network, and ${host.reason}; ${fix}.`;
  });
}

/** The common part: no credential, a URL, https or (when `plainHttp` finds nothing wrong with the host) http. */
function checkUrl(text: string, example: string, keyAdvice: string, plainHttp: (url: URL) => string | undefined): EndpointCheck {
  const credential = `the URL contains a credential; ${keyAdvice}.`;
  // On the text first, so that one that does not parse as a URL is not echoed back with its key.
  if (/^[a-z][a-z0-9+.-]*:\/\/[^/?#\s]*@|[?&](api[-_]?key|key|token)=/i.test(text)) return { ok: false, reason: credential };
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { ok: false, reason: `${describe(hideTokens(text))} is not a URL; use e.g. ${example}.` };
  }
  if (url.username || url.password || /[?&](api[-_]?key|key|token)=/i.test(url.search)) {
    return { ok: false, reason: credential };
  }
  const ok: EndpointCheck = { ok: true, url: url.toString().replace(/\/+$/, '') };
  if (url.protocol === 'https:') return ok;
  if (url.protocol === 'http:') {
    const refused = plainHttp(url);
    return refused === undefined ? ok : { ok: false, reason: refused };
  }
  return { ok: false, reason: `"${url.protocol}" is not supported; use an https:// URL.` };
}

/** Long key-like runs hidden, for echoing a URL back: a key pasted into the wrong field must not end up in a log. */
export function hideTokens(text: string): string {
  return text.replace(/[A-Za-z0-9_-]{20,}/g, '***');
}

function isAbsolutePath(p: string): boolean {
  return p.startsWith('/') || /^[a-zA-Z]:[\\/]/.test(p) || p.startsWith('\\\\');
}

function isOneLine(text: string): boolean {
  return text.length <= MAX_TEXT_LENGTH && !CONTROL_CHARS.test(text);
}

/** A value as a problem message shows it: strings quoted, control characters escaped, cut to 60 characters. */
function describe(raw: unknown): string {
  if (typeof raw === 'string') {
    const cut = raw.length > 60 ? `${raw.slice(0, 59)}…` : raw;
    const shown = `"${cut.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)}"`;
    return raw.length > 60 ? `${shown} (${raw.length} characters)` : shown;
  }
  if (typeof raw === 'number' || typeof raw === 'boolean') return String(raw);
  return Array.isArray(raw) ? 'a list' : typeof raw === 'object' ? 'an object' : typeof raw;
}
