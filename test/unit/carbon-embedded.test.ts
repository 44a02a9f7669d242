// The embedded default: the generated Ember table (ISO-3 -> ISO-2 conversion, years, World), zone lookups with
// their country and World fallbacks, and cloud regions.
import * as assert from 'node:assert/strict';
import { AWS_REGION_COUNTRIES, AZURE_REGION_COUNTRIES, GCP_REGIONS } from '../../src/core/carbon/data/cloudRegions';
import { COUNTRY_AVERAGES, GRID_AVERAGES_SOURCE, WORLD_AVERAGE } from '../../src/core/carbon/data/gridAverages';
import { EmbeddedSource, flatForecast, lookupGridAverage } from '../../src/core/carbon/sources/embedded';
import { createIntensityService } from '../../src/core/carbon/sources/service';

const NOW = Date.parse('2026-03-01T10:17:00Z');

describe('carbon: embedded grid averages table', () => {
  it('is keyed by ISO 3166 alpha-2 with a distinct alpha-3 per entry, years and plausible values', () => {
    const entries = Object.entries(COUNTRY_AVERAGES);
    assert.equal(entries.length, 209);
    const names = new Intl.DisplayNames(['en'], { type: 'region', fallback: 'none' });
    const iso3 = new Set<string>();
    for (const [iso2, a] of entries) {
      assert.match(iso2, /^[A-Z]{2}$/);
      assert.match(a.iso3, /^[A-Z]{3}$/);
      assert.ok(names.of(iso2), `${iso2} is a region ICU knows`);
      assert.ok(!iso3.has(a.iso3), `${a.iso3} appears once`);
      iso3.add(a.iso3);
      assert.ok(Number.isInteger(a.year) && a.year >= 2021 && a.year <= 2025, `${iso2} year ${a.year}`);
      assert.ok(Number.isFinite(a.gPerKWh) && a.gPerKWh >= 0 && a.gPerKWh <= 1500, `${iso2} ${a.gPerKWh}`);
    }
  });

  it('converts ISO-3 to ISO-2 correctly where the letters differ or are easy to mix up', () => {
    const pairs: Record<string, string> = {
      SWE: 'SE',
      GBR: 'GB',
      DEU: 'DE',
      AUT: 'AT',
      AUS: 'AU',
      CHE: 'CH',
      CHN: 'CN',
      PRK: 'KP',
      KOR: 'KR',
      COD: 'CD',
      COG: 'CG',
      NER: 'NE',
      NGA: 'NG',
      SWZ: 'SZ',
      SRB: 'RS',
      XKX: 'XK',
      IRL: 'IE',
      ISL: 'IS',
      ARE: 'AE',
      ZAF: 'ZA',
    };
    for (const [three, two] of Object.entries(pairs)) assert.equal(COUNTRY_AVERAGES[two]?.iso3, three, `${three} -> ${two}`);
  });

  it('carries the published Ember figures and names its source', () => {
    assert.deepEqual(COUNTRY_AVERAGES.SE, { gPerKWh: 35.89, year: 2024, iso3: 'SWE' });
    assert.equal(COUNTRY_AVERAGES.FR!.gPerKWh, 44.18);
    assert.equal(COUNTRY_AVERAGES.DE!.gPerKWh, 342.06);
    assert.equal(COUNTRY_AVERAGES.GB!.gPerKWh, 215.79);
    assert.equal(COUNTRY_AVERAGES.CH!.gPerKWh, 36.72);
    assert.ok(Math.abs(WORLD_AVERAGE.gPerKWh - 473) < 2, `World ${WORLD_AVERAGE.gPerKWh}`);
    assert.equal(GRID_AVERAGES_SOURCE.package, '@tgwf/co2');
    assert.match(GRID_AVERAGES_SOURCE.sha256, /^[0-9a-f]{64}$/);
  });
});

describe('carbon: embedded zone lookup', () => {
  it('finds a country exactly, in any case and with spaces around', () => {
    const se = lookupGridAverage(' se ');
    assert.equal(se.gPerKWh, 35.89);
    assert.equal(se.matched, 'country');
    assert.equal(se.key, 'SE');
    assert.equal(se.detail, 'Ember 2024 annual average for SE');
  });

  it('accepts an ISO-3 code', () => {
    const r = lookupGridAverage('SWE');
    assert.equal(r.key, 'SE');
    assert.match(r.detail, /alpha-3 SWE/);
  });

  it('uses the country of a sub-national or postcode zone, and says so', () => {
    for (const [zone, country] of [
      ['SE-SE3', 'SE'],
      ['GB-RG41', 'GB'],
      ['US-CAL-CISO', 'US'],
      ['de-tennet', 'DE'],
    ] as const) {
      const r = lookupGridAverage(zone);
      assert.equal(r.key, country, zone);
      assert.equal(r.gPerKWh, COUNTRY_AVERAGES[country]!.gPerKWh);
      assert.match(r.detail, new RegExp(`no figure for ${zone.toUpperCase()}, so its country's`));
    }
  });

  it('falls back to World for an unknown or empty zone', () => {
    for (const zone of ['ZZ', 'CAISO_NORTH', 'Atlantis-1', '']) {
      const r = lookupGridAverage(zone);
      assert.equal(r.matched, 'world', zone);
      assert.equal(r.gPerKWh, WORLD_AVERAGE.gPerKWh);
      assert.match(r.detail, /^Ember 2024 World average \((no figure for|no zone set)/);
    }
  });

  it("maps AWS and Azure regions to their country and uses Google's own figure for Google Cloud regions", () => {
    const aws = lookupGridAverage('aws:eu-north-1');
    assert.equal(aws.key, 'SE');
    assert.equal(aws.gPerKWh, 35.89);
    assert.match(aws.detail, /aws:eu-north-1 is in SE/);
    assert.equal(lookupGridAverage('AZURE:SwedenCentral').key, 'SE');
    assert.equal(lookupGridAverage('azure:westeurope').key, 'NL');
    assert.equal(lookupGridAverage('aws:us-east-1').key, 'US');
    const gcp = lookupGridAverage('gcp:europe-north2');
    assert.equal(gcp.matched, 'cloud-region');
    assert.equal(gcp.gPerKWh, 19.39);
    assert.match(gcp.detail, /Google Cloud 2025 grid average for europe-north2/);
    const unknown = lookupGridAverage('aws:mars-north-1');
    assert.equal(unknown.matched, 'world');
    assert.match(unknown.detail, /unknown cloud region aws:mars-north-1/);
  });

  it('maps every listed cloud region to a country that the table has', () => {
    const all = {
      ...AWS_REGION_COUNTRIES,
      ...AZURE_REGION_COUNTRIES,
      ...Object.fromEntries(Object.entries(GCP_REGIONS).map(([r, f]) => [r, f.country])),
    };
    for (const [region, country] of Object.entries(all)) assert.ok(COUNTRY_AVERAGES[country], `${region} -> ${country}`);
    for (const [region, f] of Object.entries(GCP_REGIONS)) assert.ok(f.gPerKWh > 0 && f.gPerKWh < 1000, region);
  });
});

describe('carbon: EmbeddedSource and the embedded service', () => {
  it('reads an estimated average at the current time', async () => {
    const r = await new EmbeddedSource(() => NOW).current('SE-SE3');
    assert.deepEqual(r, {
      zone: 'SE-SE3',
      gPerKWh: 35.89,
      at: '2026-03-01T10:17:00.000Z',
      source: 'embedded',
      isEstimated: true,
      signal: 'average',
      detail: "Ember 2024 annual average for SE (no figure for SE-SE3, so its country's)",
    });
  });

  it('gives a flat hourly forecast from the hour that has begun', () => {
    const f = flatForecast(new EmbeddedSource(() => NOW).read('FR'), NOW, 'why');
    assert.equal(f.points.length, 24);
    assert.equal(f.pointMinutes, 60);
    assert.equal(f.points[0]!.at, '2026-03-01T10:00:00.000Z');
    assert.equal(f.points[23]!.at, '2026-03-02T09:00:00.000Z');
    assert.ok(f.points.every((p) => p.gPerKWh === 44.18));
    assert.equal(f.fallbackReason, 'why');
  });

  it('serves the embedded source through createIntensityService without any request', async () => {
    const service = createIntensityService({
      source: 'embedded',
      zone: 'GB-RG41',
      now: () => NOW,
      fetch: () => Promise.reject(new Error('no request expected')),
    });
    const r = await service.current();
    assert.equal(r.gPerKWh, 215.79);
    assert.equal(r.fallbackReason, undefined);
    const f = await service.forecast();
    assert.equal(f.source, 'embedded');
    assert.equal(f.fallbackReason, undefined);
    assert.equal(f.points.length, 24);
  });
});
