// arbiter.stats(): the status data model (SPEC §9), figures from the watchdog channel, event-fed counters.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { freePort, Master, request, waitFor } from './helpers.mjs';

/** Starts app.mjs with an IPC channel through which the test asks the master for stats(). */
const start = (t, config, options = {}) => Master.start(t, 'app.mjs', config, { ...options, stdio: ['ipc'] });

const MASTER_KEYS = ['backlog', 'binds', 'generation', 'max', 'min', 'name', 'pid', 'ready', 'reloads', 'restarts', 'saturation', 'target', 'uptime', 'version', 'workerClass', 'workers'];
const WORKER_KEYS = ['cpu', 'elu', 'generation', 'heapLimit', 'heapUsed', 'heartbeatAge', 'inflight', 'loopDelayP99', 'pid', 'reqRate', 'requests', 'rss', 'slot', 'state', 'uptime'];

test('stats(): the master and one line per worker, with figures from the watchdog', async (t) => {
  const port = await freePort();
  const m = start(t, { bind: `127.0.0.1:${port}`, workers: 2, procName: 'statsapp' });
  await m.ready(2);
  for (let i = 0; i < 10; i++) await request(port, '/');
  const s = await m.stats();
  assert.deepEqual(Object.keys(s).sort(), MASTER_KEYS);
  assert.equal(s.pid, m.pid);
  assert.equal(s.version, JSON.parse((await import('node:fs')).readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version);
  assert.equal(s.name, 'statsapp');
  assert.deepEqual(s.binds, [`http://127.0.0.1:${port}`]);
  assert.equal(s.workerClass, 'async');
  assert.equal(s.target, 2);
  assert.deepEqual([s.min, s.max], [null, null], 'a fixed number: no bounds');
  assert.equal(s.ready, 2);
  assert.equal(s.generation, 0);
  assert.ok(s.uptime > 0 && s.uptime < 60_000, `uptime ${s.uptime}`);
  assert.equal(s.reloads, 0);
  assert.equal(s.restarts, 0);
  assert.equal(s.workers.length, 2);
  assert.deepEqual(s.workers.map((w) => w.pid).sort(), m.readyWorkers().sort());
  assert.deepEqual(s.workers.map((w) => w.slot).sort(), [0, 1]);
  for (const w of s.workers) {
    assert.deepEqual(Object.keys(w).sort(), WORKER_KEYS);
    assert.equal(w.state, 'ready');
    assert.equal(w.generation, 0);
    assert.ok(w.uptime > 0, `worker uptime ${w.uptime}`);
    assert.ok(w.rss > 10 * 2 ** 20 && w.rss < 2 ** 30, `rss ${w.rss}`);
    assert.ok(w.cpu >= 0 && w.cpu < 100, `cpu ${w.cpu}`);
    assert.ok(w.heartbeatAge >= 0 && w.heartbeatAge < 5000, `heartbeatAge ${w.heartbeatAge}`);
    assert.equal(w.inflight, 0);
  }
  assert.equal(s.workers.reduce((n, w) => n + w.requests, 0), 10);
});

test('stats(): a blocked worker still shows, its heartbeat age growing and its CPU near a core', async (t) => {
  const port = await freePort();
  const m = start(t, { bind: `127.0.0.1:${port}`, workers: 2, timeout: 60_000 });
  await m.ready(2);
  const blocked = request(port, '/block?ms=4000').catch(() => {});
  const pid = await m.started('/block');
  const first = (await m.stats()).workers.find((w) => w.pid === pid);
  const second = (await m.stats()).workers.find((w) => w.pid === pid);
  assert.ok(first && second, 'the blocked worker is listed');
  assert.ok(first.heartbeatAge >= 150, `heartbeat age while blocked: ${first.heartbeatAge}`);
  assert.ok(second.heartbeatAge > first.heartbeatAge, `heartbeat age grows: ${first.heartbeatAge} -> ${second.heartbeatAge}`);
  assert.equal(second.inflight, 1);
  assert.equal(second.state, 'ready');
  assert.ok(second.cpu > 25, `a spinning worker's CPU: ${second.cpu}% (shared machine: generous bound)`);
  await blocked;
});

test('stats(): restarts and reloads are counted from events, and a reload emits `reloaded`', async (t) => {
  const port = await freePort();
  const m = start(t, { bind: `127.0.0.1:${port}`, workers: 2 });
  await m.ready(2);
  const victim = m.readyWorkers()[0];
  process.kill(victim, 'SIGKILL');
  await m.waitForEvents('worker_ready', 3);
  let s = await m.stats();
  assert.equal(s.restarts, 1);
  assert.equal(s.reloads, 0);
  assert.ok(!s.workers.some((w) => w.pid === victim));

  m.signal('SIGHUP');
  const [reloaded] = await m.waitForEvents('reloaded');
  assert.deepEqual(reloaded.args[0], { generation: 1, workers: 2 });
  await waitFor(async () => (await m.stats()).workers.every((w) => w.generation === 1), 'only generation 1 left');
  s = await m.stats();
  assert.equal(s.reloads, 1);
  assert.equal(s.restarts, 1, 'retiring the old generation is no restart');
  assert.equal(s.generation, 1);
  assert.equal(s.ready, 2);
});
