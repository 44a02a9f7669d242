// The carbon gauge, its tooltip, the dashboard and the report, in a real VS Code with a fresh profile and no keys
// (so the figures come from the built-in averages), plus screenshots of the workbench and of the dashboard.
import * as assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { VerdantApi } from '../../../src/extension';
import { sleep, until } from '../../support/wait';
import { screenshot } from './screenshot';

describe('carbon gauge and dashboard', function () {
  this.timeout(180_000);
  let api: VerdantApi;
  const config = () => vscode.workspace.getConfiguration('verdant');

  before(async () => {
    api = await vscode.extensions.getExtension<VerdantApi>('verdant-dev.verdant')!.activate();
  });

  after(async () => {
    await config().update('carbon.zone', undefined, vscode.ConfigurationTarget.Global);
    await vscode.workspace.getConfiguration('workbench').update('colorTheme', undefined, vscode.ConfigurationTarget.Global);
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });

  it('shows grid intensity in g/kWh from the built-in averages on a fresh profile with no network', async () => {
    const data = await api.carbonUi.refresh();
    assert.equal(data.intensity.source, 'embedded');
    assert.match(api.carbonUi.gaugeText, /^\$\(pulse\) 473 g\/kWh · .+ today$/);
    await screenshot('workbench-gauge');
  });

  it('explains the figure in the tooltip: source, today, baseline, clean window, engine; with no zone, says so and offers one (#22)', async () => {
    const t = api.carbonUi.gaugeTooltip;
    assert.match(
      t,
      /Grid now: 473 gCO2e\/kWh\*\*: medium on a fixed global scale \(low up to 150, high from 550 g\/kWh; the world average is about 473\)\n/,
    );
    assert.doesNotMatch(t, /for this zone, against/, 'no zone: nothing to compare the world average with');
    assert.match(t, /No zone set: the world average \(\[Set Location \/ Grid Zone\]\(command:verdant\.setGridZone\)\)/);
    assert.match(t, /embedded, Ember 2024/);
    assert.match(t, /\*\*Today\*\*: \d+ requests/);
    assert.match(t, /Next clean hour: no forecast for this zone \(only its annual average\)/);
    assert.match(t, /Inline completions: /);
    const tooltip = (api.carbonUi as unknown as { item: vscode.StatusBarItem }).item.tooltip as vscode.MarkdownString;
    assert.ok(
      (tooltip.isTrusted as { enabledCommands: string[] }).enabledCommands.includes('verdant.setGridZone'),
      'the Set Location link in the tooltip works',
    );
    await screenshot('tooltip-no-zone'); // the runner hovers the gauge first for a tooltip-* shot
  });

  it('follows the grid zone setting', async () => {
    await config().update('carbon.zone', 'SE', vscode.ConfigurationTarget.Global);
    await until('the gauge to show SE', () => api.carbonUi.gaugeText.includes(' 36 g/kWh'));
    assert.match(api.carbonUi.gaugeText, /^\$\(pulse\) 36 g\/kWh/);
  });

  it('opens the dashboard, drawn by the webview, in dark and light themes', async () => {
    await vscode.workspace.getConfiguration('workbench').update('colorTheme', 'Default Dark Modern', vscode.ConfigurationTarget.Global);
    await vscode.commands.executeCommand('verdant.showCarbonDashboard');
    const panel = api.carbonUi.panel;
    assert.ok(panel, 'the dashboard panel exists');
    await Promise.race([
      panel.rendered,
      sleep(60_000).then(() => {
        throw new Error('the dashboard did not render within 60 s');
      }),
    ]);
    const tabs = vscode.window.tabGroups.all.flatMap((g) => g.tabs);
    assert.ok(
      tabs.some((t) => t.label === 'Verdant Carbon' && t.input instanceof vscode.TabInputWebview),
      'a Verdant Carbon webview tab is open',
    );
    assert.match(panel.html, /Content-Security-Policy/);
    await sleep(500);
    await screenshot('dashboard-dark');
    await vscode.workspace.getConfiguration('workbench').update('colorTheme', 'Default Light Modern', vscode.ConfigurationTarget.Global);
    await sleep(1000);
    await screenshot('dashboard-light');
  });

  it('exports the report: CSV per request plus daily totals, and JSON', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'verdant-report-'));
    const csv = await vscode.commands.executeCommand<string[]>('verdant.exportCarbonReport', { path: path.join(dir, 'report.csv') });
    assert.deepEqual(
      csv.map((f) => path.basename(f)),
      ['report.csv', 'report-daily.csv'],
    );
    assert.match(readFileSync(csv[0]!, 'utf8'), /^ts,route,feature,model,/);
    assert.match(readFileSync(csv[1]!, 'utf8'), /^day,route,requests,energy_kwh/);
    const [json] = await vscode.commands.executeCommand<string[]>('verdant.exportCarbonReport', { path: path.join(dir, 'report.json') });
    assert.ok(json);
    const body = JSON.parse(readFileSync(json, 'utf8'));
    assert.ok(Array.isArray(body.requests) && Array.isArray(body.daily));
    assert.match(body.method, /SCI/);
  });
});
