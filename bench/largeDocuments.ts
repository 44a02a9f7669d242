// Large-document benchmark: what a 10 MB file costs per keystroke. Writes bench/results/large-documents.json:
// - building the completion request from the document (cutting the windows, the pipeline up to the engine call),
//   target under 200 ms;
// - the whole keystroke with the real engine and the FIM test model, target under 2 s;
// - the extra-context ring taking a visit to a 10 MB file and a 10 MB clipboard, target under 1 s.
// These were timed assertions in test/integration/hardening-completion.test.ts; the test keeps the sizes bounded,
// this measures the speed (a test must not fail because the machine is busy).
//   node out/bench/largeDocuments.js [--runs 5] [--threads 1]
import { parseArgs } from 'node:util';
import { ExtraContextRing } from '../src/core/completion/extraContext';
import { CompletionPipeline, type CompletionEngine } from '../src/core/completion/pipeline';
import { LlamaEngine } from '../src/engine/llama/engine';
import type { FimRequest, GenerateOptions } from '../src/engine/types';
import { BIG_DOCUMENTS, manyLines, MB10, minified, toInput } from '../test/support/bigDocuments';
import { testModels } from '../test/support/models';
import { machine, spread, writeResult } from './util';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' }, threads: { type: 'string', default: '1' } } });
const runs = Number(values.runs);
const TARGETS = { buildMs: 200, keystrokeMs: 2000, extraContextMs: 1000 };

async function main(): Promise<void> {
  const model = (await testModels()).fim;
  const engine = await LlamaEngine.load({ modelPath: model, gpu: 'cpu', threads: Number(values.threads), contextSize: 512, sequences: 2 });
  try {
    const shapes = [];
    for (const [shape, make, cursor] of BIG_DOCUMENTS) {
      const doc = make();
      const { line, character } = cursor(doc);
      const build: number[] = [];
      const keystroke: number[] = [];
      for (let i = 0; i < runs; i++) {
        let calledAt = 0;
        const timed: CompletionEngine = {
          generate: (request: FimRequest, options: GenerateOptions) => {
            calledAt = performance.now();
            return engine.generate(request, options);
          },
        };
        const p = new CompletionPipeline({ engine: timed, sleep: async () => {} });
        const t0 = performance.now();
        // A new document key each run: no cache or typing-through answers it.
        await p.complete(toInput(doc, line, character, `file:///big-${shape.length}-${i}.js`), new AbortController().signal);
        keystroke.push(performance.now() - t0);
        build.push(calledAt - t0);
      }
      shapes.push({ shape, buildMs: spread(build, 1), keystrokeMs: spread(keystroke, 1) });
    }
    const extra: number[] = [];
    const many = manyLines();
    const mini = minified();
    const clipboard = `first\nsecond\n${'x'.repeat(MB10)}\nlast`;
    for (let i = 0; i < runs; i++) {
      const ring = new ExtraContextRing();
      const t0 = performance.now();
      ring.addAround('big.min.js', mini, 1);
      ring.add({ path: 'clipboard', text: clipboard });
      ring.addAround('big.js', many, 100_000);
      extra.push(performance.now() - t0);
    }
    const worst = (key: 'buildMs' | 'keystrokeMs') => Math.max(...shapes.map((s) => s[key].median));
    writeResult('large-documents', {
      date: new Date().toISOString(),
      machine: machine(),
      model: model.split(/[\\/]/).pop(),
      threads: Number(values.threads),
      runs,
      shapes,
      extraContextMs: spread(extra, 1),
      targets: TARGETS,
      met: {
        build: worst('buildMs') < TARGETS.buildMs,
        keystroke: worst('keystrokeMs') < TARGETS.keystrokeMs,
        extraContext: spread(extra, 1).median < TARGETS.extraContextMs,
      },
      note: 'medians over the runs; the document is generated once per shape, as an editor holds it in memory',
    });
  } finally {
    await engine.dispose();
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.stack : e);
  process.exit(1);
});
