// `verdant ask`: one question to an OpenAI-compatible endpoint, streamed to stdout, with its carbon estimate.
// The key comes from an environment variable (never a flag, so it stays out of shell history and process lists).
import { cloudSciRecord } from '../core/carbon/cloudRecord';
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
  /** Null when the model's size is unknown (not in the catalog): no estimate rather than a made-up one. */
  readonly gCO2e: number | null;
  readonly redactions: number;
  /** "length" when the answer was cut at --max-tokens (by the server, or by the client when the server ran on). */
  readonly finishReason: string;
}

export const askCommand: Command = {
  summary: 'ask an OpenAI-compatible endpoint a question (streamed), with its CO2e estimate',
  usage: 'verdant ask --endpoint URL --model M [--api-key-env VAR] [--max-tokens N] [--zone Z] [--json] "question"',
  flags: {
    endpoint: { type: 'string', value: 'URL', description: 'base URL, e.g. https://api.scaleway.ai/v1 (http only to this machine)' },
    model: { type: 'string', value: 'M', description: 'model name at the endpoint' },
    'api-key-env': { type: 'string', value: 'VAR', description: 'environment variable holding the API key (default VERDANT_API_KEY)' },
    'max-tokens': { type: 'string', value: 'N', description: 'most tokens in the answer (default 1024)' },
    zone: { type: 'string', value: 'Z', description: 'your grid zone, for a self-hosted endpoint\'s estimate (default $VERDANT_ZONE)' },
  },
  async run({ flags, positionals, io, json }): Promise<AskOutput> {
    const endpoint = flags.endpoint;
    const model = flags.model;
    if (typeof endpoint !== 'string' || typeof model !== 'string') throw new UsageError('--endpoint URL and --model M are required.');
    const question = positionals.join(' ').trim();
    if (!question) throw new UsageError('give the question as the last argument, in quotes.');
    const keyVar = typeof flags['api-key-env'] === 'string' ? flags['api-key-env'] : 'VERDANT_API_KEY';
    const maxTokens = numberFlag(flags['max-tokens'], 'max-tokens', { min: 1, max: 32768, integer: true }) ?? 1024;
    // The user's own key is redacted whatever it looks like: it goes in the Authorization header, never in a prompt.
    const key = process.env[keyVar] || undefined;
    const redacted = redactSecrets(question, { extraValues: key ? [key] : [] });
    const client = new CloudClient({ baseUrl: endpoint, model, apiKey: async () => key, proxyUrl: process.env.HTTPS_PROXY || process.env.https_proxy || undefined, noProxy: process.env.NO_PROXY ?? process.env.no_proxy });
    const started = Date.now();
    try {
      const r = await client.chat({ messages: [{ role: 'user', content: redacted.text }], maxTokens }, json ? {} : { onText: (t) => io.write(t) });
      if (!json) io.out('');
      let gCO2e: number | null = null;
      try {
        const record = cloudSciRecord({ feature: 'ask', endpoint, model: r.model || model, tokensIn: r.usage.promptTokens, tokensOut: r.usage.completionTokens, latencyMs: r.ms, at: started, localZone: String(flags.zone ?? process.env.VERDANT_ZONE ?? '') });
        gCO2e = Math.round(record.sciG * 1e6) / 1e6;
      } catch {
        // An unknown model size: say nothing rather than guess.
      }
      return { text: r.text, model: r.model || model, promptTokens: r.usage.promptTokens, completionTokens: r.usage.completionTokens, ms: Math.round(r.ms), gCO2e, redactions: redacted.findings.length, finishReason: r.finishReason };
    } catch (e) {
      if (e instanceof CloudError && e.code === 'insecure') throw new UsageError(e.message);
      throw e;
    } finally {
      client.close();
    }
  },
  format: (r) => {
    const o = r as AskOutput;
    const grams = o.gCO2e === null ? 'CO2e unknown for this model (not in the catalog)' : `~${o.gCO2e} gCO2e`;
    const cut = o.finishReason === 'length' ? ', cut at --max-tokens' : '';
    return `[${o.model}, ${o.promptTokens} + ${o.completionTokens} tokens, ${o.ms} ms, ${grams}${o.redactions ? `, ${o.redactions} secret(s) redacted` : ''}${cut}]`;
  },
};
