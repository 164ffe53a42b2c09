// Operator actions under load: nothing that promises not to drop a request may drop one.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Master, freePort, loadGenerator, tally, waitFor } from './helpers.mjs';

const base = (port, extra = {}) => ({ bind: `127.0.0.1:${port}`, workerClass: 'async', timeout: 10_000, gracefulTimeout: 10_000, ...extra });

for (const keepAlive of [true, false]) {
  test(`TERM under load (${keepAlive ? 'keep-alive' : 'new connection per request'}) completes every request that started before it`, async (t) => {
    const port = await freePort();
    const m = Master.start(t, 'app.mjs', base(port, { workers: 2 }));
    await m.ready(2);
    const load = loadGenerator(port, { clients: 32, keepAlive, path: '/' });
    t.after(() => load.stop());
    await load.progress(500);
    const termAt = Date.now();
    m.signal('SIGTERM');
    assert.equal((await m.exited).code, 0);
    const results = await load.stop();
    const before = results.filter((r) => r.start < termAt);
    const failedBefore = before.filter((r) => !r.ok);
    assert.deepEqual(tally(failedBefore.map((r) => r.error)), {}, `${failedBefore.length} of ${before.length} requests started before TERM failed`);
    const after = results.filter((r) => r.start >= termAt && !r.ok);
    assert.ok(after.every((r) => r.error === 'ECONNREFUSED'), `after TERM only refusals: ${JSON.stringify(tally(after.map((r) => r.error)))}`);
  });
}

test('TTIN x3 / TTOU x3 under load drop nothing', async (t) => {
  const port = await freePort();
  const m = Master.start(t, 'app.mjs', base(port, { workers: 2 }));
  await m.ready(2);
  const load = loadGenerator(port, { clients: 6, path: '/' });
  t.after(() => load.stop());
  await load.progress(200);
  for (let i = 0; i < 3; i++) {
    m.signal('SIGTTIN');
    await waitFor(() => m.readyWorkers().length === 3 + i, `${3 + i} workers`);
    await load.progress(100);
  }
  for (let i = 0; i < 3; i++) {
    m.signal('SIGTTOU');
    await m.waitForEvents('worker_exit', i + 1);
    await load.progress(100);
  }
  const results = await load.stop();
  assert.deepEqual(tally(results.filter((r) => !r.ok).map((r) => r.error)), {});
  assert.ok(results.length >= 800);
  assert.deepEqual(m.all('worker_exit').map((e) => e.args[1].reason), ['scale_down', 'scale_down', 'scale_down']);
  await waitFor(() => m.workers().length === 2, 'back to 2 workers');
});

test('maxRequests recycling under load keeps serving', async (t) => {
  const port = await freePort();
  const m = Master.start(t, 'app.mjs', base(port, { workers: 2, maxRequests: 300, maxRequestsJitter: 50 }));
  await m.ready(2);
  const load = loadGenerator(port, { clients: 6, path: '/', keepAlive: false });
  t.after(() => load.stop());
  await m.waitForEvents('worker_exit', 3, (_w, e) => e.reason === 'max_requests', 60_000);
  const results = await load.stop();
  assert.deepEqual(tally(results.filter((r) => !r.ok).map((r) => r.error)), {});
});
