// Worker models (sync, async, threaded, custom) and worker-side hooks, against real processes.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { Master, freePort, isAlive, request, waitFor } from './helpers.mjs';

const base = (port, extra = {}) => ({ bind: `127.0.0.1:${port}`, timeout: 5000, gracefulTimeout: 5000, ...extra });
const timed = async (fn) => {
  const t0 = Date.now();
  const value = await fn();
  return { value, ms: Date.now() - t0 };
};

test('sync serves one request at a time per worker; async overlaps them', async (t) => {
  const port = await freePort();
  const sync = Master.start(t, 'app.mjs', base(port, { workers: 2, workerClass: 'sync' }));
  await sync.ready(2);
  const four = (p) => Promise.all(Array.from({ length: 4 }, () => request(p, '/slow?ms=400')));
  const s = await timed(() => four(port));
  assert.ok(s.ms >= 780, `4 x 400 ms on 2 sync workers take at least two rounds (took ${s.ms} ms)`);
  const perWorker = {};
  for (const r of s.value) perWorker[r.body] = (perWorker[r.body] ?? 0) + 1;
  assert.deepEqual(Object.values(perWorker), [2, 2], `a busy sync worker accepts nothing: ${JSON.stringify(perWorker)}`);

  const port2 = await freePort();
  const async_ = Master.start(t, 'app.mjs', base(port2, { workers: 2, workerClass: 'async' }));
  await async_.ready(2);
  const a = await timed(() => four(port2));
  assert.ok(a.ms < 780, `async workers overlap them (took ${a.ms} ms)`);
});

test('a sync request longer than timeout kills its worker; the same slow request on async does not', async (t) => {
  const port = await freePort();
  const m = Master.start(t, 'app.mjs', base(port, { workers: 1, workerClass: 'sync', timeout: 800 }));
  await m.ready(1);
  const res = request(port, '/slow?ms=3000').catch((err) => err);
  const [ev] = await m.waitForEvents('worker_timeout');
  assert.equal(ev.args[1].kind, 'heartbeat');
  await m.waitForLog(/Request timeout: GET \/slow\?ms=3000 was still running after 800 ms/);
  const [exit] = await m.waitForEvents('worker_exit');
  assert.deepEqual([exit.args[1].reason, exit.args[1].code], ['timeout', 1], 'its loop was free, so SIGABRT ran workerAbort and exit 1');
  assert.ok((await res) instanceof Error);
  await waitFor(() => m.readyWorkers().length === 1, 'a replacement');

  const port2 = await freePort();
  const a = Master.start(t, 'app.mjs', base(port2, { workers: 1, workerClass: 'async', timeout: 800 }));
  await a.ready(1);
  assert.match((await request(port2, '/slow?ms=3000')).body, /^slow /);
  assert.equal(a.all('worker_timeout').length, 0);
});

test('threaded: two CPU-bound requests run in parallel in one process, on two threads', async (t) => {
  const port = await freePort();
  const m = Master.start(t, 'app.mjs', base(port, { workers: 1, workerClass: 'threaded', threads: 2 }));
  await m.ready(1);
  await m.waitForLog(/Using worker: threaded/);
  // Threads accept greedily, like processes: two connections arriving in the same instant can
  // both land on one thread. Send the second once the first is running (its thread is then
  // busy and cannot accept), which is the case this model exists for.
  const { value, ms } = await timed(async () => {
    const first = request(port, '/block?ms=600');
    await m.started('/block');
    return Promise.all([first, request(port, '/block?ms=600')]);
  });
  const who = value.map((r) => r.body.split(' '));
  assert.equal(new Set(who.map((w) => w[1])).size, 1, 'one process');
  assert.equal(Number(who[0][1]), m.readyWorkers()[0]);
  assert.equal(new Set(who.map((w) => w[2])).size, 2, 'two different threads');
  assert.ok(ms < 1100, `in parallel (took ${ms} ms for 2 x 600 ms)`);
  assert.equal(m.workers().length, 1);
});

test('threaded: a graceful stop waits for a request longer than timeout on one thread while the other thread has already finished', async (t) => {
  const port = await freePort();
  const m = Master.start(t, 'app.mjs', base(port, { workers: 1, workerClass: 'threaded', threads: 2, timeout: 1000, gracefulTimeout: 10_000 }));
  await m.ready(1);
  const slow = request(port, '/slow?ms=3000');
  await m.started('/slow');
  m.signal('SIGTERM'); // the idle thread drains at once and ends; its heartbeat slot goes quiet
  assert.equal((await slow).status, 200, 'the slow request is served');
  assert.equal((await m.exited).code, 0);
  assert.equal(m.all('worker_timeout').length, 0, `no WORKER TIMEOUT\n${m.stderr}`);
  assert.equal(m.all('worker_exit')[0].args[1].reason, 'shutdown');
});

test('threaded: TERM while one thread still loads lets the thread that already serves finish its request', async (t) => {
  const port = await freePort();
  const m = Master.start(t, 'app.mjs', base(port, { workers: 1, workerClass: 'threaded', threads: 2, gracefulTimeout: 10_000 }), { env: { FIXTURE_SLOW_THREAD: '2' } });
  await m.waitForEvents('ready');
  const slow = request(port, '/slow?ms=1500'); // queued until thread 1 accepts; thread 2 loads for 3 s
  await m.started('/slow');
  assert.equal(m.readyWorkers().length, 0, 'the worker is not ready yet');
  m.signal('SIGTERM');
  assert.equal((await slow).status, 200, 'the request thread 1 was serving is finished');
  assert.equal((await m.exited).code, 0);
});

test('threaded: a thread whose loop stalls gets its whole process recycled', async (t) => {
  const port = await freePort();
  const m = Master.start(t, 'app.mjs', base(port, { workers: 1, workerClass: 'threaded', threads: 2, timeout: 1000 }));
  await m.ready(1);
  const [pid] = m.readyWorkers();
  request(port, '/block?ms=30000').catch(() => {});
  await m.started('/block');
  const [ev] = await m.waitForEvents('worker_timeout');
  assert.equal(ev.args[0].pid, pid);
  const [exit] = await m.waitForEvents('worker_exit');
  assert.equal(exit.args[1].reason, 'timeout');
  await waitFor(() => !isAlive(pid), 'the process is gone');
  await waitFor(() => m.readyWorkers().length === 1, 'a fresh process');
  assert.equal((await request(port, '/')).body, 'ok');
});

test('threaded: a graceful stop drains every thread', async (t) => {
  const port = await freePort();
  const m = Master.start(t, 'app.mjs', base(port, { workers: 1, workerClass: 'threaded', threads: 2 }));
  await m.ready(1);
  const inflight = [request(port, '/slow?ms=800'), request(port, '/slow?ms=800'), request(port, '/slow?ms=800')];
  await m.started('/slow', 3);
  m.signal('SIGTERM');
  const answers = await Promise.all(inflight);
  assert.ok(answers.every((r) => r.status === 200 && r.body.startsWith('slow ')));
  assert.equal((await m.exited).code, 0);
});

test('an uncaught exception or unhandled rejection in a worker is logged with its stack and the worker replaced', async (t) => {
  const port = await freePort();
  const m = Master.start(t, 'app.mjs', base(port, { workers: 1, workerClass: 'async' }));
  await m.ready(1);
  for (const [i, [path, message]] of [['/uncaught', 'uncaught boom'], ['/rejection', 'rejected boom']].entries()) {
    const [pid] = m.readyWorkers();
    await request(port, path);
    const exit = (await m.waitForEvents('worker_exit', i + 1))[i];
    assert.equal(exit.args[0].pid, pid);
    assert.deepEqual([exit.args[1].code, exit.args[1].reason], [1, 'crash']);
    await m.waitForLog(new RegExp(`in worker \\(pid: ${pid}\\)\\nError: ${message}\\n\\s+at `));
    await waitFor(() => m.readyWorkers().length === 1 && !m.readyWorkers().includes(pid), 'a replacement');
  }
});

test('every worker-side hook fires with the right arguments', async (t) => {
  const port = await freePort();
  const m = Master.start(t, 'hooks.mjs', base(port, { workers: 1, workerClass: 'async' }));
  await m.ready(1);
  const hooks = () => [...m.stdout.matchAll(/^HOOK (.*)$/gm)].map((x) => JSON.parse(x[1]));
  const named = (name) => hooks().filter((h) => h.name === name);
  const [pid] = m.readyWorkers();
  await waitFor(() => named('postWorkerInit').length === 1, 'postWorkerInit');
  const [fork] = named('postFork');
  assert.deepEqual({ ...fork }, { name: 'postFork', pid, workerPid: pid, isWorker: true, age: 1, alive: true, hasHandler: true });
  assert.ok(hooks().findIndex((h) => h.name === 'postFork') < hooks().findIndex((h) => h.name === 'postWorkerInit'));

  assert.equal((await request(port, '/hello')).status, 200);
  assert.equal((await request(port, '/throw')).status, 500);
  await waitFor(() => named('postRequest').length === 2, 'two postRequest');
  assert.deepEqual(named('preRequest').map((h) => [h.url, h.pid]), [['/hello', pid], ['/throw', pid]]);
  assert.deepEqual(named('postRequest').map((h) => [h.url, h.status]), [['/hello', 200], ['/throw', 500]], 'postRequest runs even when the handler throws');

  process.kill(pid, 'SIGQUIT');
  await waitFor(() => named('workerInt').length === 1 && named('workerExit').length === 1, 'workerInt then workerExit');
  assert.equal(named('workerInt')[0].pid, pid);
  // The worker prints its workerExit line before the master sees it exit: until then
  // readyWorkers() still lists it. Wait for a worker other than the one signalled.
  const replacement = (gone) => waitFor(() => m.readyWorkers().find((p) => p !== gone), `a replacement for ${gone}`);
  const second = await replacement(pid);
  process.kill(second, 'SIGABRT');
  await waitFor(() => named('workerAbort').length === 1 && named('workerExit').length === 2, 'workerAbort then workerExit');
  assert.deepEqual([named('workerAbort')[0].pid, named('workerAbort')[0].age], [second, 2]);
  const third = await replacement(second);
  m.signal('SIGTERM');
  assert.equal((await m.exited).code, 0);
  const last = named('workerExit').at(-1);
  assert.deepEqual([last.pid, last.alive], [third, false], 'workerExit on a graceful stop, with alive = false');
});

test('examples/echo-worker.mjs: a custom non-HTTP WorkerClass serves and stops gracefully on TERM', async (t) => {
  const port = await freePort();
  const m = Master.start(t, null, {}, {
    command: process.execPath,
    args: [fileURLToPath(new URL('../examples/echo-worker.mjs', import.meta.url))],
    env: { ECHO_BIND: `127.0.0.1:${port}` },
  });
  await waitFor(() => m.stdout.includes('line echo server at'), `the banner\n${m.stderr}`);
  // Not HTTP: announced as tcp://, in the log and in the ready event the banner prints.
  assert.match(m.stdout, new RegExp(`line echo server at tcp://127\\.0\\.0\\.1:${port} `));
  assert.match(m.stderr, new RegExp(`Listening at: tcp://127\\.0\\.0\\.1:${port} \\(${m.pid}\\)`));
  await waitFor(() => (m.stderr.match(/Booting worker/g) ?? []).length === 2, 'two workers');
  const client = net.connect(port, '127.0.0.1');
  client.setEncoding('utf8');
  let received = '';
  client.on('data', (d) => (received += d));
  client.write('hello\nworld\n');
  await waitFor(() => received === 'HELLO\nWORLD\n', `echoed lines, got ${JSON.stringify(received)}`);
  const closed = new Promise((r) => client.once('end', r));
  m.signal('SIGTERM');
  await closed; // the worker said goodbye and closed its side
  assert.equal(received, 'HELLO\nWORLD\nbye\n');
  client.end();
  assert.equal((await m.exited).code, 0);
});

test('start-up warnings: threads with a model that ignores it; a procName longer than the command line', async (t) => {
  const port = await freePort();
  const procName = 'x'.repeat(200); // longer than `node <this fixture's path>`
  const m = Master.start(t, 'app.mjs', base(port, { workers: 1, workerClass: 'async', threads: 4, procName }));
  await m.ready(1);
  await m.waitForLog(/\[WARNING\] threads \(4\) is ignored by the async worker: only 'threaded' runs threads/);
  await m.waitForLog(new RegExp(`\\[${m.pid}\\] \\[WARNING\\] procName: the process title was cut to "arbiter: master \\[x+" \\(\\d+ characters\\): Linux keeps at most the length of the command line`));
  const cmdline = readFileSync(`/proc/${m.pid}/cmdline`, 'utf8');
  assert.ok(cmdline.startsWith('arbiter: master [xxx'), JSON.stringify(cmdline));

  const port2 = await freePort();
  const threaded = Master.start(t, 'app.mjs', base(port2, { workers: 1, workerClass: 'threaded', threads: 2, procName: 'app' }));
  await threaded.ready(1);
  assert.doesNotMatch(threaded.stderr, /WARNING/, 'threaded uses threads; a short procName fits');
});
