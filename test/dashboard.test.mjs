// The dashboard (SPEC §13) in a real browser: Debian's chromium driven by playwright-core loads
// GET / from the status server, sees the workers in its table and a timeout arrive live on its
// timeline (expanded: the request it cut and the stack), and draws its charts. ARBITER_SCREENSHOT=
// <file> saves what it shows (docs/dashboard.png is made so).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import http from 'node:http';
import { test } from 'node:test';
import { freePort, Master, waitFor } from './helpers.mjs';

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
// CI installs it (.ci/run); elsewhere the test says what is missing instead of passing silently.
const skip = CHROMIUM ? false : 'no chromium on this machine: apt-get install -y chromium (CI installs it)';
if (!CHROMIUM && process.env.CI) throw new Error('CI must have chromium for the dashboard test (.ci/run installs it)');

test('dashboard in headless Chromium: the worker table, a timeout arriving live with its request and stack, the charts', { skip }, async (t) => {
  const { chromium } = await import('playwright-core');
  const [port, statusPort] = [await freePort(), await freePort()];
  const m = Master.start(t, 'faults.mjs', { bind: `127.0.0.1:${port}`, workers: 2, timeout: 2000, statusBind: `127.0.0.1:${statusPort}` });
  await m.ready(2);
  await m.waitForLog(/Status server listening at/);

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  t.after(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
  const errors = [];
  page.on('pageerror', (err) => errors.push(err.message));
  page.on('console', (msg) => msg.type() === 'error' && errors.push(msg.text()));
  const external = [];
  page.on('request', (r) => !r.url().startsWith(`http://127.0.0.1:${statusPort}/`) && external.push(r.url()));
  await page.goto(`http://127.0.0.1:${statusPort}/`);

  // the worker table: one row per worker, the master's pids
  await page.waitForFunction((n) => document.querySelectorAll('#workers tr').length === n, 2, { timeout: 15_000 });
  const shown = (await page.$$eval('#workers tr', (rows) => rows.map((r) => Number(r.dataset.pid)))).sort();
  assert.deepEqual(shown, m.readyWorkers().sort(), 'the rows are the ready workers');
  await page.waitForFunction(() => document.getElementById('conn').textContent.includes('live'), null, { timeout: 15_000 });

  // some traffic for the charts, then a request that hangs its worker: the timeout arrives live
  for (let i = 0; i < 20; i++) await fetch(`http://127.0.0.1:${port}/`).then((r) => r.text());
  const hung = http.get({ host: '127.0.0.1', port, path: '/spin?secret=1', headers: { 'x-request-id': 'browser-1' }, agent: false });
  hung.on('error', () => {});
  t.after(() => hung.destroy());
  const timeout = await page.waitForSelector('#events .timeout details', { timeout: 20_000 });
  await timeout.click(); // expands to the request and the stack
  const text = await timeout.innerText();
  assert.match(text, /request: GET \/spin \d+ ms x-request-id browser-1/);
  assert.doesNotMatch(text, /secret/, 'the query is not shown');
  assert.match(text, /at spinForever \(/);
  // the replacement shows up in the table
  await waitFor(() => m.readyWorkers().length === 2 && m.all('worker_exit').length === 1, 'the replacement ready', 20_000);
  await page.waitForFunction((pids) => [...document.querySelectorAll('#workers tr')].map((r) => Number(r.dataset.pid)).sort().join() === pids, m.readyWorkers().sort().join(), { timeout: 15_000 });

  // the charts drew something (a canvas that is not blank)
  const inked = await page.$$eval('canvas', (all) => all.map((c) => c.getContext('2d').getImageData(0, 0, c.width, c.height).data.some((v, i) => i % 4 === 3 && v > 0)));
  assert.ok(inked.length >= 3 && inked.every(Boolean), `every chart drew: ${inked}`);
  assert.deepEqual(external, [], 'nothing loaded from elsewhere');
  assert.deepEqual(errors, [], 'no script error');
  if (process.env.ARBITER_SCREENSHOT) await page.screenshot({ path: process.env.ARBITER_SCREENSHOT, fullPage: true });

  m.signal('SIGTERM');
  assert.equal((await m.exited).code, 0);
  await page.waitForFunction(() => document.getElementById('conn').textContent.includes('stopped'), null, { timeout: 15_000 });
});
