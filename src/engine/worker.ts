// Engine worker process entry (dist/engine-worker.js). Started detached by the first client on this machine (under
// desktop VS Code: the Electron binary with ELECTRON_RUN_AS_NODE=1); later clients find it through the lock file.
// Native inference code (node-llama-cpp, and onnxruntime-node for the router classifier) runs only here, never in
// the extension host.
//   engine-worker --state-dir DIR [--idle-ms N] [--priority low|normal]
import { appendFileSync, mkdirSync, renameSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { VERSION } from '../core/version';
import { LlamaEngine } from './llama/engine';
import { keyPathFor } from './handshake';
import { lockPathFor } from './lock';
import { ECOQOS_HELPER, ecoQoSHelper, osPriority, WorkerPriority } from './priority';
import { newSocketPath } from './rendezvous';
import { OnnxRouter } from './router/onnxRouter';
import { EngineServer } from './server';
import { errorMessage } from '../core/errors';

const DEFAULT_IDLE_MS = 10 * 60 * 1000;
const LOG_MAX_BYTES = 2 * 2 ** 20;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { 'state-dir': { type: 'string' }, 'idle-ms': { type: 'string' }, priority: { type: 'string' } },
  });
  const stateDir = values['state-dir'];
  if (!stateDir) {
    console.error('verdant engine worker: --state-dir DIR is required');
    process.exit(2);
  }
  mkdirSync(stateDir, { recursive: true });
  const logFile = path.join(stateDir, 'engine.log');
  const log = (message: string) => {
    const line = `${new Date().toISOString()} [${process.pid}] ${message}\n`;
    try {
      if ((statSync(logFile, { throwIfNoEntry: false })?.size ?? 0) > LOG_MAX_BYTES) renameSync(logFile, `${logFile}.1`);
      appendFileSync(logFile, line);
    } catch {
      /* logging must never take the worker down */
    }
  };
  const priority = new WorkerPriority(osPriority(process.platform, ecoQoSHelper(path.join(__dirname, ECOQOS_HELPER))), log);
  const idleMs = Number(values['idle-ms'] ?? DEFAULT_IDLE_MS);
  let socketPath: string;
  try {
    socketPath = await newSocketPath();
  } catch (e) {
    log(`could not make a private folder for the engine socket: ${errorMessage(e)}; check that the temp folder is writable`);
    process.exit(1);
  }
  const server = new EngineServer({
    socketPath,
    lockPath: lockPathFor(stateDir),
    keyPath: keyPathFor(stateDir),
    idleMs: Number.isFinite(idleMs) && idleMs > 0 ? idleMs : DEFAULT_IDLE_MS,
    priority,
    version: VERSION,
    log,
    loadEngine: (config) => LlamaEngine.load(config, { log }),
    // esbuild.mjs copies router.onnx next to this bundle; OnnxRouter requires onnxruntime-node only inside load().
    loadRouter: async () => {
      const router = await OnnxRouter.load(path.join(__dirname, 'router.onnx'));
      for (const s of router.skipped) log(`router: provider ${s.provider} unavailable: ${s.error}`);
      log(`router: using provider ${router.providers.join(', ')}`);
      return router;
    },
  });
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => server.stopAndExit(signal, 0));
  }
  process.on('uncaughtException', (e) => {
    log(`uncaught: ${e.stack ?? e}`);
    server.stopAndExit('crash', 1);
  });
  server.start().then(
    (serving) => {
      if (!serving) {
        log('another engine worker already serves this machine; exiting');
        process.exit(0);
      }
      // Once listening, so a busy machine does not hold up the start (the client waits for that), and before any
      // request: the model loads and runs at low priority, in threads that inherit it.
      if (values.priority === 'low') priority.lower();
    },
    (e) => {
      log(`could not start: ${e instanceof Error ? e.stack : e}`);
      process.exit(1);
    },
  );
}

main().catch((e: unknown) => {
  console.error(`verdant engine worker: ${errorMessage(e)}`);
  process.exit(1);
});
