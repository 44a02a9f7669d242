#!/usr/bin/env node
// Runs the e2e mocha suite (out/test/e2e/suite) inside a real VS Code extension host: code-server's server and
// Node extension host, with its web workbench in headless Debian chromium driven by playwright-core. The suite is
// loaded the way @vscode/test-electron loads it, through extensionDevelopmentPath/extensionTestsPath, here passed
// in the workbench URL's `payload`. The extension host reports its exit code through window.codeAutomationExit.
// The runner also checks the real DOM: the status-bar item must be rendered by the workbench.
//   node test/e2e/run-in-code-server.mjs [--cs BIN] [--ext DIR] [--timeout S] [--screenshot PNG] [--keep]
// --ext runs the suite against another copy of the extension (e.g. one installed from a .vsix).
// Prints "N passed, N failed, N skipped"; exits 0 only when nothing failed and something passed (1 failure, 124 timeout,
// 2 harness error).
import { spawn, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { format, parseArgs } from 'node:util';
import { chromium as playwrightChromium } from 'playwright-core';
import { chromiumBinary, installAdvice, missingPrerequisites } from '../../scripts/prerequisites.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const { values: args } = parseArgs({
  options: {
    cs: { type: 'string' },
    ext: { type: 'string' },
    timeout: { type: 'string' },
    screenshot: { type: 'string' },
    keep: { type: 'boolean' },
    untrusted: { type: 'boolean' },
  },
});
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const statusItemId = `${pkg.publisher}.${pkg.name}.verdant.status`; // the workbench's DOM id: <extension id>.<item id>
const gaugeItemId = `${pkg.publisher}.${pkg.name}.verdant.carbon`;
const extension = path.resolve(args.ext ?? root);
const tests = path.join(root, 'out/test/e2e/suite/index.js');
const workspace = path.join(root, 'test/fixtures/ws');
const timeoutS = Number(args.timeout ?? process.env.E2E_TIMEOUT ?? 600);
const t0 = Date.now();
const log = (...a) => console.log(`[e2e ${((Date.now() - t0) / 1000).toFixed(1)}s]`, ...a);

function codeServerBinary() {
  const given = args.cs ?? process.env.CODE_SERVER;
  if (given) return given;
  return execFileSync('bash', [path.join(root, 'scripts/ensure-code-server.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
}

function chromium() {
  const found = chromiumBinary();
  if (found) return found;
  throw new Error(
    `no chromium found: ${installAdvice(missingPrerequisites({ stages: ['e2e'] }).filter((m) => m.what === 'chromium'))} (or set CHROMIUM_PATH)`,
  );
}

const freePort = () =>
  new Promise((resolve, reject) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });

const healthy = (port) =>
  new Promise((resolve) => {
    http
      .get(`http://127.0.0.1:${port}/healthz`, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      })
      .on('error', () => resolve(false));
  });

async function main() {
  if (!fs.existsSync(tests)) throw new Error(`${tests} is missing: run "npm run build" first`);
  const cs = codeServerBinary();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'verdant-e2e-'));
  const userData = path.join(tmp, 'user-data');
  fs.mkdirSync(path.join(userData, 'User'), { recursive: true });
  // telemetry off is required offline: failing telemetry DNS lookups surface as uncaught errors that mocha pins
  // on whichever test is running.
  fs.writeFileSync(
    path.join(userData, 'User', 'settings.json'),
    JSON.stringify(
      {
        'telemetry.telemetryLevel': 'off',
        'workbench.startupEditor': 'none',
        'extensions.autoCheckUpdates': false,
        'extensions.autoUpdate': false,
        'update.mode': 'none',
        'workbench.enableExperiments': false,
        'chat.disableAIFeatures': true,
        'git.openRepositoryInParentFolders': 'never',
        // Word suggestions would pop the suggest widget while the tests type, and inline completions defer to it.
        'editor.wordBasedSuggestions': 'off',
      },
      null,
      2,
    ),
  );
  // Efficiency Mode off: a worker that a deferred job starts would otherwise run at the lowest priority, and beside
  // busy processes (npm run test:stress) get too little CPU to finish within a test's hang limit, by design. Its
  // priorities are tested in test/integration/engine-priority.test.ts. Machine-scoped: Machine/settings.json.
  fs.mkdirSync(path.join(userData, 'Machine'), { recursive: true });
  fs.writeFileSync(path.join(userData, 'Machine', 'settings.json'), JSON.stringify({ 'verdant.local.efficiencyMode': 'off' }, null, 2));
  const resultsFile = path.join(tmp, 'results.json');
  // Screenshots on request: the suite writes <shots>/request-<name>, the runner saves
  // test-output/screenshots/<name>.png and answers with <shots>/done-<name>.
  const shotsDir = path.join(tmp, 'shots');
  const shotsOut = path.join(root, 'test-output', 'screenshots');
  fs.mkdirSync(shotsDir, { recursive: true });
  fs.mkdirSync(shotsOut, { recursive: true });
  const metricsFile = path.join(tmp, 'metrics.json');
  // Keep code-server, the extension host and chromium from writing under $HOME.
  const xdg = {
    XDG_CONFIG_HOME: path.join(tmp, 'xdg-config'),
    XDG_DATA_HOME: path.join(tmp, 'xdg-data'),
    XDG_CACHE_HOME: path.join(tmp, 'xdg-cache'),
  };
  const port = Number(process.env.E2E_PORT) || (await freePort());
  const csLog = path.join(tmp, 'code-server.log');
  const server = spawn(
    cs,
    [
      '--bind-addr',
      `127.0.0.1:${port}`,
      '--auth',
      'none',
      '--disable-telemetry',
      '--disable-update-check',
      // --untrusted: workspace trust on and the fixture folder not trusted (restricted mode); only untrusted.test.js runs.
      ...(args.untrusted ? [] : ['--disable-workspace-trust']),
      '--disable-getting-started-override',
      '--config',
      path.join(tmp, 'config.yaml'),
      '--user-data-dir',
      userData,
      '--extensions-dir',
      path.join(tmp, 'extensions'),
    ],
    {
      detached: true, // own process group, so the extension host and its children die with it
      stdio: ['ignore', fs.openSync(csLog, 'w'), fs.openSync(csLog, 'a')],
      // The extension host inherits these; E2E_REPO_ROOT lets the suite find the test model as the other suites do.
      env: {
        ...process.env,
        ...xdg,
        E2E_RESULTS: resultsFile,
        E2E_METRICS: metricsFile,
        E2E_REPO_ROOT: root,
        // Where code-server keeps the user's and the remote machine's settings (remote.test.js reads Machine/).
        E2E_USER_DATA: userData,
        E2E_SHOTS: shotsDir,
        ...(args.untrusted ? { E2E_UNTRUSTED: '1' } : {}),
      },
    },
  );
  const stopServer = () => {
    try {
      process.kill(-server.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  };
  process.on('exit', stopServer);
  let serverExit = null;
  server.on('exit', (c) => {
    serverExit = c;
  });
  for (let i = 0; !(await healthy(port)); i++) {
    if (serverExit !== null || i > 600) throw new Error(`code-server did not start; see ${csLog}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  log(`code-server ${cs} on 127.0.0.1:${port}, extension ${extension}`);

  let cleanup = () => {};
  const browser = await playwrightChromium.launchPersistentContext(path.join(tmp, 'chromium-profile'), {
    executablePath: chromium(),
    headless: true,
    viewport: { width: 1400, height: 850 },
    env: { ...process.env, ...xdg },
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
    ],
  });
  try {
    const page = browser.pages()[0] ?? (await browser.newPage());
    let onExit;
    const exited = new Promise((r) => {
      onExit = r;
    });
    await page.exposeFunction('codeAutomationExit', (code) => onExit(code));
    await page.exposeFunction('codeAutomationLog', (_type, a) => console.log(format(...(a ?? []))));
    page.on('pageerror', (e) => log('page error:', e.message));
    if (process.env.E2E_DEBUG) page.on('console', (m) => log(`browser ${m.type()}:`, m.text()));
    await page.addInitScript(
      (ids) => {
        // Newer VS Code honours the payload's development options in a built product only with the smoke-test
        // driver on (code-server's CLI rejects that flag), so switch it on in the page's configuration.
        const patch = (el) => {
          if (el.id !== 'vscode-workbench-web-configuration' || el.dataset.verdantPatched) return;
          const cfg = JSON.parse(el.getAttribute('data-settings'));
          cfg.developmentOptions = { ...(cfg.developmentOptions ?? {}), enableSmokeTestDriver: true };
          el.setAttribute('data-settings', JSON.stringify(cfg));
          el.dataset.verdantPatched = '1';
        };
        // Record each status-bar item the first time the workbench renders it with the text we look for: the
        // extension host (and with it the items) is gone once the suite ends.
        const seen = (window.__verdantItems = {});
        const wanted = { [ids.status]: /Verdant/, [ids.gauge]: /\d+ g\/kWh/ };
        new MutationObserver((records) => {
          for (const r of records) for (const n of r.addedNodes) if (n.nodeType === 1) patch(n);
          for (const [id, re] of Object.entries(wanted)) {
            const item = document.getElementById(id);
            if (item && !seen[id] && re.test(item.textContent)) {
              const visible = item.getBoundingClientRect().width > 0 && getComputedStyle(item).display !== 'none';
              seen[id] = { text: item.textContent.trim(), label: item.getAttribute('aria-label') ?? '', visible };
            }
          }
        }).observe(document, { childList: true, subtree: true, characterData: true });
      },
      { status: statusItemId, gauge: gaugeItemId },
    );

    const authority = `127.0.0.1:${port}`; // code-server's remote authority is the page's host:port
    const payload = [
      ['extensionDevelopmentPath', `vscode-remote://${authority}${extension}`],
      ['extensionTestsPath', `vscode-remote://${authority}${tests}`],
      ['skipWelcome', 'true'],
      ['skipReleaseNotes', 'true'],
    ];
    await page.goto(`http://${authority}/?folder=${encodeURIComponent(workspace)}&payload=${encodeURIComponent(JSON.stringify(payload))}`);
    await page.waitForSelector('.monaco-workbench', { timeout: 120000 });
    // The page must hold focus as a user's window would: editors only trigger inline suggestions when focused.
    await page.bringToFront();
    await page.focus('.monaco-workbench').catch(() => {});
    log('workbench loaded');
    if (args.screenshot) {
      page
        .waitForSelector(`[id="${statusItemId}"]`, { timeout: 60000 })
        .then(() => page.screenshot({ path: args.screenshot }))
        .then(
          () => log(`screenshot ${args.screenshot}`),
          () => {},
        );
    }
    let finished = false;
    // What the Command Palette lists for a query, as a user sees it (commands hidden by a `when` clause are not
    // there): the suite writes <shots>/palette-<id> holding the query, the runner answers <shots>/listed-<id> (JSON).
    const paletteLists = async (f) => {
      const id = f.slice('palette-'.length).replace(/[^\w.-]/g, '_');
      const query = fs.readFileSync(path.join(shotsDir, f), 'utf8');
      fs.rmSync(path.join(shotsDir, f), { force: true });
      let labels = [];
      try {
        await page.keyboard.press('F1');
        await page.waitForSelector('.quick-input-widget .quick-input-box input', { state: 'visible', timeout: 10000 });
        await page.keyboard.type(query);
        await page.waitForTimeout(500); // the list filters as it is typed
        labels = await page.$$eval('.quick-input-widget .monaco-list-row', (rows) =>
          rows.map((r) => r.getAttribute('aria-label') ?? r.textContent ?? ''),
        );
        await page.keyboard.press('Escape');
      } catch (e) {
        log(`palette ${id} failed: ${e.message}`);
      }
      // Written whole, then renamed: the suite waits for the name, and must never read a half-written file.
      fs.writeFileSync(path.join(shotsDir, `tmp-listed-${id}`), JSON.stringify(labels));
      fs.renameSync(path.join(shotsDir, `tmp-listed-${id}`), path.join(shotsDir, `listed-${id}`));
    };
    // Steps a user takes in the workbench's own UI, which the extension host cannot take (#22): the suite writes
    // <shots>/ui-<id> holding a JSON list of steps, the runner takes them in order and answers <shots>/done-ui-<id>
    // ({"error": …} when a step could not be taken). A step is {"title", "type"}: wait for the quick pick or input
    // box with that title, replace its text, press Enter; or {"button"}: click that button on a notification.
    const uiSteps = async (f) => {
      const id = f.slice('ui-'.length).replace(/[^\w.-]/g, '_');
      const steps = JSON.parse(fs.readFileSync(path.join(shotsDir, f), 'utf8'));
      fs.rmSync(path.join(shotsDir, f), { force: true });
      const answer = {};
      for (const [i, step] of steps.entries()) {
        try {
          if (step.button !== undefined) {
            const label = new RegExp(`^${step.button.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);
            await page.locator('.notifications-toasts .monaco-button').filter({ hasText: label }).first().click({ timeout: 60000 });
          } else {
            await page.locator('.quick-input-widget .quick-input-title', { hasText: step.title }).waitFor({ state: 'visible', timeout: 60000 });
            const input = page.locator('.quick-input-widget .quick-input-box input');
            await input.fill(step.type);
            if (step.type !== '') await page.waitForTimeout(300); // a quick pick filters as it is typed
            await input.press('Enter');
          }
        } catch (e) {
          answer.error = `step ${i + 1} ${JSON.stringify(step)}: ${e.message.split('\n')[0]}`;
          log(`ui ${id}: ${answer.error}`);
          break;
        }
      }
      fs.writeFileSync(path.join(shotsDir, `tmp-done-ui-${id}`), JSON.stringify(answer));
      fs.renameSync(path.join(shotsDir, `tmp-done-ui-${id}`), path.join(shotsDir, `done-ui-${id}`));
    };
    const shots = (async () => {
      while (!finished) {
        for (const f of fs.readdirSync(shotsDir).filter((f) => f.startsWith('ui-'))) await uiSteps(f);
        for (const f of fs.readdirSync(shotsDir).filter((f) => f.startsWith('palette-'))) await paletteLists(f);
        for (const f of fs.readdirSync(shotsDir).filter((f) => f.startsWith('request-'))) {
          const name = f.slice('request-'.length).replace(/[^\w.-]/g, '_');
          fs.rmSync(path.join(shotsDir, f), { force: true });
          // A tooltip-* shot shows the carbon gauge's tooltip: hover the item, give the hover its delay.
          if (name.startsWith('tooltip-')) {
            await page.hover(`[id="${gaugeItemId}"]`).catch((e) => log(`hover for ${name} failed: ${e.message}`));
            await page.waitForSelector('.monaco-hover', { state: 'visible', timeout: 5000 }).catch(() => log(`no tooltip shown for ${name}`));
          }
          await page.screenshot({ path: path.join(shotsOut, `${name}.png`) }).catch((e) => log(`screenshot ${name} failed: ${e.message}`));
          if (name.startsWith('tooltip-')) await page.mouse.move(0, 0);
          fs.writeFileSync(path.join(shotsDir, `done-${name}`), '');
          log(`screenshot test-output/screenshots/${name}.png`);
        }
        await new Promise((r) => setTimeout(r, 150));
      }
    })();
    const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r('timeout'), timeoutS * 1000))]);
    finished = true;
    await shots;
    const items = (await page.evaluate(() => window.__verdantItems).catch(() => undefined)) ?? {};
    const statusItem = items[statusItemId];
    const gaugeItem = items[gaugeItemId];

    const results = fs.existsSync(resultsFile) ? JSON.parse(fs.readFileSync(resultsFile, 'utf8')) : { passed: [], failed: [], skipped: [] };
    if (!fs.existsSync(resultsFile)) log(`the suite wrote no results; code-server log: ${csLog}`);
    const uiCheck = 'workbench DOM: the Verdant status-bar item is rendered';
    if (statusItem?.visible && /Verdant/.test(statusItem.text)) results.passed.push(uiCheck);
    else results.failed.push({ title: uiCheck, error: `status-bar item #${statusItemId}: ${JSON.stringify(statusItem)}` });
    const gaugeCheck = 'workbench DOM: the carbon gauge shows a g/kWh figure';
    if (gaugeItem?.visible && /\d+ g\/kWh/.test(gaugeItem.text)) results.passed.push(gaugeCheck);
    else results.failed.push({ title: gaugeCheck, error: `status-bar item #${gaugeItemId}: ${JSON.stringify(gaugeItem)}` });
    if (fs.existsSync(metricsFile)) {
      // Kept for bench/foundation.mjs: activation time measured inside the extension host.
      fs.copyFileSync(metricsFile, path.join(root, 'out', 'e2e-metrics.json'));
      log('metrics', fs.readFileSync(metricsFile, 'utf8'));
    }
    if (statusItem) log('status-bar item', JSON.stringify(statusItem));
    if (gaugeItem) log('carbon gauge', JSON.stringify(gaugeItem));
    for (const f of results.failed) log(`FAILED ${f.title}\n${f.error}`);
    log(`extension host exit code ${code}; logs in ${tmp}`);
    for (const t of results.skipped ?? []) log(`skipped ${t}`);
    console.log(`${results.passed.length} passed, ${results.failed.length} failed, ${(results.skipped ?? []).length} skipped`);
    if (code === 'timeout') return 124;
    const ok = code === 0 && results.failed.length === 0 && results.passed.length > 0;
    if (ok && !args.keep) cleanup = () => fs.rmSync(tmp, { recursive: true, force: true, maxRetries: 3 });
    return ok ? 0 : 1;
  } finally {
    await browser.close().catch(() => {});
    stopServer();
    try {
      cleanup();
    } catch (e) {
      log(`could not remove ${tmp}: ${e.message}`);
    }
  }
}

main().then(
  (c) => process.exit(c),
  (e) => {
    log('harness error:', e?.stack ?? e);
    console.log('0 passed, 1 failed, 0 skipped');
    process.exit(2);
  },
);
