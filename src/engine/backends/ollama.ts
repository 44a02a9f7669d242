// Ollama as an inference backend: /api/generate (NDJSON stream) for FIM and plain completion, /api/chat for chat,
// /api/show and /api/ps for info(). Protocol per ollama/docs/api.md and server/routes.go:
// - FIM sends `suffix` with raw=false: Ollama renders the model's own template with .Prompt/.Suffix (and answers
//   400 "... does not support insert" for a model without that capability; we then complete the prefix instead).
// - Plain completion sends raw=true so no chat template wraps the prompt.
// - jsonSchema goes as `format` (Ollama 0.5+ takes a JSON schema there and constrains sampling with it).
// - The last line has done=true, done_reason ("stop" | "length"), prompt_eval_count, eval_count and the
//   *_duration fields in nanoseconds; errors after the stream started arrive as a {"error": "..."} line.
import { requestJsonSchema } from '../jsonSchema';
import type { BackendInfo, ChatRequest, GenerateOptions, GenerateRequest, GenerateResult, InferenceBackend, StopReason } from '../types';
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

export const OLLAMA_DEFAULT_URL = 'http://127.0.0.1:11434';

/** apiKey: for an Ollama behind an authenticating proxy. */
export interface OllamaBackendOptions extends ServerConnectionOptions {
  /** Base URL of the server (default http://127.0.0.1:11434). */
  readonly url?: string;
  /** Model name as Ollama knows it, e.g. "qwen2.5-coder:1.5b-base". */
  readonly model: string;
}

export function ollamaProfile(url: string): ServerProfile {
  const port = urlPort(url);
  // `ollama serve` listens on 11434 unless OLLAMA_HOST says otherwise.
  const start = port === null || port === 11434 ? 'ollama serve' : `OLLAMA_HOST=127.0.0.1:${port} ollama serve`;
  return {
    product: 'Ollama',
    startCommand: start,
    modelHint: (m) => `get it with \`ollama pull ${m}\``,
    listen: `start it listening on the network (\`OLLAMA_HOST=0.0.0.0:${port ?? 80} ollama serve\`, or OLLAMA_HOST in the Ollama app's environment)`,
  };
}

export class OllamaBackend implements InferenceBackend {
  private readonly client: HttpClient;
  private readonly model: string;
  /** Learned from a 400 on a FIM request: this model has no insert capability, so FIM completes the prefix. */
  private insertUnsupported = false;
  /** The context size info() last found; the stream never says it, so results carry this (null before info()). */
  private contextTokens: number | null = null;

  constructor(options: OllamaBackendOptions) {
    const url = options.url || OLLAMA_DEFAULT_URL;
    this.model = options.model;
    this.client = new HttpClient({ ...connectionOptions(options), baseUrl: url, profile: ollamaProfile(url) });
  }

  async generate(request: GenerateRequest, options: GenerateOptions = {}): Promise<GenerateResult> {
    requestJsonSchema(request); // a bad-request before anything is sent
    const fim = request.kind === 'fim' && request.suffix !== '' && !this.insertUnsupported;
    try {
      try {
        return await this.stream(request, fim, options);
      } catch (e) {
        if (!fim || !(e instanceof HttpStatusError) || e.status !== 400 || !/insert/i.test(e.serverMessage)) throw e;
        this.insertUnsupported = true;
        return await this.stream(request, false, options);
      }
    } catch (e) {
      throw this.client.toEngineError(e, this.model);
    }
  }

  async info(): Promise<BackendInfo> {
    try {
      const show = asObject(await this.client.json('/api/show', { model: this.model })) ?? {};
      const running = await this.runningEntry();
      const params = parseParameters(asString(show.parameters));
      const capabilities = asArray(show.capabilities).map(asString);
      const sizeVram = asNumber(running?.size_vram);
      // What the loaded runner uses, else the Modelfile's num_ctx; the training length would overstate it.
      const contextSize = asNumber(running?.context_length) ?? params.get('num_ctx') ?? null;
      this.contextTokens = contextTokensOf(contextSize) ?? this.contextTokens;
      return {
        backend: 'ollama',
        model: this.model,
        devices: sizeVram !== undefined && sizeVram > 0 ? ['gpu'] : [],
        vramBytes: sizeVram ?? null,
        threads: params.get('num_thread') ?? null,
        // Older servers list no capabilities; their templates show FIM support by using .Suffix.
        fimSupported: capabilities.length > 0 ? capabilities.includes('insert') : asString(show.template).includes('.Suffix'),
        contextSize,
      };
    } catch (e) {
      throw this.client.toEngineError(e, this.model);
    }
  }

  async dispose(): Promise<void> {
    await this.client.close();
  }

  private async runningEntry(): Promise<JsonObject | undefined> {
    let ps: unknown;
    try {
      ps = await this.client.json('/api/ps');
    } catch {
      return undefined; // /api/ps is only a refinement; older servers lack it
    }
    const names = new Set([this.model, this.model.includes(':') ? this.model : `${this.model}:latest`]);
    return asArray(asObject(ps)?.models)
      .map(asObject)
      .find((m): m is JsonObject => m !== undefined && (names.has(asString(m.name)) || names.has(asString(m.model))));
  }

  private async stream(request: GenerateRequest, fim: boolean, options: GenerateOptions): Promise<GenerateResult> {
    const stop = request.stop ?? [];
    const generation = this.client.generation(request.maxTokens, stop, options.onText);
    const chat = request.kind === 'chat';
    const modelOptions: Record<string, unknown> = { num_predict: request.maxTokens, temperature: request.temperature ?? 0 };
    if (stop.length > 0) modelOptions.stop = stop;
    // think=false: a thinking model would otherwise spend the token budget on hidden reasoning.
    const schema = requestJsonSchema(request);
    const common = { model: this.model, stream: true, think: false, logprobs: true, options: modelOptions, ...(schema ? { format: schema } : {}) };
    const body = chat
      ? { ...common, messages: chatMessages(request) }
      : request.kind === 'fim' && fim
        ? { ...common, prompt: request.prefix, suffix: request.suffix }
        : { ...common, prompt: request.kind === 'fim' ? request.prefix : request.prompt, raw: true };
    let final: JsonObject | undefined;
    const outcome = await runStream(
      this.client,
      {
        path: chat ? '/api/chat' : '/api/generate',
        body,
        format: 'ndjson',
        maxTokens: request.maxTokens,
        onMessage: (m) => {
          if (m.done) return 'more'; // NDJSON has no [DONE] sentinel
          const v = m.value;
          generation.addText(chat ? asString(asObject(v.message)?.content) : asString(v.response));
          generation.addLogProbs(
            asArray(v.logprobs)
              .map((p) => asNumber(asObject(p)?.logprob))
              .filter((n): n is number => n !== undefined),
          );
          if (v.done !== true) return 'more';
          final = v;
          return 'end';
        },
      },
      generation,
      options.signal,
    );
    const stopReason: StopReason = outcomeStopReason(outcome) ?? (asString(final?.done_reason) === 'length' ? 'maxTokens' : 'eos');
    return generation.finish({ stopReason, usedFim: fim, backend: 'ollama', model: this.model, contextTokens: this.contextTokens }, statsOf(final));
  }
}

function chatMessages(request: ChatRequest): { role: string; content: string }[] {
  return request.messages.map((m) => ({ role: m.role, content: m.content }));
}

/** Timing from the final message; Ollama's prompt_eval_count excludes cached tokens on some runners, so it is
 * reported as the prompt size and evaluatedTokens stays unknown. */
function statsOf(final: JsonObject | undefined): ServerStats {
  if (!final) return {};
  const evalCount = asNumber(final.eval_count);
  const evalNs = asNumber(final.eval_duration);
  return {
    promptTokens: asNumber(final.prompt_eval_count),
    evaluatedTokens: null,
    generatedTokens: evalCount,
    tokensPerSecond: evalCount !== undefined && evalNs !== undefined && evalNs > 0 ? evalCount / (evalNs / 1e9) : undefined,
  };
}

/** Numeric entries of /api/show's `parameters` text ("num_ctx    8192\nstop ..."). */
function parseParameters(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const [key, value] = line.trim().split(/\s+/, 2);
    const n = Number(value);
    if (key && value !== undefined && Number.isFinite(n)) out.set(key, n);
  }
  return out;
}
