// What users look at: the status-bar carbon gauge (intensity now, coloured by where it sits in the day, grams
// today), its tooltip, the dashboard, report export and the grid-zone picker. Refreshes are cheap: the intensity
// source caches (10 min), the ledger is read after new records (debounced), a timer refreshes only while the window
// is focused, and nothing runs at activation (the first refresh waits a few seconds).
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as vscode from 'vscode';
import type { Config } from '../config';
import { buildDashboardData, formatGrams, formatWh, readRecentRecords, type DashboardData } from '../core/carbon/dashboardData';
import type { QualitySummary } from '../core/completion/quality';
import { lookupGridAverage } from '../core/carbon/sources';
import { COUNTRY_AVERAGES } from '../core/carbon/data/gridAverages';
import { csvField, toCsv } from '../core/carbon/ledger';
import type { CarbonAccounting } from './carbonAccounting';
import { DashboardPanel } from './dashboardPanel';
import { errorMessage } from '../core/errors';

export const CARBON_UI_COMMANDS = {
  showDashboard: 'verdant.showCarbonDashboard',
  exportReport: 'verdant.exportCarbonReport',
  setGridZone: 'verdant.setGridZone',
  refresh: 'verdant.refreshCarbon',
} as const;

export const GAUGE_ITEM_ID = 'verdant.carbon';

const LEVEL_COLOURS = { low: 'charts.green', medium: 'charts.yellow', high: 'charts.red' } as const;
const FIRST_REFRESH_MS = 3000;
const TIMER_MS = 10 * 60_000;
const AFTER_RECORD_MS = 2000;

export interface CarbonUiDeps {
  readonly config: Config;
  readonly carbon: CarbonAccounting;
  readonly extensionUri: vscode.Uri;
  readonly log: vscode.LogOutputChannel;
  /** One line about the local engine for the tooltip (idle, working, problem). */
  readonly engineLine: () => string;
  /** The completion model's last day, shown in the dashboard. */
  readonly completionQuality?: () => QualitySummary;
}

export interface ExportOptions {
  /** Target file; without it a save dialog asks. */
  readonly path?: string;
  readonly format?: 'csv' | 'json';
}

export class CarbonUi implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem(GAUGE_ITEM_ID, vscode.StatusBarAlignment.Right, 99);
  private readonly disposables: vscode.Disposable[] = [];
  private data: DashboardData | undefined;
  private dashboard: DashboardPanel | undefined;
  private timer: NodeJS.Timeout | undefined;
  private recordTimer: NodeJS.Timeout | undefined;
  private stale = false;
  private refreshing: Promise<DashboardData> | undefined;

  constructor(private readonly deps: CarbonUiDeps) {
    this.item.name = 'Verdant Carbon';
    this.item.command = CARBON_UI_COMMANDS.showDashboard;
    this.item.text = '$(pulse) … g/kWh';
    this.item.tooltip = 'Verdant: reading the grid carbon intensity…';
    this.item.accessibilityInformation = { label: 'Verdant carbon gauge, loading' };
    this.item.show();
    this.disposables.push(
      vscode.commands.registerCommand(CARBON_UI_COMMANDS.showDashboard, () => this.showDashboard()),
      vscode.commands.registerCommand(CARBON_UI_COMMANDS.exportReport, (options?: ExportOptions) => this.exportReport(options)),
      vscode.commands.registerCommand(CARBON_UI_COMMANDS.setGridZone, () => this.setGridZone()),
      vscode.commands.registerCommand(CARBON_UI_COMMANDS.refresh, () => this.refresh()),
      deps.config.onDidChange(() => this.refreshInBackground()),
      deps.carbon.onDidRecord(() => {
        clearTimeout(this.recordTimer);
        this.recordTimer = setTimeout(() => this.refreshInBackground({ onlyIfFocused: true }), AFTER_RECORD_MS);
      }),
      vscode.window.onDidChangeWindowState((s) => {
        if (s.focused && this.stale) this.refreshInBackground();
      }),
    );
    this.timer = setTimeout(() => this.refreshInBackground(), FIRST_REFRESH_MS);
  }

  get gaugeText(): string {
    return this.item.text;
  }

  get gaugeTooltip(): string {
    const t = this.item.tooltip;
    return typeof t === 'string' ? t : (t?.value ?? '');
  }

  get current(): DashboardData | undefined {
    return this.data;
  }

  /** The open dashboard, if any (tests wait on its `rendered`). */
  get panel(): DashboardPanel | undefined {
    return this.dashboard;
  }

  /** Recomputes everything from the intensity source (cached) and the ledger, and renders the gauge. */
  refresh(): Promise<DashboardData> {
    this.refreshing ??= this.compute()
      .then((data) => {
        this.data = data;
        this.stale = false;
        this.render(data);
        void this.dashboard?.refresh(); // never rejects: the panel shows and logs its own failures
        return data;
      })
      .finally(() => {
        this.refreshing = undefined;
        clearTimeout(this.timer);
        this.timer = setTimeout(() => this.refreshInBackground({ onlyIfFocused: true }), TIMER_MS);
      });
    return this.refreshing;
  }

  dispose(): void {
    clearTimeout(this.timer);
    clearTimeout(this.recordTimer);
    this.dashboard?.dispose();
    this.item.dispose();
    for (const d of this.disposables) d.dispose();
  }

  /**
   * refresh() for the timers and events, which nobody awaits: a failure (an unreadable ledger, say) is logged, and the
   * gauge keeps its last reading until the next refresh.
   */
  private refreshInBackground(options: { onlyIfFocused?: boolean } = {}): void {
    if (options.onlyIfFocused && !vscode.window.state.focused) {
      this.stale = true; // catch up when the window is focused again
      return;
    }
    this.refresh().catch((e: unknown) => this.deps.log.warn(`carbon gauge: could not refresh: ${errorMessage(e)}`));
  }

  private async compute(): Promise<DashboardData> {
    const now = Date.now();
    const [intensity, forecast, recent] = await Promise.all([
      this.deps.carbon.intensity(),
      this.deps.carbon.forecast(),
      readRecentRecords(this.deps.carbon.ledger, now),
    ]);
    const data = buildDashboardData({
      records: recent.records,
      problems: recent.problems,
      intensity,
      forecast,
      now,
      annualAverage: lookupGridAverage(intensity.zone).gPerKWh,
      utcOffsetMinutes: -new Date(now).getTimezoneOffset(),
    });
    const completions = this.deps.completionQuality?.();
    return completions ? { ...data, completions } : data;
  }

  private render(d: DashboardData): void {
    const g = Math.round(d.intensity.gPerKWh);
    const today = d.today.localG + d.today.cloudG;
    this.item.text = `$(pulse) ${g} g/kWh · ${formatGrams(today)} today`;
    this.item.color = new vscode.ThemeColor(LEVEL_COLOURS[d.level]);
    this.item.accessibilityInformation = { label: `Grid ${g} grams per kilowatt hour, ${d.level}; ${formatGrams(today)} CO2e today` };
    const tooltip = new vscode.MarkdownString(gaugeTooltip(d, this.deps.engineLine()), true);
    tooltip.isTrusted = { enabledCommands: [CARBON_UI_COMMANDS.showDashboard, CARBON_UI_COMMANDS.setGridZone, CARBON_UI_COMMANDS.exportReport] };
    this.item.tooltip = tooltip;
  }

  private showDashboard(): DashboardPanel {
    const existing = this.dashboard;
    this.dashboard = DashboardPanel.show(
      {
        extensionUri: this.deps.extensionUri,
        getData: () => (this.data ? Promise.resolve(this.data) : this.refresh()),
        runCommand: (id: string) => vscode.commands.executeCommand(id),
        log: this.deps.log,
      },
      existing,
    );
    if (this.dashboard !== existing) {
      const shown = this.dashboard;
      shown.onDidDispose(() => {
        if (this.dashboard === shown) this.dashboard = undefined;
      });
    }
    return this.dashboard;
  }

  /** CSV: one row per request plus `<name>-daily.csv` with per-day totals by route; JSON: both in one file. */
  private async exportReport(options: ExportOptions = {}): Promise<string[] | undefined> {
    const ledger = this.deps.carbon.ledger;
    let target = options.path;
    let format = options.format;
    if (!target) {
      const day = new Date().toISOString().slice(0, 10);
      const uri = await vscode.window.showSaveDialog({
        title: 'Verdant: Export Carbon Report',
        defaultUri: vscode.Uri.joinPath(vscode.workspace.workspaceFolders?.[0]?.uri ?? vscode.Uri.file(os.homedir()), `verdant-carbon-${day}.csv`),
        filters: { 'CSV (one row per request, plus daily totals)': ['csv'], JSON: ['json'] },
      });
      if (!uri) return undefined;
      target = uri.fsPath;
    }
    format ??= target.toLowerCase().endsWith('.json') ? 'json' : 'csv';
    const { records, problems } = await ledger.read();
    const daily = (await ledger.totals({ groupBy: 'day+route', utcOffsetMinutes: -new Date().getTimezoneOffset() })).rows;
    const written: string[] = [];
    if (format === 'json') {
      await fs.writeFile(
        target,
        JSON.stringify(
          {
            exportedAt: new Date().toISOString(),
            method: 'GSF SCI v1.1, R = one request; location-based intensity',
            requests: records,
            daily,
            problems,
          },
          null,
          2,
        ),
      );
      written.push(target);
    } else {
      const dailyPath = target.replace(/(\.csv)?$/i, '-daily.csv');
      await fs.writeFile(target, toCsv(records));
      await fs.writeFile(dailyPath, dailyCsv(daily));
      written.push(target, dailyPath);
    }
    this.deps.log.info(`carbon report exported: ${written.join(', ')} (${records.length} requests)`);
    if (!options.path) void vscode.window.showInformationMessage(`Verdant: carbon report saved (${records.length} requests).`);
    return written;
  }

  private async setGridZone(): Promise<string | undefined> {
    const names = new Intl.DisplayNames(['en'], { type: 'region' });
    type Item = vscode.QuickPickItem & { zone?: string; action?: 'postcode' | 'custom' };
    const countries: Item[] = Object.entries(COUNTRY_AVERAGES)
      .map(([code, a]) => ({
        label: safeName(names, code),
        description: code,
        detail: `${Math.round(a.gPerKWh)} gCO2e/kWh, Ember ${a.year} annual average`,
        zone: code,
      }))
      .sort((a, b) => a.label.localeCompare(b.label));
    const items: Item[] = [
      { label: '$(location) Great Britain, by postcode…', description: 'regional live data from the GB Carbon Intensity API', action: 'postcode' },
      { label: '$(edit) Enter a grid zone code…', description: 'e.g. SE-SE3, US-CAL-CISO, CAISO_NORTH, aws:eu-north-1', action: 'custom' },
      { label: 'Countries', kind: vscode.QuickPickItemKind.Separator },
      ...countries,
    ];
    const pick = await vscode.window.showQuickPick(items, {
      title: 'Verdant: Set Location / Grid Zone',
      placeHolder: 'Where does this computer get its electricity?',
      matchOnDescription: true,
    });
    if (!pick) return undefined;
    const cfg = vscode.workspace.getConfiguration('verdant');
    let zone = pick.zone;
    if (pick.action === 'postcode') {
      const pc = await vscode.window.showInputBox({
        title: 'Outward part of your UK postcode',
        prompt: 'e.g. RG41 or SW1A (only the part before the space)',
        validateInput: (v) => (/^[A-Za-z]{1,2}[0-9][A-Za-z0-9]?$/.test(v.trim()) ? undefined : 'Like RG41 or SW1A'),
      });
      if (!pc) return undefined;
      await cfg.update('carbon.postcode', pc.trim().toUpperCase(), vscode.ConfigurationTarget.Global);
      zone = 'GB';
    } else if (pick.action === 'custom') {
      zone = (
        await vscode.window.showInputBox({ title: 'Grid zone code', prompt: 'A zone of your intensity source, e.g. SE-SE3 or CAISO_NORTH' })
      )?.trim();
      if (!zone) return undefined;
    }
    await cfg.update('carbon.zone', zone, vscode.ConfigurationTarget.Global);
    this.deps.log.info(`carbon: grid zone set to ${zone}`);
    return zone;
  }
}

function safeName(names: Intl.DisplayNames, code: string): string {
  try {
    return names.of(code) ?? code;
  } catch {
    return code;
  }
}

function dailyCsv(
  rows: readonly {
    day?: string;
    route?: string;
    count: number;
    energyKWh: number;
    operationalG: number;
    embodiedG: number;
    sciG: number;
    baselineG: number;
    savedG: number;
  }[],
): string {
  const head = 'day,route,requests,energy_kwh,operational_g,embodied_g,sci_g,baseline_g,saved_g';
  return (
    [
      head,
      ...rows.map((r) => [r.day, r.route, r.count, r.energyKWh, r.operationalG, r.embodiedG, r.sciG, r.baselineG, r.savedG].map(csvField).join(',')),
    ].join('\r\n') + '\r\n'
  );
}

/** The gauge's tooltip: every number with where it came from. */
export function gaugeTooltip(d: DashboardData, engineLine: string): string {
  const i = d.intensity;
  const ageMin = Math.max(0, Math.round((Date.parse(d.generatedAt) - Date.parse(i.at)) / 60_000));
  // With no zone set the figure is the world average: "for this zone" would compare it with itself (#22).
  const zoneNote = i.zone ? `; ${d.zoneLevel} for this zone, against ${d.zoneBasis}` : '';
  const lines = [
    `**Grid now: ${Math.round(i.gPerKWh)} gCO2e/kWh**: ${d.level} on ${d.levelBasis}${zoneNote}`,
    `${i.zone || 'No zone set: the world average ([Set Location / Grid Zone](command:verdant.setGridZone))'} · ${i.source}${i.detail ? `, ${i.detail}` : ''} · ${i.signal} · ${i.isEstimated ? 'estimated' : 'measured'}${ageMin > 1 ? ` · ${ageMin} min old` : ''}`,
  ];
  if (i.fallbackReason) lines.push(`$(warning) ${i.fallbackReason}`);
  const t = d.today;
  lines.push(
    `**Today**: ${t.requests} requests${t.warmUps ? ` (and ${t.warmUps} engine warm-up${t.warmUps === 1 ? '' : 's'}, counted in the grams)` : ''} · local ${formatWh(t.localWh)}, ${formatGrams(t.localG)} · cloud ${formatWh(t.cloudWh)}, ${formatGrams(t.cloudG)} (range ${formatGrams(t.rangeG[0])}–${formatGrams(t.rangeG[1])})`,
  );
  if (t.baselineModel) lines.push(`Saved ${formatGrams(t.savedG)} against all-cloud **${t.baselineModel}** (${formatGrams(t.baselineG)})`);
  lines.push(
    d.window && d.window.savingPct > 0
      ? `Next clean hour: ${hhmm(d.window.start)}–${hhmm(d.window.end)}, ${Math.round(d.window.avgGPerKWh)} g/kWh (${Math.round(d.window.savingPct)}% less than now)`
      : d.window || d.forecast.source !== 'embedded'
        ? 'Next clean hour: now is as clean as the forecast gets'
        : 'Next clean hour: no forecast for this zone (only its annual average), so no hour is known to be cleaner',
  );
  lines.push(engineLine);
  lines.push(
    '[Dashboard](command:verdant.showCarbonDashboard) · [Set grid zone](command:verdant.setGridZone) · [Export report](command:verdant.exportCarbonReport)',
  );
  return lines.join('\n\n');
}

function hhmm(iso: string): string {
  const d = new Date(iso);
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
}
