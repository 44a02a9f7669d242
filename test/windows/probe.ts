// Runs under Windows Node (node.exe under Wine in CI: scripts/test-windows.mjs), from the dist/ folder of an unpacked
// win32-x64 vsix: two engine clients share one worker over a real Windows named pipe (start, generate, the router
// on onnxruntime-node's win32 binding, kill the worker, restart), the power-state probe where PowerShell says
// nothing, and a worker started for background work (Idle class, EcoQoS). Writes what it saw as JSON to the file
// named by its first argument (stdout to a pipe fails under Wine).
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { PowerProbe } from '../../src/core/power/battery';
import { featureVector } from '../../src/core/routing/features';
import { parseWordVectors } from '../../src/core/routing/wordVectors';
import { EngineClient } from '../../src/engine/client';
import { lockPathFor, pidAlive, readLock } from '../../src/engine/lock';

const [resultFile, stateDir, modelPath, backgroundStateDir] = process.argv.slice(2);

async function main(): Promise<Record<string, unknown>> {
  if (!resultFile || !stateDir || !modelPath || !backgroundStateDir)
    throw new Error('usage: windows-probe RESULT_FILE STATE_DIR MODEL BACKGROUND_STATE_DIR');
  const seen: Record<string, unknown> = { platform: process.platform, node: process.version };
  const events: string[] = [];
  const client = (name: string, dir = stateDir) =>
    new EngineClient({
      stateDir: dir,
      workerScript: path.join(__dirname, 'engine-worker.js'),
      clientName: name,
      idleMs: 60_000,
      startTimeoutMs: 120_000,
      onWorkerEvent: (e) => events.push(e.type),
    });
  const config = { modelPath, gpu: 'cpu' as const, threads: 1, contextSize: 512, sequences: 2 };
  const a = client('window A');
  const b = client('window B');
  try {
    const prompt = 'Once upon a time, there was a little girl named Lily.';
    const [ra, rb] = await Promise.all([
      a.generate(config, { kind: 'completion', prompt, maxTokens: 8, sessionKey: 'a' }),
      b.generate(config, { kind: 'completion', prompt, maxTokens: 8, sessionKey: 'b' }),
    ]);
    const lock = await readLock(lockPathFor(stateDir));
    const status = await b.status();
    seen.shared = {
      pidA: a.workerPid,
      pidB: b.workerPid,
      lockPid: lock?.pid,
      socket: lock?.socket,
      clients: status.clients,
      backend: status.models[0]?.backend,
      textA: ra.text,
      textB: rb.text,
    };
    const input = { kind: 'ask' as const, promptTokens: 200, localContextTokens: 8192, files: 0, selectionChars: 0, onBattery: false };
    // The shipped word vectors, next to this bundle in the vsix's dist/.
    const vectors = parseWordVectors(readFileSync(path.join(__dirname, 'word-vectors.bin')));
    const routed = await a.route([featureVector({ ...input, text: 'why does this deadlock under load?' }, vectors), featureVector(input, vectors)]);
    seen.route = routed;
    // The worker dies (a crash, Task Manager): the next request starts a new one on a new pipe.
    const first = a.workerPid!;
    process.kill(first);
    // Both clients see the pipe close (a request sent before that fails with "try again", as it should).
    const deadline = Date.now() + 60_000;
    while (events.filter((e) => e === 'crashed').length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const again = await b.generate(config, { kind: 'completion', prompt, maxTokens: 8, sessionKey: 'b' });
    seen.restart = { killed: first, firstAlive: pidAlive(first), newPid: b.workerPid, text: again.text, events };
    const power = new PowerProbe();
    const readings = [await power.onBattery(), await power.onBattery(), await power.onBattery()];
    seen.power = { readings: readings.map(String), asked: power.asked, gaveUp: power.gaveUp };
    // Background work starts a worker of its own (another state folder): the Idle class and EcoQoS (Efficiency Mode).
    const c = client('background', backgroundStateDir);
    try {
      await c.generate(config, { kind: 'completion', prompt, maxTokens: 4 }, { purpose: 'background' });
      // The helper runs beside the request (asynchronously): wait for its answer, a minute at most.
      const until = Date.now() + 60_000;
      let status = await c.status();
      while (/being set/.test(status.priority.ecoQoS ?? '') && Date.now() < until) {
        await new Promise((r) => setTimeout(r, 200));
        status = await c.status();
      }
      seen.background = status.priority;
    } finally {
      const pid = c.workerPid;
      c.dispose();
      if (pid !== undefined && pidAlive(pid)) process.kill(pid);
    }
    return seen;
  } finally {
    const pid = b.workerPid ?? a.workerPid;
    a.dispose();
    b.dispose();
    if (pid !== undefined && pidAlive(pid)) process.kill(pid);
  }
}

main().then(
  (seen) => writeFileSync(resultFile!, JSON.stringify({ ok: true, ...seen }, null, 2)),
  (e: unknown) => {
    writeFileSync(resultFile!, JSON.stringify({ ok: false, error: e instanceof Error ? (e.stack ?? e.message) : String(e) }, null, 2));
    process.exitCode = 1;
  },
);
