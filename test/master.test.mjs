// Integration tests: real masters in child processes, real signals, real sockets, /proc.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Master, canConnect, childrenOf, freePort, isAlive, request, waitFor } from './helpers.mjs';

const base = (port, extra = {}) => ({ bind: `127.0.0.1:${port}`, workerClass: 'async', timeout: 5000, gracefulTimeout: 5000, ...extra });

test('N workers exist, accept directly and share the load', async (t) => {
  const port = await freePort();
  const m = Master.start(t, 'app.mjs', base(port, { workers: 3 }));
  const [addr] = await m.ready(3);
  assert.equal(addr, `http://127.0.0.1:${port}`);
  assert.deepEqual(m.workers().sort(), m.readyWorkers().sort(), 'the master has exactly its 3 workers as children');
  assert.equal(m.workers().length, 3);
  // A worker whose loop is busy cannot accept: start one blocking request at a time, each once the
  // previous one is running, and every worker ends up serving one. (Connections arriving in the
  // same instant may all land on one worker: libuv accepts greedily — see docs/worker-models.md.)
  const answers = [];
  for (let i = 1; i <= 3; i++) {
    answers.push(request(port, '/block?ms=700'));
    await m.started('/block', i);
  }
  const pids = new Set((await Promise.all(answers)).map((a) => Number(a.body.split(' ')[1])));
  assert.equal(pids.size, 3, `each worker served one, got ${[...pids]}`);
  for (const pid of pids) assert.ok(m.readyWorkers().includes(pid), `${pid} is one of the workers`);
  assert.ok(!pids.has(m.pid), 'the master never serves');
  // events carry WorkerInfo with increasing age and slots 0..2
  const spawned = m.all('spawn').map((e) => e.args[0]);
  assert.deepEqual(spawned.map((w) => w.age), [1, 2, 3]);
  assert.deepEqual(spawned.map((w) => w.slot).sort(), [0, 1, 2]);
  assert.equal(m.all('pre_fork').length, 3);
  assert.equal(m.all('pre_fork')[0].args[0].pid, 0);
});

test('a SIGKILLed worker is replaced at once, in the same slot', async (t) => {
  const port = await freePort();
  const m = Master.start(t, 'app.mjs', base(port, { workers: 2 }));
  await m.ready(2);
  const victim = m.all('spawn')[0].args[0];
  const killedAt = Date.now();
  process.kill(victim.pid, 'SIGKILL');
  const exit = await m.nextEvent('worker_exit');
  assert.equal(exit.args[0].pid, victim.pid);
  assert.deepEqual({ code: exit.args[1].code, signal: exit.args[1].signal, reason: exit.args[1].reason }, { code: null, signal: 'SIGKILL', reason: 'crash' });
  await m.waitForEvents('spawn', 3);
  const replacement = m.all('spawn')[2].args[0];
  assert.equal(replacement.slot, victim.slot);
  assert.ok(Date.now() - killedAt < 1000, 'replaced without waiting for a tick');
  await m.waitForLog(new RegExp(`Worker \\(pid:${victim.pid}\\) was sent SIGKILL! Perhaps out of memory\\?`));
  await waitFor(() => m.readyWorkers().length === 2, '2 ready workers again');
  assert.equal((await request(port, '/')).body, 'ok');
});

test('TTIN adds a worker; TTOU retires the oldest and never goes below 1', async (t) => {
  const port = await freePort();
  const m = Master.start(t, 'app.mjs', base(port, { workers: 2 }));
  await m.ready(2);
  m.signal('SIGTTIN');
  const changed = await m.nextEvent('nworkers_changed');
  assert.deepEqual(changed.args, [3, 2, 'manual']);
  await waitFor(() => m.readyWorkers().length === 3, '3 ready workers');
  await m.waitForLog(/Handling signal: ttin/);

  const oldest = m.all('spawn').map((e) => e.args[0]).sort((a, b) => a.age - b.age)[0];
  m.signal('SIGTTOU');
  const exit = await m.nextEvent('worker_exit');
  assert.equal(exit.args[0].pid, oldest.pid, 'the oldest worker retires');
  assert.equal(exit.args[1].reason, 'scale_down');
  assert.equal(exit.args[1].code, 0, 'it retires gracefully');

  m.signal('SIGTTOU');
  await m.waitForEvents('worker_exit', 2);
  m.signal('SIGTTOU'); // already at 1: ignored
  await m.waitForLog(/(Handling signal: ttou[\s\S]*){3}/);
  await waitFor(() => m.workers().length === 1, 'one worker left');
  assert.deepEqual(m.all('nworkers_changed').map((e) => e.args), [[3, 2, 'manual'], [2, 3, 'manual'], [1, 2, 'manual']]);
  assert.equal((await request(port, '/')).body, 'ok');
});

test('a worker whose event loop blocks is killed after timeout and replaced, while the other serves', async (t) => {
  const port = await freePort();
  const timeout = 1000;
  const m = Master.start(t, 'app.mjs', base(port, { workers: 2, timeout }));
  await m.ready(2);
  const blocked = request(port, '/block?ms=30000').catch((err) => err);
  const started = Date.now();
  await m.started('/block');
  // Meanwhile the other worker keeps answering.
  for (let i = 0; i < 5; i++) assert.equal((await request(port, '/')).body, 'ok');
  const [ev] = await m.waitForEvents('worker_timeout');
  const caughtAfter = Date.now() - started;
  const { stack, requests, ...detail } = ev.args[1];
  assert.deepEqual(detail, { timeout, kind: 'heartbeat' });
  assert.deepEqual(requests.map((r) => [r.method, r.path]), [['GET', '/block']], 'the request it cut');
  assert.match(stack, /^ {4}at .*fixtures\/app\.mjs:\d+:\d+/m, 'the stack of the blocked loop');
  // The watchdog counts from the loop's last beat, which on a loaded machine can come a while
  // before the request arrives: the lower bound only rules out a kill that ignores the timeout.
  assert.ok(caughtAfter >= timeout * 0.5, `not long before the timeout (${caughtAfter} ms)`);
  assert.ok(caughtAfter < timeout * 2.5, `caught promptly (${caughtAfter} ms)`);
  await m.waitForLog(new RegExp(`WORKER TIMEOUT \\(pid:${ev.args[0].pid}\\)`));
  const [exit] = await m.waitForEvents('worker_exit');
  assert.equal(exit.args[0].pid, ev.args[0].pid);
  assert.equal(exit.args[1].reason, 'timeout');
  assert.equal(exit.args[1].signal, 'SIGKILL', 'a spinning loop ignores SIGABRT, so SIGKILL follows');
  assert.ok(!isAlive(ev.args[0].pid));
  assert.ok((await blocked) instanceof Error, 'the hung request fails with its worker');
  await waitFor(() => m.readyWorkers().length === 2, 'a replacement is ready');
  assert.equal((await request(port, '/')).body, 'ok');
});

test('a slow non-blocking request is not a timeout for async workers', async (t) => {
  const port = await freePort();
  const m = Master.start(t, 'app.mjs', base(port, { workers: 1, timeout: 500 }));
  await m.ready(1);
  const res = await request(port, '/slow?ms=1500');
  assert.match(res.body, /^slow /);
  assert.equal(m.all('worker_timeout').length, 0);
});

test('TERM lets an in-flight request finish, then leaves no process and no bound port', async (t) => {
  const port = await freePort();
  const m = Master.start(t, 'app.mjs', base(port, { workers: 2 }));
  await m.ready(2);
  const pids = m.workers();
  const inflight = request(port, '/slow?ms=1000');
  await m.started('/slow');
  m.signal('SIGTERM');
  const res = await inflight;
  assert.equal(res.status, 200);
  assert.match(res.body, /^slow /);
  const { code } = await m.exited;
  assert.equal(code, 0);
  for (const pid of pids) assert.ok(!isAlive(pid), `worker ${pid} is gone`);
  assert.equal(await canConnect(port), false, 'nothing listens any more');
  await m.waitForLog(/Handling signal: term[\s\S]*Shutting down: Master/);
  assert.deepEqual(m.all('exit').map((e) => e.args[0]), [0]);
  assert.ok(m.all('worker_exit').every((e) => e.args[1].reason === 'shutdown' && e.args[1].code === 0));
});

test('INT stops at once, without waiting for in-flight requests', async (t) => {
  const port = await freePort();
  const m = Master.start(t, 'app.mjs', base(port, { workers: 2, gracefulTimeout: 20_000 }));
  await m.ready(2);
  const pids = m.workers();
  const inflight = request(port, '/slow?ms=10000').catch((err) => err);
  await m.started('/slow');
  const sent = Date.now();
  m.signal('SIGINT');
  const { code } = await m.exited;
  assert.equal(code, 0);
  assert.ok(Date.now() - sent < 3000, 'quick stop');
  assert.ok((await inflight) instanceof Error);
  for (const pid of pids) assert.ok(!isAlive(pid));
  assert.equal(await canConnect(port), false);
});

test('SIGKILL of the master leaves no orphan, not even a worker whose loop is blocked', async (t) => {
  const port = await freePort();
  const m = Master.start(t, 'app.mjs', base(port, { workers: 2, timeout: 0 }));
  await m.ready(2);
  const pids = m.workers();
  request(port, '/block?ms=60000').catch(() => {}); // one worker spins and cannot see the IPC disconnect
  await m.started('/block');
  m.signal('SIGKILL');
  await m.exited;
  await waitFor(() => pids.every((p) => !isAlive(p)), `workers ${pids} to exit after their master died`, 5000);
});

test('a throwing load() halts the master with status 4 and the error on stderr', async (t) => {
  const port = await freePort();
  const m = Master.start(t, 'app.mjs', base(port, { workers: 3 }), { env: { FIXTURE_LOAD_THROWS: '1' } });
  const { code } = await m.exited;
  assert.equal(code, 4);
  assert.match(m.stderr, /boom in load\(\)/);
  assert.match(m.stderr, /Reason: App failed to load: Error: boom in load\(\) \(\S+app\.mjs:\d+:\d+\)\./, 'the reason says what and where');
  assert.ok(m.all('spawn').length <= 3, 'no respawn loop');
  for (const pid of m.pids) assert.ok(!isAlive(pid));
  assert.equal(await canConnect(port), false);
});

test('a worker that fails before it booted halts the master with status 3', async (t) => {
  const port = await freePort();
  const m = Master.start(t, 'app.mjs', base(port, { workers: 2 }), { env: { FIXTURE_BOOT_CRASH: '1' } });
  const { code } = await m.exited;
  assert.equal(code, 3);
  assert.match(m.stderr, /this worker cannot boot/);
  assert.match(m.stderr, /Reason: Worker failed to boot\./);
  for (const pid of m.pids) assert.ok(!isAlive(pid));
});

test('maxRequests recycles workers without failing a request', async (t) => {
  const port = await freePort();
  const m = Master.start(t, 'app.mjs', base(port, { workers: 2, maxRequests: 25, maxRequestsJitter: 5 }));
  await m.ready(2);
  const { Agent } = await import('node:http');
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  t.after(() => agent.destroy());
  let ok = 0;
  const failures = [];
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      for (let i = 0; i < 60; i++) {
        try {
          const r = await request(port, '/pid', { agent });
          if (r.status === 200) ok++;
          else failures.push(r.status);
        } catch (err) {
          failures.push(err.code ?? err.message);
        }
      }
    }),
  );
  assert.deepEqual(failures, []);
  assert.equal(ok, 240);
  const recycled = await m.waitForEvents('worker_exit', 2, (_w, exit) => exit.reason === 'max_requests');
  assert.ok(recycled.every((e) => e.args[1].code === 0));
  await m.waitForLog(/Autorestarting worker after current request\./);
});

test('USR1 is handled (logs reopened) and kills nobody', async (t) => {
  const port = await freePort();
  const m = Master.start(t, 'app.mjs', base(port, { workers: 2 }));
  await m.ready(2);
  const before = m.workers().sort();
  m.signal('SIGUSR1');
  await m.waitForLog(/Handling signal: usr1/);
  await m.waitForLog(/Worker reopening logs\.[\s\S]*Worker reopening logs\./);
  assert.deepEqual(m.workers().sort(), before);
  assert.equal(m.all('worker_exit').length, 0);
});

test('HUP replaces every worker with a fresh one, without a gap', async (t) => {
  const port = await freePort();
  const m = Master.start(t, 'app.mjs', base(port, { workers: 2 }));
  await m.ready(2);
  const old = m.workers().sort();
  m.signal('SIGHUP');
  await m.waitForEvents('reload');
  await m.waitForEvents('worker_exit', 2);
  const exits = m.all('worker_exit');
  assert.deepEqual(exits.map((e) => e.args[0].pid).sort(), old);
  assert.ok(exits.every((e) => e.args[1].reason === 'reload' && e.args[1].code === 0));
  const fresh = m.readyWorkers();
  assert.equal(fresh.length, 2);
  assert.ok(fresh.every((p) => !old.includes(p)));
  assert.ok(m.all('spawn').slice(2).every((e) => e.args[0].generation === 1));
  assert.equal((await request(port, '/')).body, 'ok');
});

test('a worker that keeps crashing right after it starts is respawned with a growing delay', async (t) => {
  const port = await freePort();
  const m = Master.start(t, 'app.mjs', base(port, { workers: 1 }), { env: { FIXTURE_CRASH_AFTER_MS: '30' } });
  await m.waitForEvents('spawn', 5, () => true, 30_000);
  await m.waitForLog(/Worker in slot 0 died 2 times in a row within 5000 ms of starting: respawning in 100 ms/);
  await m.waitForLog(/died 4 times in a row within 5000 ms of starting: respawning in 400 ms/);
  await m.waitForEvents('spawn', 5);
  // The delay between a worker's exit and its replacement's spawn, on the master's clock (boot
  // times vary with the machine's load; this does not).
  const exits = m.all('worker_exit').map((e) => e.at);
  const spawns = m.all('spawn').map((e) => e.at);
  const delays = exits.slice(0, 4).map((at, i) => spawns[i + 1] - at);
  assert.ok(delays[1] >= 90 && delays[3] >= 390, `100 ms from the second crash in a row, doubling: delays ${delays}`);
  assert.ok(delays[3] - delays[0] >= 300, `the first crash is replaced at once: delays ${delays}`);
  assert.ok(m.all('worker_exit').every((e) => e.args[1].reason === 'crash'));
  assert.equal(m.all('exit').length, 0, 'a worker that booted and then crashed does not halt the master');
});
