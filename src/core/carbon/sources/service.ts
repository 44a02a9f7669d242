// The one entry point the CLI and the extension use: a grid-intensity service for the configured source and zone,
// built from explicit dependencies (fetch, clock, credentials, base URLs), that always answers. No geolocation:
// the zone is a user setting, and an empty zone means the World average.
import { AZURE_REGION_COUNTRIES } from '../data/cloudRegions';
import type { IntensityForecast, IntensityReading, IntensitySource, LiveSourceId, SignalType, SourceId } from '../types';
import { CARBON_AWARE_SDK_PROFILE, CarbonAwareSdkSource } from './carbonAwareSdk';
import { ELECTRICITY_MAPS_PROFILE, ELECTRICITY_MAPS_URL, ElectricityMapsSource } from './electricityMaps';
import { EmbeddedSource, flatForecast } from './embedded';
import type { SourceProfile } from './errors';
import type { FetchLike, HttpContext } from './http';
import { ResilientSource, type ResiliencePolicy } from './resilient';
import { UK_CARBON_INTENSITY_URL, UK_PROFILE, UkCarbonIntensitySource } from './ukCarbonIntensity';
import { WATTTIME_PROFILE, WATTTIME_URL, WattTimeSource, type WattTimeLogin } from './wattTime';

/** Secrets come from the caller (VS Code SecretStorage, or the CLI's environment), read only when needed. */
export interface CarbonCredentials {
  electricityMapsToken?(): Promise<string | undefined>;
  wattTime?(): Promise<WattTimeLogin | undefined>;
}

export type { LiveSourceId } from '../types';

export interface IntensityServiceOptions {
  readonly source: SourceId;
  /** ISO 3166 alpha-2 ('FR'), a sub-national zone ('SE-SE3'), 'GB-<outward postcode>', a cloud region ('aws:eu-north-1'), or the source's own region id ('CAISO_NORTH', 'eastus'). */
  readonly zone: string;
  /**
   * The zone for the embedded fallback when `zone` is a source-specific region id. Default: `zone` itself, except
   * that a Carbon Aware SDK location that is an Azure region name ('eastus') falls back to that region's country.
   */
  readonly fallbackZone?: string;
  readonly credentials?: CarbonCredentials;
  /** Default: Node's global fetch. */
  readonly fetch?: FetchLike;
  /** Epoch ms. Default: Date.now. */
  readonly now?: () => number;
  /** Overrides per source (tests, proxies); the Carbon Aware SDK has no default and needs one. */
  readonly baseUrls?: Partial<Record<LiveSourceId, string>>;
  /** Per request, body included. Default 10 s. */
  readonly timeoutMs?: number;
  readonly policy?: Partial<ResiliencePolicy>;
  /** What the self-hosted Carbon Aware SDK serves: 'marginal' (WattTime behind it, the default) or 'average'. */
  readonly carbonAwareSdkSignal?: SignalType;
}

export interface IntensityService {
  readonly source: SourceId;
  readonly zone: string;
  /** Never rejects: on any failure the embedded average with `fallbackReason`. */
  current(signal?: AbortSignal): Promise<IntensityReading>;
  /** Never rejects: on failure, or for the embedded source, a flat 24 h forecast at the embedded value. */
  forecast(signal?: AbortSignal): Promise<IntensityForecast>;
  /** Drops cached answers and back-offs (call after the user changed a token or a plan). */
  reset(): void;
}

export const DEFAULT_TIMEOUT_MS = 10_000;

export const DEFAULT_BASE_URLS: Readonly<Record<Exclude<LiveSourceId, 'carbon-aware-sdk'>, string>> = {
  'uk-carbon-intensity': UK_CARBON_INTENSITY_URL,
  'electricity-maps': ELECTRICITY_MAPS_URL,
  watttime: WATTTIME_URL,
};

const PROFILES: Readonly<Record<LiveSourceId, SourceProfile>> = {
  'uk-carbon-intensity': UK_PROFILE,
  'electricity-maps': ELECTRICITY_MAPS_PROFILE,
  watttime: WATTTIME_PROFILE,
  'carbon-aware-sdk': CARBON_AWARE_SDK_PROFILE,
};

const globalFetch: FetchLike = (url, init) => fetch(url, init);

/** The bare live source (it throws SourceError); most callers want createIntensityService instead. */
export function createLiveSource(
  id: LiveSourceId,
  http: HttpContext,
  opts: Pick<IntensityServiceOptions, 'credentials' | 'baseUrls' | 'carbonAwareSdkSignal'> = {},
): IntensitySource {
  const base = opts.baseUrls ?? {};
  switch (id) {
    case 'uk-carbon-intensity':
      return new UkCarbonIntensitySource(http, base[id] ?? DEFAULT_BASE_URLS[id]);
    case 'electricity-maps':
      return new ElectricityMapsSource(http, async () => opts.credentials?.electricityMapsToken?.(), base[id] ?? DEFAULT_BASE_URLS[id]);
    case 'watttime':
      return new WattTimeSource(http, async () => opts.credentials?.wattTime?.(), base[id] ?? DEFAULT_BASE_URLS[id]);
    case 'carbon-aware-sdk':
      return new CarbonAwareSdkSource(http, base[id], opts.carbonAwareSdkSignal);
  }
}

function defaultFallbackZone(source: SourceId, zone: string): string {
  const z = zone.trim();
  if (source === 'carbon-aware-sdk' && AZURE_REGION_COUNTRIES[z.toLowerCase()]) return `azure:${z.toLowerCase()}`;
  return z;
}

export function createIntensityService(opts: IntensityServiceOptions): IntensityService {
  const now = opts.now ?? Date.now;
  const embedded = new EmbeddedSource(now);
  const zone = opts.zone.trim();
  if (opts.source === 'embedded') {
    return {
      source: 'embedded',
      zone,
      current: async () => embedded.read(zone),
      forecast: async () => flatForecast(embedded.read(zone), now()),
      reset: () => undefined,
    };
  }
  const http: HttpContext = { fetch: opts.fetch ?? globalFetch, now, timeoutMs: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS };
  const fallbackZone = opts.fallbackZone?.trim() || defaultFallbackZone(opts.source, zone);
  const resilient = new ResilientSource({
    live: createLiveSource(opts.source, http, opts),
    profile: PROFILES[opts.source],
    fallback: embedded,
    now,
    policy: opts.policy,
    fallbackZone: () => fallbackZone,
  });
  return {
    source: opts.source,
    zone,
    current: (signal) => resilient.current(zone, signal),
    forecast: (signal) => resilient.forecast(zone, signal),
    reset: () => resilient.reset(),
  };
}
