// WattTime API v3: marginal operating emissions rate (MOER) of the generator that follows demand.
// Login: GET /login with HTTP Basic -> {token}; the token is kept per instance and renewed once on a 401.
//
// /v3/signal-index is a percentile (0-100, "how dirty now compared with the recent past"), not g/kWh, so it is never
// passed off as an intensity: `current()` reads the MOER itself, the first point of /v3/forecast (the current 5-min
// period; lbs/MWh x 0.45359237 = g/kWh), and the percentile is available separately from `signalIndex()`.
// Forecast (MOER) data needs a paid plan except in the free preview region CAISO_NORTH; a 403 says so.
import type { ForecastPoint, IntensityForecast, IntensityReading, IntensitySource } from '../types';
import { SourceError, shapeError, type SourceProfile } from './errors';
import { getJson, joinUrl, type HttpContext } from './http';
import { asArray, asIntensity, asIsoTime, asObject, asString, type JsonObject } from './json';

export const WATTTIME_URL = 'https://api.watttime.org';
export const SET_WATTTIME_CREDENTIALS_COMMAND = 'Verdant: Set WattTime Credentials';
/** lbs/MWh -> g/kWh (453.59237 g per lb, 1000 kWh per MWh). */
export const LBS_PER_MWH_TO_G_PER_KWH = 0.45359237;

export interface WattTimeLogin {
  readonly username: string;
  readonly password: string;
}

export interface SignalIndex {
  readonly zone: string;
  /** 0 (cleanest) to 100 (dirtiest) relative to the region's recent MOER. */
  readonly percentile: number;
  readonly at: string;
}

export const WATTTIME_PROFILE: SourceProfile = {
  name: 'WattTime',
  credential: 'username or password',
  credentialFix: `check them in ${SET_WATTTIME_CREDENTIALS_COMMAND}`,
  zoneFix: 'set the carbon zone to a WattTime region such as CAISO_NORTH',
  responseFix: 'update Verdant if this persists',
  reachFix: 'check your internet connection',
};

/** The v3 token lifetime is not documented (v2: 30 min); renew a little before that, and on any 401. */
const TOKEN_LIFETIME_MS = 25 * 60_000;
const PLAN_BACKOFF_MS = 60 * 60_000;

function toGPerKWh(value: number, units: string | undefined): number {
  if (units === undefined || units === 'lbs_co2_per_mwh') return value * LBS_PER_MWH_TO_G_PER_KWH;
  if (units === 'kg_co2_per_mwh' || units === 'g_co2_per_kwh') return value; // same magnitude
  throw shapeError(WATTTIME_PROFILE, `units "${units}" are not an emissions rate`);
}

export class WattTimeSource implements IntensitySource {
  readonly id = 'watttime' as const;
  private token: { readonly value: string; readonly at: number } | undefined;
  private login: Promise<string> | undefined;

  constructor(
    private readonly http: HttpContext,
    private readonly credentials: () => Promise<WattTimeLogin | undefined>,
    private readonly baseUrl: string = WATTTIME_URL,
  ) {}

  async current(zone: string, signal?: AbortSignal): Promise<IntensityReading> {
    const { first, generatedAt } = await this.moer(zone, 0, signal);
    return {
      zone: zone.trim(),
      gPerKWh: first.gPerKWh,
      at: first.at,
      source: this.id,
      isEstimated: true,
      signal: 'marginal',
      detail: `MOER for the current 5-min period (first forecast point${generatedAt ? `, generated ${generatedAt}` : ''})`,
    };
  }

  async forecast(zone: string, signal?: AbortSignal): Promise<IntensityForecast> {
    const { points, generatedAt, pointMinutes } = await this.moer(zone, 24, signal);
    return {
      zone: zone.trim(),
      source: this.id,
      signal: 'marginal',
      pointMinutes,
      points,
      ...(generatedAt ? { generatedAt } : {}),
    };
  }

  /** The percentile of the current MOER; an index, not an intensity (see the file comment). */
  async signalIndex(zone: string, signal?: AbortSignal): Promise<SignalIndex> {
    const body = asObject(
      await this.authorizedGet(`/v3/signal-index?region=${encodeURIComponent(zone.trim())}&signal_type=co2_moer`, zone, 'the signal index', signal),
    );
    const first = asObject(asArray(body?.data)?.[0]);
    const percentile = asIntensity(first?.value);
    const at = asIsoTime(first?.point_time);
    if (percentile === undefined || percentile > 100 || !at) throw shapeError(WATTTIME_PROFILE, 'no percentile in data[0]');
    return { zone: zone.trim(), percentile, at };
  }

  private async moer(
    zone: string,
    horizonHours: number,
    signal: AbortSignal | undefined,
  ): Promise<{ points: ForecastPoint[]; first: ForecastPoint; generatedAt?: string; pointMinutes: number }> {
    const query = `?region=${encodeURIComponent(zone.trim())}&signal_type=co2_moer&horizon_hours=${horizonHours}`;
    const body = asObject(await this.authorizedGet(`/v3/forecast${query}`, zone, 'MOER data', signal));
    const meta: JsonObject = asObject(body?.meta) ?? {};
    const rows = asArray(body?.data);
    if (!rows) throw shapeError(WATTTIME_PROFILE, 'no data array');
    const units = asString(meta.units);
    const points: ForecastPoint[] = [];
    for (const r of rows) {
      const o = asObject(r);
      const value = asIntensity(o?.value);
      const at = asIsoTime(o?.point_time);
      if (value !== undefined && at) points.push({ at, gPerKWh: toGPerKWh(value, units) });
    }
    const [first] = points;
    if (first === undefined) throw shapeError(WATTTIME_PROFILE, 'no MOER values');
    const period = asIntensity(meta.data_point_period_seconds);
    const generatedAt = asIsoTime(meta.generated_at);
    return { points, first, pointMinutes: period ? period / 60 : 5, ...(generatedAt ? { generatedAt } : {}) };
  }

  /** GET with the bearer token; on a 401 logs in again once (the token may have expired) and retries. */
  private async authorizedGet(pathAndQuery: string, zone: string, what: string, signal: AbortSignal | undefined): Promise<unknown> {
    const onStatus = (status: number): SourceError | undefined => {
      if (status === 403) {
        return new SourceError(
          'not-available',
          `WattTime does not give ${what} for ${zone.trim()} on this plan (403): use the free preview region CAISO_NORTH, a paid WattTime plan, or another carbon source.`,
          { status, backoffMs: PLAN_BACKOFF_MS },
        );
      }
      if (status === 400)
        return new SourceError('not-found', `WattTime does not know the region "${zone.trim()}" (400): ${WATTTIME_PROFILE.zoneFix}.`, { status });
      return undefined;
    };
    for (let attempt = 0; ; attempt++) {
      const token = await this.bearer(attempt > 0, signal);
      try {
        return await getJson(this.http, WATTTIME_PROFILE, joinUrl(this.baseUrl, pathAndQuery), {
          signal,
          headers: { authorization: `Bearer ${token}` },
          onStatus,
        });
      } catch (err) {
        if (attempt > 0 || !(err instanceof SourceError) || err.details.status !== 401) throw err;
        this.token = undefined;
      }
    }
  }

  private async bearer(renew: boolean, signal: AbortSignal | undefined): Promise<string> {
    const t = this.token;
    if (!renew && t && this.http.now() - t.at < TOKEN_LIFETIME_MS) return t.value;
    // Concurrent callers share one login.
    this.login ??= this.logIn(signal).finally(() => {
      this.login = undefined;
    });
    return this.login;
  }

  private async logIn(signal: AbortSignal | undefined): Promise<string> {
    const login = await this.credentials();
    if (!login || !login.username || !login.password) {
      throw new SourceError('no-credentials', `No WattTime account is set: add the username and password with ${SET_WATTTIME_CREDENTIALS_COMMAND}.`);
    }
    const basic = Buffer.from(`${login.username}:${login.password}`, 'utf8').toString('base64');
    const body = asObject(
      await getJson(this.http, WATTTIME_PROFILE, joinUrl(this.baseUrl, '/login'), { signal, headers: { authorization: `Basic ${basic}` } }),
    );
    const token = asString(body?.token);
    if (!token) throw shapeError(WATTTIME_PROFILE, 'no token in the login answer');
    this.token = { value: token, at: this.http.now() };
    return token;
  }
}
