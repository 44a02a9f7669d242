// What a caller asks the router, and what it gets back: the shapes the task runner (src/core/tasks/runner.ts) routes
// through. The router that answers them lives where its live facts are (the extension host: src/vscode/router.ts).
import type { GenerateResult } from '../inference/types';
import type { RoutingKind } from './features';
import type { RoutingLogEntry } from './log';
import type { CascadeVerdict, RouteDecision } from './policy';

export type Consent = 'granted' | 'denied' | 'unknown';

export interface RouteQuery {
  readonly kind: RoutingKind;
  readonly promptTokens: number;
  readonly files: number;
  readonly selectionChars: number;
  readonly consent: Consent;
  /** The request may wait for a cleaner window (a deferrable task asked interactively): the router may say "later". */
  readonly deferrable?: boolean;
  /** What the user typed, the code it carries and its language: what the request asks (src/core/routing/text.ts). */
  readonly text?: string;
  readonly code?: string;
  readonly language?: string;
}

export interface Routed {
  readonly decision: RouteDecision;
  readonly entry: RoutingLogEntry;
  /** The classifier's P(local suffices) for this request, kept so that a second decision reuses it. */
  readonly p: number;
  /** The local model's context size the decision assumed, tokens. */
  readonly localContextTokens: number;
}

/** The router as the task runner uses it. */
export interface TaskRouter {
  route(q: RouteQuery): Promise<Routed>;
  /**
   * The same request decided again with changed facts (consent refused, "run now" instead of later): the policy on
   * the same probability, no second classification or log entry; the entry notes `why`.
   */
  reroute(q: RouteQuery, routed: Routed, why: string): Promise<RouteDecision>;
  /**
   * One piece of a request split to fit the local context (a region of a long refactor): classified and decided
   * like a request, but neither logged nor remembered as the user's last request (the whole request is).
   */
  decidePiece(q: RouteQuery): Promise<RouteDecision>;
  /** After a cascade's local draft: keep it or escalate, now seeing the draft's confidence. */
  afterDraft(q: RouteQuery, draft: GenerateResult): Promise<CascadeVerdict & { p: number }>;
  noteLocalResult(r: GenerateResult): void;
  noteCloudReached(): void;
  noteCloudUnreachable(): void;
  recordAcceptance(kind: RoutingKind, accepted: boolean): void;
}
