// The one decision point for palette tasks: local, or the user's green-cloud endpoint. This first policy is simple
// and stated in the reason shown with every result; the router replaces it with a carbon-, quality- and
// latency-aware choice.
import type { TaskKind } from './prompts';

export interface RouteFacts {
  readonly kind: TaskKind;
  /** Characters of code/context that would be sent. */
  readonly contextChars: number;
  /** An endpoint and key are configured and cloud is enabled in the settings. */
  readonly cloudConfigured: boolean;
  readonly trusted: boolean;
  /** The user allowed this workspace's code to go to the endpoint. */
  readonly consent: 'granted' | 'denied' | 'unknown';
  /** A local model is available. */
  readonly localAvailable: boolean;
}

export interface RouteDecision {
  readonly route: 'local' | 'cloud';
  readonly reason: string;
  /** Cloud would be chosen but consent has not been asked yet. */
  readonly needsConsent: boolean;
}

/** Refactors, test generation and anything over more than a small amount of code are "heavy": worth a larger model. */
const HEAVY_CHARS = 4000;

export function decideRoute(f: RouteFacts): RouteDecision {
  const heavy = f.kind === 'refactor' || f.kind === 'tests' || f.contextChars > HEAVY_CHARS;
  const local = (reason: string): RouteDecision => ({ route: 'local', reason, needsConsent: false });
  const cloudAllowed = f.cloudConfigured && f.trusted && f.consent !== 'denied';
  if (!heavy && (f.localAvailable || !cloudAllowed)) return local(`light task (${f.kind}, ${f.contextChars} characters): the local model is enough`);
  if (!heavy) return { route: 'cloud', reason: 'no local model is chosen', needsConsent: f.consent === 'unknown' };
  if (!f.cloudConfigured) return local('heavy task, but no cloud endpoint is configured');
  if (!f.trusted) return local('heavy task, but this workspace is not trusted: code never leaves the machine');
  if (f.consent === 'denied') return local('heavy task, but you chose to keep this workspace\'s code on this machine');
  if (f.consent === 'unknown') return { route: 'cloud', reason: 'heavy task: a larger cloud model', needsConsent: true };
  return { route: 'cloud', reason: `heavy task (${f.kind}, ${f.contextChars} characters): a larger cloud model`, needsConsent: false };
}
