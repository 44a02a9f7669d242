// Engine errors carry a stable code (for callers and the IPC boundary) and a message that says what went wrong
// and what to do about it, in one sentence, fit to show to the user as is.

import { errorMessage } from '../core/errors';

export type EngineErrorCode =
  | 'model-not-found' // no file at the path
  | 'model-invalid' // not a GGUF file, or corrupt/truncated
  | 'model-too-big' // would not fit in memory; refused before loading
  | 'model-load-failed' // llama.cpp refused it
  | 'backend-unavailable' // a GPU backend or an HTTP server that cannot be used
  | 'router-unavailable' // the router classifier (router.onnx, in the worker) could not be loaded
  | 'bad-request'
  | 'download-failed'
  | 'checksum-mismatch'
  | 'disk-full'
  | 'worker-crashed'
  | 'worker-unavailable'
  | 'protocol-mismatch'
  | 'unauthorized' // the other end of the engine socket could not prove it holds the engine key
  | 'cancelled'
  | 'internal';

export class EngineError extends Error {
  override readonly name = 'EngineError';
  constructor(
    readonly code: EngineErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Plain-data form for the IPC boundary. */
export interface SerializedError {
  readonly code: EngineErrorCode;
  readonly message: string;
}

export function serializeError(e: unknown): SerializedError {
  if (e instanceof EngineError) return { code: e.code, message: e.message };
  return { code: 'internal', message: errorMessage(e) };
}

export function deserializeError(e: SerializedError): EngineError {
  return new EngineError(e.code, e.message);
}
