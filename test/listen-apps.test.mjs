// Apps that call listen() themselves run unchanged under the `arbiter` command (SPEC §11): the
// master binds what the app asks for once, the workers accept from it directly, and everything
// that works for an exported handler works for them (reload with rollback, USR2, drain, timeouts,
// spares, balance, request counts).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { controlRequest } from 'arbiter';
import { BIN, cli } from './cli-helpers.mjs';
import { canConnect, fixture, freePort, held, isAlive, Master, request, waitFor } from './helpers.mjs';

const app = (name) => fixture(`listen/${name}`);

/** A fresh directory, removed after the test. */
function tempDir(t, prefix = 'arbiter-listen-') {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Starts `arbiter <args>`; `m.until(n)` waits for n ready workers (through the control socket), `m.status()` is `arbiter status --json`. */
function serve(t, args, env = {}) {
  const runtime = tempDir(t, 'arbiter-xdg-');
  const m = Master.start(t, null, {}, { command: process.execPath, args: [BIN, ...args], env: { XDG_RUNTIME_DIR: runtime, ...env } });
  m.socket = join(runtime, 'arbiter', `${m.pid}.sock`);
  m.status = () => controlRequest(m.socket, 'status', {}).catch(() => undefined);
  m.until = (n, what = `${n} ready workers`) =>
    waitFor(async () => {
      const info = await controlRequest(m.socket, 'info', {}).catch(() => undefined);
      return info && info.ready === n && info.workers === n ? info : undefined;
    }, () => `${what}\n${m.stdout}\n${m.stderr}`, 30_000, 50);
  return m;
}

/** Pids of the live processes of a master (itself and its workers). */
const tree = (m) => [m.pid, ...m.workers()];

/** Stops the master gracefully: exit 0, every process gone, the ports free. */
async function stopCleanly(m, ports = []) {
  const pids = tree(m);
  m.signal('SIGTERM');
  const { code } = await m.exited;
  assert.equal(code, 0, m.stderr);
  await waitFor(() => pids.every((p) => !isAlive(p)), 'every process gone');
  for (const port of ports) assert.equal(await canConnect(port), false, `port ${port} is free again`);
}

/** Sends one line over TCP (or a unix socket); resolves with the answer. */
function echo(where, line) {
  return new Promise((resolve, reject) => {
    const s = typeof where === 'number' ? net.connect(where, '127.0.0.1') : net.connect(where);
    let out = '';
    s.setEncoding('utf8');
    s.on('data', (d) => (out += d));
    s.on('end', () => resolve(out));
    s.on('error', reject);
    s.write(`${line}\n`);
  });
}

for (const [file, body] of [
  ['http.mjs', /^v1 \d+\n$/],
  ['express.cjs', /^express \d+$/],
  ['fastify.mjs', /^\{"fastify":\d+\}$/],
  ['koa.mjs', /^koa \d+$/],
  ['hono.mjs', /^hono \d+$/],
]) {
  test(`${file} calls listen() itself and runs unchanged: served by 2 workers, counted in status, stopped cleanly`, async (t) => {
    const port = await freePort();
    const m = serve(t, ['-w', '2', app(file)], { APP_PORT: String(port) });
    await m.until(2);
    const workers = m.workers();
    const res = await request(port, '/');
    assert.equal(res.status, 200, res.body);
    assert.match(res.body, body);
    assert.ok(workers.includes(Number(/(\d+)\D*$/.exec(res.body)[1])), 'a worker answered, not the master');
    for (let i = 0; i < 9; i++) assert.equal((await request(port, '/')).status, 200);
    const status = await waitFor(async () => {
      const s = await m.status();
      return s && s.workers.reduce((n, w) => n + w.requests, 0) >= 10 ? s : undefined;
    }, 'the 10 requests counted in status');
    assert.deepEqual(status.binds, [`http://127.0.0.1:${port}`]);
    assert.match(m.stderr, new RegExp(`Listening at: http://127\\.0\\.0\\.1:${port} \\(${m.pid}\\)`));
    assert.doesNotMatch(m.stderr, /WARNING|ERROR/);
    await stopCleanly(m, [port]);
  });
}

test('an app that exports nothing and listens once a file read is over (no timer, no socket before it): served', async (t) => {
  const port = await freePort();
  const m = serve(t, ['-w', '1', app('read-then-listen.mjs')], { APP_PORT: String(port) });
  await m.until(1);
  assert.match((await request(port, '/')).body, /^read \d+ null\n$/);
  await stopCleanly(m, [port]);
});

test('a NestJS-style app (nothing exported, listens after an async bootstrap, two servers): ready once both listen', async (t) => {
  const [port, admin] = [await freePort(), await freePort()];
  const m = serve(t, ['-w', '2', app('nest-style.mjs')], { APP_PORT: String(port), ADMIN_PORT: String(admin) });
  await m.until(2);
  // ready means listening: both servers answer at once
  assert.match((await request(port, '/')).body, /^api \d+\n$/);
  assert.match((await request(admin, '/')).body, /^admin \d+\n$/);
  assert.deepEqual((await m.status()).binds.sort(), [`http://127.0.0.1:${port}`, `http://127.0.0.1:${admin}`].sort());
  await stopCleanly(m, [port, admin]);
});

test('a net server on a port and on a unix socket path: the master binds both, removes the socket file at the end', async (t) => {
  const port = await freePort();
  const m = serve(t, ['-w', '2', app('net.mjs')], { APP_PORT: String(port) });
  await m.until(2);
  assert.match(await echo(port, 'hi'), /^echo hi from \d+\n$/);
  assert.match(m.stderr, new RegExp(`Listening at: http://127\\.0\\.0\\.1:${port}`));
  await stopCleanly(m, [port]);

  const path = join(tempDir(t), 'app.sock');
  const u = serve(t, ['-w', '2', app('net.mjs')], { APP_PATH: path });
  await u.until(2);
  assert.match(await echo(path, 'there'), /^echo there from \d+\n$/);
  assert.deepEqual((await u.status()).binds, [`unix:${path}`]);
  await stopCleanly(u);
  assert.throws(() => readFileSync(path), /ENOENT/, 'the socket file is gone');
});

test('listen(0): every worker gets the same port, as with cluster', async (t) => {
  const m = serve(t, ['-w', '3', app('http.mjs')], { APP_PORT: '0' });
  await m.until(3);
  const ports = [...m.stdout.matchAll(/^LISTENING \d+ (.*)$/gm)].map((x) => JSON.parse(x[1]).port);
  assert.equal(ports.length, 3, m.stdout);
  assert.equal(new Set(ports).size, 1, `one port for all: ${ports}`);
  assert.ok(ports[0] > 0);
  assert.equal((await request(ports[0], '/')).status, 200);
  await stopCleanly(m, [ports[0]]);
});

test('reload: new code on the same socket, and broken code rolls back while the old workers serve', async (t) => {
  const port = await freePort();
  const versionFile = join(tempDir(t), 'version');
  writeFileSync(versionFile, 'v1');
  const m = serve(t, ['-w', '2', app('http.mjs')], { APP_PORT: String(port), VERSION_FILE: versionFile });
  await m.until(2);
  const first = m.workers();
  assert.match((await request(port, '/')).body, /^v1 /);

  writeFileSync(versionFile, 'v2');
  m.signal('SIGHUP');
  await m.waitForLog(/Reload complete: generation \d+ is ready/);
  await waitFor(() => first.every((p) => !isAlive(p)), 'the first generation gone');
  for (let i = 0; i < 4; i++) assert.match((await request(port, '/')).body, /^v2 /);
  const second = m.workers();

  writeFileSync(versionFile, 'broken');
  m.signal('SIGHUP');
  await m.waitForLog(/Reload failed: .*Keeping the 2 workers of the previous generation/);
  assert.match(m.stderr, /broken code at boot/, 'the reason is logged');
  for (let i = 0; i < 4; i++) assert.match((await request(port, '/')).body, /^v2 /, 'the old workers serve on');
  // the broken generation's second worker may still be on its way out
  await waitFor(() => m.workers().sort().join() === second.sort().join(), () => `only the previous generation left: ${m.workers()} vs ${second}`);
  await stopCleanly(m, [port]);
});

test('graceful stop drains a request in flight; a hung request gets WORKER TIMEOUT with the app frame and a replacement', async (t) => {
  const port = await freePort();
  const m = serve(t, ['-w', '1', '-t', '1', app('http.mjs')], { APP_PORT: String(port) });
  await m.until(1);
  const hung = request(port, '/block').catch((err) => err);
  const pid = await m.started('/block');
  await m.waitForLog(new RegExp(`WORKER TIMEOUT \\(pid:${pid}\\)[\\s\\S]*listen/http\\.mjs`));
  assert.ok((await hung) instanceof Error, 'the hung request was cut');
  await waitFor(() => m.workers().length === 1 && !m.workers().includes(pid), 'a replacement');
  await m.until(1);

  const slow = request(port, '/slow?ms=1500');
  await m.started('/slow');
  const pids = tree(m);
  m.signal('SIGTERM');
  const res = await slow;
  assert.equal(res.status, 200);
  assert.match(res.body, /^slow done/);
  assert.equal((await m.exited).code, 0);
  await waitFor(() => pids.every((p) => !isAlive(p)), 'every process gone');
});

test('-b decides the address: the app’s listen() is served on the one bind given, or on the bind with its port', async (t) => {
  const [bind, asked] = [await freePort(), await freePort()];
  const m = serve(t, ['-w', '1', '-b', `127.0.0.1:${bind}`, app('http.mjs')], { APP_PORT: String(asked) });
  await m.until(1);
  assert.match((await request(bind, '/')).body, /^v1 /);
  assert.equal(await canConnect(asked), false, 'the port the app named is not bound');
  assert.deepEqual((await m.status()).binds, [`http://127.0.0.1:${bind}`]);
  await stopCleanly(m, [bind]);

  const other = await freePort();
  const same = serve(t, ['-w', '1', '-b', `127.0.0.1:${other}`, '-b', `127.0.0.1:${bind}`, app('http.mjs')], { APP_PORT: String(bind) });
  await same.until(1);
  assert.match((await request(bind, '/')).body, /^v1 /);
  await stopCleanly(same, [bind, other]);
});

test('USR2: the new master inherits the sockets the app asked for and serves them after the old one stops', async (t) => {
  const port = await freePort();
  const m = serve(t, ['-w', '1', app('http.mjs')], { APP_PORT: String(port) });
  await m.until(1);
  const oldWorkers = m.workers();
  m.signal('SIGUSR2');
  const child = await m.newMaster();
  await waitFor(() => m.workers().length === 2, 'the new master with its worker'); // old worker + new master
  await waitFor(async () => {
    const { body } = await request(port, '/');
    return !oldWorkers.includes(Number(/\d+$/.exec(body.trim())[0]));
  }, 'a request answered by the new generation');
  m.signal('SIGTERM');
  assert.equal((await m.exited).code, 0);
  for (let i = 0; i < 4; i++) assert.equal((await request(port, '/')).status, 200, 'the new master serves the same socket');
  process.kill(child, 'SIGTERM');
  await waitFor(() => !isAlive(child), 'the new master stopped');
  await waitFor(async () => !(await canConnect(port)), 'the port freed');
});

test('spares and max-requests work for such apps: a killed worker is replaced by its spare, a recycled one by a new one', async (t) => {
  const port = await freePort();
  const m = serve(t, ['-w', '1', '--spare-workers', '1', '--max-requests', '6', app('http.mjs')], { APP_PORT: String(port) });
  const states = async () => (await m.status())?.workers.map((w) => w.state).sort().join(',');
  await waitFor(async () => (await states()) === 'ready,spare', () => `a ready worker and a warm spare\n${m.stderr}`, 30_000);
  const spare = (await m.status()).workers.find((w) => w.state === 'spare').pid;
  const [worker] = (await m.status()).workers.filter((w) => w.state === 'ready').map((w) => w.pid);
  process.kill(worker, 'SIGKILL');
  await m.waitForLog(new RegExp(`Spare worker \\(pid:${spare}\\) takes over slot 0`));
  const res = await waitFor(() => request(port, '/').catch(() => undefined), 'an answer');
  assert.equal(res.body, `v1 ${spare}\n`, 'the spare serves');
  const results = [];
  for (let i = 0; i < 12; i++) results.push((await request(port, '/')).status);
  assert.deepEqual(new Set(results), new Set([200]), 'no failed request across the recycling');
  await m.waitForLog(/Autorestarting worker after current request/);
  await stopCleanly(m, [port]);
});

test('fair share: a burst of connections spreads over the workers of such an app', async (t) => {
  const port = await freePort();
  const m = serve(t, ['-w', '2', app('http.mjs')], { APP_PORT: String(port) });
  await m.until(2);
  const sockets = Array.from({ length: 20 }, () => net.connect(port, '127.0.0.1'));
  t.after(() => sockets.forEach((s) => s.destroy()));
  await Promise.all(sockets.map((s) => new Promise((r) => s.once('connect', r))));
  const [a, b] = m.workers();
  await waitFor(() => held(a, port) + held(b, port) === 20, 'all 20 accepted');
  assert.ok(held(a, port) >= 5 && held(b, port) >= 5, `spread: ${held(a, port)} / ${held(b, port)}`);
  sockets.forEach((s) => s.destroy());
  await stopCleanly(m, [port]);
});

test('--check-config says where the app would listen and binds nothing', async (t) => {
  const port = await freePort();
  const r = await cli(['--check-config', app('http.mjs')], { env: { APP_PORT: String(port) } });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), `arbiter: config OK, ${app('http.mjs')} listens itself on 127.0.0.1:${port}`);
  assert.equal(await canConnect(port), false);
});

test('an address the app asks for that is taken: the master retries as gunicorn, the app gets EADDRINUSE and the master stops', async (t) => {
  const taken = net.createServer();
  await new Promise((r) => taken.listen(0, '127.0.0.1', r));
  t.after(() => taken.close());
  const { port } = taken.address();
  const m = serve(t, ['-w', '1', app('http.mjs')], { APP_PORT: String(port) });
  const { code } = await m.exited;
  assert.equal(code, 3, m.stderr);
  assert.match(m.stderr, new RegExp(`Connection in use: 127\\.0\\.0\\.1:${port}`));
  assert.match(m.stderr, /EADDRINUSE/);
  assert.match(m.stderr, /Worker failed to boot/);
});

test('a module that neither exports an app nor listens fails at once with what to do (exit 4)', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'nothing.mjs'), 'const app = 1;\n');
  const m = serve(t, ['-w', '1', '-b', `127.0.0.1:${await freePort()}`, join(dir, 'nothing.mjs')]);
  const started = Date.now();
  assert.equal((await m.exited).code, 4, m.stderr);
  assert.ok(Date.now() - started < 15_000, 'no wait for bootTimeout');
  assert.match(m.stderr, /exports nothing: add `export default app` .*; nor did it call listen\(\)/);
});

test('threaded: an app that calls listen() itself gets the reason and what to use instead', async (t) => {
  const m = serve(t, ['-w', '1', '-k', 'threaded', '--threads', '2', app('http.mjs')], { APP_PORT: String(await freePort()) });
  assert.notEqual((await m.exited).code, 0);
  assert.match(m.stderr, /threaded worker class cannot serve: use -k async/);
});

test('no -b and an exported handler: the master binds the default address when the first worker asks (async and threaded)', { skip: false }, async (t) => {
  for (const model of ['async', 'threaded']) {
    if (await canConnect(8000)) return t.skip('127.0.0.1:8000 is in use on this machine');
    const m = serve(t, ['-w', '2', '-k', model, '--threads', '2', fixture('cli/app.mjs')]);
    await m.until(2);
    assert.equal((await request(8000, '/')).body, 'hello v1', model);
    assert.deepEqual((await m.status()).binds, ['http://127.0.0.1:8000']);
    await stopCleanly(m, [8000]);
  }
});

