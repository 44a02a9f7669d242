// The inline-completion pipeline, independent of VS Code: cache and typing-through first, then reuse of an in-flight
// request the new state extends, then an adaptive debounce, then one engine call per document at a time (a request
// the user has typed away from is cancelled), output rules, caching, and a usage record per engine call.
import type { ContextChunk, FimRequest, GenerateOptions, GenerateResult } from '../inference/types';
import { usageOf, type LocalUsageRecord } from '../usage';
import { CompletionCache } from './cache';
import { AdaptiveDebounce, DEFAULT_DEBOUNCE, type DebounceSettings } from './debounce';
import type { CompletionInput } from './input';
import { finalizeCompletion } from './postprocess';
import { CompletionQuality } from './quality';
import { errorMessage } from '../errors';

export interface CompletionSettings {
  readonly maxLines: number;
  readonly maxTokens: number;
  readonly debounce: DebounceSettings;
  /** On battery: 'normal', 'reduced' (longer debounce, no speculative warm-ups) or 'pause' (manual only). */
  readonly onBattery: 'normal' | 'reduced' | 'pause';
}

export const DEFAULT_COMPLETION_SETTINGS: CompletionSettings = { maxLines: 8, maxTokens: 96, debounce: DEFAULT_DEBOUNCE, onBattery: 'reduced' };

/** Prefetch the next suggestion only once this many were shown, and at least this share of them accepted. */
const PREFETCH_MIN_SHOWN = 4;
const PREFETCH_MIN_ACCEPTANCE = 0.3;

/** The cursor state after accepting `text`: it joins the prefix (and, from its last line break on, the line). */
export function afterAccepting(input: CompletionInput, text: string): CompletionInput {
  const nl = text.lastIndexOf('\n');
  return { ...input, prefix: input.prefix + text, linePrefix: nl >= 0 ? text.slice(nl + 1) : input.linePrefix + text, manual: false };
}

export interface CompletionEngine {
  generate(request: FimRequest, options: GenerateOptions): Promise<GenerateResult>;
}

export interface PipelineDeps {
  readonly engine: CompletionEngine;
  readonly settings?: () => CompletionSettings;
  /** Context chunks from elsewhere (oldest first), excluding the file being completed. */
  readonly extraContext?: (input: CompletionInput) => readonly ContextChunk[];
  readonly repoName?: () => string | undefined;
  readonly onBattery?: () => boolean;
  readonly record?: (r: LocalUsageRecord) => void;
  /** Told when the engine starts/stops working on a request (for a busy indicator). */
  readonly onBusy?: (busy: boolean) => void;
  readonly log?: (message: string) => void;
  readonly now?: () => number;
  readonly clock?: () => number;
  readonly sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

export type SuggestionSource = 'cache' | 'typing-through' | 'in-flight' | 'engine';

export interface Suggestion {
  readonly id: number;
  readonly text: string;
  readonly source: SuggestionSource;
}

export interface PipelineStats {
  requests: number;
  engineCalls: number;
  cacheHits: number;
  typingThrough: number;
  inFlightReused: number;
  staleCancelled: number;
  debouncedAway: number;
  empty: number;
  shown: number;
  accepted: number;
  /** Suggestions computed ahead for the state after accepting the one shown (prefetchNext). */
  prefetched: number;
  /** Times the provider stood aside because VS Code's suggest widget was open (yieldToSuggestWidget). */
  suggestWidgetYields: number;
}

interface InFlight {
  readonly prefix: string;
  readonly suffix: string;
  readonly controller: AbortController;
  readonly done: Promise<void>;
  streamed: string;
  waiters: number;
}

interface Shown {
  readonly id: number;
  readonly documentKey: string;
  accepted: boolean;
}

const defaultSleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (ms <= 0 || signal.aborted) return resolve();
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });

export class CompletionPipeline {
  readonly cache = new CompletionCache();
  readonly debounce: AdaptiveDebounce;
  readonly stats: PipelineStats = {
    requests: 0,
    engineCalls: 0,
    cacheHits: 0,
    typingThrough: 0,
    inFlightReused: 0,
    staleCancelled: 0,
    debouncedAway: 0,
    empty: 0,
    shown: 0,
    accepted: 0,
    prefetched: 0,
    suggestWidgetYields: 0,
  };
  private readonly inFlight = new Map<string, InFlight>();
  /** Per document: cancelled engine requests that have not ended yet. The next request waits for them. */
  private readonly unwinding = new Map<string, Promise<void>>();
  private readonly latest = new Map<string, number>();
  private readonly lastShown = new Map<string, Shown>();
  private nextId = 1;
  private busy = 0;
  /** The last suggestion handed out (for diagnostics and tests). */
  lastSuggestion: Suggestion | undefined;
  /** Shown, accepted and engine latency over the last day (the completion model's record in the engine status). */
  readonly quality = new CompletionQuality();

  constructor(private readonly deps: PipelineDeps) {
    this.debounce = new AdaptiveDebounce(() => this.settings.debounce);
  }

  private get settings(): CompletionSettings {
    return this.deps.settings?.() ?? DEFAULT_COMPLETION_SETTINGS;
  }

  /**
   * A suggestion for this cursor state, or undefined (nothing worth showing, superseded, or cancelled). `signal` is
   * the caller's cancellation: it stops waiting, but an engine request already running is kept for a following
   * keystroke to reuse, and cancelled only if nothing does.
   */
  async complete(input: CompletionInput, signal: AbortSignal): Promise<Suggestion | undefined> {
    this.stats.requests++;
    const generation = (this.latest.get(input.documentKey) ?? 0) + 1;
    this.latest.set(input.documentKey, generation);

    const cached = this.fromCache(input);
    if (cached) return cached;

    const running = this.inFlight.get(input.documentKey);
    if (running && running.suffix === input.suffix && input.prefix.startsWith(running.prefix)) {
      const typed = input.prefix.slice(running.prefix.length);
      if (running.streamed.startsWith(typed) || typed.startsWith(running.streamed)) {
        // The user is typing what the running request is producing: wait for it instead of starting another.
        running.waiters++;
        try {
          await Promise.race([running.done, abortPromise(signal)]);
        } finally {
          running.waiters--;
        }
        if (signal.aborted || this.latest.get(input.documentKey) !== generation) return undefined;
        const hit = this.cache.get(input.prefix, input.suffix);
        if (hit) {
          this.stats.inFlightReused++;
          return this.show(input, hit.text, 'in-flight');
        }
        // It produced something else after all: ask anew below.
      }
    }
    const stale = this.inFlight.get(input.documentKey);
    if (stale) this.cancelStale(input.documentKey, stale);

    const onBattery = this.deps.onBattery?.() ?? false;
    if (onBattery && this.settings.onBattery === 'pause' && !input.manual) return undefined;
    if (!input.manual) {
      await (this.deps.sleep ?? defaultSleep)(this.debounce.delayMs(onBattery && this.settings.onBattery !== 'normal'), signal);
      if (signal.aborted || this.latest.get(input.documentKey) !== generation) {
        this.stats.debouncedAway++;
        return undefined;
      }
    }
    // One engine request per document at a time: a cancelled one ends (within a token) before the next starts, so
    // a busy machine cannot pile superseded work up in the engine, where it would queue on the document's sequence.
    const unwinding = this.unwinding.get(input.documentKey);
    if (unwinding) {
      await Promise.race([unwinding, abortPromise(signal)]);
      if (signal.aborted || this.latest.get(input.documentKey) !== generation) return undefined;
    }
    const text = await this.callEngine(input, signal);
    if (text === undefined || signal.aborted) return undefined;
    const shown = this.show(input, text, 'engine');
    this.prefetchNext(input, text);
    return shown;
  }

  /**
   * While the user reads a suggestion, computes the one that would follow it once accepted, as background work (low
   * priority under Efficiency Mode), so accepting shows the next one at once: the result lands in the cache, and the
   * request after accepting waits for it if it is still running (the in-flight reuse in complete()). Only while the
   * user takes suggestions (PREFETCH_MIN_ACCEPTANCE of those shown), never on battery unless set to 'normal': a
   * prefetch nobody accepts is energy spent for nothing. Typing anything else cancels it like any superseded request.
   */
  private prefetchNext(input: CompletionInput, text: string): void {
    const { shown, accepted } = this.stats;
    if (shown < PREFETCH_MIN_SHOWN || accepted / shown < PREFETCH_MIN_ACCEPTANCE || this.inFlight.has(input.documentKey)) return;
    if ((this.deps.onBattery?.() ?? false) && this.settings.onBattery !== 'normal') return;
    this.stats.prefetched++;
    this.callEngine(afterAccepting(input, text), new AbortController().signal, 'background').catch((e) =>
      this.deps.log?.(`prefetch failed: ${errorMessage(e)}`),
    );
  }

  /** The user accepted suggestion `id` (the provider's item command). */
  accepted(id: number): void {
    for (const shown of this.lastShown.values()) {
      if (shown.id === id && !shown.accepted) {
        shown.accepted = true;
        this.stats.accepted++;
        this.quality.accepted(this.deps.now?.() ?? Date.now());
        this.debounce.accepted();
      }
    }
  }

  /**
   * Evaluates the prompt for this state without generating (maxTokens 0), so the extra context and the file's prefix
   * sit in the engine's KV cache before the next keystroke. Skipped on battery unless set to 'normal'.
   */
  async warmUp(input: CompletionInput): Promise<boolean> {
    if (this.inFlight.has(input.documentKey)) return false;
    if ((this.deps.onBattery?.() ?? false) && this.settings.onBattery !== 'normal') return false;
    const started = this.deps.now?.() ?? Date.now();
    try {
      // Nobody waits on a warm-up: the engine may run it at low priority (verdant.local.efficiencyMode).
      const result = await this.deps.engine.generate({ ...this.request(input), maxTokens: 0 }, { purpose: 'background' });
      this.deps.record?.(usageOf(started, 'warm-up', result));
      return true;
    } catch (e) {
      this.deps.log?.(`warm-up failed: ${errorMessage(e)}`);
      return false;
    }
  }

  /**
   * Cancels the document's running engine request at once: VS Code's suggest widget opened, and its choice decides
   * what is typed next, so a suggestion computed for the text as it stands would be work nobody sees (#22).
   */
  yieldToSuggestWidget(documentKey: string): void {
    this.stats.suggestWidgetYields++;
    const running = this.inFlight.get(documentKey);
    if (running) this.cancelStale(documentKey, running);
  }

  private fromCache(input: CompletionInput): Suggestion | undefined {
    const hit = this.cache.get(input.prefix, input.suffix);
    if (!hit) return undefined;
    if (hit.typed > 0) this.stats.typingThrough++;
    else this.stats.cacheHits++;
    return this.show(input, hit.text, hit.typed > 0 ? 'typing-through' : 'cache');
  }

  private show(input: CompletionInput, text: string, source: SuggestionSource): Suggestion {
    const previous = this.lastShown.get(input.documentKey);
    // A new suggestion that does not continue the last one means the last one was passed over.
    if (previous && !previous.accepted && source !== 'typing-through' && source !== 'in-flight') this.debounce.ignored();
    const suggestion = { id: this.nextId++, text, source };
    this.lastSuggestion = suggestion;
    this.lastShown.set(input.documentKey, { id: suggestion.id, documentKey: input.documentKey, accepted: false });
    this.stats.shown++;
    this.quality.shown(this.deps.now?.() ?? Date.now());
    return suggestion;
  }

  private cancelStale(documentKey: string, running: InFlight): void {
    running.controller.abort();
    this.inFlight.delete(documentKey);
    this.stats.staleCancelled++;
    const ended = Promise.all([this.unwinding.get(documentKey), running.done]).then(() => undefined);
    this.unwinding.set(documentKey, ended);
    void ended.then(() => {
      if (this.unwinding.get(documentKey) === ended) this.unwinding.delete(documentKey);
    });
  }

  private request(input: CompletionInput): FimRequest {
    const singleLine = input.lineSuffix.trim() !== '';
    return {
      kind: 'fim',
      prefix: input.prefix,
      suffix: input.suffix,
      maxTokens: this.settings.maxTokens,
      temperature: 0,
      sessionKey: input.documentKey,
      filePath: input.filePath,
      repoName: this.deps.repoName?.(),
      extra: this.deps.extraContext?.(input) ?? [],
      // With code right of the cursor only one line is shown: do not generate more.
      stop: singleLine ? ['\n'] : [],
    };
  }

  private async callEngine(input: CompletionInput, signal: AbortSignal, purpose?: 'background'): Promise<string | undefined> {
    const controller = new AbortController();
    let finish!: () => void;
    const entry: InFlight = {
      prefix: input.prefix,
      suffix: input.suffix,
      controller,
      done: new Promise<void>((r) => {
        finish = r;
      }),
      streamed: '',
      waiters: 0,
    };
    this.inFlight.set(input.documentKey, entry);
    // When the caller gives up, keep the request a moment for the next keystroke to reuse; cancel it if none does.
    const onCallerAbort = () =>
      setTimeout(() => {
        if (entry.waiters === 0 && this.inFlight.get(input.documentKey) === entry) this.cancelStale(input.documentKey, entry);
      }, 0);
    signal.addEventListener('abort', onCallerAbort, { once: true });
    const started = this.deps.now?.() ?? Date.now();
    const t0 = (this.deps.clock ?? (() => performance.now()))();
    this.stats.engineCalls++;
    this.setBusy(+1);
    try {
      const result = await this.deps.engine.generate(this.request(input), {
        signal: controller.signal,
        ...(purpose ? { purpose } : {}),
        onText: (t) => {
          entry.streamed += t;
        },
      });
      const latencyMs = (this.deps.clock ?? (() => performance.now()))() - t0;
      this.debounce.observeLatency(latencyMs);
      // A request cancelled before the engine did any work (say, before it was even sent) cost nothing: no record.
      const noWork = result.stopReason === 'abort' && result.timing.totalMs === 0 && result.timing.generatedTokens === 0;
      if (!noWork) this.deps.record?.(usageOf(started, 'inline-completion', result, result.stopReason === 'abort' ? 'cancelled' : undefined));
      if (result.stopReason === 'abort') return undefined;
      const text = finalizeCompletion(result.text, {
        linePrefix: input.linePrefix,
        lineSuffix: input.lineSuffix,
        suffix: input.suffix,
        maxLines: this.settings.maxLines,
      });
      if (text === undefined) {
        this.stats.empty++;
        return undefined;
      }
      this.cache.put(input.prefix, input.suffix, text);
      if (purpose !== 'background') this.quality.latency(this.deps.now?.() ?? Date.now(), latencyMs);
      return text;
    } catch (e) {
      if (!controller.signal.aborted) this.deps.log?.(`completion failed: ${errorMessage(e)}`);
      if (!controller.signal.aborted && !signal.aborted) throw e;
      return undefined;
    } finally {
      this.setBusy(-1);
      signal.removeEventListener('abort', onCallerAbort);
      if (this.inFlight.get(input.documentKey) === entry) this.inFlight.delete(input.documentKey);
      finish();
    }
  }

  private setBusy(delta: number): void {
    const was = this.busy > 0;
    this.busy += delta;
    if (was !== this.busy > 0) this.deps.onBusy?.(this.busy > 0);
  }
}

function abortPromise(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    signal.addEventListener('abort', () => resolve(), { once: true });
  });
}
