// Command-palette commands (category "Verdant"). Each handler gets its dependencies passed in explicitly.
import * as vscode from 'vscode';
import type { Config } from '../config';
import type { StatusView } from '../core/status';
import type { EngineHttpModule } from './engineHttp';
import type { NpuDetection } from '../core/power/npu';
import { showEngineStatus } from './engineStatus';
import { manageModels } from './modelManager';
import { openVerdantSettings } from './settingsPlace';
import { roleModelPaths } from '../core/localRoles';
import type { QualitySummary } from '../core/completion/quality';
import type { LocalEngine } from './localEngine';
import { selectLocalModel } from './modelPicker';
import { ROUTER_COMMANDS } from './router';
import type { CloudKeyStore } from './secrets';
import type { StatusService } from './status';
import { showFailure } from './unawaited';

export const COMMANDS = {
  showStatus: 'verdant.showStatus',
  toggle: 'verdant.toggle',
  openSettings: 'verdant.openSettings',
  showLog: 'verdant.showLog',
  setCloudApiKey: 'verdant.setCloudApiKey',
  clearCloudApiKey: 'verdant.clearCloudApiKey',
  selectLocalModel: 'verdant.selectLocalModel',
  selectPlannerModel: 'verdant.selectPlannerModel',
  manageModels: 'verdant.manageModels',
  showEngineStatus: 'verdant.showEngineStatus',
} as const;

export interface CommandDeps {
  readonly extensionId: string;
  readonly config: Config;
  readonly status: StatusService;
  readonly keys: CloudKeyStore;
  readonly log: vscode.LogOutputChannel;
  readonly engine: LocalEngine;
  /** This machine's NPU, read when Show Engine Status runs. */
  readonly npu: () => Promise<NpuDetection>;
  /** The completion model's last day (suggestions shown, accepted, engine latency), for Show Engine Status. */
  readonly completionQuality?: () => QualitySummary;
  /** Where "Select Local Model" downloads to. */
  readonly modelsDir: string;
  readonly engineHttp: () => EngineHttpModule;
}

export function registerCommands(deps: CommandDeps): vscode.Disposable[] {
  return [
    vscode.commands.registerCommand(COMMANDS.showStatus, () => showStatus(deps)),
    vscode.commands.registerCommand(COMMANDS.toggle, () => toggle(deps)),
    vscode.commands.registerCommand(COMMANDS.openSettings, () => openVerdantSettings(deps.extensionId)),
    vscode.commands.registerCommand(COMMANDS.showLog, () => deps.log.show(true)),
    vscode.commands.registerCommand(COMMANDS.setCloudApiKey, (key?: unknown) => setCloudApiKey(deps, typeof key === 'string' ? key : undefined)),
    vscode.commands.registerCommand(COMMANDS.clearCloudApiKey, async () => {
      await deps.keys.clear();
      deps.log.info('cloud API key removed from secret storage');
      void vscode.window.showInformationMessage('Verdant: the cloud API key was removed.');
    }),
    ...(['completion', 'planner'] as const).map((role) =>
      vscode.commands.registerCommand(role === 'completion' ? COMMANDS.selectLocalModel : COMMANDS.selectPlannerModel, () =>
        selectLocalModel(
          {
            modelsDir: deps.modelsDir,
            log: deps.log,
            currentPath: (r) => roleModelPaths(deps.config.settings)[r],
            vramBytes: () => deps.engine.knownVramBytes,
            engineHttp: deps.engineHttp,
          },
          role,
        ),
      ),
    ),
    vscode.commands.registerCommand(COMMANDS.manageModels, () =>
      manageModels({ config: deps.config, modelsDir: deps.modelsDir, log: deps.log, stopWorker: () => deps.engine.stopWorker() }),
    ),
    vscode.commands.registerCommand(COMMANDS.showEngineStatus, () =>
      showEngineStatus(deps.engine, deps.npu, { selectModel: COMMANDS.selectLocalModel, showLog: COMMANDS.showLog }, deps.completionQuality),
    ),
  ];
}

async function toggle({ config, log }: CommandDeps): Promise<boolean> {
  const enabled = !config.settings.enable;
  await config.setEnabled(enabled);
  log.info(`Verdant turned ${enabled ? 'on' : 'off'}`);
  return enabled;
}

interface Action extends vscode.QuickPickItem {
  readonly command?: string;
}

/**
 * Shows the status and the actions that fit it in a quick pick. Returns the status at once (without waiting for a
 * choice) so scripts and tests can read it through executeCommand.
 */
async function showStatus(deps: CommandDeps): Promise<StatusView> {
  const view = await deps.status.refresh();
  const enabled = deps.config.settings.enable;
  const items: Action[] = [
    { label: 'Status', kind: vscode.QuickPickItemKind.Separator },
    ...view.lines.map((line): Action => ({ label: stripMarkdown(line) })),
    { label: 'Actions', kind: vscode.QuickPickItemKind.Separator },
    { label: enabled ? '$(circle-slash) Turn Verdant Off' : '$(sparkle) Turn Verdant On', command: COMMANDS.toggle },
    { label: '$(server-process) Show Engine Status', command: COMMANDS.showEngineStatus },
    { label: '$(library) Select Local Model', command: COMMANDS.selectLocalModel },
    { label: '$(arrow-swap) Switch Routing Mode…', command: ROUTER_COMMANDS.switchMode },
    { label: '$(list-flat) Show Routing Log', command: ROUTER_COMMANDS.showLog },
    { label: '$(gear) Open Settings', command: COMMANDS.openSettings },
    { label: '$(key) Set Cloud API Key', command: COMMANDS.setCloudApiKey },
    { label: '$(output) Show Log', command: COMMANDS.showLog },
  ];
  const pick = vscode.window.createQuickPick<Action>();
  pick.title = 'Verdant';
  pick.placeholder = 'Choose an action';
  pick.items = items;
  pick.activeItems = items.filter((i) => i.command).slice(0, 1);
  pick.onDidAccept(() => {
    const command = pick.selectedItems[0]?.command;
    pick.hide();
    if (command) showFailure(vscode.commands.executeCommand(command));
  });
  pick.onDidHide(() => pick.dispose());
  pick.show();
  return view;
}

/** Asks for the key (or takes it from a script's argument) and stores it in secret storage only. */
async function setCloudApiKey({ keys, log }: CommandDeps, given?: string): Promise<void> {
  const key =
    given ??
    (await vscode.window.showInputBox({
      title: 'Verdant: Cloud API Key',
      prompt: 'Stored in VS Code secret storage on this machine; never in settings or logs.',
      password: true,
      ignoreFocusOut: true,
      validateInput: (v) =>
        v.trim() === '' ? 'Enter the key, or press Escape to cancel.' : /\s/.test(v.trim()) ? 'An API key has no spaces.' : undefined,
    }));
  if (key === undefined) return;
  if (key.trim() === '') return;
  await keys.set(key.trim());
  log.info('cloud API key stored in secret storage');
  if (given === undefined) void vscode.window.showInformationMessage('Verdant: the cloud API key is stored in secret storage.');
}

function stripMarkdown(line: string): string {
  return line.replace(/\*\*|`/g, '');
}
