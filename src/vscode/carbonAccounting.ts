// Turns every local inference's measured engine time into an SCI record in the ledger: device power x time (the
// detected device profile), grid intensity from the configured source (cached; falls back to the built-in averages
// and says so), embodied share, and the all-cloud baseline for the same tokens. Nothing here runs at activation:
// the intensity source is asked on the first record, and old ledger files are pruned a minute after start.
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { Config } from '../config';
import { detectDevice, osFacts, type DetectedDevice } from '../core/carbon/energy/devices';
import { Ledger, LedgerRecorder } from '../core/carbon/ledger';
import { cloudSciRecord, cloudZone, type CloudRequestFacts } from '../core/carbon/cloudRecord';
import { declaredSize } from '../core/carbon/energy/cloud';
import { sciForLocalUsage } from '../core/carbon/sci';
import { createIntensityService, type IntensityService } from '../core/carbon/sources';
import { chooseCloudSource, chooseSource, type SourceFacts } from '../core/carbon/sourceChoice';
import type { EndpointZone } from '../core/cloud/zone';
import type { IntensityForecast, IntensityReading, SciRecord, SourceId } from '../core/carbon/types';
import type { LocalUsageRecord, UsageLog } from '../core/usage';
import { errorMessage } from '../core/errors';

const EM_TOKEN = 'verdant.carbon.electricityMapsToken';
const WATTTIME = 'verdant.carbon.wattTime';
const PRUNE_DELAY_MS = 60_000;

export const CARBON_COMMANDS = {
  setElectricityMapsToken: 'verdant.setElectricityMapsToken',
  setWattTimeCredentials: 'verdant.setWattTimeCredentials',
} as const;

export interface CarbonDeps {
  readonly config: Config;
  readonly usage: UsageLog;
  readonly secrets: vscode.SecretStorage;
  readonly stateDir: string;
  readonly log: vscode.LogOutputChannel;
}

export class CarbonAccounting implements vscode.Disposable {
  readonly ledger: Ledger;
  /** Appends without ever failing a request; a full disk is logged once, not on every completion. */
  private readonly recorder: LedgerRecorder;
  /** One service per source and zone asked about (the user's, and a cloud endpoint's); dropped when settings change. */
  private readonly services = new Map<string, IntensityService>();
  private readonly devices = new Map<string, DetectedDevice>();
  private readonly disposables: vscode.Disposable[] = [];
  private lastFallback: string | undefined;
  private pending: Promise<unknown> = Promise.resolve();
  /** The ledger record each usage record became (or undefined when it could not be written). */
  private readonly records = new WeakMap<LocalUsageRecord, Promise<SciRecord | undefined>>();
  private readonly pruneTimer: NodeJS.Timeout;
  /** The last record written (for the status bar and tests). */
  lastRecord: SciRecord | undefined;
  private readonly recorded = new vscode.EventEmitter<SciRecord>();
  /** Fires after a record is in the ledger. */
  readonly onDidRecord = this.recorded.event;

  constructor(private readonly deps: CarbonDeps) {
    this.ledger = new Ledger({ dir: path.join(deps.stateDir, 'ledger') });
    this.recorder = new LedgerRecorder(this.ledger, (level, message) => deps.log[level](`carbon: ${message}`));
    this.disposables.push(
      deps.usage.subscribe((r) => {
        const written = this.pending.then(() => this.record(r));
        this.records.set(r, written);
        this.pending = written;
      }),
      deps.config.onDidChange(() => {
        this.services.clear();
      }),
      deps.secrets.onDidChange((e) => {
        if (e.key === EM_TOKEN || e.key === WATTTIME) this.services.clear();
      }),
      vscode.commands.registerCommand(CARBON_COMMANDS.setElectricityMapsToken, () =>
        this.askSecret(EM_TOKEN, 'Electricity Maps API token', 'From your Electricity Maps account (app.electricitymaps.com).'),
      ),
      vscode.commands.registerCommand(CARBON_COMMANDS.setWattTimeCredentials, () => this.askWattTime()),
    );
    this.pruneTimer = setTimeout(() => void this.prune(), PRUNE_DELAY_MS);
  }

  /** Resolves when every usage record seen so far is in the ledger. */
  flushed(): Promise<unknown> {
    return this.pending;
  }

  /**
   * The ledger record made from this usage record, once it is written: the caller's own record, never one that
   * another request (an idle warm-up, say) appended meanwhile. Undefined when it was not recorded.
   */
  recordOf(usage: LocalUsageRecord): Promise<SciRecord | undefined> {
    return this.records.get(usage) ?? Promise.resolve(undefined);
  }

  /** Current grid intensity at the user's zone (never rejects: falls back to the built-in average). */
  async intensity(): Promise<IntensityReading> {
    return (await this.intensityService()).current();
  }

  /**
   * A cloud endpoint's zone (verdant.cloud.zone, its preset, or unknown) and the intensity there: the user's live
   * source when it covers that zone, else the annual average (never rejects). The router and recordCloud share it.
   */
  async cloudIntensity(endpoint: string): Promise<{ where: EndpointZone; intensity: IntensityReading }> {
    const s = this.deps.config.settings;
    const where = cloudZone({ endpoint, zoneSetting: s.cloud.zone, localZone: s.carbon.zone });
    const intensity = await this.serviceFor(chooseCloudSource(await this.sourceFacts(), where)).current();
    return { where, intensity };
  }

  /**
   * One cloud request: EcoLogits energy for the model at the endpoint's data centre (cloudIntensity's zone and
   * reading, its PUE; the provider's renewable claims only as labels), against the all-cloud baseline at the same
   * place. A model of unknown size is recorded at its declared, named or assumed size, with a wider range.
   */
  async recordCloud(r: Omit<CloudRequestFacts, 'localZone' | 'zoneSetting' | 'declaredSize' | 'intensity'>): Promise<SciRecord | undefined> {
    try {
      const s = this.deps.config.settings;
      const { intensity } = await this.cloudIntensity(r.endpoint);
      const record = cloudSciRecord({
        ...r,
        localZone: s.carbon.zone,
        zoneSetting: s.cloud.zone,
        declaredSize: declaredSize(s.cloud.modelParams),
        intensity,
      });
      if (!(await this.recorder.append(record))) return undefined;
      this.lastRecord = record;
      this.recorded.fire(record);
      return record;
    } catch (e) {
      this.deps.log.error(`carbon: could not record a cloud request: ${errorMessage(e)}`);
      return undefined;
    }
  }

  /** The source's forecast, or a flat one at the annual average (never rejects). */
  async forecast(): Promise<IntensityForecast> {
    return (await this.intensityService()).forecast();
  }

  dispose(): void {
    clearTimeout(this.pruneTimer);
    this.recorded.dispose();
    for (const d of this.disposables) d.dispose();
  }

  private async record(usage: LocalUsageRecord): Promise<SciRecord | undefined> {
    try {
      const intensity = await this.intensity();
      if (intensity.fallbackReason && intensity.fallbackReason !== this.lastFallback) this.deps.log.warn(`carbon: ${intensity.fallbackReason}`);
      this.lastFallback = intensity.fallbackReason;
      const record = sciForLocalUsage(usage, this.device(usage.backend), intensity, undefined, { measuredJoules: usage.measuredJoules });
      if (!(await this.recorder.append(record))) return undefined;
      this.lastRecord = record;
      this.recorded.fire(record);
      return record;
    } catch (e) {
      this.deps.log.error(`carbon: could not record a request: ${errorMessage(e)}`);
      return undefined;
    }
  }

  /** The power profile used for this backend's requests (detected once per backend). */
  device(backend: string): DetectedDevice {
    let d = this.devices.get(backend);
    if (!d) {
      d = detectDevice(osFacts(), backend);
      this.devices.set(backend, d);
      this.deps.log.info(`carbon: ${backend} on ${d.label} (${d.reason})`);
    }
    return d;
  }

  private async intensityService(): Promise<IntensityService> {
    return this.serviceFor(chooseSource(await this.sourceFacts()));
  }

  private async sourceFacts(): Promise<SourceFacts> {
    const c = this.deps.config.settings.carbon;
    const hasToken = Boolean(await this.deps.secrets.get(EM_TOKEN));
    return { choice: c.source, zone: c.zone, postcode: c.postcode, hasElectricityMapsToken: hasToken, carbonAwareSdkUrl: c.carbonAwareSdkUrl };
  }

  private serviceFor(picked: { source: SourceId; zone: string }): IntensityService {
    const c = this.deps.config.settings.carbon;
    const key = `${picked.source} ${picked.zone} ${c.carbonAwareSdkUrl}`;
    let service = this.services.get(key);
    if (!service) {
      const secrets = this.deps.secrets;
      service = createIntensityService({
        source: picked.source,
        zone: picked.zone,
        baseUrls: c.carbonAwareSdkUrl ? { 'carbon-aware-sdk': c.carbonAwareSdkUrl } : {},
        credentials: {
          electricityMapsToken: async () => (await secrets.get(EM_TOKEN)) || undefined,
          wattTime: async () => {
            const raw = await secrets.get(WATTTIME);
            if (!raw) return undefined;
            try {
              return JSON.parse(raw) as { username: string; password: string };
            } catch {
              return undefined;
            }
          },
        },
      });
      this.services.set(key, service);
    }
    return service;
  }

  private async prune(): Promise<void> {
    const days = this.deps.config.settings.carbon.retentionDays;
    if (days <= 0) return;
    try {
      const { removedFiles } = await this.ledger.prune(days);
      if (removedFiles.length) this.deps.log.info(`carbon: removed ${removedFiles.length} ledger file(s) older than ${days} days`);
    } catch (e) {
      this.deps.log.warn(`carbon: pruning the ledger failed: ${errorMessage(e)}`);
    }
  }

  private async askSecret(key: string, title: string, prompt: string): Promise<void> {
    const value = await vscode.window.showInputBox({
      title: `Verdant: ${title}`,
      prompt: `${prompt} Stored in VS Code secret storage.`,
      password: true,
      ignoreFocusOut: true,
    });
    if (value === undefined) return;
    if (value.trim() === '') await this.deps.secrets.delete(key);
    else await this.deps.secrets.store(key, value.trim());
    this.deps.log.info(`carbon: ${title} ${value.trim() === '' ? 'removed' : 'stored'} in secret storage`);
  }

  private async askWattTime(): Promise<void> {
    const username = await vscode.window.showInputBox({ title: 'Verdant: WattTime user name', ignoreFocusOut: true });
    if (!username) return;
    const password = await vscode.window.showInputBox({ title: 'Verdant: WattTime password', password: true, ignoreFocusOut: true });
    if (password === undefined) return;
    await this.deps.secrets.store(WATTTIME, JSON.stringify({ username: username.trim(), password }));
    this.deps.log.info('carbon: WattTime credentials stored in secret storage');
  }
}
