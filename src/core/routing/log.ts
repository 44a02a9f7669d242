// The routing log: the last decisions with their options and outcome, for "Verdant: Show Routing Log". A bounded
// ring in memory, rendered as Markdown; nothing of the request's code is kept, only its size and kind.
import { formatGrams } from '../carbon/dashboardData';
import type { RouteDecision } from './policy';
import type { RoutingKind } from './features';

export interface RoutingLogEntry {
  readonly at: number;
  readonly kind: RoutingKind;
  readonly promptTokens: number;
  readonly decision: RouteDecision;
  /** What computed P(local suffices): 'ts', the classifier's TypeScript forward pass, in-process. */
  readonly classifier: string;
  readonly decisionMs: number;
  /** What happened: 'done', 'escalated to the cloud', 'failed: …', 'retried in cloud', … */
  outcome?: string;
  /** Grams actually recorded for the request (both attempts of a cascade). */
  grams?: number;
}

export const ROUTING_LOG_SIZE = 200;

export class RoutingLog {
  private readonly entries: RoutingLogEntry[] = [];

  constructor(private readonly size = ROUTING_LOG_SIZE) {}

  add(entry: RoutingLogEntry): RoutingLogEntry {
    this.entries.push(entry);
    if (this.entries.length > this.size) this.entries.splice(0, this.entries.length - this.size);
    return entry;
  }

  /** Newest first. */
  list(): readonly RoutingLogEntry[] {
    return [...this.entries].reverse();
  }

  get last(): RoutingLogEntry | undefined {
    return this.entries[this.entries.length - 1];
  }
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/** The log as a Markdown document, newest first. */
export function renderRoutingLog(entries: readonly RoutingLogEntry[], mode: string): string {
  const lines = [
    '# Verdant routing log',
    '',
    `Mode: **${mode}**. Newest first; the last ${ROUTING_LOG_SIZE} decisions of this window. Grams are estimates before the run; the result's recorded grams follow.`,
    '',
  ];
  if (entries.length === 0) return [...lines, '*No requests routed yet.*', ''].join('\n');
  lines.push(
    '| Time | Request | Route | Reason | Options (g CO2e, latency) | Classifier | Decision | Outcome |',
    '|---|---|---|---|---|---|---|---|',
  );
  for (const e of entries) {
    const d = e.decision;
    const options = d.options
      .map(
        (o) =>
          `${o.route} ${formatGrams(o.gCO2e)} (${formatGrams(o.rangeG[0])}-${formatGrams(o.rangeG[1])}), ${Math.round(o.latencyMs)} ms${o.blocked ? ` — blocked: ${o.blocked}` : ''}`,
      )
      .join('; ');
    const route = d.cascade ? 'local → cloud if unsure' : d.route;
    const outcome = `${e.outcome ?? '…'}${e.grams !== undefined ? ` (${formatGrams(e.grams)})` : ''}`;
    lines.push(
      `| ${new Date(e.at).toLocaleTimeString()} | ${e.kind}, ${e.promptTokens} tokens | ${route} | ${cell(d.reason)}${d.warning ? ` ⚠ ${cell(d.warning)}` : ''} | ${cell(options)} | ${cell(e.classifier)} | ${e.decisionMs.toFixed(2)} ms | ${cell(outcome)} |`,
    );
  }
  return [...lines, ''].join('\n');
}
