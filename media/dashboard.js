// Verdant's carbon dashboard (webview). A plain script under a strict CSP: no libraries, nothing remote, no inline
// styles. Every piece of data goes into the page through text nodes and attributes, never as markup.
// Protocol: see src/vscode/dashboardPanel.ts. The DashboardData shape: src/core/carbon/dashboardData.ts.
/* global acquireVsCodeApi */
(function () {
  'use strict';

  const vscode = acquireVsCodeApi();
  const SVG_NS = 'http://www.w3.org/2000/svg';
  const HOUR = 3600000;
  const BUTTONS = [
    ['verdant.setGridZone', 'Set grid zone'],
    ['verdant.exportCarbonReport', 'Export report'],
    ['verdant.refreshCarbon', 'Refresh'],
  ];

  // ---- DOM building: text only ever enters as text nodes or attribute values.

  function el(tag, attrs, ...children) {
    return build(document.createElement(tag), attrs, children);
  }

  function svg(tag, attrs, ...children) {
    return build(document.createElementNS(SVG_NS, tag), attrs, children);
  }

  function build(node, attrs, children) {
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v !== undefined && v !== null && v !== false) node.setAttribute(k, String(v));
    }
    for (const c of children.flat(Infinity)) {
      if (c === undefined || c === null || c === false) continue;
      node.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  // ---- Units: the same rules as formatGrams/formatWh in src/core/carbon/dashboardData.ts.

  function trim(n) {
    const a = Math.abs(n);
    return a >= 100 ? n.toFixed(0) : a >= 10 ? n.toFixed(1) : n.toFixed(2);
  }

  function formatGrams(g) {
    const a = Math.abs(g);
    if (a < 5e-6) return '0 g'; // rounds to 0.00 mg: never "-0.00 mg"
    if (a < 1) return `${trim(g * 1000)} mg`;
    if (a < 1000) return `${trim(g)} g`;
    return `${(g / 1000).toFixed(2)} kg`;
  }

  function formatWh(wh) {
    const a = Math.abs(wh);
    if (a === 0) return '0 Wh';
    if (a < 1) return `${trim(wh * 1000)} mWh`;
    if (a < 1000) return `${trim(wh)} Wh`;
    return `${(wh / 1000).toFixed(2)} kWh`;
  }

  const range = (r) => `${formatGrams(r[0])}–${formatGrams(r[1])}`;
  const gkwh = (v) => `${Math.round(v)} g/kWh`;
  const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;

  // 24-hour clock in the user's time zone; day rows are local dates already, so they are shown as UTC dates.
  const clock = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
  const weekday = new Intl.DateTimeFormat(undefined, { weekday: 'short' });
  const dayMonth = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short', timeZone: 'UTC' });
  const localDate = (ms) => new Date(ms).toDateString();

  function ago(iso, nowMs) {
    const min = Math.round((nowMs - Date.parse(iso)) / 60000);
    if (!Number.isFinite(min)) return 'time unknown';
    if (min < 1) return 'just now';
    if (min < 90) return `${min} min ago`;
    if (min < 48 * 60) return `${Math.round(min / 60)} h ago`;
    return `${Math.round(min / 1440)} days ago`;
  }

  // ---- Axes.

  /** About `count` round steps covering lo..hi. */
  function niceTicks(lo, hi, count) {
    if (!(hi > lo)) hi = lo + 1;
    const raw = (hi - lo) / count;
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw * 0.999);
    const first = Math.floor(lo / step + 1e-9);
    const last = Math.ceil(hi / step - 1e-9);
    const ticks = [];
    for (let i = first; i <= last; i++) ticks.push(Number((i * step).toPrecision(12)));
    return ticks;
  }

  /** Axis labels in one unit for the whole axis (formatGrams would switch units between ticks). */
  function gramTick(ticks) {
    const top = Math.max(...ticks.map(Math.abs));
    const [div, unit] = top < 1 ? [0.001, 'mg'] : top < 1000 ? [1, 'g'] : [1000, 'kg'];
    return (v) => (v === 0 ? '0' : `${Number((v / div).toPrecision(6))} ${unit}`);
  }

  const W = 720;
  const H = 250;
  const M = { top: 26, right: 14, bottom: 34, left: 62 };
  const scale = (d0, d1, r0, r1) => (v) => r0 + ((v - d0) / (d1 - d0 || 1)) * (r1 - r0);

  /** An empty chart: horizontal grid with y labels; the caller adds x ticks and marks. */
  function chartFrame(label, yTicks, yFormat, yTitle) {
    const y = scale(yTicks[0], yTicks[yTicks.length - 1], H - M.bottom, M.top);
    const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': label, class: 'chart' });
    const grid = svg('g', { class: 'grid', 'aria-hidden': 'true' });
    for (const v of yTicks) {
      grid.appendChild(svg('line', { x1: M.left, x2: W - M.right, y1: y(v), y2: y(v), class: v === 0 ? 'zero' : undefined }));
      grid.appendChild(svg('text', { x: M.left - 6, y: y(v), class: 'tick y', 'dominant-baseline': 'middle', 'text-anchor': 'end' }, yFormat(v)));
    }
    grid.appendChild(svg('text', { x: M.left - 6, y: M.top - 12, class: 'axis-title', 'text-anchor': 'end' }, yTitle));
    root.appendChild(grid);
    return { root, y };
  }

  function xTick(parent, x, text) {
    parent.appendChild(svg('line', { x1: x, x2: x, y1: H - M.bottom, y2: H - M.bottom + 4, class: 'tick-mark' }));
    parent.appendChild(svg('text', { x, y: H - M.bottom + 16, class: 'tick x', 'text-anchor': 'middle' }, text));
  }

  /** The same numbers as the chart, for screen readers and anyone who wants them exact. */
  function dataTable(caption, head, rows) {
    return el('details', { class: 'chart-data' },
      el('summary', {}, `${caption}: data table`),
      table(caption, head, rows));
  }

  function table(caption, head, rows, numericFrom) {
    const from = numericFrom === undefined ? 1 : numericFrom;
    return el('div', { class: 'table-wrap' }, el('table', {},
      el('caption', {}, caption),
      el('thead', {}, el('tr', {}, head.map((h, i) => el('th', { scope: 'col', class: i >= from ? 'num' : undefined }, h)))),
      el('tbody', {}, rows.map((r) => el('tr', {}, r.map((c, i) => (i === 0
        ? el('th', { scope: 'row' }, c)
        : el('td', { class: i >= from ? 'num' : undefined }, c))))))));
  }

  function notice(text, kind) {
    return el('p', { class: `notice ${kind || ''}`.trim() }, text);
  }

  // ---- Sections.

  const LEVEL_MARK = { low: '▼', medium: '●', high: '▲' };

  function nowSection(d, nowMs) {
    const i = d.intensity;
    const source = i.source === 'embedded'
      ? `${i.source}, ${i.detail || 'annual average'}`
      : `${i.source}, ${ago(i.at, nowMs)}${i.detail ? ` (${i.detail})` : ''}`;
    return el('section', { class: 'now', 'aria-labelledby': 'h-now' },
      el('h2', { id: 'h-now' }, 'Grid now'),
      el('p', { class: 'now-figure' },
        el('span', { class: 'big' }, gkwh(i.gPerKWh)),
        ' ',
        el('span', { class: `level level-${d.level}` },
          el('span', { 'aria-hidden': 'true' }, LEVEL_MARK[d.level] || ''), ` ${d.level}`)),
      el('dl', { class: 'facts' },
        el('dt', {}, 'Zone'), el('dd', {}, d.zone || 'world average'),
        el('dt', {}, 'Source'), el('dd', {}, source),
        el('dt', {}, 'Signal'), el('dd', {}, `${i.signal}, ${i.isEstimated ? 'estimated' : 'measured'}`),
        el('dt', {}, 'Level'), el('dd', {}, `${d.level} on ${d.levelBasis}; ${d.zoneLevel} for this zone, against ${d.zoneBasis}`)),
      i.fallbackReason ? notice(`Live data unavailable: ${i.fallbackReason}`, 'warning') : null,
      d.problems > 0 ? notice(`${plural(d.problems, 'ledger line', 'ledger lines')} could not be read and are left out.`, 'warning') : null);
  }

  function windowText(w, nowMs) {
    const start = Date.parse(w.start);
    const day = localDate(start) === localDate(nowMs) ? '' : localDate(start) === localDate(nowMs + 24 * HOUR) ? 'tomorrow ' : `${weekday.format(start)} `;
    const span = `${day}${clock.format(start)}–${clock.format(Date.parse(w.end))}`;
    const what = w.durationMinutes === 60 ? 'cleanest hour' : `cleanest ${w.durationMinutes}-minute window`;
    if (!(w.savingPct > 0)) return `${what}: now (${span}), ${gkwh(w.avgGPerKWh)}`;
    return `${what}: ${span}, ${gkwh(w.avgGPerKWh)}, ${Math.round(w.savingPct)}% less than now`;
  }

  function forecastSection(d, nowMs) {
    const f = d.forecast;
    const len = f.pointMinutes * 60000;
    const points = f.points
      .map((p) => ({ t: Date.parse(p.at), v: p.gPerKWh }))
      .filter((p) => Number.isFinite(p.t) && Number.isFinite(p.v) && p.t + len > nowMs && p.t < nowMs + 48 * HOUR)
      .sort((a, b) => a.t - b.t);
    const section = el('section', { 'aria-labelledby': 'h-forecast' }, el('h2', { id: 'h-forecast' }, 'Forecast'));
    if (points.length === 0) {
      section.appendChild(notice(`No forecast for this zone${f.fallbackReason ? `: ${f.fallbackReason}` : '.'}`));
      return section;
    }
    const flat = points.every((p) => Math.abs(p.v - points[0].v) < 1e-9);
    if (flat) {
      const annual = f.source === 'embedded' || f.fallbackReason;
      section.appendChild(notice(annual
        ? `No forecast for this zone: flat at the annual average (${gkwh(points[0].v)}).${f.fallbackReason ? ` ${f.fallbackReason}` : ''}`
        : `The ${f.source} forecast is flat at ${gkwh(points[0].v)}.`));
      // A flat line at the annual average says nothing a sentence does not (#22): offer what would give a forecast.
      if (annual) {
        section.appendChild(el('p', { class: 'no-forecast' }, 'A live source for your zone gives an hourly forecast, and with it the best hour to run deferred work. ',
          commandButton('verdant.setGridZone', 'Set grid zone')));
        return section;
      }
    } else if (d.window) {
      section.appendChild(el('p', { class: 'window-text' }, el('span', { class: 'band-key', 'aria-hidden': 'true' }), windowText(d.window, nowMs)));
    }

    const t0 = Math.min(points[0].t, nowMs);
    const t1 = points[points.length - 1].t + len;
    const hours = Math.round((t1 - t0) / HOUR);
    const values = points.map((p) => p.v);
    const lo = Math.min(...values);
    const hi = Math.max(...values);
    const label = `Grid intensity forecast for ${d.zone || 'the world average'}, next ${hours} hours from ${f.source}: ` +
      (flat ? `flat at ${gkwh(lo)}.` : `${gkwh(lo)} to ${gkwh(hi)}, now ${gkwh(d.intensity.gPerKWh)}.`) +
      (d.window && !flat ? ` ${windowText(d.window, nowMs)}.` : '');
    const { root, y } = chartFrame(label, niceTicks(0, Math.max(hi, d.intensity.gPerKWh), 4), (v) => String(v), 'g/kWh');
    const x = scale(t0, t1, M.left, W - M.right);

    // Hour ticks on local whole hours, every 3 h (24 h) or 6 h (48 h); a day name at midnight.
    const every = hours > 30 ? 6 : 3;
    const ticks = svg('g', { 'aria-hidden': 'true' });
    const tick = new Date(t0);
    tick.setMinutes(0, 0, 0);
    while (tick.getTime() <= t1) {
      const t = tick.getTime();
      if (t >= t0 && tick.getHours() % every === 0) xTick(ticks, x(t), tick.getHours() === 0 ? weekday.format(t) : clock.format(t));
      tick.setTime(t + HOUR);
    }
    root.appendChild(ticks);

    if (d.window && !flat) {
      const a = x(Date.parse(d.window.start));
      const b = x(Date.parse(d.window.end));
      const mid = Math.min(Math.max((a + b) / 2, M.left + 30), W - M.right - 30);
      root.appendChild(svg('g', { class: 'clean-window', 'aria-hidden': 'true' },
        svg('rect', { x: a, y: M.top, width: Math.max(b - a, 2), height: H - M.top - M.bottom, class: 'band' }),
        svg('text', { x: mid, y: M.top - 4, 'text-anchor': 'middle', class: 'band-label' }, 'cleanest')));
    }

    // Each point holds its value for its whole period: a step line.
    let path = '';
    for (const p of points) {
      const ya = y(p.v).toFixed(1);
      path += `${path ? 'L' : 'M'}${x(p.t).toFixed(1)},${ya}L${x(p.t + len).toFixed(1)},${ya}`;
    }
    root.appendChild(svg('path', { d: path, class: 'forecast-line', 'aria-hidden': 'true' }));

    const nx = x(nowMs);
    root.appendChild(svg('g', { class: 'now-marker', 'aria-hidden': 'true' },
      svg('line', { x1: nx, x2: nx, y1: M.top - 2, y2: H - M.bottom }),
      svg('text', { x: nx + 4, y: M.top + 10 }, 'now')));

    section.appendChild(el('figure', {}, root));
    section.appendChild(dataTable('Forecast', ['Period start', 'g/kWh'],
      points.map((p) => [`${localDate(p.t) === localDate(nowMs) ? '' : `${weekday.format(p.t)} `}${clock.format(p.t)}`, String(Math.round(p.v))])));
    return section;
  }

  function todaySection(d) {
    const t = d.today;
    const baseline = t.baselineModel || 'the all-cloud baseline';
    const saved = t.savedG >= 0 ? `${formatGrams(t.savedG)} avoided` : `${formatGrams(-t.savedG)} more`;
    const vs = `than ${baseline} (${formatGrams(t.baselineG)} for the same tokens, same method)`;
    const card = (title, value, sub, cls) => el('div', { class: `card ${cls || ''}`.trim() },
      el('dt', {}, title), el('dd', {}, el('span', { class: 'value' }, value), sub ? el('span', { class: 'sub' }, sub) : null));
    return el('section', { 'aria-labelledby': 'h-today' },
      el('h2', { id: 'h-today' }, 'Today'),
      el('dl', { class: 'cards' },
        card('Requests', String(t.requests)),
        card('Local', formatGrams(t.localG), formatWh(t.localWh), 'local'),
        card('Cloud', formatGrams(t.cloudG), formatWh(t.cloudWh), 'cloud'),
        card('Range', range(t.rangeG), 'low–high estimate'),
        card(t.savedG >= 0 ? 'Saved' : 'Extra', saved, vs, t.savedG >= 0 ? 'saved' : 'extra'),
        completionsCard(d.completions, card)));
  }

  // The completion model's last day (#21): suggestions shown, the share accepted, the median engine latency.
  function completionsCard(q, card) {
    if (!q) return null;
    const rate = q.acceptanceRate === null ? 'none shown yet' : `${Math.round(q.acceptanceRate * 100)}% accepted`;
    const latency = q.medianLatencyMs === null ? '' : `, median ${Math.round(q.medianLatencyMs)} ms from the engine`;
    return card('Inline completions, last 24 h', rate, `${q.shown} shown${latency}`, 'completions');
  }

  function historySection(d) {
    const days = d.days;
    const section = el('section', { 'aria-labelledby': 'h-history' }, el('h2', { id: 'h-history' }, 'Last 30 days'));
    const total = days.reduce((n, r) => n + r.localG + r.cloudG, 0);
    const requests = days.reduce((n, r) => n + r.requests, 0);
    if (requests === 0) {
      section.appendChild(notice('No requests recorded in the last 30 days.'));
      return section;
    }
    const saved = days.reduce((n, r) => n + r.savedG, 0);
    // The emitted grams on their own scale: the avoided grams (often far larger) get a chart of their own below,
    // or they would flatten the bars into nothing (#22).
    const top = Math.max(...days.map((r) => r.localG + r.cloudG));
    const yTicks = niceTicks(0, top > 0 ? top : 1e-3, 4);
    const label = `Daily emissions, last ${days.length} days: ${formatGrams(total)} over ${plural(requests, 'request', 'requests')}, ` +
      'stacked local and cloud.';
    const { root, y } = chartFrame(label, yTicks, gramTick(yTicks), 'gCO2e');
    const slot = (W - M.left - M.right) / days.length;
    const cx = (i) => M.left + slot * (i + 0.5);
    const bw = Math.max(slot * 0.7, 1);
    const bars = svg('g', { 'aria-hidden': 'true' });
    const ticks = svg('g', { 'aria-hidden': 'true' });
    days.forEach((r, i) => {
      const bar = (from, to, cls) => (to > from ? svg('rect', { x: cx(i) - bw / 2, y: y(to), width: bw, height: Math.max(y(from) - y(to), 0.5), class: cls }) : null);
      build(bars, {}, [bar(0, r.localG, 'bar-local'), bar(r.localG, r.localG + r.cloudG, 'bar-cloud')]);
      if ((days.length - 1 - i) % 7 === 0) xTick(ticks, cx(i), dayMonth.format(Date.parse(r.day)));
    });
    root.appendChild(ticks);
    root.appendChild(bars);

    const baseline = d.today.baselineModel || 'the all-cloud baseline';
    const sTicks = niceTicks(Math.min(0, ...days.map((r) => r.savedG)), Math.max(1e-3, ...days.map((r) => r.savedG)), 4);
    const sLabel = `Grams avoided per day against ${baseline}, last ${days.length} days: ` +
      `${saved >= 0 ? `${formatGrams(saved)} avoided` : `${formatGrams(-saved)} more`} in all.`;
    const avoided = chartFrame(sLabel, sTicks, gramTick(sTicks), 'gCO2e avoided');
    const sTickMarks = svg('g', { 'aria-hidden': 'true' });
    days.forEach((r, i) => {
      if ((days.length - 1 - i) % 7 === 0) xTick(sTickMarks, cx(i), dayMonth.format(Date.parse(r.day)));
    });
    avoided.root.appendChild(sTickMarks);
    const line = days.map((r, i) => `${i ? 'L' : 'M'}${cx(i).toFixed(1)},${avoided.y(r.savedG).toFixed(1)}`).join('');
    avoided.root.appendChild(svg('g', { class: 'saved', 'aria-hidden': 'true' },
      svg('path', { d: line }),
      days.map((r, i) => svg('circle', { cx: cx(i), cy: avoided.y(r.savedG), r: 2.5 }))));

    const key = (cls, text) => el('li', {}, svg('svg', { viewBox: '0 0 14 14', class: 'key', 'aria-hidden': 'true' },
      cls === 'saved' ? svg('g', { class: 'saved' }, svg('path', { d: 'M0,7L14,7' }), svg('circle', { cx: 7, cy: 7, r: 3 }))
        : svg('rect', { x: 1, y: 1, width: 12, height: 12, class: cls })), text);
    section.appendChild(el('ul', { class: 'legend' }, key('bar-local', 'Local'), key('bar-cloud', 'Cloud')));
    section.appendChild(el('figure', {}, root));
    section.appendChild(el('ul', { class: 'legend' }, key('saved', `Avoided vs ${baseline} (below 0: cost more), on its own scale`)));
    section.appendChild(el('figure', {}, avoided.root));
    section.appendChild(dataTable('Daily emissions', ['Day', 'Requests', 'Local', 'Cloud', 'Avoided'],
      days.map((r) => [r.day, String(r.requests), formatGrams(r.localG), formatGrams(r.cloudG), formatGrams(r.savedG)])));
    return section;
  }

  function tasksSection(d) {
    const section = el('section', { 'aria-labelledby': 'h-tasks' }, el('h2', { id: 'h-tasks' }, 'By task, last 30 days'));
    if (d.tasks.length === 0) {
      section.appendChild(notice('No requests yet.'));
      return section;
    }
    section.appendChild(table('Emissions by task and route', ['Feature', 'Route', 'Requests', 'gCO2e', 'Range', 'Energy', 'Saved'],
      d.tasks.map((t) => [t.feature, t.route, String(t.requests), formatGrams(t.sciG), range(t.rangeG), formatWh(t.energyWh), formatGrams(t.savedG)]), 2));
    return section;
  }

  function methodsSection(d) {
    return el('section', { 'aria-labelledby': 'h-methods' },
      el('h2', { id: 'h-methods' }, 'How these numbers are made'),
      el('dl', { class: 'methods' }, d.methods.map((m) => [el('dt', {}, m.title), el('dd', {}, m.text)])),
      el('p', { class: 'meta' }, `Generated ${new Date(Date.parse(d.generatedAt)).toLocaleString()}.`));
  }

  // ---- Page.

  /** A button that asks the extension to run one of the allowed commands (dashboardPanel.ts checks the list). */
  function commandButton(command, text) {
    const button = el('button', { type: 'button', class: command === 'verdant.refreshCarbon' ? 'primary' : 'secondary' }, text);
    button.addEventListener('click', () => {
      if (command === 'verdant.refreshCarbon') status.textContent = 'Refreshing…';
      vscode.postMessage({ type: 'command', command });
    });
    return button;
  }

  const app = document.getElementById('app');
  const status = el('p', { role: 'status', class: 'status' }, 'Loading carbon data…');
  const content = el('div', { class: 'content' });
  const toolbar = el('div', { class: 'toolbar', role: 'toolbar', 'aria-label': 'Carbon actions' });
  for (const [command, text] of BUTTONS) toolbar.appendChild(commandButton(command, text));
  // The header and its buttons stay; only the content is redrawn, so keyboard focus survives a refresh.
  app.replaceChildren(el('header', {}, el('h1', {}, 'Verdant Carbon'), toolbar), status, content);

  function render(data) {
    const nowMs = Date.parse(data.generatedAt);
    content.replaceChildren(
      nowSection(data, nowMs),
      forecastSection(data, nowMs),
      todaySection(data),
      historySection(data),
      tasksSection(data),
      methodsSection(data));
    status.textContent = `Updated ${clock.format(nowMs)}`;
  }

  function show(data, posted) {
    try {
      render(data);
      vscode.setState({ data });
      if (posted) vscode.postMessage({ type: 'rendered', generatedAt: data.generatedAt });
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      content.replaceChildren(notice(`Could not draw the dashboard: ${message}`, 'error'));
      status.textContent = 'Drawing failed';
      if (posted) vscode.postMessage({ type: 'rendered', generatedAt: null, error: message });
    }
  }

  window.addEventListener('message', (event) => {
    const msg = event.data;
    if (!msg || typeof msg !== 'object') return;
    if (msg.type === 'data' && msg.data && typeof msg.data === 'object') {
      show(msg.data, true);
    } else if (msg.type === 'error') {
      content.replaceChildren(notice(String(msg.message), 'error'));
      status.textContent = 'No data';
      vscode.postMessage({ type: 'rendered', generatedAt: null });
    }
  });

  // The page is rebuilt each time the panel is shown: draw the last data at once, then ask for fresh data.
  const saved = vscode.getState();
  if (saved && saved.data) show(saved.data, false);
  vscode.postMessage({ type: 'ready' });
}());
