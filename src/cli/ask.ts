// `verdant ask`: one question to an OpenAI-compatible endpoint, streamed to stdout, with its carbon estimate.
// The key comes from an environment variable (never a flag, so it stays out of shell history and process lists).
import { cloudSciRecord } from '../core/carbon/cloudRecord';
import { parseModelParams, type DeclaredSize } from '../core/carbon/energy/cloud';
import { CloudClient } from '../core/cloud/client';
import { CloudError } from '../core/cloud/errors';
import { redactSecrets } from '../core/cloud/redact';
import { numberFlag, UsageError } from './args';
import type { Command } from './command';

export interface AskOutput {
  readonly text: string;
  readonly model: string;
  readonly promptTokens: number;
  readonly completionTokens: number;
  readonly ms: number;
  /** The request's SCI, g CO2e; a model the catalogue lacks is estimated at its declared, named or assumed size. */
  readonly gCO2e: number;
  /** What the estimate rests on: the endpoint's grid and how the model's size was found. */
  readonly carbon: {
    readonly zone: string;
    readonly gPerKWh: number;
    readonly intensitySource: string;
    readonly kWh: number;
    readonly embodiedG: number;
    readonly rangeG: readonly [number, number];
    readonly method: string;
    readonly labels: readonly string[];
  };
  readonly redactions: number;
  /** "length" when the answer was cut at --max-tokens (by the server, or by the client when the server ran on). */
  readonly finishReason: string;
}

export const askCommand: Command = {
  summary: 'ask an OpenAI-compatible endpoint a question (streamed), with its CO2e estimate',
  usage: 'verdant ask --endpoint URL --model M [--api-key-env VAR] [--max-tokens N] [--zone Z] [--cloud-zone Z] [--model-params N[/ACTIVE]] [--json] "question"',
  flags: {
    endpoint: { type: 'string', value: 'URL', description: 'base URL, e.g. https://api.scaleway.ai/v1 (http only to this machine)' },
    model: { type: 'string', value: 'M', description: 'model name at the endpoint' },
    'api-key-env': { type: 'string', value: 'VAR', description: 'environment variable holding the API key (default VERDANT_API_KEY)' },
    'max-tokens': { type: 'string', value: 'N', description: 'most tokens in the answer (default 1024)' },
    zone: { type: 'string', value: 'Z', description: 'your grid zone, for a self-hosted endpoint\'s estimate (default $VERDANT_ZONE)' },
    'cloud-zone': { type: 'string', value: 'Z', description: 'the endpoint\'s grid zone, e.g. SE (default: its preset\'s; unknown endpoints: World average)' },
    'model-params': { type: 'string', value: 'N[/ACTIVE]', description: 'model size in billions when the catalogue lacks it: 32, or 235/22 for a mixture of experts' },
  },
  async run({ flags, positionals, io, json }): Promise<AskOutput> {
    const endpoint = flags.endpoint;
    const model = flags.model;
    if (typeof endpoint !== 'string' || typeof model !== 'string') throw new UsageError('--endpoint URL and --model M are required.');
    const question = positionals.join(' ').trim();
    if (!question) throw new UsageError('give the question as the last argument, in quotes.');
    const keyVar = typeof flags['api-key-env'] === 'string' ? flags['api-key-env'] : 'VERDANT_API_KEY';
    const maxTokens = numberFlag(flags['max-tokens'], 'max-tokens', { min: 1, max: 32768, integer: true }) ?? 1024;
    const declaredSize = modelParamsFlag(flags['model-params']);
    const zoneSetting = typeof flags['cloud-zone'] === 'string' ? flags['cloud-zone'] : '';
    // The user's own key is redacted whatever it looks like: it goes in the Authorization header, never in a prompt.
    const key = process.env[keyVar] || undefined;
    const redacted = redactSecrets(question, { extraValues: key ? [key] : [] });
    const client = new CloudClient({ baseUrl: endpoint, model, apiKey: async () => key, proxyUrl: process.env.HTTPS_PROXY || process.env.https_proxy || undefined, noProxy: process.env.NO_PROXY ?? process.env.no_proxy });
    const started = Date.now();
    try {
      const r = await client.chat({ messages: [{ role: 'user', content: redacted.text }], maxTokens }, json ? {} : { onText: (t) => io.write(t) });
      if (!json) io.out('');
      // The endpoint's zone at its annual average: the CLI asks no live source for a one-off estimate.
      const facts = { endpoint, localZone: String(flags.zone ?? process.env.VERDANT_ZONE ?? ''), zoneSetting };
      const record = cloudSciRecord({ ...facts, feature: 'ask', model: r.model || model, tokensIn: r.usage.promptTokens, tokensOut: r.usage.completionTokens, latencyMs: r.ms, at: started, declaredSize });
      const carbon = {
        zone: record.intensity.zone || 'WORLD', gPerKWh: record.intensity.gPerKWh, intensitySource: record.intensity.source, kWh: record.energy.kWh,
        embodiedG: record.embodiedG, rangeG: record.rangeG, method: record.energy.method, labels: record.labels ?? [],
      };
      return { text: r.text, model: r.model || model, promptTokens: r.usage.promptTokens, completionTokens: r.usage.completionTokens, ms: Math.round(r.ms), gCO2e: round6(record.sciG), carbon, redactions: redacted.findings.length, finishReason: r.finishReason };
    } catch (e) {
      if (e instanceof CloudError && e.code === 'insecure') throw new UsageError(e.message);
      throw e;
    } finally {
      client.close();
    }
  },
  format: (r) => {
    const o = r as AskOutput;
    const grams = `~${o.gCO2e} gCO2e at ${o.carbon.zone} ${Math.round(o.carbon.gPerKWh)} g/kWh${o.carbon.method.includes('+') ? ` (${o.carbon.method.split('+')[1]})` : ''}`;
    const cut = o.finishReason === 'length' ? ', cut at --max-tokens' : '';
    return `[${o.model}, ${o.promptTokens} + ${o.completionTokens} tokens, ${o.ms} ms, ${grams}${o.redactions ? `, ${o.redactions} secret(s) redacted` : ''}${cut}]`;
  },
};

const round6 = (n: number) => Math.round(n * 1e6) / 1e6;

/** --model-params, parsed (also `verdant route`'s); a usage error that says what is wrong. */
export function modelParamsFlag(value: string | boolean | undefined): DeclaredSize | undefined {
  if (value === undefined) return undefined;
  const parsed = parseModelParams(typeof value === 'string' ? value : '');
  if ('error' in parsed) throw new UsageError(`--model-params: ${parsed.error}.`);
  return parsed;
}
