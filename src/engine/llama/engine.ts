// The in-process llama.cpp engine (runs inside the engine worker, or the CLI): validates the model file, refuses a
// model that cannot fit in memory before loading it, picks the backend, loads, warms up, and serves requests on a
// pool of KV-cache sequences.
import * as os from 'node:os';
import * as path from 'node:path';
import type { GpuChoice } from '../../core/settings';
import { EngineError } from '../errors';
import { estimateMemory, readGguf } from '../gguf';
import type { BackendInfo, ContextChunk, GenerateOptions, GenerateRequest, GenerateResult, InferenceBackend } from '../types';
import { selectBackend, type SelectedBackend } from './backend';
import { importLlama, type GbnfJsonSchema, type LlamaContext, type LlamaGrammar, type LlamaModel, type LlamaModule } from './binding';
import { requestJsonSchema, unsupportedJsonSchema } from '../jsonSchema';
import { RaplMeter, type RaplDeps } from '../../core/carbon/energy/rapl';
import { decode, type JsonConstraint } from './decode';
import { buildPrompt, fimSupported, LineTokenCache } from './prompt';
import { SequencePool } from './sequencePool';
import { errorMessage } from '../../core/errors';

export interface ModelConfig {
  readonly modelPath: string;
  readonly gpu: GpuChoice;
  /** 0 = automatic. */
  readonly threads: number;
  /** Tokens per sequence; 0 = min(the model's training context, 4096). */
  readonly contextSize?: number;
  /** KV-cache sequences (open documents served without re-evaluating their prefix). */
  readonly sequences?: number;
  /**
   * Tokens per llama_decode call (node-llama-cpp sets n_batch = n_ubatch to it); 0 or absent = node-llama-cpp's default,
   * min(context x sequences, 512). Not a user setting: bench/peers.ts sets it to compare kernels at the same batch (#20).
   */
  readonly batchSize?: number;
}

export interface EngineDeps {
  readonly log?: (message: string) => void;
  /** Bytes of memory the model may use; defaults to what the OS reports as available. */
  readonly availableMemory?: () => number;
  readonly importLlama?: () => Promise<LlamaModule>;
  readonly platform?: NodeJS.Platform;
  /** Where to read RAPL energy counters (tests point this at a fake sysfs); measured only when readable. */
  readonly rapl?: RaplDeps;
}

export interface LoadStats {
  readonly loadMs: number;
  readonly warmupMs: number;
  /** The memory the fit check estimated before loading (weights and KV cache), bytes. */
  readonly memoryBytes: number;
}

const DEFAULT_CONTEXT = 4096;
const DEFAULT_SEQUENCES = 4;
/** Compiled grammars kept per engine, keyed by the schema's JSON text (the least recently used goes first). */
const GRAMMAR_CACHE_SIZE = 16;

export function sameConfig(a: ModelConfig, b: ModelConfig): boolean {
  return (
    a.modelPath === b.modelPath &&
    a.gpu === b.gpu &&
    a.threads === b.threads &&
    (a.contextSize ?? 0) === (b.contextSize ?? 0) &&
    (a.sequences ?? 0) === (b.sequences ?? 0) &&
    (a.batchSize ?? 0) === (b.batchSize ?? 0)
  );
}

interface ActiveRequest {
  overlapped: boolean;
}

/** The context a config gets and the memory that takes, from the model file (before loading anything). */
async function plan(config: ModelConfig) {
  const gguf = await readGguf(config.modelPath); // throws model-not-found / model-invalid with the fix
  const trainContext = gguf.contextLength ?? DEFAULT_CONTEXT;
  const contextSize = config.contextSize && config.contextSize > 0 ? config.contextSize : Math.min(trainContext, DEFAULT_CONTEXT);
  const sequences = config.sequences && config.sequences > 0 ? config.sequences : DEFAULT_SEQUENCES;
  return { gguf, contextSize, sequences, need: estimateMemory(gguf, contextSize * sequences) };
}

/** Bytes of memory the model of config would take loaded (weights and KV cache), read from its file. */
export async function memoryNeed(config: ModelConfig): Promise<number> {
  return (await plan(config)).need.totalBytes;
}

export class LlamaEngine implements InferenceBackend {
  private disposed = false;
  private readonly active = new Set<ActiveRequest>();
  /** Set after load when RAPL counters are readable in this process. */
  private rapl: RaplDeps | undefined;
  /** JSON-schema grammars by the schema's JSON text, in least-recently-used order (oldest first). */
  private readonly grammars = new Map<string, Promise<LlamaGrammar>>();
  /** The lines above each recent cursor and the suffix after it, tokenized (a few per document typed in). */
  private readonly lineTokens = new LineTokenCache(16);

  private constructor(
    readonly config: ModelConfig,
    private readonly mod: LlamaModule,
    private readonly selected: SelectedBackend,
    private readonly model: LlamaModel,
    private readonly context: LlamaContext,
    private readonly pool: SequencePool,
    readonly stats: LoadStats,
  ) {}

  static async load(config: ModelConfig, deps: EngineDeps = {}): Promise<LlamaEngine> {
    const log = deps.log ?? (() => {});
    const t0 = performance.now();
    const file = path.basename(config.modelPath);
    const { gguf, contextSize, sequences, need } = await plan(config);
    const available = (deps.availableMemory ?? (() => os.freemem()))();
    if (need.totalBytes > available) {
      throw new EngineError(
        'model-too-big',
        `${file} needs about ${gib(need.totalBytes)} of memory (weights ${gib(need.weightsBytes)}, cache ${gib(need.kvCacheBytes)}) but only ${gib(available)} is available; choose a smaller model with "Verdant: Select Local Model", or close other programs.`,
      );
    }

    const mod = await (deps.importLlama ?? importLlama)();
    const selected = await selectBackend(mod, { gpu: config.gpu, threads: config.threads, platform: deps.platform, log });
    let model: LlamaModel | undefined;
    try {
      model = await selected.llama.loadModel({ modelPath: config.modelPath, gpuLayers: selected.backend === 'cpu' ? 0 : 'auto' });
      const context = await model.createContext({
        contextSize,
        sequences,
        threads: selected.threads,
        ...batch(config.batchSize && config.batchSize > 0 ? config.batchSize : cpuBatchSize(selected.backend, gguf.embeddingLength)),
        // Flash attention helps on GPUs; on the CPU decoding is slower with it (see cpuBatchSize).
        flashAttention: selected.backend !== 'cpu',
      });
      const pool = new SequencePool(context, sequences);
      const loadMs = performance.now() - t0;
      const raplDeps = deps.rapl ?? {};
      const rapl = (await new RaplMeter(raplDeps).available()) ? raplDeps : undefined;
      const engine = new LlamaEngine(config, mod, selected, model, context, pool, { loadMs, warmupMs: 0, memoryBytes: need.totalBytes });
      const w0 = performance.now();
      // Warm-up: the first evaluation compiles GPU pipelines and faults in the weights; pay it now, not on a keystroke.
      await engine.generate({ kind: 'completion', prompt: 'The', maxTokens: 1, sessionKey: '\0warmup' });
      const warmupMs = performance.now() - w0;
      log(
        `loaded ${file} on ${selected.backend} (${selected.threads} threads, context ${context.contextSize} x ${sequences}, batch ${context.batchSize}, flash attention ${String(context.flashAttention)}) in ${loadMs.toFixed(0)} ms, warm-up ${warmupMs.toFixed(0)} ms${rapl ? ', RAPL energy counters readable' : ''}`,
      );
      const ready = new LlamaEngine(config, mod, selected, model, context, pool, { loadMs, warmupMs, memoryBytes: need.totalBytes });
      ready.rapl = rapl;
      return ready;
    } catch (e) {
      await model?.dispose().catch(() => {});
      await selected.llama.dispose().catch(() => {});
      if (e instanceof EngineError) throw e;
      throw new EngineError(
        'model-load-failed',
        `llama.cpp could not load ${file} (${firstLine(e)}); check the file, or choose another model with "Verdant: Select Local Model".`,
        { cause: e },
      );
    }
  }

  async generate(request: GenerateRequest, options: GenerateOptions = {}): Promise<GenerateResult> {
    if (this.disposed) throw new EngineError('worker-unavailable', 'The local model was unloaded; try again.');
    validateRequest(request);
    const prompt = buildPrompt(this.mod, this.model, request, this.context.contextSize, this.lineTokens);
    const schema = requestJsonSchema(request);
    const constraint = schema ? await this.jsonConstraint(schema) : undefined;
    // Requests running at the same time share the package counter: none of them gets a measurement.
    const me: ActiveRequest = { overlapped: this.active.size > 0 };
    for (const other of this.active) other.overlapped = true;
    this.active.add(me);
    const meter = this.rapl ? new RaplMeter(this.rapl) : undefined;
    let outcome;
    let measurement;
    try {
      await meter?.start();
      outcome = await this.pool.run(request.sessionKey ?? '\0scratch', (sequence) =>
        decode(sequence, this.model, prompt, request, options, constraint),
      );
      measurement = await meter?.stop();
    } finally {
      this.active.delete(me);
    }
    const packageJoules = measurement && !me.overlapped ? measurement.joules : undefined;
    return {
      text: outcome.text,
      stopReason: outcome.stopReason,
      usedFim: prompt.usedFim,
      backend: `llama.cpp (${this.selected.backend})`,
      model: path.basename(this.config.modelPath),
      contextTokens: this.context.contextSize,
      timing: {
        promptTokens: outcome.promptTokens,
        evaluatedTokens: outcome.evaluatedTokens,
        generatedTokens: outcome.generatedTokens,
        ttftMs: outcome.ttftMs,
        totalMs: outcome.totalMs,
        tokensPerSecond: outcome.tokensPerSecond,
        ...(packageJoules !== undefined ? { packageJoules } : {}),
      },
      confidence: { meanLogProb: outcome.meanLogProb, meanEntropy: outcome.meanEntropy },
    };
  }

  /**
   * The grammar for a schema (compiled once, cached) with a fresh evaluation state for this request: the state
   * tracks how far the JSON has got, so it is never shared. The grammar only masks what may be sampled; the
   * prompt and the KV cache are untouched, so prefix reuse works as without it.
   */
  private async jsonConstraint(schema: object): Promise<JsonConstraint> {
    const key = JSON.stringify(schema);
    let grammar = this.grammars.get(key);
    if (grammar) {
      this.grammars.delete(key); // re-inserted below as the most recently used
    } else {
      const created = this.selected.llama.createGrammarForJsonSchema<GbnfJsonSchema>(schema as GbnfJsonSchema).catch((e: unknown) => {
        if (this.grammars.get(key) === created) this.grammars.delete(key); // a failure is not remembered
        throw new EngineError(
          'bad-request',
          `llama.cpp could not turn the JSON schema into a grammar (${firstLine(e)}); remove control characters such as NUL from its names and values, and keep to node-llama-cpp's JSON schema subset.`,
          { cause: e },
        );
      });
      grammar = created;
    }
    this.grammars.set(key, grammar);
    while (this.grammars.size > GRAMMAR_CACHE_SIZE) this.grammars.delete(this.grammars.keys().next().value!);
    const compiled = await grammar;
    return {
      state: new this.mod.LlamaGrammarEvaluationState({ model: this.model, grammar: compiled }),
      ends: compiled.stopGenerationTriggers.map(triggerText).filter((t) => t.length > 0),
      trimWhitespace: compiled.trimWhitespaceSuffix,
    };
  }

  /** How many compiled JSON-schema grammars are cached (tests). */
  get grammarCacheSize(): number {
    return this.grammars.size;
  }

  async info(): Promise<BackendInfo> {
    return {
      backend: `llama.cpp (${this.selected.backend})`,
      model: path.basename(this.config.modelPath),
      devices: this.selected.devices,
      vramBytes: this.selected.vramBytes,
      threads: this.selected.threads,
      fimSupported: fimSupported(this.model),
      contextSize: this.context.contextSize,
    };
  }

  get poolStats() {
    return { ...this.pool.stats, meteredInputTokens: this.pool.meteredInputTokens };
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.context.dispose().catch(() => {});
    await this.model.dispose().catch(() => {});
    await this.selected.llama.dispose().catch(() => {});
  }
}

/**
 * The batch (node-llama-cpp's n_batch = n_ubatch) for a model on a backend: on the CPU, 128 for models up to 1024
 * wide (Qwen2.5-Coder 0.5B: prompts evaluate ~17% faster than at 512, decoding no slower), else node-llama-cpp's
 * default (512; on the 1.5B, 128 decodes no faster). bench/results/kernels.json has the measurements. Flash attention
 * stays off on the CPU: on the 1.5B it evaluates prompts ~9% faster but decodes ~10% slower, and a keystroke waits
 * on decoding; on the test model's 8-wide heads it is three times slower.
 */
const batch = (batchSize: number | undefined) => (batchSize ? { batchSize } : {});

export function cpuBatchSize(backend: SelectedBackend['backend'], embeddingLength: number | null): number | undefined {
  return backend === 'cpu' && embeddingLength !== null && embeddingLength <= 1024 ? 128 : undefined;
}

export function validateRequest(request: GenerateRequest): void {
  const bad = (why: string) => new EngineError('bad-request', why);
  if (!Number.isInteger(request.maxTokens) || request.maxTokens < 0 || request.maxTokens > 32768)
    throw bad(`maxTokens must be a whole number from 0 to 32768, not ${request.maxTokens}.`);
  if (request.temperature !== undefined && !(request.temperature >= 0 && request.temperature <= 2))
    throw bad(`temperature must be from 0 to 2, not ${request.temperature}.`);
  if (request.kind === 'fim') {
    if (typeof request.prefix !== 'string' || typeof request.suffix !== 'string') throw bad('a fim request needs prefix and suffix text.');
    if (!optionalString(request.filePath) || !optionalString(request.repoName)) throw bad('filePath and repoName must be text when given.');
    if (request.extra !== undefined && !(Array.isArray(request.extra) && request.extra.every(isChunk)))
      throw bad('extra must be a list of { path, text } chunks.');
  }
  if (request.kind === 'completion' && typeof request.prompt !== 'string') throw bad('a completion request needs prompt text.');
  if (request.kind === 'chat' && (!Array.isArray(request.messages) || request.messages.length === 0))
    throw bad('a chat request needs at least one message.');
  const schema = requestJsonSchema(request); // fim, not an object, too big
  const unsupported = schema && unsupportedJsonSchema(schema);
  if (unsupported) throw bad(unsupported);
}

function isReadonlyArray(v: unknown): v is readonly unknown[] {
  return Array.isArray(v);
}

/** A grammar's stop trigger as text ('' when it holds a token). */
function triggerText(trigger: LlamaGrammar['stopGenerationTriggers'][number]): string {
  const values: readonly unknown[] = typeof trigger === 'string' ? [trigger] : isReadonlyArray(trigger) ? trigger : trigger.values;
  return values.every((v) => typeof v === 'string') ? values.join('') : '';
}

function optionalString(v: unknown): boolean {
  return v === undefined || typeof v === 'string';
}

function isChunk(v: unknown): boolean {
  return typeof v === 'object' && v !== null && typeof (v as ContextChunk).path === 'string' && typeof (v as ContextChunk).text === 'string';
}

function gib(bytes: number): string {
  return bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(1)} GB` : `${Math.max(1, Math.round(bytes / 2 ** 20))} MB`;
}

function firstLine(e: unknown): string {
  return errorMessage(e).split('\n')[0]!.slice(0, 200);
}
