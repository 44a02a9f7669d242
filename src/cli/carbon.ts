// Carbon subcommands: `intensity`, `forecast`, `window`, `estimate`. Keys come from the environment (the extension
// keeps them in VS Code's secret storage): VERDANT_ELECTRICITY_MAPS_TOKEN, VERDANT_WATTTIME_USERNAME and
// VERDANT_WATTTIME_PASSWORD; VERDANT_CARBON_AWARE_SDK_URL; VERDANT_ZONE / VERDANT_POSTCODE as defaults for --zone;
// VERDANT_<SOURCE>_URL overrides a source's base URL (proxies, tests).
import { readFile, stat } from 'node:fs/promises';
import { osFacts, detectDevice, profile, PROFILES, type ProfileId } from '../core/carbon/energy/devices';
import { BASELINE, estimateCloud } from '../core/carbon/energy/cloud';
import { estimateLocal } from '../core/carbon/energy/local';
import { localEmbodied } from '../core/carbon/sci';
import { createIntensityService, type IntensityService, type LiveSourceId } from '../core/carbon/sources';
import { chooseSource } from '../core/carbon/sourceChoice';
import { LIVE_SOURCE_IDS, type ForecastPoint, type IntensityForecast, type SourceId } from '../core/carbon/types';
import { checkedPoints, findCleanestWindow, parseDuration, WindowError } from '../core/carbon/window';
import { CARBON_SOURCES, type CarbonSourceChoice } from '../core/settings';
import { numberFlag, UsageError } from './args';
import type { Command, CommandArgs } from './command';
import { errorMessage } from '../core/errors';

const LIVE: readonly LiveSourceId[] = LIVE_SOURCE_IDS;
const envKey = (id: LiveSourceId) => `VERDANT_${id.toUpperCase().replace(/-/g, '_')}_URL`;

export const zoneFlags = {
  zone: { type: 'string', value: 'Z', description: 'grid zone: FR, SE-SE3, GB, GB-RG41, aws:eu-north-1, CAISO_NORTH… (default $VERDANT_ZONE)' },
  source: { type: 'string', value: 'S', description: `${CARBON_SOURCES.join(', ')} (default auto)` },
} as const;

export function intensityService({ flags }: Pick<CommandArgs, 'flags'>, env: NodeJS.ProcessEnv = process.env): IntensityService {
  const choice = String(flags.source ?? 'auto') as CarbonSourceChoice;
  if (!CARBON_SOURCES.includes(choice)) throw new UsageError(`--source must be one of ${CARBON_SOURCES.join(', ')}, not "${flags.source}".`);
  const zone = String(flags.zone ?? env.VERDANT_ZONE ?? '');
  // Unknown zones fall back to the World average; text that cannot be a zone at all is a mistake worth saying so.
  if (zone.length > 64 || /[\u0000-\u001f\u007f]/.test(zone)) {
    const shown = JSON.stringify(zone.length > 40 ? `${zone.slice(0, 39)}…` : zone);
    throw new UsageError(
      `--zone (or $VERDANT_ZONE) must be a grid zone such as FR, SE-SE3, GB-RG41 or aws:eu-north-1, not ${shown}${zone.length > 40 ? ` (${zone.length} characters)` : ''}.`,
    );
  }
  const picked = chooseSource({
    choice,
    zone,
    postcode: flags.zone === undefined ? (env.VERDANT_POSTCODE ?? '').toUpperCase() : '',
    hasElectricityMapsToken: Boolean(env.VERDANT_ELECTRICITY_MAPS_TOKEN),
    carbonAwareSdkUrl: env.VERDANT_CARBON_AWARE_SDK_URL ?? '',
  });
  const baseUrls: Partial<Record<LiveSourceId, string>> = {};
  for (const id of LIVE) if (env[envKey(id)]) baseUrls[id] = env[envKey(id)];
  if (env.VERDANT_CARBON_AWARE_SDK_URL) baseUrls['carbon-aware-sdk'] = env.VERDANT_CARBON_AWARE_SDK_URL;
  return createIntensityService({
    source: picked.source as SourceId,
    zone: picked.zone,
    baseUrls,
    credentials: {
      electricityMapsToken: async () => env.VERDANT_ELECTRICITY_MAPS_TOKEN || undefined,
      wattTime: async () =>
        env.VERDANT_WATTTIME_USERNAME && env.VERDANT_WATTTIME_PASSWORD
          ? { username: env.VERDANT_WATTTIME_USERNAME, password: env.VERDANT_WATTTIME_PASSWORD }
          : undefined,
    },
  });
}

const round = (n: number, d = 3) => Math.round(n * 10 ** d) / 10 ** d;

export const intensityCommand: Command = {
  summary: 'grid carbon intensity now (gCO2e/kWh), from a live source or the built-in averages',
  usage: 'verdant intensity [--zone Z] [--source S] [--json]',
  flags: zoneFlags,
  async run(args) {
    const r = await intensityService(args).current();
    return {
      zone: r.zone,
      gPerKWh: round(r.gPerKWh, 2),
      source: r.source,
      at: r.at,
      isEstimated: r.isEstimated,
      signal: r.signal,
      ...(r.detail ? { detail: r.detail } : {}),
      ...(r.fallbackReason ? { fallbackReason: r.fallbackReason } : {}),
    };
  },
  format: (r) => {
    const o = r as { zone: string; gPerKWh: number; source: string; signal: string; detail?: string; fallbackReason?: string };
    return (
      `${o.gPerKWh} gCO2e/kWh in ${o.zone || 'the world (no zone set)'} (${o.source}, ${o.signal}${o.detail ? `, ${o.detail}` : ''})` +
      (o.fallbackReason ? `\nnote: ${o.fallbackReason}` : '')
    );
  },
};

export const forecastCommand: Command = {
  summary: 'grid carbon intensity forecast (flat at the average when the source has none)',
  usage: 'verdant forecast [--zone Z] [--source S] [--json]',
  flags: zoneFlags,
  async run(args) {
    const f = await intensityService(args).forecast();
    return {
      zone: f.zone,
      source: f.source,
      signal: f.signal,
      pointMinutes: f.pointMinutes,
      points: f.points,
      ...(f.fallbackReason ? { fallbackReason: f.fallbackReason } : {}),
    };
  },
  format: (r) => {
    const f = r as IntensityForecast;
    const lines = f.points.map((p) => `${p.at}  ${round(p.gPerKWh, 1)}`);
    return [
      `${f.source} forecast for ${f.zone || 'the world'} (${f.pointMinutes}-minute points):`,
      ...lines,
      ...(f.fallbackReason ? [`note: ${f.fallbackReason}`] : []),
    ].join('\n');
  },
};

/** Far more than a year of 5-minute points. */
const MAX_FORECAST_FILE_BYTES = 16 * 2 ** 20;

/** A forecast file: what `verdant forecast --json` prints, or a bare list of {at, gPerKWh} . */
export async function readForecastFile(file: string): Promise<IntensityForecast> {
  let parsed: unknown;
  // A regular file of a sane size only: /dev/zero or a named pipe would be read (or waited on) without end.
  const st = await stat(file).catch((e: NodeJS.ErrnoException) => {
    throw new UsageError(`--forecast-file ${file}: ${e.code === 'ENOENT' ? 'no such file' : e.message}.`);
  });
  if (!st.isFile()) throw new UsageError(`--forecast-file ${file} is not a regular file; give the JSON that "verdant forecast --json" prints.`);
  if (st.size > MAX_FORECAST_FILE_BYTES)
    throw new UsageError(
      `--forecast-file ${file} is ${Math.round(st.size / 2 ** 20)} MB; a forecast is at most ${MAX_FORECAST_FILE_BYTES / 2 ** 20} MB.`,
    );
  try {
    parsed = JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    throw new UsageError(`--forecast-file ${file}: ${errorMessage(e)}; give the JSON that "verdant forecast --json" prints.`);
  }
  const o = (Array.isArray(parsed) ? { points: parsed } : typeof parsed === 'object' && parsed !== null ? parsed : {}) as Partial<IntensityForecast>;
  const example = '{"at": "2026-11-26T12:00:00Z", "gPerKWh": 120}';
  const given: unknown[] = Array.isArray(o.points) ? o.points : [];
  if (given.length === 0) throw new UsageError(`--forecast-file ${file} has no points like ${example}.`);
  // Every point must be readable: one dropped quietly would leave a gap the plan cannot see was never data.
  const points = given.map((p, i): ForecastPoint => {
    const { at, gPerKWh } = (typeof p === 'object' && p !== null ? p : {}) as Partial<ForecastPoint>;
    if (typeof at !== 'string' || !Number.isFinite(Date.parse(at)) || typeof gPerKWh !== 'number') {
      throw new UsageError(`--forecast-file ${file}: point ${i} is ${JSON.stringify(p)?.slice(0, 80)}, not a point like ${example}.`);
    }
    return { at, gPerKWh };
  });
  const sorted = [...points].sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
  const [first, second] = sorted;
  const step = first && second ? (Date.parse(second.at) - Date.parse(first.at)) / 60_000 : 60;
  if (o.pointMinutes !== undefined && (typeof o.pointMinutes !== 'number' || !(o.pointMinutes > 0) || !Number.isFinite(o.pointMinutes))) {
    throw new UsageError(
      `--forecast-file ${file}: pointMinutes must be the length of each point in minutes (more than 0), not ${JSON.stringify(o.pointMinutes)}.`,
    );
  }
  // A file without a source is a real forecast (the user gave it to plan against), not the embedded average; it is
  // labelled as the file. A file that says "embedded" or carries a fallbackReason is not.
  const source = (typeof o.source === 'string' && o.source ? o.source : 'forecast-file') as SourceId;
  const forecast: IntensityForecast = {
    zone: typeof o.zone === 'string' ? o.zone : '',
    source,
    signal: o.signal ?? 'average',
    pointMinutes: o.pointMinutes ?? (step > 0 ? step : 60),
    points: sorted,
    ...(typeof o.fallbackReason === 'string' ? { fallbackReason: o.fallbackReason } : {}),
  };
  try {
    checkedPoints({ ...forecast, points }); // negative intensities, two points at one time, overlaps (indexes as in the file)
  } catch (e) {
    if (e instanceof WindowError) throw new UsageError(`--forecast-file ${file}: ${e.message}`);
    throw e;
  }
  return forecast;
}

export const windowCommand: Command = {
  summary: 'the cleanest time to run a task of a given length before a deadline',
  usage: 'verdant window --duration 90m [--within 24h] [--zone Z] [--source S] [--forecast-file F] [--from TIME] [--json]',
  flags: {
    duration: { type: 'string', value: 'D', description: 'how long the task runs: 90m, 1.5h, 2h30m' },
    within: { type: 'string', value: 'D', description: 'it must finish within this long from now (default 24h)' },
    'forecast-file': { type: 'string', value: 'F', description: 'use this forecast JSON instead of asking a source' },
    from: { type: 'string', value: 'TIME', description: 'earliest start (default now)' },
    ...zoneFlags,
  },
  async run(args) {
    if (typeof args.flags.duration !== 'string') throw new UsageError('--duration is required, e.g. --duration 90m.');
    const parse = (t: string) => {
      try {
        return parseDuration(t);
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
    };
    const duration = parse(args.flags.duration);
    const within = parse(typeof args.flags.within === 'string' ? args.flags.within : '24h');
    const forecast =
      typeof args.flags['forecast-file'] === 'string' ? await readForecastFile(args.flags['forecast-file']) : await intensityService(args).forecast();
    // Start: --from, else now, else (a recorded forecast that lies in the past) the forecast's first point.
    const first = Date.parse(forecast.points[0]?.at ?? '');
    const last = Date.parse(forecast.points[forecast.points.length - 1]?.at ?? '') + forecast.pointMinutes * 60_000;
    const from = typeof args.flags.from === 'string' ? Date.parse(args.flags.from) : Date.now() >= first && Date.now() < last ? Date.now() : first;
    if (!Number.isFinite(from)) throw new UsageError(`--from must be a date and time such as 2026-11-26T18:00:00Z, not "${args.flags.from}".`);
    const now = from;
    try {
      const w = findCleanestWindow(forecast, { durationMinutes: duration, from: now, deadline: now + within * 60_000 });
      return { ...w, zone: forecast.zone, source: forecast.source, ...(forecast.fallbackReason ? { fallbackReason: forecast.fallbackReason } : {}) };
    } catch (e) {
      if (e instanceof WindowError) throw new UsageError(e.message);
      throw e;
    }
  },
  format: (r) => {
    const o = r as { start: string; end: string; avgGPerKWh: number; nowGPerKWh: number; savingPct: number; source: string; fallbackReason?: string };
    return (
      `run ${o.start} → ${o.end}: ${o.avgGPerKWh} gCO2e/kWh on average, against ${o.nowGPerKWh} now (${o.savingPct}% less; ${o.source})` +
      (o.fallbackReason ? `\nnote: ${o.fallbackReason}` : '')
    );
  },
};

const num = (flags: CommandArgs['flags'], name: string, min = 0) => numberFlag(flags[name], name, { min });

export const estimateCommand: Command = {
  summary: 'energy and CO2e of one request, local (device power x time) or cloud (EcoLogits)',
  usage:
    'verdant estimate --route local|cloud [--model NAME | --active-params-b N --total-params-b N] --in N --out N [--zone Z] [--pue P] [--device PROFILE] [--seconds S] [--json]',
  flags: {
    route: { type: 'string', value: 'R', description: 'local or cloud' },
    model: { type: 'string', value: 'NAME', description: `cloud model (default the all-cloud baseline, ${BASELINE.model})` },
    'active-params-b': { type: 'string', value: 'N', description: 'active parameters, billions (MoE: the active ones)' },
    'total-params-b': { type: 'string', value: 'N', description: 'total parameters, billions' },
    in: { type: 'string', value: 'N', description: 'input tokens' },
    out: { type: 'string', value: 'N', description: 'output tokens' },
    pue: { type: 'string', value: 'P', description: "data-centre PUE (cloud; default the provider's or 1.2)" },
    device: { type: 'string', value: 'PROFILE', description: `local device profile (default detected): ${Object.keys(PROFILES).join(', ')}` },
    seconds: { type: 'string', value: 'S', description: 'engine time (local: required) or measured latency (cloud)' },
    ...zoneFlags,
  },
  async run(args) {
    const { flags } = args;
    const route = flags.route;
    if (route !== 'local' && route !== 'cloud') throw new UsageError('--route must be local or cloud.');
    const tokensIn = num(flags, 'in') ?? 0;
    const tokensOut = num(flags, 'out');
    if (tokensOut === undefined) throw new UsageError('--out N (output tokens) is required.');
    const seconds = num(flags, 'seconds');
    const intensity = await intensityService(args).current();
    const I = intensity.gPerKWh;
    let energy;
    let embodiedG: number;
    let embodiedRange: readonly [number, number];
    let model: string;
    let extra: Record<string, unknown>;
    if (route === 'local') {
      if (seconds === undefined) throw new UsageError('--seconds S (the engine time of the request) is required for --route local.');
      const id = flags.device;
      if (id !== undefined && !Object.hasOwn(PROFILES, String(id)))
        throw new UsageError(`--device must be one of ${Object.keys(PROFILES).join(', ')}, not "${id}".`);
      const device = id !== undefined ? profile(String(id) as ProfileId) : detectDevice(osFacts(), 'llama.cpp (cpu)');
      energy = estimateLocal({ engineMs: seconds * 1000, device });
      const emb = localEmbodied(device, seconds);
      embodiedG = emb.g;
      embodiedRange = emb.rangeG;
      model = typeof flags.model === 'string' ? flags.model : 'local model';
      extra = { device: device.id, deviceLabel: device.label };
    } else {
      let c;
      try {
        c = estimateCloud({
          model: typeof flags.model === 'string' ? flags.model : flags['active-params-b'] === undefined ? BASELINE.model : undefined,
          activeParamsB: num(flags, 'active-params-b', 0.001),
          totalParamsB: num(flags, 'total-params-b', 0.001),
          outputTokens: tokensOut,
          inputTokens: tokensIn,
          pue: num(flags, 'pue', 1),
          latencySeconds: seconds,
        });
      } catch (e) {
        throw new UsageError(errorMessage(e));
      }
      energy = c.energy;
      embodiedG = c.embodiedG;
      embodiedRange = c.embodiedRangeG;
      model = c.model ?? `custom ${c.activeParamsB}B/${c.totalParamsB}B model`;
      extra = { gpus: c.gpus, pue: c.pue, activeParamsB: c.activeParamsB, totalParamsB: c.totalParamsB };
    }
    const operational = energy.kWh * I;
    return {
      route,
      model,
      tokens: { in: tokensIn, out: tokensOut },
      energyWh: round(energy.kWh * 1000, 6),
      gCO2e: round(operational + embodiedG, 6),
      operationalG: round(operational, 6),
      embodiedG: round(embodiedG, 6),
      method: energy.method,
      measured: energy.measured,
      range: [round(energy.rangeKWh[0] * I + embodiedRange[0], 6), round(energy.rangeKWh[1] * I + embodiedRange[1], 6)],
      intensity: {
        gPerKWh: round(I, 2),
        zone: intensity.zone,
        source: intensity.source,
        signal: intensity.signal,
        ...(intensity.fallbackReason ? { fallbackReason: intensity.fallbackReason } : {}),
      },
      ...extra,
    };
  },
  format: (r) => {
    const o = r as {
      route: string;
      model: string;
      energyWh: number;
      gCO2e: number;
      range: number[];
      method: string;
      intensity: { gPerKWh: number; zone: string; source: string };
    };
    return `${o.route} ${o.model}: ${o.energyWh} Wh, ${o.gCO2e} gCO2e (range ${o.range[0]}–${o.range[1]}; ${o.method}; ${o.intensity.gPerKWh} g/kWh ${o.intensity.zone || 'world'} from ${o.intensity.source})`;
  },
};
