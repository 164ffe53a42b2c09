// Worker-side hooks that return promises are awaited (bounded by gracefulTimeout).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Master, freePort, waitFor } from './helpers.mjs';

test('an async workerExit finishes its ~300 ms job before the worker exits', async (t) => {
  const port = await freePort();
  const m = Master.start(t, 'async-hooks.mjs', { bind: `127.0.0.1:${port}`, workers: 1, gracefulTimeout: 5000 }, { env: { FIXTURE_EXIT: 'slow' } });
  const [pid] = await m.ready(1).then(() => m.readyWorkers());
  m.signal('SIGTERM');
  const { code } = await m.exited;
  assert.equal(code, 0, m.stderr);
  assert.match(m.stdout, new RegExp(`^EXIT-START ${pid}$[\\s\\S]*^EXIT-DONE ${pid}$`, 'm'), m.stdout);
  const [exit] = m.all('worker_exit');
  assert.deepEqual([exit.args[1].code, exit.args[1].signal, exit.args[1].reason], [0, null, 'shutdown']);
  assert.doesNotMatch(m.stderr, /cut off/);
});

test('a workerExit that never settles is cut off before gracefulTimeout, with a log line, and the worker exits by itself', async (t) => {
  const port = await freePort();
  const gracefulTimeout = 1500;
  const m = Master.start(t, 'async-hooks.mjs', { bind: `127.0.0.1:${port}`, workers: 1, gracefulTimeout }, { env: { FIXTURE_EXIT: 'never' } });
  await m.ready(1);
  const [pid] = m.readyWorkers();
  const t0 = Date.now();
  m.signal('SIGTERM');
  const { code } = await m.exited;
  const took = Date.now() - t0;
  assert.equal(code, 0, m.stderr);
  assert.match(m.stdout, new RegExp(`^EXIT-START ${pid}$`, 'm'));
  assert.match(m.stderr, new RegExp(`\\[${pid}\\] \\[WARNING\\] workerExit hook cut off: still running when this worker had to exit \\(gracefulTimeout 1500 ms\\) \\(pid: ${pid}\\)`));
  const [exit] = m.all('worker_exit');
  assert.deepEqual([exit.args[1].code, exit.args[1].signal], [0, null], 'it exited by itself, before the SIGKILL');
  assert.ok(took >= gracefulTimeout - 400, `the hook got most of gracefulTimeout (stop took ${took} ms)`);
  assert.ok(took < gracefulTimeout + 3000, `and not much more (stop took ${took} ms)`);
});

for (const [workerClass, extra] of [['async', { workers: 2 }], ['threaded', { workers: 1, threads: 2 }]]) {
  test(`${workerClass}: USR1 to the master emits reopen_logs and runs onReopenLogs once per worker${workerClass === 'threaded' ? ' thread' : ''}, over IPC`, async (t) => {
    const port = await freePort();
    const m = Master.start(t, 'hooks.mjs', { bind: `127.0.0.1:${port}`, workerClass, ...extra });
    await m.ready(extra.workers);
    const reopened = () => [...m.stdout.matchAll(/^HOOK (.*)$/gm)].map((x) => JSON.parse(x[1])).filter((h) => h.name === 'onReopenLogs');
    const perUsr1 = workerClass === 'threaded' ? extra.threads : extra.workers;
    for (const round of [1, 2]) {
      m.signal('SIGUSR1');
      await m.waitForEvents('reopen_logs', round);
      await waitFor(() => reopened().length >= perUsr1 * round, `onReopenLogs x ${perUsr1 * round}\n${m.stdout}`);
    }
    await m.waitForLog(/Handling signal: usr1[\s\S]*Handling signal: usr1/);
    const hooks = reopened();
    const where = (h) => `${h.pid}/${h.threadId}`;
    const count = {};
    for (const h of hooks) count[where(h)] = (count[where(h)] ?? 0) + 1;
    assert.equal(Object.keys(count).length, perUsr1, `one place per ${workerClass === 'threaded' ? 'thread' : 'worker'}: ${JSON.stringify(count)}`);
    assert.deepEqual(Object.values(count), Array(perUsr1).fill(2), 'exactly once per USR1 in each');
    assert.ok(hooks.every((h) => h.isWorker && m.readyWorkers().includes(h.pid)));
    assert.equal((m.stderr.match(/Worker reopening logs\./g) ?? []).length, 2 * extra.workers, 'each worker process logs it once per USR1 (no signal to the workers as well)');
    assert.equal(m.all('reopen_logs').length, 2);
  });
}
