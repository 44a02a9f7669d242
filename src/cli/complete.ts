// `verdant complete`: one completion from a local GGUF model, in this process (no worker, no VS Code). With
// --ledger DIR the request is written to that carbon ledger as one SCI record, through the same ModelCalls the
// extension records its own requests with.
import { detectDevice, osFacts } from '../core/carbon/energy/devices';
import { Ledger } from '../core/carbon/ledger';
import { sciForLocalUsage } from '../core/carbon/sci';
import type { SciRecord } from '../core/carbon/types';
import type { LocalUsageRecord } from '../core/usage';
import { LlamaEngine } from '../engine/llama/engine';
import type { GenerateRequest } from '../engine/types';
import { ModelCalls } from '../core/tasks/calls';
import { engineFlags, numberFlag, UsageError } from './args';
import { intensityService, zoneFlags } from './carbon';
import type { Command, CommandArgs } from './command';

export interface CompleteOutput {
  readonly text: string;
  readonly backend: string;
  readonly model: string;
  readonly usedFim: boolean;
  readonly stopReason: string;
  readonly promptTokens: number;
  readonly evaluatedTokens: number | null;
  readonly generatedTokens: number;
  readonly ttftMs: number;
  readonly tokensPerSecond: number;
  readonly meanLogProb: number | null;
  readonly loadMs: number;
  /** With --ledger: the record written, and its grams. */
  readonly recordId?: string;
  readonly gCO2e?: number;
}

export const completeCommand: Command = {
  summary: 'complete text with a local GGUF model (fill-in-the-middle with --prefix/--suffix)',
  usage:
    'verdant complete --model PATH (--prompt TEXT | --prefix TEXT [--suffix TEXT]) [--max-tokens N] [--threads N] [--gpu auto|vulkan|cuda|metal|cpu] [--ledger DIR [--zone Z]] [--json]',
  flags: {
    model: { type: 'string', value: 'PATH', description: 'GGUF model file' },
    prompt: { type: 'string', value: 'TEXT', description: 'text to continue' },
    prefix: { type: 'string', value: 'TEXT', description: 'text before the cursor (fill-in-the-middle)' },
    suffix: { type: 'string', value: 'TEXT', description: 'text after the cursor (fill-in-the-middle)' },
    'max-tokens': { type: 'string', value: 'N', description: 'tokens to generate at most (default 64)' },
    threads: { type: 'string', value: 'N', description: 'CPU threads (default: physical cores minus one)' },
    gpu: { type: 'string', value: 'BACKEND', description: 'auto (default), vulkan, cuda, metal or cpu' },
    ledger: { type: 'string', value: 'DIR', description: 'write this request to the carbon ledger in DIR (one SCI record)' },
    ...zoneFlags,
  },
  async run(args): Promise<CompleteOutput> {
    const { flags, io, json } = args;
    const modelPath = flags.model;
    if (typeof modelPath !== 'string' || modelPath === '') throw new UsageError('--model PATH is required.');
    const prompt = flags.prompt;
    const prefix = flags.prefix;
    if ((prompt === undefined) === (prefix === undefined)) throw new UsageError('give either --prompt TEXT, or --prefix TEXT with --suffix TEXT.');
    if (prompt !== undefined && flags.suffix !== undefined) throw new UsageError('--suffix goes with --prefix, not --prompt.');
    const { gpu, threads } = engineFlags(flags);
    const maxTokens = numberFlag(flags['max-tokens'], 'max-tokens', { min: 1, max: 4096, integer: true }) ?? 64;
    const request: GenerateRequest =
      prompt !== undefined
        ? { kind: 'completion', prompt: String(prompt), maxTokens }
        : { kind: 'fim', prefix: String(prefix), suffix: String(flags.suffix ?? ''), maxTokens, confidence: true }; // printed below

    const ledger = flags.ledger === undefined ? undefined : String(flags.ledger);
    if (ledger === '') throw new UsageError('--ledger needs a folder.');
    const engine = await LlamaEngine.load({ modelPath, gpu, threads, contextSize: 2048, sequences: 1 });
    try {
      const calls = new ModelCalls({
        local: {
          generate: (request, options) => engine.generate(request, options),
          record: (usage) => (ledger === undefined ? Promise.resolve(undefined) : recordIn(ledger, usage, args)),
        },
      });
      // Text mode streams to stdout as it is generated; --json prints one object at the end.
      const { result, recordIds, grams } = await calls.generateLocal('cli-complete', request, json ? {} : { sink: (t) => io.write(t) });
      if (!json) io.out('');
      return {
        ...(recordIds[0] !== undefined ? { recordId: recordIds[0], gCO2e: grams } : {}),
        text: result.text,
        backend: result.backend,
        model: result.model,
        usedFim: result.usedFim,
        stopReason: result.stopReason,
        promptTokens: result.timing.promptTokens,
        evaluatedTokens: result.timing.evaluatedTokens,
        generatedTokens: result.timing.generatedTokens,
        ttftMs: round(result.timing.ttftMs),
        tokensPerSecond: round(result.timing.tokensPerSecond),
        meanLogProb: result.confidence.meanLogProb === null ? null : round(result.confidence.meanLogProb, 4),
        loadMs: round(engine.stats.loadMs),
      };
    } finally {
      await engine.dispose();
    }
  },
  format: (r) => {
    const o = r as CompleteOutput;
    return (
      `[${o.backend}, ${o.generatedTokens} tokens, ${o.tokensPerSecond} tok/s, first token ${o.ttftMs} ms, stop: ${o.stopReason}` +
      `${o.recordId ? `, ${o.gCO2e} gCO2e, ledger record ${o.recordId}` : ''}]`
    );
  },
};

/** One SCI record for this request, at the zone's grid (--zone, else $VERDANT_ZONE), appended to the ledger. */
async function recordIn(dir: string, usage: LocalUsageRecord, args: Pick<CommandArgs, 'flags'>): Promise<SciRecord> {
  const intensity = await intensityService(args).current();
  const record = sciForLocalUsage(usage, detectDevice(osFacts(), usage.backend), intensity, undefined, { measuredJoules: usage.measuredJoules });
  await new Ledger({ dir }).append(record);
  return record;
}

function round(n: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}
