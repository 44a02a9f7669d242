// The offline default: Ember annual averages per country (data/gridAverages.ts) and cloud regions
// (data/cloudRegions.ts). Never fails and needs no key; it is also what every live source falls back to.
import { AWS_REGION_COUNTRIES, AZURE_REGION_COUNTRIES, GCP_REGIONS, type CloudProvider } from '../data/cloudRegions';
import { COUNTRY_AVERAGES, WORLD_AVERAGE, type GridAverage } from '../data/gridAverages';
import type { IntensityForecast, IntensityReading, IntensitySource } from '../types';
import { isoAt } from './json';

export interface GridLookup {
  readonly gPerKWh: number;
  readonly year: number;
  /** What the figure describes. */
  readonly matched: 'country' | 'cloud-region' | 'world';
  /** The table entry used: 'SE', 'gcp:europe-north1' or 'WORLD'. */
  readonly key: string;
  /** e.g. "Ember 2024 annual average for SE (no figure for SE-SE3, so its country's)". */
  readonly detail: string;
}

const BY_ISO3: ReadonlyMap<string, { readonly iso2: string; readonly average: GridAverage }> = new Map(
  Object.entries(COUNTRY_AVERAGES).map(([iso2, average]) => [average.iso3, { iso2, average }]),
);

const CLOUD_ZONE = /^(aws|azure|gcp):(.+)$/i;

function country(iso2: string, a: GridAverage, why?: string): GridLookup {
  return {
    gPerKWh: a.gPerKWh,
    year: a.year,
    matched: 'country',
    key: iso2,
    detail: `Ember ${a.year} annual average for ${iso2}${why ? ` (${why})` : ''}`,
  };
}

function world(why: string): GridLookup {
  const a = WORLD_AVERAGE;
  return { gPerKWh: a.gPerKWh, year: a.year, matched: 'world', key: 'WORLD', detail: `Ember ${a.year} World average (${why})` };
}

/** The country (ISO 3166 alpha-2) a cloud region is in, or undefined. */
export function cloudRegionCountry(provider: CloudProvider, region: string): string | undefined {
  if (provider === 'gcp') return Object.hasOwn(GCP_REGIONS, region) ? GCP_REGIONS[region]?.country : undefined;
  const table = provider === 'aws' ? AWS_REGION_COUNTRIES : AZURE_REGION_COUNTRIES;
  return Object.hasOwn(table, region) ? table[region] : undefined;
}

/** 'aws:eu-north-1' -> { provider: 'aws', region: 'eu-north-1' }; undefined for other zones. */
export function parseCloudZone(zone: string): { provider: CloudProvider; region: string } | undefined {
  const m = CLOUD_ZONE.exec(zone.trim());
  // Both groups take part in every match.
  return m ? { provider: m[1]!.toLowerCase() as CloudProvider, region: m[2]!.trim().toLowerCase() } : undefined;
}

/**
 * The embedded figure for a zone: a cloud region ('gcp:europe-north1' has Google's own figure; 'aws:eu-north-1' and
 * 'azure:swedencentral' their country's), the exact country ('SE', or ISO-3 'SWE'), else the country before the
 * first '-' ('SE-SE3', 'GB-RG41', 'US-CAL-CISO'), else World. Sub-national zones have no figure of their own: the
 * only yearly sub-national data found (Electricity Maps via co2.js) is ODbL and a different method, so it is not
 * shipped.
 */
export function lookupGridAverage(zone: string): GridLookup {
  const z = zone.trim();
  if (z === '') return world('no zone set');
  const cloud = parseCloudZone(z);
  if (cloud) {
    const key = `${cloud.provider}:${cloud.region}`;
    // Own keys only: a region named like an Object.prototype member ('gcp:constructor') is not in the table.
    const gcp = cloud.provider === 'gcp' && Object.hasOwn(GCP_REGIONS, cloud.region) ? GCP_REGIONS[cloud.region] : undefined;
    if (gcp) {
      return {
        gPerKWh: gcp.gPerKWh,
        year: gcp.year,
        matched: 'cloud-region',
        key,
        detail: `Google Cloud ${gcp.year} grid average for ${cloud.region} (region-carbon-info)`,
      };
    }
    const iso2 = cloudRegionCountry(cloud.provider, cloud.region);
    const a = iso2 ? COUNTRY_AVERAGES[iso2] : undefined;
    return iso2 && a ? country(iso2, a, `${key} is in ${iso2}`) : world(`unknown cloud region ${key}`);
  }
  const upper = z.toUpperCase();
  const exact = COUNTRY_AVERAGES[upper];
  if (exact) return country(upper, exact);
  const fromIso3 = BY_ISO3.get(upper);
  if (fromIso3) return country(fromIso3.iso2, fromIso3.average, `ISO 3166 alpha-3 ${upper}`);
  const prefix = upper.split('-')[0]!;
  const parent = COUNTRY_AVERAGES[prefix];
  if (parent && prefix !== upper) return country(prefix, parent, `no figure for ${upper}, so its country's`);
  return world(`no figure for ${z}`);
}

/** A flat forecast (every hour the same value) for callers that always want one; `fallbackReason` says why. */
export function flatForecast(reading: IntensityReading, nowMs: number, fallbackReason?: string, hours = 24): IntensityForecast {
  const hour = 3_600_000;
  const start = Math.floor(nowMs / hour) * hour;
  const points = Array.from({ length: hours }, (_, i) => ({ at: isoAt(start + i * hour), gPerKWh: reading.gPerKWh }));
  return {
    zone: reading.zone,
    source: reading.source,
    signal: reading.signal,
    pointMinutes: 60,
    points,
    ...(fallbackReason !== undefined ? { fallbackReason } : {}),
  };
}

export class EmbeddedSource implements IntensitySource {
  readonly id = 'embedded' as const;

  constructor(private readonly now: () => number = Date.now) {}

  async current(zone: string): Promise<IntensityReading> {
    return this.read(zone);
  }

  /** Synchronous form for the fallback path, which must not fail. */
  read(zone: string): IntensityReading {
    const found = lookupGridAverage(zone);
    return {
      zone: zone.trim(),
      gPerKWh: found.gPerKWh,
      at: isoAt(this.now()),
      source: 'embedded',
      isEstimated: true,
      signal: 'average',
      detail: found.detail,
    };
  }
}
