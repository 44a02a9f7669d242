// "Verdant: Manage Local Models" (#21): the model files on this machine with their disk use and the role each serves;
// pick one to use it for completions or planning, or to delete it (from Verdant's models folder only), or import a
// GGUF file into that folder. Choosing a preset to download stays with Select Local Model / Select Planner Model.
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { Config } from '../config';
import { SECTION } from '../config';
import { errorMessage } from '../core/errors';
import { ROLE_MODEL_PATH_KEY, roleModelPaths, type LocalRole } from '../core/localRoles';
import { formatBytes } from '../engine/models/fit';
import { deleteModel, importModel, installedModels, type InstalledModel } from '../engine/models/installed';
import { machineSettingsPlace } from './settingsPlace';

export interface ModelManagerDeps {
  readonly config: Config;
  readonly modelsDir: string;
  readonly log: vscode.LogOutputChannel;
  /** Stops the shared engine worker (a loaded model's file cannot be deleted on Windows). */
  readonly stopWorker: () => Promise<void>;
}

const ROLE_NAME: Record<LocalRole, string> = { completion: 'completions', planner: 'planning' };

interface Item extends vscode.QuickPickItem {
  readonly model?: InstalledModel;
  readonly importFile?: true;
}

export async function manageModels(deps: ModelManagerDeps): Promise<void> {
  const models = await installedModels(deps.modelsDir, roleModelPaths(deps.config.settings));
  const total = models.filter((m) => m.managed).reduce((n, m) => n + m.bytes, 0);
  const items: Item[] = models.map((m) => ({
    label: `${m.roles.length ? '$(check)' : '$(file)'} ${path.basename(m.path)}`,
    description: `${formatBytes(m.bytes)}${m.roles.length ? ` · ${m.roles.map((r) => ROLE_NAME[r]).join(' and ')}` : ''}`,
    detail: m.managed ? undefined : `${path.dirname(m.path)} (not in Verdant's models folder)`,
    model: m,
  }));
  items.push({ label: '', kind: vscode.QuickPickItemKind.Separator });
  items.push({ label: '$(folder-opened) Import a GGUF File…', description: "copied into Verdant's models folder", importFile: true });
  const pick = await vscode.window.showQuickPick(items, {
    title: `Verdant: Local Models (${formatBytes(total)} in Verdant's models folder)`,
    placeHolder: 'Choose a model to give it a role or delete it, or import a GGUF file',
  });
  if (!pick) return;
  if (pick.importFile) return importFlow(deps);
  if (pick.model) return modelActions(deps, pick.model);
}

async function importFlow(deps: ModelManagerDeps): Promise<void> {
  const uris = await vscode.window.showOpenDialog({ canSelectMany: false, filters: { 'GGUF models': ['gguf'] }, title: 'Import a GGUF model' });
  const source = uris?.[0]?.fsPath;
  if (!source) return;
  try {
    const dest = await importModel(source, deps.modelsDir);
    deps.log.info(`imported ${source} as ${dest}`);
    const models = await installedModels(deps.modelsDir, roleModelPaths(deps.config.settings));
    const model = models.find((m) => m.path === dest);
    if (model) await modelActions(deps, model);
  } catch (e) {
    void vscode.window.showErrorMessage(errorMessage(e));
  }
}

async function modelActions(deps: ModelManagerDeps, model: InstalledModel): Promise<void> {
  const name = path.basename(model.path);
  const actions = [
    ...(['completion', 'planner'] as const).filter((r) => !model.roles.includes(r)).map((r) => `Use for ${ROLE_NAME[r]}`),
    ...(model.managed ? ['Delete'] : []),
  ];
  const choice = await vscode.window.showQuickPick(actions, { title: `${name} (${formatBytes(model.bytes)})` });
  if (!choice) return;
  if (choice === 'Delete') return deleteFlow(deps, model);
  const role = choice === `Use for ${ROLE_NAME.completion}` ? 'completion' : 'planner';
  // Machine-scoped: written to the user (or remote machine) settings, never to a workspace.
  await vscode.workspace.getConfiguration(SECTION).update(ROLE_MODEL_PATH_KEY[role], model.path, vscode.ConfigurationTarget.Global);
  deps.log.info(`${role} model set to ${model.path}`);
  void vscode.window.showInformationMessage(`Verdant will use ${name} for ${ROLE_NAME[role]} (saved in ${machineSettingsPlace()}).`);
}

async function deleteFlow(deps: ModelManagerDeps, model: InstalledModel): Promise<void> {
  const name = path.basename(model.path);
  const uses = model.roles.length ? ` Verdant uses it for ${model.roles.map((r) => ROLE_NAME[r]).join(' and ')}; that role will be empty.` : '';
  const ok = await vscode.window.showWarningMessage(`Delete ${name} (${formatBytes(model.bytes)})?${uses}`, { modal: true }, 'Delete');
  if (ok !== 'Delete') return;
  try {
    for (const role of model.roles)
      await vscode.workspace.getConfiguration(SECTION).update(ROLE_MODEL_PATH_KEY[role], undefined, vscode.ConfigurationTarget.Global);
    // The worker may have the file mapped, now or from an earlier role (Windows refuses to delete a mapped file): stop
    // it first; the next request starts a fresh one with the models the settings name.
    await deps.stopWorker();
    await deleteModel(model.path, deps.modelsDir);
    deps.log.info(`deleted ${model.path}`);
    void vscode.window.showInformationMessage(`Deleted ${name}; ${formatBytes(model.bytes)} freed.`);
  } catch (e) {
    void vscode.window.showErrorMessage(`Could not delete ${name}: ${errorMessage(e)}`);
  }
}
