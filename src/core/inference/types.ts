// The inference interface every local backend implements: node-llama-cpp in the engine worker, and HTTP servers
// (Ollama, LM Studio / MLX / Lemonade via the OpenAI-compatible API, llama-server). Plain data only, so requests and
// results cross the IPC boundary unchanged.

export interface ChatMessage {
  readonly role: 'system' | 'user' | 'assistant';
  readonly content: string;
}

interface RequestCommon {
  /** Upper bound on generated tokens; 0 evaluates the prompt only (a KV-cache warm-up) and returns no text. */
  readonly maxTokens: number;
  /** 0 (the default) is greedy decoding. */
  readonly temperature?: number;
  /** Generation stops before any of these strings; the stop string is not part of the text. */
  readonly stop?: readonly string[];
  /**
   * Key of the KV-cache sequence to use, e.g. a document URI: requests with the same key reuse the evaluated
   * prefix. Omitted: a scratch sequence.
   */
  readonly sessionKey?: string;
  /** Also compute the mean entropy of the next-token distributions (costs a full-vocabulary pass per token). */
  readonly entropy?: boolean;
  /**
   * Compute the chosen tokens' mean log-probability (GenerateConfidence.meanLogProb). Default: yes for chat and
   * completion requests (a cascade's draft is judged by it), no for fim (inline completions never read it, and in
   * llama.cpp it costs a sort of the whole vocabulary per token: 151,936 entries for Qwen2.5-Coder).
   */
  readonly confidence?: boolean;
  /**
   * Constrain the output to JSON matching this schema (plain JSON data): a GBNF grammar in llama.cpp, the server's
   * structured-output option elsewhere (Ollama `format`, OpenAI-style `response_format`, llama-server
   * `json_schema`). The text returned is then the JSON alone; stopReason 'eos' means it is complete, 'maxTokens'
   * that it was cut off. Chat and completion requests only (a fim request with it is a 'bad-request').
   * The subset that works everywhere is node-llama-cpp's `GbnfJsonSchema` (src/engine/jsonSchema.ts): type
   * string (minLength/maxLength, format date/time/date-time), number, integer, boolean, null, object (every listed
   * property is required, in order; additionalProperties defaults to false), array (items, prefixItems,
   * minItems/maxItems), enum, const, oneOf, $ref into $defs. The local engine refuses anything else as
   * 'bad-request'. Bound free text with maxLength, and prefer enum to numbers: a small model can ramble inside a
   * string, or a number's digits, until maxTokens.
   */
  readonly jsonSchema?: object;
}

/** A chunk of another file given to the model as context (recently edited/visited/saved code, the clipboard). */
export interface ContextChunk {
  /** Workspace-relative path (or a label such as "clipboard"). */
  readonly path: string;
  readonly text: string;
}

/** Fill-in-the-middle: uses the model's FIM tokens when it has them, else completes the prefix. */
export interface FimRequest extends RequestCommon {
  readonly kind: 'fim';
  readonly prefix: string;
  readonly suffix: string;
  /** Path of the file being edited, for repository-level layouts (`<|file_sep|>path`). */
  readonly filePath?: string;
  /** Repository name for `<|repo_name|>`. */
  readonly repoName?: string;
  /** Other files' chunks, placed before the file when the model has repository-level tokens. */
  readonly extra?: readonly ContextChunk[];
}

export interface CompletionRequest extends RequestCommon {
  readonly kind: 'completion';
  readonly prompt: string;
}

/** Chat, formatted with the model's own chat template. */
export interface ChatRequest extends RequestCommon {
  readonly kind: 'chat';
  readonly messages: readonly ChatMessage[];
}

export type GenerateRequest = FimRequest | CompletionRequest | ChatRequest;

/** Whether a request wants meanLogProb (see RequestCommon.confidence). */
export function wantsConfidence(request: GenerateRequest): boolean {
  return request.confidence ?? request.kind !== 'fim';
}

export type StopReason = 'eos' | 'maxTokens' | 'stop' | 'abort';

export interface GenerateTiming {
  /** Tokens in the prompt as sent to the model. */
  readonly promptTokens: number;
  /** Prompt tokens actually evaluated (the rest came from the KV cache); null when the backend does not say. */
  readonly evaluatedTokens: number | null;
  readonly generatedTokens: number;
  /** From the request's start to the first generated token (the whole call when nothing was generated). */
  readonly ttftMs: number;
  readonly totalMs: number;
  /** Generated tokens per second over the decode phase (after the first token). */
  readonly tokensPerSecond: number;
  /**
   * CPU package energy measured by RAPL over this request, J, when the counters are readable and no other request
   * overlapped it (the counter covers the whole package, so overlapping requests cannot be told apart).
   */
  readonly packageJoules?: number;
}

export interface GenerateConfidence {
  /** Mean natural-log probability of the chosen tokens; null when the backend gives no probabilities. */
  readonly meanLogProb: number | null;
  /** Mean entropy (nats) of the next-token distributions; null when unavailable. */
  readonly meanEntropy: number | null;
}

export interface GenerateResult {
  readonly text: string;
  readonly stopReason: StopReason;
  /** True when the prompt was built with the model's FIM tokens (fim requests only). */
  readonly usedFim: boolean;
  /** Which backend answered, e.g. "llama.cpp (vulkan)", "ollama". */
  readonly backend: string;
  readonly model: string;
  /**
   * The context size the model ran this request with, tokens (llama.cpp: per KV sequence, as BackendInfo.contextSize
   * says), so a caller learns it from any answer without asking for the engine's status; null when the backend does
   * not know it (a server that has not said).
   */
  readonly contextTokens: number | null;
  readonly timing: GenerateTiming;
  readonly confidence: GenerateConfidence;
}

/**
 * Who waits on a request: 'interactive' (the default: a completion, a task run now) or 'background' (a deferred job,
 * a warm-up). Verdant's own engine may run background work at low priority (verdant.local.efficiencyMode); local
 * servers are other programs and ignore it.
 */
export type WorkPurpose = 'interactive' | 'background';

export interface GenerateOptions {
  /** Aborting stops generation within one decode step; the promise then resolves with stopReason 'abort'. */
  readonly signal?: AbortSignal;
  /** Called with each new piece of text as it is generated. */
  readonly onText?: (text: string) => void;
  readonly purpose?: WorkPurpose;
}

export interface BackendInfo {
  readonly backend: string;
  readonly model: string;
  /** GPU device names in use; empty on the CPU. */
  readonly devices: readonly string[];
  readonly vramBytes: number | null;
  readonly threads: number | null;
  readonly fimSupported: boolean;
  readonly contextSize: number | null;
  /** Lemonade Server's recipe for the model (llamacpp, flm, ryzenai-llm, …): which runtime, so which device, runs it. */
  readonly recipe?: string;
}

export interface InferenceBackend {
  generate(request: GenerateRequest, options?: GenerateOptions): Promise<GenerateResult>;
  info(): Promise<BackendInfo>;
  dispose(): Promise<void>;
}
