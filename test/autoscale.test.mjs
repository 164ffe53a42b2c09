// Adaptive workers (SPEC §12): the decision as a pure function (hysteresis, no flapping, bounds,
// the memory guard), the config's checks, and real masters scaling under CPU-bound load.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { decide, INITIAL_STATE, median, SCALE_UP_AFTER, BACKLOG_AFTER, SETTLE_AFTER } = require('../dist/cjs/master/scale-policy.js');
const { settledPool, clampToRange } = require('../dist/cjs/master/autoscale.js');
const { Arbiter, ArbiterError } = require('../dist/cjs/index.js');
const { resolveConfig, workerRange } = require('../dist/cjs/config.js'); // the bundle's copy is internal: the tree's module, as the bundle does
const { parseWorkersFlag } = require('../dist/cjs/config/adaptive.js');

const policy = { min: 1, max: 3, scaleUpAt: 0.75, scaleDownAt: 0.25, scaleDownAfter: 10_000 };
const sample = (over) => ({ saturation: 0.5, backlog: 0, target: 1, settled: true, headroom: null, medianRss: null, ...over });

/** Feeds one sample a second from t=`from` for `seconds`; returns every non-'none' decision with its time. */
function run(samples, { state = INITIAL_STATE, from = 100_000, p = policy } = {}) {
  const out = [];
  let t = from;
  for (const s of samples) {
    const r = decide(state, s, t, p);
    state = r.state;
    if (r.decision.action !== 'none') out.push({ t: t - from, ...r.decision });
    t += 1000;
  }
  return { out, state };
}
const repeat = (n, s) => Array.from({ length: n }, () => s);

test('scale up after saturation stays at or above scaleUpAt for 3 s, with the reason', () => {
  const { out } = run(repeat(6, sample({ saturation: 0.8 })));
  assert.equal(out.length, 1);
  assert.equal(out[0].action, 'up');
  assert.equal(out[0].reason, 'saturation');
  assert.equal(out[0].t, SCALE_UP_AFTER);
  assert.match(out[0].detail, /saturation 80% >= 75% for 3s/);
});

test('one sample below the threshold starts the window again (no decision on a load that dips)', () => {
  const wobble = [0.8, 0.8, 0.8, 0.7, 0.8, 0.8, 0.8, 0.7, 0.8, 0.8].map((saturation) => sample({ saturation }));
  assert.deepEqual(run(wobble).out, []);
});

test('a load right at a threshold does not flap: between the thresholds nothing happens, at one only that direction', () => {
  assert.deepEqual(run(repeat(120, sample({ saturation: 0.5, target: 2 }))).out, []);
  // exactly at scaleUpAt: up once (then the pool is unsettled while the worker boots, then quiet)
  const seq = [...repeat(4, sample({ saturation: 0.75, target: 2 })), ...repeat(2, sample({ target: 3, settled: false })), ...repeat(60, sample({ saturation: 0.5, target: 3 }))];
  const { out } = run(seq);
  assert.deepEqual(out.map((d) => d.action), ['up']);
});

test('after a change: no decision until the pool settles and SETTLE_AFTER has passed, then a fresh window', () => {
  const seq = [...repeat(4, sample({ saturation: 0.9, target: 1 })), ...repeat(3, sample({ saturation: 0.9, target: 2, settled: false })), ...repeat(9, sample({ saturation: 0.9, target: 2 }))];
  const { out } = run(seq);
  assert.deepEqual(out.map((d) => [d.action, d.t]), [
    ['up', 3000],
    // unsettled until t=6000, quiet for SETTLE_AFTER, then a whole new window of saturation
    ['up', 6000 + SETTLE_AFTER + SCALE_UP_AFTER],
  ]);
});

test('never beyond max, never below min', () => {
  assert.deepEqual(run(repeat(20, sample({ saturation: 1, target: 3 }))).out, []);
  assert.deepEqual(run(repeat(60, sample({ saturation: 0, target: 1 }))).out, []);
});

test('backlog above 0 for 2 s scales up, reason backlog, even with low saturation', () => {
  const { out } = run(repeat(4, sample({ saturation: 0.1, backlog: 3 })));
  assert.deepEqual(out.map((d) => [d.action, d.reason, d.t]), [['up', 'backlog', BACKLOG_AFTER]]);
  assert.match(out[0].detail, /3 connections waiting in the accept queue for 2s/);
  assert.deepEqual(run(repeat(4, sample({ saturation: 0.1, backlog: null }))).out, [], 'an unreadable backlog is not pressure');
});

test('scale down after scaleDownAfter of saturation at or below scaleDownAt (not while connections queue)', () => {
  const { out } = run(repeat(12, sample({ saturation: 0.1, target: 3 })));
  assert.deepEqual(out.map((d) => [d.action, d.reason, d.t]), [['down', 'idle', 10_000]]);
  assert.deepEqual(run([...repeat(6, sample({ saturation: 0.1, target: 3 })), sample({ saturation: 0.3, target: 3 }), ...repeat(6, sample({ saturation: 0.1, target: 3 }))]).out, [], 'a busier second restarts the quiet period');
  assert.deepEqual(run(repeat(4, sample({ saturation: 0.1, target: 2, backlog: 1 }))).out.map((d) => d.reason), ['backlog']);
});

test('memory guard: no scale-up while headroom < 1.5 × median RSS; reported once per episode', () => {
  const mb = 2 ** 20;
  const tight = sample({ saturation: 0.9, headroom: 140 * mb, medianRss: 100 * mb });
  const { out, state } = run(repeat(10, tight));
  assert.deepEqual(out.map((d) => [d.action, d.first]), [['blocked', true], ...repeat(6, ['blocked', false])]);
  // the pressure ends, then comes back: a new episode, reported again
  const again = run([sample({ saturation: 0.5 }), ...repeat(5, tight)], { state });
  assert.deepEqual(again.out.map((d) => [d.action, d.first]), [['blocked', true], ['blocked', false]]);
  // enough headroom: up
  assert.equal(run(repeat(4, sample({ saturation: 0.9, headroom: 151 * mb, medianRss: 100 * mb }))).out[0].action, 'up');
});

test('settledPool and clampToRange', () => {
  const w = (state, generation = 0, extra = {}) => ({ state, generation, ...extra });
  assert.equal(settledPool([w('ready'), w('ready')], 2, 0), true);
  assert.equal(settledPool([w('ready'), w('booting')], 2, 0), false);
  assert.equal(settledPool([w('ready'), w('ready'), w('retiring', 0, { reason: 'scale_down' })], 2, 0), false);
  assert.equal(settledPool([w('ready', 1), w('ready', 1), w('retiring', 0, { reason: 'reload' })], 2, 1), true);
  assert.equal(settledPool([w('ready'), w('spare', 0, { spare: true })], 1, 0), true);
  assert.equal(clampToRange(5, { min: 1, max: 3 }), 3);
  assert.equal(clampToRange(0, { min: 2, max: 3 }), 2);
  assert.equal(clampToRange(7, undefined), 7);
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 2, 3]), 2.5);
  assert.equal(median([]), null);
});

const make = (config) => new Arbiter({ config, load: () => () => {} });
const rejects = (config, re) => assert.throws(() => make(config), (err) => err instanceof ArbiterError && re.test(err.message), JSON.stringify(config));

test('config: workers { min, max } resolves to min with the range kept; thresholds validated with clear errors', () => {
  const a = make({ workers: { min: 2, max: 5 } });
  assert.equal(a.config.workers, 2);
  const resolved = resolveConfig({ workers: { min: 2, max: 5 } }, (v) => v);
  assert.deepEqual({ ...workerRange(resolved) }, { min: 2, max: 5 });
  assert.equal(workerRange(resolveConfig({ workers: 3 }, (v) => v)), undefined, 'a fixed number: no range');
  assert.deepEqual([a.config.scaleUpAt, a.config.scaleDownAt, a.config.scaleDownAfter], [0.75, 0.25, 30_000]);
  assert.ok(workerRange(resolveConfig({ workers: { min: 1, max: 'auto' } }, (v) => v)).max >= 1);
  assert.equal(make({ workers: { min: 1, max: 2 }, scaleDownAfter: '5s' }).config.scaleDownAfter, 5000);
  rejects({ workers: { min: 0, max: 3 } }, /^Expected `workers\.min` to be a positive integer, got 0 \(number\)$/);
  rejects({ workers: { min: 4, max: 3 } }, /^Expected `workers\.max` to be at least workers\.min \(4\), got 3 \(number\)$/);
  rejects({ workers: { min: 1, max: 2000 } }, /`workers\.max` to be at most 1024 \(the limit on workers per master\), got 2000/);
  rejects({ workers: { min: 1 } }, /`workers\.max` to be a positive integer or "auto", got undefined/);
  rejects({ workers: { min: 1, max: 2, step: 1 } }, /`workers` to be a number, "auto" or \{ min, max \}/);
  rejects({ scaleUpAt: 1.5 }, /^Expected `scaleUpAt` to be a number from 0 to 1, got 1\.5 \(number\)$/);
  rejects({ scaleDownAt: 'x' }, /`scaleDownAt` to be a number from 0 to 1, got "x"/);
  rejects({ scaleUpAt: 0.5, scaleDownAt: 0.5 }, /^Expected `scaleDownAt` to be below scaleUpAt \(0\.5\), so that a steady load cannot make the count flap, got 0\.5 \(number\)$/);
  rejects({ scaleDownAfter: 0 }, /`scaleDownAfter` to be a positive integer \(milliseconds\)/);
});

test('CLI -w MIN:MAX', () => {
  assert.deepEqual(parseWorkersFlag('2:8'), { min: 2, max: 8 });
  assert.deepEqual(parseWorkersFlag('1:auto'), { min: 1, max: 'auto' });
  assert.equal(parseWorkersFlag('4'), 4);
  assert.equal(parseWorkersFlag('auto'), 'auto');
  assert.equal(parseWorkersFlag('2:'), '2:');
});

// ---- real masters --------------------------------------------------------------------------

const { freePort, Master, request, waitFor } = await import('./helpers.mjs');

/** `clients` loops of requests to `path` until `stop()`; resolves once every loop has ended. */
function load(port, path, clients) {
  let running = true;
  const loops = Array.from({ length: clients }, async () => {
    while (running) await request(port, path).catch(() => {});
  });
  return { stop: () => ((running = false), Promise.all(loops)) };
}

/** The target after each `nworkers_changed` so far, and their reasons. */
const changes = (m) => m.all('nworkers_changed').map((e) => ({ n: e.args[0], old: e.args[1], reason: e.args[2] }));

test('CPU-bound load: -w 1:3 rises to 3 and no further, falls back to 1 after scaleDownAfter, without oscillating', async (t) => {
  const [port, statusPort] = [await freePort(), await freePort()];
  const m = Master.start(t, 'app.mjs', { bind: `127.0.0.1:${port}`, workers: { min: 1, max: 3 }, scaleDownAfter: 4000, timeout: 60_000, statusBind: `127.0.0.1:${statusPort}` }, { stdio: ['ipc'] });
  await m.ready(1);
  const idle = await m.stats();
  assert.deepEqual([idle.min, idle.max, idle.target], [1, 3, 1]);
  assert.match(m.stderr, /\[INFO\] Adaptive workers: 1 to 3 \(one more at saturation >= 75% for 3s or a backlog for 2s, one less at <= 25% for 4s\)\n/);

  const cpu = load(port, '/block?ms=50', 6); // each request spins the worker's loop for 50 ms
  try {
    await waitFor(() => changes(m).some((c) => c.n === 3), `the count to reach 3:\n${m.stderr}`, 90_000, 100);
    await m.ready(3);
    // held at max: another up window (settle + 3 s) passes without a change
    const atMax = changes(m).length;
    await m.waitForLog(/Autoscale: 2 -> 3 workers/);
    await new Promise((r) => setTimeout(r, 8000)); // an observation period with the load on, not a wait for an event
    assert.equal(changes(m).length, atMax, 'nothing past max');
  } finally {
    await cpu.stop();
  }
  await waitFor(() => changes(m).at(-1)?.n === 1, `the count to fall back to 1:\n${m.stderr}`, 90_000, 100);
  const all = changes(m);
  assert.deepEqual(all.map((c) => [c.old, c.n]), [[1, 2], [2, 3], [3, 2], [2, 1]], 'one step at a time, no oscillation');
  for (const c of all.slice(0, 2)) assert.ok(c.reason === 'saturation' || c.reason === 'backlog', c.reason);
  for (const c of all.slice(2)) assert.equal(c.reason, 'idle');
  assert.match(m.stderr, /Autoscale: 1 -> 2 workers \((saturation \d+% >= 75% for [\d.]+s|\d+ connections? waiting in the accept queue for [\d.]+s)\)/);
  assert.match(m.stderr, /Autoscale: 2 -> 1 workers \(saturation \d+% <= 25% for [\d.]+s\)/);
  assert.ok(Math.max(...all.map((c) => c.n)) <= 3);
  const s = await m.stats();
  assert.equal(s.target, 1);
  await waitFor(() => m.readyWorkers().length === 1, 'one worker left', 30_000);
  const metrics = (await request(statusPort, '/metrics')).body;
  assert.match(metrics, /^arbiter_scale_events_total\{direction="up"\} 2$/m);
  assert.match(metrics, /^arbiter_scale_events_total\{direction="down"\} 2$/m);
});

test('I/O-bound load: sync workers waiting on I/O scale up on the backlog (their loops idle), then back down', async (t) => {
  const port = await freePort();
  const m = Master.start(t, 'app.mjs', { bind: `127.0.0.1:${port}`, workerClass: 'sync', workers: { min: 1, max: 3 }, scaleDownAfter: 3000, timeout: 60_000 }, { stdio: ['ipc'] });
  await m.ready(1);
  const io = load(port, '/slow?ms=400', 5); // one connection at a time per worker: the rest wait in the accept queue
  try {
    await waitFor(() => changes(m).some((c) => c.n === 3), `the count to reach 3:\n${m.stderr}`, 90_000, 100);
    await m.ready(3);
    const busy = await m.stats();
    assert.ok(busy.saturation === null || busy.saturation < 0.75, `the loops wait on I/O: saturation ${busy.saturation}`);
  } finally {
    await io.stop();
  }
  await waitFor(() => changes(m).at(-1)?.n === 1, `the count to fall back to 1:\n${m.stderr}`, 90_000, 100);
  const all = changes(m);
  assert.deepEqual(all.map((c) => [c.old, c.n, c.reason]), [[1, 2, 'backlog'], [2, 3, 'backlog'], [3, 2, 'idle'], [2, 1, 'idle']]);
  assert.match(m.stderr, /Autoscale: 1 -> 2 workers \(\d+ connections? waiting in the accept queue for [\d.]+s\)/);
});

test('CLI: -w 1:2 shows min/max in status; scale and TTIN are clamped to the bounds; a bad range exits 1 naming it', async (t) => {
  const { cli, json, runtimeDir, serve, APP } = await import('./cli-helpers.mjs');
  const env = { XDG_RUNTIME_DIR: runtimeDir(t) };
  const m = serve(t, ['-w', '1:2', '--scale-down-after', '1h', '-b', `127.0.0.1:${await freePort()}`, APP], env);
  await m.until(1);
  const status = await json(['status'], env);
  assert.deepEqual([status.target, status.min, status.max], [1, 1, 2]);
  assert.match((await cli(['status'], { env })).stdout, /^workers 1\/1 ready \(adaptive 1:2\)  generation 0/m);
  const r = await cli(['scale', '5'], { env });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /1 -> 2 workers/);
  await m.waitForLog(/Scale to 5 workers clamped to 2: adaptive workers stay within 1:2/);
  await m.until(2);
  process.kill(m.pid, 'SIGTTIN');
  await m.waitForLog(/Scale to 3 workers clamped to 2/);
  assert.equal((await json(['status'], env)).target, 2);

  for (const [args, re] of [
    [['-w', '3:2', APP], /^arbiter: -w\/--workers 3:2: Expected `workers\.max` to be at least workers\.min \(3\), got 2 \(number\)$/],
    [['-w', '0:2', APP], /^arbiter: -w\/--workers 0:2: Expected `workers\.min` to be a positive integer, got 0 \(number\)$/],
    [['--scale-up-at', '2', APP], /^arbiter: --scale-up-at 2: Expected `scaleUpAt` to be a number from 0 to 1, got 2 \(number\)$/],
    [['--scale-down-at', '0.8', APP], /^arbiter: .*Expected `scaleDownAt` to be below scaleUpAt \(0\.75\)/],
  ]) {
    const bad = await cli(args, { env });
    assert.equal(bad.code, 1, args.join(' '));
    assert.match(bad.stderr.trim(), re);
  }
});

test('memory guard: under load, no worker is added while the cgroup headroom is below 1.5 × the median RSS (said once); added once it is not', async (t) => {
  const { mkdtempSync, readFileSync, rmSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const own = readFileSync('/proc/self/cgroup', 'utf8').split('\n').find((l) => l.startsWith('0::'))?.slice(3);
  if (own === undefined) return t.skip('no cgroup v2 line in /proc/self/cgroup');
  const root = mkdtempSync(join(tmpdir(), 'arbiter-cgroup-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const dir = join(root, own);
  const { mkdirSync } = await import('node:fs');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'memory.current'), String(1000 * 2 ** 20));
  writeFileSync(join(dir, 'memory.max'), String(1010 * 2 ** 20)); // 10 MiB of headroom: less than any worker's RSS
  const port = await freePort();
  const m = Master.start(t, 'app.mjs', { bind: `127.0.0.1:${port}`, workers: { min: 1, max: 2 }, scaleDownAfter: 60_000, timeout: 60_000 }, { stdio: ['ipc'], env: { ARBITER_CGROUP_ROOT: root } });
  await m.ready(1);
  const cpu = load(port, '/block?ms=50', 4);
  try {
    await m.waitForLog(/Not adding a worker \((saturation \d+% >= 75%|\d+ connections? waiting in the accept queue) for [\d.]+s\): the cgroup's memory headroom 10\.0 MiB is below 1\.5 × the median worker RSS [\d.]+ MiB/, 60_000);
    await new Promise((r) => setTimeout(r, 4000)); // an observation period with the load on
    assert.deepEqual(changes(m), [], 'no worker added');
    assert.equal(m.stderr.match(/Not adding a worker/g).length, 1, 'said once per episode');
    writeFileSync(join(dir, 'memory.max'), 'max\n'); // unlimited: the guard is skipped
    await waitFor(() => changes(m).length === 1, `a worker added:\n${m.stderr}`, 60_000, 100);
    assert.deepEqual(changes(m).map((c) => [c.old, c.n]), [[1, 2]]);
  } finally {
    await cpu.stop();
  }
});

test('a reload keeps the adaptive bounds and the count set (TTIN up to max, then HUP)', async (t) => {
  const port = await freePort();
  const m = Master.start(t, 'app.mjs', { bind: `127.0.0.1:${port}`, workers: { min: 2, max: 3 }, scaleDownAfter: '1h', timeout: 60_000 }, { stdio: ['ipc'] });
  await m.ready(2);
  m.signal('SIGTTIN');
  await waitFor(() => m.readyWorkers().length === 3, '3 ready workers', 30_000);
  m.signal('SIGHUP');
  await m.waitForEvents('reloaded', 1, () => true, 60_000);
  const s = await m.stats();
  assert.deepEqual([s.target, s.min, s.max, s.generation], [3, 2, 3, 1]);
  assert.deepEqual(changes(m).map((c) => [c.old, c.n, c.reason]), [[2, 3, 'manual']], 'the reload did not reset the count to min');
});
