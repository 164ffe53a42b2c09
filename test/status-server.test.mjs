// statusBind: the read-only HTTP server in the master — /healthz, /readyz, /status, /metrics.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Arbiter, ArbiterError } from 'arbiter';
import { Master, canConnect, freePort, request, waitFor } from './helpers.mjs';
import { parsePrometheus, sample } from './prometheus.mjs';

/** A request with any method: { status, headers, body }. */
function call(port, method, path) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(method === 'POST' || method === 'PUT' ? '{"cmd":"stop"}' : undefined);
  });
}

// SPEC §10's names, written out on purpose rather than imported from metrics.ts: a rename in the
// source must fail this test.
const SPEC_NAMES = [
  'arbiter_workers',
  'arbiter_workers_target',
  'arbiter_worker_spawns_total',
  'arbiter_worker_exits_total',
  'arbiter_worker_timeouts_total',
  'arbiter_reloads_total',
  'arbiter_requests_total',
  'arbiter_worker_resident_memory_bytes',
  'arbiter_worker_cpu_seconds_total',
  'arbiter_worker_heartbeat_age_seconds',
  'arbiter_master_uptime_seconds',
  // SPEC §12
  'arbiter_worker_event_loop_utilization',
  'arbiter_worker_event_loop_delay_p99_seconds',
  'arbiter_worker_heap_used_bytes',
  'arbiter_saturation',
  'arbiter_listen_backlog',
  'arbiter_shed_total',
  'arbiter_scale_events_total',
];

test('statusBind is validated like an address', () => {
  for (const bad of ['fd://3', 'nonsense', 42, '']) {
    assert.throws(
      () => new Arbiter({ config: { statusBind: bad }, load: () => () => {} }),
      (err) => err instanceof ArbiterError && /Expected `statusBind` to be an address "host:port", ":port", "\[::1\]:port" or "unix:\/path", or null/.test(err.message),
    );
  }
  assert.equal(new Arbiter({ config: {}, load: () => () => {} }).config.statusBind, null);
});

test('/healthz, /readyz, /status and /metrics answer; the server is read-only', async (t) => {
  const [port, statusPort] = [await freePort(), await freePort()];
  const m = Master.start(t, 'app.mjs', { bind: `127.0.0.1:${port}`, workers: 2, statusBind: `127.0.0.1:${statusPort}` });
  await m.ready(2);
  await m.waitForLog(new RegExp(`Status server listening at: http://127\\.0\\.0\\.1:${statusPort} \\(${m.pid}\\)`));
  assert.deepEqual(await request(statusPort, '/healthz').then((r) => [r.status, r.body]), [200, 'ok\n']);
  assert.deepEqual(await request(statusPort, '/readyz').then((r) => [r.status, r.body]), [200, 'ready\n']);

  const status = await request(statusPort, '/status');
  assert.equal(status.status, 200);
  assert.match(status.headers['content-type'], /^application\/json/);
  const stats = JSON.parse(status.body);
  assert.equal(stats.pid, m.pid);
  assert.deepEqual(stats.workers.map((w) => w.pid).sort(), m.readyWorkers().sort());

  for (let i = 0; i < 5; i++) await request(port, '/');
  // A request is counted when its response has closed in the worker, which on a busy machine can
  // come a moment after the client has read the response: scrape until all five are counted.
  const metrics = await waitFor(async () => {
    const r = await request(statusPort, '/metrics');
    return sample(parsePrometheus(r.body), 'arbiter_requests_total') >= 5 && r;
  }, 'arbiter_requests_total to count the 5 requests');
  assert.equal(metrics.status, 200);
  assert.equal(metrics.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
  const page = parsePrometheus(metrics.body);
  for (const name of SPEC_NAMES) {
    const f = page.get(name);
    assert.ok(f, `${name} is on the page`);
    assert.ok(f.help, `${name} has # HELP`);
    assert.equal(f.type, name.endsWith('_total') ? 'counter' : 'gauge', `${name} # TYPE`);
  }
  assert.equal(sample(page, 'arbiter_workers', { state: 'ready' }), 2);
  assert.equal(sample(page, 'arbiter_workers_target'), 2);
  assert.equal(sample(page, 'arbiter_worker_spawns_total'), 2);
  for (const slot of [0, 1]) {
    assert.ok(sample(page, 'arbiter_worker_resident_memory_bytes', { slot }) > 10_000_000);
    assert.ok(sample(page, 'arbiter_worker_cpu_seconds_total', { slot }) > 0);
    assert.ok(sample(page, 'arbiter_worker_heartbeat_age_seconds', { slot }) < 5);
  }
  assert.ok(sample(page, 'arbiter_master_uptime_seconds') > 0);

  for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
    const r = await call(statusPort, method, '/metrics');
    assert.equal(r.status, 405, method);
    assert.equal(r.headers.allow, 'GET, HEAD');
  }
  const head = await call(statusPort, 'HEAD', '/readyz');
  assert.deepEqual([head.status, head.body], [200, '']);
  assert.equal((await request(statusPort, '/reload')).status, 404);
  assert.equal(m.readyWorkers().length, 2, 'nothing was changed');
  m.signal('SIGTERM');
  assert.equal((await m.exited).code, 0);
  assert.equal(await canConnect(statusPort), false, 'the status server is gone with the master');
});

test('/readyz flips to 503 on TERM while the listeners are still open', async (t) => {
  const [port, statusPort] = [await freePort(), await freePort()];
  const m = Master.start(t, 'app.mjs', { bind: `127.0.0.1:${port}`, workers: 1, statusBind: `127.0.0.1:${statusPort}`, gracefulTimeout: 10_000 });
  await m.ready(1);
  await waitFor(async () => (await request(statusPort, '/readyz').catch(() => ({}))).status === 200, '/readyz 200');
  // The worker's loop is blocked, so it cannot stop accepting yet: the master keeps its listeners
  // open until it has (a graceful stop never resets queued connections).
  const blocked = request(port, '/block?ms=2500');
  await m.started('/block');
  m.signal('SIGTERM');
  await m.waitForLog(/Handling signal: term/);
  const ready = await request(statusPort, '/readyz');
  assert.deepEqual([ready.status, ready.body], [503, 'stopping\n']);
  assert.equal(await canConnect(port), true, 'the listeners are still open');
  assert.equal((await request(statusPort, '/healthz')).status, 200, 'the loop still runs');
  assert.equal((await blocked).status, 200);
  assert.equal((await m.exited).code, 0);
  assert.equal(await canConnect(port), false);
});

test('/readyz is 503 with no worker ready (WINCH), 200 again once one is', async (t) => {
  const [port, statusPort] = [await freePort(), await freePort()];
  const m = Master.start(t, 'app.mjs', { bind: `127.0.0.1:${port}`, workers: 1, statusBind: `127.0.0.1:${statusPort}` });
  await m.ready(1);
  await waitFor(async () => (await request(statusPort, '/readyz').catch(() => ({}))).status === 200, '/readyz 200');
  m.signal('SIGWINCH');
  await m.waitForEvents('worker_exit', 1);
  assert.deepEqual(await request(statusPort, '/readyz').then((r) => [r.status, r.body]), [503, 'no worker ready\n']);
  m.signal('SIGTTIN');
  await waitFor(() => m.readyWorkers().length === 1, 'a worker again');
  assert.equal((await request(statusPort, '/readyz')).status, 200);
});

test('/readyz stays 200 through a reload: the old generation serves until the new one is ready (or rolled back)', async (t) => {
  const [port, statusPort] = [await freePort(), await freePort()];
  const dir = mkdtempSync(join(tmpdir(), 'arbiter-version-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'version');
  writeFileSync(file, 'v1');
  const m = Master.start(t, 'app.mjs', { bind: `127.0.0.1:${port}`, workers: 1, statusBind: `127.0.0.1:${statusPort}`, bootTimeout: 2000 }, { env: { FIXTURE_VERSION_FILE: file } });
  await m.ready(1);
  await waitFor(async () => (await request(statusPort, '/readyz').catch(() => ({}))).status === 200, '/readyz 200');
  writeFileSync(file, 'hang'); // the new generation never becomes ready
  m.signal('SIGHUP');
  await m.waitForEvents('spawn', 2);
  assert.equal((await request(statusPort, '/readyz')).status, 200, 'while the new generation boots');
  await m.waitForEvents('reload_failed', 1);
  assert.equal((await request(statusPort, '/readyz')).status, 200, 'after the rollback');
  assert.equal((await request(port, '/version')).body, 'v1');
});

test('a statusBind address that is taken fails the start before any worker is spawned, naming the option', async (t) => {
  const [port, statusPort] = [await freePort(), await freePort()];
  const taken = net.createServer().listen(statusPort, '127.0.0.1');
  await once(taken, 'listening');
  t.after(() => taken.close());
  const m = Master.start(t, 'app.mjs', { bind: `127.0.0.1:${port}`, workers: 2, statusBind: `127.0.0.1:${statusPort}` });
  assert.equal((await m.exited).code, 1, m.stderr);
  assert.match(m.stderr, new RegExp(`Cannot serve status at 127\\.0\\.0\\.1:${statusPort} \\(statusBind\\): listen EADDRINUSE`));
  assert.equal(m.all('spawn').length, 0, 'no worker was started');
  assert.ok(!(await canConnect(port)), 'the port is released');
});

