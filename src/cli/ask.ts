// `verdant ask`: one question to an OpenAI-compatible endpoint, streamed to stdout, with its carbon estimate; with
// --ledger DIR, its one SCI record is written to that ledger as the extension records its own (through the same
// ModelCalls). The key comes from an environment variable (never a flag: it stays out of shell history and process
// lists), and is redacted from the question whatever it looks like.
import { cloudSciRecord } from '../core/carbon/cloudRecord';
import { parseModelParams, type DeclaredSize } from '../core/carbon/energy/cloud';
import { Ledger } from '../core/carbon/ledger';
import type { SciRecord } from '../core/carbon/types';
import { CloudClient, type CloudResult } from '../core/cloud/client';
import { CloudError } from '../core/cloud/errors';
import { ModelCalls } from '../core/tasks/calls';
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
  /** With --ledger: the record written. */
  readonly recordId?: string;
  /** "length" when the answer was cut at --max-tokens (by the server, or by the client when the server ran on). */
  readonly finishReason: string;
}

export const askCommand: Command = {
  summary: 'ask an OpenAI-compatible endpoint a question (streamed), with its CO2e estimate',
  usage:
    'verdant ask --endpoint URL --model M [--api-key-env VAR] [--max-tokens N] [--zone Z] [--cloud-zone Z] [--model-params N[/ACTIVE]] [--ledger DIR] [--json] "question"',
  flags: {
    endpoint: { type: 'string', value: 'URL', description: 'base URL, e.g. https://api.scaleway.ai/v1 (http only to this machine)' },
    model: { type: 'string', value: 'M', description: 'model name at the endpoint' },
    'api-key-env': { type: 'string', value: 'VAR', description: 'environment variable holding the API key (default VERDANT_API_KEY)' },
    'max-tokens': { type: 'string', value: 'N', description: 'most tokens in the answer (default 1024)' },
    zone: { type: 'string', value: 'Z', description: "your grid zone, for a self-hosted endpoint's estimate (default $VERDANT_ZONE)" },
    'cloud-zone': {
      type: 'string',
      value: 'Z',
      description: "the endpoint's grid zone, e.g. SE (default: its preset's; unknown endpoints: World average)",
    },
    'model-params': {
      type: 'string',
      value: 'N[/ACTIVE]',
      description: 'model size in billions when the catalogue lacks it: 32, or 235/22 for a mixture of experts',
    },
    ledger: { type: 'string', value: 'DIR', description: 'write this request to the carbon ledger in DIR (one SCI record)' },
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
    const ledger = flags.ledger === undefined ? undefined : String(flags.ledger);
    if (ledger === '') throw new UsageError('--ledger needs a folder.');
    const key = process.env[keyVar] || undefined;
    const client = new CloudClient({
      baseUrl: endpoint,
      model,
      apiKey: async () => key,
      proxyUrl: process.env.HTTPS_PROXY || process.env.https_proxy || undefined,
      noProxy: process.env.NO_PROXY ?? process.env.no_proxy,
    });
    // The endpoint's zone at its annual average: the CLI asks no live source for a one-off estimate.
    const facts = { localZone: String(flags.zone ?? process.env.VERDANT_ZONE ?? ''), zoneSetting, declaredSize };
    let answer: CloudResult | undefined;
    let record: SciRecord | undefined;
    const calls = new ModelCalls({
      cloud: {
        target: () => ({ endpoint, model }),
        chat: async (req, options) => (answer = await client.chat(req, options)),
        // Without --ledger the record is still made, for the grams printed, and written nowhere.
        record: async (attempt) => {
          record = cloudSciRecord({ ...attempt, ...facts });
          if (ledger !== undefined) await new Ledger({ dir: ledger }).append(record);
          return record;
        },
      },
    });
    try {
      const o = await calls.call('cloud', 'ask', [{ role: 'user', content: question }], {
        maxTokens,
        alsoRedact: key ? [key] : [],
        ...(json ? {} : { sink: (t: string) => io.write(t) }),
      });
      if (!json) io.out('');
      if (!answer || !record) throw new Error('the endpoint gave no answer.');
      const carbon = {
        zone: record.intensity.zone || 'WORLD',
        gPerKWh: record.intensity.gPerKWh,
        intensitySource: record.intensity.source,
        kWh: record.energy.kWh,
        embodiedG: record.embodiedG,
        rangeG: record.rangeG,
        method: record.energy.method,
        labels: record.labels ?? [],
      };
      return {
        text: o.text,
        model: o.model,
        promptTokens: answer.usage.promptTokens,
        completionTokens: answer.usage.completionTokens,
        ms: Math.round(answer.ms),
        gCO2e: round6(record.sciG),
        carbon,
        redactions: calls.lastCloudRequest?.redactions ?? 0,
        finishReason: answer.finishReason,
        ...(ledger !== undefined ? { recordId: record.id } : {}),
      };
    } catch (e) {
      if (e instanceof CloudError && e.code === 'insecure') throw new UsageError(e.message);
      throw e;
    } finally {
      await client.close();
    }
  },
  format: (r) => {
    const o = r as AskOutput;
    const grams = `~${o.gCO2e} gCO2e at ${o.carbon.zone} ${Math.round(o.carbon.gPerKWh)} g/kWh${o.carbon.method.includes('+') ? ` (${o.carbon.method.split('+')[1]})` : ''}`;
    const cut = o.finishReason === 'length' ? ', cut at --max-tokens' : '';
    const written = o.recordId ? `, ledger record ${o.recordId}` : '';
    return `[${o.model}, ${o.promptTokens} + ${o.completionTokens} tokens, ${o.ms} ms, ${grams}${o.redactions ? `, ${o.redactions} secret(s) redacted` : ''}${cut}${written}]`;
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
