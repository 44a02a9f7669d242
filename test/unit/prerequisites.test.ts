// scripts/prerequisites.mjs: what `npm test` checks before anything long, and the one message it prints.
import * as assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadPrerequisites as load } from '../support/prerequisites';

const debianLike = existsSync('/etc/os-release') && /^ID(_LIKE)?=.*(debian|ubuntu)/m.test(readFileSync('/etc/os-release', 'utf8'));

describe('npm test prerequisites', () => {
  it('a machine without the tools to install code-server: each one named, and one install line for all', async () => {
    const p = await load();
    // No PATH (no rg, cc, make, python3) and an empty cache (code-server not installed yet).
    const env = { PATH: '', VERDANT_CACHE: mkdtempSync(path.join(os.tmpdir(), 'verdant-prereq-')) };
    const missing = p.missingPrerequisites({ stages: ['e2e'], env, platform: 'linux' });
    const names = missing.map((m) => m.what);
    for (const tool of ['ripgrep (rg)', 'a C/C++ compiler and make', 'python3'])
      assert.ok(names.includes(tool), `${tool} in ${JSON.stringify(names)}`);
    assert.ok(
      missing.every((m) => !m.optional),
      'all of them are required for the e2e stage',
    );
    const message = p.describeMissing(missing);
    assert.equal(message.split('\n').filter((l) => /install with:/.test(l)).length, 1, message);
    if (debianLike) assert.match(message, /install with: (sudo )?apt-get install .*ripgrep.* build-essential.* python3/);
  });

  it('a missing Vulkan driver is optional: it skips one test and names the package', async () => {
    const p = await load();
    const env = { PATH: process.env.PATH, VK_DRIVER_FILES: '/nonexistent/lvp_icd.json', CODE_SERVER: '/bin/true' };
    // Asked as Linux (without a loader here, the answer is "no loader", which is no device either).
    assert.ok(p.vulkanProblem(env, 'linux'), 'a driver file that does not exist is no driver');
    const vulkan = p.missingPrerequisites({ stages: ['integration'], env, platform: 'linux' }).filter((m) => /Vulkan/.test(m.what));
    assert.equal(vulkan.length, 1);
    assert.equal(vulkan[0]!.optional, true);
    assert.match(vulkan[0]!.deb, /mesa-vulkan-drivers/);
    assert.equal(p.vulkanProblem(env, 'win32'), undefined, 'Windows ships its Vulkan loader with the GPU driver');
  });

  it('CHROMIUM_PATH is honoured, and nothing is missing for stages that need nothing', async () => {
    const p = await load();
    assert.equal(p.chromiumBinary({ CHROMIUM_PATH: process.execPath }), process.execPath);
    assert.deepEqual(p.missingPrerequisites({ stages: ['unit'], env: { PATH: '' } }), []);
  });
});
