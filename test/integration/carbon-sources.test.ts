// The live grid-intensity sources and the resilient service against real node:http servers on 127.0.0.1 that
// replay the providers' response shapes (GB Carbon Intensity API, Electricity Maps v3, WattTime v3, Carbon Aware
// SDK WebAPI), and the failures users meet: refused token, 429 with Retry-After, 500, no answer, a cut-off body,
// an HTML page, an unexpected shape, nothing listening. Each yields the embedded fallback with one clear reason and
// nothing thrown. The clock is injected, so caching and back-off are tested without waiting.
import * as assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { COUNTRY_AVERAGES, WORLD_AVERAGE } from '../../src/core/carbon/data/gridAverages';
import type { HttpContext } from '../../src/core/carbon/sources/http';
import { createIntensityService, type IntensityServiceOptions } from '../../src/core/carbon/sources/service';
import { LBS_PER_MWH_TO_G_PER_KWH, WattTimeSource } from '../../src/core/carbon/sources/wattTime';
import type { IntensityForecast, IntensityReading } from '../../src/core/carbon/types';

// ---------------------------------------------------------------------------------------------------------------
// A scriptable server

interface Seen {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: IncomingHttpHeaders;
}
type Route = (seen: Seen, res: ServerResponse) => void | Promise<void>;

class FakeServer {
  readonly seen: Seen[] = [];
  readonly routes = new Map<string, Route>();
  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(): Promise<FakeServer> {
    const server = createServer();
    const port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
    const fake = new FakeServer(server, `http://127.0.0.1:${port}`);
    server.on('request', (req, res) => {
      const u = new URL(req.url ?? '/', fake.url);
      const seen: Seen = { method: req.method ?? 'GET', path: u.pathname, query: u.searchParams, headers: req.headers };
      fake.seen.push(seen);
      const route = fake.routes.get(u.pathname);
      if (!route) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('404 page not found');
        return;
      }
      void Promise.resolve(route(seen, res)).catch(() => res.destroy());
    });
    return fake;
  }

  on(path: string, route: Route): this {
    this.routes.set(path, route);
    return this;
  }

  count(path: string): number {
    return this.seen.filter((s) => s.path === path).length;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

function json(body: unknown, status = 200, headers: Record<string, string> = {}): Route {
  return (_seen, res) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
  };
}

function delayed(ms: number, route: Route): Route {
  return async (seen, res) => {
    await sleep(ms);
    if (!res.destroyed) await route(seen, res);
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Fixtures, in the providers' shapes

const T0 = Date.parse('2026-03-01T10:17:00Z');
const MIN = 60_000;
const halfHours = (n: number, value: (i: number) => number | null) =>
  Array.from({ length: n }, (_, i) => {
    const from = new Date(Date.parse('2026-03-01T10:00:00Z') + i * 30 * MIN).toISOString().slice(0, 16) + 'Z';
    const to = new Date(Date.parse('2026-03-01T10:30:00Z') + i * 30 * MIN).toISOString().slice(0, 16) + 'Z';
    return { from, to, intensity: { forecast: value(i), actual: null, index: 'moderate' } };
  });
const mix = [
  { fuel: 'biomass', perc: 6.1 },
  { fuel: 'gas', perc: 31.4 },
  { fuel: 'nuclear', perc: 14.2 },
  { fuel: 'wind', perc: 27.9 },
];

const GB_NATIONAL = { data: [{ from: '2026-03-01T10:00Z', to: '2026-03-01T10:30Z', intensity: { forecast: 182, actual: 176, index: 'moderate' } }] };
const GB_NATIONAL_NO_ACTUAL = {
  data: [{ from: '2026-03-01T10:00Z', to: '2026-03-01T10:30Z', intensity: { forecast: 182, actual: null, index: 'moderate' } }],
};
const GB_POSTCODE = {
  data: [
    {
      regionid: 12,
      dnoregion: 'SSE South',
      shortname: 'South England',
      postcode: 'RG41',
      data: [{ from: '2026-03-01T10:00Z', to: '2026-03-01T10:30Z', intensity: { forecast: 143, index: 'moderate' }, generationmix: mix }],
    },
  ],
};
const GB_FW48H = { data: halfHours(96, (i) => 150 + (i % 10)) };
const GB_REGIONAL_FW48H = {
  data: {
    regionid: 12,
    dnoregion: 'SSE South',
    shortname: 'South England',
    postcode: 'RG41',
    // The far end of a regional forecast can carry nulls.
    data: halfHours(96, (i) => (i >= 94 ? null : 120 + i)).map((p) => ({
      from: p.from,
      to: p.to,
      intensity: { forecast: p.intensity.forecast, index: 'low' },
      generationmix: mix,
    })),
  },
};

const EM_LATEST = {
  zone: 'DE',
  carbonIntensity: 302,
  datetime: '2026-03-01T10:00:00.000Z',
  updatedAt: '2026-03-01T09:52:11.000Z',
  createdAt: '2026-02-26T10:00:00.000Z',
  emissionFactorType: 'lifecycle',
  isEstimated: true,
  estimationMethod: 'TIME_SLICER_AVERAGE',
};
const EM_FORECAST = {
  zone: 'DE',
  forecast: Array.from({ length: 24 }, (_, i) => ({
    carbonIntensity: 300 + i,
    datetime: new Date(Date.parse('2026-03-01T10:00:00Z') + i * 60 * MIN).toISOString(),
  })),
  updatedAt: '2026-03-01T09:50:00.000Z',
};

const wtMeta = (units: string) => ({
  data_point_period_seconds: 300,
  region: 'CAISO_NORTH',
  signal_type: 'co2_moer',
  units,
  warnings: [],
  model: { date: '2024-10-01', type: 'binned_regression' },
  generated_at_period_seconds: 300,
  generated_at: '2026-03-01T10:15:00+00:00',
});
const fiveMinutes = (n: number, value: (i: number) => number) =>
  Array.from({ length: n }, (_, i) => ({
    point_time: new Date(Date.parse('2026-03-01T10:15:00Z') + i * 5 * MIN).toISOString().replace('.000Z', '+00:00'),
    value: value(i),
  }));
const WT_NOW = { data: fiveMinutes(1, () => 1000), meta: wtMeta('lbs_co2_per_mwh') };
const WT_FORECAST = { data: fiveMinutes(288, (i) => 800 + i), meta: wtMeta('lbs_co2_per_mwh') };
const WT_INDEX = { data: [{ point_time: '2026-03-01T10:15:00+00:00', value: 96.0 }], meta: wtMeta('percentile') };

const CASDK_BYLOCATION = [
  { location: 'eastus', time: '2026-03-01T09:55:00+00:00', rating: 402.5, duration: '00:05:00' },
  { location: 'eastus', time: '2026-03-01T10:05:00+00:00', rating: 398.1, duration: '00:05:00' },
  { location: 'eastus', time: '2026-03-01T09:50:00+00:00', rating: 410.2, duration: '00:05:00' },
];
const CASDK_FORECAST = [
  {
    requestedAt: '2026-03-01T10:17:00+00:00',
    generatedAt: '2026-03-01T10:15:00+00:00',
    location: 'eastus',
    dataStartAt: '2026-03-01T10:20:00+00:00',
    dataEndAt: '2026-03-02T10:15:00+00:00',
    windowSize: 5,
    optimalDataPoints: [{ location: 'PJM_ROANOKE', timestamp: '2026-03-01T13:40:00+00:00', duration: 5, value: 371.2 }],
    forecastData: Array.from({ length: 12 }, (_, i) => ({
      location: 'PJM_ROANOKE',
      timestamp: new Date(Date.parse('2026-03-01T10:20:00Z') + i * 5 * MIN).toISOString().replace('.000Z', '+00:00'),
      duration: 5,
      value: 400 - i,
    })),
  },
];

// ---------------------------------------------------------------------------------------------------------------

describe('carbon sources against real HTTP servers', function () {
  this.timeout(60_000);
  let server: FakeServer;
  let clock: number;
  const now = (): number => clock;

  beforeEach(async () => {
    server = await FakeServer.start();
    clock = T0;
  });
  afterEach(async () => {
    await server.close();
  });

  const service = (over: Partial<IntensityServiceOptions> & Pick<IntensityServiceOptions, 'source' | 'zone'>) =>
    createIntensityService({
      now,
      timeoutMs: 30_000, // only a hang: the tests of the timeout itself pass their own
      baseUrls: { 'uk-carbon-intensity': server.url, 'electricity-maps': `${server.url}/v3`, watttime: server.url, 'carbon-aware-sdk': server.url },
      credentials: { electricityMapsToken: async () => 'em-token', wattTime: async () => ({ username: 'ada', password: 's3cret' }) },
      ...over,
    });

  function assertFallback(r: IntensityReading, country: string, reason: RegExp): void {
    assert.equal(r.source, 'embedded');
    assert.equal(r.gPerKWh, COUNTRY_AVERAGES[country]!.gPerKWh);
    assert.equal(r.isEstimated, true);
    assert.ok(r.fallbackReason, 'has a fallbackReason');
    assert.match(r.fallbackReason, reason);
    assert.doesNotMatch(r.fallbackReason, /\n/);
  }

  function assertFlatFallback(f: IntensityForecast, country: string, reason: RegExp): void {
    assert.equal(f.source, 'embedded');
    assert.equal(f.points.length, 24);
    assert.ok(f.points.every((p) => p.gPerKWh === COUNTRY_AVERAGES[country]!.gPerKWh));
    assert.match(f.fallbackReason ?? '', reason);
  }

  describe('GB Carbon Intensity API', () => {
    it('reads the national actual, else the forecast', async () => {
      server.on('/intensity', json(GB_NATIONAL));
      const r = await service({ source: 'uk-carbon-intensity', zone: 'GB' }).current();
      assert.deepEqual(r, {
        zone: 'GB',
        gPerKWh: 176,
        at: '2026-03-01T10:00:00.000Z',
        source: 'uk-carbon-intensity',
        isEstimated: false,
        signal: 'average',
        detail: 'GB national actual',
      });
      server.on('/intensity', json(GB_NATIONAL_NO_ACTUAL));
      const f = await service({ source: 'uk-carbon-intensity', zone: 'GB' }).current();
      assert.equal(f.gPerKWh, 182);
      assert.equal(f.isEstimated, true);
      assert.equal(f.detail, 'GB national forecast');
    });

    it('reads a region by postcode outward code, sending only the outward code', async () => {
      server.on('/regional/postcode/RG41', json(GB_POSTCODE));
      const r = await service({ source: 'uk-carbon-intensity', zone: 'GB-RG41 1AA' }).current();
      assert.equal(r.gPerKWh, 143);
      assert.equal(r.detail, 'GB regional forecast, South England');
      assert.equal(server.seen[0]!.path, '/regional/postcode/RG41');
    });

    it('reads the national 48 h forecast in 30-minute points from now', async () => {
      server.on('/intensity/2026-03-01T10:17Z/fw48h', json(GB_FW48H));
      const f = await service({ source: 'uk-carbon-intensity', zone: 'GB' }).forecast();
      assert.equal(f.pointMinutes, 30);
      assert.equal(f.points.length, 96);
      assert.deepEqual(f.points[0], { at: '2026-03-01T10:00:00.000Z', gPerKWh: 150 });
      assert.equal(f.fallbackReason, undefined);
    });

    it('reads the regional 48 h forecast and skips null periods', async () => {
      server.on('/regional/intensity/2026-03-01T10:17Z/fw48h/postcode/RG41', json(GB_REGIONAL_FW48H));
      const f = await service({ source: 'uk-carbon-intensity', zone: 'gb-rg41' }).forecast();
      assert.equal(f.points.length, 94);
      assert.equal(f.points[1]!.gPerKWh, 121);
    });

    it('refuses a zone outside Great Britain without asking', async () => {
      const r = await service({ source: 'uk-carbon-intensity', zone: 'FR' }).current();
      assertFallback(r, 'FR', /^The GB Carbon Intensity API covers Great Britain only and has no zone "FR": set the carbon zone to GB/);
      assert.equal(server.seen.length, 0);
    });
  });

  describe('Electricity Maps', () => {
    it('reads the latest value with the token and an explicit zone, never geolocating', async () => {
      server.on('/v3/carbon-intensity/latest', json(EM_LATEST));
      const r = await service({ source: 'electricity-maps', zone: 'de' }).current();
      assert.deepEqual(r, {
        zone: 'de',
        gPerKWh: 302,
        at: '2026-03-01T10:00:00.000Z',
        source: 'electricity-maps',
        isEstimated: true,
        signal: 'average',
        detail: 'latest, lifecycle, estimated (TIME_SLICER_AVERAGE)',
      });
      const seen = server.seen[0]!;
      assert.equal(seen.headers['auth-token'], 'em-token');
      assert.equal(seen.query.get('zone'), 'DE');
      assert.equal(seen.query.get('shouldUseFallbackCallerLookup'), 'false');
    });

    it('sends a cloud region as its country', async () => {
      server.on('/v3/carbon-intensity/latest', json({ ...EM_LATEST, zone: 'SE', carbonIntensity: 21 }));
      const r = await service({ source: 'electricity-maps', zone: 'aws:eu-north-1' }).current();
      assert.equal(r.gPerKWh, 21);
      assert.equal(server.seen[0]!.query.get('zone'), 'SE');
    });

    it('reads the forecast in hourly points', async () => {
      server.on('/v3/carbon-intensity/forecast', json(EM_FORECAST));
      const f = await service({ source: 'electricity-maps', zone: 'DE' }).forecast();
      assert.equal(f.pointMinutes, 60);
      assert.equal(f.points.length, 24);
      assert.equal(f.generatedAt, '2026-03-01T09:50:00.000Z');
    });

    it('says the forecast is not on this plan (403) and backs off for an hour', async () => {
      server.on('/v3/carbon-intensity/forecast', json({ message: 'Forbidden' }, 403));
      const s = service({ source: 'electricity-maps', zone: 'DE' });
      assertFlatFallback(
        await s.forecast(),
        'DE',
        /^Electricity Maps forecasts are not available on this plan \(403\): they need a paid Electricity Maps plan/,
      );
      clock += 30 * MIN;
      await s.forecast();
      assert.equal(server.count('/v3/carbon-intensity/forecast'), 1);
      clock += 31 * MIN;
      await s.forecast();
      assert.equal(server.count('/v3/carbon-intensity/forecast'), 2);
    });

    it('names the fix when the token is refused (401)', async () => {
      server.on('/v3/carbon-intensity/latest', json({ status: 'error', message: 'Invalid authentication' }, 401));
      const r = await service({ source: 'electricity-maps', zone: 'DE' }).current();
      assertFallback(r, 'DE', /^Electricity Maps refused the token \(401\): check the token in Verdant: Set Electricity Maps Token\.$/);
    });

    it('asks for a token when none is set, without any request', async () => {
      const r = await service({ source: 'electricity-maps', zone: 'DE', credentials: {} }).current();
      assertFallback(r, 'DE', /^No Electricity Maps token is set: add one with Verdant: Set Electricity Maps Token/);
      assert.equal(server.seen.length, 0);
    });
  });

  describe('WattTime', () => {
    const routes = (tokens: string[] = ['tok-1']) => {
      let logins = 0;
      server.on('/login', (seen, res) => {
        assert.equal(seen.headers.authorization, `Basic ${Buffer.from('ada:s3cret').toString('base64')}`);
        return json({ token: tokens[Math.min(logins++, tokens.length - 1)] })(seen, res);
      });
      return () => logins;
    };

    it('logs in with Basic auth, reads the current MOER in g/kWh, and reuses the token for the forecast', async () => {
      const logins = routes();
      server.on('/v3/forecast', (seen, res) => {
        assert.equal(seen.headers.authorization, 'Bearer tok-1');
        assert.equal(seen.query.get('region'), 'CAISO_NORTH');
        assert.equal(seen.query.get('signal_type'), 'co2_moer');
        return json(seen.query.get('horizon_hours') === '0' ? WT_NOW : WT_FORECAST)(seen, res);
      });
      const s = service({ source: 'watttime', zone: 'CAISO_NORTH' });
      const r = await s.current();
      assert.equal(r.source, 'watttime');
      assert.equal(r.signal, 'marginal');
      assert.ok(Math.abs(r.gPerKWh - 1000 * LBS_PER_MWH_TO_G_PER_KWH) < 1e-9);
      assert.equal(r.at, '2026-03-01T10:15:00.000Z');
      const f = await s.forecast();
      assert.equal(f.pointMinutes, 5);
      assert.equal(f.points.length, 288);
      assert.ok(Math.abs(f.points[1]!.gPerKWh - 801 * 0.45359237) < 1e-9);
      assert.equal(logins(), 1);
    });

    it('logs in again once when the token is refused (401)', async () => {
      const logins = routes(['expired', 'fresh']);
      server.on('/v3/forecast', (seen, res) => {
        if (seen.headers.authorization === 'Bearer expired') return json({ error: 'unauthorized' }, 401)(seen, res);
        return json(WT_NOW)(seen, res);
      });
      const r = await service({ source: 'watttime', zone: 'CAISO_NORTH' }).current();
      assert.equal(r.source, 'watttime');
      assert.equal(logins(), 2);
      assert.equal(server.count('/v3/forecast'), 2);
    });

    it('reads the signal index as a percentile, not an intensity', async () => {
      routes();
      server.on('/v3/signal-index', json(WT_INDEX));
      const http: HttpContext = { fetch: (url, init) => fetch(url, init), now, timeoutMs: 30_000 };
      const index = await new WattTimeSource(http, async () => ({ username: 'ada', password: 's3cret' }), server.url).signalIndex('CAISO_NORTH');
      assert.deepEqual(index, { zone: 'CAISO_NORTH', percentile: 96, at: '2026-03-01T10:15:00.000Z' });
    });

    it('names the fix for a refused login and for a region outside the plan', async () => {
      server.on('/login', json({ error: 'unauthorized' }, 401));
      const r = await service({ source: 'watttime', zone: 'CAISO_NORTH', fallbackZone: 'US' }).current();
      assertFallback(r, 'US', /^WattTime refused the username or password \(401\): check them in Verdant: Set WattTime Credentials\.$/);
      assert.equal(server.count('/login'), 1);
      routes();
      server.on('/v3/forecast', json({ error: 'forbidden' }, 403));
      const f = await service({ source: 'watttime', zone: 'PJM_DC', fallbackZone: 'US' }).forecast();
      assertFlatFallback(f, 'US', /^WattTime does not give MOER data for PJM_DC on this plan \(403\): use the free preview region CAISO_NORTH/);
    });
  });

  describe('Carbon Aware SDK WebAPI', () => {
    it('takes the newest observed rating by location', async () => {
      server.on('/emissions/bylocation', json(CASDK_BYLOCATION));
      const r = await service({ source: 'carbon-aware-sdk', zone: 'eastus' }).current();
      assert.equal(server.seen[0]!.query.get('location'), 'eastus');
      assert.deepEqual(r, {
        zone: 'eastus',
        gPerKWh: 398.1,
        at: '2026-03-01T10:05:00.000Z',
        source: 'carbon-aware-sdk',
        isEstimated: false,
        signal: 'marginal',
        detail: 'latest observed rating for eastus',
      });
    });

    it('reads forecastData with its point duration', async () => {
      server.on('/emissions/forecasts/current', json(CASDK_FORECAST));
      const f = await service({ source: 'carbon-aware-sdk', zone: 'eastus', carbonAwareSdkSignal: 'average' }).forecast();
      assert.equal(f.pointMinutes, 5);
      assert.equal(f.points.length, 12);
      assert.equal(f.signal, 'average');
      assert.deepEqual(f.points[0], { at: '2026-03-01T10:20:00.000Z', gPerKWh: 400 });
      assert.equal(f.generatedAt, '2026-03-01T10:15:00.000Z');
    });

    it('falls back to the country of an Azure location, and asks for an address when none is set', async () => {
      server.on('/emissions/bylocation', json({ title: 'One or more validation errors occurred.', status: 400 }, 400));
      const r = await service({ source: 'carbon-aware-sdk', zone: 'swedencentral' }).current();
      assertFallback(r, 'SE', /^The Carbon Aware SDK does not know the location "swedencentral" \(400\)/);
      const none = await service({ source: 'carbon-aware-sdk', zone: 'eastus', baseUrls: {} }).current();
      assertFallback(none, 'US', /^No Carbon Aware SDK address is set: set verdant\.carbon\.carbonAwareSdkUrl/);
    });
  });

  describe('failures fall back to the embedded average with one clear reason', () => {
    const em = (over: Partial<IntensityServiceOptions> = {}) => service({ source: 'electricity-maps', zone: 'DE', ...over });

    it('429: honours Retry-After before asking again', async () => {
      server.on('/v3/carbon-intensity/latest', json({ message: 'Too many requests' }, 429, { 'retry-after': '120' }));
      const s = em({ policy: { minIntervalMs: MIN } });
      assertFallback(await s.current(), 'DE', /^Electricity Maps is limiting requests \(429\): Verdant waits at least 2 min before asking again\.$/);
      clock += 100_000;
      assertFallback(await s.current(), 'DE', /\(429\)/);
      assert.equal(server.seen.length, 1);
      server.on('/v3/carbon-intensity/latest', json(EM_LATEST));
      clock += 21_000;
      assert.equal((await s.current()).gPerKWh, 302);
      assert.equal(server.seen.length, 2);
    });

    it('500: a server error', async () => {
      server.on('/v3/carbon-intensity/latest', (_s, res) => {
        res.writeHead(500, { 'content-type': 'text/plain' }).end('Internal Server Error');
      });
      assertFallback(await em().current(), 'DE', /^Electricity Maps had a server error \(500\): nothing to fix on your side/);
    });

    it('a server that never answers: the timeout', async () => {
      // Never answered: only the 300 ms timeout can end the request.
      server.on('/v3/carbon-intensity/latest', () => undefined);
      assertFallback(await em({ timeoutMs: 300 }).current(), 'DE', /^Electricity Maps did not answer within 0\.3 s: check your network/);
    });

    it('a body cut off before its end', async () => {
      server.on('/v3/carbon-intensity/latest', (_s, res) => {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': '400' });
        res.write('{"zone":"DE","carbonIntensity":30');
        setTimeout(() => res.socket?.destroy(), 20);
      });
      assertFallback(await em().current(), 'DE', /^Electricity Maps's response was cut off before its end/);
    });

    it('an HTML page instead of JSON (a captive portal or a proxy)', async () => {
      server.on('/v3/carbon-intensity/latest', (_s, res) => {
        res.writeHead(200, { 'content-type': 'text/html' }).end('<!DOCTYPE html><html><body>Sign in to the Wi-Fi</body></html>');
      });
      assertFallback(await em().current(), 'DE', /^Electricity Maps sent an HTML page, not JSON: update Verdant if this persists\.$/);
    });

    it('JSON of an unexpected shape', async () => {
      server.on('/v3/carbon-intensity/latest', json({ zone: 'DE', carbonIntensity: 'high' }));
      assertFallback(await em().current(), 'DE', /^Electricity Maps sent data in an unexpected shape \(no carbonIntensity and datetime\)/);
      server.on('/intensity', json({ data: [] }));
      assertFallback(await service({ source: 'uk-carbon-intensity', zone: 'GB' }).current(), 'GB', /unexpected shape \(no data\[0\]\)/);
    });

    it('nothing listening: could not be reached', async () => {
      const closed = await FakeServer.start();
      const url = closed.url;
      await closed.close();
      const r = await service({ source: 'uk-carbon-intensity', zone: 'GB', baseUrls: { 'uk-carbon-intensity': url } }).current();
      assertFallback(r, 'GB', /^GB Carbon Intensity API could not be reached \(ECONNREFUSED\): check your internet connection\.$/);
    });

    it('an unknown WattTime region falls back to World unless a fallback zone is given', async () => {
      server.on('/login', json({ error: 'unauthorized' }, 401));
      const r = await service({ source: 'watttime', zone: 'CAISO_NORTH' }).current();
      assert.equal(r.gPerKWh, WORLD_AVERAGE.gPerKWh);
      assert.equal(r.zone, 'CAISO_NORTH');
      assert.match(r.detail ?? '', /World average/);
    });
  });

  describe('caching, minimum interval and shared requests', () => {
    it('answers from the cache within the TTL, then asks again', async () => {
      server.on('/intensity', json(GB_NATIONAL));
      server.on('/intensity/2026-03-01T10:17Z/fw48h', json(GB_FW48H));
      const s = service({ source: 'uk-carbon-intensity', zone: 'GB' });
      await s.current();
      await s.forecast();
      clock += 9 * MIN;
      assert.equal((await s.current()).gPerKWh, 176);
      assert.equal((await s.forecast()).points.length, 96);
      assert.equal(server.seen.length, 2, 'the second calls made no request');
      clock += 2 * MIN;
      await s.current();
      assert.equal(server.count('/intensity'), 2, 'current expired after 10 min');
      clock += 20 * MIN;
      server.on('/intensity/2026-03-01T10:48Z/fw48h', json(GB_FW48H));
      await s.forecast();
      assert.equal(server.seen.length, 4, 'the forecast expired after 30 min');
    });

    it('shares one request among concurrent callers', async () => {
      server.on('/intensity', delayed(150, json(GB_NATIONAL)));
      const s = service({ source: 'uk-carbon-intensity', zone: 'GB' });
      const all = await Promise.all(Array.from({ length: 5 }, () => s.current()));
      assert.equal(server.seen.length, 1);
      assert.ok(all.every((r) => r.gPerKWh === 176 && r.source === 'uk-carbon-intensity'));
    });

    it('asks no more than once per minimum interval after a failure', async () => {
      server.on('/intensity', json({ message: 'boom' }, 503));
      const s = service({ source: 'uk-carbon-intensity', zone: 'GB' });
      const first = await s.current();
      assertFallback(first, 'GB', /server error \(503\)/);
      server.on('/intensity', json(GB_NATIONAL));
      clock += 2 * MIN;
      assert.equal((await s.current()).fallbackReason, first.fallbackReason);
      assert.equal(server.seen.length, 1);
      clock += 1 * MIN + 1;
      assert.equal((await s.current()).gPerKWh, 176);
      assert.equal(server.seen.length, 2);
    });

    it('reset() forgets the cache', async () => {
      server.on('/intensity', json(GB_NATIONAL));
      const s = service({ source: 'uk-carbon-intensity', zone: 'GB' });
      await s.current();
      s.reset();
      await s.current();
      assert.equal(server.seen.length, 2);
    });

    it('a caller that gives up gets the fallback at once; the shared request still serves the others', async () => {
      // The server holds its answer until the impatient caller has its fallback: "at once" is the order of events.
      let answer!: () => void;
      const held = new Promise<void>((resolve) => {
        answer = resolve;
      });
      server.on('/intensity', async (seen, res) => {
        await held;
        await json(GB_NATIONAL)(seen, res);
      });
      const s = service({ source: 'uk-carbon-intensity', zone: 'GB' });
      const controller = new AbortController();
      let answered = false;
      const patient = s.current().finally(() => {
        answered = true;
      });
      const impatient = s.current(controller.signal);
      setTimeout(() => controller.abort(), 20);
      const gaveUp = await impatient;
      assert.equal(answered, false, 'the patient caller is still waiting for the server');
      assertFallback(gaveUp, 'GB', /was cancelled/);
      answer();
      assert.equal((await patient).gPerKWh, 176);
      assert.equal(server.seen.length, 1);
    });
  });
});
