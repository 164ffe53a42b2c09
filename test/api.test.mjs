// The programmatic API and the remaining worker behaviours, against real processes.
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { Master, canConnect, freePort, request, waitFor, isAlive } from './helpers.mjs';

const base = (port, extra = {}) => ({ bind: `127.0.0.1:${port}`, workerClass: 'async', timeout: 5000, gracefulTimeout: 5000, ...extra });

test('reload(), scale(n), stop(), workers and numWorkers from inside the master', async (t) => {
  const port = await freePort();
  const m = Master.start(t, 'control.mjs', base(port, { workers: 1 }));
  await waitFor(() => m.stdout.includes('RESULT '), `the control script to finish\n${m.stderr}`, 20_000);
  const result = JSON.parse(m.stdout.split('RESULT ')[1]);
  assert.deepEqual(result.numWorkers, [1, 3, 1]);
  assert.equal(result.generation, 1);
  assert.deepEqual(result.info, { keys: ['age', 'bootedAt', 'generation', 'pid', 'slot', 'state'], frozen: true });
  assert.equal(result.scaleError, 'ARBITER_ERR_CONFIG');
  assert.equal(result.status, 0);
  assert.deepEqual(result.sizes, [0]);
  assert.deepEqual(result.events, [['nworkers_changed', 3, 1, 'manual'], ['reload'], ['nworkers_changed', 1, 3, 'reload'], ['exit', 0]]);
  assert.equal((await m.exited).code, 0);
  assert.equal(await canConnect(port), false);
});

test('IPv6 bind [::1]:port', async (t) => {
  const port = await freePort();
  const m = Master.start(t, 'app.mjs', { ...base(port), bind: `[::1]:${port}`, workers: 1 });
  const [addr] = await m.ready(1);
  assert.equal(addr, `http://[::1]:${port}`);
  const http = await import('node:http');
  const body = await new Promise((resolve, reject) =>
    http.get({ host: '::1', port, path: '/', agent: false }, (res) => {
      let b = '';
      res.on('data', (c) => (b += c));
      res.on('end', () => resolve(b));
    }).on('error', reject),
  );
  assert.equal(body, 'ok');
});

test('workers run with the master’s execArgv (preloads and loaders keep working)', async (t) => {
  const port = await freePort();
  const preload = fileURLToPath(new URL('./fixtures/preload.cjs', import.meta.url));
  const m = Master.start(t, null, {}, {
    command: process.execPath,
    args: ['--require', preload, fileURLToPath(new URL('./fixtures/app.mjs', import.meta.url))],
    env: { ARBITER_TEST_CONFIG: JSON.stringify(base(port, { workers: 1 })) },
  });
  await m.ready(1);
  assert.equal((await request(port, '/preloaded')).body, 'preloaded');
});

test('workerConnections caps concurrent connections per async worker', async (t) => {
  const port = await freePort();
  const m = Master.start(t, 'app.mjs', base(port, { workers: 1, workerConnections: 1 }));
  await m.ready(1);
  const started = Date.now();
  await Promise.all([request(port, '/slow?ms=400'), request(port, '/slow?ms=400')]);
  assert.ok(Date.now() - started >= 750, 'the second connection waited for the first');

  const free = Master.start(t, 'app.mjs', base(await freePort(), { workers: 1, workerConnections: 10 }));
  const [addr] = await free.ready(1);
  const freePortNo = Number(addr.split(':').pop());
  const t0 = Date.now();
  await Promise.all([request(freePortNo, '/slow?ms=400'), request(freePortNo, '/slow?ms=400')]);
  assert.ok(Date.now() - t0 < 750, 'with room, they overlap');
});

test('a handler that throws answers 500 and the worker lives on', async (t) => {
  const port = await freePort();
  const m = Master.start(t, 'app.mjs', base(port, { workers: 1 }));
  await m.ready(1);
  const res = await request(port, '/throw');
  assert.equal(res.status, 500);
  await m.waitForLog(/Error handling request GET \/throw\n.*Error: handler threw/);
  assert.equal((await request(port, '/')).body, 'ok');
  assert.equal(m.all('worker_exit').length, 0);
});

test('a worker sent SIGABRT exits 1 (not a core dump) and is replaced', async (t) => {
  const port = await freePort();
  const m = Master.start(t, 'app.mjs', base(port, { workers: 1 }));
  await m.ready(1);
  const [pid] = m.readyWorkers();
  process.kill(pid, 'SIGABRT');
  const exit = await m.nextEvent('worker_exit');
  assert.deepEqual([exit.args[1].code, exit.args[1].signal, exit.args[1].reason], [1, null, 'crash']);
  await m.waitForLog(new RegExp(`Worker \\(pid:${pid}\\) exited with code 1`));
  await waitFor(() => m.readyWorkers().length === 1, 'a replacement');
});

test('the default model is async: one worker serves two slow requests at once', async (t) => {
  const port = await freePort();
  const { workerClass, ...rest } = base(port, { workers: 1 });
  const m = Master.start(t, 'app.mjs', rest);
  await m.ready(1);
  await m.waitForLog(/Using worker: async/);
  let answered = 0;
  const both = [request(port, '/slow?ms=1500'), request(port, '/slow?ms=1500')].map((p) => p.then((r) => (answered++, r)));
  await m.started('/slow', 2); // the second request started while the first still runs
  assert.equal(answered, 0, 'neither had finished when both were running');
  for (const r of await Promise.all(both)) assert.match(r.body, /^slow /);
});

test('logger: false silences the operator log', async (t) => {
  const port = await freePort();
  const m = Master.start(t, 'app.mjs', base(port, { workers: 1, logger: false }));
  await m.ready(1);
  await request(port, '/');
  m.signal('SIGTERM');
  assert.equal((await m.exited).code, 0);
  assert.doesNotMatch(m.stderr, /\[INFO\]|Booting worker/);
});

test('TERM while still retrying the bind stops cleanly, leaving no pidfile', async (t) => {
  const net = await import('node:net');
  const { existsSync, mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const blocker = net.createServer();
  await new Promise((r) => blocker.listen(0, '127.0.0.1', r));
  t.after(() => blocker.close());
  const pidfile = join(mkdtempSync(join(tmpdir(), 'arbiter-')), 'p.pid');
  const m = Master.start(t, 'app.mjs', base(blocker.address().port, { pidfile }));
  await m.waitForLog(/Connection in use/);
  assert.ok(existsSync(pidfile));
  const sent = Date.now();
  m.signal('SIGTERM');
  const { code, signal } = await m.exited;
  assert.ok(Date.now() - sent < 1500, 'the remaining retries are abandoned');
  assert.equal(signal, null, 'not killed by the signal');
  assert.equal(code, 0);
  assert.ok(!existsSync(pidfile));
  assert.equal(m.all('spawn').length, 0);
  assert.ok(!isAlive(m.pid));
});

test('workers that exit before booting (run() not called in them) halt the master with status 3, no respawn loop', async (t) => {
  const port = await freePort();
  const m = Master.start(t, 'no-run.mjs', base(port, { workers: 2 }));
  const { code } = await m.exited;
  assert.equal(code, 3);
  assert.match(m.stderr, /exited before it booted: does the entry script call run\(\) in every process\?/);
  assert.match(m.stderr, /Reason: Worker failed to boot\./);
});

test('without an entry script (node -e) the master refuses to start', async (t) => {
  const { spawnSync } = await import('node:child_process');
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', "import { Arbiter } from 'arbiter'; process.exitCode = await new Arbiter({ load: () => () => {} }).run();"], {
    cwd: fileURLToPath(new URL('..', import.meta.url)),
    encoding: 'utf8',
    timeout: 20_000,
  });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /needs an entry script/);
});

test('host listeners behave as with emit(): once() runs once, a context is the listener\'s this, a throwing one is logged and the others still run', async (t) => {
  const port = await freePort();
  const m = Master.start(t, 'listeners.mjs', base(port, { workers: 2 }));
  await m.ready(2);
  assert.equal(m.stdout.match(/^ONCE \d+$/gm)?.length, 1, m.stdout);
  assert.deepEqual(m.stdout.match(/^CONTEXT .*$/gm), ['CONTEXT mine', 'CONTEXT mine']);
  assert.equal(m.stderr.match(/Exception in worker_ready listener/g)?.length, 2);
});

