// One entry point for the HTTP inference servers: pick the backend by kind, with each server's default URL.
import type { InferenceBackend } from '../types';
import { connectionOptions, type ServerConnectionOptions } from './http';
import { LLAMA_SERVER_DEFAULT_URL, LlamaServerBackend } from './llamaServer';
import { OLLAMA_DEFAULT_URL, OllamaBackend } from './ollama';
import { LEMONADE_DEFAULT_URL, LMSTUDIO_DEFAULT_URL, MLX_DEFAULT_URL, OpenAiCompatibleBackend, type FimTemplateSpec } from './openaiCompatible';

export type HttpBackendKind = 'ollama' | 'lmstudio' | 'mlx' | 'lemonade' | 'llama-server';

/** apiKey: a bearer token for servers that need one. */
export interface HttpBackendOptions extends ServerConnectionOptions {
  /** Server base URL; empty or omitted: the kind's default. */
  readonly url?: string;
  readonly model: string;
  /** FIM prompt template for the OpenAI-compatible servers (default 'auto': from the model id). */
  readonly fimTemplate?: FimTemplateSpec;
}

export const DEFAULT_SERVER_URLS: Readonly<Record<HttpBackendKind, string>> = {
  ollama: OLLAMA_DEFAULT_URL,
  lmstudio: LMSTUDIO_DEFAULT_URL,
  mlx: MLX_DEFAULT_URL,
  lemonade: LEMONADE_DEFAULT_URL,
  'llama-server': LLAMA_SERVER_DEFAULT_URL,
};

export function createHttpBackend(kind: HttpBackendKind, options: HttpBackendOptions): InferenceBackend {
  const url = options.url || DEFAULT_SERVER_URLS[kind];
  const common = { ...connectionOptions(options), url, model: options.model };
  switch (kind) {
    case 'ollama':
      return new OllamaBackend(common);
    case 'lmstudio':
    case 'mlx':
    case 'lemonade':
      return new OpenAiCompatibleBackend({ ...common, flavour: kind, fimTemplate: options.fimTemplate });
    case 'llama-server':
      return new LlamaServerBackend(common);
  }
}

export { OllamaBackend } from './ollama';
export { OpenAiCompatibleBackend, FIM_TEMPLATES, detectFimFamily, type FimTemplate, type FimTemplateSpec, type FimFamily } from './openaiCompatible';
export { LlamaServerBackend, type InfillChunk } from './llamaServer';
