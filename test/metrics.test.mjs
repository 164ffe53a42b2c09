// /metrics: the master's own counters and the app's prom-client metrics summed across workers,
// read the way a scraper reads the page.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Master, freePort, request, waitFor } from './helpers.mjs';
import { parsePrometheus, sample } from './prometheus.mjs';

async function start(t, workers, extra = {}) {
  const [port, statusPort] = [await freePort(), await freePort()];
  const m = Master.start(t, 'metrics-app.mjs', { bind: `127.0.0.1:${port}`, workers, statusBind: `127.0.0.1:${statusPort}`, timeout: 10_000, ...extra });
  await m.ready(workers);
  await m.waitForLog(/Status server listening at/);
  return { m, port, scrape: async () => parsePrometheus((await request(statusPort, '/metrics')).body), statusPort };
}

const sum = (page, family) => page.get(family).samples.reduce((a, s) => a + s.value, 0);

test('after N requests: arbiter_requests_total >= N and the app counter is summed across workers (aggregators honoured)', async (t) => {
  const { m, port, scrape } = await start(t, 3);
  const N = 60;
  const served = new Set();
  for (let i = 0; i < N; i++) served.add((await request(port, '/hello')).body);
  assert.ok(served.size >= 2, `requests reached several workers (${[...served]})`);
  // counted when the response closes in the worker, which can follow the client's read by a moment
  const page = await waitFor(async () => {
    const p = await scrape();
    return sample(p, 'arbiter_requests_total') >= N && p;
  }, `arbiter_requests_total >= ${N}`);
  assert.equal(page.get('app_requests_total').type, 'counter');
  assert.equal(sample(page, 'app_requests_total', { path: '/hello' }), N, 'summed over the workers');
  assert.equal(sample(page, 'app_worker_count'), 3, 'aggregator sum');
  assert.equal(sample(page, 'app_worker_pid'), Math.max(...m.readyWorkers()), 'aggregator max');
});

test('counters never go backwards when workers are replaced', async (t) => {
  const { m, port, scrape } = await start(t, 2);
  for (let i = 0; i < 20; i++) await request(port, '/');
  const before = await scrape();
  const victim = m.readyWorkers()[0];
  process.kill(victim, 'SIGKILL');
  await m.waitForEvents('worker_exit', 1);
  await waitFor(() => m.readyWorkers().length === 2, 'a replacement');
  const after = await scrape();
  for (const family of ['arbiter_requests_total', 'arbiter_worker_spawns_total', 'arbiter_worker_exits_total', 'arbiter_worker_cpu_seconds_total']) {
    for (const s of before.get(family).samples) {
      const now = after.get(family).samples.find((x) => JSON.stringify(x.labels) === JSON.stringify(s.labels));
      assert.ok(now && now.value >= s.value, `${family}${JSON.stringify(s.labels)}: ${s.value} -> ${now?.value}`);
    }
  }
  assert.ok(sample(after, 'arbiter_requests_total') >= 20);
  assert.equal(sample(after, 'arbiter_worker_exits_total', { reason: 'crash' }), 1);
  assert.equal(sample(after, 'arbiter_worker_spawns_total'), 3);
});

test('a hung worker does not stall a scrape beyond its deadline', async (t) => {
  const { m, port, scrape, statusPort } = await start(t, 2);
  for (let i = 0; i < 10; i++) await request(port, '/');
  const first = await scrape();
  assert.equal(sample(first, 'app_requests_total', { path: '/' }), 10);
  const blocked = request(port, '/block?ms=6000');
  const hung = await m.started('/block');
  const t0 = performance.now();
  const r = await request(statusPort, '/metrics');
  const elapsed = performance.now() - t0;
  assert.ok(elapsed < 3000, `the scrape took ${Math.round(elapsed)} ms with a blocked worker (deadline 1000 ms)`);
  const page = parsePrometheus(r.body);
  assert.ok(sample(page, 'app_requests_total', { path: '/' }) >= 10, 'the hung worker counts with what it answered last');
  const slot = m.all('spawn').find((e) => e.args[0].pid === hung).args[0].slot;
  await waitFor(async () => sample(await scrape(), 'arbiter_worker_heartbeat_age_seconds', { slot }) > 1, 'the hung slot’s heartbeat age to grow', 6000, 200);
  // a scraper that allows less time gets its answer sooner
  const t1 = performance.now();
  await new Promise((resolve, reject) =>
    import('node:http').then(({ default: http }) =>
      http.get({ host: '127.0.0.1', port: statusPort, path: '/metrics', headers: { 'x-prometheus-scrape-timeout-seconds': '0.4' } }, (res) => res.resume().on('end', resolve)).on('error', reject),
    ),
  );
  assert.ok(performance.now() - t1 < 1500, 'X-Prometheus-Scrape-Timeout-Seconds shortens the wait');
  await blocked;
  assert.equal(sum(await scrape(), 'app_requests_total'), 11);
});

test('threaded workers: every serving thread’s registry is gathered', async (t) => {
  const { port, scrape } = await start(t, 1, { workerClass: 'threaded', threads: 2 });
  const N = 30;
  await Promise.all(Array.from({ length: N }, () => request(port, '/t')));
  const page = await scrape();
  assert.equal(sample(page, 'app_requests_total', { path: '/t' }), N);
  assert.equal(sample(page, 'app_worker_count'), 2, 'one per thread that loaded the app');
});
