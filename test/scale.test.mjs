// Many workers: started in waves, serving, stopping cleanly.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cpuBudget } from '../dist/esm/cpus.js';
import { Master, freePort, isAlive, request, waitFor } from './helpers.mjs';

/** What the master allows to be starting at once (spawned, not yet at run()): 2 per CPU of the cgroup's budget. */
const MAX_STARTING = Math.max(2, 2 * cpuBudget().count);

test('workers start in waves: no more than 2 per CPU are starting at once', { skip: MAX_STARTING + 2 > 64 && 'too many CPUs for a small test' }, async (t) => {
  const port = await freePort();
  const n = MAX_STARTING + 2;
  // Each worker's entry script takes 400 ms before run(): started all at once, every spawn
  // would come before any worker got there.
  const m = Master.start(t, 'app.mjs', { bind: `127.0.0.1:${port}`, workers: n, timeout: 30_000 }, { env: { FIXTURE_ENTRY_DELAY: '400' } });
  await m.ready(n);
  const firstRun = m.stdout.indexOf('\nRUN ');
  const spawns = [...m.stdout.matchAll(/^EVENT \{"name":"spawn"/gm)].map((x) => x.index);
  assert.equal(spawns.length, n);
  assert.ok(firstRun >= 0);
  assert.ok(spawns[MAX_STARTING - 1] < firstRun, `the first ${MAX_STARTING} start at once`);
  assert.ok(spawns[MAX_STARTING] > firstRun, `worker ${MAX_STARTING + 1} starts only once one has reached run()`);
});

test('spares start in waves too', { skip: MAX_STARTING + 2 > 64 && 'too many CPUs for a small test' }, async (t) => {
  const port = await freePort();
  const n = MAX_STARTING + 1;
  const m = Master.start(t, 'app.mjs', { bind: `127.0.0.1:${port}`, workers: 1, spareWorkers: n, timeout: 30_000 }, { env: { FIXTURE_ENTRY_DELAY: '400' } });
  await m.ready(1);
  await m.waitForEvents('spare_ready', n, undefined, 30_000);
  const runs = [...m.stdout.matchAll(/^RUN /gm)].map((x) => x.index);
  const spares = [...m.stdout.matchAll(/^EVENT \{"name":"spawn".*"slot":-1/gm)].map((x) => x.index);
  assert.equal(spares.length, n);
  assert.ok(spares[MAX_STARTING - 1] < runs[1], `the first ${MAX_STARTING} spares start at once (after the worker reached run())`);
  assert.ok(spares[MAX_STARTING] > runs[1], `spare ${MAX_STARTING + 1} starts only once a spare has reached run()`);
});

test('64 workers boot, serve and stop cleanly', { timeout: 240_000 }, async (t) => {
  const port = await freePort();
  const m = Master.start(t, 'app.mjs', { bind: `127.0.0.1:${port}`, workers: 64, timeout: 60_000, bootTimeout: 180_000, logLevel: 'warning' });
  await m.waitForEvents('ready');
  await waitFor(() => m.readyWorkers().length === 64, '64 ready workers', 180_000, 100);
  const pids = m.readyWorkers();
  assert.equal(new Set(pids).size, 64);
  const answers = await Promise.all(Array.from({ length: 128 }, () => request(port, '/pid').then((r) => r.body)));
  assert.ok(answers.every((b) => pids.includes(Number(b))), 'every request answered by one of the workers');
  m.signal('SIGTERM');
  const { code } = await m.exited;
  assert.equal(code, 0);
  assert.deepEqual(pids.filter(isAlive), [], 'no worker left behind');
  assert.equal(m.all('worker_exit').length, 64);
});
