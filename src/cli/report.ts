// `verdant report`: totals from the carbon ledger the extension writes (or --csv / --export-json for the records).
import { Ledger, type TotalsRow } from '../core/carbon/ledger';
import { UsageError } from './args';
import type { Command } from './command';
import { defaultLedgerDir } from './paths';

export interface ReportOutput {
  readonly ledger: string;
  readonly since: string | null;
  readonly total: Omit<TotalsRow, 'day' | 'route'>;
  readonly byRoute: readonly TotalsRow[];
  readonly byDay: readonly TotalsRow[];
  readonly problems: readonly { file: string; line: number; reason: string }[];
}

function parseSince(text: string | boolean | undefined): Date | undefined {
  if (text === undefined) return undefined;
  const d = new Date(String(text));
  if (Number.isNaN(d.getTime())) throw new UsageError(`--since must be a date such as 2026-11-01, not "${text}".`);
  return d;
}

const g = (n: number) => (Math.abs(n) >= 1000 ? `${(n / 1000).toFixed(2)} kg` : `${n.toFixed(2)} g`);

export const reportCommand: Command = {
  summary: 'carbon totals from the ledger (by route and by day), or the records as CSV',
  usage: 'verdant report [--since DATE] [--csv] [--ledger DIR] [--json]',
  flags: {
    since: { type: 'string', value: 'DATE', description: 'only records from this date on (UTC)' },
    csv: { type: 'boolean', description: 'print every record as CSV instead of totals' },
    ledger: { type: 'string', value: 'DIR', description: "ledger folder (default: the VS Code extension's)" },
  },
  async run({ flags, io }) {
    const dir = typeof flags.ledger === 'string' ? flags.ledger : defaultLedgerDir();
    const since = parseSince(flags.since);
    const ledger = new Ledger({ dir });
    if (flags.csv) {
      io.write(await ledger.export('csv', { since }));
      return undefined;
    }
    const [byRoute, byDay] = await Promise.all([ledger.totals({ since, groupBy: 'route' }), ledger.totals({ since, groupBy: 'day' })]);
    const total = byRoute.rows.reduce(
      (t, r) => ({
        count: t.count + r.count,
        tokensIn: t.tokensIn + r.tokensIn,
        tokensOut: t.tokensOut + r.tokensOut,
        energyKWh: t.energyKWh + r.energyKWh,
        operationalG: t.operationalG + r.operationalG,
        embodiedG: t.embodiedG + r.embodiedG,
        sciG: t.sciG + r.sciG,
        baselineG: t.baselineG + r.baselineG,
        savedG: t.savedG + r.savedG,
      }),
      { count: 0, tokensIn: 0, tokensOut: 0, energyKWh: 0, operationalG: 0, embodiedG: 0, sciG: 0, baselineG: 0, savedG: 0 },
    );
    const out: ReportOutput = {
      ledger: dir,
      since: since?.toISOString() ?? null,
      total,
      byRoute: byRoute.rows,
      byDay: byDay.rows,
      problems: byRoute.problems,
    };
    return out;
  },
  format: (r) => {
    if (r === undefined) return '';
    const o = r as ReportOutput;
    if (o.total.count === 0) return `No records in ${o.ledger}${o.since ? ` since ${o.since}` : ''}.`;
    const lines = [
      `${o.total.count} requests${o.since ? ` since ${o.since.slice(0, 10)}` : ''}: ${g(o.total.sciG)} CO2e (${(o.total.energyKWh * 1000).toFixed(2)} Wh), ` +
        `${g(o.total.savedG)} saved against the all-cloud baseline (${g(o.total.baselineG)})`,
      ...o.byRoute.map((row) => `  ${row.route}: ${row.count} requests, ${g(row.sciG)}, saved ${g(row.savedG)}`),
      ...o.byDay.slice(-14).map((row) => `  ${row.day}: ${row.count} requests, ${g(row.sciG)}`),
    ];
    for (const p of o.problems) lines.push(`  skipped ${p.file}:${p.line}: ${p.reason}`);
    return lines.join('\n');
  },
};
