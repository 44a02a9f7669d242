// Secret redaction on pathological input (what a backtracking regular expression chokes on): the time per input,
// and how it grows when the input doubles (about 2 when linear, about 4 when quadratic). Writes
// bench/results/redact.json. The unit test only checks that these finish with the right answer.
//   node out/bench/redact.js [--runs 3]
import { parseArgs } from 'node:util';
import { redactSecrets } from '../src/core/cloud/redact';
import { pathologicalInputs } from '../test/support/pathologicalText';
import { machine, median, round, writeResult } from './util';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' } } });
const runs = Number(values.runs);

function timeMs(text: string): number {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    redactSecrets(text);
    times.push(performance.now() - t0);
  }
  return median(times);
}

const once = pathologicalInputs(1);
const twice = pathologicalInputs(2);
const inputs = once.map((x, i) => {
  const ms = timeMs(x.text);
  const doubledMs = timeMs(twice[i].text);
  return { name: x.name, chars: x.text.length, ms: round(ms, 1), doubledMs: round(doubledMs, 1), growth: round(doubledMs / Math.max(ms, 0.01), 2) };
});
writeResult('redact', {
  date: new Date().toISOString(),
  machine: machine(),
  runs,
  inputs,
  note: 'median ms per input; growth = time at twice the input / time at the input (linear: about 2)',
});
