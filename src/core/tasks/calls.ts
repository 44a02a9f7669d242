// One model call on a route already decided, recorded the same way wherever it comes from: a palette task's run, a
// refactor's plan or step, a chat message, the CLI's `ask` and `complete`. Redaction and "Show Last Cloud Request"
// for the cloud; exactly one ledger record per attempt, whose grams the outcome names.
import type { CloudRequestFacts } from '../carbon/cloudRecord';
import type { SciRecord } from '../carbon/types';
import type { CloudChatOptions, CloudChatRequest, CloudResult } from '../cloud/client';
import { hostOf } from '../cloud/endpoint';
import { redactSecrets } from '../cloud/redact';
import type { ChatMessage, GenerateOptions, GenerateRequest, GenerateResult, WorkPurpose } from '../inference/types';
import type { RouteDecision } from '../routing/policy';
import { usageOf, type LocalUsageRecord } from '../usage';

/** A model call on a route already decided, by what the ledger records it as ('ask': the CLI's question). */
export type CallFeature = 'refactor-plan' | 'refactor-step' | 'chat' | 'ask';

export interface TaskOutcome {
  readonly route: 'local' | 'cloud';
  readonly reason: string;
  readonly model: string;
  readonly text: string;
  /** The grams of this request's ledger records (both attempts of a cascade); undefined when none was written. */
  readonly grams: number | undefined;
  /** The ledger records of this request's attempts (a cascade has two), in order. */
  readonly recordIds: readonly string[];
  /** The router's decision (before any retry or fallback changed the route). */
  readonly decision?: RouteDecision;
  /** A cascade whose local draft was unsure and went on to the cloud (grams count both). */
  readonly cascaded?: boolean;
  /** Refactor: the proposal waiting for Apply / Discard. */
  readonly proposalId?: number;
}

/** A local call's outcome with the engine's own result (timings, FIM use), for callers that report them. */
export type LocalOutcome = TaskOutcome & { readonly result: GenerateResult };

/** The last request sent to the cloud, exactly as sent (after redaction), for "Show Last Cloud Request". */
export interface SentCloudRequest {
  readonly at: string;
  readonly host: string;
  readonly model: string;
  readonly messages: readonly ChatMessage[];
  readonly redactions: number;
}

/** One cloud attempt, as measured: the ledger adds where the endpoint is (zone, intensity) and the model's size. */
export type CloudAttempt = Pick<CloudRequestFacts, 'feature' | 'endpoint' | 'model' | 'tokensIn' | 'tokensOut' | 'latencyMs' | 'at'>;

/**
 * Each side's `record` gives the one ledger record of an attempt, written where there is a ledger; undefined when it
 * could not be written (said where it failed).
 */
export interface LocalAccess {
  generate(request: GenerateRequest, options: GenerateOptions): Promise<GenerateResult>;
  record(usage: LocalUsageRecord): Promise<SciRecord | undefined>;
}

export interface CloudAccess {
  /** The endpoint and model as configured now. */
  target(): { readonly endpoint: string; readonly model: string };
  chat(request: CloudChatRequest, options: CloudChatOptions): Promise<CloudResult>;
  record(attempt: CloudAttempt): Promise<SciRecord | undefined>;
}

export interface ModelCallsDeps {
  /** The local model; absent where there is none (the CLI's `ask`). */
  readonly local?: LocalAccess;
  /** The cloud endpoint; absent where there is none (the CLI's `complete`). */
  readonly cloud?: CloudAccess;
  /** Told each result: the router learns the local speed, and that the endpoint is reachable. */
  readonly observe?: {
    noteLocalResult(r: GenerateResult): void;
    noteCloudReached(): void;
  };
}

export interface CallOptions {
  readonly signal?: AbortSignal;
  readonly report?: (chars: number) => void;
  readonly sink?: (text: string) => void;
  readonly maxTokens?: number;
  readonly jsonSchema?: object;
  /** Why this route, as the result says (default: the feature). */
  readonly reason?: string;
  /** Values redacted from what goes to the cloud whatever they look like (the CLI's own API key). */
  readonly alsoRedact?: readonly string[];
  /** 'background' for work nobody waits on (a deferred job): the local engine may run it at low priority. */
  readonly purpose?: WorkPurpose;
}

const DEFAULT_LOCAL_TOKENS = 1024;
const DEFAULT_CLOUD_TOKENS = 2048;

export class ModelCalls {
  private lastCloud: SentCloudRequest | undefined;

  constructor(private readonly deps: ModelCallsDeps) {}

  /** The last request sent to the cloud, exactly as sent (after redaction). */
  get lastCloudRequest(): SentCloudRequest | undefined {
    return this.lastCloud;
  }

  /**
   * One model call on a route already decided (a refactor's plan or step, a chat message, the CLI): the same
   * redaction, "Show Last Cloud Request" and ledger record as every task. The caller owns progress and cancellation.
   */
  async call(route: 'local' | 'cloud', feature: CallFeature, messages: ChatMessage[], opts: CallOptions = {}): Promise<TaskOutcome> {
    if (route === 'cloud') return this.chatCloud(feature, messages, opts);
    return strip(await this.chatLocal(feature === 'ask' ? 'task' : feature, messages, opts));
  }

  /**
   * One local generation of any kind (chat, completion, fill-in-the-middle), recorded as one ledger record whose
   * grams the outcome names, with the engine's result kept for callers that report its timings.
   */
  async generateLocal(
    feature: LocalUsageRecord['feature'],
    request: GenerateRequest,
    opts: Omit<CallOptions, 'maxTokens' | 'jsonSchema'> = {},
  ): Promise<LocalOutcome> {
    const local = this.deps.local;
    if (!local) throw new Error('There is no local model here.');
    let chars = 0;
    const started = Date.now();
    const r = await local.generate(request, {
      ...(opts.signal ? { signal: opts.signal } : {}),
      ...(opts.purpose ? { purpose: opts.purpose } : {}),
      onText: (t) => {
        chars += t.length;
        opts.report?.(chars);
        opts.sink?.(t);
      },
    });
    if (r.stopReason === 'abort') throw Object.assign(new Error('cancelled'), { code: 'cancelled' });
    this.deps.observe?.noteLocalResult(r);
    const record = await local.record(usageOf(started, feature, r));
    return {
      route: 'local',
      reason: opts.reason ?? feature,
      model: r.model,
      text: r.text,
      grams: record?.sciG,
      recordIds: record ? [record.id] : [],
      result: r,
    };
  }

  /** A chat request to the local model. */
  chatLocal(feature: LocalUsageRecord['feature'], messages: ChatMessage[], opts: CallOptions): Promise<LocalOutcome> {
    const request: GenerateRequest = {
      kind: 'chat',
      messages,
      maxTokens: opts.maxTokens ?? DEFAULT_LOCAL_TOKENS,
      temperature: 0,
      ...(opts.jsonSchema ? { jsonSchema: opts.jsonSchema } : {}),
    };
    return this.generateLocal(feature, request, opts);
  }

  /** A chat request to the cloud endpoint, its messages redacted of secrets (`redactedBefore`: found earlier). */
  async chatCloud(feature: string, messages: ChatMessage[], opts: CallOptions, redactedBefore = 0): Promise<TaskOutcome> {
    const cloud = this.deps.cloud;
    if (!cloud) throw new Error('There is no cloud endpoint here.');
    const target = cloud.target();
    let redactions = redactedBefore;
    const sent = messages.map((m) => {
      const r = redactSecrets(m.content, { extraValues: opts.alsoRedact ?? [] });
      redactions += r.findings.length;
      return { ...m, content: r.text };
    });
    this.lastCloud = { at: new Date().toISOString(), host: hostOf(target.endpoint), model: target.model, messages: sent, redactions };
    let chars = 0;
    const started = Date.now();
    const r = await cloud.chat(
      { messages: sent, maxTokens: opts.maxTokens ?? DEFAULT_CLOUD_TOKENS, temperature: 0 },
      {
        ...(opts.signal ? { signal: opts.signal } : {}),
        onText: (t) => {
          chars += t.length;
          opts.report?.(chars);
          opts.sink?.(t);
        },
      },
    );
    this.deps.observe?.noteCloudReached();
    const model = r.model || target.model;
    const record = await cloud.record({
      feature,
      endpoint: target.endpoint,
      model,
      tokensIn: r.usage.promptTokens,
      tokensOut: r.usage.completionTokens,
      latencyMs: r.ms,
      at: started,
    });
    const reason = opts.reason ?? feature;
    return {
      route: 'cloud',
      reason: r.finishReason === 'length' ? `${reason}; the answer was cut at its length limit` : reason,
      model,
      text: r.text,
      grams: record?.sciG,
      recordIds: record ? [record.id] : [],
    };
  }
}

/** The outcome without the engine's result (callers that show it need only the text and the grams). */
export function strip(o: LocalOutcome): TaskOutcome {
  const { result: _result, ...outcome } = o;
  return outcome;
}
