// End-to-end test of the people's pages in Debian's headless Chromium (playwright-core, never a
// downloaded browser) against a real `dw serve` it starts on a fresh data directory: a new
// person registers, gets points (an admin's deposit through the API), draws, asks, sees the
// interpretation complete live over the WebSocket, and the balance went down — once on a
// desktop viewport in English, once on a 390 px phone in 繁體中文. On every page: axe-core finds
// no serious or critical violation, nothing scrolls sideways, no console error (a CSP
// violation is one). Then an operator: the node reads a small sacct file through an ingest
// source the operator adds and scans through the API; the operator logs in, opens the
// Operators overview and sees its totals equal to the API's JSON and a chart, and the usage
// explorer (desktop and 390 px). The pages of issue 12: forgot and reset password (the mail
// received by an SMTP server of the test's own), profile and account deletion, buying points
// (each SKIPPED where the node lacks its API), and the app shell offline after one visit.
// Screenshots go to $DW_E2E_ARTIFACTS (default: a new temp directory).
//
//   node e2e/run.mjs            (after make build; DW_BIN=../bin/dw, CHROMIUM=/usr/bin/chromium)
import { spawn } from 'node:child_process';
import { createServer as createHttpServer } from 'node:http';
import { chmodSync, mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';
import axe from 'axe-core';
import { adminJourneys, systemJourneys } from './admin.mjs';
import { SMTPServer } from 'smtp-server';
import { simpleParser } from 'mailparser';

const here = new URL('.', import.meta.url).pathname;
const bin = resolve(process.env.DW_BIN ?? join(here, '../../bin/dw'));
const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const artifacts = process.env.DW_E2E_ARTIFACTS ?? mkdtempSync(join(tmpdir(), 'dw-web-e2e-artifacts-'));
mkdirSync(artifacts, { recursive: true });
const deadline = Date.now() + 360_000; // people, issue 12 (reset, account, buy, offline), operators and admins, on a busy 2-core machine
const failures = [];

function fail(msg) {
  failures.push(msg);
  console.error('FAIL ' + msg);
}

function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

async function waitFor(what, fn, ms = 60_000) {
  const end = Date.now() + ms;
  for (;;) {
    if (what.startsWith('dw serve') && exited) throw new Error('dw serve exited:\n' + log.join('').slice(-3000));
    try {
      const v = await fn();
      if (v) return v;
    } catch {
      /* not yet */
    }
    if (Date.now() > end) throw new Error('timed out waiting for ' + what);
    await new Promise((r) => setTimeout(r, 200));
  }
}

// --- a real SMTP server: the node's outbox sends the reset mails here ---
// (The link could also be read from the database, but `dw mail outbox` by design never shows a
// mail's body, which holds a live reset token; a real SMTP receiver tests the mail as sent.)
const mails = [];
const smtp = new SMTPServer({
  authOptional: true,
  disabledCommands: ['STARTTLS', 'AUTH'],
  logger: false,
  onData(stream, session, cb) {
    simpleParser(stream).then((m) => {
      mails.push({ to: m.to?.text ?? '', subject: m.subject ?? '', text: m.text ?? '', lang: m.headers.get('content-language') });
      cb();
    }, cb);
  },
});
const smtpPort = await freePort();
await new Promise((res) => smtp.listen(smtpPort, '127.0.0.1', res));

// --- the node ---
const dataDir = mkdtempSync(join(tmpdir(), 'dw-web-e2e-'));
chmodSync(dataDir, 0o755); // run as root, dw starts PostgreSQL as the postgres user, which must reach var/
const logsDir = join(dataDir, 'logs'); // the ingest root: beside the data directory, not inside it
mkdirSync(logsDir);
const [http, bind, remote] = [await freePort(), await freePort(), await freePort()];
const base = `http://127.0.0.1:${http}`;
const log = [];
// The webhooks' receiver below listens on 127.0.0.1: a node with the webhooks API must allow it.
const dw = spawn(bin, ['serve', '--demo', '--webhook-allow-private', '--secure-cookies=false', '--log-format', 'text', '--log-level', 'warn',
  '--data-dir', join(dataDir, 'var'), '--http', `127.0.0.1:${http}`, '--bind', `127.0.0.1:${bind}`, '--remote', `127.0.0.1:${remote}`,
  '--db-shared-buffers', '64MB', '--job-workers', '4', '--rate-limit-auth', '1000/m', '--ingest-root', logsDir,
  // Every journey logs in, refreshes and registers from this one address: the limits themselves
  // are the Go tests' (gateway, node); here they must not end a journey.
  '--register-free', '40',
  '--smtp-addr', `127.0.0.1:${smtpPort}`, '--smtp-from', 'dw-e2e@example.com', '--public-url', `http://127.0.0.1:${http}`], { stdio: ['ignore', 'pipe', 'pipe'] });
dw.stdout.on('data', (d) => log.push(String(d)));
dw.stderr.on('data', (d) => log.push(String(d)));
let exited = false;
dw.on('exit', () => (exited = true));

let browser;
async function cleanup() {
  await browser?.close().catch(() => {});
  await new Promise((res) => smtp.close(res));
  if (!exited) {
    dw.kill('SIGTERM');
    await waitFor('dw to stop', () => exited, 30_000).catch(() => dw.kill('SIGKILL'));
  }
  rmSync(dataDir, { recursive: true, force: true });
}

async function api(method, path, token, body, headers = {}) {
  const res = await fetch(base + path, {
    method,
    headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: 'Bearer ' + token } : {}), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

// checkPage: axe-core (no serious or critical violation), no sideways scrolling, a screenshot.
async function checkPage(page, name) {
  await page.evaluate(axe.source); // through the DevTools protocol: the page's CSP does not apply
  const results = await page.evaluate(() => globalThis.axe.run(document, { resultTypes: ['violations'] }));
  for (const v of results.violations) {
    if (v.impact === 'serious' || v.impact === 'critical') {
      fail(`${name}: axe ${v.impact} ${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`);
    }
  }
  const { scroll, width } = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, width: window.innerWidth }));
  if (scroll > width) fail(`${name}: scrolls sideways (${scroll} px wide in ${width})`);
  await page.screenshot({ path: join(artifacts, name + '.png'), fullPage: true });
}

async function journey(label, viewport, locale) {
  const context = await browser.newContext({ viewport, locale, reducedMotion: label === 'phone' ? 'reduce' : 'no-preference' });
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  const consoleErrors = [];
  // The API's refusals the journey causes on purpose (no session yet, a weak password) log
  // "Failed to load resource"; anything else (a CSP violation: "Refused to ...") is a failure.
  page.on('console', (m) => m.type() === 'error' && !m.text().startsWith('Failed to load resource') && consoleErrors.push(m.text()));
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  const opsChunks = [];
  page.on('request', (r) => r.url().includes('/assets/Operators-') && opsChunks.push(r.url()));
  const frames = [];
  page.on('websocket', (ws) => ws.on('framereceived', (f) => frames.push(String(f.payload))));

  const email = `${label}-${Date.now()}@example.com`;
  const password = 'a long enough passphrase for ' + label;

  await page.goto(base + '/');
  await page.waitForSelector('#already-set option', { state: 'attached' });
  // The landing page's Largest Contentful Paint: at most 1 s on localhost.
  const lcp = await page.evaluate(
    () =>
      new Promise((res) => {
        new PerformanceObserver((l) => res(l.getEntries().at(-1).startTime)).observe({ type: 'largest-contentful-paint', buffered: true });
        setTimeout(() => res(-1), 3000);
      }),
  );
  console.log(`${label}: landing LCP ${Math.round(lcp)} ms`);
  if (lcp < 0 || lcp > 1000) fail(`${label}: landing page LCP ${lcp} ms, budget 1000 ms`);
  const htmlLang = await page.getAttribute('html', 'lang');
  if (htmlLang !== (locale.startsWith('zh') ? 'zh-TW' : 'en')) fail(`${label}: html lang ${htmlLang} for locale ${locale}`);
  await checkPage(page, `${label}-landing`);

  // Register (a weak password first: the API's weak_password is shown in the page's language,
  // never its raw detail).
  await page.click('nav a[href="/register"]');
  await page.fill('#reg-email', email);
  await page.fill('#reg-password', 'password');
  await page.click('form button[type=submit]');
  const err = await page.textContent('.error');
  const want = locale.startsWith('zh') ? '太容易被猜到' : 'too easy to guess';
  if (!err?.includes(want) || err.includes('strength')) fail(`${label}: weak password shown as ${JSON.stringify(err)}`);
  await checkPage(page, `${label}-register-error`);
  await page.fill('#reg-password', password);
  await page.click('form button[type=submit]');
  await page.waitForURL('**/draw');
  // People see no Operators entry, and the section refuses them without loading its code.
  if (await page.locator('nav a[href="/ops"]').count()) fail(`${label}: a person sees the Operators entry`);
  if (await page.locator('nav a[href="/webhooks"]').count()) fail(`${label}: a person sees the Webhooks entry`);

  // Points for the new person: an admin deposits 100 through the API.
  const admin = await api('POST', '/api/v1/auth/login', '', { email: 'admin@example.com', password: 'demo-admin-pass' });
  const users = await api('GET', '/api/v1/admin/users?q=' + encodeURIComponent(email), admin.access_token);
  const walletId = users.items[0].wallet_id;
  await api('POST', `/api/v1/wallets/${walletId}/deposits`, admin.access_token, { amount: 100 }, { 'Idempotency-Key': 'e2e-' + label });

  await page.click('nav a[href="/wallet"]');
  await page.waitForFunction(() => document.querySelector('[data-testid=balance]')?.textContent === '100');
  await checkPage(page, `${label}-wallet-before`);

  // Draw, confirmed by moon blocks.
  await page.click('nav a[href="/draw"]');
  await page.click('form button[type=submit]');
  await page.waitForSelector('a[href^="/ask?draw="]');
  const throws = await page.locator('.throws li').count();
  if (throws < 1) fail(`${label}: no moon-block throws shown`);
  await checkPage(page, `${label}-draw`);

  // Ask, and watch it complete live.
  await page.click('a[href^="/ask?draw="]');
  await page.waitForSelector('.poem');
  await page.fill('#ask-question', label === 'phone' ? '我該換工作嗎？' : 'Should I change my job this year?');
  await page.selectOption('#ask-topic', 'career');
  await page.fill('#ask-context', label === 'phone' ? '目前工作穩定但沒有成長。' : 'Stable work, little growth.');
  await checkPage(page, `${label}-ask`);
  await page.click('form button[type=submit]');
  await page.waitForURL('**/jobs/*');
  const jobId = page.url().split('/jobs/')[1];
  await page.waitForSelector('[data-status=completed]', { timeout: 60_000 });
  await page.waitForSelector('.result');
  const statuses = frames
    .map((f) => { try { return JSON.parse(f); } catch { return {}; } })
    .filter((e) => e.type === 'job.status' && e.job_id === jobId)
    .map((e) => e.status);
  if (!statuses.includes('completed')) fail(`${label}: the WebSocket did not carry the job's completion (saw ${statuses})`);
  await checkPage(page, `${label}-interpretation`);

  // A poem drawn at a temple: set and number from the landing page, then the same question flow.
  if (label === 'phone') {
    await page.click('header a[href="/"]');
    await page.waitForSelector('#already-set option', { state: 'attached' });
    await page.fill('#already-number', '7');
    await page.click('section form button[type=submit]');
    await page.waitForURL('**/ask?set=*&number=7');
    await page.waitForSelector('.poem');
    await page.fill('#ask-question', '家人的健康如何？');
    await page.click('form button[type=submit]');
    await page.waitForURL('**/jobs/*');
    await page.waitForSelector('[data-status=completed]', { timeout: 60_000 });
    await page.waitForSelector('.result');
    await checkPage(page, `${label}-interpretation-temple-poem`);
  }

  // The balance went down by the job's price.
  const job = await page.evaluate(async (id) => (await fetch('/api/v1/jobs/' + id)).status, jobId);
  if (job !== 401) fail(`${label}: a job read without a token answered ${job}`);
  await page.click('nav a[href="/wallet"]');
  await page.waitForFunction(() => Number(document.querySelector('[data-testid=balance]')?.textContent) < 100);
  const balance = Number(await page.textContent('[data-testid=balance]'));
  if (!(balance < 100)) fail(`${label}: balance ${balance}, want below 100`);
  await page.waitForSelector('table tbody tr');
  await checkPage(page, `${label}-wallet-after`);

  // History lists the question; the draws tab lists the draw.
  await page.click('nav a[href="/history"]');
  await page.waitForSelector(`a[href="/jobs/${jobId}"]`);
  await checkPage(page, `${label}-history`);
  // Search: words of the question with its topic find it; words it lacks find nothing.
  await page.fill('#h-q', label === 'phone' ? '換工作' : 'CHANGE MY JOB');
  await page.selectOption('#h-topic', 'career');
  await page.click('.search button[type=submit]');
  await page.waitForFunction((id) => {
    const links = [...document.querySelectorAll('.list a[href^="/jobs/"]')];
    return links.length === 1 && links[0].getAttribute('href') === '/jobs/' + id;
  }, jobId);
  await checkPage(page, `${label}-history-search`);
  await page.fill('#h-q', 'lottery numbers');
  await page.click('.search button[type=submit]');
  await page.waitForFunction(() => document.querySelectorAll('.list a[href^="/jobs/"]').length === 0);
  await page.fill('#h-q', '');
  await page.selectOption('#h-topic', '');
  await page.click('.search button[type=submit]');
  await page.waitForSelector(`a[href="/jobs/${jobId}"]`);
  await page.click('.tabs button:nth-child(2)');
  await page.waitForSelector('a[href^="/ask?draw="]');
  await checkPage(page, `${label}-history-draws`);
  const draws = await page.locator('.list li').count();
  await page.click('.list li button');
  await page.waitForSelector('.ok[role=status]');
  await page.waitForFunction((n) => document.querySelectorAll('.list li').length === n - 1, draws);

  // A reload keeps the session (the refresh cookie), then log out.
  await page.reload();
  await page.waitForSelector('nav a[href="/account"]');
  // A person who types the operators' address is refused in their language (and loads none of its code).
  await page.goto(base + '/ops');
  const refused = await page.textContent('main .error[role=alert]');
  if (refused !== (locale.startsWith('zh') ? '你沒有權限這麼做。' : 'You may not do this.')) fail(`${label}: /ops shown to a person as ${JSON.stringify(refused)}`);
  await page.click('nav a[href="/account"]');
  await page.waitForSelector('#pw-current');
  await checkPushToggle(page, label, locale);
  await checkPage(page, `${label}-account`);
  await page.click('nav button');
  await page.waitForSelector('nav a[href="/login"]');
  await page.click('nav a[href="/login"]');
  await page.fill('#login-email', email);
  let captchas = 0;
  page.on('response', async (r) => {
    if (r.url().endsWith('/api/v1/auth/login') && r.status() === 403) captchas += (await r.json()).code === 'captcha_required' ? 1 : 0;
  });
  if (label === 'desktop') {
    // Three wrong passwords: each explained; the next login from here needs the node's proof of
    // work (ALTCHA), which the page solves and sends.
    for (let i = 0; i < 3; i++) {
      await page.fill('#login-password', 'not the password ' + i);
      await page.click('form button[type=submit]');
      await page.waitForFunction((n) => document.querySelector('.error')?.textContent?.includes('wrong') && n >= 0, i);
      const text = await page.textContent('.error');
      if (!text.includes('email or password is wrong')) fail(`${label}: wrong password shown as ${JSON.stringify(text)}`);
    }
  }
  await page.fill('#login-password', password);
  await page.click('form button[type=submit]');
  await page.waitForURL('**/draw', { timeout: 60_000 });
  if (label === 'desktop' && captchas === 0) fail(`${label}: no captcha was asked after three wrong passwords`);
  await checkPage(page, `${label}-after-login`);

  for (const e of consoleErrors) fail(`${label}: console error: ${e}`);
  if (opsChunks.length) fail(`${label}: a person's pages loaded the operators' code: ${opsChunks.join(', ')}`);
  await context.close();
}

// --- forgot and reset password ---

// newPage opens a context and a page that records console errors (the API's refusals the test
// causes on purpose log "Failed to load resource", which is allowed).
async function newPage(viewport, locale, extra = {}) {
  const context = await browser.newContext({ viewport, locale, ...extra });
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  const consoleErrors = [];
  page.on('console', (m) => m.type() === 'error' && !m.text().startsWith('Failed to load resource') && consoleErrors.push(m.text()));
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  return { context, page, consoleErrors };
}

async function registerByApi(label) {
  const email = `${label}-${Date.now()}@example.com`;
  const password = 'the first passphrase of ' + label;
  await api('POST', '/api/v1/auth/register', '', { email, password });
  return { email, password };
}

// resetJourney: a person who forgot the password asks for a link on the page (on the desktop
// three times, so the node asks the third for its proof of work, which the page solves), the
// mail arrives at the test's SMTP server in the page's language, its link opens the reset page
// (the token leaves the address bar), a weak password is refused from its code, a good one is
// set, the old session is dead, the new password logs in, and the link does not work twice.
async function resetJourney(label, viewport, locale) {
  const zh = locale.startsWith('zh');
  const { context, page, consoleErrors } = await newPage(viewport, locale);
  const { email, password } = await registerByApi(label);
  const old = await api('POST', '/api/v1/auth/login', '', { email, password });

  await page.goto(base + '/login');
  await page.click('a[href="/forgot-password"]');
  await page.waitForSelector('#forgot-email');
  await checkPage(page, `${label}-forgot`);
  const requests = label === 'reset-desktop' ? 3 : 1;
  let captchas = 0;
  page.on('response', async (r) => {
    if (r.url().endsWith('/password/reset-request') && r.status() === 403) captchas += (await r.json()).code === 'captcha_required' ? 1 : 0;
  });
  for (let i = 0; i < requests; i++) {
    if (i > 0) await page.goto(base + '/forgot-password');
    await page.fill('#forgot-email', email);
    await page.click('form button[type=submit]');
    await page.waitForSelector('.ok[role=status]', { timeout: 60_000 });
  }
  if (requests === 3 && captchas === 0) fail(`${label}: no captcha was asked at the third reset request for one email`);
  await checkPage(page, `${label}-forgot-sent`);

  const mail = await waitFor(`the reset mail to ${email}`, () => mails.filter((m) => m.to.includes(email)).length >= requests && mails.filter((m) => m.to.includes(email)).at(-1), 30_000);
  if (zh !== /密碼重設/.test(mail.subject)) fail(`${label}: the mail's subject ${JSON.stringify(mail.subject)} is not in ${locale}`);
  const link = mail.text.match(/https?:\/\/\S+\/reset-password\?token=\S+/)?.[0];
  if (!link?.startsWith(base + '/reset-password?token=')) fail(`${label}: no reset link to ${base} in the mail: ${JSON.stringify(mail.text)}`);

  await page.goto(link);
  await page.waitForSelector('#reset-password');
  if (page.url().includes('token=')) fail(`${label}: the token stays in the address bar: ${page.url()}`);
  await page.fill('#reset-password', 'password');
  await page.click('form button[type=submit]');
  const weak = await page.textContent('.error[role=alert]');
  if (!weak?.includes(zh ? '太容易被猜到' : 'too easy to guess')) fail(`${label}: weak password on reset shown as ${JSON.stringify(weak)}`);
  await checkPage(page, `${label}-reset`);
  const fresh = 'a brand new passphrase for ' + label;
  await page.fill('#reset-password', fresh);
  await page.click('form button[type=submit]');
  await page.waitForSelector('.ok[role=status]');
  await checkPage(page, `${label}-reset-done`);

  // Every old session ended: the old refresh token is refused.
  const refreshed = await fetch(base + '/api/v1/auth/refresh', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ refresh_token: old.refresh_token }) });
  if (refreshed.ok) fail(`${label}: the session from before the reset still refreshes`);

  await page.click('main a[href="/login"]');
  await page.fill('#login-email', email);
  await page.fill('#login-password', fresh);
  await page.click('form button[type=submit]');
  await page.waitForURL('**/draw');

  // The link works once.
  await page.goto(link);
  await page.fill('#reset-password', 'yet another long passphrase');
  await page.click('form button[type=submit]');
  const spent = await page.textContent('.error[role=alert]');
  if (!spent?.includes(zh ? '連結已失效' : 'no longer valid')) fail(`${label}: a spent link shown as ${JSON.stringify(spent)}`);
  await page.waitForSelector('main a[href="/forgot-password"]');

  for (const e of consoleErrors) fail(`${label}: console error: ${e}`);
  await context.close();
}

// --- profile and account deletion ---

// status asks the API and returns the status only (to learn whether a route exists in this build).
async function status(method, path, token, body) {
  const res = await fetch(base + path, { method, headers: { 'Content-Type': 'application/json', Authorization: 'Bearer ' + token }, body: JSON.stringify(body) });
  await res.text();
  return res.status;
}

// accountJourney: the Account page's profile (display name, language, which switches the page)
// and deleting the account (a confirmation, a wrong password refused from its code, then gone:
// the login is refused). The API routes (PATCH and DELETE /api/v1/me) are built beside these
// pages; where this node lacks them (404/405) the page must say so in the person's language,
// and the steps that need them are reported SKIPPED.
async function accountJourney(label, viewport, locale) {
  const zh = locale.startsWith('zh');
  const { context, page, consoleErrors } = await newPage(viewport, locale);
  const { email, password } = await registerByApi(label);
  const probe = await api('POST', '/api/v1/auth/login', '', { email, password });
  const patchStatus = await status('PATCH', '/api/v1/me', probe.access_token, {});
  const deleteStatus = await status('DELETE', '/api/v1/me', probe.access_token, { password: 'not the password' });
  const hasPatch = patchStatus !== 404 && patchStatus !== 405;
  const hasDelete = deleteStatus !== 404 && deleteStatus !== 405;

  await page.goto(base + '/login');
  await page.fill('#login-email', email);
  await page.fill('#login-password', password);
  await page.click('form button[type=submit]');
  await page.waitForURL('**/draw');
  await page.click('nav a[href="/account"]');
  await page.waitForSelector('#profile-name');
  await page.fill('#profile-name', zh ? '小明' : 'Ming');
  const other = zh ? 'en' : 'zh-TW';
  await page.selectOption('#profile-lang', other);
  await page.click('[data-testid=profile] button[type=submit]');
  if (hasPatch) {
    await page.waitForSelector('[data-testid=profile] .ok[role=status]');
    if ((await page.getAttribute('html', 'lang')) !== other) fail(`${label}: saving the profile's language did not switch the page to ${other}`);
    const m = await api('GET', '/api/v1/me', probe.access_token);
    if (m.display_name !== (zh ? '小明' : 'Ming') || m.language !== other) fail(`${label}: the profile stored is ${JSON.stringify(m)}`);
  } else {
    const text = await page.textContent('[data-testid=profile] .error[role=alert]');
    if (text !== (zh ? '這台伺服器還不能編輯個人資料。' : 'Editing the profile is not available on this server yet.')) fail(`${label}: a missing profile route shown as ${JSON.stringify(text)}`);
    console.log(`SKIPPED ${label}: saving the profile (PATCH /api/v1/me answers ${patchStatus} on this node: the route is built in another branch); the page's message for it checked`);
  }
  await checkPage(page, `${label}-account-profile`);

  await page.click('.danger button');
  await page.waitForSelector('#delete-password');
  if (!(await page.isDisabled('[data-testid=delete-account] button[type=submit]'))) fail(`${label}: deleting is possible before confirming`);
  await page.check('#delete-understood');
  await page.fill('#delete-password', 'not the password');
  await checkPage(page, `${label}-account-delete`);
  await page.click('[data-testid=delete-account] button[type=submit]');
  if (hasDelete) {
    const text = await page.textContent('[data-testid=delete-account] .error[role=alert]');
    if (!text || text.includes('wrong_password') || text.includes('invalid_credentials')) fail(`${label}: a wrong password on deletion shown as ${JSON.stringify(text)}`);
    if (!(await page.locator('nav a[href="/account"]').count())) fail(`${label}: a wrong password on deletion signed the person out`);
    await page.fill('#delete-password', password);
    await page.click('[data-testid=delete-account] button[type=submit]');
    await page.waitForURL('**/goodbye');
    await page.waitForSelector('nav a[href="/login"]');
    await checkPage(page, `${label}-goodbye`);
    const res = await fetch(base + '/api/v1/auth/login', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ email, password }) });
    if (res.ok) fail(`${label}: a deleted account still logs in`);
  } else {
    const text = await page.textContent('[data-testid=delete-account] .error[role=alert]');
    if (text !== (zh ? '這台伺服器還不能刪除帳號。' : 'Deleting an account is not available on this server yet.')) fail(`${label}: a missing delete route shown as ${JSON.stringify(text)}`);
    console.log(`SKIPPED ${label}: deleting the account (DELETE /api/v1/me answers ${deleteStatus} on this node: the route is built in another branch); the page's message for it checked`);
  }
  for (const e of consoleErrors) fail(`${label}: console error: ${e}`);
  await context.close();
}

// --- buying points ---

// buyJourney: the Wallet page offers the packages (GET /api/v1/payments/packages) and the
// providers; buying with the sandbox provider hands the browser over to the checkout's
// redirect_url; back at /wallet?payment=<id> the page waits for the confirmation, then shows the
// new balance live. Built beside the payments API: where this node lacks it (404/405) the page
// must say so in the person's language, and the steps that need it are reported SKIPPED; where
// the sandbox's own page cannot be driven (no pay button found), its completion is SKIPPED.
async function buyJourney(label, viewport, locale) {
  const zh = locale.startsWith('zh');
  // No service worker here: page.route (the contract check below) sees only the page's own requests.
  const { context, page, consoleErrors } = await newPage(viewport, locale, { serviceWorkers: 'block' });
  const { email, password } = await registerByApi(label);
  const probe = await api('POST', '/api/v1/auth/login', '', { email, password });
  const packagesStatus = (await fetch(base + '/api/v1/payments/packages', { headers: { Authorization: 'Bearer ' + probe.access_token } })).status;

  await page.goto(base + '/login');
  await page.fill('#login-email', email);
  await page.fill('#login-password', password);
  await page.click('form button[type=submit]');
  await page.waitForURL('**/draw');
  await page.click('nav a[href="/wallet"]');
  await page.waitForSelector('[data-testid=balance]');
  if (packagesStatus === 404 || packagesStatus === 405) {
    const text = await page.textContent('[data-testid=buy-unavailable]');
    if (text !== (zh ? '這台伺服器還不能購買點數。' : 'Buying points is not available on this server yet.')) fail(`${label}: a missing payments API shown as ${JSON.stringify(text)}`);
    await checkPage(page, `${label}-wallet-buy`);
    console.log(`SKIPPED ${label}: buying points (GET /api/v1/payments/packages answers ${packagesStatus} on this node: the payments API is built in another branch); the page's message for it checked`);
    await buyContractCheck(page, label, email);
  } else {
    await page.waitForSelector('[data-testid=buy] input[name=package]');
    await page.check('[data-testid=buy] input[name=provider][value=sandbox]');
    await checkPage(page, `${label}-wallet-buy`);
    const before = Number(await page.textContent('[data-testid=balance]'));
    // The page leaves for the checkout as soon as it is answered (too soon to read the answer's
    // body here): the payment is read through the API once the sandbox's page is open.
    const [res] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/api/v1/payments/checkout')),
      page.click('[data-testid=buy] button[type=submit]'),
    ]);
    if (res.status() !== 201) fail(`${label}: checkout answered ${res.status()}`);
    await page.waitForURL('**/pay/sandbox/**', { timeout: 20_000 });
    const paymentId = new URL(page.url()).pathname.split('/').pop();
    const started = { payment: await api('GET', '/api/v1/payments/' + paymentId, probe.access_token) };
    if (started.payment?.status !== 'pending') fail(`${label}: the payment at the checkout is ${JSON.stringify(started.payment)}`);
    // The sandbox's own page: pay, if a pay button can be found.
    const pay = page.locator('button, input[type=submit]').filter({ hasText: /pay|付款/i }).first();
    let paid = false;
    if (await pay.count().catch(() => 0)) {
      await pay.click();
      paid = true;
    } else {
      console.log(`SKIPPED ${label}: completing the sandbox payment (no pay button on ${page.url()})`);
      await page.goto(base + '/wallet?payment=' + encodeURIComponent(started.payment.id));
    }
    await page.waitForURL('**/wallet?payment=*');
    await page.waitForSelector('[data-testid=payment-status] [role=status], [data-testid=payment-status] [role=alert]');
    if (paid) {
      await page.waitForSelector('[data-testid=payment-status][data-status=succeeded]', { timeout: 30_000 });
      await page.waitForFunction((n) => Number(document.querySelector('[data-testid=balance]')?.textContent) === n, before + started.payment.points);
      await page.waitForSelector('[data-testid=payments] tr[data-status=succeeded]');
    }
    await checkPage(page, `${label}-wallet-payment`);
  }
  for (const e of consoleErrors) fail(`${label}: console error: ${e}`);
  await context.close();
}

// buyContractCheck: while this node has no payments API, the page's side of its contract is
// exercised in the browser against answers of that contract given by the test (page.route),
// clearly not the real API: the ECPay form is posted with its fields under their own names,
// the sandbox's GET hand-over comes back to /wallet?payment=<id>, the page waits, and when the
// payment turns succeeded (the test credits the real wallet through an admin's deposit, so the
// node's WebSocket announces the balance) the new balance shows live. Replaced by the real
// flow above as soon as the node has the API.
async function buyContractCheck(page, label, email) {
  const payment = { id: 'pay-e2e-1', status: 'pending', provider: 'sandbox', package: 'small', points: 100, currency: 'TWD', price: 150, created_at: new Date().toISOString() };
  let credited = false;
  const keys = [];
  const json = (route, status, body) => route.fulfill({ status, contentType: 'application/json', body: JSON.stringify(body) });
  await page.route('**/api/v1/payments/packages', (r) => json(r, 200, {
    items: [{ id: 'small', points: 100, currency: 'TWD', price: 150, price_minor: 150 }, { id: 'large', points: 1200, currency: 'TWD', price: 1500, price_minor: 1500 }],
    providers: ['sandbox', 'stripe', 'ecpay'],
  }));
  await page.route('**/api/v1/payments/checkout', (r) => {
    keys.push(r.request().headers()['idempotency-key']);
    const body = r.request().postDataJSON();
    if (body.provider === 'ecpay') {
      return json(r, 201, { payment: { ...payment, id: 'pay-e2e-ecpay', provider: 'ecpay' }, redirect_url: base + '/e2e-ecpay/AioCheckOut/V5', method: 'POST',
        fields: { MerchantID: '3002607', MerchantTradeNo: 'DWE2E1', TotalAmount: '150', ChoosePayment: 'ALL', CheckMacValue: 'ABC123' } });
    }
    return json(r, 201, { payment, redirect_url: '/wallet?payment=' + payment.id, method: 'GET' });
  });
  await page.route(`**/api/v1/payments/${payment.id}`, (r) => json(r, 200, { ...payment, status: credited ? 'succeeded' : 'pending' }));
  await page.route(/\/api\/v1\/payments(\?.*)?$/, (r) => json(r, 200, { items: [{ ...payment, status: credited ? 'succeeded' : 'pending' }] }));
  let posted = null;
  await page.route('**/e2e-ecpay/AioCheckOut/V5', (r) => {
    posted = { method: r.request().method(), body: r.request().postData() };
    return r.fulfill({ status: 200, contentType: 'text/html', body: '<!doctype html><title>ECPay</title><p>ECPay</p>' });
  });

  await page.reload();
  await page.waitForSelector('[data-testid=buy] input[name=package]');
  await page.check('[data-testid=buy] input[name=provider][value=ecpay]');
  await page.check('[data-testid=buy] input[name=package][value=large]');
  await checkPage(page, `${label}-wallet-buy-packages`);
  await page.click('[data-testid=buy] button[type=submit]');
  await waitFor('the ECPay form to be posted', () => posted, 10_000);
  const form = new URLSearchParams(posted.body);
  if (posted.method !== 'POST' || form.get('MerchantTradeNo') !== 'DWE2E1' || form.get('CheckMacValue') !== 'ABC123' || form.get('TotalAmount') !== '150') fail(`${label}: the ECPay form was sent as ${JSON.stringify(posted)}`);

  await page.goto(base + '/wallet');
  await page.waitForSelector('[data-testid=buy] input[name=package]');
  const before = Number(await page.textContent('[data-testid=balance]'));
  await page.check('[data-testid=buy] input[name=provider][value=sandbox]');
  await page.click('[data-testid=buy] button[type=submit]');
  await page.waitForURL('**/wallet?payment=' + payment.id);
  await page.waitForSelector('[data-testid=payment-status][data-status=pending]');
  await checkPage(page, `${label}-wallet-payment-pending`);
  if (keys.length !== 2 || !keys.every(Boolean) || keys[0] === keys[1]) fail(`${label}: checkout Idempotency-Keys ${JSON.stringify(keys)}`);
  // The provider confirms: the node credits the wallet (here an admin's real deposit) and says so on the WebSocket.
  const admin = await api('POST', '/api/v1/auth/login', '', { email: 'admin@example.com', password: 'demo-admin-pass' });
  const users = await api('GET', '/api/v1/admin/users?q=' + encodeURIComponent(email), admin.access_token);
  credited = true;
  await api('POST', `/api/v1/wallets/${users.items[0].wallet_id}/deposits`, admin.access_token, { amount: payment.points }, { 'Idempotency-Key': 'e2e-buy-' + label });
  await page.waitForSelector('[data-testid=payment-status][data-status=succeeded]', { timeout: 10_000 });
  await page.waitForFunction((n) => Number(document.querySelector('[data-testid=balance]')?.textContent) === n, before + payment.points);
  await page.waitForSelector('[data-testid=payments] tr[data-status=succeeded]');
  await checkPage(page, `${label}-wallet-payment-succeeded`);
  await page.unrouteAll({ behavior: 'ignoreErrors' });
}

// --- installable, and the app shell offline ---

// offlineJourney: the manifest and its icons are served, Chromium finds the app installable;
// after one visit the service worker controls the page, and with the network off the app's
// pages still open (the shell from the precache); no API answer was ever cached.
async function offlineJourney(label, viewport, locale) {
  const { context, page, consoleErrors } = await newPage(viewport, locale);
  await page.goto(base + '/');
  await page.waitForSelector('#already-set option', { state: 'attached' });
  const manifest = await page.evaluate(async () => {
    const href = document.querySelector('link[rel=manifest]')?.getAttribute('href');
    const res = await fetch(href);
    return { href, type: res.headers.get('content-type'), body: await res.json() };
  });
  if (manifest.href !== '/manifest.webmanifest' || !manifest.type?.startsWith('application/manifest+json')) fail(`${label}: manifest ${JSON.stringify(manifest)}`);
  if (!manifest.body.name?.includes('神諭細語') || !manifest.body.name?.includes('Divine Whispers')) fail(`${label}: manifest name ${manifest.body.name}`);
  for (const icon of manifest.body.icons ?? []) {
    const res = await fetch(base + icon.src);
    if (!res.ok || res.headers.get('content-type') !== 'image/png') fail(`${label}: icon ${icon.src}: ${res.status} ${res.headers.get('content-type')}`);
  }
  await waitFor('the service worker to control the page', () => page.evaluate(() => !!navigator.serviceWorker.controller), 20_000);
  const cdp = await context.newCDPSession(page);
  // Chromium's own reading of the manifest, and its installability check (a test browser's
  // context is incognito, which it reports as such: not the app's fault).
  const parsed = await cdp.send('Page.getAppManifest');
  if (parsed.errors?.length || !parsed.url?.endsWith('/manifest.webmanifest')) fail(`${label}: manifest errors: ${JSON.stringify(parsed.errors)} at ${parsed.url}`);
  const { installabilityErrors } = await cdp.send('Page.getInstallabilityErrors');
  const blocking = installabilityErrors.filter((e) => e.errorId !== 'in-incognito');
  if (blocking.length) fail(`${label}: not installable: ${JSON.stringify(blocking)}`);

  await context.setOffline(true);
  for (const path of ['/', '/login', '/reset-password']) {
    await page.goto(base + path);
    await page.waitForSelector('main h1');
  }
  const brand = await page.textContent('header .brand');
  if (!brand) fail(`${label}: no app shell offline`);
  const apiOffline = await page.evaluate(() => fetch('/api/v1/poem-sets').then((r) => 'answered ' + r.status, () => 'failed'));
  if (apiOffline !== 'failed') fail(`${label}: an API request offline was ${apiOffline} (from a cache?)`);
  await checkPage(page, `${label}-offline-shell`);
  const cached = await page.evaluate(async () => {
    const urls = [];
    for (const name of await caches.keys()) for (const r of await (await caches.open(name)).keys()) urls.push(r.url);
    return urls;
  });
  if (!cached.some((u) => u.endsWith('/index.html') || u.includes('/index.html?'))) fail(`${label}: index.html not precached: ${cached}`);
  if (cached.some((u) => u.includes('/api/'))) fail(`${label}: API answers cached: ${cached.filter((u) => u.includes('/api/'))}`);
  if (cached.some((u) => u.includes('/assets/Operators-'))) fail(`${label}: the operators' code was precached for a person`);
  await context.setOffline(false);
  // "Failed to load resource" is allowed; the service worker's own failures offline are not errors of the page
  for (const e of consoleErrors) fail(`${label}: console error: ${e}`);
  await context.close();
}

// The Web Push toggle on the account page: headless Chromium has no push service, so whatever
// state it reaches (no service worker yet, off, blocked once asked) must be explained in words,
// never an exception (the journey's console check covers that), with a real toggle button.
const pushStates = {
  en: {
    'unsupported-browser': 'This browser cannot show notices',
    'unsupported-server': 'This service sends no notices',
    'unsupported-worker': 'Notices are unavailable here',
    off: 'Off: press the button',
    on: 'On: this browser shows a notice',
    denied: 'Notices from this site are blocked',
  },
  'zh-TW': {
    'unsupported-browser': '這個瀏覽器無法顯示本站的通知',
    'unsupported-server': '本服務目前不發送通知',
    'unsupported-worker': '這裡暫時無法通知',
    off: '未開啟：按下按鈕',
    on: '已開啟',
    denied: '這個瀏覽器已封鎖本站的通知',
  },
};

async function pushState(page) {
  const el = page.locator('[data-testid=push-toggle]');
  await page.waitForFunction(() => {
    const s = document.querySelector('[data-testid=push-toggle]')?.getAttribute('data-state');
    return s && s !== 'checking';
  }, null, { timeout: 20_000 });
  return { state: await el.getAttribute('data-state'), text: (await el.locator('[role=status]').textContent())?.trim() ?? '' };
}

async function checkPushToggle(page, label, locale) {
  const lang = locale.startsWith('zh') ? 'zh-TW' : 'en';
  const button = page.locator('[data-testid=push-toggle] button[aria-pressed]');
  if ((await button.count()) !== 1) return fail(`${label}: no push toggle button with aria-pressed on the account page`);
  const name = (await button.textContent())?.trim();
  if (name !== (lang === 'en' ? 'Tell me when my interpretation is ready' : '解籤完成時通知我')) fail(`${label}: push toggle named ${JSON.stringify(name)}`);
  let { state, text } = await pushState(page);
  console.log(`${label}: push toggle ${state}: ${text}`);
  if (state === 'off' && (await button.isEnabled())) {
    // Asked, headless Chromium refuses the permission (it has no one to ask): explained, not thrown.
    await button.click();
    await page.waitForFunction(
      () => document.querySelector('[data-testid=push-toggle]')?.getAttribute('data-state') !== 'off' || document.querySelector('[data-testid=push-toggle] .error'),
      null,
      { timeout: 20_000 },
    );
    ({ state, text } = await pushState(page));
    const err = await page.locator('[data-testid=push-toggle] .error').textContent().catch(() => null);
    console.log(`${label}: push toggle after a press: ${state}: ${text}${err ? ' / ' + err : ''}`);
  }
  const want = pushStates[lang][state];
  if (!want || !text.startsWith(want)) fail(`${label}: push toggle state ${state} explained as ${JSON.stringify(text)}`);
  const pressed = await button.getAttribute('aria-pressed');
  if (pressed !== String(state === 'on')) fail(`${label}: push toggle aria-pressed=${pressed} in state ${state}`);
}

// --- the integrators' webhook endpoints page ---

function receiver() {
  const got = [];
  const server = createHttpServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      got.push({ headers: req.headers, body });
      res.writeHead(204).end();
    });
  });
  return new Promise((res) => server.listen(0, '127.0.0.1', () => res({ server, got, url: `http://127.0.0.1:${server.address().port}/hooks/dw` })));
}

async function webhooksJourney(label, viewport, locale) {
  const lang = locale.startsWith('zh') ? 'zh-TW' : 'en';
  const svc = await api('POST', '/api/v1/auth/login', '', { email: 'service@example.com', password: 'demo-service-pass' });
  const probe = await fetch(base + '/api/v1/webhooks', { headers: { Authorization: 'Bearer ' + svc.access_token } });
  const missing = probe.status === 404;
  const context = await browser.newContext({ viewport, locale });
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  const consoleErrors = [];
  page.on('console', (m) => m.type() === 'error' && !m.text().startsWith('Failed to load resource') && consoleErrors.push(m.text()));
  page.on('pageerror', (e) => consoleErrors.push(String(e)));

  await page.goto(base + '/login?next=%2Fwebhooks');
  await page.fill('#login-email', 'service@example.com');
  await page.fill('#login-password', 'demo-service-pass');
  await page.click('form button[type=submit]');
  await page.waitForSelector('nav a[href="/webhooks"]');
  if (await page.locator('nav a[href="/ops"]').count()) fail(`${label}: a service account sees the Operators entry`);
  await page.click('nav a[href="/webhooks"]');
  await page.waitForSelector('h1');
  if (missing) {
    console.log(`${label}: the API answers 404 for /api/v1/webhooks in this build: creating, listing and deleting an endpoint skipped; the page says so`);
    await page.waitForSelector('[data-testid=webhooks-missing]');
    await checkPage(page, `${label}-webhooks-unavailable`);
  } else {
    const rx = await receiver();
    try {
      // The page checks the form before sending: no event chosen.
      await page.fill('#wh-url', rx.url);
      for (const box of await page.locator('fieldset input[type=checkbox]').all()) await box.uncheck();
      await page.click('form button[type=submit]');
      const noEvents = await page.textContent('form .error[role=alert]');
      if (noEvents !== (lang === 'en' ? 'Choose at least one event.' : '請至少選擇一個事件。')) fail(`${label}: no event chosen shown as ${JSON.stringify(noEvents)}`);
      await page.check('fieldset input[value="job.completed"]');
      await page.check('fieldset input[value="payment.succeeded"]');
      await checkPage(page, `${label}-webhooks-form`);
      await page.click('form button[type=submit]');
      await page.waitForSelector('[data-testid=webhook-secret]');
      const secret = await page.inputValue('#wh-secret');
      if (!secret.startsWith('whsec_')) fail(`${label}: the endpoint's secret shown as ${JSON.stringify(secret.slice(0, 8))}…`);
      const once = await page.textContent('[data-testid=webhook-secret] .once');
      if (!once.includes(lang === 'en' ? 'you will not see this again' : '之後不會再顯示')) fail(`${label}: the secret is not said to be shown once: ${JSON.stringify(once)}`);
      await page.waitForSelector(`[data-testid=webhook-list] li code:text-is("${rx.url}")`);
      await checkPage(page, `${label}-webhooks-secret`);
      const listed = await api('GET', '/api/v1/webhooks', svc.access_token);
      const hook = listed.items.find((h) => h.url === rx.url);
      if (!hook) fail(`${label}: the API does not list the endpoint made in the page`);
      else {
        if (JSON.stringify([...hook.events].sort()) !== JSON.stringify(['job.completed', 'payment.succeeded'])) fail(`${label}: the endpoint's events are ${hook.events}`);
        if ('secret' in hook) fail(`${label}: the list shows the secret again`);
      }
      await page.click('[data-testid=webhook-secret] button.secondary');
      await page.waitForSelector('[data-testid=webhook-secret]', { state: 'detached' });
      // Seen once: a reload lists the endpoint without its secret.
      await page.reload();
      await page.waitForSelector(`[data-testid=webhook-list] li code:text-is("${rx.url}")`);
      if (await page.locator('[data-testid=webhook-secret]').count()) fail(`${label}: the secret is shown again after a reload`);
      if ((await page.content()).includes(secret)) fail(`${label}: the page holds the secret after a reload`);
      const row = page.locator(`[data-testid=webhook-list] li[data-id="${hook?.id}"]`);
      await row.locator('button[aria-expanded]').click();
      await row.locator('section.deliveries').waitFor();
      await row.locator('section.deliveries[data-loaded=true]').waitFor();
      await checkPage(page, `${label}-webhooks-list`);
      await row.locator('button[data-action=delete]').click();
      await row.locator('button[data-action=confirm-delete]').click();
      await page.waitForSelector(`[data-testid=webhook-list] li[data-id="${hook?.id}"]`, { state: 'detached' });
      await page.waitForSelector('.ok[role=status]');
      const after = await api('GET', '/api/v1/webhooks', svc.access_token);
      if (after.items.some((h) => h.url === rx.url)) fail(`${label}: the endpoint deleted in the page is still listed by the API`);
      await checkPage(page, `${label}-webhooks-deleted`);
    } finally {
      rx.server.close();
    }
  }
  for (const e of consoleErrors) fail(`${label}: console error: ${e}`);
  await context.close();
}

// --- the operators' pages ---

// A day's sacct log two days ago (inside the overview's default period of the last 30 days): a
// CPU job on 2 nodes for 2 h (4 node-hours) and a GPU job with 2 GPUs for 1.5 h (3 GPU-hours).
function writeSacct() {
  const day = new Date(Date.now() - 2 * 86_400_000).toISOString().slice(0, 10);
  const header = 'JobID|JobIDRaw|User|Group|Account|Partition|QOS|Cluster|State|Submit|Start|End|Elapsed|ElapsedRaw|AllocNodes|AllocCPUS|AllocTRES|NodeList\n';
  const jobs = [
    `1|1|ann|phys|p1|cpu|normal|e2e|COMPLETED|${day}T08:00:00|${day}T08:00:00|${day}T10:00:00|02:00:00|7200|2|64|cpu=64,node=2|n[1-2]`,
    `2|2|bob|bio|p2|gpu|normal|e2e|COMPLETED|${day}T09:00:00|${day}T09:00:00|${day}T10:30:00|01:30:00|5400|1|16|cpu=16,gres/gpu=2,node=1|g1`,
  ];
  writeFileSync(join(logsDir, 'sacct-1.txt'), header + jobs.join('\n') + '\n');
}

async function operatorData() {
  writeSacct();
  const op = await api('POST', '/api/v1/auth/login', '', { email: 'operator@example.com', password: 'demo-operator-pass' });
  const src = await api('POST', '/api/v1/accounting/sources', op.access_token,
    { name: 'e2e', dir: logsDir, format: 'slurm-sacct', cluster: 'e2e', interval: '1h' });
  await api('POST', `/api/v1/accounting/sources/${src.id}/scan`, op.access_token);
  const ov = await waitFor('the scan to store the usage', async () => {
    const o = await api('GET', '/api/v1/accounting/overview', op.access_token);
    return o.jobs >= 2 ? o : null;
  }, 30_000);
  console.log(`operator: usage stored (${ov.total_node_hours} node-hours, ${ov.total_core_hours} GPU core-hours)`);
}

const hours = (h, lang) => new Intl.NumberFormat(lang, { maximumFractionDigits: 2 }).format(h ?? 0);

async function operatorJourney(label, viewport, locale) {
  const lang = locale.startsWith('zh') ? 'zh-TW' : 'en';
  const context = await browser.newContext({ viewport, locale });
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  const consoleErrors = [];
  page.on('console', (m) => m.type() === 'error' && !m.text().startsWith('Failed to load resource') && consoleErrors.push(m.text()));
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  const frames = [];
  page.on('websocket', (ws) => ws.on('framereceived', (f) => frames.push(String(f.payload))));

  await page.goto(base + '/login');
  await page.fill('#login-email', 'operator@example.com');
  await page.fill('#login-password', 'demo-operator-pass');
  await page.click('form button[type=submit]');
  await page.waitForSelector('nav a[href="/ops"]');
  await page.click('nav a[href="/ops"]');
  await page.waitForSelector('[data-testid=total-node-hours]');
  // The period the page shows is the one it asked for: ask the API for the same.
  const from = await page.inputValue('#ops-from');
  const to = await page.inputValue('#ops-to');
  const op = await api('POST', '/api/v1/auth/login', '', { email: 'operator@example.com', password: 'demo-operator-pass' });
  const ov = await api('GET', `/api/v1/accounting/overview?from=${from}&to=${to}`, op.access_token);
  const shown = {
    node: await page.textContent('[data-testid=total-node-hours]'),
    core: await page.textContent('[data-testid=total-core-hours]'),
    jobs: await page.textContent('[data-testid=total-jobs]'),
  };
  if (!(ov.jobs >= 2) || !(ov.total_node_hours > 0) || !(ov.total_core_hours > 0)) fail(`${label}: the API's overview has no usage: ${JSON.stringify(ov)}`);
  if (shown.node !== hours(ov.total_node_hours, lang)) fail(`${label}: node-hours shown ${shown.node}, API ${ov.total_node_hours}`);
  if (shown.core !== hours(ov.total_core_hours, lang)) fail(`${label}: GPU core-hours shown ${shown.core}, API ${ov.total_core_hours}`);
  if (shown.jobs !== String(ov.jobs)) fail(`${label}: jobs shown ${shown.jobs}, API ${ov.jobs}`);
  await page.waitForSelector('[data-testid=usage-chart] canvas');

  if (label === 'operator-desktop') {
    // Live quota thresholds: a shared wallet with a quota of 4 node-hours, then a mapping that
    // charges ann's 4 node-hours to it; the node publishes the crossings to operators' sockets.
    await waitFor('the WebSocket hello', () => frames.some((f) => f.includes('"hello"')), 10_000);
    await api('POST', '/api/v1/wallets', op.access_token, { name: 'e2e-physics' });
    await api('PUT', '/api/v1/accounting/quotas', op.access_token, { wallet: 'e2e-physics', node_hours: 4, period: 'total' });
    await api('POST', '/api/v1/accounting/mappings', op.access_token, { group: 'phys', wallet: 'e2e-physics' });
    await page.waitForSelector('[data-testid=quota-live] li[data-threshold]', { timeout: 20_000 });
    await page.waitForSelector('tr[data-level=over]');
  }
  await checkPage(page, `${label}-ops-overview`);

  await page.click('a[href="/ops/usage"]');
  await page.selectOption('#ops-group', 'user');
  await page.selectOption('#ops-bucket', 'day');
  await page.waitForSelector('[data-testid=usage-table] tbody tr');
  const rows = await page.locator('[data-testid=usage-table] tbody tr').count();
  if (rows !== 2) fail(`${label}: usage by user and day shows ${rows} rows, want 2`);
  await page.click('details summary');
  if (label === 'operator-desktop') {
    // An API error is shown from its code in the page's language, never its detail.
    await page.fill('#ops-f-wallet', 'no-such-wallet');
    await page.click('details form button[type=submit]');
    const text = await page.textContent('.error[role=alert]');
    if (text !== 'No wallet has this id or shared-wallet name.') fail(`${label}: unknown wallet filter shown as ${JSON.stringify(text)}`);
    await page.fill('#ops-f-wallet', '');
    await page.click('details form button[type=submit]');
    await page.waitForSelector('.error[role=alert]', { state: 'detached' });
    await page.waitForSelector('[data-testid=usage-table] tbody tr');
  }
  await checkPage(page, `${label}-ops-usage`);
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid=usage-csv]')]);
  if (!download.suggestedFilename().startsWith('usage-user-day-')) fail(`${label}: CSV named ${download.suggestedFilename()}`);
  const csv = readFileSync(await download.path(), 'utf8').trim().split('\n');
  if (csv.length !== 3 || !csv.some((l) => l.includes('ann')) || !csv.some((l) => l.includes('bob'))) fail(`${label}: CSV ${JSON.stringify(csv)}`);
  // The report's choices are in the URL: a reload shows the same report.
  await page.reload();
  await page.waitForSelector('[data-testid=usage-table] tbody tr');
  const kept = [await page.inputValue('#ops-group'), await page.inputValue('#ops-bucket')].join(',');
  if (kept !== 'user,day') fail(`${label}: after a reload the usage explorer shows ${kept}, want user,day`);

  for (const e of consoleErrors) fail(`${label}: console error: ${e}`);
  await context.close();
}

try {
  await waitFor('dw serve to be ready', async () => {
    return (await fetch(base + '/readyz')).ok;
  }, 120_000);
  browser = await chromium.launch({
    executablePath: chromiumPath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  // DW_E2E_ONLY=reset,ops (a comma list of people, reset, account, buy, offline, ops, admin, webhooks) runs only those parts, while working on them.
  const only = (process.env.DW_E2E_ONLY ?? '').split(',').filter(Boolean);
  const run = (part) => only.length === 0 || only.includes(part);
  if (run('people')) {
    await journey('desktop', { width: 1280, height: 900 }, 'en-US');
    await journey('phone', { width: 390, height: 844 }, 'zh-TW');
  }
  if (run('reset')) {
    await resetJourney('reset-desktop', { width: 1280, height: 900 }, 'en-US');
    await resetJourney('reset-phone', { width: 390, height: 844 }, 'zh-TW');
  }
  if (run('account')) {
    await accountJourney('account-desktop', { width: 1280, height: 900 }, 'en-US');
    await accountJourney('account-phone', { width: 390, height: 844 }, 'zh-TW');
  }
  if (run('buy')) {
    await buyJourney('buy-desktop', { width: 1280, height: 900 }, 'en-US');
    await buyJourney('buy-phone', { width: 390, height: 844 }, 'zh-TW');
  }
  if (run('offline')) await offlineJourney('offline-phone', { width: 390, height: 844 }, 'zh-TW');
  if (run('ops')) {
    await operatorData();
    await operatorJourney('operator-desktop', { width: 1280, height: 900 }, 'en-US');
    await operatorJourney('operator-phone', { width: 390, height: 844 }, 'zh-TW');
  }
  if (run('admin')) await adminJourneys({ browser, base, logsDir, fail, checkPage });
  else if (only.includes('config')) await systemJourneys({ browser, base, logsDir, fail, checkPage }); // alone, without the ops data
  if (run('webhooks')) {
    await webhooksJourney('webhooks-desktop', { width: 1280, height: 900 }, 'en-US');
    await webhooksJourney('webhooks-phone', { width: 390, height: 844 }, 'zh-TW');
  }
  if (Date.now() > deadline) fail('the end-to-end test took longer than its budget of 360 s');
} catch (e) {
  fail(String(e?.stack ?? e));
  console.error(log.join('').slice(-4000));
} finally {
  await cleanup();
}
console.log(`screenshots: ${artifacts}`);
if (failures.length) {
  console.error(`${failures.length} failure(s)`);
  process.exit(1);
}
console.log('web e2e: ok');
