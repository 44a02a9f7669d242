// GB Carbon Intensity API (NESO, api.carbonintensity.org.uk; no key; data CC BY 4.0): national actual/forecast,
// regional forecast by postcode outward code or region id, 48 h forecasts in 30-minute periods.
import type { ForecastPoint, IntensityForecast, IntensityReading, IntensitySource } from '../types';
import { SourceError, shapeError, type SourceProfile } from './errors';
import { getJson, joinUrl, type HttpContext } from './http';
import { asArray, asIntensity, asIsoTime, asObject, asString, type JsonObject } from './json';

export const UK_CARBON_INTENSITY_URL = 'https://api.carbonintensity.org.uk';

export const UK_PROFILE: SourceProfile = {
  name: 'GB Carbon Intensity API',
  zoneFix: "set the carbon zone to GB, or GB- and your postcode's outward code such as GB-RG41",
  responseFix: 'update Verdant if this persists',
  reachFix: 'check your internet connection',
};

export type GbTarget =
  | { readonly kind: 'national' }
  | { readonly kind: 'postcode'; readonly outward: string }
  | { readonly kind: 'region'; readonly id: number };

const OUTWARD = /^[A-Z]{1,2}\d[A-Z\d]?$/;

/**
 * 'GB' -> national; 'GB-RG41' (or 'GB-RG41 1AA': only the outward code is ever sent) -> postcode region;
 * 'GB-13' -> region id 1..17; anything else -> undefined.
 */
export function parseGbZone(zone: string): GbTarget | undefined {
  const z = zone.trim().toUpperCase();
  if (z === 'GB' || z === 'UK') return { kind: 'national' };
  const after = /^GB-(.+)$/.exec(z)?.[1];
  if (after === undefined) return undefined;
  const rest = after.trim();
  if (/^\d{1,2}$/.test(rest)) {
    const id = Number(rest);
    return id >= 1 && id <= 17 ? { kind: 'region', id } : undefined;
  }
  const outward = rest.split(/\s+/)[0]!;
  return OUTWARD.test(outward) ? { kind: 'postcode', outward } : undefined;
}

/** The API's path timestamp: minutes, UTC, 'Z' (e.g. 2024-06-01T12:00Z). */
export function gbTimestamp(ms: number): string {
  return new Date(ms).toISOString().slice(0, 16) + 'Z';
}

export class UkCarbonIntensitySource implements IntensitySource {
  readonly id = 'uk-carbon-intensity' as const;
  private readonly baseUrl: string;

  constructor(
    private readonly http: HttpContext,
    baseUrl: string = UK_CARBON_INTENSITY_URL,
  ) {
    this.baseUrl = baseUrl;
  }

  async current(zone: string, signal?: AbortSignal): Promise<IntensityReading> {
    const target = this.target(zone);
    if (target.kind === 'national') {
      const period = this.firstPeriod(await this.get('/intensity', signal), 'data[0]');
      const intensity = asObject(period.intensity);
      const actual = asIntensity(intensity?.actual);
      const forecast = asIntensity(intensity?.forecast);
      const value = actual ?? forecast;
      const at = asIsoTime(period.from);
      if (value === undefined || !at) throw shapeError(UK_PROFILE, 'no intensity.actual or intensity.forecast');
      return this.reading(zone, value, at, actual === undefined ? 'GB national forecast' : 'GB national actual', actual === undefined);
    }
    const path = target.kind === 'postcode' ? `/regional/postcode/${target.outward}` : `/regional/regionid/${target.id}`;
    const region = this.region(await this.get(path, signal));
    const period = this.firstPeriod({ data: region.data }, 'data[0].data[0]');
    const value = asIntensity(asObject(period.intensity)?.forecast);
    const at = asIsoTime(period.from);
    if (value === undefined || !at) throw shapeError(UK_PROFILE, 'no regional intensity.forecast');
    return this.reading(zone, value, at, `GB regional forecast, ${asString(region.shortname) ?? 'region'}`, true);
  }

  async forecast(zone: string, signal?: AbortSignal): Promise<IntensityForecast> {
    const target = this.target(zone);
    const from = gbTimestamp(this.http.now());
    let periods: readonly unknown[] | undefined;
    if (target.kind === 'national') {
      periods = asArray(asObject(await this.get(`/intensity/${from}/fw48h`, signal))?.data);
    } else {
      const where = target.kind === 'postcode' ? `postcode/${target.outward}` : `regionid/${target.id}`;
      periods = asArray(this.region(await this.get(`/regional/intensity/${from}/fw48h/${where}`, signal)).data);
    }
    if (!periods) throw shapeError(UK_PROFILE, 'no data array');
    const points: ForecastPoint[] = [];
    for (const p of periods) {
      const o = asObject(p);
      const value = asIntensity(asObject(o?.intensity)?.forecast);
      const at = asIsoTime(o?.from);
      if (value !== undefined && at) points.push({ at, gPerKWh: value }); // the far end of a regional forecast can be null
    }
    if (points.length === 0) throw shapeError(UK_PROFILE, 'no forecast values');
    return { zone: zone.trim(), source: this.id, signal: 'average', pointMinutes: 30, points };
  }

  private target(zone: string): GbTarget {
    const t = parseGbZone(zone);
    if (!t) {
      throw new SourceError(
        'unsupported-zone',
        `The GB Carbon Intensity API covers Great Britain only and has no zone "${zone.trim()}": ${UK_PROFILE.zoneFix}, or choose another carbon source.`,
      );
    }
    return t;
  }

  private get(path: string, signal: AbortSignal | undefined): Promise<unknown> {
    return getJson(this.http, UK_PROFILE, joinUrl(this.baseUrl, path), { signal });
  }

  /** `data` is an array of regions on /regional/postcode and an object on /regional/intensity/…; accept both. */
  private region(body: unknown): JsonObject {
    const data = asObject(body)?.data;
    const region = asObject(data) ?? asObject(asArray(data)?.[0]);
    if (!region) throw shapeError(UK_PROFILE, 'no region in data');
    return region;
  }

  private firstPeriod(body: unknown, what: string): JsonObject {
    const first = asObject(asArray(asObject(body)?.data)?.[0]);
    if (!first) throw shapeError(UK_PROFILE, `no ${what}`);
    return first;
  }

  private reading(zone: string, gPerKWh: number, at: string, detail: string, isEstimated: boolean): IntensityReading {
    return { zone: zone.trim(), gPerKWh, at, source: this.id, isEstimated, signal: 'average', detail };
  }
}
