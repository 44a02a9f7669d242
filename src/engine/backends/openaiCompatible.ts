// LM Studio, mlx_lm.server and Lemonade Server through their OpenAI-compatible API: /v1/completions for FIM and plain
// completion, /v1/chat/completions for chat, both streamed as server-sent events ending with `data: [DONE]`; /v1/models
// for info() (Lemonade Server: the same under /api/v1). These APIs have no FIM endpoint, so FIM builds the raw prompt
// from the model family's FIM tokens when a template is known (with other files' chunks in the family's multi-file
// layout, src/core/completion/templates.ts), and otherwise completes the prefix (usedFim: false).
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
// - Lemonade Server documents no logprobs on chat and none on streamed completions, so it is asked for none. Its
//   /models entries carry the model's `recipe` (llamacpp, flm, ryzenai-llm, …: what runs it, and on which device)
//   and `context_length`, and list only downloaded models.
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

/** Where a server serves the OpenAI API: '/v1', or '/api/v1' (Lemonade Server). */
export type OpenAiApiBase = '/v1' | '/api/v1';

export interface OpenAiStreamRequest {
  readonly client: HttpClient;
  readonly path: `${OpenAiApiBase}/completions` | `${OpenAiApiBase}/chat/completions`;
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
  const chat = r.path.endsWith('/chat/completions');
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

export type OpenAiFlavour = 'lmstudio' | 'mlx' | 'lemonade';

export const LMSTUDIO_DEFAULT_URL = 'http://127.0.0.1:1234';
export const MLX_DEFAULT_URL = 'http://127.0.0.1:8080';
/** Lemonade Server's long-standing port; releases from 10 on listen on 13305 (set verdant.local.serverUrl). */
export const LEMONADE_DEFAULT_URL = 'http://127.0.0.1:8000';

/** apiKey: for servers started with an API key. */
export interface OpenAiCompatibleOptions extends ServerConnectionOptions {
  readonly flavour: OpenAiFlavour;
  /** Base URL, with or without the API path (/v1; /api/v1 for Lemonade) (default per flavour). */
  readonly url?: string;
  readonly model: string;
  /** How FIM prompts are built (default 'auto': from the model id). */
  readonly fimTemplate?: FimTemplateSpec;
}

interface FlavourTraits {
  /** The result's and info()'s backend name. */
  readonly backend: string;
  readonly defaultUrl: string;
  readonly api: OpenAiApiBase;
  /** API paths users paste with the base URL; the request paths carry the API path themselves. */
  readonly pastedApiPath: RegExp;
  /** `logprobs` on /completions (the legacy API's number of top entries, or mlx_lm.server's boolean; chat sends
   *  `true`); null: asked on neither. */
  readonly logprobs: 1 | true | null;
  /** Whether the /models list proves a model absent (LM Studio: what it can load; Lemonade: what is downloaded). */
  readonly listsEveryModel: boolean;
}

const FLAVOURS: Readonly<Record<OpenAiFlavour, FlavourTraits>> = {
  lmstudio: { backend: 'lm studio', defaultUrl: LMSTUDIO_DEFAULT_URL, api: '/v1', pastedApiPath: /\/v1$/, logprobs: 1, listsEveryModel: true },
  // mlx_lm.server lists its cache, which may name the served model differently (a path).
  mlx: { backend: 'mlx', defaultUrl: MLX_DEFAULT_URL, api: '/v1', pastedApiPath: /\/v1$/, logprobs: true, listsEveryModel: false },
  lemonade: {
    backend: 'lemonade',
    defaultUrl: LEMONADE_DEFAULT_URL,
    api: '/api/v1',
    pastedApiPath: /(?:\/api)?\/v1$/,
    logprobs: null,
    listsEveryModel: true,
  },
};

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
  if (flavour === 'lemonade') {
    return {
      product: 'Lemonade Server',
      startCommand: `lemonade-server serve --port ${port ?? 8000}`,
      modelHint: (m) => `download it with \`lemonade-server pull ${m}\``,
    };
  }
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
  private readonly traits: FlavourTraits;
  private readonly model: string;
  private readonly fim: FimRenderer | null;
  /** The loaded context length as info() last found it (LM Studio, Lemonade); mlx_lm.server never says (null). */
  private contextTokens: number | null = null;

  constructor(options: OpenAiCompatibleOptions) {
    this.flavour = options.flavour;
    this.traits = FLAVOURS[options.flavour];
    this.model = options.model;
    this.fim = resolveFimRenderer(options.fimTemplate, options.model);
    const url = (options.url || this.traits.defaultUrl).replace(/\/+$/, '').replace(this.traits.pastedApiPath, '');
    this.client = new HttpClient({ ...connectionOptions(options), baseUrl: url, profile: openAiProfile(options.flavour, url, options.model) });
  }

  async generate(request: GenerateRequest, options: GenerateOptions = {}): Promise<GenerateResult> {
    const stop = request.stop ?? [];
    const { api, backend, logprobs } = this.traits;
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
    const same = { client: this.client, maxTokens: request.maxTokens, options, backend, model: this.model, contextTokens: this.contextTokens };
    if (request.kind === 'chat') {
      const messages = request.messages.map((m) => ({ role: m.role, content: m.content }));
      return generateOpenAiStyle({
        ...same,
        path: `${api}/chat/completions`,
        body: { ...common, messages, ...(logprobs === null ? {} : { logprobs: true }) },
        stop,
        usedFim: false,
      });
    }
    const fim = request.kind === 'fim' && this.fim ? this.fim(request) : null;
    const prompt = request.kind === 'completion' ? request.prompt : fim ? fim.prompt : request.prefix;
    return generateOpenAiStyle({
      ...same,
      path: `${api}/completions`,
      body: { ...common, prompt, ...(logprobs === null ? {} : { logprobs }) },
      stop: fim ? [...stop, ...fim.stop] : stop,
      usedFim: fim !== null,
    });
  }

  async info(): Promise<BackendInfo> {
    let entries: JsonObject[];
    try {
      entries = asArray(asObject(await this.client.json(`${this.traits.api}/models`))?.data)
        .map(asObject)
        .filter((d): d is JsonObject => d !== undefined && asString(d.id) !== '');
    } catch (e) {
      throw this.client.toEngineError(e, this.model);
    }
    const entry = entries.find((d) => d.id === this.model);
    if (this.traits.listsEveryModel && entries.length > 0 && !entry) throw modelNotFound(this.client.failure, this.model);
    const contextSize = this.flavour === 'lmstudio' ? await this.lmStudioContext() : contextTokensOf(entry?.context_length);
    this.contextTokens = contextTokensOf(contextSize) ?? this.contextTokens;
    const recipe = this.flavour === 'lemonade' ? asString(entry?.recipe) : '';
    return {
      backend: this.traits.backend,
      model: this.model,
      devices: [],
      vramBytes: null,
      threads: null,
      fimSupported: this.fim !== null,
      contextSize,
      ...(recipe ? { recipe } : {}),
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
