// The carbon ledger: an append-only store of SciRecords (one per request) in a folder that every VS Code window and
// the CLI share. JSON Lines, one file per UTC month of the record's `ts` (`ledger-2026-11.jsonl`), so retention drops
// whole files and reading a day opens one file, not years.
//
// Concurrency, without a lock file:
// - Each record is ONE write() of its complete line on a file opened for append. POSIX: O_APPEND moves the offset to
//   the end and writes under the inode lock, so lines from several processes never interleave or overwrite. Windows:
//   Node's 'a' flag opens with FILE_APPEND_DATA and without FILE_WRITE_DATA, so every WriteFile lands at the current
//   end of the file, atomically for local files (NTFS, ReFS). A lock file would add a cost to every completion and a
//   stale-lock recovery (killed windows, pid reuse) with races of its own, for no gain on a local disk. Network shares
//   guarantee neither; VS Code's global storage is local, and the worst case there is a damaged line that the reader
//   reports and skips.
// - Records carry a unique id and the reader keeps the first line of each id, so a retry after an uncertain write
//   (a timeout, a crash after the write) never counts twice.
// Torn lines (power loss, a full disk, a file edited by hand) are skipped and reported as problems, never fatal. An
// append starts with '\n' when the file does not end with one, so a new line is not glued onto a torn fragment. The
// check and the write are not atomic together, and both ways it can go wrong are harmless: a fragment written after
// the check leaves `fragment{"id":…}` on one line, which the reader splits (lines are written with "id" first, and
// `{"id":` cannot occur unescaped inside a JSON string); a check that sees another write half done (Linux extends
// the size page by page) adds an empty line, which the reader ignores.
import { promises as nodeFs } from 'node:fs';
import * as path from 'node:path';
import { SOURCE_IDS, type Route, type SciRecord, type SignalType } from './types';
import { errorMessage } from '../errors';

/** The file operations the ledger uses (node:fs/promises by default; tests may wrap them). */
export type LedgerFs = Pick<typeof nodeFs, 'mkdir' | 'open' | 'readFile' | 'readdir' | 'unlink'>;

export interface LedgerOptions {
  /** The folder (the extension's global storage, or the CLI's --ledger). Created on the first append. */
  readonly dir: string;
  /** Epoch ms; retention counts from it. */
  readonly now?: () => number;
  readonly fs?: LedgerFs;
}

/** Time range of a read: since inclusive, until exclusive; either may be left open. */
export interface LedgerRange {
  readonly since?: Date;
  readonly until?: Date;
}

/** A line that was skipped: `file` is the full path, `line` 1-based. */
export interface LedgerProblem {
  readonly file: string;
  readonly line: number;
  readonly reason: string;
}

export interface LedgerRead {
  /** De-duplicated by id, ordered by ts. */
  readonly records: SciRecord[];
  readonly problems: LedgerProblem[];
}

export type TotalsGroupBy = 'day' | 'route' | 'day+route';

export interface TotalsOptions extends LedgerRange {
  readonly groupBy: TotalsGroupBy;
  /** Minutes the user's local time is ahead of UTC (CET: 60, New York in winter: -300); days are UTC days by default. */
  readonly utcOffsetMinutes?: number;
}

export interface TotalsRow {
  /** YYYY-MM-DD, when grouped by day. */
  readonly day?: string;
  /** When grouped by route. */
  readonly route?: Route;
  readonly count: number;
  readonly tokensIn: number;
  readonly tokensOut: number;
  readonly energyKWh: number;
  readonly operationalG: number;
  readonly embodiedG: number;
  readonly sciG: number;
  readonly baselineG: number;
  readonly savedG: number;
}

export interface LedgerTotals {
  /** Ordered by day, then route. */
  readonly rows: TotalsRow[];
  readonly problems: LedgerProblem[];
}

const FILE_NAME = /^ledger-(\d{4})-(\d{2})\.jsonl$/;
const NEWLINE = 0x0a;
/** Every line is written with this opening, which lets the reader find a record glued onto a torn fragment. */
const RECORD_START = '{"id":';

/** The month file a record with this time goes to. */
export function ledgerFileName(ms: number): string {
  const d = new Date(ms);
  return `ledger-${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, '0')}.jsonl`;
}

export class Ledger {
  private readonly dir: string;
  private readonly now: () => number;
  private readonly fs: LedgerFs;
  /** This instance's appends, in call order (other processes append independently). */
  private queue: Promise<void> = Promise.resolve();

  constructor(options: LedgerOptions) {
    this.dir = options.dir;
    this.now = options.now ?? Date.now;
    this.fs = options.fs ?? nodeFs;
  }

  /** Appends one record. Rejects a record that fails the shape check, so the ledger never holds what it cannot read. */
  append(record: SciRecord): Promise<void> {
    const problem = sciRecordProblem(record);
    if (problem) return Promise.reject(new TypeError(`Not a ledger record: ${problem}.`));
    const file = path.join(this.dir, ledgerFileName(Date.parse(record.ts)));
    const { id, ...rest } = record;
    const line = JSON.stringify({ id, ...rest }); // id first: see RECORD_START
    const done = this.queue.then(() => this.appendLine(file, line));
    this.queue = done.catch(() => undefined);
    return done;
  }

  async read(range: LedgerRange = {}): Promise<LedgerRead> {
    const { sinceMs, untilMs } = bounds(range);
    const seen = new Set<string>();
    const found: Entry[] = [];
    const problems: LedgerProblem[] = [];
    for (const f of await this.monthFiles()) {
      if (f.endMs <= sinceMs || f.startMs >= untilMs) continue;
      const text = await this.readIfPresent(f.path);
      if (text === undefined) continue;
      for (const e of parseLedgerText(f.path, text, problems)) {
        if (e.ms < sinceMs || e.ms >= untilMs || seen.has(e.record.id)) continue;
        seen.add(e.record.id);
        found.push(e);
      }
    }
    found.sort((a, b) => a.ms - b.ms);
    return { records: found.map((e) => e.record), problems };
  }

  async totals(options: TotalsOptions): Promise<LedgerTotals> {
    const { records, problems } = await this.read(options);
    return { rows: totalsOf(records, options.groupBy, options.utcOffsetMinutes), problems };
  }

  /** Deletes the month files that end `retentionDays` or more before now; 0 keeps everything. Returns full paths. */
  async prune(retentionDays: number): Promise<{ removedFiles: string[] }> {
    if (!Number.isFinite(retentionDays) || retentionDays < 0)
      throw new RangeError(`Retention must be 0 (forever) or a number of days, not ${retentionDays}.`);
    const removedFiles: string[] = [];
    if (retentionDays === 0) return { removedFiles };
    const cutoff = this.now() - retentionDays * 86_400_000;
    for (const f of await this.monthFiles()) {
      if (f.endMs > cutoff) continue;
      try {
        await this.fs.unlink(f.path);
        removedFiles.push(f.path);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e; // another window pruned it first
      }
    }
    return { removedFiles };
  }

  async export(format: 'csv' | 'json', range: LedgerRange = {}): Promise<string> {
    const { records } = await this.read(range);
    return format === 'csv' ? toCsv(records) : toJson(records);
  }

  private async appendLine(file: string, line: string): Promise<void> {
    try {
      await this.writeLine(file, line);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOSPC' && code !== 'EDQUOT') throw e;
      // The raw "ENOSPC: no space left on device, write" names neither the folder nor what to do.
      throw Object.assign(
        new Error(
          `The carbon ledger could not be written: the disk holding ${this.dir} is full${code === 'EDQUOT' ? ' (over your disk quota)' : ''}. Free some space; Verdant records requests again once there is room.`,
          { cause: e },
        ),
        { code },
      );
    }
  }

  private async writeLine(file: string, line: string): Promise<void> {
    const fh = await this.openForAppend(file);
    try {
      const { size } = await fh.stat();
      let prefix = '';
      if (size > 0) {
        const { bytesRead, buffer } = await fh.read(Buffer.alloc(1), 0, 1, size - 1);
        if (bytesRead === 1 && buffer[0] !== NEWLINE) prefix = '\n'; // end a torn fragment first
      }
      const data = Buffer.from(`${prefix}${line}\n`, 'utf8');
      // One write call for the whole line: the atomic unit the header relies on. Never split or retried in parts.
      const { bytesWritten } = await fh.write(data, 0, data.length, null);
      if (bytesWritten !== data.length) throw new Error(`Only ${bytesWritten} of ${data.length} bytes reached ${file} (is the disk full?).`);
    } finally {
      await fh.close();
    }
  }

  private async openForAppend(file: string): Promise<nodeFs.FileHandle> {
    try {
      return await this.fs.open(file, 'a+', 0o600);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      await this.fs.mkdir(this.dir, { recursive: true });
      return await this.fs.open(file, 'a+', 0o600);
    }
  }

  private async monthFiles(): Promise<MonthFile[]> {
    let names: string[];
    try {
      names = await this.fs.readdir(this.dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    const files: MonthFile[] = [];
    for (const name of names) {
      const m = FILE_NAME.exec(name);
      if (!m) continue;
      const year = Number(m[1]);
      const month = Number(m[2]);
      if (month < 1 || month > 12) continue;
      files.push({ path: path.join(this.dir, name), startMs: Date.UTC(year, month - 1, 1), endMs: Date.UTC(year, month, 1) });
    }
    return files.sort((a, b) => a.startMs - b.startMs);
  }

  private async readIfPresent(file: string): Promise<string | undefined> {
    try {
      return await this.fs.readFile(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined; // pruned since the listing
      throw e;
    }
  }
}

/**
 * Appends for callers that must never fail because of the ledger (a completion, a task): never rejects, resolves
 * whether the record was written, and reports a failure once per kind until appends work again (a full disk fails
 * every append until space is freed: one log line, not one per keystroke), then says that they do.
 */
export class LedgerRecorder {
  private failing: string | undefined;

  constructor(
    private readonly ledger: Ledger,
    private readonly report: (level: 'error' | 'info', message: string) => void,
  ) {}

  async append(record: SciRecord): Promise<boolean> {
    try {
      await this.ledger.append(record);
    } catch (e) {
      const kind = String((e as NodeJS.ErrnoException).code ?? errorMessage(e));
      if (kind !== this.failing) this.report('error', `could not record a request: ${errorMessage(e)} (further failures like this are not logged)`);
      this.failing = kind;
      return false;
    }
    if (this.failing !== undefined) this.report('info', 'the carbon ledger is written again');
    this.failing = undefined;
    return true;
  }
}

interface MonthFile {
  readonly path: string;
  readonly startMs: number;
  readonly endMs: number;
}

interface Entry {
  readonly record: SciRecord;
  readonly ms: number;
}

function bounds(range: LedgerRange): { sinceMs: number; untilMs: number } {
  const sinceMs = range.since ? range.since.getTime() : -Infinity;
  const untilMs = range.until ? range.until.getTime() : Infinity;
  if (Number.isNaN(sinceMs) || Number.isNaN(untilMs)) throw new RangeError('The ledger range has an invalid date.');
  return { sinceMs, untilMs };
}

/** Parses one month file's text; every skipped line goes to `problems`. */
function parseLedgerText(file: string, text: string, problems: LedgerProblem[]): Entry[] {
  const entries: Entry[] = [];
  const lines = text.split('\n');
  const last = lines.length - 1; // text ending in '\n' leaves '' here; anything else is an unterminated last line
  lines.forEach((raw, i) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '') return;
    const parsed = parseRecordLine(line);
    if ('record' in parsed) {
      entries.push({ record: parsed.record, ms: Date.parse(parsed.record.ts) });
      return;
    }
    const glued = recoverGlued(line);
    if (glued) {
      entries.push({ record: glued, ms: Date.parse(glued.ts) });
      problems.push({ file, line: i + 1, reason: 'a torn fragment of an interrupted write, followed by a complete record (kept)' });
      return;
    }
    const reason = i === last ? 'incomplete last line (an interrupted write)' : parsed.reason;
    problems.push({ file, line: i + 1, reason });
  });
  return entries;
}

function parseRecordLine(line: string): { record: SciRecord } | { reason: string } {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { reason: 'not JSON (a torn write or a hand edit)' };
  }
  const problem = sciRecordProblem(value);
  return problem ? { reason: `not a ledger record: ${problem}` } : { record: value as SciRecord };
}

/** A complete record after a torn fragment on the same line (the check-then-append race in the header). */
function recoverGlued(line: string): SciRecord | undefined {
  for (let at = line.indexOf(RECORD_START, 1); at > 0; at = line.indexOf(RECORD_START, at + 1)) {
    const parsed = parseRecordLine(line.slice(at));
    if ('record' in parsed) return parsed.record;
  }
  return undefined;
}

// ---- shape check ----

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isStr = (v: unknown): v is string => typeof v === 'string';
const isCount = (v: unknown): boolean => Number.isInteger(v) && (v as number) >= 0;
const isPair = (v: unknown): boolean => Array.isArray(v) && v.length === 2 && v.every(isNum);
const ROUTES: readonly string[] = ['local', 'cloud'] satisfies Route[];
const SIGNALS: readonly string[] = ['average', 'marginal'] satisfies SignalType[];
const SOURCES: readonly string[] = SOURCE_IDS;
/** With an explicit offset: a bare local time would mean different instants to the extension and the CLI. */
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})$/;

/** Why `v` is not a SciRecord, or undefined when it is one. */
export function sciRecordProblem(v: unknown): string | undefined {
  if (!isObj(v)) return 'not an object';
  if (!isStr(v.id) || v.id === '') return 'id is not a non-empty string';
  if (!isStr(v.ts) || !ISO_TIME.test(v.ts) || Number.isNaN(Date.parse(v.ts))) return 'ts is not an ISO 8601 time with Z or an offset';
  if (!isStr(v.route) || !ROUTES.includes(v.route)) return 'route is not local or cloud';
  if (!isStr(v.feature)) return 'feature is not a string';
  if (!isStr(v.model)) return 'model is not a string';
  const t = v.tokens;
  if (!isObj(t) || !isCount(t.in) || !isCount(t.out)) return 'tokens is not {in, out} counts';
  const e = v.energy;
  if (
    !isObj(e) ||
    !isNum(e.kWh) ||
    e.kWh < 0 ||
    !isPair(e.rangeKWh) ||
    !isStr(e.method) ||
    typeof e.measured !== 'boolean' ||
    (e.pue !== undefined && !isNum(e.pue))
  ) {
    return 'energy is not {kWh, rangeKWh, method, measured}';
  }
  const i = v.intensity;
  if (
    !isObj(i) ||
    !isNum(i.gPerKWh) ||
    !isStr(i.source) ||
    !SOURCES.includes(i.source) ||
    !isStr(i.zone) ||
    !isStr(i.signal) ||
    !SIGNALS.includes(i.signal) ||
    typeof i.isEstimated !== 'boolean'
  ) {
    return 'intensity is not {gPerKWh, source, zone, signal, isEstimated}';
  }
  for (const k of ['operationalG', 'embodiedG', 'sciG', 'savedG'] as const) if (!isNum(v[k])) return `${k} is not a number`;
  if (!isPair(v.rangeG)) return 'rangeG is not [low, high]';
  const b = v.baseline;
  if (!isObj(b) || b.route !== 'cloud' || !isStr(b.model) || !isNum(b.sciG)) return "baseline is not {route: 'cloud', model, sciG}";
  if (v.labels !== undefined && !(Array.isArray(v.labels) && v.labels.every(isStr))) return 'labels is not a list of strings';
  return undefined;
}

// ---- totals ----

type MutableRow = { -readonly [K in keyof TotalsRow]: TotalsRow[K] };

/** Sums per group. Local days: `utcOffsetMinutes` is how far local time is ahead of UTC. */
export function totalsOf(records: readonly SciRecord[], groupBy: TotalsGroupBy, utcOffsetMinutes = 0): TotalsRow[] {
  if (!Number.isFinite(utcOffsetMinutes) || Math.abs(utcOffsetMinutes) > 18 * 60)
    throw new RangeError(`A UTC offset is at most ±18 hours, not ${utcOffsetMinutes} minutes.`);
  const byDay = groupBy !== 'route';
  const byRoute = groupBy !== 'day';
  const rows = new Map<string, MutableRow>();
  for (const r of records) {
    const day = byDay ? new Date(Date.parse(r.ts) + utcOffsetMinutes * 60_000).toISOString().slice(0, 10) : undefined;
    const key = `${day ?? ''}|${byRoute ? r.route : ''}`;
    let row = rows.get(key);
    if (!row) {
      row = {
        ...(day !== undefined && { day }),
        ...(byRoute && { route: r.route }),
        count: 0,
        tokensIn: 0,
        tokensOut: 0,
        energyKWh: 0,
        operationalG: 0,
        embodiedG: 0,
        sciG: 0,
        baselineG: 0,
        savedG: 0,
      };
      rows.set(key, row);
    }
    row.count += 1;
    row.tokensIn += r.tokens.in;
    row.tokensOut += r.tokens.out;
    row.energyKWh += r.energy.kWh;
    row.operationalG += r.operationalG;
    row.embodiedG += r.embodiedG;
    row.sciG += r.sciG;
    row.baselineG += r.baseline.sciG;
    row.savedG += r.savedG;
  }
  return [...rows.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, row]) => row);
}

// ---- export ----

export const CSV_COLUMNS = [
  'ts',
  'route',
  'feature',
  'model',
  'tokens_in',
  'tokens_out',
  'energy_kwh',
  'energy_method',
  'intensity_g_per_kwh',
  'intensity_source',
  'zone',
  'operational_g',
  'embodied_g',
  'sci_g',
  'baseline_model',
  'baseline_g',
  'saved_g',
  'range_low_g',
  'range_high_g',
] as const;

/** RFC 4180: CRLF line ends, a header row, fields with a comma, quote or line break quoted, quotes doubled; no formulas. */
export function toCsv(records: readonly SciRecord[]): string {
  const rows: (readonly (string | number)[])[] = [CSV_COLUMNS];
  for (const r of records) {
    rows.push([
      r.ts,
      r.route,
      r.feature,
      r.model,
      r.tokens.in,
      r.tokens.out,
      r.energy.kWh,
      r.energy.method,
      r.intensity.gPerKWh,
      r.intensity.source,
      r.intensity.zone,
      r.operationalG,
      r.embodiedG,
      r.sciG,
      r.baseline.model,
      r.baseline.sciG,
      r.savedG,
      r.rangeG[0],
      r.rangeG[1],
    ]);
  }
  return rows.map((row) => row.map(csvField).join(',') + '\r\n').join('');
}

/**
 * One CSV field. Text that a spreadsheet would read as a formula (starting with = + - @, a tab or a carriage return:
 * a model file named `=HYPERLINK(...)` would become a live link) gets a leading apostrophe; numbers stay numbers.
 */
export function csvField(v: string | number | undefined): string {
  let s = String(v ?? '');
  if (typeof v === 'string' && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** A JSON array of the records as stored. */
export function toJson(records: readonly SciRecord[]): string {
  return JSON.stringify(records, null, 2) + '\n';
}
