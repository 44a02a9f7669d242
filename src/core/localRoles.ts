// The two local model roles (#21). `completion`: a base model with fill-in-the-middle tokens, for ghost text
// (verdant.local.*). `planner`: an instruct model for palette tasks, local drafts in the cascade, refactor plans and
// commit messages (verdant.planner.*). A role left empty hands its work to the other role's model; with neither,
// there is no local model and the router may only send work to the cloud. Pure: the settings in, what serves out.
import type { LocalSettings, VerdantSettings } from './settings';

export const LOCAL_ROLES = ['completion', 'planner'] as const;
export type LocalRole = (typeof LOCAL_ROLES)[number];

/** One role's model, as its settings name it (modelPath '' for server backends; threads are the engine's). */
export type RoleModel = Omit<LocalSettings, 'efficiencyMode'>;

/** What a window has measured of a role's model: the backend that last answered, its median decode speed. */
export interface RoleFacts {
  readonly backend: string | null;
  readonly tokensPerSecond: number | null;
}

/** Who serves a role's work: its own model, the other role's, or none. */
export interface RoleAssignment {
  readonly role: LocalRole;
  /** The role whose model runs this role's work; null when neither role has a model. */
  readonly servedBy: LocalRole | null;
  readonly model: RoleModel | null;
}

/** The role's own model, or null when the role is empty (llama.cpp with no model file; a server always serves). */
export function ownModel(settings: VerdantSettings, role: LocalRole): RoleModel | null {
  const s = role === 'completion' ? settings.local : settings.planner;
  if (s.backend === 'llama.cpp' && !s.modelPath) return null;
  return {
    backend: s.backend,
    modelPath: s.backend === 'llama.cpp' ? s.modelPath : '',
    gpu: s.gpu,
    threads: settings.local.threads,
    serverUrl: s.serverUrl,
    serverModel: s.serverModel,
  };
}

/** Each role's model-file setting, relative to `verdant.` (what the pickers and the model manager write). */
export const ROLE_MODEL_PATH_KEY: Readonly<Record<LocalRole, string>> = { completion: 'local.modelPath', planner: 'planner.modelPath' };

/** Each role's model file as the settings name it ('' for none). */
export function roleModelPaths(settings: VerdantSettings): Record<LocalRole, string> {
  return { completion: settings.local.modelPath, planner: settings.planner.modelPath };
}

export function otherRole(role: LocalRole): LocalRole {
  return role === 'completion' ? 'planner' : 'completion';
}

export function assignRole(settings: VerdantSettings, role: LocalRole): RoleAssignment {
  const own = ownModel(settings, role);
  if (own) return { role, servedBy: role, model: own };
  const other = otherRole(role);
  const borrowed = ownModel(settings, other);
  return borrowed ? { role, servedBy: other, model: borrowed } : { role, servedBy: null, model: null };
}

/** A stable key for a role model: two roles with the same key share one loaded model. */
export function roleModelKey(m: RoleModel): string {
  return m.backend === 'llama.cpp' ? `llama.cpp ${m.modelPath} ${m.gpu} ${m.threads}` : `${m.backend} ${m.serverUrl} ${m.serverModel}`;
}

/** The model's short name for the status: the file name, or the server model. */
export function roleModelName(m: RoleModel): string {
  if (m.backend === 'llama.cpp') return m.modelPath.split(/[\\/]/).pop() ?? m.modelPath;
  return m.serverModel ? `${m.serverModel} on ${m.backend}` : `${m.backend}'s loaded model`;
}

const ROLE_LABEL: Record<LocalRole, string> = { completion: 'Completion model', planner: 'Planner model' };

/** One status line saying who serves the role, and where its work goes when it is empty. */
export function describeAssignment(a: RoleAssignment): string {
  const label = ROLE_LABEL[a.role];
  if (a.servedBy === a.role && a.model) return `${label}: ${roleModelName(a.model)}`;
  if (a.servedBy && a.model) {
    const work = a.role === 'planner' ? 'tasks and plans run on the completion model' : 'ghost text comes from the planner model';
    return `${label}: none; ${work} (${roleModelName(a.model)})`;
  }
  return a.role === 'planner'
    ? `${label}: none; tasks and plans go to the cloud when the router allows`
    : `${label}: none; no inline completions until one is chosen`;
}

/**
 * The CLI flags that run palette tasks on the planner role's model (or the completion model it borrows) outside VS
 * Code: `--model PATH --gpu G --threads N`; undefined when it is a server backend or there is none.
 */
export function taskModelFlags(settings: VerdantSettings): string[] | undefined {
  const m = assignRole(settings, 'planner').model;
  return m && m.backend === 'llama.cpp' && m.modelPath ? modelFlags(m) : undefined;
}

/** A llama.cpp model as the CLI's flags name it. */
export function modelFlags(m: Pick<RoleModel, 'modelPath' | 'gpu' | 'threads'>): string[] {
  return ['--model', m.modelPath, '--gpu', m.gpu, '--threads', String(m.threads)];
}
