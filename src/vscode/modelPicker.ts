// "Verdant: Select Local Model": the catalog ranked by what fits this machine, models already downloaded, or any
// GGUF file on disk. A preset is downloaded with progress and cancel (resumable, sha256-verified) into global
// storage, then set as verdant.local.modelPath.
import { existsSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { readGguf } from '../engine/gguf';
import { MODEL_CATALOG, type ModelPreset } from '../engine/models/catalog';
import { formatBytes, recommendPresets, type MachineFacts } from '../engine/models/fit';
import { SECTION } from '../config';
import type { EngineHttpModule } from './engineHttp';
import { withAbortSignal } from './cancellation';
import { errorMessage } from '../core/errors';

export interface ModelPickerDeps {
  readonly modelsDir: string;
  readonly log: vscode.LogOutputChannel;
  readonly currentPath: () => string;
  /** VRAM of the GPU the engine uses, when it has reported one (the extension host cannot ask the GPU itself). */
  readonly vramBytes: () => number | null;
  /** The downloader lives in the separately loaded HTTP bundle. */
  readonly engineHttp: () => EngineHttpModule;
}

interface Item extends vscode.QuickPickItem {
  readonly action?: { kind: 'preset'; preset: ModelPreset } | { kind: 'browse' };
}

export function machineFacts(vramBytes: number | null = null): MachineFacts {
  return { totalMemoryBytes: os.totalmem(), freeMemoryBytes: os.freemem(), vramBytes };
}

export function pickerItems(modelsDir: string, current: string, machine: MachineFacts = machineFacts()): Item[] {
  const items: Item[] = [];
  for (const role of ['completion', 'chat'] as const) {
    items.push({
      label: role === 'completion' ? 'Code completion models (fill-in-the-middle)' : 'Chat models (tasks)',
      kind: vscode.QuickPickItemKind.Separator,
    });
    for (const { preset, fit } of recommendPresets(MODEL_CATALOG, machine, { role })) {
      const file = path.join(modelsDir, preset.fileName);
      const downloaded = existsSync(file);
      const icon = file === current ? '$(check)' : downloaded ? '$(file)' : fit.fits ? '$(cloud-download)' : '$(warning)';
      items.push({
        label: `${icon} ${preset.name}`,
        description: `${formatBytes(preset.sizeBytes)}${preset.fim ? ' · FIM' : ''} · ${preset.license}${downloaded ? ' · downloaded' : ''}`,
        detail: fit.reason,
        action: { kind: 'preset', preset },
      });
    }
  }
  items.push({ label: '', kind: vscode.QuickPickItemKind.Separator });
  items.push({ label: '$(folder-opened) Choose a GGUF File…', description: 'any local model', action: { kind: 'browse' } });
  return items;
}

/** Shows the picker; returns the chosen model path (already saved to the settings), or undefined. */
export async function selectLocalModel(deps: ModelPickerDeps): Promise<string | undefined> {
  const pick = await vscode.window.showQuickPick(pickerItems(deps.modelsDir, deps.currentPath(), machineFacts(deps.vramBytes())), {
    title: 'Verdant: Select Local Model',
    placeHolder: 'Models that fit this machine come first',
    matchOnDescription: true,
    matchOnDetail: true,
  });
  if (!pick?.action) return undefined;
  const file = pick.action.kind === 'browse' ? await browseForGguf() : await downloadPreset(pick.action.preset, deps);
  if (!file) return undefined;
  // Machine-scoped: written to the user (or remote machine) settings, never to a workspace.
  await vscode.workspace.getConfiguration(SECTION).update('local.modelPath', file, vscode.ConfigurationTarget.Global);
  deps.log.info(`local model set to ${file}`);
  void vscode.window.showInformationMessage(`Verdant will use ${path.basename(file)} for local completions.`);
  return file;
}

async function browseForGguf(): Promise<string | undefined> {
  const uris = await vscode.window.showOpenDialog({ canSelectMany: false, filters: { 'GGUF models': ['gguf'] }, title: 'Choose a GGUF model' });
  const file = uris?.[0]?.fsPath;
  if (!file) return undefined;
  try {
    const info = await readGguf(file); // a clear error for a wrong, truncated or corrupt file, before it is saved
    if (!info.hasFim)
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
