// The engine worker's priority bookkeeping (src/engine/priority.ts) over a stand-in for the OS, and the protocol's
// check of the priority a request asks for; the real OS is exercised in test/integration/engine-priority.test.ts.
import * as assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describePriority, ECOQOS_HELPER, ecoQoSHelper, LOW_PRIORITY, WorkerPriority, type PriorityControl } from '../../src/engine/priority';
import { parseClientMessage } from '../../src/engine/protocol';

/** An OS that always lets a process lower its priority, and restore it only when `mayRaise`. */
function fakeOs(start: number, mayRaise: boolean): PriorityControl {
  let value = start;
  return {
    get: () => value,
    group: () => null,
    lower: () => {
      value = LOW_PRIORITY;
    },
    restore: () => {
      if (!mayRaise) throw new Error('uv_os_setpriority returned EACCES (permission denied)');
      value = start;
    },
  };
}

describe('engine worker priority', () => {
  it('lowers to the lowest priority and raises back to where it started, where the OS allows it', () => {
    const logs: string[] = [];
    const p = new WorkerPriority(fakeOs(5, true), (m) => logs.push(m));
    assert.deepEqual(p.status(), { level: 'normal', value: 5, group: null, startedLow: false, raiseRefused: null });
    p.lower();
    assert.deepEqual(p.status(), { level: 'low', value: LOW_PRIORITY, group: null, startedLow: true, raiseRefused: null });
    assert.equal(p.raise(), true);
    assert.deepEqual(p.status(), { level: 'normal', value: 5, group: null, startedLow: true, raiseRefused: null });
    assert.equal(p.raise(), true, 'already normal');
    assert.deepEqual(logs, [
      `running at low priority for background work (now ${LOW_PRIORITY}; started at 5)`,
      'raised from low priority for interactive work (now 5)',
    ]);
  });

  it('reports a refused raise once and stays low', () => {
    const logs: string[] = [];
    const p = new WorkerPriority(fakeOs(0, false), (m) => logs.push(m));
    p.lower();
    assert.equal(p.raise(), false);
    assert.equal(p.raise(), false, 'not asked again');
    assert.deepEqual(p.status(), {
      level: 'low',
      value: LOW_PRIORITY,
      group: null,
      startedLow: true,
      raiseRefused: 'uv_os_setpriority returned EACCES (permission denied)',
    });
    assert.equal(logs.filter((l) => /could not raise/.test(l)).length, 1);
  });

  it('keeps running at normal priority when the OS will not lower it', () => {
    const logs: string[] = [];
    const refusing: PriorityControl = {
      ...fakeOs(0, true),
      lower: () => {
        throw new Error('not allowed');
      },
    };
    const p = new WorkerPriority(refusing, (m) => logs.push(m));
    p.lower();
    assert.deepEqual(p.status(), { level: 'normal', value: 0, group: null, startedLow: false, raiseRefused: null });
    assert.match(logs[0]!, /could not lower the engine's priority \(not allowed\)/);
  });

  it('says in Show Engine Status whether it runs low, why, and what happens when it cannot be raised', () => {
    const base = { value: 0, group: null, startedLow: false, raiseRefused: null };
    assert.equal(describePriority({ ...base, level: 'normal' }), 'Priority: normal (0)');
    assert.equal(
      describePriority({ ...base, level: 'normal', group: 0, startedLow: true }),
      'Priority: normal (0, session group 0), raised for interactive work after starting low',
    );
    assert.equal(
      describePriority({ ...base, level: 'low', value: 19, group: 19, startedLow: true }),
      'Priority: low (19, session group 19), started for background work (verdant.local.efficiencyMode)',
    );
    assert.match(
      describePriority({ level: 'low', value: 19, group: 0, startedLow: true, raiseRefused: 'EACCES (permission denied)' }),
      /^Priority: low \(19, session group 0\); the OS refused to raise it for interactive work \(EACCES \(permission denied\)\), so an engine at normal priority replaces it/,
    );
  });

  it("runs the EcoQoS helper for the worker's pid and reports what it said; a package without it says so", async () => {
    assert.equal(
      await ecoQoSHelper(path.join(os.tmpdir(), 'no-such-folder', ECOQOS_HELPER))(42, true),
      'its helper is not in this package (win32-x64 only)',
    );
    // Stand-ins with the helper's contract (a real process: arguments in, exit code and stderr out).
    const dir = mkdtempSync(path.join(os.tmpdir(), 'verdant-ecoqos-'));
    try {
      const helper = (body: string) => {
        const file = path.join(dir, `${Math.random().toString(36).slice(2)}-${ECOQOS_HELPER}`);
        writeFileSync(file, `#!/bin/sh\n${body}\n`);
        chmodSync(file, 0o755);
        return ecoQoSHelper(file);
      };
      const args = path.join(dir, 'args');
      assert.equal(await helper(`echo "$@" > '${args}'`)(4242, true), undefined);
      assert.equal(readFileSync(args, 'utf8'), '4242 on\n');
      assert.equal(await helper(`echo "$@" > '${args}'`)(4242, false), undefined);
      assert.equal(readFileSync(args, 'utf8'), '4242 off\n');
      assert.equal(
        await helper('echo "SetProcessInformation(ProcessPowerThrottling) failed: error 1" >&2; exit 4')(1, true),
        'SetProcessInformation(ProcessPowerThrottling) failed: error 1',
      );
      assert.equal(await helper('exit 3')(1, true), 'its helper exited with 3');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const low = { level: 'low' as const, value: 19, group: null, startedLow: true, raiseRefused: null };
    assert.equal(
      describePriority({ ...low, ecoQoS: 'EcoQoS on' }),
      'Priority: low (19; EcoQoS on), started for background work (verdant.local.efficiencyMode)',
    );
  });

  it('accepts a generate or load that asks for low or normal priority, or none, and refuses anything else', () => {
    const config = { modelPath: '/m.gguf', gpu: 'cpu', threads: 1 };
    const generate = { type: 'generate', id: 1, config, request: { kind: 'completion', prompt: 'x', maxTokens: 1 } };
    for (const priority of ['low', 'normal', undefined]) {
      assert.ok(parseClientMessage({ ...generate, priority }), String(priority));
      assert.ok(parseClientMessage({ type: 'load', id: 2, config, priority }), String(priority));
    }
    for (const priority of ['high', 19, null, 'LOW']) {
      assert.equal(parseClientMessage({ ...generate, priority }), undefined, String(priority));
      assert.equal(parseClientMessage({ type: 'load', id: 2, config, priority }), undefined, String(priority));
    }
  });
});
