// The first minute (#22): with no model chosen, Verdant says once what to do first, with the two ways to do it (the
// model picker, or the walkthrough that also sets the zone and the optional cloud). Shown once per user: a later
// start with still no model has the status bar's "no model" and its tooltip.
import * as vscode from 'vscode';
import type { Config } from '../config';
import { assignRole } from '../core/localRoles';

export const FIRST_START_KEY = 'verdant.firstStartHintShown';

export const FIRST_START_MESSAGE =
  'Verdant needs a local model for inline completions: choose one that fits this machine (downloaded and checked), or any GGUF file you have.';

export interface FirstStartDeps {
  readonly config: Config;
  readonly globalState: vscode.Memento;
  readonly extensionId: string;
  readonly selectModelCommand: string;
  readonly log: vscode.LogOutputChannel;
}

/** Shows the hint when it is due; says whether it did (the choice is acted on later, nobody waits for it). */
export async function offerFirstSteps(deps: FirstStartDeps): Promise<boolean> {
  const settings = deps.config.settings;
  if (!settings.enable || assignRole(settings, 'completion').model !== null || deps.globalState.get<boolean>(FIRST_START_KEY)) return false;
  await deps.globalState.update(FIRST_START_KEY, true);
  void vscode.window.showInformationMessage(FIRST_START_MESSAGE, 'Select Local Model', 'Open Walkthrough').then(
    async (choice) => {
      if (choice === 'Select Local Model') await vscode.commands.executeCommand(deps.selectModelCommand);
      else if (choice === 'Open Walkthrough')
        await vscode.commands.executeCommand('workbench.action.openWalkthrough', `${deps.extensionId}#gettingStarted`, false);
    },
    (e: unknown) => deps.log.warn(`first-start hint: ${String(e)}`),
  );
  deps.log.info('first start: no model chosen yet; offered Select Local Model and the walkthrough');
  return true;
}
