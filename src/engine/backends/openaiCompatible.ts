// LM Studio and mlx_lm.server through their OpenAI-compatible API: /v1/completions for FIM and plain completion,
// /v1/chat/completions for chat, both streamed as server-sent events ending with `data: [DONE]`; /v1/models for
// info(). These APIs have no FIM endpoint, so FIM builds the raw prompt from the model family's FIM tokens when a
// template is known (with other files' chunks in the family's multi-file layout, src/core/completion/templates.ts),
// and otherwise completes the prefix (usedFim: false).
// Protocol notes (mlx-lm server.py, OpenAI API reference):
// - `logprobs` must be a boolean for mlx_lm.server (it rejects an integer), while the legacy completions API takes
//   an integer; log-probabilities come back as `logprobs.content[].logprob` (chat style, also mlx on completions)
//   or `logprobs.token_logprobs[]` (legacy completions). mlx_lm.server sends none while streaming.
// - With `stream_options.include_usage` the usage arrives in an extra chunk with `choices: []` before [DONE];
//   `usage.prompt_tokens_details.cached_tokens` gives the prompt tokens served from the cache.
// - jsonSchema goes as `response_format: {type: 'json_schema', json_schema: {name, schema, strict: true}}` (OpenAI
//   structured outputs). LM Studio documents it for /v1/chat/completions; llama-server takes it on both endpoints;
//   mlx_lm.server ignores it (ml-explore/mlx-lm#1007), so there the output is not constrained.
// - llama-server's OpenAI endpoints add `timings` (prompt_n, cache_n, predicted_n, predicted_per_second).
import { detectFamily, renderFim, type FimFamily, type FimInput, type RenderedFim } from '../../core/completion/templates';
import { EngineError } from '../errors';
import { requestJsonSchema } from '../jsonSchema';
import type { BackendInfo, GenerateOptions, GenerateRequest, GenerateResult, InferenceBackend, StopReason } from '../types';
import {
  asArray,
  asNumber,
  asObject,
  asString,
  connectionOptions,
  contextTokensOf,
  HttpClient,
  modelNotFound,
  outcomeStopReason,
  runStream,
  urlPort,
  type JsonObject,
  type ServerConnectionOptions,
  type ServerProfile,
  type ServerStats,
} from './http';

// ---------------------------------------------------------------------------------------------------------------
// FIM templates: the families live in src/core/completion/templates.ts; a custom template is a raw string here.

export type { FimFamily } from '../../core/completion/templates';

/** A custom template: a raw prompt with `{prefix}` and `{suffix}` placeholders (no multi-file layout). */
export interface FimTemplate {
  readonly template: string;
  /** End/separator tokens, matched client-side in case the server prints them as text. */
  readonly stop: readonly string[];
}

/** A family's plain (single-file) template, from the core renderer. */
function plainTemplate(family: FimFamily): FimTemplate {
  const r = renderFim(family, { prefix: '{prefix}', suffix: '{suffix}' });
  return { template: r.prompt, stop: r.stop };
}

export const FIM_TEMPLATES: Readonly<Record<FimFamily, FimTemplate>> = {
  'qwen2.5-coder': plainTemplate('qwen2.5-coder'),
  starcoder2: plainTemplate('starcoder2'),
  starcoder: plainTemplate('starcoder'),
  codellama: plainTemplate('codellama'),
  'deepseek-coder': plainTemplate('deepseek-coder'),
  codestral: plainTemplate('codestral'),
  codegemma: plainTemplate('codegemma'),
};

/** A named family, a custom template, 'auto' (detect the family from the model id; the default) or 'none'. */
export type FimTemplateSpec = FimFamily | FimTemplate | 'auto' | 'none';

/** Builds the raw FIM prompt (and its stop strings) for one request. */
export type FimRenderer = (input: FimInput) => RenderedFim;

/** The FIM family a model id names, e.g. "mlx-community/Qwen2.5-Coder-7B-4bit" -> 'qwen2.5-coder'; null if unknown. */
export function detectFimFamily(modelId: string): FimFamily | null {
  return detectFamily(modelId) ?? null;
}

export function resolveFimRenderer(spec: FimTemplateSpec | undefined, modelId: string): FimRenderer | null {
  if (spec === 'none') return null;
  if (spec === undefined || spec === 'auto') {
    const family = detectFamily(modelId);
    return family ? (input) => renderFim(family, input) : null;
  }
  if (typeof spec === 'string') return (input) => renderFim(spec, input);
  if (!spec.template.includes('{prefix}') || !spec.template.includes('{suffix}')) {
    throw new EngineError('bad-request', 'A FIM template needs both {prefix} and {suffix} placeholders; fix the template or use a named family.');
  }
  return (input) => ({ prompt: buildFimPrompt(spec, input.prefix, input.suffix), stop: [...spec.stop] });
}

/** Fills a custom template; a split/join, so `$` patterns in code are not special. */
export function buildFimPrompt(t: FimTemplate, prefix: string, suffix: string): string {
  return t.template
    .split('{prefix}')
    .map((part) => part.split('{suffix}').join(suffix))
    .join(prefix);
}

// ---------------------------------------------------------------------------------------------------------------
// Streaming one OpenAI-style request (shared with llama-server's chat)

export interface OpenAiStreamRequest {
  readonly client: HttpClient;
  readonly path: '/v1/completions' | '/v1/chat/completions';
  readonly body: JsonObject;
  /** Client-side stop strings (the request's plus any template's). */
  readonly stop: readonly string[];
  readonly maxTokens: number;
  readonly options: GenerateOptions;
  readonly usedFim: boolean;
  readonly backend: string;
  readonly model: string;
  /** The server's context size as the backend knows it; null when unknown. */
  readonly contextTokens: number | null;
}

/** Streams one request and builds the result; failures are mapped to EngineError. */
export async function generateOpenAiStyle(r: OpenAiStreamRequest): Promise<GenerateResult> {
  const chat = r.path === '/v1/chat/completions';
  const generation = r.client.generation(r.maxTokens, r.stop, r.options.onText);
  let finishReason = '';
  let usage: JsonObject | undefined;
  let timings: JsonObject | undefined;
  try {
    const outcome = await runStream(
      r.client,
      {
        path: r.path,
        body: r.body,
        format: 'sse',
        maxTokens: r.maxTokens,
        onMessage: (m) => {
          if (m.done) return 'end';
          const v = m.value;
          const choice = asObject(asArray(v.choices)[0]);
          if (choice) {
            generation.addText(chat ? asString(asObject(choice.delta)?.content) : asString(choice.text));
            generation.addLogProbs(openAiLogProbs(choice.logprobs));
          }
          usage = asObject(v.usage) ?? usage;
          timings = asObject(v.timings) ?? timings;
          const finish = asString(choice?.finish_reason);
          if (finish === '') return 'more';
          finishReason = finish;
          return 'final';
        },
      },
      generation,
      r.options.signal,
    );
    const stopReason: StopReason = outcomeStopReason(outcome) ?? (finishReason === 'length' ? 'maxTokens' : 'eos');
    return generation.finish(
      { stopReason, usedFim: r.usedFim, backend: r.backend, model: r.model, contextTokens: r.contextTokens },
      openAiStats(usage, timings),
    );
  } catch (e) {
    throw r.client.toEngineError(e, r.model);
  }
}

/** OpenAI structured outputs: the schema, strict (the output must match it, not just be JSON). */
export function responseFormat(schema: object): JsonObject {
  return { type: 'json_schema', json_schema: { name: 'verdant', schema: schema as JsonObject, strict: true } };
}

/** Chosen-token log-probabilities in either OpenAI shape. */
export function openAiLogProbs(v: unknown): number[] {
  const lp = asObject(v);
  if (!lp) return [];
  const items = Array.isArray(lp.content) ? lp.content.map((c) => asObject(c)?.logprob) : asArray(lp.token_logprobs);
  return items.map(asNumber).filter((n): n is number => n !== undefined);
}

function openAiStats(usage: JsonObject | undefined, timings: JsonObject | undefined): ServerStats {
  const prompt = asNumber(usage?.prompt_tokens);
  const cached = asNumber(asObject(usage?.prompt_tokens_details)?.cached_tokens);
  const promptN = asNumber(timings?.prompt_n);
  const cacheN = asNumber(timings?.cache_n);
  return {
    promptTokens: prompt ?? (promptN !== undefined ? promptN + (cacheN ?? 0) : undefined),
    evaluatedTokens: promptN ?? (prompt !== undefined && cached !== undefined ? Math.max(0, prompt - cached) : null),
    generatedTokens: asNumber(usage?.completion_tokens) ?? asNumber(timings?.predicted_n),
    tokensPerSecond: asNumber(timings?.predicted_per_second),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// The backend

export type OpenAiFlavour = 'lmstudio' | 'mlx';

export const LMSTUDIO_DEFAULT_URL = 'http://127.0.0.1:1234';
export const MLX_DEFAULT_URL = 'http://127.0.0.1:8080';

/** apiKey: for servers started with an API key. */
export interface OpenAiCompatibleOptions extends ServerConnectionOptions {
  readonly flavour: OpenAiFlavour;
  /** Base URL, with or without the trailing /v1 (default per flavour). */
  readonly url?: string;
  readonly model: string;
  /** How FIM prompts are built (default 'auto': from the model id). */
  readonly fimTemplate?: FimTemplateSpec;
}

const BACKEND_NAMES: Readonly<Record<OpenAiFlavour, string>> = { lmstudio: 'lm studio', mlx: 'mlx' };

export function openAiProfile(flavour: OpenAiFlavour, url: string, model: string): ServerProfile {
  if (flavour === 'lmstudio') {
    return {
      product: 'LM Studio',
      startCommand: 'lms server start',
      modelHint: (m) => `load it with \`lms load ${m}\` (download it first with \`lms get ${m}\`)`,
      listen: 'turn on "Serve on Local Network" in its server settings',
    };
  }
  const port = urlPort(url);
  const portFlag = port === null || port === 8080 ? '' : ` --port ${port}`;
  return {
    product: 'mlx_lm.server',
    startCommand: `mlx_lm.server --model ${model || '<model>'}${portFlag}`,
    modelHint: (m) => `start the server with it: \`mlx_lm.server --model ${m}${portFlag}\``,
    listen: `start it listening on the network (\`mlx_lm.server --model ${model || '<model>'} --host 0.0.0.0 --port ${port ?? 80}\`)`,
  };
}

export class OpenAiCompatibleBackend implements InferenceBackend {
  private readonly client: HttpClient;
  private readonly flavour: OpenAiFlavour;
  private readonly model: string;
  private readonly fim: FimRenderer | null;
  /** LM Studio's loaded context length as info() last found it; mlx_lm.server never says (null). */
  private contextTokens: number | null = null;

  constructor(options: OpenAiCompatibleOptions) {
    this.flavour = options.flavour;
    this.model = options.model;
    this.fim = resolveFimRenderer(options.fimTemplate, options.model);
    // Paths carry /v1 themselves; users often paste the base URL with it.
    const url = (options.url || (options.flavour === 'lmstudio' ? LMSTUDIO_DEFAULT_URL : MLX_DEFAULT_URL)).replace(/\/+$/, '').replace(/\/v1$/, '');
    this.client = new HttpClient({ ...connectionOptions(options), baseUrl: url, profile: openAiProfile(options.flavour, url, options.model) });
  }

  async generate(request: GenerateRequest, options: GenerateOptions = {}): Promise<GenerateResult> {
    const stop = request.stop ?? [];
    const common: Record<string, unknown> = {
      model: this.model,
      max_tokens: request.maxTokens,
      temperature: request.temperature ?? 0,
      stream: true,
      stream_options: { include_usage: true },
    };
    if (stop.length > 0) common.stop = stop;
    const schema = requestJsonSchema(request);
    if (schema) common.response_format = responseFormat(schema);
    if (request.kind === 'chat') {
      return generateOpenAiStyle({
        client: this.client,
        path: '/v1/chat/completions',
        body: { ...common, messages: request.messages.map((m) => ({ role: m.role, content: m.content })), logprobs: true },
        stop,
        maxTokens: request.maxTokens,
        options,
        usedFim: false,
        backend: BACKEND_NAMES[this.flavour],
        model: this.model,
        contextTokens: this.contextTokens,
      });
    }
    const fim = request.kind === 'fim' && this.fim ? this.fim(request) : null;
    const prompt = request.kind === 'completion' ? request.prompt : fim ? fim.prompt : request.prefix;
    return generateOpenAiStyle({
      client: this.client,
      path: '/v1/completions',
      // mlx_lm.server accepts only a boolean here; the legacy completions API wants the number of top entries.
      body: { ...common, prompt, logprobs: this.flavour === 'mlx' ? true : 1 },
      stop: fim ? [...stop, ...fim.stop] : stop,
      maxTokens: request.maxTokens,
      options,
      usedFim: fim !== null,
      backend: BACKEND_NAMES[this.flavour],
      model: this.model,
      contextTokens: this.contextTokens,
    });
  }

  async info(): Promise<BackendInfo> {
    let ids: string[];
    try {
      ids = asArray(asObject(await this.client.json('/v1/models'))?.data)
        .map((d) => asString(asObject(d)?.id))
        .filter((id) => id !== '');
    } catch (e) {
      throw this.client.toEngineError(e, this.model);
    }
    // LM Studio lists what it can load (JIT) or has loaded; mlx_lm.server lists its cache, which may name the
    // served model differently (a path), so only LM Studio's list is proof of absence.
    if (this.flavour === 'lmstudio' && ids.length > 0 && !ids.includes(this.model)) {
      throw modelNotFound(this.client.failure, this.model);
    }
    const contextSize = this.flavour === 'lmstudio' ? await this.lmStudioContext() : null;
    this.contextTokens = contextTokensOf(contextSize) ?? this.contextTokens;
    return {
      backend: BACKEND_NAMES[this.flavour],
      model: this.model,
      devices: [],
      vramBytes: null,
      threads: null,
      fimSupported: this.fim !== null,
      contextSize,
    };
  }

  async dispose(): Promise<void> {
    await this.client.close();
  }

  /** LM Studio's own REST API (0.3.6+) knows the loaded context length; best effort. */
  private async lmStudioContext(): Promise<number | null> {
    try {
      const m = asObject(await this.client.json(`/api/v0/models/${this.model.split('/').map(encodeURIComponent).join('/')}`));
      return asNumber(m?.loaded_context_length) ?? asNumber(m?.max_context_length) ?? null;
    } catch {
      return null;
    }
  }
}
