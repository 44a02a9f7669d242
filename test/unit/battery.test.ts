import * as assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { onBattery, parsePmset, parseWin32BatteryStatus, PowerProbe } from '../../src/core/power/battery';

function sysfs(supplies: Record<string, Record<string, string>>): string {
  const root = mkdtempSync(path.join(os.tmpdir(), 'verdant-power-'));
  for (const [name, files] of Object.entries(supplies)) {
    mkdirSync(path.join(root, name));
    for (const [f, v] of Object.entries(files)) writeFileSync(path.join(root, name, f), v + '\n');
  }
  return root;
}

describe('battery detection', () => {
  it('reads Linux sysfs: a discharging battery, or mains offline, means battery', async () => {
    assert.equal(
      await onBattery({
        platform: 'linux',
        sysfsRoot: sysfs({ AC: { type: 'Mains', online: '0' }, BAT0: { type: 'Battery', status: 'Discharging' } }),
      }),
      true,
    );
    assert.equal(
      await onBattery({ platform: 'linux', sysfsRoot: sysfs({ AC: { type: 'Mains', online: '1' }, BAT0: { type: 'Battery', status: 'Charging' } }) }),
      false,
    );
    assert.equal(await onBattery({ platform: 'linux', sysfsRoot: sysfs({ ADP1: { type: 'Mains', online: '1' } }) }), false);
    assert.equal(await onBattery({ platform: 'linux', sysfsRoot: sysfs({}) }), undefined, 'no power supply info (a server, a container)');
    assert.equal(await onBattery({ platform: 'linux', sysfsRoot: '/nonexistent/power' }), undefined);
  });

  it('parses macOS pmset and Windows Win32_Battery', async () => {
    assert.equal(parsePmset("Now drawing from 'Battery Power'\n -InternalBattery-0 (id=1)\t85%; discharging;"), true);
    assert.equal(parsePmset("Now drawing from 'AC Power'"), false);
    assert.equal(parseWin32BatteryStatus('1\r\n'), true);
    assert.equal(parseWin32BatteryStatus('2'), false);
    assert.equal(parseWin32BatteryStatus(''), undefined, 'a desktop without a battery');
    assert.equal(await onBattery({ platform: 'win32', run: async () => '1' }), true);
    assert.equal(
      await onBattery({
        platform: 'darwin',
        run: async () => {
          throw new Error('no pmset');
        },
      }),
      undefined,
    );
  });

  it('answers on this machine without throwing', async () => {
    const v = await onBattery();
    assert.ok(v === undefined || typeof v === 'boolean');
  });

  it('stops asking once the OS has no way to say (PowerShell missing or no battery, as under Wine), and keeps asking after a passing failure', async () => {
    // The real spawn: there is no powershell.exe on this Linux machine, as there is none under Wine.
    const missing = new PowerProbe({ platform: 'win32' });
    for (let i = 0; i < 3; i++) assert.equal(await missing.onBattery(), undefined);
    assert.deepEqual([missing.asked, missing.gaveUp], [1, true]);
    // Windows with no battery (a desktop; Wine's PowerShell stub prints nothing): none will appear.
    const desktop = new PowerProbe({ platform: 'win32', run: async () => '\r\n' });
    for (let i = 0; i < 3; i++) assert.equal(await desktop.onBattery(), undefined);
    assert.deepEqual([desktop.asked, desktop.gaveUp], [1, true]);
    let calls = 0;
    const flaky = new PowerProbe({
      platform: 'win32',
      run: async () => {
        calls++;
        if (calls === 1) throw Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' });
        return '1';
      },
    });
    assert.equal(await flaky.onBattery(), undefined);
    assert.equal(flaky.gaveUp, false);
    assert.equal(await flaky.onBattery(), true);
    assert.equal(flaky.asked, 2);
  });
});
