// llama.cpp's llama-server as an inference backend. Protocol per llama.cpp tools/server/README.md:
// - /infill takes input_prefix / input_suffix (and optional input_extra [{filename, text}]) and builds the prompt
//   with the model's FIM tokens; a model without them gets 501 "Infill is not supported by this model", and we then
//   complete the prefix with /completion instead (usedFim: false).
// - /completion and /infill stream server-sent events `data: {...}`: each with `content` (one token) and, when
//   n_probs > 0, `completion_probabilities` [{token, logprob, top_logprobs}] (older builds: {content, probs:
//   [{tok_str, prob}]}); the last has stop=true, stop_type ("eos" | "limit" | "word"), `timings` (prompt_n, cache_n,
//   predicted_n, predicted_per_second, ...), tokens_evaluated (prompt size) and tokens_cached. No [DONE] here.
// - cache_prompt reuses the slot's KV cache for the common prefix; id_slot pins a request to a slot.
// - Chat goes through the OpenAI-compatible /v1/chat/completions, which also reports `timings`.
// - jsonSchema: /completion takes `json_schema` (compiled to a grammar by the server), /v1/chat/completions the
//   OpenAI `response_format`; fim requests cannot have one, so /infill never does.
// - /health answers 503 {"error": {"message": "Loading model"}} while the model loads; /props has n_ctx and the
//   model path.
import {
  wantsConfidence,
  type BackendInfo,
  type GenerateOptions,
  type GenerateRequest,
  type GenerateResult,
  type InferenceBackend,
  type StopReason,
} from '../types';
import {
  asArray,
  asNumber,
  asObject,
  asString,
  connectionOptions,
  contextTokensOf,
  HttpClient,
  HttpStatusError,
  outcomeStopReason,
  runStream,
  urlPort,
  type JsonObject,
  type ServerConnectionOptions,
  type ServerProfile,
  type ServerStats,
} from './http';
import { requestJsonSchema } from '../jsonSchema';
import { detectFimFamily, generateOpenAiStyle, responseFormat } from './openaiCompatible';

export const LLAMA_SERVER_DEFAULT_URL = 'http://127.0.0.1:8080';

/** Extra context for /infill: other files placed before the FIM prefix (repo-level FIM when the model has it). */
export interface InfillChunk {
  readonly filename: string;
  readonly text: string;
}

/** apiKey: for servers started with --api-key. */
export interface LlamaServerOptions extends ServerConnectionOptions {
  readonly url?: string;
  /** Sent as `model` (the router mode picks by it); single-model servers ignore it. */
  readonly model?: string;
  /** Pin requests to one slot, so its KV cache keeps this client's prefix (default: any idle slot). */
  readonly slotId?: number;
  /** Supplies input_extra for each FIM request (e.g. snippets of open files). */
  readonly infillContext?: (request: GenerateRequest) => readonly InfillChunk[];
}

export function llamaServerProfile(url: string): ServerProfile {
  const port = urlPort(url);
  const portFlag = port === null ? '' : ` --port ${port}`;
  return {
    product: 'llama-server',
    startCommand: `llama-server -m <model.gguf>${portFlag}`,
    modelHint: (m) => `start llama-server with it: \`llama-server -m ${m}${portFlag}\``,
    listen: `start it listening on the network (\`llama-server -m <model.gguf> --host 0.0.0.0 --port ${port ?? 80}\`)`,
  };
}

export class LlamaServerBackend implements InferenceBackend {
  private readonly client: HttpClient;
  private readonly model: string;
  /** Learned from the server: whether /infill works for its model (null until a FIM request tells). */
  private infill: boolean | null = null;
  /** The slot context size, from info()'s /props or an answer that states it (older builds); null until then. */
  private contextTokens: number | null = null;

  constructor(private readonly options: LlamaServerOptions = {}) {
    const url = (options.url || LLAMA_SERVER_DEFAULT_URL).replace(/\/+$/, '').replace(/\/v1$/, '');
    this.model = options.model ?? '';
    this.client = new HttpClient({ ...connectionOptions(options), baseUrl: url, profile: llamaServerProfile(url) });
  }

  async generate(request: GenerateRequest, options: GenerateOptions = {}): Promise<GenerateResult> {
    const schema = requestJsonSchema(request); // a bad-request (e.g. on fim) before anything is sent
    if (request.kind === 'chat') {
      const stop = request.stop ?? [];
      const body: Record<string, unknown> = {
        messages: request.messages.map((m) => ({ role: m.role, content: m.content })),
        max_tokens: request.maxTokens,
        temperature: request.temperature ?? 0,
        stream: true,
        stream_options: { include_usage: true },
        logprobs: true,
        cache_prompt: true,
      };
      if (this.model) body.model = this.model;
      if (stop.length > 0) body.stop = stop;
      if (this.options.slotId !== undefined) body.id_slot = this.options.slotId;
      if (schema) body.response_format = responseFormat(schema);
      return generateOpenAiStyle({
        client: this.client,
        path: '/v1/chat/completions',
        body,
        stop,
        maxTokens: request.maxTokens,
        options,
        usedFim: false,
        backend: 'llama-server',
        model: this.model,
        contextTokens: this.contextTokens,
      });
    }
    const fim = request.kind === 'fim' && this.infill !== false;
    try {
      try {
        const result = await this.stream(request, fim, options);
        if (fim) this.infill = true;
        return result;
      } catch (e) {
        if (!fim || !isInfillUnsupported(e)) throw e;
        this.infill = false;
        return await this.stream(request, false, options);
      }
    } catch (e) {
      throw this.client.toEngineError(e, this.model);
    }
  }

  async info(): Promise<BackendInfo> {
    try {
      // 503 while the model loads: mapped to "still loading the model".
      await this.client.json('/health');
      const props = asObject(await this.client.json('/props')) ?? {};
      const settings = asObject(props.default_generation_settings);
      const modelPath = asString(props.model_path);
      const name = modelPath.split(/[\\/]/).pop() || this.model;
      const contextSize = asNumber(settings?.n_ctx) ?? asNumber(props.n_ctx) ?? null;
      this.contextTokens = contextTokensOf(contextSize) ?? this.contextTokens;
      return {
        backend: 'llama-server',
        model: name,
        devices: [],
        vramBytes: null,
        threads: null,
        fimSupported: this.infill ?? detectFimFamily(modelPath || this.model) !== null,
        contextSize,
      };
    } catch (e) {
      throw this.client.toEngineError(e, this.model);
    }
  }

  async dispose(): Promise<void> {
    await this.client.close();
  }

  private async stream(request: Exclude<GenerateRequest, { kind: 'chat' }>, fim: boolean, options: GenerateOptions): Promise<GenerateResult> {
    const stop = request.stop ?? [];
    const generation = this.client.generation(request.maxTokens, stop, options.onText);
    const body: Record<string, unknown> = {
      n_predict: request.maxTokens,
      temperature: request.temperature ?? 0,
      stream: true,
      cache_prompt: true,
    };
    if (wantsConfidence(request)) body.n_probs = 1; // the chosen token's log-probability
    if (this.model) body.model = this.model;
    if (stop.length > 0) body.stop = stop;
    if (this.options.slotId !== undefined) body.id_slot = this.options.slotId;
    const schema = requestJsonSchema(request);
    if (schema) body.json_schema = schema;
    if (request.kind === 'fim' && fim) {
      body.input_prefix = request.prefix;
      body.input_suffix = request.suffix;
      const extra = this.options.infillContext?.(request) ?? [];
      if (extra.length > 0) body.input_extra = extra.map((c) => ({ filename: c.filename, text: c.text }));
    } else {
      body.prompt = request.kind === 'fim' ? request.prefix : request.prompt;
    }
    let final: JsonObject | undefined;
    const outcome = await runStream(
      this.client,
      {
        path: request.kind === 'fim' && fim ? '/infill' : '/completion',
        body,
        format: 'sse',
        maxTokens: request.maxTokens,
        onMessage: (m) => {
          if (m.done) return 'end';
          const v = m.value;
          generation.addText(asString(v.content));
          generation.addLogProbs(llamaLogProbs(v.completion_probabilities));
          if (v.stop !== true) return 'more';
          final = v;
          return 'end';
        },
      },
      generation,
      options.signal,
    );
    const stopReason: StopReason = outcomeStopReason(outcome) ?? stopReasonOf(final);
    // Older builds echo the slot's settings, n_ctx among them, in the last message; newer ones leave it to /props.
    this.contextTokens = contextTokensOf(asObject(final?.generation_settings)?.n_ctx) ?? this.contextTokens;
    return generation.finish(
      { stopReason, usedFim: request.kind === 'fim' && fim, backend: 'llama-server', model: this.model, contextTokens: this.contextTokens },
      statsOf(final),
    );
  }
}

function isInfillUnsupported(e: unknown): boolean {
  return e instanceof HttpStatusError && (e.status === 501 || (e.status >= 400 && e.status < 500 && /infill|not supported/i.test(e.serverMessage)));
}

/** Chosen-token log-probabilities from either completion_probabilities shape. */
export function llamaLogProbs(v: unknown): number[] {
  const out: number[] = [];
  for (const item of asArray(v).map(asObject)) {
    if (!item) continue;
    const logprob = asNumber(item.logprob);
    if (logprob !== undefined) {
      out.push(logprob);
      continue;
    }
    // Older builds: probabilities of the top tokens, the chosen one named by `content`.
    const chosen = asArray(item.probs)
      .map(asObject)
      .find((p) => asString(p?.tok_str) === asString(item.content));
    const prob = asNumber(chosen?.prob);
    if (prob !== undefined && prob > 0) out.push(Math.log(prob));
  }
  return out;
}

function stopReasonOf(final: JsonObject | undefined): StopReason {
  const type = asString(final?.stop_type);
  if (type === 'limit' || final?.stopped_limit === true) return 'maxTokens';
  if (type === 'word' || final?.stopped_word === true) return 'stop';
  return 'eos';
}

function statsOf(final: JsonObject | undefined): ServerStats {
  if (!final) return {};
  const timings = asObject(final.timings);
  const promptN = asNumber(timings?.prompt_n);
  const cacheN = asNumber(timings?.cache_n);
  const predictedN = asNumber(timings?.predicted_n);
  const predictedMs = asNumber(timings?.predicted_ms);
  return {
    promptTokens: asNumber(final.tokens_evaluated) ?? (promptN !== undefined ? promptN + (cacheN ?? 0) : undefined),
    evaluatedTokens: promptN ?? null,
    generatedTokens: predictedN,
    tokensPerSecond:
      asNumber(timings?.predicted_per_second) ??
      (predictedN !== undefined && predictedMs !== undefined && predictedMs > 0 ? predictedN / (predictedMs / 1000) : undefined),
  };
}
