// Real engine workers for the integration suites: clients of dist/engine-worker.js on a fresh state folder per test,
// the test model's config, and cleanup that disposes every client and kills the worker the test started.
import { mkdtempSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EngineClient, type EngineClientOptions } from '../../src/engine/client';
import type { ModelConfig } from '../../src/engine/llama/engine';
import { lockPathFor, pidAlive, readLock } from '../../src/engine/lock';
import { removeSocket } from '../../src/engine/rendezvous';
import { testModels, type TestModels } from './models';

export const WORKER = path.resolve('dist/engine-worker.js');
export const LILY = 'Once upon a time, there was a little girl named Lily. She';

export interface WorkerFixture {
  readonly models: TestModels;
  readonly stateDir: string;
  client(name: string, over?: Partial<EngineClientOptions>): EngineClient;
  config(over?: Partial<ModelConfig>): ModelConfig;
  /** Call in before(): loads (or makes) the test models. */
  load(): Promise<void>;
  /** Call in beforeEach(): a new state folder, so each test gets its own worker. */
  fresh(): void;
  /** Call in afterEach(): disposes the clients; returns the pid of the worker the lock names, killed if alive. */
  cleanup(): Promise<number | undefined>;
}

export function workerFixture(prefix: string): WorkerFixture {
  let models: TestModels | undefined;
  let stateDir = '';
  const clients: EngineClient[] = [];
  return {
    get models() {
      if (!models) throw new Error('workerFixture: call load() in before()');
      return models;
    },
    get stateDir() {
      return stateDir;
    },
    client(name, over = {}) {
      const c = new EngineClient({ stateDir, workerScript: WORKER, clientName: name, idleMs: 3000, ...over });
      clients.push(c);
      return c;
    },
    config(over = {}) {
      return { modelPath: this.models.base, gpu: 'cpu', threads: 1, contextSize: 512, sequences: 2, ...over };
    },
    async load() {
      models = await testModels();
    },
    fresh() {
      stateDir = mkdtempSync(path.join(os.tmpdir(), prefix));
    },
    async cleanup() {
      const lock = await readLock(lockPathFor(stateDir));
      const pid = lock?.pid;
      for (const c of clients.splice(0)) c.dispose();
      if (pid && pid !== process.pid && pidAlive(pid)) {
        process.kill(pid, 'SIGKILL');
        await removeSocket(lock.socket); // a killed worker leaves its socket folder in the temp folder
      }
      return pid;
    },
  };
}
