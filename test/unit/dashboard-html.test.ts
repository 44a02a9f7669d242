// The carbon dashboard page: its CSP must stay strict (nonce'd script only, nothing inline, nothing remote), and
// media/dashboard.js must draw the data as text, never markup. The script runs here in a node:vm context with a
// tiny fake DOM: just the calls it makes (createElement(NS), createTextNode, appendChild, replaceChildren,
// setAttribute, textContent, addEventListener, getElementById); innerHTML throws, so any use of it fails a test.
import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as vm from 'node:vm';
import { buildDashboardData, formatGrams, formatWh, type DashboardData } from '../../src/core/carbon/dashboardData';
import type { IntensityForecast, IntensityReading, SciRecord } from '../../src/core/carbon/types';
import { dashboardHtml, newNonce } from '../../src/vscode/dashboardHtml';

/** The policy of the page's CSP meta tag: directive -> its sources, in order. */
function parseCsp(html: string): Map<string, string[]> {
  const metas = [...html.matchAll(/<meta\s[^>]*http-equiv="Content-Security-Policy"[^>]*>/gi)];
  if (metas.length !== 1) throw new Error(`Expected one CSP meta tag, found ${metas.length}.`);
  const content = /\scontent="([^"]*)"/i.exec(metas[0]![0]);
  if (!content) throw new Error('The CSP meta tag has no content.');
  const policy = new Map<string, string[]>();
  for (const directive of unescape(content[1]!).split(';')) {
    const [name, ...sources] = directive.trim().split(/\s+/);
    if (!name) continue;
    if (policy.has(name.toLowerCase())) throw new Error(`Directive ${name} appears twice.`);
    policy.set(name.toLowerCase(), sources);
  }
  return policy;
}

function unescape(s: string): string {
  return s
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

const CSP_SOURCE = "'self' https://*.vscode-cdn.net";
const SCRIPT = 'https://file+.vscode-resource.vscode-cdn.net/ext/media/dashboard.js';
const STYLE = 'https://file+.vscode-resource.vscode-cdn.net/ext/media/dashboard.css';
const COMMANDS = ['verdant.setGridZone', 'verdant.exportCarbonReport', 'verdant.refreshCarbon'];

function page(nonce = newNonce(), cspSource = CSP_SOURCE, title = 'Verdant Carbon'): string {
  return dashboardHtml({ cspSource, nonce, scriptUri: SCRIPT, styleUri: STYLE, title });
}

describe('dashboard page', () => {
  it('has exactly the strict CSP: nothing by default, the nonce for scripts, the webview origin for the rest', () => {
    const nonce = newNonce();
    const origin = CSP_SOURCE.split(' ');
    assert.deepEqual(Object.fromEntries(parseCsp(page(nonce))), {
      'default-src': ["'none'"],
      'img-src': [...origin, 'data:'],
      'style-src': origin,
      'script-src': [`'nonce-${nonce}'`],
      'font-src': origin,
    });
  });

  it('allows nothing unsafe, inline or remote, whatever the webview origin looks like', () => {
    for (const cspSource of [CSP_SOURCE, 'https://*.vscode-cdn.net', 'vscode-webview-resource:']) {
      const policy = parseCsp(page(newNonce(), cspSource));
      const own = new Set(cspSource.split(' '));
      for (const [directive, sources] of policy) {
        for (const s of sources) {
          assert.doesNotMatch(s, /^'(unsafe-inline|unsafe-eval|unsafe-hashes|wasm-unsafe-eval|strict-dynamic)'$/, `${directive} ${s}`);
          assert.notEqual(s, '*', directive);
          if (!own.has(s)) assert.doesNotMatch(s, /^(https?:|\*)/i, `${directive} allows a remote source ${s}`);
        }
      }
      assert.deepEqual(policy.get('default-src'), ["'none'"]);
      assert.equal(policy.get('script-src')?.length, 1);
      assert.match(policy.get('script-src')![0]!, /^'nonce-[A-Za-z0-9+/_-]+={0,2}'$/);
      assert.equal(policy.has('connect-src') || policy.has('frame-src') || policy.has('object-src'), false);
    }
  });

  it('puts the nonce on its one script tag, and has no inline script, style or event handler', () => {
    const nonce = newNonce();
    const html = page(nonce);
    const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)];
    assert.equal(scripts.length, 1);
    assert.equal((html.match(/<script\b/gi) ?? []).length, 1);
    assert.match(scripts[0]![1]!, new RegExp(`\\snonce="${nonce.replace(/[+/]/g, '\\$&')}"`));
    assert.match(scripts[0]![1]!, new RegExp(`\\ssrc="${SCRIPT.replace(/[.+*]/g, '\\$&')}"`));
    assert.equal(scripts[0]![2]!.trim(), '', 'no inline code');
    assert.doesNotMatch(html, /<style\b/i);
    assert.doesNotMatch(html, /\sstyle\s*=/i);
    assert.doesNotMatch(html, /\son[a-z]+\s*=/i);
    assert.match(html, new RegExp(`<link rel="stylesheet" href="${STYLE.replace(/[.+*]/g, '\\$&')}">`));
    assert.match(html, /<html lang="en">/);
    assert.match(html, /<div id="app"/);
  });

  it('escapes the title and refuses a nonce or CSP source that could break out of the policy', () => {
    assert.match(page(newNonce(), CSP_SOURCE, '<script>x</script> & co'), /<title>&lt;script&gt;x&lt;\/script&gt; &amp; co<\/title>/);
    assert.throws(() => page('short'), /nonce/);
    assert.throws(() => page(`${newNonce()}' 'unsafe-inline`), /nonce/);
    assert.throws(() => page(newNonce(), "'self'; script-src *"), /CSP source/);
    assert.throws(() => page(newNonce(), 'https://x" onload="y'), /CSP source/);
  });

  it('makes unique nonces of at least 16 random bytes', () => {
    const nonces = new Set(Array.from({ length: 2000 }, () => newNonce()));
    assert.equal(nonces.size, 2000);
    for (const n of [...nonces].slice(0, 50)) {
      assert.match(n, /^[A-Za-z0-9+/]+$/);
      assert.ok(Buffer.from(n, 'base64').length >= 16, n);
    }
  });

  it('parses a policy with entities and refuses a page with two policies', () => {
    const html = '<meta http-equiv="Content-Security-Policy" content="default-src &#39;none&#39;; img-src data:">';
    assert.deepEqual(parseCsp(html).get('default-src'), ["'none'"]);
    assert.throws(() => parseCsp(html + html), /one CSP meta tag, found 2/);
    assert.throws(() => parseCsp('<p>no policy</p>'), /found 0/);
  });
});

// ---- media/dashboard.js in a fake DOM.

const SVG_NS = 'http://www.w3.org/2000/svg';

class FakeNode {
  readonly childNodes: FakeNode[] = [];
  readonly attributes = new Map<string, string>();
  readonly listeners = new Map<string, Array<(e: unknown) => void>>();
  private data = '';

  constructor(
    readonly nodeName: string,
    readonly namespaceURI: string | null,
    data = '',
  ) {
    this.data = data;
  }

  get textContent(): string {
    return this.nodeName === '#text' ? this.data : this.childNodes.map((c) => c.textContent).join('');
  }

  set textContent(v: string) {
    if (this.nodeName === '#text') this.data = String(v);
    else this.childNodes.splice(0, Infinity, ...(v ? [new FakeNode('#text', null, String(v))] : []));
  }

  set innerHTML(_v: string) {
    throw new Error('innerHTML must not be used');
  }

  appendChild(c: unknown): unknown {
    if (!(c instanceof FakeNode)) throw new TypeError('appendChild: parameter 1 is not of type Node');
    this.childNodes.push(c);
    return c;
  }

  replaceChildren(...cs: unknown[]): void {
    this.childNodes.splice(0, Infinity);
    for (const c of cs) this.appendChild(c);
  }

  setAttribute(k: string, v: string): void {
    this.attributes.set(k, String(v));
  }

  getAttribute(k: string): string | null {
    return this.attributes.get(k) ?? null;
  }

  addEventListener(type: string, fn: (e: unknown) => void): void {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), fn]);
  }

  *walk(): Generator<FakeNode> {
    yield this;
    for (const c of this.childNodes) yield* c.walk();
  }

  all(name: string): FakeNode[] {
    return [...this.walk()].filter((n) => n.nodeName === name);
  }
}

interface Loaded {
  readonly app: FakeNode;
  readonly posted: Array<Record<string, unknown>>;
  send(message: unknown): void;
  state(): unknown;
}

function loadDashboard(state?: unknown): Loaded {
  const app = new FakeNode('div', null);
  const posted: Array<Record<string, unknown>> = [];
  const windowListeners: Array<(e: { data: unknown }) => void> = [];
  let saved = state;
  const context = {
    window: {
      addEventListener: (type: string, fn: (e: { data: unknown }) => void) => {
        if (type === 'message') windowListeners.push(fn);
      },
    },
    document: {
      getElementById: (id: string) => (id === 'app' ? app : null),
      createElement: (tag: string) => new FakeNode(tag, null),
      createElementNS: (ns: string, tag: string) => new FakeNode(tag, ns),
      createTextNode: (text: string) => new FakeNode('#text', null, text),
    },
    acquireVsCodeApi: () => ({
      // Through JSON, as the real channel does: what the page posts must be plain data.
      postMessage: (m: unknown) => posted.push(JSON.parse(JSON.stringify(m))),
      getState: () => saved,
      setState: (s: unknown) => {
        saved = s;
      },
    }),
  };
  vm.runInNewContext(readFileSync('media/dashboard.js', 'utf8'), context, { filename: 'media/dashboard.js' });
  return {
    app,
    posted,
    send: (message) => {
      for (const fn of windowListeners) fn({ data: JSON.parse(JSON.stringify(message)) });
    },
    state: () => saved,
  };
}

const T0 = Date.parse('2026-11-26T12:00:00Z');
const HOUR = 3_600_000;

function record(minutesAgo: number, route: 'local' | 'cloud', feature: string, sciG: number, kWh: number, baselineG: number): SciRecord {
  return {
    id: `${feature}-${route}-${minutesAgo}`,
    ts: new Date(T0 - minutesAgo * 60_000).toISOString(),
    route,
    feature,
    model: route === 'local' ? 'qwen' : 'cloud-model',
    tokens: { in: 100, out: 20 },
    energy: { kWh, rangeKWh: [kWh / 2, kWh * 2], method: 'device-profile', measured: false },
    intensity: { gPerKWh: 300, source: 'uk-carbon-intensity', zone: 'GB', signal: 'average', isEstimated: false },
    operationalG: sciG,
    embodiedG: 0,
    sciG,
    rangeG: [sciG / 2, sciG * 2],
    baseline: { route: 'cloud', model: 'llama-3.3-70b', sciG: baselineG },
    savedG: baselineG - sciG,
  };
}

const XSS = '<img src=x onerror="alert(1)">';
const RECORDS = [
  record(60 * 24 * 3, 'local', 'inline-completion', 0.5, 0.002, 2),
  record(60, 'local', 'inline-completion', 0.0042, 0.0005, 0.05),
  record(30, 'cloud', XSS, 12.345, 0.04, 10),
  record(10, 'cloud', 'refactor', 1500, 5, 1200),
];

function gbData(): DashboardData {
  // 30-minute points from now: 300 300 200 100 100 250 ... -> cleanest hour from +90 min, 100 vs 300 (67% less).
  const values = [300, 300, 200, 100, 100, ...Array<number>(43).fill(250)];
  const forecast: IntensityForecast = {
    zone: 'GB',
    source: 'uk-carbon-intensity',
    signal: 'average',
    pointMinutes: 30,
    points: values.map((v, i) => ({ at: new Date(T0 + (i * HOUR) / 2).toISOString(), gPerKWh: v })),
  };
  const intensity: IntensityReading = {
    zone: 'GB',
    gPerKWh: 300,
    at: new Date(T0 - 12 * 60_000).toISOString(),
    source: 'uk-carbon-intensity',
    isEstimated: false,
    signal: 'average',
    detail: 'GB national actual',
  };
  return buildDashboardData({ records: RECORDS, intensity, forecast, annualAverage: 200, now: T0, utcOffsetMinutes: 0, problems: 1 });
}

function flatData(): DashboardData {
  const intensity: IntensityReading = {
    zone: 'FR',
    gPerKWh: 44,
    at: new Date(T0).toISOString(),
    source: 'embedded',
    isEstimated: true,
    signal: 'average',
    detail: 'Ember 2024 annual average for FR',
    fallbackReason: 'Electricity Maps did not answer.',
  };
  const forecast: IntensityForecast = {
    zone: 'FR',
    source: 'embedded',
    signal: 'average',
    pointMinutes: 60,
    points: Array.from({ length: 24 }, (_, i) => ({ at: new Date(T0 + i * HOUR).toISOString(), gPerKWh: 44 })),
  };
  return buildDashboardData({ records: [], intensity, forecast, annualAverage: 44, now: T0, utcOffsetMinutes: 0 });
}

describe('dashboard script', () => {
  it('says ready, and its buttons ask for exactly the three allowed commands', () => {
    const { app, posted } = loadDashboard();
    assert.deepEqual(posted, [{ type: 'ready' }]);
    assert.equal(app.all('h1')[0]?.textContent, 'Verdant Carbon');
    const buttons = app.all('button');
    assert.deepEqual(
      buttons.map((b) => b.textContent),
      ['Set grid zone', 'Export report', 'Refresh'],
    );
    for (const b of buttons) {
      assert.equal(b.getAttribute('type'), 'button');
      for (const fn of b.listeners.get('click') ?? []) fn({});
    }
    assert.deepEqual(
      posted.slice(1),
      COMMANDS.map((command) => ({ type: 'command', command })),
    );
  });

  it('draws the data and reports it rendered', () => {
    const data = gbData();
    const { app, posted, send } = loadDashboard();
    send({ type: 'data', data });
    assert.deepEqual(posted.at(-1), { type: 'rendered', generatedAt: data.generatedAt });
    const text = app.textContent;
    assert.match(text, /300 g\/kWh/);
    assert.match(text, /uk-carbon-intensity, 12 min ago \(GB national actual\)/);
    assert.match(text, /cleanest hour: \d\d:\d\d–\d\d:\d\d, 100 g\/kWh, 67% less than now/);
    assert.match(text, /1 ledger line could not be read/);
    // The level is in words, not only in colour.
    const level = app.all('span').find((s) => /\blevel-/.test(s.getAttribute('class') ?? ''));
    assert.ok(level?.textContent.includes(data.level), 'level label');
    for (const h of ['Grid now', 'Forecast', 'Today', 'Last 30 days', 'By task, last 30 days', 'How these numbers are made']) {
      assert.ok(
        app.all('h2').some((n) => n.textContent === h),
        h,
      );
    }
    for (const m of data.methods) assert.ok(text.includes(m.text), m.title);
  });

  it("says where the grid stands on the global scale and for its zone, and the completion model's last day (#21)", () => {
    const data = { ...gbData(), completions: { shown: 8, accepted: 2, acceptanceRate: 0.25, medianLatencyMs: 184.4, engineCalls: 6 } };
    const { app, send } = loadDashboard();
    send({ type: 'data', data });
    const text = app.textContent;
    assert.match(
      text,
      /medium on a fixed global scale \(low up to 150, high from 550 g\/kWh; the world average is about 473\); high for this zone, against/,
    );
    assert.match(text, /Inline completions, last 24 h25% accepted8 shown, median 184 ms from the engine/);
    send({ type: 'data', data: gbData() });
    assert.doesNotMatch(app.textContent, /Inline completions, last 24 h/, "no card without the editor's record");
  });

  it('formats grams and energy by the same rules as the extension', () => {
    const data = gbData();
    const { app, send } = loadDashboard();
    send({ type: 'data', data });
    const cells = app.all('td').map((n) => n.textContent);
    for (const t of data.tasks) {
      const row = [
        t.route,
        String(t.requests),
        formatGrams(t.sciG),
        `${formatGrams(t.rangeG[0])}–${formatGrams(t.rangeG[1])}`,
        formatWh(t.energyWh),
        formatGrams(t.savedG),
      ];
      assert.ok(cells.join('|').includes(row.join('|')), `${t.feature}: ${row.join('|')}`);
    }
    const text = app.textContent;
    for (const v of [formatGrams(data.today.localG), formatWh(data.today.localWh), formatGrams(data.today.cloudG), formatWh(data.today.cloudWh)]) {
      assert.ok(text.includes(v), v);
    }
    // The fixtures span every unit: mg, g, kg, mWh, Wh, kWh.
    assert.match(text, /\d mg/);
    assert.match(text, /\d kg/);
    assert.match(text, /\d mWh/);
    assert.match(text, /\d kWh/);
    assert.match(text, /avoided|more/);
    assert.ok(text.includes('llama-3.3-70b'), 'names the baseline model');
  });

  it('gives every chart an image role, a summary and a data table with the same numbers', () => {
    const data = gbData();
    const { app, send } = loadDashboard();
    send({ type: 'data', data });
    const charts = app.all('svg').filter((s) => s.getAttribute('role') === 'img');
    // The forecast, the daily emissions, and the avoided grams on a scale of their own (#22: on one scale the
    // avoided line flattened the emission bars).
    assert.equal(charts.length, 3);
    assert.match(charts[1]!.getAttribute('aria-label') ?? '', /^Daily emissions, last 30 days: .* stacked local and cloud\.$/);
    assert.match(
      charts[2]!.getAttribute('aria-label') ?? '',
      /^Grams avoided per day against llama-3\.3-70b, last 30 days: [\d.]+ (m|µ)?g (avoided|more) in all\.$/,
    );
    for (const c of charts) {
      assert.equal(c.namespaceURI, SVG_NS);
      assert.ok((c.getAttribute('aria-label') ?? '').length > 40, c.getAttribute('aria-label') ?? '');
    }
    const details = app.all('details');
    assert.equal(details.length, 2);
    const daily = details[1]!
      .all('tr')
      .slice(1)
      .map((r) => r.childNodes.map((c) => c.textContent));
    assert.equal(daily.length, 30);
    const today = data.days.at(-1)!;
    assert.deepEqual(daily.at(-1), [
      today.day,
      String(today.requests),
      formatGrams(today.localG),
      formatGrams(today.cloudG),
      formatGrams(today.savedG),
    ]);
    const forecastRows = details[0]!.all('tr').slice(1);
    assert.equal(forecastRows.length, 48);
    assert.equal(forecastRows[3]!.childNodes[1]!.textContent, '100');
  });

  it('inserts data as text only', () => {
    const { app, posted, send } = loadDashboard();
    send({ type: 'data', data: gbData() });
    assert.equal(posted.at(-1)?.error, undefined);
    assert.equal(app.all('img').length, 0);
    assert.ok(
      app.all('#text').some((t) => t.textContent === XSS),
      'the feature name is one text node',
    );
    for (const n of app.walk()) for (const k of n.attributes.keys()) assert.doesNotMatch(k, /^on/i);
  });

  it('says when there is no forecast, why live data is missing, and when nothing was recorded', () => {
    const { app, send } = loadDashboard();
    send({ type: 'data', data: flatData() });
    const text = app.textContent;
    assert.match(text, /embedded, Ember 2024 annual average for FR/);
    assert.match(text, /Live data unavailable: Electricity Maps did not answer\./);
    assert.match(text, /No forecast for this zone: flat at the annual average \(44 g\/kWh\)/);
    assert.doesNotMatch(text, /cleanest hour/);
    assert.match(text, /No requests recorded in the last 30 days/);
    assert.equal(
      app.all('svg').filter((s) => s.getAttribute('role') === 'img').length,
      0,
      'neither a flat line at the annual average (#22) nor an empty history is drawn',
    );
    assert.deepEqual(
      app.all('button').map((b) => b.textContent),
      ['Set grid zone', 'Export report', 'Refresh', 'Set grid zone'],
      'the forecast section offers the zone picker',
    );
  });

  it('shows an error from the extension, and reports a drawing failure instead of throwing', () => {
    const { app, posted, send } = loadDashboard();
    send({ type: 'error', message: 'Could not read the carbon data: <b>disk</b>' });
    assert.ok(app.textContent.includes('Could not read the carbon data: <b>disk</b>'));
    assert.deepEqual(posted.at(-1), { type: 'rendered', generatedAt: null });
    send({ type: 'data', data: { generatedAt: 'x' } });
    assert.equal(posted.at(-1)?.generatedAt, null);
    assert.match(String(posted.at(-1)?.error), /./);
    assert.match(app.textContent, /Could not draw the dashboard/);
    assert.equal(app.all('button').length, 3, 'the buttons stay');
  });

  it('draws the last data at once when the page is rebuilt, without reporting it as new', () => {
    const data = gbData();
    const first = loadDashboard();
    first.send({ type: 'data', data });
    assert.deepEqual(JSON.parse(JSON.stringify(first.state())), { data });
    const { app, posted } = loadDashboard(first.state());
    assert.deepEqual(posted, [{ type: 'ready' }]);
    assert.match(app.textContent, /cleanest hour/);
  });
});
