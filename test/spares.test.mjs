// Warm spares (spareWorkers): booted processes that take a slot over at once, then are replaced.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createRequire } from 'node:module';
import { Master, freePort, isAlive, request, waitFor } from './helpers.mjs';

const { pickSpare, planSpares } = createRequire(import.meta.url)('../dist/cjs/master/spares.js');

const base = (port, extra = {}) => ({ bind: `127.0.0.1:${port}`, timeout: 10_000, gracefulTimeout: 5000, ...extra });
const spareReady = (m) => m.all('spare_ready').map((e) => e.args[0]);

/** A master with one worker and one warm spare, both ready; returns their pids. */
async function withSpare(t, port, extra = {}, options = {}) {
  const m = Master.start(t, 'app.mjs', base(port, { workers: 1, spareWorkers: 1, ...extra }), options);
  await m.ready(1);
  const [spare] = await m.waitForEvents('spare_ready', 1);
  const [worker] = m.readyWorkers();
  return { m, worker, spare: spare.args[0] };
}

/** A file holding the code version the fixture serves (FIXTURE_VERSION_FILE), 'v1' for now; removed after the test. */
function versionFile(t) {
  const dir = mkdtempSync(join(tmpdir(), 'arbiter-spares-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'version');
  writeFileSync(file, 'v1');
  return file;
}

test('a spare boots behind the workers, never serves, and is not counted as a worker', async (t) => {
  const port = await freePort();
  const { m, worker, spare } = await withSpare(t, port, {}, { stdio: ['ipc'] });
  assert.deepEqual([spare.state, spare.slot], ['spare', -1]);
  assert.ok(isAlive(spare.pid));
  const spawns = m.all('spawn').map((e) => e.args[0]);
  assert.deepEqual(spawns.map((w) => w.slot), [0, -1], 'the worker first, then the spare');
  const answers = await Promise.all(Array.from({ length: 20 }, () => request(port, '/pid').then((r) => r.body)));
  assert.deepEqual(new Set(answers), new Set([String(worker)]), 'only the worker answers');
  assert.deepEqual(m.readyWorkers(), [worker]);
  const stats = await m.stats();
  assert.deepEqual(
    stats.workers.map((w) => [w.pid, w.slot, w.state]),
    [[worker, 0, 'ready'], [spare.pid, -1, 'spare']],
    'status shows the spare with its own state',
  );
  assert.deepEqual([stats.target, stats.ready], [1, 1], 'the spare is not counted');
  // The spare warmed its HTTP stack on an abstract unix socket: no warning about it, nothing left open.
  assert.doesNotMatch(m.stderr, /called listen\(\) itself/);
  assert.ok(!readFileSync('/proc/net/unix', 'utf8').includes(`@arbiter-warm-${spare.pid}`), 'the warm-up socket is closed');
});

test('a spare that is exiting when it is given a slot is a crash to replace, not a boot failure that halts the master', async (t) => {
  const port = await freePort();
  const { m, worker, spare } = await withSpare(t, port);
  // The spare is told to stop (it exits 0 a moment later) and the worker dies at once: the
  // master gives the slot to the spare before it has seen the spare go.
  process.kill(spare.pid, 'SIGTERM');
  process.kill(worker, 'SIGKILL');
  await waitFor(() => !isAlive(spare.pid), 'the spare to exit');
  await waitFor(() => m.all('worker_ready').some((e) => ![worker, spare.pid].includes(e.args[0].pid)), () => `a new worker\n${m.stderr}`);
  assert.equal(m.child.exitCode, null, 'the master runs on');
  assert.doesNotMatch(m.stderr, /failed to boot|exited before it booted/);
  assert.equal((await request(port, '/')).status, 200);
});

test('SIGKILL of the only worker: the spare takes its slot over at once and a new spare boots', async (t) => {
  const port = await freePort();
  const { m, worker, spare } = await withSpare(t, port);
  const t0 = Date.now();
  process.kill(worker, 'SIGKILL');
  const { body } = await request(port, '/pid');
  const took = Date.now() - t0;
  assert.equal(body, String(spare.pid), 'the first request after the kill is served by the spare');
  assert.ok(took < 5000, `served again within ${took} ms`);
  const [ready] = await m.waitForEvents('worker_ready', 2);
  const promoted = m.all('worker_ready').at(-1).args[0];
  assert.deepEqual([promoted.pid, promoted.slot, promoted.age], [spare.pid, 0, spare.age], 'same process, now in slot 0');
  assert.ok(ready);
  await m.waitForEvents('spare_ready', 2);
  const fresh = spareReady(m).at(-1);
  assert.notEqual(fresh.pid, spare.pid);
  assert.deepEqual([fresh.state, fresh.slot], ['spare', -1]);
  await m.waitForLog(new RegExp(`Spare worker \\(pid:${spare.pid}\\) takes over slot 0`));
});

test('a timed-out worker: the spare serves while the hung one is still being killed', async (t) => {
  const port = await freePort();
  const { m, worker, spare } = await withSpare(t, port, { timeout: 3000 });
  request(port, '/block?ms=20000').catch(() => {});
  await m.started('/block');
  const { body } = await request(port, '/pid');
  assert.equal(body, String(spare.pid));
  const [timeout] = await m.waitForEvents('worker_timeout');
  assert.equal(timeout.args[0].pid, worker);
});

test('HUP replaces the spares with fresh code, and the fresh spare is the one that takes over', async (t) => {
  const port = await freePort();
  const file = versionFile(t);
  const { m, spare } = await withSpare(t, port, {}, { env: { FIXTURE_VERSION_FILE: file } });
  writeFileSync(file, 'v2');
  m.signal('SIGHUP');
  await waitFor(() => m.all('worker_exit').some((e) => e.args[0].pid === spare.pid), 'the old spare to go');
  const gone = m.all('worker_exit').find((e) => e.args[0].pid === spare.pid);
  assert.equal(gone.args[1].reason, 'reload');
  const [fresh] = await m.waitForEvents('spare_ready', 2).then((evs) => evs.slice(1).map((e) => e.args[0]));
  assert.equal(fresh.generation, 1);
  await waitFor(() => m.readyWorkers().length === 1 && m.all('worker_exit').length >= 2, 'the old worker to retire');
  process.kill(m.readyWorkers()[0], 'SIGKILL');
  const { body } = await request(port, '/version');
  assert.equal(body, 'v2', 'the spare that took over runs the new code');
  await waitFor(() => m.readyWorkers().includes(fresh.pid), 'the fresh spare to be a ready worker');
});

test('a failed reload keeps the spare of the code that works, and it still takes a dead worker\'s slot over', async (t) => {
  const port = await freePort();
  const file = versionFile(t);
  const { m, worker, spare } = await withSpare(t, port, {}, { env: { FIXTURE_VERSION_FILE: file } });
  writeFileSync(file, 'broken');
  m.signal('SIGHUP');
  await m.waitForEvents('reload_failed');
  assert.ok(isAlive(spare.pid), 'the old spare is still there');
  assert.ok(!m.all('worker_exit').some((e) => e.args[0].pid === spare.pid));
  process.kill(worker, 'SIGKILL');
  const { body } = await request(port, '/version');
  assert.equal(body, 'v1', 'the working code answers');
  await waitFor(() => m.readyWorkers().includes(spare.pid), 'the spare to take the slot over');
  assert.ok(!m.all('spawn').some((e) => e.args[0].generation === 0 && e.args[0].pid !== worker && e.args[0].pid !== spare.pid), 'nothing spawned from the broken code');
  assert.doesNotMatch(m.stderr, /No worker left after the failed reload/, 'the spare counts as a worker left');
});

test('planSpares: keeps the count per generation, boots behind booting workers, retires old and surplus', () => {
  const rec = (pid, age, generation, state, spare = true) => ({ pid, age, generation, state, spare });
  assert.deepEqual(planSpares([rec(1, 1, 0, 'ready', false)], 2, 0), { spawn: 2, retire: [] });
  assert.deepEqual(planSpares([rec(1, 1, 0, 'booting', false)], 2, 0), { spawn: 0, retire: [] }, 'not while a worker boots');
  assert.deepEqual(planSpares([rec(1, 1, 0, 'ready', false), rec(2, 2, 0, 'booting')], 2, 0), { spawn: 1, retire: [] });
  assert.deepEqual(planSpares([rec(1, 1, 1, 'ready', false), rec(2, 2, 0, 'spare')], 1, 1), {
    spawn: 1,
    retire: [{ pid: 2, reason: 'reload' }],
  });
  assert.deepEqual(
    planSpares([rec(1, 1, 1, 'booting', false), rec(2, 2, 0, 'spare')], 1, 1),
    { spawn: 0, retire: [] },
    'old spares stay while the new generation boots (a failed reload makes theirs current again)',
  );
  assert.deepEqual(planSpares([rec(2, 2, 0, 'spare'), rec(3, 3, 0, 'spare')], 1, 0), { spawn: 0, retire: [{ pid: 3, reason: 'scale_down' }] }, 'the newest spare goes');
  assert.deepEqual(planSpares([rec(2, 2, 0, 'retiring'), rec(3, 3, 0, 'timed_out')], 1, 0).spawn, 1, 'spares on their way out do not count');
  assert.equal(pickSpare([rec(2, 2, 0, 'booting'), rec(4, 4, 0, 'spare'), rec(3, 3, 0, 'spare'), rec(5, 1, 1, 'spare')], 0)?.pid, 3, 'the oldest warm spare of the generation');
  assert.equal(pickSpare([rec(2, 2, 0, 'booting')], 0), undefined);
});
