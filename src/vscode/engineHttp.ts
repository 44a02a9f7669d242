// Loads dist/engine-http.js (see src/engine/httpEntry.ts) on first use.
import * as path from 'node:path';
import type * as EngineHttp from '../engine/httpEntry';

export type EngineHttpModule = typeof EngineHttp;

/** A loader for the HTTP bundle of the extension installed at extensionPath (memoised by Node's require cache). */
export function engineHttpLoader(extensionPath: string): () => EngineHttpModule {
  // A runtime path, so esbuild leaves this require alone and the HTTP stack stays out of extension.js.
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- a separate bundle, resolved at run time
  return () => require(path.join(extensionPath, 'dist', 'engine-http.js')) as EngineHttpModule;
}
