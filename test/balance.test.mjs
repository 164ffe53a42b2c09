// How connections spread over workers that accept from one shared socket (fair-share accepting).
import assert from 'node:assert/strict';

import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Master, freePort, held, request, waitFor } from './helpers.mjs';

const base = (port, extra = {}) => ({ bind: `127.0.0.1:${port}`, timeout: 10_000, gracefulTimeout: 5000, ...extra });

/** SIGSTOPs `pid` until the returned function is called (and at the end of the test). */
function stop(t, pid) {
  process.kill(pid, 'SIGSTOP');
  const resume = () => {
    try {
      process.kill(pid, 'SIGCONT');
    } catch {
      // gone
    }
  };
  t.after(resume);
  return resume;
}

/** Opens `n` TCP connections at once; resolves once all are established (queued or accepted). */
async function burst(t, port, n) {
  const sockets = Array.from({ length: n }, () => net.connect(port, '127.0.0.1'));
  t.after(() => sockets.forEach((s) => s.destroy()));
  await Promise.all(sockets.map((s) => new Promise((resolve, reject) => s.once('connect', resolve).once('error', reject))));
  return sockets;
}

/** Polls `read` until it returns the same value three times in a row 10 ms apart. */
async function settled(read) {
  let last;
  let same = 0;
  await waitFor(() => {
    const v = JSON.stringify(read());
    same = v === last ? same + 1 : 0;
    last = v;
    return same >= 2;
  }, 'a stable count', 10_000, 10);
  return JSON.parse(last);
}

test('async: a burst of connections spreads over the workers even when one cannot accept at first', async (t) => {
  const port = await freePort();
  // DEBUG: the worker traces when it starts yielding, and the test resumes b then (a loop stops
  // yielding once the others have taken nothing for 200 ms, so b must be back before that).
  const m = Master.start(t, 'app.mjs', base(port, { workers: 2, workerClass: 'async' }), { env: { DEBUG: 'arbiter:worker' } });
  await m.ready(2);
  const [a, b] = m.readyWorkers();
  // b is stopped (as if the scheduler had not run it yet) while 20 connections arrive: a greedy
  // worker takes them all; a fair one stops near its share and leaves the rest queued for b.
  const resumeB = stop(t, b);
  await burst(t, port, 20);
  await m.waitForLog(/balance: \d+ connections > \d+: not accepting/);
  resumeB();
  const first = held(a, port);
  const [na, nb] = await settled(() => [held(a, port), held(b, port)]);
  assert.equal(na + nb, 20, `every connection accepted (${na} + ${nb})`);
  assert.ok(Math.max(na, nb) <= 15, `no worker holds more than 1.5x its fair share of 10: ${na} / ${nb} (a held ${first} while b was stopped)`);
});

test('async: a worker that cannot accept at all does not hold connections up for long', async (t) => {
  const port = await freePort();
  const m = Master.start(t, 'app.mjs', base(port, { workers: 2, workerClass: 'async' }));
  await m.ready(2);
  const [a, b] = m.readyWorkers();
  stop(t, b); // stays stopped: like a worker whose loop is blocked
  await burst(t, port, 20);
  // a yields for a moment, sees that b takes nothing, and accepts the rest.
  // ...at once, not one connection per 200 ms (20 connections would then take about 2 s).
  await waitFor(() => held(a, port) === 20, 'the other worker to accept every connection', 1500);
  const answers = await Promise.all(Array.from({ length: 10 }, () => request(port, '/pid', { timeout: 5000 })));
  assert.deepEqual(new Set(answers.map((r) => r.body)), new Set([String(a)]));
});

for (const kind of ['tcp', 'unix']) {
  test(`sync on ${kind}: a busy worker pauses accepting, so a queued connection goes to the worker that becomes free`, async (t) => {
    const port = await freePort();
    const path = join(tmpdir(), `arbiter-balance-${process.pid}-${Date.now()}.sock`);
    const target = kind === 'tcp' ? port : path;
    const m = Master.start(t, 'app.mjs', { bind: kind === 'tcp' ? `127.0.0.1:${port}` : `unix:${path}`, workers: 2, workerClass: 'sync', timeout: 10_000, gracefulTimeout: 5000 });
    await m.ready(2);
    const [a, b] = m.readyWorkers();
    const resumeB = stop(t, b);
    const first = request(target, '/slow?ms=1000');
    assert.equal(await m.started('/slow'), a);
    // a serves the first request (its loop is free: the request only waits on a timer). A worker
    // that accepted greedily would take the second connection now and hold it until it is done.
    const second = request(target, '/slow?ms=10');
    const whileBusy = await settled(() => held(a, kind === 'tcp' ? port : path));
    resumeB();
    assert.equal((await second).body, `slow ${b}`, `the second request waited for a free worker (a held ${whileBusy} connections while busy)`);
    assert.equal((await first).body, `slow ${a}`);
  });
}
