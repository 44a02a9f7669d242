// The models the engine worker holds: one per local role in use (#21: a completion model and a planner model), both
// at once when memory allows, else the least recently used one is unloaded first (a swap, logged and counted). Every
// window shares the worker, so the pool is keyed by the model configuration, not by role. Loads run one at a time,
// and a model is unloaded only once the requests running on it have finished.
import type { ModelConfig } from './llama/engine';
import { sameConfig } from './llama/engine';

/** What the pool needs of an engine (LlamaEngine satisfies it). */
export interface PooledEngine {
  readonly config: ModelConfig;
  dispose(): Promise<void>;
}

export interface EnginePoolOptions<E extends PooledEngine> {
  readonly load: (config: ModelConfig) => Promise<E>;
  /** Bytes the model would take (weights and KV cache), read from its file before loading. */
  readonly need: (config: ModelConfig) => Promise<number>;
  /** Bytes of memory available now. */
  readonly available: () => number;
  /** Most models held at once. */
  readonly max: number;
  readonly log: (message: string) => void;
}

interface Held<E> {
  readonly engine: E;
  lastUsed: number;
  inUse: number;
  /** Resolves when inUse drops to 0 (set while someone waits for that). */
  idle?: () => void;
}

export interface SwapEvent {
  readonly unloaded: string;
  readonly loading: string;
  readonly reason: string;
  readonly at: number;
}

export class EnginePool<E extends PooledEngine> {
  private held: Held<E>[] = [];
  private loading: { config: ModelConfig; promise: Promise<void> } | undefined;
  private tick = 0;
  /** Models unloaded to make room for another, and the latest such swap. */
  swaps = 0;
  lastSwap: SwapEvent | null = null;

  constructor(private readonly options: EnginePoolOptions<E>) {}

  /** Runs fn on the engine for config (loading it, after making room, when needed); it stays loaded meanwhile. */
  async use<T>(config: ModelConfig, fn: (engine: E) => Promise<T>): Promise<T> {
    const held = await this.acquire(config);
    try {
      return await fn(held.engine);
    } finally {
      held.inUse--;
      if (held.inUse === 0) held.idle?.();
    }
  }

  /** The loaded engines, the most recently used first. */
  engines(): E[] {
    return [...this.held].sort((a, b) => b.lastUsed - a.lastUsed).map((h) => h.engine);
  }

  get loadingPath(): string | null {
    return this.loading?.config.modelPath ?? null;
  }

  async disposeAll(): Promise<void> {
    await this.loading?.promise.catch(() => {});
    const all = this.held;
    this.held = [];
    for (const h of all) await h.engine.dispose();
  }

  /** The engine for config, counted in use before anything else can run (so no swap unloads it under the caller). */
  private async acquire(config: ModelConfig): Promise<Held<E>> {
    for (;;) {
      const found = this.held.find((h) => sameConfig(h.engine.config, config));
      if (found) {
        found.inUse++;
        found.lastUsed = ++this.tick;
        return found;
      }
      if (this.loading) {
        // One load at a time; a failed load of this very config fails its waiters too (no retry storm).
        const same = sameConfig(this.loading.config, config);
        try {
          await this.loading.promise;
        } catch (e) {
          if (same) throw e;
        }
        continue;
      }
      const promise = this.loadMakingRoom(config);
      this.loading = { config, promise };
      try {
        await promise;
      } finally {
        if (this.loading?.promise === promise) this.loading = undefined;
      }
    }
  }

  private async loadMakingRoom(config: ModelConfig): Promise<void> {
    // Only a second model needs the header read here: a lone load reads it once, in its own fit check.
    const need = this.held.length > 0 ? await this.options.need(config) : 0;
    while (this.held.length > 0) {
      const full = this.held.length >= this.options.max;
      const available = this.options.available();
      if (!full && need <= available) break;
      const victim = this.held.reduce((a, b) => (b.lastUsed < a.lastUsed ? b : a));
      const reason = full ? `the worker holds at most ${this.options.max} models` : `it needs about ${gib(need)} and ${gib(available)} is available`;
      this.options.log(`unloading ${victim.engine.config.modelPath} to load ${config.modelPath}: ${reason}`);
      this.held = this.held.filter((h) => h !== victim);
      if (victim.inUse > 0) await new Promise<void>((resolve) => (victim.idle = resolve));
      await victim.engine.dispose();
      this.swaps++;
      this.lastSwap = { unloaded: victim.engine.config.modelPath, loading: config.modelPath, reason, at: Date.now() };
    }
    this.options.log(`loading ${config.modelPath} (gpu ${config.gpu}, threads ${config.threads || 'auto'})`);
    const engine = await this.options.load(config);
    this.held.push({ engine, lastUsed: ++this.tick, inUse: 0 });
  }
}

const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(1)} GiB`;
