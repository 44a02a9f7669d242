// "Verdant: Configure Cloud Endpoint": a green-cloud preset (or any OpenAI-compatible URL), its model, the API key
// into secret storage, a connection test, and only then the user's explicit switch to enable cloud requests.
import * as vscode from 'vscode';
import { machineSettingsPlace } from './settingsPlace';
import { lookupGridAverage } from '../core/carbon/sources';
import { parseModelParams, resolveCloudModel } from '../core/carbon/energy/cloud';
import { CLOUD_PRESETS, type CloudPreset } from '../core/cloud/presets';
import { setupZone } from '../core/cloud/zone';
import { checkEndpoint, ZONE_PATTERN } from '../core/settings';
import type { EngineHttpModule } from './engineHttp';
import type { CloudKeyStore } from './secrets';
import { errorMessage } from '../core/errors';

export const CONFIGURE_CLOUD_COMMAND = 'verdant.configureCloudEndpoint';

export interface CloudSetupDeps {
  readonly keys: CloudKeyStore;
  readonly log: vscode.LogOutputChannel;
  readonly engineHttp: () => EngineHttpModule;
}

export function registerCloudSetup(deps: CloudSetupDeps): vscode.Disposable {
  return vscode.commands.registerCommand(CONFIGURE_CLOUD_COMMAND, () => configure(deps));
}

async function configure({ keys, log, engineHttp }: CloudSetupDeps): Promise<boolean> {
  type Item = vscode.QuickPickItem & { preset: CloudPreset };
  const items: Item[] = CLOUD_PRESETS.map((p) => {
    const grid =
      p.gridZone && p.gridZone !== 'WORLD'
        ? `${p.gridZone} grid ~${Math.round(lookupGridAverage(p.gridZone).gPerKWh)} g/kWh`
        : p.gridZone === ''
          ? 'your own grid'
          : 'site unknown';
    return {
      label: p.name,
      description: `${p.region} · ${grid}${p.pue ? ` · PUE ${p.pue}` : ''}`,
      detail: [...p.claims, p.verified ? '' : 'some facts unverified'].filter(Boolean).join(' · ') || undefined,
      preset: p,
    };
  });
  const pick = await vscode.window.showQuickPick(items, {
    title: 'Verdant: Configure Cloud Endpoint',
    placeHolder: 'Where should heavy tasks go? (only after your consent, never from untrusted workspaces)',
    matchOnDescription: true,
  });
  if (!pick) return false;
  const preset = pick.preset;
  let url = preset.baseUrl;
  if (/\{[^}]+\}/.test(url) || preset.models.length === 0) {
    const entered = await vscode.window.showInputBox({
      title: `${preset.name}: base URL`,
      value: url.includes('{') ? '' : url,
      prompt: `${preset.notes} https only (http only to this machine).`,
      validateInput: (v) => {
        const c = checkEndpoint(v.trim());
        return c.ok ? undefined : c.reason;
      },
    });
    if (!entered) return false;
    url = entered.trim();
  }
  let model: string | undefined;
  if (preset.models.length > 0) {
    model = (
      await vscode.window.showQuickPick(
        preset.models.map((m) => ({ label: m.id, description: m.catalogModel ?? 'size not in the catalogue: you will be asked' })),
        { title: `${preset.name}: model` },
      )
    )?.label;
  } else {
    model = (await vscode.window.showInputBox({ title: 'Model name at the endpoint', prompt: 'e.g. Qwen/Qwen2.5-Coder-32B-Instruct' }))?.trim();
  }
  if (!model) return false;
  const key = await vscode.window.showInputBox({
    title: `${preset.name}: API key`,
    prompt: 'Stored in VS Code secret storage on this machine; never in settings or logs. Empty: keep the stored key.',
    password: true,
    ignoreFocusOut: true,
  });
  if (key === undefined) return false;
  const zone = setupZone(preset, url) ?? (await askZone());
  const size = preset.models.some((m) => m.id === model && m.catalogModel !== null) || resolveCloudModel(model) ? '' : await askModelSize(model);

  const cfg = vscode.workspace.getConfiguration('verdant');
  // What was there before, to put back if the user discards a setup whose test failed (#22).
  const before = {
    key: await keys.get(),
    settings: SAVED_KEYS.map((k) => [k, cfg.inspect(k)?.globalValue] as const),
  };
  if (key.trim()) await keys.set(key.trim());
  await cfg.update('cloud.endpoint', url, vscode.ConfigurationTarget.Global);
  await cfg.update('cloud.model', model, vscode.ConfigurationTarget.Global);
  // Cleared when not needed, so a zone or size from an earlier endpoint never sticks to this one.
  await cfg.update('cloud.zone', zone || undefined, vscode.ConfigurationTarget.Global);
  await cfg.update('cloud.modelParams', size || undefined, vscode.ConfigurationTarget.Global);
  const { CloudClient } = engineHttp();
  const client = new CloudClient({
    baseUrl: url,
    model,
    apiKey: () => keys.get(),
    proxyUrl: vscode.workspace.getConfiguration('http').get<string>('proxy') || undefined,
  });
  try {
    const test = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Testing ${new URL(url).host}…` }, () =>
      client.testConnection(),
    );
    log.info(`cloud endpoint ${new URL(url).host}, model ${model}: ${test.message}`);
    if (!test.ok) {
      // Saved so far, but it did not answer: say so, and let the user keep, edit or discard it.
      const choice = await vscode.window.showErrorMessage(
        `Verdant: ${test.message} The endpoint is saved but did not answer: keep it anyway, edit it, or discard it?`,
        'Keep Anyway',
        'Edit',
        'Discard',
      );
      if (choice === 'Discard' || choice === 'Edit') {
        for (const [k, v] of before.settings) await cfg.update(k, v, vscode.ConfigurationTarget.Global);
        if (before.key) await keys.set(before.key);
        else await keys.clear();
        log.info(`cloud setup: ${choice === 'Edit' ? 'editing' : 'discarded'}; the earlier endpoint settings and key are back`);
      } else {
        log.info('cloud setup: kept although the endpoint did not answer');
      }
      return choice === 'Edit' ? configure({ keys, log, engineHttp }) : false;
    }
  } finally {
    // Nothing waits on the close: it only destroys the test's own connection pool, and a failure is only logged.
    client.close().catch((e: unknown) => log.warn(`cloud setup: could not close the test connection: ${errorMessage(e)}`));
  }
  const enable = await vscode.window.showInformationMessage(
    `Verdant: ${preset.name} answered; its settings are saved in ${machineSettingsPlace()}. Use it for heavy tasks (you will be asked once per workspace before code is sent)?`,
    'Enable',
    'Not now',
  );
  if (enable === 'Enable') await cfg.update('cloud.enable', true, vscode.ConfigurationTarget.Global);
  return enable === 'Enable';
}

/** The settings a setup writes (relative to verdant.), put back as they were when a failed setup is discarded. */
const SAVED_KEYS = ['cloud.endpoint', 'cloud.model', 'cloud.zone', 'cloud.modelParams'] as const;

/** The data centre's grid zone for a custom URL (optional: Escape or empty means unknown, the World average). */
async function askZone(): Promise<string> {
  const zone = await vscode.window.showInputBox({
    title: "Grid zone of the endpoint's data centre (optional)",
    prompt: 'A country or grid zone for its carbon numbers, e.g. NO, SE, DE, aws:eu-north-1. Empty: the World average, marked.',
    validateInput: (v) => (v.trim() === '' || ZONE_PATTERN.test(v.trim()) ? undefined : 'A zone such as NO, SE-SE3 or aws:eu-north-1.'),
  });
  return zone?.trim() ?? '';
}

/** The model's size when the catalogue does not know its name (optional: Escape or empty reads it from the name, else assumes 70B). */
async function askModelSize(model: string): Promise<string> {
  const size = await vscode.window.showInputBox({
    title: `Size of ${model} (optional)`,
    prompt:
      'Billions of parameters for its carbon estimate: 32, or TOTAL/ACTIVE for a mixture of experts (235/22). Empty: from the name, else an assumed 70B with a wide range.',
    validateInput: (v) => {
      const p = parseModelParams(v);
      return v.trim() === '' || !('error' in p) ? undefined : p.error;
    },
  });
  return size?.trim() ?? '';
}
