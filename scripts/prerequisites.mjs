#!/usr/bin/env node
// What `npm test` needs from the operating system, checked in a second before anything long runs: the browser and
// code-server (or what installing code-server needs) for the e2e stages, and the Vulkan loader and a driver for the
// one hardware-dependent integration test. A missing requirement is reported once, with the exact install line on
// Debian/Ubuntu; a missing Vulkan device only skips its test (the reason is printed there and in the total).
//   node scripts/prerequisites.mjs [--for e2e,integration,code-server]   exit 1 when a requirement is missing
// Imported by scripts/test.mjs, test/e2e/run-in-code-server.mjs and the Vulkan test (one list of what to look for).
import { execFileSync } from 'node:child_process';
import { accessSync, constants, existsSync, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The browser that renders the VS Code workbench in the e2e stages: $CHROMIUM_PATH, else the usual places. */
export function chromiumBinary(env = process.env) {
  for (const p of [
    env.CHROMIUM_PATH,
    '/usr/bin/chromium',
    '/usr/bin/chromium-browser',
    '/usr/bin/google-chrome',
    '/Applications/Chromium.app/Contents/MacOS/Chromium',
    '/Applications/Google Chrome.app/Contents/MacOS/Google Chrome',
  ]) {
    if (p && existsSync(p)) return p;
  }
  return undefined;
}

function onPath(tool, env = process.env) {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    try {
      accessSync(path.join(dir, tool), constants.X_OK);
      return true;
    } catch {
      /* not here */
    }
  }
  return false;
}

/** Linux only: whether the dynamic linker can find `lib` (ldconfig's cache, then the usual folders). */
function sharedLibrary(lib) {
  for (const ldconfig of ['/sbin/ldconfig', '/usr/sbin/ldconfig']) {
    if (!existsSync(ldconfig)) continue;
    try {
      if (execFileSync(ldconfig, ['-p'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).includes(`${lib} `)) return true;
    } catch {
      /* fall through to the folders */
    }
  }
  return ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib', '/lib/x86_64-linux-gnu'].some((d) =>
    existsSync(path.join(d, lib)),
  );
}

/**
 * Why no Vulkan device can be expected here, or undefined when the loader and at least one driver (ICD) are
 * installed. Only Linux is checked (Windows and macOS ship their loader with the GPU driver or MoltenVK).
 */
export function vulkanProblem(env = process.env, platform = process.platform) {
  if (platform !== 'linux') return undefined;
  if (!sharedLibrary('libvulkan.so.1')) return 'no Vulkan loader (libvulkan.so.1) is installed';
  const given = env.VK_DRIVER_FILES || env.VK_ICD_FILENAMES;
  if (given)
    return given.split(':').some((f) => existsSync(f))
      ? undefined
      : `no Vulkan driver file named by VK_DRIVER_FILES/VK_ICD_FILENAMES (${given}) exists`;
  const dirs = ['/usr/share/vulkan/icd.d', '/etc/vulkan/icd.d', '/usr/local/share/vulkan/icd.d'];
  const icds = dirs.flatMap((d) => {
    try {
      return readdirSync(d).filter((f) => f.endsWith('.json'));
    } catch {
      return [];
    }
  });
  return icds.length > 0 ? undefined : `no Vulkan driver (ICD) is installed: nothing in ${dirs.join(', ')}`;
}

/**
 * Linux: why deferred jobs cannot be handed to an OS scheduler here (test/integration/os-scheduler.test.ts), or
 * undefined when a systemd user instance answers, or at(1) is installed and its daemon runs.
 */
export function osSchedulerProblem(env = process.env, platform = process.platform) {
  if (platform !== 'linux') return undefined;
  try {
    execFileSync('systemctl', ['--user', 'show-environment'], { env, stdio: 'ignore' });
    return undefined;
  } catch {
    /* no user instance: at(1) then */
  }
  if (!onPath('at', env)) return 'there is no systemd user instance and at(1) is not installed';
  try {
    execFileSync('pgrep', ['-x', 'atd'], { stdio: 'ignore' });
    return undefined;
  } catch {
    return 'at(1) is installed but its daemon is not running: start it (as root: /usr/sbin/atd)';
  }
}

function osId() {
  try {
    const text = readFileSync('/etc/os-release', 'utf8');
    const field = (k) => new RegExp(`^${k}="?([^"\\n]*)"?$`, 'm').exec(text)?.[1] ?? '';
    return { id: field('ID'), like: field('ID_LIKE') };
  } catch {
    return { id: '', like: '' };
  }
}

/** Whether a finished code-server install is already cached (scripts/ensure-code-server.sh --installed). */
function codeServerInstalled(env) {
  if (env.CODE_SERVER) return true;
  try {
    execFileSync('bash', [path.join(root, 'scripts/ensure-code-server.sh'), '--installed'], { env, stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * The requirements of the given stages that this machine lacks. Each: what it is, why it is needed, the Debian
 * package that provides it, and what to do elsewhere. `optional` ones skip a test instead of failing the run.
 */
export function missingPrerequisites({ stages = ['e2e', 'integration'], env = process.env, platform = process.platform } = {}) {
  const missing = [];
  const ubuntu = /ubuntu/.test(`${osId().id} ${osId().like}`) && osId().id !== 'debian';
  const need = (what, why, deb, elsewhere, optional = false) => missing.push({ what, why, deb, elsewhere, optional });
  const nodeMajor = Number(process.versions.node.split('.')[0]);
  if (nodeMajor < 20)
    need(`Node.js 20 or newer (this is ${process.versions.node})`, 'Verdant and its tests', 'nodejs', 'install Node.js 20 from nodejs.org');

  if (stages.includes('e2e') || stages.includes('code-server')) {
    if (stages.includes('e2e') && !chromiumBinary(env)) {
      need(
        'chromium',
        'it renders the VS Code workbench in the e2e tests',
        ubuntu ? 'chromium-browser' : 'chromium',
        'install Chromium or Chrome, or set CHROMIUM_PATH',
      );
    }
    if (platform === 'linux' && !codeServerInstalled(env)) {
      // What scripts/ensure-code-server.sh needs to install code-server (native modules built from source).
      if (!onPath('rg', env)) need('ripgrep (rg)', "code-server's install", 'ripgrep', 'install ripgrep');
      if (!onPath('cc', env) || !onPath('make', env) || !onPath('g++', env))
        need('a C/C++ compiler and make', "code-server's native modules", 'build-essential', 'install a C/C++ toolchain');
      if (!onPath('python3', env)) need('python3', "node-gyp, building code-server's native modules", 'python3', 'install Python 3');
      if (!existsSync('/usr/include/krb5.h') && !existsSync('/usr/include/krb5/krb5.h') && !onPath('krb5-config', env)) {
        need('Kerberos headers (krb5.h)', "code-server's kerberos module", 'libkrb5-dev', 'install the Kerberos development headers');
      }
      if (nodeMajor !== 20)
        need(
          `Node.js 20 for code-server 4.100 (this is ${process.versions.node})`,
          'the e2e tests',
          'nodejs',
          'use Node.js 20, or set CODE_SERVER to a code-server that runs here',
        );
    }
  }
  if (stages.includes('integration')) {
    const scheduler = osSchedulerProblem(env, platform);
    if (scheduler)
      need(
        'an OS scheduler: a systemd user instance, or at(1) with atd running',
        `the test of deferred jobs that run with VS Code closed: ${scheduler}`,
        'at',
        'run the tests in a systemd user session, or install at and start atd',
      );
    const vulkan = vulkanProblem(env, platform);
    if (vulkan) {
      const deb = vulkan.includes('loader') ? 'libvulkan1 mesa-vulkan-drivers' : 'mesa-vulkan-drivers';
      need(
        "a Vulkan loader and driver (Mesa's lavapipe runs on the CPU)",
        `the Vulkan backend test: ${vulkan}`,
        deb,
        "install your GPU's Vulkan driver",
        true,
      );
    }
  }
  return missing;
}

/** The install line for a list of requirements on this OS: the exact apt-get line on Debian/Ubuntu. */
export function installAdvice(missing, platform = process.platform) {
  if (missing.length === 0) return '';
  const { id, like } = osId();
  if (platform === 'linux' && /debian|ubuntu/.test(`${id} ${like}`)) {
    const sudo = typeof process.getuid === 'function' && process.getuid() === 0 ? '' : 'sudo ';
    const pkgs = [...new Set(missing.flatMap((m) => m.deb.split(' ')))];
    return `${sudo}apt-get install ${pkgs.join(' ')}`;
  }
  return missing.map((m) => m.elsewhere).join('; ');
}

/** One message for what is missing, or '' when nothing is. */
export function describeMissing(missing) {
  if (missing.length === 0) return '';
  const list = missing.map((m) => `  - ${m.what}: ${m.why}`).join('\n');
  return `${list}\ninstall with: ${installAdvice(missing)}`;
}

// Run as a script: check the stages given with --for, print what is missing, exit 1 when something required is.
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({ options: { for: { type: 'string', default: 'e2e,integration' } } });
  const missing = missingPrerequisites({ stages: values.for.split(',') });
  const required = missing.filter((m) => !m.optional);
  const optional = missing.filter((m) => m.optional);
  if (required.length > 0) console.error(`Missing before the tests can run:\n${describeMissing(required)}`);
  if (optional.length > 0) console.error(`Optional (its test is skipped without it):\n${describeMissing(optional)}`);
  process.exit(required.length > 0 ? 1 : 0);
}
