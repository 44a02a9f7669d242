// Green Software Foundation Carbon Aware SDK WebAPI (self-hosted, so there is no default address): observed
// emissions by location (the newest is "current") and the current forecast. Ratings are g/kWh; whether they are
// marginal (its WattTime data source, co2_moer, the SDK's usual setup) or average (Electricity Maps) depends on how
// that WebAPI is configured, so the signal is an option.
import type { ForecastPoint, IntensityForecast, IntensityReading, IntensitySource, SignalType } from '../types';
import { SourceError, shapeError, type SourceProfile } from './errors';
import { getJson, joinUrl, type HttpContext } from './http';
import { asArray, asIntensity, asIsoTime, asObject, asString } from './json';

export const CARBON_AWARE_SDK_URL_SETTING = 'verdant.carbon.carbonAwareSdkUrl';

export const CARBON_AWARE_SDK_PROFILE: SourceProfile = {
  name: 'The Carbon Aware SDK',
  zoneFix: 'set the carbon zone to one of its locations, e.g. eastus (see its /locations)',
  responseFix: `check that ${CARBON_AWARE_SDK_URL_SETTING} points at the Carbon Aware SDK WebAPI`,
  reachFix: `check that the Carbon Aware SDK WebAPI is running and ${CARBON_AWARE_SDK_URL_SETTING} is its address`,
};

/** A point's duration: minutes as a number, or a .NET TimeSpan string ("00:05:00", "1.00:00:00"). */
export function durationMinutes(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v) && v > 0) return v;
  const m = typeof v === 'string' ? /^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})/.exec(v) : null;
  if (!m) return undefined;
  const minutes = Number(m[1] ?? 0) * 1440 + Number(m[2]) * 60 + Number(m[3]) + Number(m[4]) / 60;
  return minutes > 0 ? minutes : undefined;
}

export class CarbonAwareSdkSource implements IntensitySource {
  readonly id = 'carbon-aware-sdk' as const;

  constructor(
    private readonly http: HttpContext,
    private readonly baseUrl: string | undefined,
    private readonly signalType: SignalType = 'marginal',
  ) {}

  async current(zone: string, signal?: AbortSignal): Promise<IntensityReading> {
    const rows = asArray(await this.get('/emissions/bylocation', zone, signal));
    if (!rows) throw shapeError(CARBON_AWARE_SDK_PROFILE, 'no array of emissions data');
    let latest: { at: string; value: number; location?: string } | undefined;
    for (const r of rows) {
      const o = asObject(r);
      const value = asIntensity(o?.rating);
      const at = asIsoTime(o?.time);
      if (value !== undefined && at && (!latest || at > latest.at)) latest = { at, value, location: asString(o?.location) };
    }
    if (!latest) throw shapeError(CARBON_AWARE_SDK_PROFILE, `no rating with a time for ${zone.trim()}`);
    return {
      zone: zone.trim(),
      gPerKWh: latest.value,
      at: latest.at,
      source: this.id,
      isEstimated: false,
      signal: this.signalType,
      detail: `latest observed rating${latest.location ? ` for ${latest.location}` : ''}`,
    };
  }

  async forecast(zone: string, signal?: AbortSignal): Promise<IntensityForecast> {
    const first = asObject(asArray(await this.get('/emissions/forecasts/current', zone, signal))?.[0]);
    const rows = asArray(first?.forecastData);
    if (!first || !rows) throw shapeError(CARBON_AWARE_SDK_PROFILE, 'no forecastData');
    const points: ForecastPoint[] = [];
    let minutes: number | undefined;
    for (const r of rows) {
      const o = asObject(r);
      const value = asIntensity(o?.value);
      const at = asIsoTime(o?.timestamp);
      if (value === undefined || !at) continue;
      points.push({ at, gPerKWh: value });
      minutes ??= durationMinutes(o?.duration);
    }
    if (points.length === 0) throw shapeError(CARBON_AWARE_SDK_PROFILE, 'no forecast values');
    const generatedAt = asIsoTime(first.generatedAt);
    return {
      zone: zone.trim(),
      source: this.id,
      signal: this.signalType,
      pointMinutes: minutes ?? 5,
      points,
      ...(generatedAt ? { generatedAt } : {}),
    };
  }

  private get(path: string, zone: string, signal: AbortSignal | undefined): Promise<unknown> {
    if (!this.baseUrl) {
      throw new SourceError(
        'config',
        `No Carbon Aware SDK address is set: set ${CARBON_AWARE_SDK_URL_SETTING} to your WebAPI, e.g. http://localhost:8080.`,
      );
    }
    const location = zone.trim();
    const url = joinUrl(this.baseUrl, `${path}?location=${encodeURIComponent(location)}`);
    return getJson(this.http, CARBON_AWARE_SDK_PROFILE, url, {
      signal,
      // The WebAPI answers an unknown location with a 400 ValidationProblemDetails.
      onStatus: (status) =>
        status === 400 || status === 404
          ? new SourceError(
              'not-found',
              `The Carbon Aware SDK does not know the location "${location}" (${status}): ${CARBON_AWARE_SDK_PROFILE.zoneFix}.`,
              { status },
            )
          : undefined,
    });
  }
}
