// Shared shapes of the carbon core: grid intensity readings and forecasts from any source, and the per-request SCI
// record that the ledger stores. All intensities are location-based gCO2e/kWh; market-based claims (RECs, PPAs,
// "100% renewable") never change a number and may only appear as labels.

/**
 * Every intensity source, once: settings, the ledger's record check, the CLI and the source service all read this
 * list, so a new source is added here and nowhere is left behind (a source missing from the ledger's check made
 * every record of it unreadable).
 */
export const SOURCE_IDS = ['embedded', 'uk-carbon-intensity', 'electricity-maps', 'watttime', 'carbon-aware-sdk'] as const;
export type SourceId = (typeof SOURCE_IDS)[number];
/** The sources that ask a live service (all but the built-in table). */
export type LiveSourceId = Exclude<SourceId, 'embedded'>;
export const LIVE_SOURCE_IDS = SOURCE_IDS.filter((s): s is LiveSourceId => s !== 'embedded');

/** Average: the mix's mean emissions. Marginal: the emissions of the generator that follows demand (WattTime). */
export type SignalType = 'average' | 'marginal';

export interface IntensityReading {
  /** Zone key: ISO 3166 alpha-2 country ('FR'), a sub-national zone ('SE-SE3', 'US-CAL-CISO'), 'GB' with a postcode region ('GB-RG41'), or a source's own region id. */
  readonly zone: string;
  readonly gPerKWh: number;
  /** ISO 8601 time the value applies to. */
  readonly at: string;
  readonly source: SourceId;
  readonly isEstimated: boolean;
  readonly signal: SignalType;
  /** e.g. 'Ember 2024 annual average', 'forecast', 'actual'. */
  readonly detail?: string;
  /** Set when a live source was asked for but could not answer and this value came from the fallback. */
  readonly fallbackReason?: string;
}

export interface ForecastPoint {
  /** Start of the period, ISO 8601. */
  readonly at: string;
  readonly gPerKWh: number;
}

export interface IntensityForecast {
  readonly zone: string;
  readonly source: SourceId;
  readonly signal: SignalType;
  /** Length of each point's period in minutes (GB 30, Electricity Maps 60, WattTime 5). */
  readonly pointMinutes: number;
  readonly points: readonly ForecastPoint[];
  readonly generatedAt?: string;
  readonly fallbackReason?: string;
}

export interface IntensitySource {
  readonly id: SourceId;
  current(zone: string, signal?: AbortSignal): Promise<IntensityReading>;
  /** Absent when the source has no forecast. */
  forecast?(zone: string, signal?: AbortSignal): Promise<IntensityForecast>;
}

export type Route = 'local' | 'cloud';

/** An estimate with its method and a low/high range. */
export interface EnergyEstimate {
  readonly kWh: number;
  readonly rangeKWh: readonly [number, number];
  /** e.g. 'rapl' (measured), 'device-profile', 'tdp-model', 'ecologits-2025.11'. */
  readonly method: string;
  readonly measured: boolean;
  /** Included in kWh already (cloud: data-centre PUE). */
  readonly pue?: number;
}

/**
 * One request's Software Carbon Intensity (GSF SCI v1.1, R = one request): SCI = E x I + M. The baseline is the
 * same request on the named all-cloud baseline model with the identical method.
 */
export interface SciRecord {
  readonly id: string;
  /** ISO 8601 time the request started. */
  readonly ts: string;
  readonly route: Route;
  /** e.g. 'inline-completion', 'explain', 'refactor'. */
  readonly feature: string;
  readonly model: string;
  readonly tokens: { readonly in: number; readonly out: number };
  readonly energy: EnergyEstimate;
  readonly intensity: {
    readonly gPerKWh: number;
    readonly source: SourceId;
    readonly zone: string;
    readonly signal: SignalType;
    readonly isEstimated: boolean;
  };
  /** Operational emissions E x I, g. */
  readonly operationalG: number;
  /** Embodied share M, g. */
  readonly embodiedG: number;
  /** SCI per request = operational + embodied, g. */
  readonly sciG: number;
  readonly rangeG: readonly [number, number];
  readonly baseline: { readonly route: 'cloud'; readonly model: string; readonly sciG: number };
  /** baseline.sciG - sciG (negative when this request cost more than the baseline would have). */
  readonly savedG: number;
  /** Market-based claims and other context, never used in the numbers. */
  readonly labels?: readonly string[];
}
