// Loads dist/engine-http.js (see src/engine/httpEntry.ts) on first use.
import * as path from 'node:path';
import type * as EngineHttp from '../engine/httpEntry';

export type { EngineHttp };

export function loadEngineHttp(): typeof EngineHttp {
  // A runtime path, so esbuild leaves this require alone and the HTTP stack stays out of extension.js.
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- a separate bundle, resolved at run time
  return require(path.join(__dirname, 'engine-http.js')) as typeof EngineHttp;
}
