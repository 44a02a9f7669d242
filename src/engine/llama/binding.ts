// node-llama-cpp is ESM-only and native: it is loaded lazily with a real dynamic import (esbuild keeps import() as
// is), only in the engine worker or the CLI, never in the extension host.
import type * as NodeLlamaCpp from 'node-llama-cpp' with { 'resolution-mode': 'import' };

export type LlamaModule = typeof NodeLlamaCpp;
export type Llama = NodeLlamaCpp.Llama;
export type LlamaModel = NodeLlamaCpp.LlamaModel;
export type LlamaContext = NodeLlamaCpp.LlamaContext;
export type LlamaContextSequence = NodeLlamaCpp.LlamaContextSequence;
export type Token = NodeLlamaCpp.Token;
export type LlamaGrammar = NodeLlamaCpp.LlamaGrammar;
export type LlamaGrammarEvaluationState = NodeLlamaCpp.LlamaGrammarEvaluationState;
export type GbnfJsonSchema = NodeLlamaCpp.GbnfJsonSchema;

export function importLlama(): Promise<LlamaModule> {
  return import('node-llama-cpp');
}
