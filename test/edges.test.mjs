// Bad input at the edges: each error names where the value came from and what to do, exits
// non-zero and leaves nothing behind (issue 22).
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Arbiter, ArbiterError } from 'arbiter';
import { APP, BIN, cli, runtimeDir } from './cli-helpers.mjs';
import { Master, canConnect, freePort, loadGenerator, request, tally, waitFor, worldReadableCopy } from './helpers.mjs';

const tmp = mkdtempSync(join(tmpdir(), 'arbiter-edges-'));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

const load = () => () => {};

function configError(config, pattern) {
  assert.throws(
    () => new Arbiter({ config, load }),
    (err) => err instanceof ArbiterError && err.code === 'ARBITER_ERR_CONFIG' && pattern.test(err.message),
  );
}

test('bind: an address listed twice (or spelled twice) is a config error naming it', () => {
  configError({ bind: ['127.0.0.1:8000', '127.0.0.1:8000'] }, /^`bind` lists "127\.0\.0\.1:8000" twice: an address can be bound once; remove the duplicate$/);
  configError({ bind: ['tcp://127.0.0.1:8000', '127.0.0.1:8000'] }, /lists "tcp:\/\/127\.0\.0\.1:8000" and "127\.0\.0\.1:8000", the same address/);
  configError({ bind: [':8000', '0.0.0.0:8000'] }, /lists ":8000" and "0\.0\.0\.0:8000", the same address/);
  configError({ bind: ['[::1]:8000', '[0:0:0:0:0:0:0:1]:8000'] }, /the same address/);
  configError({ bind: ['unix:/tmp/a.sock', 'unix:/tmp/../tmp/a.sock'] }, /lists "unix:\/tmp\/a\.sock" and "unix:\/tmp\/\.\.\/tmp\/a\.sock", the same socket path/);
  configError({ bind: ['fd://3', 'fd://3'] }, /"fd:\/\/3" twice/);
  configError({ bind: ['0.0.0.0:8000', '127.0.0.1:8000'] }, /"0\.0\.0\.0:8000" already listens on every IPv4 address on port 8000, so the other cannot listen there; keep one of them/);
  configError({ bind: ['127.0.0.1:8000', '[::]:8000'] }, /"\[::\]:8000" already listens on every address \(IPv6 and IPv4\) on port 8000/);
  configError({ bind: '127.0.0.1:8000', statusBind: '127.0.0.1:8000' }, /^`statusBind` "127\.0\.0\.1:8000" is the address of `bind` "127\.0\.0\.1:8000": the status server needs an address of its own; choose another port or path$/);
  configError({ bind: ':8000', statusBind: '127.0.0.1:8000' }, /^`statusBind` "127\.0\.0\.1:8000" overlaps `bind` ":8000" \(":8000" already listens on every IPv4 address on port 8000\): the status server needs an address of its own/);
  configError({ bind: 'unix:/tmp/a.sock', statusBind: 'unix:/tmp/./a.sock' }, /is the address of `bind` "unix:\/tmp\/a\.sock"/);
  assert.equal(new Arbiter({ config: { statusBind: '127.0.0.1:8000' }, load }).config.statusBind, '127.0.0.1:8000', 'the default bind may go unused');
  // Not duplicates: port 0 gets a port per entry; other ports and other addresses.
  for (const bind of [['127.0.0.1:0', '127.0.0.1:0'], ['127.0.0.1:8000', '127.0.0.1:8001'], ['127.0.0.1:8000', '127.0.0.2:8000', '[::1]:8000'], ['0.0.0.0:8000', '[::1]:8001']]) {
    assert.deepEqual(new Arbiter({ config: { bind }, load }).config.bind, bind);
  }
});

test('-b X -b X exits 1 naming the duplicate before binding; a duplicate unix: path leaves no socket file', async (t) => {
  const port = await freePort();
  const dir = runtimeDir(t);
  const r = await cli(['-b', `127.0.0.1:${port}`, '-b', `127.0.0.1:${port}`, APP], { env: { XDG_RUNTIME_DIR: dir } });
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`\`bind\` lists "127\\.0\\.0\\.1:${port}" twice: an address can be bound once; remove the duplicate`));
  assert.doesNotMatch(r.stderr, /EADDRINUSE|Cannot listen/);
  const path = join(tmp, 'dup.sock');
  const u = await cli(['-b', `unix:${path}`, '-b', `unix:${tmp}/./dup.sock`, APP], { env: { XDG_RUNTIME_DIR: dir } });
  assert.equal(u.code, 1);
  assert.match(u.stderr, /the same socket path: an address can be bound once; remove the duplicate/);
  assert.equal(existsSync(path), false, 'no socket file left behind');
});

test('localhost:P and 127.0.0.1:P: exit 1 naming both entries and the address they share, nothing left listening', async (t) => {
  const port = await freePort();
  const m = Master.start(t, 'app.mjs', { bind: [`localhost:${port}`, `127.0.0.1:${port}`], workers: 1 });
  assert.equal((await m.exited).code, 1);
  assert.match(m.stderr, new RegExp(`Cannot bind 127\\.0\\.0\\.1:${port}: \`bind\` lists "localhost:${port}" and "127\\.0\\.0\\.1:${port}", which both bind http://127\\.0\\.0\\.1:${port}: an address can be bound once; remove one of them \\(EADDRINUSE\\)`));
  assert.equal(m.all('spawn').length, 0);
  assert.equal(await canConnect(port), false);
  // A wildcard and a host name: both bind (neither listens yet); the second cannot listen.
  const w = Master.start(t, 'app.mjs', { bind: [`0.0.0.0:${port}`, `localhost:${port}`], workers: 1 });
  assert.equal((await w.exited).code, 1);
  assert.match(w.stderr, new RegExp(`Cannot bind localhost:${port}: http://127\\.0\\.0\\.1:${port} cannot listen: another socket listens on an address that overlaps it \\(two \`bind\` entries that cover the same address, such as 0\\.0\\.0\\.0:PORT and a host name on that port\\? keep one of them\\) \\(EADDRINUSE\\)`));
  assert.equal(w.all('spawn').length, 0);
  assert.equal(await canConnect(port), false);
});

test('a listen helper that dies saying nothing: the error gives its exit status or signal', async (t) => {
  // The master runs from a copy of node; while it retries a busy port, the copy is replaced by a
  // script that exits (or is killed) without a word: the helper it spawns next is that script.
  for (const [script, expected] of [
    ['exit 7', /Cannot listen on the bound sockets: the helper process \(.*\/node -e\) exited with status 7 without saying why/],
    ['kill -9 $$', /Cannot listen on the bound sockets: the helper process \(.*\/node -e\) was killed by SIGKILL/],
  ]) {
    const dir = mkdtempSync(join(tmp, 'node-'));
    const node = join(dir, 'node');
    copyFileSync(process.execPath, node);
    const blocker = net.createServer();
    await new Promise((r) => blocker.listen(0, '127.0.0.1', r));
    const { port } = blocker.address();
    const m = Master.start(t, null, {}, { command: node, args: [BIN, '-b', `127.0.0.1:${port}`, APP], env: { XDG_RUNTIME_DIR: dir } });
    await m.waitForLog(/Connection in use/);
    writeFileSync(join(dir, 'silent'), `#!/bin/sh\n${script}\n`, { mode: 0o755 });
    renameSync(join(dir, 'silent'), node); // the running master keeps its (unlinked) binary
    await new Promise((r) => blocker.close(r));
    assert.equal((await m.exited).code, 1);
    assert.match(m.stderr, expected);
    assert.equal(await canConnect(port), false);
  }
});

test('PORT out of range: the library throws and the command exits 1, both naming PORT and what to do', async (t) => {
  const expected = /^(arbiter: )?Expected environment variable PORT \(it sets the default `bind`, 0\.0\.0\.0:\$PORT\) to be a port from 0 to 65535, got "70000": fix or unset PORT, or set `bind` \(-b\), which takes precedence over it$/m;
  const saved = process.env.PORT;
  t.after(() => (saved === undefined ? delete process.env.PORT : (process.env.PORT = saved)));
  for (const bad of ['70000', 'http', '-1']) {
    process.env.PORT = bad;
    configError({}, new RegExp(`^Expected environment variable PORT .* got ${JSON.stringify(bad)}: fix or unset PORT`));
  }
  process.env.PORT = '70000';
  assert.deepEqual(new Arbiter({ config: { bind: '127.0.0.1:1' }, load }).config.bind, ['127.0.0.1:1'], 'an explicit bind is not held to PORT');
  const dir = runtimeDir(t);
  const r = await cli([APP], { env: { XDG_RUNTIME_DIR: dir, PORT: '70000' } });
  assert.equal(r.code, 1);
  assert.match(r.stderr, expected);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  const m = Master.start(t, 'app.mjs', {}, { env: { PORT: '70000' } }); // the library in an entry script
  assert.notEqual((await m.exited).code, 0);
  assert.match(m.stderr, /ArbiterError: Expected environment variable PORT .* got "70000": fix or unset PORT/);
  assert.equal(m.all('spawn').length, 0);
});

test('a master that is not root asked for another user or group: the error names `user`/`group`, their values and what to do', async (t) => {
  const isRoot = process.getuid() === 0;
  let run = (args) => cli(args, { env: { XDG_RUNTIME_DIR: runtimeDir(t) } });
  if (isRoot) {
    // As root, become nobody first, running a copy nobody can read.
    const copy = worldReadableCopy(t, ['cli/app.mjs']);
    if (typeof copy === 'string') return t.skip(copy);
    run = (args) =>
      new Promise((resolve) => {
        const m = Master.start(t, null, {}, { command: 'setpriv', args: ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, copy.bin, ...args.slice(0, -1), copy.fixture('cli/app.mjs')], env: { XDG_RUNTIME_DIR: copy.dir } });
        m.exited.then(({ code }) => resolve({ code, stderr: m.stderr }));
      });
  }
  const port = await freePort();
  const what = /: start the master as root \(it keeps the sockets; the workers run as `user`\/`group`\), or leave out `user` and `group` \(-u, -g\) to run the workers as the master's own user \(uid \d+, gid \d+\)/;
  const g = await run(['-b', `127.0.0.1:${port}`, '-g', '0', APP]);
  assert.equal(g.code, 1, g.stderr);
  assert.match(g.stderr, /only root can start processes as another user or group\. `group` is root \(gid 0\): start the master as root/);
  assert.match(g.stderr, what);
  const u = await run(['-b', `127.0.0.1:${port}`, '-u', '0', APP]);
  assert.equal(u.code, 1, u.stderr);
  assert.match(u.stderr, /\. `user` is root \(uid 0, primary group root\): start the master as root/);
  const both = await run(['-b', `127.0.0.1:${port}`, '-u', '0', '-g', '0', APP]);
  assert.match(both.stderr, /\. `user` is root \(uid 0\) and `group` is root \(gid 0\): start the master as root/);
  assert.equal(await canConnect(port), false);
});

test('statusBind: a regular file at the unix path is named as such at once (not retried as "in use") and kept', async (t) => {
  const port = await freePort();
  const file = join(tmp, 'status.txt');
  writeFileSync(file, 'notes\n');
  const m = Master.start(t, 'app.mjs', { bind: `127.0.0.1:${port}`, workers: 1, statusBind: `unix:${file}` });
  assert.equal((await m.exited).code, 1, m.stderr);
  assert.match(m.stderr, new RegExp(`Cannot serve status at unix:${file} \\(statusBind\\): ${file} exists and is a regular file, not a socket: arbiter does not remove it; move it away or choose another \`statusBind\` path`));
  assert.doesNotMatch(m.stderr, /in use|EADDRINUSE/);
  assert.equal(readFileSync(file, 'utf8'), 'notes\n', 'the file is left as it was');
  assert.equal(m.all('spawn').length, 0);
  assert.equal(await canConnect(port), false);
});

test('statusBind on a port below 1024 without the right (as root: run as nobody): the error says what to do, as for bind', async (t) => {
  const unprivileged = Number(readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8'));
  if (unprivileged <= 1) return t.skip(`every port may be bound by anyone here (net.ipv4.ip_unprivileged_port_start = ${unprivileged})`);
  const low = Math.min(unprivileged, 1024) - 1;
  let options = {};
  if (process.getuid() === 0) {
    const copy = worldReadableCopy(t, ['app.mjs']);
    if (typeof copy === 'string') return t.skip(copy);
    options = { command: process.execPath, args: [copy.fixture('app.mjs')], uid: 65534 };
  }
  const port = await freePort();
  const m = Master.start(t, 'app.mjs', { bind: `127.0.0.1:${port}`, workers: 1, statusBind: `127.0.0.1:${low}` }, options);
  assert.equal((await m.exited).code, 1, m.stderr);
  assert.match(m.stderr, new RegExp(`Cannot serve status at 127\\.0\\.0\\.1:${low} \\(statusBind\\): listen EACCES: permission denied 127\\.0\\.0\\.1:${low}: only root or a process with the CAP_NET_BIND_SERVICE capability may bind a port below 1024: start the master as root with \`user\` set`));
  assert.equal(m.all('spawn').length, 0);
});

test('a sync worker busy when it starts draining (HUP) accepts nothing more: new connections wait for the new worker, not behind its request', async (t) => {
  const port = await freePort();
  const m = Master.start(t, 'app.mjs', { bind: `127.0.0.1:${port}`, workers: 1, workerClass: 'sync', timeout: 30_000, gracefulTimeout: 30_000 });
  await m.ready(1);
  const [old] = m.readyWorkers();
  const long = request(port, '/slow?ms=8000', { timeout: 30_000 });
  assert.equal(await m.started('/slow'), old);
  m.signal('SIGHUP');
  // Connections keep coming (and queue: each takes 100 ms) from before the old worker drains until after.
  const load = loadGenerator(port, { clients: 6, path: '/slow?ms=100', keepAlive: false });
  t.after(() => load.stop());
  await waitFor(() => m.readyWorkers().some((pid) => pid !== old), `a new worker\n${m.stderr}`, 20_000);
  await load.progress(15);
  const results = await load.stop(); // well before the old worker's request ends
  assert.equal((await long).body, `slow ${old}`, 'the request in flight completes on the old worker');
  await m.waitForEvents('worker_exit', 1, (w) => w.pid === old, 20_000);
  assert.deepEqual(tally(results.map((r) => (r.ok ? (r.body === `slow ${old}` ? 'old worker' : 'new worker') : r.error))), { 'new worker': results.length });
});

test('TERM while the only sync worker is busy: a connection queued behind it before the stop is still served', async (t) => {
  const port = await freePort();
  const m = Master.start(t, 'app.mjs', { bind: `127.0.0.1:${port}`, workers: 1, workerClass: 'sync', timeout: 30_000, gracefulTimeout: 30_000 });
  await m.ready(1);
  const [pid] = m.readyWorkers();
  const long = request(port, '/slow?ms=1500', { timeout: 30_000 }); // past the 1 s linger of a drain
  assert.equal(await m.started('/slow'), pid);
  // Connected (in the kernel's accept queue: the busy worker does not accept) before the TERM.
  const queued = net.connect(port, '127.0.0.1');
  await new Promise((resolve, reject) => queued.once('connect', resolve).once('error', reject));
  let answer = '';
  queued.setEncoding('utf8').on('data', (d) => (answer += d));
  const closed = new Promise((resolve) => queued.once('close', resolve));
  queued.write('GET /pid HTTP/1.1\r\nHost: x\r\n\r\n');
  m.signal('SIGTERM');
  assert.equal((await long).body, `slow ${pid}`);
  await closed;
  assert.match(answer, new RegExp(`^HTTP/1.1 200 OK[^]*\r\n\r\n${pid}$`));
  assert.equal((await m.exited).code, 0);
});

test('threads: at most 256 per worker, and the error says so (library and command)', async (t) => {
  configError({ threads: 257 }, /^Expected `threads` to be at most 256 \(the limit on serving threads per threaded worker; each is a V8 isolate with the app loaded\), got 257 \(number\)$/);
  configError({ threads: 0 }, /^Expected `threads` to be a positive integer, got 0/);
  assert.equal(new Arbiter({ config: { threads: 256, workerClass: 'threaded' }, load }).config.threads, 256);
  const r = await cli(['-k', 'threaded', '--threads', '100000', '--check-config', APP], { env: { XDG_RUNTIME_DIR: runtimeDir(t) } });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /Expected `threads` to be at most 256 .*got 100000/);
});
