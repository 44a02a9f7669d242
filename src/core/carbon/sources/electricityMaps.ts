// Electricity Maps API v3 (header `auth-token`): latest carbon intensity of one zone (free tier) and its forecast
// (paid plans). Always sends a zone and shouldUseFallbackCallerLookup=false, so the API never geolocates the caller.
import type { ForecastPoint, IntensityForecast, IntensityReading, IntensitySource } from '../types';
import { cloudRegionCountry, parseCloudZone } from './embedded';
import { SourceError, shapeError, type SourceProfile } from './errors';
import { getJson, joinUrl, type HttpContext } from './http';
import { asArray, asIntensity, asIsoTime, asObject, asString } from './json';

export const ELECTRICITY_MAPS_URL = 'https://api.electricitymaps.com/v3';
export const SET_ELECTRICITY_MAPS_TOKEN_COMMAND = 'Verdant: Set Electricity Maps Token';

export const ELECTRICITY_MAPS_PROFILE: SourceProfile = {
  name: 'Electricity Maps',
  credential: 'token',
  credentialFix: `check the token in ${SET_ELECTRICITY_MAPS_TOKEN_COMMAND}`,
  zoneFix: 'check the carbon zone setting (Electricity Maps zone keys such as DE or SE-SE3)',
  responseFix: 'update Verdant if this persists',
  reachFix: 'check your internet connection',
};

/** A plan limit does not change by itself: ask again after an hour (or after the user changes the token). */
const PLAN_BACKOFF_MS = 60 * 60_000;

export class ElectricityMapsSource implements IntensitySource {
  readonly id = 'electricity-maps' as const;

  constructor(
    private readonly http: HttpContext,
    private readonly token: () => Promise<string | undefined>,
    private readonly baseUrl: string = ELECTRICITY_MAPS_URL,
  ) {}

  async current(zone: string, signal?: AbortSignal): Promise<IntensityReading> {
    const body = asObject(await this.get('/carbon-intensity/latest', zone, signal));
    const value = asIntensity(body?.carbonIntensity);
    const at = asIsoTime(body?.datetime);
    if (value === undefined || !at) throw shapeError(ELECTRICITY_MAPS_PROFILE, 'no carbonIntensity and datetime');
    const factor = asString(body?.emissionFactorType) ?? 'lifecycle';
    const method = asString(body?.estimationMethod);
    return {
      zone: zone.trim(),
      gPerKWh: value,
      at,
      source: this.id,
      isEstimated: body?.isEstimated === true,
      signal: 'average',
      detail: `latest, ${factor}${method ? `, estimated (${method})` : ''}`,
    };
  }

  async forecast(zone: string, signal?: AbortSignal): Promise<IntensityForecast> {
    const body = asObject(
      await this.get('/carbon-intensity/forecast', zone, signal, (status) =>
        status === 401 || status === 403 || status === 404
          ? new SourceError(
              'not-available',
              `Electricity Maps forecasts are not available on this plan (${status}): they need a paid Electricity Maps plan; Verdant uses the annual average meanwhile.`,
              { status, backoffMs: PLAN_BACKOFF_MS },
            )
          : undefined,
      ),
    );
    const rows = asArray(body?.forecast);
    if (!rows) throw shapeError(ELECTRICITY_MAPS_PROFILE, 'no forecast array');
    const points: ForecastPoint[] = [];
    for (const r of rows) {
      const o = asObject(r);
      const value = asIntensity(o?.carbonIntensity);
      const at = asIsoTime(o?.datetime);
      if (value !== undefined && at) points.push({ at, gPerKWh: value });
    }
    if (points.length === 0) throw shapeError(ELECTRICITY_MAPS_PROFILE, 'no forecast values');
    const [first, second] = points;
    const step = first && second ? (Date.parse(second.at) - Date.parse(first.at)) / 60_000 : 60;
    const generatedAt = asIsoTime(body?.updatedAt);
    return {
      zone: zone.trim(),
      source: this.id,
      signal: 'average',
      pointMinutes: step > 0 ? step : 60,
      points,
      ...(generatedAt ? { generatedAt } : {}),
    };
  }

  /** Electricity Maps zone keys are upper case; a cloud zone ('aws:eu-north-1') is sent as its country. */
  private zoneKey(zone: string): string {
    const cloud = parseCloudZone(zone);
    const key = cloud ? cloudRegionCountry(cloud.provider, cloud.region) : zone.trim().toUpperCase();
    if (!key) throw new SourceError('unsupported-zone', `Electricity Maps has no zone for "${zone.trim()}": ${ELECTRICITY_MAPS_PROFILE.zoneFix}.`);
    return key;
  }

  private async get(
    path: string,
    zone: string,
    signal: AbortSignal | undefined,
    onStatus?: (status: number) => SourceError | undefined,
  ): Promise<unknown> {
    const key = this.zoneKey(zone);
    const token = (await this.token())?.trim();
    if (!token) {
      throw new SourceError(
        'no-credentials',
        `No Electricity Maps token is set: add one with ${SET_ELECTRICITY_MAPS_TOKEN_COMMAND} (a free key covers one zone).`,
      );
    }
    const query = `?zone=${encodeURIComponent(key)}&shouldUseFallbackCallerLookup=false`;
    return getJson(this.http, ELECTRICITY_MAPS_PROFILE, joinUrl(this.baseUrl, path + query), { signal, headers: { 'auth-token': token }, onStatus });
  }
}
