// The `arbiter` command: real masters started by the command, driven by its own subcommands.
// Every test that uses discovery points XDG_RUNTIME_DIR (master and CLI) at a fresh directory:
// other masters run on this machine at the same time.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { lookup } from 'node:dns/promises';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { controlRequest } from 'arbiter';
import { APP, BIN, cli, json, runtimeDir, serve } from './cli-helpers.mjs';
import { fixture, freePort, isAlive, Master, request, waitFor, worldReadableCopy } from './helpers.mjs';

test('ls and status: JSON fields and tables, for a master started by the command', async (t) => {
  const env = { XDG_RUNTIME_DIR: runtimeDir(t) };
  const port = await freePort();
  const m = serve(t, ['-w', '2', '-b', `127.0.0.1:${port}`, '-n', 'web', APP], env);
  await m.until(2);
  assert.equal((await request(port, '/')).body, 'hello v1');

  const ls = await json(['ls'], env);
  assert.equal(ls.length, 1);
  assert.deepEqual(Object.keys(ls[0]).sort(), ['binds', 'cwd', 'generation', 'name', 'pid', 'ready', 'uptime', 'workers']);
  assert.deepEqual({ ...ls[0], uptime: 0 }, { pid: m.pid, name: 'web', binds: [`http://127.0.0.1:${port}`], workers: 2, ready: 2, generation: 0, uptime: 0, cwd: process.cwd() });

  const status = await json(['status'], env);
  assert.deepEqual(Object.keys(status), ['pid', 'version', 'name', 'binds', 'workerClass', 'target', 'min', 'max', 'ready', 'generation', 'uptime', 'reloads', 'restarts', 'saturation', 'backlog', 'workers']);
  assert.equal(status.pid, m.pid);
  assert.equal(status.workers.length, 2);
  for (const w of status.workers) {
    assert.deepEqual(Object.keys(w), ['pid', 'slot', 'generation', 'state', 'uptime', 'requests', 'inflight', 'rss', 'cpu', 'heartbeatAge', 'elu', 'loopDelayP99', 'heapUsed', 'heapLimit', 'reqRate']);
  }
  assert.equal((await json(['status', 'web'], env)).pid, m.pid, 'by name');

  const table = await cli(['ls'], { env });
  assert.match(table.stdout, /^\s*PID\s+NAME\s+WORKERS\s+GEN\s+UPTIME\s+BINDS\s+CWD\n/);
  assert.match(table.stdout, new RegExp(`${m.pid}\\s+web\\s+2/2\\s+0\\s+\\d+s\\s+http://127.0.0.1:${port}\\s+${process.cwd().replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\n`));
  const text = await cli(['status'], { env });
  assert.equal(text.code, 0);
  assert.match(text.stdout, /PID\s+SLOT\s+GEN\s+STATE\s+UPTIME\s+REQUESTS\s+INFLIGHT\s+RSS\s+CPU\s+HEARTBEAT\s+REQ\/S\s+ELU\s+DELAY P99\s+HEAP\n/);
  assert.match(text.stdout, /^saturation (\d\.\d\d|-)  backlog \d+$/m);
  assert.match(text.stdout, /ready\s+\d+s\s+\d+\s+\d+\s+\d+\.\d MB\s+\d+\.\d%\s+\d+ms\s+[\d.]+\s+\d\.\d\d\s+\d+\.\dms\s+\d+\.\d MB \d+%/);
});

test('control socket: directory 0700, socket 0600, removed by stop, which exits 0', async (t) => {
  const env = { XDG_RUNTIME_DIR: runtimeDir(t) };
  const m = serve(t, ['-w', '1', '-b', `127.0.0.1:${await freePort()}`, APP], env);
  await m.until(1);
  assert.equal(statSync(join(env.XDG_RUNTIME_DIR, 'arbiter')).mode & 0o777, 0o700);
  assert.ok(statSync(m.socket).isSocket());
  assert.equal(statSync(m.socket).mode & 0o777, 0o600);
  const stop = await cli(['stop', String(m.pid)], { env });
  assert.equal(stop.code, 0, stop.stderr);
  assert.match(stop.stdout, /stopped \(exit status 0\)/);
  assert.deepEqual(await m.exited, { code: 0, signal: null });
  assert.ok(!existsSync(m.socket), 'socket removed');
  assert.deepEqual(readdirSync(join(env.XDG_RUNTIME_DIR, 'arbiter')), []);
  const none = await cli(['status'], { env });
  assert.equal(none.code, 1);
  assert.match(none.stderr, /^arbiter: no arbiter master is running/);
});

test('scale 3, scale -1, reload replaces every worker, reopen, stop --quick', async (t) => {
  const env = { XDG_RUNTIME_DIR: runtimeDir(t) };
  const m = serve(t, ['-w', '2', '-b', `127.0.0.1:${await freePort()}`, APP], env);
  await m.until(2);
  let r = await cli(['scale', '3'], { env });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /2 -> 3 workers/);
  await m.until(3);
  r = await cli(['scale', '-1'], { env });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /3 -> 2 workers/);
  await m.until(2);
  r = await cli(['scale', '-5'], { env });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^arbiter: Expected `scale\(n\)` to get a positive integer, got -3 \(the target is 2 workers\)\n$/);

  const before = (await json(['status'], env)).workers.filter((w) => w.state === 'ready').map((w) => w.pid);
  r = await cli(['reload'], { env });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /reloaded, generation 1 \(2 workers\)/);
  const after = await waitFor(async () => {
    const s = await json(['status'], env);
    return s.workers.length === 2 && s.workers.every((w) => w.generation === 1 && w.state === 'ready') && s;
  }, 'only the new generation left');
  assert.equal(after.reloads, 1);
  for (const w of after.workers) assert.ok(!before.includes(w.pid), `worker ${w.pid} is new`);

  r = await cli(['reopen'], { env });
  assert.equal(r.code, 0, r.stderr);
  await m.waitForLog(/Worker reopening logs/);

  r = await cli(['stop', '--quick'], { env });
  assert.equal(r.code, 0, r.stderr);
  assert.equal((await m.exited).code, 0);
});

test('a hung worker still shows in status, its heartbeat age growing', async (t) => {
  const env = { XDG_RUNTIME_DIR: runtimeDir(t) };
  const port = await freePort();
  const m = serve(t, ['-w', '2', '-t', '60', '-b', `127.0.0.1:${port}`, APP], env);
  await m.until(2);
  for (const pid of m.workers()) {
    // workers re-run the command with the same arguments
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    assert.deepEqual(cmdline.slice(1), [BIN, '-w', '2', '-t', '60', '-b', `127.0.0.1:${port}`, APP]);
  }
  const blocked = request(port, '/block?ms=5000').catch(() => {});
  const pid = await m.started('/block');
  const first = (await json(['status'], env)).workers.find((w) => w.pid === pid);
  const second = (await json(['status'], env)).workers.find((w) => w.pid === pid);
  assert.ok(second.heartbeatAge > first.heartbeatAge, `${first.heartbeatAge} -> ${second.heartbeatAge}`);
  assert.equal(second.inflight, 1);
  await blocked;
});

test('several masters: no target is an error listing them; a name, pid or pidfile picks one', async (t) => {
  const env = { XDG_RUNTIME_DIR: runtimeDir(t) };
  const pidfile = join(env.XDG_RUNTIME_DIR, 'b.pid');
  const a = serve(t, ['-w', '1', '-n', 'alpha', '-b', `127.0.0.1:${await freePort()}`, APP], env);
  const b = serve(t, ['-w', '1', '-n', 'beta', '-p', pidfile, '-b', `127.0.0.1:${await freePort()}`, APP], env);
  await Promise.all([a.until(1), b.until(1)]);
  const r = await cli(['status'], { env });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^arbiter: 2 arbiter masters are running; name one by pid or name:\n/);
  assert.match(r.stderr, new RegExp(`pid ${a.pid} \\(alpha\\)`));
  assert.match(r.stderr, new RegExp(`pid ${b.pid} \\(beta\\)`));
  assert.equal((await json(['status', 'alpha'], env)).pid, a.pid);
  assert.equal((await json(['status', String(b.pid)], env)).pid, b.pid);
  assert.equal((await json(['status', pidfile], env)).pid, b.pid);
  assert.deepEqual((await json(['ls'], env)).map((x) => x.pid), [a.pid, b.pid].sort((x, y) => x - y));
  const missing = await cli(['status', 'gamma'], { env });
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^arbiter: no arbiter master named "gamma" is running; running:\n/);
  const nopid = await cli(['status', '999999999'], { env });
  assert.equal(nopid.code, 1);
  assert.match(nopid.stderr, /^arbiter: no process with pid 999999999 is running\n$/);
});

test('permission denied names the socket owner (the command runs as nobody)', { skip: process.getuid?.() !== 0 && 'needs root to run the command as another user' }, async (t) => {
  // nobody runs the command from a copy it can read (the clone may be in a directory only root can enter).
  const copy = worldReadableCopy(t);
  if (typeof copy === 'string') return t.skip(copy);
  const env = { XDG_RUNTIME_DIR: runtimeDir(t) };
  const m = serve(t, ['-w', '1', '-b', `127.0.0.1:${await freePort()}`, APP], env);
  await m.until(1);
  const r = await cli(['status', String(m.pid)], { env, uid: 65534, bin: copy.bin, cwd: copy.dir });
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`^arbiter: permission denied: the master with pid ${m.pid} runs as root \\(uid 0\\)`));
});

test('an explicit --control-socket replaces a stale one, and is still found by ls and by path', async (t) => {
  const env = { XDG_RUNTIME_DIR: runtimeDir(t) };
  const path = join(env.XDG_RUNTIME_DIR, 'ctl', 'app.sock');
  // a stale socket: its process died without removing it
  const stale = spawn(process.execPath, ['-e', `require('node:fs').mkdirSync(${JSON.stringify(join(env.XDG_RUNTIME_DIR, 'ctl'))}); require('node:net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`]);
  await new Promise((r) => stale.on('exit', r));
  assert.ok(statSync(path).isSocket());
  await assert.rejects(new Promise((resolve, reject) => net.connect(path).on('connect', resolve).on('error', reject)), /ECONNREFUSED/);

  const m = serve(t, ['-w', '1', '--control-socket', path, '-b', `127.0.0.1:${await freePort()}`, APP], env);
  await waitFor(() => controlRequest(path, 'info', {}).then((i) => i.ready === 1, () => false), 'the master on its explicit socket');
  assert.equal(statSync(path).mode & 0o777, 0o600);
  assert.equal((await json(['status', path], env)).pid, m.pid);
  assert.equal((await json(['ls'], env))[0].pid, m.pid);
  assert.equal((await cli(['stop', String(m.pid)], { env })).code, 0);
  await m.exited;
  assert.ok(!existsSync(path), 'explicit socket removed');
  assert.deepEqual(readdirSync(join(env.XDG_RUNTIME_DIR, 'arbiter')), [], 'discovery link removed');
});

test('ls removes the entries of dead masters only: a live master’s link that points nowhere for a moment (a USR2 promotion moving its socket) stays', async (t) => {
  const env = { XDG_RUNTIME_DIR: runtimeDir(t) };
  const dir = join(env.XDG_RUNTIME_DIR, 'arbiter');
  mkdirSync(dir, { mode: 0o700 });
  const dead = spawnSync(process.execPath, ['-e', '0']).pid;
  symlinkSync(join(env.XDG_RUNTIME_DIR, 'moved.sock'), join(dir, `${process.pid}.sock`)); // this process is alive
  symlinkSync(join(env.XDG_RUNTIME_DIR, 'gone.sock'), join(dir, `${dead}.sock`));
  assert.equal((await cli(['ls', '--json'], { env })).stdout.trim(), '[]');
  assert.deepEqual(readdirSync(dir), [`${process.pid}.sock`]);
});

test('upgrade with an explicit --control-socket: the new master listens at <path>.2, then takes <path> over', async (t) => {
  const env = { XDG_RUNTIME_DIR: runtimeDir(t) };
  const path = join(env.XDG_RUNTIME_DIR, 'app.sock');
  const m = serve(t, ['-w', '1', '--control-socket', path, '-b', `127.0.0.1:${await freePort()}`, APP], env);
  await waitFor(() => controlRequest(path, 'info', {}).then((i) => i.ready === 1, () => false), 'the master on its explicit socket');
  assert.equal((await cli(['upgrade', path], { env })).code, 0);
  const next = await waitFor(() => controlRequest(`${path}.2`, 'info', {}).then((i) => i.ready === 1 && i.pid, () => false), 'the new master at <path>.2');
  m.pids.add(next);
  t.after(() => {
    try {
      process.kill(next, 'SIGKILL');
    } catch {}
  });
  assert.equal((await json(['status', path], env)).pid, m.pid, 'the old master keeps <path> meanwhile');
  assert.equal((await cli(['stop', String(m.pid)], { env })).code, 0);
  await m.exited;
  await waitFor(() => controlRequest(path, 'info', {}).then((i) => i.pid === next, () => false), () => `the new master at <path>; files: ${readdirSync(env.XDG_RUNTIME_DIR)}\n${m.stderr}`);
  assert.ok(!existsSync(`${path}.2`));
  assert.equal((await json(['status', String(next)], env)).pid, next, 'found by pid (discovery link)');
  assert.equal((await cli(['stop', path], { env })).code, 0);
  await waitFor(() => !isAlive(next), 'the new master to exit');
  assert.ok(!existsSync(path));
});

test('a --control-socket path that holds a regular file is left alone: a warning, no socket', async (t) => {
  const env = { XDG_RUNTIME_DIR: runtimeDir(t) };
  const path = join(env.XDG_RUNTIME_DIR, 'notes.txt');
  writeFileSync(path, 'mine\n');
  const port = await freePort();
  const m = serve(t, ['-w', '1', '--control-socket', path, '-b', `127.0.0.1:${port}`, APP], env);
  await m.waitForLog(/Cannot open the control socket: .*notes.txt exists and is not a socket; running without it/);
  await waitFor(() => request(port, '/').then(() => true, () => false), 'serving anyway');
  assert.equal(readFileSync(path, 'utf8'), 'mine\n');
});

test('--no-control-socket: no socket at all', async (t) => {
  const env = { XDG_RUNTIME_DIR: runtimeDir(t) };
  const port = await freePort();
  const m = serve(t, ['-w', '1', '--no-control-socket', '-b', `127.0.0.1:${port}`, APP], env);
  await waitFor(() => request(port, '/').then(() => true, () => false), 'serving');
  assert.ok(!existsSync(join(env.XDG_RUNTIME_DIR, 'arbiter', `${m.pid}.sock`)));
  assert.equal((await cli(['ls', '--json'], { env })).stdout.trim(), '[]');
});

test('upgrade: the new master gets its own socket; stopping the old one leaves it', async (t) => {
  const env = { XDG_RUNTIME_DIR: runtimeDir(t) };
  const m = serve(t, ['-w', '1', '-b', `127.0.0.1:${await freePort()}`, APP], env);
  await m.until(1);
  const r = await cli(['upgrade'], { env });
  assert.equal(r.code, 0, r.stderr);
  const masters = await waitFor(async () => {
    const ls = await json(['ls'], env);
    return ls.length === 2 && ls.every((x) => x.ready === 1) && ls;
  }, 'two masters');
  const next = masters.find((x) => x.pid !== m.pid).pid;
  m.pids.add(next);
  t.after(() => {
    try {
      process.kill(next, 'SIGKILL');
    } catch {}
  });
  assert.equal((await cli(['stop', String(m.pid)], { env })).code, 0);
  await m.exited;
  const left = await json(['ls'], env);
  assert.deepEqual(left.map((x) => x.pid), [next]);
  assert.equal((await cli(['stop'], { env })).code, 0);
  await waitFor(() => !isAlive(next), 'the new master to exit');
});

test('bad flags and values: one line naming the flag, exit 1, nothing left behind', async (t) => {
  const env = { XDG_RUNTIME_DIR: runtimeDir(t) };
  const cases = [
    [['--nope', APP], /^arbiter: unknown option --nope \(see arbiter --help\)$/],
    [['-x', APP], /^arbiter: unknown option -x \(see arbiter --help\)$/],
    [['-w'], /^arbiter: option -w, --workers needs a value \(see arbiter --help\)$/],
    [['-w', '0', APP], /^arbiter: -w\/--workers 0: Expected `workers` to be a positive integer or "auto", got 0 \(number\)$/],
    [['-w', 'many', APP], /^arbiter: -w\/--workers many: Expected `workers` to be .*got "many" \(string\)$/],
    [['-t', 'soon', APP], /^arbiter: Expected `-t\/--timeout` to be a duration such as 30 \(seconds\), 30s, 500ms or 2m, got "soon" \(string\)$/],
    [['--graceful-timeout', '5x', APP], /^arbiter: Expected `--graceful-timeout` to be a duration/],
    [['--keep-alive=-1', APP], /^arbiter: Expected `--keep-alive` to be a duration/],
    [['--threads', 'two', APP], /^arbiter: --threads two: Expected `threads` to be a positive integer, got "two" \(string\)$/],
    [['--max-requests', '-1', APP], /^arbiter: --max-requests -1: Expected `maxRequests` to be a non-negative integer, got -1 \(number\)$/],
    [['-k', 'nope', APP], /^arbiter: -k\/--worker-class nope: Expected `workerClass` to be "async", "sync", "threaded" or a WorkerClass subclass, got "nope" \(string\)$/],
    [['-b', 'nowhere', APP], /^arbiter: -b\/--bind nowhere: Expected `bind` to be an address/],
    [['--log-level', 'loud', APP], /^arbiter: --log-level loud: Expected `logLevel` to be one of/],
    [['-e', 'NOEQUALS', APP], /^arbiter: Expected `-e\/--env` to be KEY=VALUE, got "NOEQUALS" \(string\)$/],
    [['-c', 'missing.json', APP], /^arbiter: cannot read the config file missing.json: no such file \(see arbiter --help\)$/],
    [['-c', fixture('cli/bad-config.json'), APP], /^arbiter: config file .*bad-config.json: Unknown option `wrokers` \(did you mean `workers`\?\)/],
    [['-c', fixture('cli/config-needs-package.mjs'), APP], /^arbiter: cannot read the config file .*config-needs-package.mjs: Cannot find package 'no-such-package-xyz'/],
    [[APP, 'extra'], /^arbiter: unexpected argument "extra": one app module only \(see arbiter --help\)$/],
    [[], /^arbiter: missing the app module/],
    [['nope.mjs'], /^arbiter: Cannot find the app module "nope.mjs" \(looked for .*nope.mjs\)$/],
    [['stauts'], /^arbiter: Cannot find the app module "stauts" \(looked for .*\); nor is it a command \(ls, status, reload, scale, stop, upgrade, reopen, events, top\)$/],
    [['scale'], /^arbiter: scale needs a worker count: n, \+k or -k \(got nothing\)/],
    [['scale', 'lots'], /^arbiter: scale needs a worker count/],
    [['status', '--bogus'], /^arbiter: unknown option --bogus/],
    [['ls', 'extra'], /^arbiter: unexpected argument "extra" for ls/],
    [['stop', '--quick', '1', '2'], /^arbiter: unexpected argument "2" for stop/],
    [['top', '--interval', 'fast'], /^arbiter: --interval: expected a period between 100ms and 1h, like 1s, 500ms or 2 \(seconds\), got "fast" \(see arbiter --help\)$/],
    [['top', '--interval', '10ms'], /^arbiter: --interval: expected a period between 100ms and 1h/],
    [['events', '--interval', '1s'], /^arbiter: unknown option --interval/],
    [['top', '--json'], /^arbiter: unknown option --json/],
  ];
  const results = await Promise.all(cases.map(([args]) => cli(args, { env })));
  results.forEach((r, i) => {
    const [args, pattern] = cases[i];
    assert.equal(r.code, 1, `arbiter ${args.join(' ')} exits 1`);
    assert.equal(r.stdout, '', `arbiter ${args.join(' ')} prints nothing on stdout`);
    assert.equal(r.stderr.trimEnd().split('\n').length, 1, `one line for arbiter ${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr.trimEnd(), pattern, `arbiter ${args.join(' ')}`);
  });
  assert.ok(!existsSync(join(env.XDG_RUNTIME_DIR, 'arbiter')) || readdirSync(join(env.XDG_RUNTIME_DIR, 'arbiter')).length === 0, 'no control socket left');
});

test('durations and sizes: -t 30 is 30000 ms, units, -c with overriding flags, --print-config', async (t) => {
  const print = async (args) => {
    const r = await cli([...args, '--print-config']);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout);
  };
  assert.equal((await print(['-t', '30'])).timeout, 30_000);
  assert.equal((await print(['-t', '0.5'])).timeout, 500);
  assert.equal((await print(['--timeout', '500ms'])).timeout, 500);
  assert.equal((await print(['--graceful-timeout', '2m'])).gracefulTimeout, 120_000);
  assert.equal((await print(['--keep-alive', '5s'])).keepAlive, 5000);
  assert.equal((await print(['--boot-timeout', '1h'])).bootTimeout, 3_600_000);
  const fromJson = await print(['-c', fixture('cli/config.json'), '-w', '2']);
  assert.equal(fromJson.workers, 2, 'the flag overrides the file');
  assert.equal(fromJson.timeout, 10_000, 'the file sets what flags do not');
  assert.equal(fromJson.procName, 'from-file');
  const fromJs = await print(['-c', fixture('cli/config.mjs'), '--timeout', '3']);
  assert.deepEqual([fromJs.workers, fromJs.timeout, fromJs.procName], [3, 3000, 'from-js']);
  const all = await print(['-b', '127.0.0.1:1', '-b', 'unix:/tmp/x.sock', '-e', 'A=1', '-e', 'B=x=y', '-k', 'sync', '--no-control-socket']);
  assert.deepEqual(all.bind, ['127.0.0.1:1', 'unix:/tmp/x.sock']);
  assert.deepEqual(all.env, { A: '1', B: 'x=y' });
  assert.equal(all.workerClass, 'sync');
  assert.equal(all.controlSocket, false);

  // the options of issues 8 and 10 reach the library with their units
  const prod = await print(['--max-worker-memory', '512mb', '--status-bind', '127.0.0.1:9100', '-u', 'nobody', '--log-format', 'json']);
  assert.deepEqual(
    [prod.maxWorkerMemory, prod.statusBind, prod.user, prod.logFormat],
    [512 * 2 ** 20, '127.0.0.1:9100', 65534, 'json'],
  );

  // -w auto reaches the library, which resolves it to the CPUs this process may use
  const auto = await cli(['-w', 'auto', '--print-config']);
  assert.equal(auto.code, 0, auto.stderr);
  assert.ok(Number.isInteger(JSON.parse(auto.stdout).workers) && JSON.parse(auto.stdout).workers >= 1);

  // one parser for flags, config files and the library (src/units.ts); a flag's bare number is seconds / bytes
  const { parseSize, parseDuration } = await import('../dist/esm/units.js');
  assert.deepEqual(['512mb', '1gb', '64k', '100', '1.5GB', 'x'].map((v) => parseSize(v, 'b')), [512 * 2 ** 20, 2 ** 30, 65536, 100, 1.5 * 2 ** 30, undefined]);
  assert.deepEqual(['30', '30s', '500ms', '2m', '1.5', '1h', '-1', '5x'].map((v) => parseDuration(v, 's')), [30000, 30000, 500, 120000, 1500, 3600000, undefined, undefined]);
  assert.deepEqual(['30', '30s', '100'].map((v) => [parseDuration(v), parseSize(v)]), [[undefined, undefined], [30000, undefined], [undefined, undefined]], 'without a bare unit, a unit is required');
});

test('a -c config: the master uses it, and HUP (arbiter reload) re-reads it', async (t) => {
  const env = { XDG_RUNTIME_DIR: runtimeDir(t) };
  const file = join(env.XDG_RUNTIME_DIR, 'arbiter.json');
  writeFileSync(file, JSON.stringify({ workers: 1, procName: 'conf' }));
  const m = serve(t, ['-c', file, '-b', `127.0.0.1:${await freePort()}`, APP], env);
  await m.until(1);
  assert.equal((await json(['status'], env)).name, 'conf');
  writeFileSync(file, JSON.stringify({ workers: 2, procName: 'conf2' }));
  const r = await cli(['reload', 'conf'], { env });
  assert.equal(r.code, 0, r.stderr);
  await m.until(2);
  assert.equal((await json(['status'], env)).name, 'conf2');
  writeFileSync(file, '{ "workers": 0 }');
  const failed = await cli(['reload'], { env });
  assert.equal(failed.code, 1);
  // the reason: the first line of the error, which names the file
  assert.match(failed.stderr, /^arbiter: reload failed: the new config could not be read or applied: config file \/.*\/arbiter\.json: Expected `workers` to be a positive integer or "auto", got 0 \(number\); the 2 workers of the previous generation keep serving\n$/);
});

test('module exports: listener, factory, Application, Express, Fastify; anything else fails the boot clearly', async (t) => {
  const env = { XDG_RUNTIME_DIR: runtimeDir(t) };
  const cases = [
    ['cli/app.mjs', 'hello v1'],
    ['cli/app.mjs:factory', 'from factory'],
    ['cli/app.mjs:application', 'from load()'],
    ['cli/express-app.mjs', /^express \d+$/],
    ['cli/fastify-app.mjs', /^\{"fastify":\d+\}$/],
  ];
  await Promise.all(
    cases.map(async ([spec, body]) => {
      const port = await freePort();
      const [file, name] = spec.split(':');
      const m = serve(t, ['-w', '1', '-b', `127.0.0.1:${port}`, name ? `${fixture(file)}:${name}` : fixture(file)], env);
      await m.waitForLog(/Booting worker/);
      const res = await waitFor(() => request(port, '/').catch(() => undefined), `${spec} serving\n${m.stderr}`, 30_000);
      assert.equal(res.status, 200, spec);
      if (typeof body === 'string') assert.equal(res.body, body, spec);
      else assert.match(res.body, body, spec);
      m.signal('SIGTERM');
      assert.equal((await m.exited).code, 0);
    }),
  );

  const answer = serve(t, ['-w', '1', '-b', `127.0.0.1:${await freePort()}`, `${APP}:answer`], env);
  assert.equal((await answer.exited).code, 4, 'app load error');
  assert.match(answer.stderr, /The export `answer` of .*app.mjs is 42 \(number\); expected a request listener/);
  const fetchApp = await cli(['--check-config', `${APP}:fetchApp`]);
  assert.equal(fetchApp.code, 1);
  assert.match(fetchApp.stderr, /^arbiter: The export `fetchApp` of .*app.mjs is an object with a fetch\(\) method \(a Hono app\?\); expected .*getRequestListener/);
  const check = await cli(['--check-config', `${APP}:nope`]);
  assert.equal(check.code, 1);
  assert.match(check.stderr, /has no export `nope` \(it exports: answer, application, default, factory, fetchApp\)/);
  const ok = await cli(['--check-config', '-w', '3', `${APP}:factory`]);
  assert.equal(ok.code, 0, ok.stderr);
});

test('--check-config exits even when the app module keeps its event loop alive (a pool, a timer), pass or fail', async () => {
  const busy = fixture('cli/busy-app.mjs');
  // killed (SIGKILL) if still running after 10 s: status null then
  const bounded = (args) => spawnSync(process.execPath, [BIN, ...args], { timeout: 10_000, killSignal: 'SIGKILL' }).status;
  assert.equal(bounded(['--check-config', busy]), 0);
  assert.equal(bounded(['--check-config', `${busy}:nope`]), 1);
});

test('--help and docs/cli.md list every flag; --version prints the version', async () => {
  const { OPTION_FLAGS, GUNICORN_ONLY } = await import('../dist/esm/cli/args.js');
  const help = await cli(['--help']);
  assert.equal(help.code, 0);
  for (const [name, flag] of Object.entries(OPTION_FLAGS)) {
    assert.ok(help.stdout.includes(`--${name} `), `--${name} in --help`);
    if (flag.short) assert.ok(help.stdout.includes(`-${flag.short}, --${name}`), `-${flag.short} in --help`);
  }
  for (const other of ['--config', '--check-config', '--print-config', '--version', '--no-control-socket', 'ls', 'status', 'reload', 'scale', 'stop', 'upgrade', 'reopen', 'events', 'top', '--interval', '--no-color']) {
    assert.ok(help.stdout.includes(other), `${other} in --help`);
  }
  const doc = readFileSync(new URL('../docs/cli.md', import.meta.url), 'utf8');
  for (const [name, flag] of Object.entries(OPTION_FLAGS)) {
    assert.ok(doc.includes(`\`--${name} `) || doc.includes(`--${name} ${flag.value}`) || (flag.kind === 'boolean' && doc.includes(`\`--${name}\``)), `--${name} in docs/cli.md`);
  }
  for (const name of Object.keys(GUNICORN_ONLY)) assert.ok(doc.includes(`\`--${name}\``), `gunicorn's --${name} in docs/cli.md's table of flags arbiter does not have`);
  const version = await cli(['-v']);
  assert.equal(version.stdout, `arbiter ${JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version}\n`);
});

test('status tables: human units', async () => {
  const { formatDuration, formatBytes, formatPercent, table } = await import('../dist/esm/cli/format.js');
  assert.deepEqual([120, 12_000, 192_000, 3 * 3_600_000 + 5 * 60_000, 2 * 86_400_000 + 3_600_000, null].map(formatDuration), ['120ms', '12s', '3m12s', '3h05m', '2d01h', '-']);
  assert.deepEqual([512, 48.2 * 2 ** 20, 1.5 * 2 ** 30, null].map(formatBytes), ['512 B', '48.2 MB', '1.5 GB', '-']);
  assert.deepEqual([0.44, 101, null].map(formatPercent), ['0.4%', '101.0%', '-']);
  assert.equal(table(['A', 'BB'], [['1', 'x'], ['100', 'yy']], new Set([0])), '  A  BB\n  1  x\n100  yy');
});

test('gunicorn habits: a misspelled flag gets "did you mean"; a gunicorn flag arbiter lacks says why and what instead; exit 1, one line, nothing left behind', async (t) => {
  const env = { XDG_RUNTIME_DIR: runtimeDir(t) };
  const gunicorns = "is gunicorn's: ";
  const cases = [
    [['--wokers', '2', APP], /^arbiter: unknown option --wokers \(did you mean --workers\?\)$/],
    [['--wokers=2', APP], /^arbiter: unknown option --wokers \(did you mean --workers\?\)$/],
    [['--graceful_timeout', '5', APP], /^arbiter: unknown option --graceful_timeout \(did you mean --graceful-timeout\?\)$/],
    [['--max-request', '5', APP], /^arbiter: unknown option --max-request \(did you mean --max-requests\?\)$/],
    [['--chek-config', APP], /^arbiter: unknown option --chek-config \(did you mean --check-config\?\)$/],
    [['status', '--jsn'], /^arbiter: unknown option --jsn \(did you mean --json\?\)$/],
    [['--preload', APP], new RegExp(`^arbiter: --preload ${gunicorns}arbiter's workers are spawned, not forked, so each loads the app itself .*no fork\\(\\) copy-on-write.*--spare-workers N$`)],
    [['-D', APP], new RegExp(`^arbiter: -D/--daemon ${gunicorns}arbiter stays in the foreground: run it under systemd, .*\\(docs/deploy.md\\)$`)],
    [['--daemon', APP], /^arbiter: --daemon is gunicorn's: arbiter stays in the foreground/],
    [['--worker-tmp-dir', '/dev/shm', APP], /^arbiter: --worker-tmp-dir is gunicorn's: not needed: a worker's heartbeat is a shared-memory counter that a watchdog thread checks/],
    [['--reload-engine', 'inotify', APP], /^arbiter: --reload-engine is gunicorn's: not needed: --reload watches .*fs\.watch/],
    [['--ciphers', 'HIGH', APP], /^arbiter: --ciphers is gunicorn's: Node's TLS defaults apply .*NODE_OPTIONS/],
    [['--ssl-version=3', APP], /^arbiter: --ssl-version is gunicorn's: Node's TLS defaults apply/],
    [['--error-logfile', 'e.log', APP], /^arbiter: --error-logfile is gunicorn's: arbiter logs to stderr: redirect it/],
    [['--chdir', '/srv/app', APP], /^arbiter: --chdir is gunicorn's: arbiter finds the module and the -c file from the current directory: cd there first/],
    [['--paste', 'development.ini'], /^arbiter: --paste is gunicorn's: PasteDeploy is Python's: name the JS module and its export instead/],
    [['--statsd-host', 'localhost:8125', APP], /^arbiter: --statsd-host is gunicorn's: arbiter has no StatsD: the master serves Prometheus metrics at \/metrics of --status-bind ADDRESS$/],
    [['-k', 'gevent', APP], /^arbiter: -k\/--worker-class gevent: gevent is a Python worker that gives Python an event loop; a Node worker has one already: -k async \(the default\) serves many connections per worker\. arbiter's models: async \(the default\), sync \(one request at a time, gunicorn's default\), threaded$/],
    [['-k', 'eventlet', APP], /^arbiter: -k\/--worker-class eventlet: eventlet is a Python worker .*-k async/],
    [['--worker-class', 'uvicorn.workers.UvicornWorker', APP], /^arbiter: -k\/--worker-class uvicorn.workers.UvicornWorker: .*-k async \(the default\)/],
    [['-k', 'gthread', APP], /^arbiter: -k\/--worker-class gthread: gthread is gunicorn's threaded worker: use -k threaded --threads N/],
  ];
  const results = await Promise.all(cases.map(([args]) => cli(args, { env })));
  results.forEach((r, i) => {
    const [args, pattern] = cases[i];
    assert.equal(r.code, 1, `arbiter ${args.join(' ')} exits 1`);
    assert.equal(r.stdout, '', `arbiter ${args.join(' ')} prints nothing on stdout`);
    assert.equal(r.stderr.trimEnd().split('\n').length, 1, `one line for arbiter ${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr.trimEnd(), pattern, `arbiter ${args.join(' ')}`);
  });
  assert.ok(!existsSync(join(env.XDG_RUNTIME_DIR, 'arbiter')) || readdirSync(join(env.XDG_RUNTIME_DIR, 'arbiter')).length === 0, 'no control socket left');
  // -m/--umask is gunicorn's and arbiter's
  const umask = await cli(['-m', '027', '--print-config']);
  assert.equal(umask.code, 0, umask.stderr);
  assert.equal(JSON.parse(umask.stdout).umask, 0o27);
});

test('config files take milliseconds or unit strings; a bare duration below 1000 is refused, naming the option and how to write seconds', async (t) => {
  const dir = runtimeDir(t);
  const file = (name, text) => {
    writeFileSync(join(dir, name), text);
    return name;
  };
  const print = async (args) => {
    const r = await cli([...args, '--print-config'], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout);
  };
  const g = file('g.json', '{ "timeout": 30 }');
  for (const args of [['-c', g, '--print-config'], ['-c', g, '--check-config', APP], ['-c', g, APP]]) {
    const r = await cli(args, { cwd: dir });
    assert.equal(r.code, 1, `arbiter ${args.join(' ')}`);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, 'arbiter: config file g.json: timeout = 30 would be 30 ms (config files take milliseconds); write "30s" for 30 seconds, or 30000 ("30ms" if you do mean milliseconds)\n');
  }
  // a JS file's named exports too, for every duration option; 0 (off, at once) is not ambiguous
  const js = file('ka.mjs', 'export const timeout = 0;\nexport const keepAlive = 5;\n');
  const r = await cli(['-c', js, '--check-config', APP], { cwd: dir });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^arbiter: config file ka\.mjs: keepAlive = 5 would be 5 ms \(config files take milliseconds\); write "5s" for 5 seconds, or 5000/);
  for (const option of ['gracefulTimeout', 'bootTimeout', 'restartWindow']) {
    const bad = await cli(['-c', file(`${option}.json`, JSON.stringify({ [option]: 1 })), '--print-config'], { cwd: dir });
    assert.match(bad.stderr, new RegExp(`^arbiter: config file ${option}.json: ${option} = 1 would be 1 ms \\(config files take milliseconds\\); write "1s" for 1 second, or 1000 `));
  }

  const units = await print(['-c', file('u.json', JSON.stringify({ timeout: '30s', gracefulTimeout: '500ms', bootTimeout: '2m', keepAlive: 5000, restartWindow: '1h', maxWorkerMemory: '512mb' }))]);
  assert.deepEqual(
    [units.timeout, units.gracefulTimeout, units.bootTimeout, units.keepAlive, units.restartWindow, units.maxWorkerMemory],
    [30_000, 500, 120_000, 5000, 3_600_000, 512 * 2 ** 20],
    '--print-config prints milliseconds and bytes',
  );
  assert.equal((await print(['-c', file('zero.json', '{ "timeout": 0, "bootTimeout": 0 }')])).timeout, 0);
  const ok = await cli(['-c', 'u.json', '--check-config', APP], { cwd: dir });
  assert.equal(ok.code, 0, ok.stderr);
  const badUnit = await cli(['-c', file('bad-unit.json', '{ "timeout": "30 seconds" }'), '--print-config'], { cwd: dir });
  assert.equal(badUnit.code, 1);
  assert.match(badUnit.stderr, /^arbiter: config file bad-unit.json: Expected `timeout` to be a non-negative integer \(milliseconds\) or a duration with a unit such as "30s", "500ms", "2m" or "1h", got "30 seconds" \(string\)\n$/);
});

test('arbiter app resolves the module as Node would: app.js, app.mjs, app.cjs, app/index.js, a directory\'s main; app:export; packages as before', async (t) => {
  const env = { XDG_RUNTIME_DIR: runtimeDir(t) };
  const dir = runtimeDir(t); // no package.json above it: .js is CommonJS here
  const write = (name, text) => {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  };
  const cjs = (body) => `module.exports = (req, res) => res.end(${JSON.stringify(body)});\n`;
  write('web.js', cjs('web.js'));
  write('web.mjs', 'export default (req, res) => res.end("web.mjs");\n'); // .js comes first, as with require
  write('esm.mjs', 'export default (req, res) => res.end("esm.mjs");\nexport const server = (req, res) => res.end("esm.mjs:server");\n');
  write('legacy.cjs', cjs('legacy.cjs'));
  write('site/index.js', cjs('site/index.js'));
  write('site2/index.mjs', 'export const server = (req, res) => res.end("site2/index.mjs:server");\n');
  write('pkgdir/package.json', '{ "main": "lib/server" }');
  write('pkgdir/lib/server.js', cjs('pkgdir main'));
  write('node_modules/hello-pkg/package.json', '{ "name": "hello-pkg", "main": "main.js" }');
  write('node_modules/hello-pkg/main.js', cjs('hello-pkg'));
  write('empty/README', '');

  const cases = [
    ['web', 'web.js'],
    ['esm', 'esm.mjs'],
    ['esm:server', 'esm.mjs:server'],
    ['legacy', 'legacy.cjs'],
    ['site', 'site/index.js'],
    ['./site2:server', 'site2/index.mjs:server'],
    ['pkgdir', 'pkgdir main'],
    ['hello-pkg', 'hello-pkg'],
  ];
  await Promise.all(
    cases.map(async ([spec, body]) => {
      const port = await freePort();
      const m = Master.start(t, null, {}, { command: process.execPath, args: [BIN, '-w', '1', '-b', `127.0.0.1:${port}`, spec], env, cwd: dir });
      const res = await waitFor(() => request(port, '/').catch(() => undefined), () => `arbiter ${spec} serving\n${m.stderr}`, 30_000);
      assert.equal(res.body, body, `arbiter ${spec}`);
      m.signal('SIGTERM');
      assert.equal((await m.exited).code, 0);
    }),
  );

  for (const [spec, pattern] of [
    ['nope', /^arbiter: Cannot find the app module "nope" \(looked for \/.*\/nope, nope\.js, nope\.mjs, nope\.cjs, nope\/index\.js, nope\/index\.mjs, nope\/index\.cjs and for a package "nope"\); nor is it a command/],
    ['empty', /^arbiter: Cannot find the app module "empty" \(looked for .*empty\/index\.cjs and for a package "empty"\)/],
    ['./nope:server', /^arbiter: Cannot find the app module "\.\/nope" \(looked for \/.*\/nope, nope\.js, .*nope\/index\.cjs\)\n$/],
    ['esm:nope', /^arbiter: The app module esm\.mjs has no export `nope` \(it exports: default, server\)/],
  ]) {
    const r = await cli(['--check-config', spec], { cwd: dir });
    assert.equal(r.code, 1, `arbiter --check-config ${spec}`);
    assert.match(r.stderr, pattern);
  }
});

/** A GET to `host` (an IP address, v4 or v6) and `port`: the body. */
function get(host, port) {
  return new Promise((resolve, reject) => {
    http.get({ host, port, path: '/', agent: false, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

/** Whether this machine can bind ::1 (IPv6 may be disabled, e.g. in a container). */
async function hasIPv6Loopback() {
  const s = net.createServer();
  const ok = await new Promise((resolve) => s.once('error', () => resolve(false)).listen(0, '::1', () => resolve(true)));
  if (ok) await new Promise((r) => s.close(r));
  return ok;
}

const urlOf = (address, port) => (address.includes(':') ? `http://[${address}]:${port}` : `http://${address}:${port}`);

test('-b localhost:PORT binds every address localhost resolves to; -b tcp://host:port is host:port', async (t) => {
  const env = { XDG_RUNTIME_DIR: runtimeDir(t) };
  const port = await freePort();
  const addresses = [...new Set((await lookup('localhost', { all: true })).map((a) => a.address))];
  const m = serve(t, ['-w', '1', '-b', `localhost:${port}`, APP], env);
  await m.until(1);
  const listening = [...m.stderr.matchAll(/Listening at: (\S+)/g)].map((x) => x[1]);
  assert.deepEqual(listening, addresses.map((a) => urlOf(a, port)), m.stderr);
  assert.deepEqual((await json(['status'], env)).binds, addresses.map((a) => urlOf(a, port)));
  assert.equal(await get('127.0.0.1', port), 'hello v1');
  await t.test('::1 answers too', { skip: !addresses.includes('::1') && `localhost does not resolve to ::1 on this machine (${addresses.join(', ')}); the dual-stack test below covers two addresses` }, async () => {
    assert.equal(await get('::1', port), 'hello v1');
  });

  const tport = await freePort();
  const tm = serve(t, ['-w', '1', '-b', `tcp://127.0.0.1:${tport}`, APP], { XDG_RUNTIME_DIR: runtimeDir(t) });
  await tm.until(1);
  assert.match(tm.stderr, new RegExp(`Listening at: http://127\\.0\\.0\\.1:${tport} \\(${tm.pid}\\)`));
  assert.equal(await get('127.0.0.1', tport), 'hello v1');
});

test('a host name that resolves to 127.0.0.1 and ::1: both bound and listed, both kept across reload and USR2', { skip: !(await hasIPv6Loopback()) && 'cannot bind ::1 on this machine' }, async (t) => {
  const env = { XDG_RUNTIME_DIR: runtimeDir(t), NODE_OPTIONS: `--require ${fixture('cli/dual-stack-name.cjs')}` };
  const port = await freePort();
  const urls = [`http://127.0.0.1:${port}`, `http://[::1]:${port}`];
  const m = serve(t, ['-w', '1', '-b', `dual.arbiter.test:${port}`, APP], env);
  await m.until(1);
  assert.deepEqual([...m.stderr.matchAll(/Listening at: (\S+)/g)].map((x) => x[1]), urls);
  assert.deepEqual((await json(['ls'], env))[0].binds, urls);
  assert.deepEqual(await Promise.all([get('127.0.0.1', port), get('::1', port)]), ['hello v1', 'hello v1']);

  // reload keeps both listeners (one bind spec, two sockets)
  const r = await cli(['reload'], { env });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual((await json(['status'], env)).binds, urls);
  assert.deepEqual(await Promise.all([get('127.0.0.1', port), get('::1', port)]), ['hello v1', 'hello v1']);

  // USR2 hands both sockets to the new master, which serves on both once the old one is gone
  assert.equal((await cli(['upgrade'], { env })).code, 0);
  const next = await m.newMaster();
  await waitFor(async () => (await json(['ls'], env)).length === 2, 'two masters');
  assert.deepEqual((await json(['status', String(next)], env)).binds, urls);
  m.signal('SIGTERM');
  await m.exited;
  await waitFor(async () => (await json(['ls'], env)).map((x) => x.pid).join() === String(next), 'the new master alone');
  assert.deepEqual(await Promise.all([get('127.0.0.1', port), get('::1', port)]), ['hello v1', 'hello v1']);
  assert.equal((await cli(['stop'], { env })).code, 0);
  await waitFor(() => !isAlive(next), 'the new master to exit');

  // port 0: every address gets the port the first one got
  const zero = serve(t, ['-w', '1', '-b', 'dual.arbiter.test:0', APP], { ...env, XDG_RUNTIME_DIR: runtimeDir(t) });
  await zero.until(1);
  const ports = [...zero.stderr.matchAll(/Listening at: http:\/\/(?:127\.0\.0\.1|\[::1\]):(\d+)/g)].map((x) => Number(x[1]));
  assert.equal(ports.length, 2, zero.stderr);
  assert.equal(ports[0], ports[1]);
  assert.deepEqual(await Promise.all([get('127.0.0.1', ports[0]), get('::1', ports[0])]), ['hello v1', 'hello v1']);
});
