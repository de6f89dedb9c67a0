// The operators' overview timed in Debian's headless Chromium (playwright-core, never a
// downloaded browser) against a running `dw serve` whose database holds the usage to report:
// bench/opspage's BenchmarkOpsPage starts it (1,000,000 usage records) and runs this script.
// For each period, RUNS cold loads (a new browser context, the HTTP cache empty: log in on the
// page, then open /ops?from=&to=) and RUNS warm ones (a reload in the same context: the app's
// files cached), each timed from navigation start to the overview's `dw-ops-overview`
// performance mark (set once its data arrived and its totals, tables and chart are in the DOM).
// The server time of each API call comes from the node's /metrics (dw_http_request_seconds,
// summed per route before and after each load). Prints one line per load and a JSON summary
// line starting with "RESULT ".
//
//   DW_BASE=http://127.0.0.1:8080 DW_EMAIL=… DW_PASSWORD=… DW_PERIODS=2025-01-01..2027-01-01,default node e2e/ops-bench.mjs
import { chromium } from 'playwright-core';

const base = process.env.DW_BASE;
const email = process.env.DW_EMAIL;
const password = process.env.DW_PASSWORD;
const runs = Number(process.env.DW_RUNS ?? 5);
const periods = (process.env.DW_PERIODS ?? 'default').split(',');
const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium';
if (!base || !email || !password) throw new Error('DW_BASE, DW_EMAIL and DW_PASSWORD are required');

// metrics: the node's dw_http_request_seconds sum and count per "METHOD route".
async function metrics() {
  const text = await (await fetch(base + '/metrics')).text();
  const m = new Map();
  for (const line of text.split('\n')) {
    const r = /^dw_http_request_seconds_(sum|count)\{method="([^"]+)",route="([^"]+)"\} (\S+)$/.exec(line);
    if (!r) continue;
    if (r[3] === '/metrics') continue; // this script's own reads
    const k = r[3] === 'unmatched' ? 'GET files (app shell, assets)' : `${r[2]} ${r[3]}`;
    const v = m.get(k) ?? { sum: 0, count: 0 };
    v[r[1]] = Number(r[4]);
    m.set(k, v);
  }
  return m;
}

function serverTimes(before, after) {
  const out = {};
  for (const [k, a] of after) {
    const b = before.get(k) ?? { sum: 0, count: 0 };
    if (a.count > b.count) out[k] = { calls: a.count - b.count, ms: +((a.sum - b.sum) * 1000).toFixed(1) };
  }
  return out;
}

// load opens url (or reloads) and waits for the overview's mark; returns what the page measured.
async function load(page, url) {
  if (url) await page.goto(url);
  else await page.reload();
  await page.waitForFunction(() => performance.getEntriesByName('dw-ops-overview').length > 0, null, { timeout: 60_000, polling: 'raf' });
  // The quotas' request and the WebSocket's start are not part of the mark: let them finish,
  // so the node's metrics below count every call this load made.
  await page.waitForFunction(() => performance.getEntriesByType('resource').some((e) => e.name.includes('/api/v1/accounting/quotas')), null, { timeout: 30_000 });
  return page.evaluate(() => {
    const mark = performance.getEntriesByName('dw-ops-overview')[0].startTime;
    const nav = performance.getEntriesByType('navigation')[0];
    const res = performance.getEntriesByType('resource')
      .filter((e) => e.name.includes('/api/') || e.name.includes('/assets/'))
      .map((e) => ({ name: new URL(e.name).pathname, start: Math.round(e.startTime), end: Math.round(e.responseEnd), cached: e.transferSize === 0 }));
    return {
      ms: Math.round(mark),
      chart: !!document.querySelector('[data-testid=usage-chart] canvas'),
      totals: document.querySelector('[data-testid=total-jobs]')?.textContent ?? '',
      domContentLoaded: Math.round(nav.domContentLoadedEventEnd),
      resources: res,
    };
  });
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const browser = await chromium.launch({
  executablePath: chromiumPath,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
const summary = [];
try {
  for (const period of periods) {
    const url = base + (period === 'default' ? '/ops' : `/ops?from=${period.split('..')[0]}&to=${period.split('..')[1]}`);
    const got = { period, cold: [], warm: [], server: {}, phases: { cold: {}, warm: {} } };
    const note = (kind, r, st) => {
      got[kind].push(r.ms);
      // Where the time went: the shell and the session (until /me answered), the operators'
      // code (until the overview's requests left), the data (until both answered), the render.
      const at = (p, k) => r.resources.find((e) => e.name === p)?.[k] ?? NaN;
      const me = at('/api/v1/me', 'end');
      const sent = Math.min(at('/api/v1/accounting/overview', 'start'), at('/api/v1/accounting/usage', 'start'));
      const data = Math.max(at('/api/v1/accounting/overview', 'end'), at('/api/v1/accounting/usage', 'end'));
      const phases = { session: me, code: sent - me, data: data - sent, render: r.ms - data };
      for (const [k, v] of Object.entries(phases)) (got.phases[kind][k] ??= []).push(v);
      for (const [k, v] of Object.entries(st)) (got.server[k] ??= []).push(v.ms / v.calls);
      const api = r.resources.filter((e) => e.name.startsWith('/api/')).map((e) => `${e.name.replace('/api/v1/', '')} ${e.start}–${e.end}`);
      console.log(`ops-bench ${period} ${kind}: ${r.ms} ms to the overview (DOMContentLoaded ${r.domContentLoaded} ms, jobs shown ${r.totals}, chart ${r.chart}); ` +
        `phases: ${Object.entries(phases).map(([k, v]) => `${k} ${v} ms`).join(', ')}; ` +
        `requests (ms from navigation start): ${api.join(', ')}; server: ` +
        Object.entries(st).map(([k, v]) => `${k} ${v.ms} ms${v.calls > 1 ? ` (${v.calls} calls)` : ''}`).join(', '));
      if (!r.chart || !r.totals || r.totals === '0') throw new Error(`${period} ${kind}: the overview shows no data (jobs ${r.totals}, chart ${r.chart})`);
    };
    for (let i = 0; i < runs; i++) {
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-US' });
      const page = await context.newPage();
      page.setDefaultTimeout(60_000);
      await page.goto(base + '/login');
      await page.fill('#login-email', email);
      await page.fill('#login-password', password);
      await page.click('form button[type=submit]');
      await page.waitForSelector('nav a[href="/ops"]');
      // Cold: nothing of the app in the HTTP cache (the login page's files included).
      const cdp = await context.newCDPSession(page);
      await cdp.send('Network.clearBrowserCache');
      let before = await metrics();
      const cold = await load(page, url);
      note('cold', cold, serverTimes(before, await metrics()));
      // Warm: a reload, the app's files in the cache.
      before = await metrics();
      const warm = await load(page, null);
      note('warm', warm, serverTimes(before, await metrics()));
      await context.close();
    }
    const all = [...got.cold, ...got.warm];
    summary.push({
      period,
      cold: { median: median(got.cold), worst: Math.max(...got.cold), runs: got.cold },
      warm: { median: median(got.warm), worst: Math.max(...got.warm), runs: got.warm },
      worst: Math.max(...all),
      phases_ms: Object.fromEntries(['cold', 'warm'].map((kind) => [kind,
        Object.fromEntries(Object.entries(got.phases[kind]).map(([k, v]) => [k, { median: median(v), worst: Math.max(...v) }]))])),
      server_ms: Object.fromEntries(Object.entries(got.server).map(([k, v]) => [k, { median: +median(v).toFixed(1), worst: +Math.max(...v).toFixed(1) }])),
    });
  }
} finally {
  await browser.close();
}
console.log('RESULT ' + JSON.stringify(summary));
