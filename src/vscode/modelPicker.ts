// "Verdant: Select Local Model" (the completion model) and "Verdant: Select Planner Model": the catalog ranked by
// what fits this machine, the role's own kind of model first, models already downloaded, or any GGUF file on disk.
// A preset is downloaded with progress and cancel (resumable, sha256-verified) into global storage, then set as
// verdant.local.modelPath or verdant.planner.modelPath.
import { existsSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { readGguf } from '../engine/gguf';
import { MODEL_CATALOG, type ModelPreset } from '../engine/models/catalog';
import { formatBytes, recommendPresets, type MachineFacts } from '../engine/models/fit';
import { SECTION } from '../config';
import { ROLE_MODEL_PATH_KEY, type LocalRole } from '../core/localRoles';
import type { EngineHttpModule } from './engineHttp';
import { withAbortSignal } from './cancellation';
import { machineSettingsPlace } from './settingsPlace';
import { errorMessage } from '../core/errors';

export interface ModelPickerDeps {
  readonly modelsDir: string;
  readonly log: vscode.LogOutputChannel;
  /** The role's model path now. */
  readonly currentPath: (role: LocalRole) => string;
  /** VRAM of the GPU the engine uses, when it has reported one (the extension host cannot ask the GPU itself). */
  readonly vramBytes: () => number | null;
  /** The downloader lives in the separately loaded HTTP bundle. */
  readonly engineHttp: () => EngineHttpModule;
}

interface Item extends vscode.QuickPickItem {
  readonly action?: { kind: 'preset'; preset: ModelPreset } | { kind: 'browse' } | { kind: 'none' };
}

export function machineFacts(vramBytes: number | null = null): MachineFacts {
  return { totalMemoryBytes: os.totalmem(), freeMemoryBytes: os.freemem(), vramBytes };
}

/** Each role's setting, picker title and catalog section (the planner is the catalog's chat role). */
const ROLE_PICKER = {
  completion: { title: 'Verdant: Select Local Model', sections: ['completion', 'chat'], use: 'local completions' },
  planner: { title: 'Verdant: Select Planner Model', sections: ['chat', 'completion'], use: 'tasks and plans' },
} as const;

export function pickerItems(modelsDir: string, current: string, machine: MachineFacts = machineFacts(), role: LocalRole = 'completion'): Item[] {
  const items: Item[] = [];
  for (const section of ROLE_PICKER[role].sections) {
    items.push({
      label: section === 'completion' ? 'Code completion models (fill-in-the-middle)' : 'Instruct models (tasks, plans, chat)',
      kind: vscode.QuickPickItemKind.Separator,
    });
    for (const { preset, fit } of recommendPresets(MODEL_CATALOG, machine, { role: section })) {
      const file = path.join(modelsDir, preset.fileName);
      const downloaded = existsSync(file);
      const icon = file === current ? '$(check)' : downloaded ? '$(file)' : fit.fits ? '$(cloud-download)' : '$(warning)';
      items.push({
        label: `${icon} ${preset.name}`,
        description: `${formatBytes(preset.sizeBytes)}${preset.fim ? ' · FIM' : ''} · ${preset.license}${downloaded ? ' · downloaded' : ''}`,
        detail: `${preset.goodFor} · ${fit.reason}`,
        action: { kind: 'preset', preset },
      });
    }
  }
  items.push({ label: '', kind: vscode.QuickPickItemKind.Separator });
  items.push({ label: '$(folder-opened) Choose a GGUF File…', description: 'any local model', action: { kind: 'browse' } });
  if (role === 'planner')
    items.push({ label: '$(circle-slash) No Planner Model', description: 'tasks and plans run on the completion model', action: { kind: 'none' } });
  return items;
}

/** Shows the role's picker; returns the chosen model path (already saved to the settings; '' for none), or undefined. */
export async function selectLocalModel(deps: ModelPickerDeps, role: LocalRole = 'completion'): Promise<string | undefined> {
  const r = ROLE_PICKER[role];
  const pick = await vscode.window.showQuickPick(pickerItems(deps.modelsDir, deps.currentPath(role), machineFacts(deps.vramBytes()), role), {
    title: r.title,
    placeHolder: 'Models that fit this machine come first',
    matchOnDescription: true,
    matchOnDetail: true,
  });
  if (!pick?.action) return undefined;
  const file =
    pick.action.kind === 'none' ? '' : pick.action.kind === 'browse' ? await browseForGguf(role) : await downloadPreset(pick.action.preset, deps);
  if (file === undefined) return undefined;
  // Machine-scoped: written to the user (or remote machine) settings, never to a workspace.
  await vscode.workspace.getConfiguration(SECTION).update(ROLE_MODEL_PATH_KEY[role], file, vscode.ConfigurationTarget.Global);
  deps.log.info(`${role} model set to ${file || 'none'}`);
  void vscode.window.showInformationMessage(
    `${file ? `Verdant will use ${path.basename(file)} for ${r.use}` : 'Verdant will run tasks and plans on the completion model'} (saved in ${machineSettingsPlace()}).`,
  );
  return file;
}

async function browseForGguf(role: LocalRole): Promise<string | undefined> {
  const uris = await vscode.window.showOpenDialog({ canSelectMany: false, filters: { 'GGUF models': ['gguf'] }, title: 'Choose a GGUF model' });
  const file = uris?.[0]?.fsPath;
  if (!file) return undefined;
  try {
    const info = await readGguf(file); // a clear error for a wrong, truncated or corrupt file, before it is saved
    if (role === 'completion' && !info.hasFim)
      void vscode.window.showWarningMessage(
        `${path.basename(file)} has no fill-in-the-middle tokens; inline completions will only continue the text before the cursor.`,
      );
    return file;
  } catch (e) {
    void vscode.window.showErrorMessage(errorMessage(e));
    return undefined;
  }
}

/** Downloads a preset into the models folder with a cancellable progress notification; undefined if it failed. */
export async function downloadPreset(
  preset: ModelPreset,
  deps: Pick<ModelPickerDeps, 'modelsDir' | 'log' | 'engineHttp'>,
): Promise<string | undefined> {
  const dest = path.join(deps.modelsDir, preset.fileName);
  if (existsSync(dest)) return dest;
  return vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `Downloading ${preset.name}`, cancellable: true },
    (progress, token) =>
      withAbortSignal(token, async (signal) => {
        let reported = 0;
        try {
          const { downloadFile } = deps.engineHttp();
          const result = await downloadFile({
            url: preset.url,
            dest,
            sha256: preset.sha256,
            expectedBytes: preset.sizeBytes,
            signal,
            onProgress: (received, total) => {
              const size = total ?? preset.sizeBytes;
              const percent = Math.floor((received / size) * 100);
              progress.report({ increment: percent - reported, message: `${formatBytes(received)} of ${formatBytes(size)}` });
              reported = percent;
            },
          });
          deps.log.info(`downloaded ${preset.fileName} (${formatBytes(result.bytes)}${result.resumed ? ', resumed' : ''}), sha256 verified`);
          return result.path;
        } catch (e) {
          if (signal.aborted) {
            void vscode.window.showInformationMessage(`Download of ${preset.name} paused; choose it again to resume.`);
            return undefined;
          }
          const message = errorMessage(e);
          deps.log.error(`download of ${preset.fileName} failed: ${message}`);
          void vscode.window.showErrorMessage(message);
          return undefined;
        }
      }),
  );
}
