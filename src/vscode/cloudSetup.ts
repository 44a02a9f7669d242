// "Verdant: Configure Cloud Endpoint": a green-cloud preset (or any OpenAI-compatible URL), its model, the API key
// into secret storage, a connection test, and only then the user's explicit switch to enable cloud requests.
import * as vscode from 'vscode';
import { lookupGridAverage } from '../core/carbon/sources';
import { CLOUD_PRESETS, type CloudPreset } from '../core/cloud/presets';
import { checkEndpoint } from '../core/settings';
import type { EngineHttpModule } from './engineHttp';
import type { CloudKeyStore } from './secrets';

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
    const grid = p.gridZone && p.gridZone !== 'WORLD' ? `${p.gridZone} grid ~${Math.round(lookupGridAverage(p.gridZone).gPerKWh)} g/kWh` : p.gridZone === '' ? 'your own grid' : 'site unknown';
    return { label: p.name, description: `${p.region} · ${grid}${p.pue ? ` · PUE ${p.pue}` : ''}`, detail: [...p.claims, p.verified ? '' : 'some facts unverified'].filter(Boolean).join(' · ') || undefined, preset: p };
  });
  const pick = await vscode.window.showQuickPick(items, { title: 'Verdant: Configure Cloud Endpoint', placeHolder: 'Where should heavy tasks go? (only after your consent, never from untrusted workspaces)', matchOnDescription: true });
  if (!pick) return false;
  const preset = pick.preset;
  let url = preset.baseUrl;
  if (/\{[^}]+\}/.test(url) || preset.models.length === 0) {
    const entered = await vscode.window.showInputBox({ title: `${preset.name}: base URL`, value: url.includes('{') ? '' : url, prompt: `${preset.notes} https only (http only to this machine).`, validateInput: (v) => { const c = checkEndpoint(v.trim()); return c.ok ? undefined : c.reason; } });
    if (!entered) return false;
    url = entered.trim();
  }
  let model: string | undefined;
  if (preset.models.length > 0) {
    model = (await vscode.window.showQuickPick(preset.models.map((m) => ({ label: m.id, description: m.catalogModel ?? 'size unknown: no CO2e estimate' })), { title: `${preset.name}: model` }))?.label;
  } else {
    model = (await vscode.window.showInputBox({ title: 'Model name at the endpoint', prompt: 'e.g. Qwen/Qwen2.5-Coder-32B-Instruct' }))?.trim();
  }
  if (!model) return false;
  const key = await vscode.window.showInputBox({ title: `${preset.name}: API key`, prompt: 'Stored in VS Code secret storage on this machine; never in settings or logs. Empty: keep the stored key.', password: true, ignoreFocusOut: true });
  if (key === undefined) return false;
  if (key.trim()) await keys.set(key.trim());

  const cfg = vscode.workspace.getConfiguration('verdant');
  await cfg.update('cloud.endpoint', url, vscode.ConfigurationTarget.Global);
  await cfg.update('cloud.model', model, vscode.ConfigurationTarget.Global);
  const { CloudClient } = engineHttp();
  const client = new CloudClient({ baseUrl: url, model, apiKey: () => keys.get(), proxyUrl: vscode.workspace.getConfiguration('http').get<string>('proxy') || undefined });
  try {
    const test = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Testing ${new URL(url).host}…` }, () => client.testConnection());
    log.info(`cloud endpoint ${new URL(url).host}, model ${model}: ${test.message}`);
    if (!test.ok) {
      void vscode.window.showErrorMessage(`Verdant: ${test.message}`);
      return false;
    }
  } finally {
    client.close();
  }
  const enable = await vscode.window.showInformationMessage(`Verdant: ${preset.name} answered. Use it for heavy tasks (you will be asked once per workspace before code is sent)?`, 'Enable', 'Not now');
  if (enable === 'Enable') await cfg.update('cloud.enable', true, vscode.ConfigurationTarget.Global);
  return enable === 'Enable';
}
