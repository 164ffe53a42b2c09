// Control trail and safety (SPEC §11): which master a command without a target acts on, the
// `Control:` log lines, what `arbiter reload` says when it fails, `scale` at its bounds, and a
// control socket that refuses garbage while the master goes on serving. Real masters throughout.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { controlRequest } from 'arbiter';
import { APP, cli, json, runtimeDir, serve } from './cli-helpers.mjs';
import { freePort, isAlive, Master, request, waitFor } from './helpers.mjs';

const uid = process.getuid();
const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** One control frame: a 4-byte big-endian length, then the bytes (an object is sent as JSON). */
function frame(body) {
  const bytes = Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  const head = Buffer.alloc(4);
  head.writeUInt32BE(bytes.length);
  return Buffer.concat([head, bytes]);
}

/**
 * Connects to a control socket, writes `bytes`, and collects the answer frames until the master
 * closes the connection: `{ frames, closed, ms }` (`closed: false` when it was still open after `timeout`).
 */
function raw(socket, bytes, { timeout = 30_000 } = {}) {
  return new Promise((resolve) => {
    const c = net.connect(socket);
    const started = Date.now();
    const frames = [];
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => {
      c.destroy();
      resolve({ frames, closed: false, ms: Date.now() - started });
    }, timeout);
    c.on('connect', () => bytes && c.write(bytes));
    c.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
        const n = buf.readUInt32BE(0);
        frames.push(JSON.parse(buf.subarray(4, 4 + n).toString('utf8')));
        buf = buf.subarray(4 + n);
      }
    });
    c.on('error', () => {});
    c.on('close', () => {
      clearTimeout(timer);
      resolve({ frames, closed: true, ms: Date.now() - started });
    });
  });
}

/** Resident memory of `pid` in bytes (Linux /proc). */
function rss(pid) {
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) * 1024;
}

/** A master from the app fixture with its control socket in a fresh XDG_RUNTIME_DIR. */
async function fixtureMaster(t, config, env = {}) {
  const dir = runtimeDir(t);
  const port = await freePort();
  const m = Master.start(t, 'app.mjs', { bind: `127.0.0.1:${port}`, workers: 1, ...config }, { env: { XDG_RUNTIME_DIR: dir, ...env } });
  m.port = port;
  m.socket = join(dir, 'arbiter', `${m.pid}.sock`);
  await m.ready(config.workers ?? 1);
  await waitFor(() => controlRequest(m.socket, 'info', {}).then(() => true, () => false), 'the control socket');
  return m;
}

test('a command that changes something acts without a target only on the master started from the current directory', async (t) => {
  const env = { XDG_RUNTIME_DIR: runtimeDir(t) };
  const [dirA, dirB, elsewhere] = [runtimeDir(t, 'arbiter-app-a-'), runtimeDir(t, 'arbiter-app-b-'), runtimeDir(t, 'arbiter-elsewhere-')];
  const portA = await freePort();
  const a = serve(t, ['-w', '1', '-n', 'alpha', '-b', `127.0.0.1:${portA}`, APP], env, { cwd: dirA });
  await a.until(1);

  // The incident: the only master running was stopped by a bare `arbiter stop` typed in another directory.
  let r = await cli(['stop'], { env, cwd: elsewhere });
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`^arbiter: stop without a target acts only on the master started from this directory, and no arbiter master was started from ${escape(elsewhere)}; name the master \\(a pid, a name, a pidfile, or all\\):\\n`));
  assert.match(r.stderr, /\n\s+PID\s+NAME\s+CWD\s+BINDS\n/);
  assert.match(r.stderr, new RegExp(`\\n\\s+${a.pid}\\s+alpha\\s+${escape(dirA)}\\s+http://127.0.0.1:${portA}\\n`));
  assert.equal((await a.info())?.ready, 1, 'still running');
  // ls and status change nothing: still "the only master of this user", from anywhere
  assert.equal((await json(['status'], env, { cwd: elsewhere })).pid, a.pid);
  assert.equal((await json(['ls'], env, { cwd: elsewhere }))[0].cwd, dirA, 'ls shows where each master was started');

  const b = serve(t, ['-w', '1', '-n', 'beta', '-b', `127.0.0.1:${await freePort()}`, APP], env, { cwd: dirB });
  await b.until(1);
  for (const args of [['reload'], ['scale', '+1'], ['upgrade'], ['reopen'], ['stop', '--quick']]) {
    r = await cli(args, { env, cwd: elsewhere });
    assert.equal(r.code, 1, `${args.join(' ')}: ${r.stdout}`);
    assert.match(r.stderr, new RegExp(`^arbiter: ${args[0]} without a target acts only on the master started from this directory`));
    assert.match(r.stderr, new RegExp(`${a.pid}\\s+alpha\\s+${escape(dirA)}`));
    assert.match(r.stderr, new RegExp(`${b.pid}\\s+beta\\s+${escape(dirB)}`));
    assert.match(r.stderr, args[0] === 'scale' || args[0] === 'upgrade' ? /\(a pid, a name or a pidfile\)/ : /\(a pid, a name, a pidfile, or all\)/);
  }
  assert.deepEqual([(await a.info()).workers, (await b.info()).workers], [1, 1], 'nothing changed');
  assert.doesNotMatch(a.stderr + b.stderr, /Control: (?!info|status)/, 'no master was asked anything but info');

  // From its own directory, a bare command reaches that master only.
  r = await cli(['scale', '2'], { env, cwd: dirA });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`^master ${a.pid} \\[alpha\\]: 1 -> 2 workers\\n$`));
  await a.until(2);
  assert.equal((await b.info()).workers, 1);

  // Two masters started from the same directory: neither is guessed.
  const c = serve(t, ['-w', '1', '-n', 'gamma', '-b', `127.0.0.1:${await freePort()}`, APP], env, { cwd: dirA });
  await c.until(1);
  r = await cli(['reload'], { env, cwd: dirA });
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`^arbiter: reload without a target acts only on the master started from this directory, and 2 arbiter masters were started from ${escape(dirA)};`));
  assert.match(r.stderr, /alpha/);
  assert.match(r.stderr, /gamma/);
  assert.doesNotMatch(r.stderr, /beta/, 'only the candidates are listed');

  // `all`: every master, one line each.
  r = await cli(['reload', 'all'], { env, cwd: elsewhere });
  assert.equal(r.code, 0, r.stderr);
  for (const m of [a, b, c]) assert.match(r.stdout, new RegExp(`^master ${m.pid} \\[\\w+\\]: reloaded, generation 1 \\(\\d workers?\\)$`, 'm'));
  r = await cli(['stop', 'all'], { env, cwd: elsewhere });
  assert.equal(r.code, 0, r.stderr);
  for (const m of [a, b, c]) assert.match(r.stdout, new RegExp(`^master ${m.pid} \\[\\w+\\]: stopped \\(exit status 0\\)$`, 'm'));
  for (const m of [a, b, c]) assert.equal((await m.exited).code, 0);
  r = await cli(['stop', 'all'], { env, cwd: elsewhere });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^arbiter: no arbiter master is running/);
});

test('every control action is logged by the master, with the client’s pid and uid', async (t) => {
  const env = { XDG_RUNTIME_DIR: runtimeDir(t) };
  const m = serve(t, ['-w', '1', '-b', `127.0.0.1:${await freePort()}`, APP], env);
  await m.until(1);
  const said = (r) => `\\(pid ${r.pid}, uid ${uid}\\)`;
  let r = await cli(['scale', '+1'], { env });
  assert.equal(r.code, 0, r.stderr);
  await m.waitForLog(new RegExp(`\\[INFO\\] Control: scale 1 -> 2 ${said(r)}\\n`));
  await m.until(2);
  r = await cli(['reload'], { env });
  assert.equal(r.code, 0, r.stderr);
  await m.waitForLog(new RegExp(`\\[INFO\\] Control: reload ${said(r)}\\n(.*\\n)*.*Hang up: Master`));
  r = await cli(['reopen'], { env });
  await m.waitForLog(new RegExp(`\\[INFO\\] Control: reopen ${said(r)}\\n`));
  r = await cli(['scale', '2000'], { env }); // (the reload reset the target to the configured 1)
  assert.equal(r.code, 1);
  await m.waitForLog(new RegExp(`\\[WARNING\\] Control: scale 1 -> 2000 refused: Expected \`scale\\(n\\)\` to get at most 1024 .*${said(r)}\\n`));
  // read-only commands are debug lines, not in an info-level log
  await json(['status'], env);
  assert.doesNotMatch(m.stderr, /Control: (status|info)/);

  // What the client says is checked against /proc; a client that says nothing is logged as such.
  const reopen = (client) => raw(m.socket, frame({ v: 1, id: 1, command: 'reopen', ...(client ? { client } : {}) }));
  await reopen({ pid: 999_999_999, uid });
  await m.waitForLog(new RegExp(`Control: reopen \\(pid 999999999, uid ${uid}; unverified: no such process\\)\\n`));
  await reopen({ pid: process.pid, uid: 4242 });
  await m.waitForLog(new RegExp(`Control: reopen \\(pid ${process.pid}, uid 4242; unverified: only (uid \\d+ and )?root can connect\\)\\n`));
  await reopen(undefined);
  await m.waitForLog(/Control: reopen \(client did not say who it is\)\n/);

  r = await cli(['stop'], { env });
  assert.equal(r.code, 0, r.stderr);
  await m.exited;
  assert.match(m.stderr, new RegExp(`\\[INFO\\] Control: stop \\(graceful\\) ${said(r)}\\n`));
});

test('JSON logs: the control line carries the command and the client as fields', async (t) => {
  const env = { XDG_RUNTIME_DIR: runtimeDir(t) };
  const m = serve(t, ['-w', '1', '--log-format', 'json', '-b', `127.0.0.1:${await freePort()}`, APP], env);
  await m.until(1);
  const r = await cli(['stop', '--quick'], { env });
  assert.equal(r.code, 0, r.stderr);
  await m.exited;
  const line = m.stderr.split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((l) => l.msg.startsWith('Control:'));
  assert.deepEqual({ ...line, time: 0 }, { time: 0, level: 'info', pid: m.pid, msg: `Control: stop (quick) (pid ${r.pid}, uid ${uid})`, control: 'stop', clientPid: r.pid, clientUid: uid });
});

test('arbiter reload waits for the outcome: a failed reload prints the error, where it is, and exits 1', async (t) => {
  const env = { XDG_RUNTIME_DIR: runtimeDir(t) };
  const dir = runtimeDir(t, 'arbiter-app-');
  const app = join(dir, 'app.cjs');
  writeFileSync(app, 'module.exports = (req, res) => res.end("v1");\n');
  const port = await freePort();
  const m = serve(t, ['-w', '2', '-b', `127.0.0.1:${port}`, 'app.cjs'], env, { cwd: dir });
  await m.until(2);

  writeFileSync(app, 'module.exports = (req, res) => {\n  res.end("v2");\n}}\n');
  let r = await cli(['reload'], { env, cwd: dir });
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, new RegExp(`^arbiter: reload failed: the app failed to load: SyntaxError: Unexpected token '}' \\(${escape(app)}:3\\); the 2 workers of the previous generation keep serving\\n$`));
  assert.equal((await request(port, '/')).body, 'v1', 'the old workers serve');

  writeFileSync(app, 'throw new Error("the database is down");\n');
  r = await cli(['reload'], { env, cwd: dir });
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`^arbiter: reload failed: the app failed to load: Error: the database is down \\(${escape(app)}:1(?::\\d+)?\\); the 2 workers`));

  writeFileSync(app, 'module.exports = (req, res) => res.end("v3");\n');
  r = await cli(['reload'], { env, cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /reloaded, generation 3 \(2 workers\)/);
  assert.equal((await request(port, '/')).body, 'v3');
});

test('scale: -1 at one worker is a no-op like TTOU; above the limit is refused and allocates nothing', async (t) => {
  const env = { XDG_RUNTIME_DIR: runtimeDir(t) };
  const port = await freePort();
  const m = serve(t, ['-w', '1', '-b', `127.0.0.1:${port}`, APP], env);
  await m.until(1);
  for (const amount of ['-1', '-3']) {
    const r = await cli(['scale', amount], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^master \d+: stays at 1 worker \(the minimum; as TTOU, scaling down from one worker does nothing\)\n$/);
    await m.waitForLog(new RegExp(`Control: scale ${amount} ignored: already at 1 worker, the minimum \\(pid`));
  }
  const r0 = await cli(['scale', '0'], { env });
  assert.equal(r0.code, 1);
  assert.match(r0.stderr, /^arbiter: Expected `scale\(n\)` to get a positive integer, got 0 \(the target is 1 worker\)\n$/);

  const before = rss(m.pid);
  for (const amount of ['1025', '+5000', '1000000000']) {
    const r = await cli(['scale', amount], { env });
    assert.equal(r.code, 1, amount);
    assert.match(r.stderr, /^arbiter: Expected `scale\(n\)` to get at most 1024 \(the limit on workers per master\), got \d+ \(the target is 1 worker\)\n$/);
  }
  const s = await json(['status'], env);
  assert.deepEqual([s.target, s.workers.length], [1, 1]);
  assert.equal((await request(port, '/')).body, 'hello v1');
  assert.ok(rss(m.pid) - before < 30 * 1024 * 1024, `master RSS ${before} -> ${rss(m.pid)}`);
  assert.doesNotMatch(m.stderr, /Booting worker with pid: \d+\n(.*\n)*.*Booting worker/, 'no worker was spawned after the first');
});

test('garbage on the control socket is refused and the connection closed; the master goes on answering', async (t) => {
  const m = await fixtureMaster(t, {});
  const before = rss(m.pid);
  const pipelined = Buffer.concat(Array.from({ length: 20 }, (_, i) => frame({ v: 1, id: i + 1, command: 'status' })));
  const [huge, notJson, notObject, future, past, unknown, flood] = await Promise.all([
    raw(m.socket, Buffer.from([0xff, 0xff, 0xff, 0xff])), // a 4 GB frame announced
    raw(m.socket, frame('hello, master')),
    raw(m.socket, frame([1, 2, 3])),
    raw(m.socket, frame({ v: 99, id: 5, command: 'status' })),
    raw(m.socket, frame({ v: 0, id: 6, command: 'status' })),
    raw(m.socket, frame({ v: 1, id: 7, command: 'rm -rf /' })),
    raw(m.socket, pipelined),
  ]);
  const refused = (r, id, pattern) => {
    assert.ok(r.closed, `closed by the master (${pattern})`);
    const error = r.frames.find((f) => f.status === 'error');
    assert.ok(error, `an error frame (${pattern}): ${JSON.stringify(r.frames)}`);
    assert.equal(error.id, id);
    assert.match(error.error, pattern);
  };
  refused(huge, 0, /^bad request: control frame of 4294967295 bytes exceeds the 65536-byte limit$/);
  refused(notJson, 0, /^bad request: control frame is not JSON \(/);
  refused(notObject, 0, /^bad request: not a JSON object$/);
  refused(future, 5, /^the client speaks control protocol 99; this master speaks version 1/);
  refused(past, 6, /^the client speaks control protocol 0; this master speaks version 1/);
  refused(unknown, 7, /^unknown command "rm -rf \/"; known: info, status, reload, scale, stop, upgrade, reopen, subscribe$/);
  refused(flood, 9, /^too many requests in flight on one connection \(at most 8\)$/);

  // meanwhile: status answers, HTTP is served, nothing grew
  assert.equal((await controlRequest(m.socket, 'status', {})).workers.length, 1);
  assert.equal((await request(m.port, '/')).body, 'ok');
  assert.ok(rss(m.pid) - before < 30 * 1024 * 1024, `master RSS ${before} -> ${rss(m.pid)}`);
  assert.equal(m.all('exit').length, 0);
});

test('idle connections and a frame that never completes: capped, then timed out; status and HTTP meanwhile', { timeout: 60_000 }, async (t) => {
  const m = await fixtureMaster(t, {});
  const before = rss(m.pid);
  const started = Date.now();
  // 200 connections that never say anything, one in four holding 60 KB of an unfinished frame
  let closed = 0;
  const idle = Array.from({ length: 200 }, (_, i) => {
    const head = Buffer.alloc(4);
    head.writeUInt32BE(65_000);
    return raw(m.socket, i % 4 === 0 ? Buffer.concat([head, Buffer.alloc(60_000, 0x20)]) : undefined).then((r) => {
      closed++;
      return r;
    });
  });
  // over the cap (32), each new connection closed the longest-idle one
  await waitFor(() => closed >= 200 - 32, () => `at most 32 idle connections left open (${200 - closed} open)`, 20_000);
  assert.ok(Date.now() - started < 10_000, 'closed for the cap, not by the idle timeout');
  // half a request, then silence
  const partial = raw(m.socket, Buffer.concat([frame('{"v":1,"id":3,"command":"status"}').subarray(0, 4), Buffer.from('{"v":1')]));
  const status = await controlRequest(m.socket, 'status', {});
  assert.equal(status.workers.length, 1, 'status answered with the idle connections open');
  assert.equal((await request(m.port, '/')).body, 'ok');

  const rest = await Promise.all(idle);
  assert.ok(rest.every((r) => r.closed));
  const p = await partial;
  assert.ok(p.closed, 'the unfinished frame was given up');
  assert.ok(p.ms >= 9_000, `after the idle timeout (${p.ms} ms)`);
  assert.deepEqual(p.frames, [{ v: 1, id: 0, status: 'error', error: 'bad request: incomplete, nothing more for 10000 ms' }]);
  assert.equal((await controlRequest(m.socket, 'status', {})).workers.length, 1);
  assert.equal((await request(m.port, '/')).body, 'ok');
  assert.ok(rss(m.pid) - before < 30 * 1024 * 1024, `master RSS ${before} -> ${rss(m.pid)}`);
});

test('a request in flight is not idle: arbiter reload waits past the idle timeout for a slow boot', { timeout: 60_000 }, async (t) => {
  const env = { XDG_RUNTIME_DIR: runtimeDir(t) };
  const dir = runtimeDir(t, 'arbiter-app-');
  const app = join(dir, 'app.cjs');
  writeFileSync(app, 'module.exports = (req, res) => res.end("v1");\n');
  const m = serve(t, ['-w', '1', '-b', `127.0.0.1:${await freePort()}`, 'app.cjs'], env, { cwd: dir });
  await m.until(1);
  // the new code takes 11 s to load (past the 10 s idle timeout): an async factory
  writeFileSync(app, 'module.exports = async () => { await new Promise((r) => setTimeout(r, 11000)); return (req, res) => res.end("v2"); };\n');
  const r = await cli(['reload'], { env, cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /reloaded, generation 1 \(1 worker/);
});

test('--log-level debug: the loop’s decisions; every generation announced once when whole', { timeout: 60_000 }, async (t) => {
  const dir = runtimeDir(t, 'arbiter-version-');
  const file = join(dir, 'version');
  writeFileSync(file, 'v1');
  const m = await fixtureMaster(t, { workers: 2, logLevel: 'debug' }, { FIXTURE_VERSION_FILE: file });
  const [first] = await m.waitForEvents('generation_ready');
  assert.deepEqual(first.args[0], { generation: 0, workers: 2 });
  await m.waitForLog(/\[INFO\] Generation 0 ready \(2 workers\)\n/);
  assert.match(m.stderr, /\[DEBUG\] Spawn wave: 2 workers of generation 0 started\n/);

  // a crash: respawned at once (the backoff decision is a debug line)
  const [victim] = m.readyWorkers();
  process.kill(victim, 'SIGKILL');
  await m.waitForLog(/\[DEBUG\] Slot \d: its worker (died \d+ ms after starting|lived \d+ ms): respawning at once/);
  await waitFor(() => m.readyWorkers().length === 2, 'the replacement');

  // a failed reload rolls back
  writeFileSync(file, 'broken');
  m.signal('SIGHUP');
  await m.waitForEvents('reload_failed');
  await m.waitForLog(/\[DEBUG\] Rollback: generation 1 abandoned, generation 0 is current again \(target 2\); nothing is spawned until the next reload\n/);

  writeFileSync(file, 'v2');
  m.signal('SIGHUP');
  await m.waitForEvents('reloaded');
  await m.waitForLog(/\[DEBUG\] Retiring worker \(pid:\d+\) of generation 0, slot \d: reload\n/);
  const announced = m.all('generation_ready').map((e) => e.args[0]);
  assert.deepEqual(announced, [{ generation: 0, workers: 2 }, { generation: 2, workers: 2 }], 'once per generation, not after a respawn, not for the failed one');
  const names = m.events.map((e) => e.name);
  assert.ok(names.lastIndexOf('generation_ready') < names.indexOf('reloaded'), 'generation_ready comes before reloaded');
  // the log is a pipe of its own: its lines may arrive after the event
  await m.waitForLog(/Reload complete: generation 2/);
  // in that order (a worker's own line, "Worker exiting", may come between them)
  assert.ok(m.stderr.indexOf('Generation 2 ready (2 workers)\n') < m.stderr.indexOf('Reload complete: generation 2'), m.stderr);
  assert.ok(m.stderr.includes('Generation 2 ready (2 workers)\n'), m.stderr);
});

test('at the default log level: no debug lines', async (t) => {
  const m = await fixtureMaster(t, { workers: 1 });
  await m.waitForLog(/Generation 0 ready \(1 worker\)\n/);
  m.signal('SIGTERM');
  await m.exited;
  assert.doesNotMatch(m.stderr, /\[DEBUG\]/);
  assert.ok(isAlive(m.pid) === false);
});
