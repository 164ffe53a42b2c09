// Listeners, pidfile, process titles and start-up failures, against real processes.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync, mkdtempSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Master, canConnect, fixture, freePort, isAlive, request, waitFor, worldReadableCopy } from './helpers.mjs';

const tmp = mkdtempSync(join(tmpdir(), 'arbiter-test-'));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

const base = (bind, extra = {}) => ({ bind, workerClass: 'async', workers: 1, timeout: 5000, gracefulTimeout: 5000, ...extra });

/** A bound (not listening, so never accepting) socket in this process, to hand down as an fd. */
function boundHandle(port) {
  const handle = net._createServerHandle('127.0.0.1', port, 4);
  assert.equal(typeof handle, 'object');
  return handle;
}

test('bad configs exit 1 naming the option and the value, leaving nothing behind', async (t) => {
  const port = await freePort();
  for (const [config, pattern] of [
    [{ bind: `127.0.0.1:${port}`, workers: -1 }, /Expected `workers` to be a positive integer or "auto", got -1 \(number\)/],
    [{ bind: 'nowhere' }, /Expected `bind` to be an address.*got "nowhere"/],
    [{ bind: `127.0.0.1:${port}`, wrokers: 2 }, /Unknown option `wrokers`/],
  ]) {
    const m = Master.start(t, 'app.mjs', config);
    const { code } = await m.exited;
    assert.equal(code, 1);
    assert.match(m.stderr, pattern);
    assert.equal(m.all('spawn').length, 0);
  }
  assert.equal(await canConnect(port), false);
});

test('address in use: retries like gunicorn, then exits 1 with a clear error', async (t) => {
  const blocker = net.createServer();
  await new Promise((r) => blocker.listen(0, '127.0.0.1', r));
  t.after(() => blocker.close());
  const { port } = blocker.address();
  const started = Date.now();
  const m = Master.start(t, 'app.mjs', base(`127.0.0.1:${port}`));
  const { code } = await m.exited;
  assert.equal(code, 1);
  assert.equal((m.stderr.match(/Connection in use: 127\.0\.0\.1:\d+/g) ?? []).length, 5);
  assert.match(m.stderr, /Can't connect to 127\.0\.0\.1:\d+/);
  assert.match(m.stderr, /address already in use after 5 tries \(EADDRINUSE\)/);
  assert.ok(Date.now() - started >= 3500, 'waited between tries');
  assert.equal(m.all('spawn').length, 0);
});

test('a port below 1024 without the right to bind it (as root: run as nobody): exit 1, EACCES names CAP_NET_BIND_SERVICE, root with `user`, socket activation', async (t) => {
  // Ports below net.ipv4.ip_unprivileged_port_start (1024 by default) need the privilege.
  const unprivileged = Number(readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8'));
  if (unprivileged <= 1) return t.skip(`every port may be bound by anyone here (net.ipv4.ip_unprivileged_port_start = ${unprivileged})`);
  const port = Math.min(unprivileged, 1024) - 1;
  // Root may bind it: as root, the master runs as nobody, from a copy nobody can read.
  let options = {};
  if (process.getuid() === 0) {
    const copy = worldReadableCopy(t, ['app.mjs']);
    if (typeof copy === 'string') return t.skip(copy);
    options = { command: process.execPath, args: [copy.fixture('app.mjs')], uid: 65534 };
  }
  const m = Master.start(t, 'app.mjs', base(`127.0.0.1:${port}`), options);
  const { code } = await m.exited;
  assert.equal(code, 1, m.stderr);
  const error =
    `Cannot bind 127.0.0.1:${port}: only root or a process with the CAP_NET_BIND_SERVICE capability may bind a port below 1024: ` +
    'start the master as root with `user` set (-u; the workers run as that user), ' +
    `give node the capability (setcap cap_net_bind_service=+ep ${process.execPath}, or AmbientCapabilities=CAP_NET_BIND_SERVICE in the systemd unit), ` +
    'or let systemd bind the port (socket activation, see docs/deploy.md) (EACCES)\n';
  assert.ok(m.stderr.includes(error), m.stderr);
  assert.equal((m.stderr.match(/Cannot bind/g) ?? []).length, 1, 'not retried: waiting does not grant the right');
  assert.equal(m.all('spawn').length, 0);
});

test('the master listens before any worker exists, and never accepts itself', async (t) => {
  const port = await freePort();
  // A worker that takes a while to load: connections made meanwhile queue in the backlog.
  const m = Master.start(t, 'app.mjs', base(`127.0.0.1:${port}`, { workers: 1 }), { env: { FIXTURE_LOAD_DELAY: '800' } });
  await m.waitForEvents('ready');
  // The TCP handshake completes against the master's backlog before any worker is ready...
  const socket = net.connect(port, '127.0.0.1');
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  assert.equal(m.readyWorkers().length, 0, 'no worker is ready yet');
  // ...and the request sent on it is answered by the worker once it has booted.
  socket.end('GET /pid HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  let raw = '';
  for await (const chunk of socket) raw += chunk;
  const pid = Number(raw.split('\r\n\r\n')[1]);
  assert.match(raw, /^HTTP\/1\.1 200/);
  assert.notEqual(pid, m.pid);
  // the answer can overtake the master's worker_ready line on its stdout
  await waitFor(() => m.readyWorkers().includes(pid), `worker ${pid} to be the one that reported ready`);
});

test('unix socket: stale file removed first, served, removed on exit', async (t) => {
  const path = join(tmp, 'app.sock');
  // Leave a stale socket file behind: a process that listened there and was SIGKILLed.
  const stale = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => console.log('up'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((r) => stale.stdout.once('data', r));
  stale.kill('SIGKILL');
  await new Promise((r) => stale.once('exit', r));
  assert.ok(existsSync(path), 'stale socket file exists');

  const m = Master.start(t, 'app.mjs', base(`unix:${path}`, { workers: 2 }));
  const [addr] = await m.ready(2);
  assert.equal(addr, `unix:${path}`);
  assert.equal((await request(path, '/')).body, 'ok');
  m.signal('SIGTERM');
  assert.equal((await m.exited).code, 0);
  assert.ok(!existsSync(path), 'socket file removed on exit');
});

test('fd://N binds an inherited socket', async (t) => {
  const port = await freePort();
  const handle = boundHandle(port);
  t.after(() => handle.close());
  const m = Master.start(t, 'app.mjs', base('fd://3', { workers: 2 }), { stdio: [handle.fd] });
  const [addr] = await m.ready(2);
  assert.equal(addr, `http://127.0.0.1:${port}`);
  assert.equal((await request(port, '/')).body, 'ok');
});

test('systemd socket activation (LISTEN_FDS / LISTEN_PID) replaces bind', async (t) => {
  const port = await freePort();
  const handle = boundHandle(port);
  t.after(() => handle.close());
  const m = Master.start(t, null, base('127.0.0.1:1', { workers: 1 }), {
    command: '/bin/sh',
    args: ['-c', `LISTEN_PID=$$ LISTEN_FDS=1 exec "${process.execPath}" "${fixture('app.mjs')}"`],
    stdio: [handle.fd],
  });
  const [addr] = await m.ready(1);
  assert.equal(addr, `http://127.0.0.1:${port}`);
  assert.equal((await request(port, '/')).body, 'ok');
});

test('pidfile: written atomically with the master pid, refused while held, removed on exit', async (t) => {
  const port = await freePort();
  const pidfile = join(tmp, 'arbiter.pid');
  const m = Master.start(t, 'app.mjs', base(`127.0.0.1:${port}`, { pidfile }));
  await m.ready(1);
  assert.equal(readFileSync(pidfile, 'utf8').trim(), String(m.pid));

  const second = Master.start(t, 'app.mjs', base(`127.0.0.1:${await freePort()}`, { pidfile }));
  assert.equal((await second.exited).code, 1);
  assert.match(second.stderr, new RegExp(`Already running on PID ${m.pid}`));
  assert.equal(second.all('spawn').length, 0);
  assert.equal(readFileSync(pidfile, 'utf8').trim(), String(m.pid), 'the second master left the file alone');

  m.signal('SIGTERM');
  assert.equal((await m.exited).code, 0);
  assert.ok(!existsSync(pidfile));

  // A stale pidfile (dead pid) is taken over.
  writeFileSync(pidfile, '999999\n');
  const third = Master.start(t, 'app.mjs', base(`127.0.0.1:${port}`, { pidfile }));
  await third.ready(1);
  assert.equal(readFileSync(pidfile, 'utf8').trim(), String(third.pid));
});

test('procName sets the master and worker process titles', async (t) => {
  const port = await freePort();
  const m = Master.start(t, 'app.mjs', base(`127.0.0.1:${port}`, { procName: 'shop', workers: 2 }));
  await m.ready(2);
  const title = (pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0+$/, '').replaceAll('\0', ' ');
  await waitFor(() => title(m.pid).startsWith('arbiter: master [shop]'), `master title, got ${title(m.pid)}`);
  for (const pid of m.readyWorkers()) assert.ok(title(pid).startsWith('arbiter: worker [shop]'), title(pid));
  assert.ok(isAlive(m.pid));
});
