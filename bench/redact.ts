// Secret redaction: time on pathological input (what a backtracking regular expression or a rescan from every
// position chokes on) and how it grows when the input doubles (about 2 when linear, about 4 when quadratic); and
// false positives over ordinary code: the findings in a fixed 5 MB sample of node_modules' .js/.ts files, and in
// all of them. Writes bench/results/redact.json (the findings themselves, file:line and kind, go there too). The unit
// tests only check answers: that pathological input finishes correctly, and that this repository has no finding.
//   node out/bench/redact.js [--runs 5] [--sample-mb 5]
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { redactSecrets } from '../src/core/cloud/redact';
import { pathologicalInputs } from '../test/support/pathologicalText';
import { machine, median, round, writeResult } from './util';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' }, 'sample-mb': { type: 'string', default: '5' } } });
const runs = Number(values.runs);
const sampleChars = Number(values['sample-mb']) * 1e6;

function timeMs(text: string): number {
  redactSecrets(text); // warm-up: the first call also compiles
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    redactSecrets(text);
    times.push(performance.now() - t0);
  }
  return median(times);
}

function pathological() {
  const once = pathologicalInputs(1);
  const twice = pathologicalInputs(2);
  return once.map((x, i) => {
    const ms = timeMs(x.text);
    const doubledMs = timeMs(twice[i].text);
    return { name: x.name, chars: x.text.length, ms: round(ms, 1), doubledMs: round(doubledMs, 1), growth: round(doubledMs / Math.max(ms, 0.01), 2) };
  });
}

function smallFile(f: string): boolean {
  const st = statSync(f, { throwIfNoEntry: false });
  return st !== undefined && st.isFile() && st.size <= 256 * 1024;
}

/** node_modules' .js/.ts files up to 256 KB (bundles would weigh too much), in an order fixed by their paths' hashes. */
function codeFiles(): string[] {
  const files = readdirSync('node_modules', { recursive: true, encoding: 'utf8' })
    .map((f) => path.join('node_modules', f))
    .filter((f) => /\.(?:[cm]?js|ts)$/.test(f) && smallFile(f));
  const key = (f: string) => createHash('sha1').update(f.split(path.sep).join('/')).digest('hex');
  return files
    .map((f) => [key(f), f])
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([, f]) => f);
}

/** Findings over `files` until `limit` characters have been read, and the time it took. */
function falsePositives(files: readonly string[], limit: number) {
  const findings: string[] = [];
  let chars = 0;
  let count = 0;
  let ms = 0;
  for (const f of files) {
    if (chars >= limit) break;
    const text = readFileSync(f, 'utf8');
    const t0 = performance.now();
    const r = redactSecrets(text);
    ms += performance.now() - t0;
    chars += text.length;
    count++;
    for (const x of r.findings) findings.push(`${f.split(path.sep).join('/')}:${x.line} ${x.kind}`);
  }
  return {
    files: count,
    mb: round(chars / 1e6, 2),
    findings: findings.length,
    perMb: round(findings.length / (chars / 1e6), 2),
    mbPerSecond: round(chars / 1e6 / (ms / 1000), 1),
    list: findings,
  };
}

const files = codeFiles();
writeResult('redact', {
  date: new Date().toISOString(),
  machine: machine(),
  runs,
  inputs: pathological(),
  note: 'median ms per input; growth = time at twice the input / time at the input (linear: about 2)',
  falsePositives: {
    sample: falsePositives(files, sampleChars),
    all: falsePositives(files, Infinity),
    how: `node_modules' .js/.mjs/.cjs/.ts files of at most 256 KB, ordered by the sha1 of their path; the sample is the first ${values['sample-mb']} MB of them`,
  },
});
