#!/usr/bin/env node
// Derives src/core/carbon/data/gridAverages.ts (Verdant's offline default grid intensity per country) from the
// Ember annual averages that the Green Web Foundation republishes in the npm package @tgwf/co2 (co2.js).
//
//   mkdir -p /tmp/co2 && cd /tmp/co2 && npm pack @tgwf/co2@0.19.0 && tar xzf tgwf-co2-0.19.0.tgz
//   node scripts/derive-grid-averages.mjs --package /tmp/co2/package \
//     --years <co2.js data/output/average-intensities.json> --years-ref thegreenwebfoundation/co2.js@<commit>
//
// The npm tarball carries the values ({ISO3: g/kWh} in dist/esm/data/average-intensities.min.js) but not the year
// of each value; co2.js's repository file data/output/average-intensities.json has the years. Values always come
// from the package; a year comes from the years file, and an entry whose value differs there (Ember revised it
// later) is flagged in the output. The script never executes the package's code: it parses the object literal.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

// Ember / co2.js key (ISO 3166-1 alpha-3, plus Kosovo's user-assigned XKX) -> ISO 3166-1 alpha-2. Kept explicit
// rather than guessed: several pairs do not share letters (AUT->AT, CHE->CH, PRK->KP, SWZ->SZ, SRB->RS).
const ISO3_TO_ISO2 = {
  ABW: 'AW',
  AFG: 'AF',
  AGO: 'AO',
  ALB: 'AL',
  ARE: 'AE',
  ARG: 'AR',
  ARM: 'AM',
  ASM: 'AS',
  ATG: 'AG',
  AUS: 'AU',
  AUT: 'AT',
  AZE: 'AZ',
  BDI: 'BI',
  BEL: 'BE',
  BEN: 'BJ',
  BFA: 'BF',
  BGD: 'BD',
  BGR: 'BG',
  BHR: 'BH',
  BHS: 'BS',
  BIH: 'BA',
  BLR: 'BY',
  BLZ: 'BZ',
  BOL: 'BO',
  BRA: 'BR',
  BRB: 'BB',
  BRN: 'BN',
  BTN: 'BT',
  BWA: 'BW',
  CAF: 'CF',
  CAN: 'CA',
  CHE: 'CH',
  CHL: 'CL',
  CHN: 'CN',
  CIV: 'CI',
  CMR: 'CM',
  COD: 'CD',
  COG: 'CG',
  COK: 'CK',
  COL: 'CO',
  COM: 'KM',
  CPV: 'CV',
  CRI: 'CR',
  CUB: 'CU',
  CYM: 'KY',
  CYP: 'CY',
  CZE: 'CZ',
  DEU: 'DE',
  DJI: 'DJ',
  DMA: 'DM',
  DNK: 'DK',
  DOM: 'DO',
  DZA: 'DZ',
  ECU: 'EC',
  EGY: 'EG',
  ERI: 'ER',
  ESP: 'ES',
  EST: 'EE',
  ETH: 'ET',
  FIN: 'FI',
  FJI: 'FJ',
  FLK: 'FK',
  FRA: 'FR',
  FRO: 'FO',
  GAB: 'GA',
  GBR: 'GB',
  GEO: 'GE',
  GHA: 'GH',
  GIN: 'GN',
  GLP: 'GP',
  GMB: 'GM',
  GNB: 'GW',
  GNQ: 'GQ',
  GRC: 'GR',
  GRD: 'GD',
  GRL: 'GL',
  GTM: 'GT',
  GUF: 'GF',
  GUM: 'GU',
  GUY: 'GY',
  HKG: 'HK',
  HND: 'HN',
  HRV: 'HR',
  HTI: 'HT',
  HUN: 'HU',
  IDN: 'ID',
  IND: 'IN',
  IRL: 'IE',
  IRN: 'IR',
  IRQ: 'IQ',
  ISL: 'IS',
  ISR: 'IL',
  ITA: 'IT',
  JAM: 'JM',
  JOR: 'JO',
  JPN: 'JP',
  KAZ: 'KZ',
  KEN: 'KE',
  KGZ: 'KG',
  KHM: 'KH',
  KIR: 'KI',
  KNA: 'KN',
  KOR: 'KR',
  KWT: 'KW',
  LAO: 'LA',
  LBN: 'LB',
  LBR: 'LR',
  LBY: 'LY',
  LCA: 'LC',
  LKA: 'LK',
  LSO: 'LS',
  LTU: 'LT',
  LUX: 'LU',
  LVA: 'LV',
  MAC: 'MO',
  MAR: 'MA',
  MDA: 'MD',
  MDG: 'MG',
  MDV: 'MV',
  MEX: 'MX',
  MKD: 'MK',
  MLI: 'ML',
  MLT: 'MT',
  MMR: 'MM',
  MNE: 'ME',
  MNG: 'MN',
  MOZ: 'MZ',
  MRT: 'MR',
  MSR: 'MS',
  MTQ: 'MQ',
  MUS: 'MU',
  MWI: 'MW',
  MYS: 'MY',
  NAM: 'NA',
  NCL: 'NC',
  NER: 'NE',
  NGA: 'NG',
  NIC: 'NI',
  NLD: 'NL',
  NOR: 'NO',
  NPL: 'NP',
  NRU: 'NR',
  NZL: 'NZ',
  OMN: 'OM',
  PAK: 'PK',
  PAN: 'PA',
  PER: 'PE',
  PHL: 'PH',
  PNG: 'PG',
  POL: 'PL',
  PRI: 'PR',
  PRK: 'KP',
  PRT: 'PT',
  PRY: 'PY',
  PSE: 'PS',
  PYF: 'PF',
  QAT: 'QA',
  REU: 'RE',
  ROU: 'RO',
  RUS: 'RU',
  RWA: 'RW',
  SAU: 'SA',
  SDN: 'SD',
  SEN: 'SN',
  SGP: 'SG',
  SLB: 'SB',
  SLE: 'SL',
  SLV: 'SV',
  SOM: 'SO',
  SPM: 'PM',
  SRB: 'RS',
  SSD: 'SS',
  STP: 'ST',
  SUR: 'SR',
  SVK: 'SK',
  SVN: 'SI',
  SWE: 'SE',
  SWZ: 'SZ',
  SYC: 'SC',
  SYR: 'SY',
  TCA: 'TC',
  TCD: 'TD',
  TGO: 'TG',
  THA: 'TH',
  TJK: 'TJ',
  TKM: 'TM',
  TON: 'TO',
  TTO: 'TT',
  TUN: 'TN',
  TUR: 'TR',
  TWN: 'TW',
  TZA: 'TZ',
  UGA: 'UG',
  UKR: 'UA',
  URY: 'UY',
  USA: 'US',
  UZB: 'UZ',
  VCT: 'VC',
  VEN: 'VE',
  VGB: 'VG',
  VIR: 'VI',
  VNM: 'VN',
  VUT: 'VU',
  WSM: 'WS',
  XKX: 'XK',
  YEM: 'YE',
  ZAF: 'ZA',
  ZMB: 'ZM',
  ZWE: 'ZW',
};

// Ember's regional aggregates: only World is kept (the last-resort fallback); the others are no zone a user sets.
const AGGREGATES = new Set([
  'AFRICA',
  'ASEAN',
  'ASIA',
  'EU',
  'EUROPE',
  'G20',
  'G7',
  'LATIN AMERICA AND CARIBBEAN',
  'MIDDLE EAST',
  'NORTH AMERICA',
  'OCEANIA',
  'OECD',
  'WORLD',
]);

// Where co2.js has kept the table over its versions; the first that exists wins.
const PACKAGE_FILES = [
  'data/output/average-intensities.json',
  'dist/esm/data/average-intensities.min.js',
  'src/data/average-intensities.min.js',
  'dist/cjs/data/average-intensities.min.js',
];

function fail(message) {
  console.error(`derive-grid-averages: ${message}`);
  process.exit(1);
}

/** {KEY: {value, year?}} from either co2.js format, keys upper-cased (the JSON spells aggregates "Africa"). */
function readTable(file) {
  const text = readFileSync(file, 'utf8');
  const out = new Map();
  if (file.endsWith('.json')) {
    for (const [key, row] of Object.entries(JSON.parse(text))) {
      out.set(key.toUpperCase(), { value: row.emissions_intensity_gco2_per_kwh, year: row.year });
    }
    return out;
  }
  // `const data = {"AFG": 123.71, ...}`: a JSON object literal (1e3 is valid JSON), so no code is executed.
  const m = /\bdata\s*=\s*(\{[^}]*\})/.exec(text);
  if (!m) fail(`${file}: no \`data = {...}\` object literal found`);
  for (const [key, value] of Object.entries(JSON.parse(m[1]))) out.set(key.toUpperCase(), { value });
  return out;
}

function main() {
  const { values } = parseArgs({
    options: {
      package: { type: 'string' },
      years: { type: 'string' },
      'years-ref': { type: 'string' },
      out: { type: 'string', default: path.join(root, 'src/core/carbon/data/gridAverages.ts') },
    },
  });
  if (!values.package) fail('--package <extracted @tgwf/co2 package folder> is required');
  const pkg = JSON.parse(readFileSync(path.join(values.package, 'package.json'), 'utf8'));
  const rel = PACKAGE_FILES.find((f) => existsSync(path.join(values.package, f)));
  if (!rel) fail(`none of ${PACKAGE_FILES.join(', ')} in ${values.package}`);
  const dataFile = path.join(values.package, rel);
  const sha256 = createHash('sha256').update(readFileSync(dataFile)).digest('hex');
  const table = readTable(dataFile);
  const years = values.years ? readTable(values.years) : table;
  const yearsFrom = values.years ? (values['years-ref'] ?? path.basename(values.years)) : rel;

  const names = new Intl.DisplayNames(['en'], { type: 'region' });
  const rows = [];
  let revised = 0;
  for (const [key, { value }] of table) {
    if (AGGREGATES.has(key)) continue;
    const iso2 = ISO3_TO_ISO2[key];
    if (!iso2) fail(`no ISO 3166 alpha-2 code for "${key}": add it to ISO3_TO_ISO2`);
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) fail(`${key}: bad value ${value}`);
    const y = years.get(key);
    if (!y || !Number.isInteger(y.year)) fail(`${key}: no year in ${yearsFrom}; pass --years <co2.js data/output/average-intensities.json>`);
    const wasRevised = y.value !== value;
    if (wasRevised) revised++;
    rows.push({ iso2, iso3: key, value, year: y.year, name: names.of(iso2), wasRevised });
  }
  const world = table.get('WORLD');
  const worldYear = years.get('WORLD');
  if (!world || !worldYear) fail('no WORLD entry');
  const seen = new Set();
  for (const r of rows) {
    if (seen.has(r.iso2)) fail(`two entries map to ${r.iso2}`);
    seen.add(r.iso2);
  }
  rows.sort((a, b) => a.iso2.localeCompare(b.iso2));

  const yearCounts = {};
  for (const r of rows) yearCounts[r.year] = (yearCounts[r.year] ?? 0) + 1;
  const lines = [
    `// GENERATED by scripts/derive-grid-averages.mjs from ${pkg.name} ${pkg.version} — do not edit; rerun the script.`,
    '//',
    '// Data: Ember, yearly electricity data (https://ember-energy.org/data/yearly-electricity-data/): annual average',
    '// carbon intensity of electricity generation per country, gCO2e/kWh (production-based, imports excluded),',
    `// as republished by the Green Web Foundation in co2.js (npm ${pkg.name} ${pkg.version}, file ${rel},`,
    `// sha256 ${sha256}; co2.js code is Apache-2.0).`,
    '// Licence of the figures: Ember publishes its data under CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/);',
    '// co2.js\'s README labels the same Ember data CC BY-SA 4.0. Attribution: "Ember (ember-energy.org), via co2.js".',
    '// This derived table is offered under CC BY 4.0, and under CC BY-SA 4.0 where that label applies.',
    '// Changes made: ISO 3166 alpha-3 keys converted to alpha-2 (Kosovo XKX -> XK); regional aggregates dropped',
    `// except World; the year of each value taken from ${yearsFrom} data/output/average-intensities.json`,
    '// (the npm package has no years).',
    `// Entries marked "revised" have a value that Ember revised after that file; their year is the file's (a lower bound).`,
    `// ${rows.length} countries; years: ${Object.entries(yearCounts)
      .map(([y, n]) => `${y} x${n}`)
      .join(', ')}; ${revised} revised.`,
    '',
    'export interface GridAverage {',
    '  /** Annual average carbon intensity of generation, gCO2e/kWh. */',
    '  readonly gPerKWh: number;',
    '  /** The Ember data year of the value. */',
    '  readonly year: number;',
    '  /** The ISO 3166 alpha-3 key Ember and co2.js use. */',
    '  readonly iso3: string;',
    '}',
    '',
    '/** Where the table came from, for the ledger and for `verdant` diagnostics. */',
    'export const GRID_AVERAGES_SOURCE = {',
    `  package: '${pkg.name}',`,
    `  version: '${pkg.version}',`,
    `  file: '${rel}',`,
    `  sha256: '${sha256}',`,
    "  attribution: 'Ember (ember-energy.org), via co2.js',",
    "  licence: 'CC BY 4.0',",
    '} as const;',
    '',
    "/** Ember's World average: the fallback for a zone with no figure of its own. */",
    `export const WORLD_AVERAGE: GridAverage = { gPerKWh: ${world.value}, year: ${worldYear.year}, iso3: 'WORLD' };`,
    '',
    '/** Keyed by ISO 3166 alpha-2. */',
    'export const COUNTRY_AVERAGES: Readonly<Record<string, GridAverage>> = {',
    ...rows.map((r) => `  ${r.iso2}: { gPerKWh: ${r.value}, year: ${r.year}, iso3: '${r.iso3}' }, // ${r.name}${r.wasRevised ? ' (revised)' : ''}`),
    '};',
    '',
  ];
  writeFileSync(values.out, lines.join('\n'));
  console.log(
    `derive-grid-averages: wrote ${rows.length} countries + World to ${path.relative(root, values.out)} (${revised} revised since ${yearsFrom})`,
  );
}

main();
