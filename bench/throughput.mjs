#!/usr/bin/env node
// Side-by-side HTTP throughput/latency benchmark: arbiter vs node:cluster vs PM2.
//
//   npm run build && node bench/throughput.mjs [--workers 2] [--duration 5] [--rounds 3] ...
//
// Every contender serves the same handler (bench/servers/handler.cjs: `res.end('hello\n')`) with
// the same number of worker processes on 127.0.0.1 and a fresh free port:
//   arbiter       arbiter, workerClass 'async' (the master never accepts; workers accept directly)
//   cluster-rr    node:cluster, default SCHED_RR (the primary accepts and hands each connection over)
//   cluster-none  node:cluster, SCHED_NONE (the workers share the socket and accept directly)
//   pm2           PM2 cluster mode, `pm2 start plain.cjs -i N` (PM2's daemon is a SCHED_RR primary)
// Two scenarios: keep-alive requests, and a new connection per request (`Connection: close`).
// Each contender runs `rounds` times (order rotated every round); the report gives medians and
// ratios against cluster-rr, and the CPU each server process used (from /proc). Runs during which
// something outside the bench used CPU are detected, repeated and left out of the medians. Load comes from `wrk` when it is on PATH, otherwise from
// bench/loadgen.mjs (Node http clients in a child process). Run with --help for every option.
//
// PM2 is installed on first use into a cache directory outside the repo (npm install --prefix);
// its daemon runs with a private PM2_HOME in a temp directory and is always killed at the end.
// Every process started here is stopped on exit, on error, on SIGINT/SIGTERM and at a global deadline.
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..');
const serversDir = path.join(here, 'servers');
const HOST = '127.0.0.1';
const ALL = ['arbiter', 'cluster-rr', 'cluster-none', 'pm2'];
const BASELINE = 'cluster-rr';
const SCENARIOS = {
  keepalive: 'keep-alive',
  close: 'new connection per request (Connection: close)',
};

// ---------------------------------------------------------------------------------------------
// Options: --name value, --name=value, or the BENCH_NAME environment variable.

const OPTIONS = {
  workers: ['BENCH_WORKERS', '2', 'worker processes per contender'],
  duration: ['BENCH_DURATION', '5', 'seconds of load per measured run'],
  rounds: ['BENCH_ROUNDS', '3', 'runs per contender and scenario (the report gives the median)'],
  warmup: ['BENCH_WARMUP', '1', 'seconds of unmeasured keep-alive load after each start'],
  connections: ['BENCH_CONNECTIONS', '50', 'concurrent client connections'],
  threads: ['BENCH_THREADS', '1', 'wrk threads'],
  loadgen: ['BENCH_LOADGEN', 'auto', 'auto | wrk | node'],
  only: ['BENCH_ONLY', ALL.join(','), 'comma-separated contenders to run'],
  scenarios: ['BENCH_SCENARIOS', 'keepalive,close', 'comma-separated: keepalive, close'],
  'pm2-dir': ['BENCH_PM2_DIR', path.join(os.tmpdir(), 'arbiter-bench-pm2'), 'where PM2 is installed on first use'],
  'pm2-version': ['BENCH_PM2_VERSION', 'latest', 'PM2 version to install'],
  'max-other': ['BENCH_MAX_OTHER', '25', 'a run during which processes outside the bench used more than this % of a core is repeated'],
  retries: ['BENCH_RETRIES', '2', 'how many times a noisy run is repeated at most (the last try is kept)'],
  json: ['BENCH_JSON', '', 'also write every raw result to this JSON file'],
  'report-from': ['BENCH_REPORT_FROM', '', 'run nothing: print the report of a file written by --json'],
  'max-seconds': ['BENCH_MAX_SECONDS', '', 'hard deadline for the whole run (default: 3 x estimate + 180)'],
};

function parseArgs(argv) {
  const opts = {};
  for (const [name, [env, def]] of Object.entries(OPTIONS)) opts[name] = process.env[env] ?? def;
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') {
      usage();
      process.exit(0);
    }
    if (arg === '--no-pm2') {
      opts.only = opts.only
        .split(',')
        .filter((c) => c !== 'pm2')
        .join(',');
      continue;
    }
    const m = /^--([a-z0-9-]+)(?:=(.*))?$/.exec(arg);
    if (!m || !(m[1] in OPTIONS)) {
      console.error(`unknown argument: ${arg}\n`);
      usage();
      process.exit(2);
    }
    const value = m[2] ?? argv[++i];
    if (value === undefined) {
      console.error(`--${m[1]} needs a value`);
      process.exit(2);
    }
    opts[m[1]] = value;
  }
  const int = (name, min) => {
    const v = Number(opts[name]);
    if (!Number.isInteger(v) || v < min) {
      console.error(`--${name} must be an integer >= ${min}, not '${opts[name]}'`);
      process.exit(2);
    }
    return v;
  };
  const list = (name, allowed) => {
    const v = String(opts[name])
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const bad = v.filter((s) => !allowed.includes(s));
    if (bad.length || !v.length) {
      console.error(`--${name}: expected a comma-separated subset of ${allowed.join(', ')}, not '${opts[name]}'`);
      process.exit(2);
    }
    return allowed.filter((s) => v.includes(s));
  };
  if (!['auto', 'wrk', 'node'].includes(opts.loadgen)) {
    console.error(`--loadgen must be auto, wrk or node, not '${opts.loadgen}'`);
    process.exit(2);
  }
  return {
    workers: int('workers', 1),
    duration: int('duration', 1),
    rounds: int('rounds', 1),
    warmup: int('warmup', 0),
    connections: int('connections', 1),
    threads: int('threads', 1),
    loadgen: opts.loadgen,
    only: list('only', ALL),
    scenarios: list('scenarios', Object.keys(SCENARIOS)),
    pm2Dir: path.resolve(opts['pm2-dir']),
    pm2Version: opts['pm2-version'],
    maxOther: int('max-other', 0),
    retries: int('retries', 0),
    json: opts.json ? path.resolve(opts.json) : '',
    reportFrom: opts['report-from'] ? path.resolve(opts['report-from']) : '',
    maxSeconds: opts['max-seconds'] ? int('max-seconds', 10) : 0,
  };
}

function usage() {
  console.error('usage: node bench/throughput.mjs [options]   (run `npm run build` first)\n');
  for (const [name, [env, def, what]] of Object.entries(OPTIONS)) {
    console.error(`  --${name.padEnd(12)} ${what}\n  ${' '.repeat(14)} env ${env}, default ${def || '(none)'}`);
  }
  console.error('  --no-pm2       skip PM2 (same as leaving pm2 out of --only)');
}

// ---------------------------------------------------------------------------------------------
// Small helpers.

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (msg) => process.stderr.write(`[bench] ${msg}\n`);

function which(cmd) {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const p = path.join(dir, cmd);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return null;
}

async function freePort() {
  const s = net.createServer();
  await new Promise((resolve, reject) => {
    s.once('error', reject);
    s.listen(0, HOST, resolve);
  });
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

/** One GET without keep-alive; resolves true on a 200 'hello\n'. */
function probe(port) {
  return new Promise((resolve) => {
    const req = http.get({ host: HOST, port, path: '/', agent: false, timeout: 2000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve(res.statusCode === 200 && body === 'hello\n'));
      res.on('error', () => resolve(false));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

/** `/proc/<pid>/stat` fields we need, or null when the process is gone or a zombie. */
function procStat(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    // f[0] is field 3 (state): utime is field 14, stime 15, starttime 22.
    if (f[0] === 'Z') return null;
    return { ticks: Number(f[11]) + Number(f[12]), start: f[19], comm: text.slice(text.indexOf('(') + 1, text.lastIndexOf(')')) };
  } catch {
    return null;
  }
}

function childrenOf(pid) {
  const out = [];
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const text = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
      if (text) out.push(...text.split(/\s+/).map(Number));
    }
  } catch {
    // gone, or no /proc
  }
  return out;
}

/** pid and every live descendant, root first. */
function tree(pid) {
  const out = [];
  const todo = [pid];
  while (todo.length) {
    const p = todo.shift();
    if (!procStat(p)) continue;
    out.push(p);
    todo.push(...childrenOf(p));
  }
  return out;
}

const CLK_TCK = (() => {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const n = Number(r.stdout?.trim());
  return Number.isFinite(n) && n > 0 ? n : 100;
})();

const median = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

// ---------------------------------------------------------------------------------------------
// Process bookkeeping: everything we start is recorded (pid + start time, so a recycled pid is
// never signalled) and killed on the way out, whatever the way out is.

const tracked = new Map(); // pid -> starttime
let currentLoad = null; // the running load generator ChildProcess
const helpers = new Set(); // running npm / pm2 CLI ChildProcesses
let pm2State = null; // { home, bin, env } while a PM2 daemon may be up
let tempRoot = null;

function track(pid) {
  const st = procStat(pid);
  if (st) tracked.set(pid, st.start);
}

function trackTree(root) {
  for (const pid of tree(root)) track(pid);
}

function killTracked(signal = 'SIGKILL') {
  for (const [pid, start] of tracked) {
    const st = procStat(pid);
    if (st && st.start === start) {
      try {
        process.kill(pid, signal);
      } catch {
        // gone
      }
    } else {
      tracked.delete(pid);
    }
  }
}

function anyTrackedAlive() {
  for (const [pid, start] of tracked) {
    const st = procStat(pid);
    if (st && st.start === start) return true;
  }
  return false;
}

function pm2KillSync() {
  if (!pm2State) return;
  spawnSync(process.execPath, [pm2State.bin, 'kill'], { env: pm2State.env, stdio: 'ignore', timeout: 15_000 });
  const pid = pm2DaemonPid();
  if (pid) {
    trackTree(pid);
    killTracked('SIGKILL');
  }
}

let cleanedUp = false;
function cleanupSync() {
  if (cleanedUp) return;
  cleanedUp = true;
  for (const c of [currentLoad, ...helpers]) {
    try {
      c?.kill('SIGKILL');
    } catch {
      // gone
    }
  }
  pm2KillSync();
  killTracked('SIGKILL');
  if (tempRoot) rmSync(tempRoot, { recursive: true, force: true });
}

process.on('exit', cleanupSync);
let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    if (interrupted) return;
    interrupted = true;
    log(`${sig}: stopping every process started by the bench`);
    abort(130);
  });
}

/** Stops the load generator and the server (bounded), then exits; exit runs the hard cleanup. */
async function abort(code) {
  const load = currentLoad;
  if (load && load.exitCode === null && load.signalCode === null) {
    const gone = new Promise((r) => load.once('exit', r));
    load.kill('SIGKILL');
    await Promise.race([gone, sleep(2000)]);
  }
  await Promise.race([stopCurrentServer().catch((err) => log(`stop failed: ${err.message}`)), sleep(8000)]);
  process.exit(code);
}

// ---------------------------------------------------------------------------------------------
// Servers.

let currentServer = null;

function spawnServer(name, script, env) {
  const child = spawn(process.execPath, [script], {
    cwd: repo,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own process group, so a stuck tree can still be found and killed
  });
  track(child.pid);
  let output = '';
  const keep = (d) => {
    output = (output + d).slice(-8000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise((r) => child.once('exit', (code, signal) => r({ code, signal })));
  return { name, child, root: child.pid, exited, output: () => output };
}

async function waitReady(server, port, readyDir, workers, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let exited = null;
  server.exited?.then((e) => (exited = e));
  for (;;) {
    if (exited) throw new Error(`${server.name} exited during startup (${exited.signal ?? exited.code})\n${server.output?.() ?? ''}`);
    const markers = existsSync(readyDir) ? readdirSync(readyDir).length : 0;
    if (markers >= workers && (await probe(port))) break;
    if (Date.now() > deadline) {
      throw new Error(`${server.name}: ${markers}/${workers} workers ready after ${timeoutMs} ms\n${server.output?.() ?? ''}`);
    }
    await sleep(50);
  }
  if (server.root) trackTree(server.root);
}

async function startServer(name, cfg) {
  const port = await freePort();
  const readyDir = mkdtempSync(path.join(tempRoot, `${name}-ready-`));
  const env = {
    BENCH_HOST: HOST,
    BENCH_PORT: String(port),
    BENCH_WORKERS: String(cfg.workers),
    BENCH_READY_DIR: readyDir,
  };
  let server;
  if (name === 'arbiter') {
    server = spawnServer(name, path.join(serversDir, 'arbiter.mjs'), env);
  } else if (name === 'cluster-rr' || name === 'cluster-none') {
    server = spawnServer(name, path.join(serversDir, 'cluster.mjs'), { ...env, BENCH_SCHED: name === 'cluster-rr' ? 'rr' : 'none' });
  } else if (name === 'pm2') {
    server = await startPm2(env, cfg.workers);
  } else {
    throw new Error(`unknown contender ${name}`);
  }
  currentServer = server;
  await waitReady(server, port, readyDir, cfg.workers, name === 'pm2' ? 60_000 : 30_000);
  return { ...server, port };
}

async function stopCurrentServer() {
  const server = currentServer;
  currentServer = null;
  if (!server) {
    if (pm2State) await stopPm2(); // `pm2 start` failed or was interrupted half-way
    return;
  }
  if (server.name === 'pm2') {
    await stopPm2();
  } else {
    try {
      process.kill(server.root, 'SIGTERM');
    } catch {
      // gone
    }
    const done = await Promise.race([server.exited.then(() => true), sleep(10_000).then(() => false)]);
    if (!done) {
      log(`${server.name} did not stop within 10 s of SIGTERM; killing its process group`);
      try {
        process.kill(-server.root, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
  // Workers that outlived their master (they should not) are killed by pid.
  for (let i = 0; i < 40 && anyTrackedAlive(); i += 1) await sleep(50);
  if (anyTrackedAlive()) {
    log(`${server.name}: processes left after stop; killing them`);
    killTracked('SIGKILL');
  }
  tracked.clear();
}

// ---------------------------------------------------------------------------------------------
// PM2.

function pm2DaemonPid() {
  if (!pm2State) return 0;
  try {
    const pid = Number(readFileSync(path.join(pm2State.home, 'pm2.pid'), 'utf8').trim());
    return pid > 0 && procStat(pid) ? pid : 0;
  } catch {
    return 0;
  }
}

function runCapture(cmd, args, env, timeoutMs) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: repo, env, stdio: ['ignore', 'pipe', 'pipe'] });
    helpers.add(child);
    child.once('exit', () => helpers.delete(child));
    let out = '';
    child.stdout.on('data', (d) => (out = (out + d).slice(-20000)));
    child.stderr.on('data', (d) => (out = (out + d).slice(-20000)));
    const timer = setTimeout(() => {
      out += `\n(killed after ${timeoutMs} ms)`;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ code: -1, out: `${out}\n${err.message}` });
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : -1), out });
    });
  });
}

/** Finds or installs PM2; returns { bin, version } or null with a message printed. */
async function ensurePm2(cfg) {
  const bin = path.join(cfg.pm2Dir, 'node_modules', 'pm2', 'bin', 'pm2');
  const version = () => {
    try {
      return JSON.parse(readFileSync(path.join(cfg.pm2Dir, 'node_modules', 'pm2', 'package.json'), 'utf8')).version;
    } catch {
      return null;
    }
  };
  if (existsSync(bin) && version()) return { bin, version: version() };
  const npm = which('npm');
  if (!npm) {
    log('PM2 skipped: npm is not on PATH, so PM2 cannot be installed');
    return null;
  }
  log(`installing pm2@${cfg.pm2Version} into ${cfg.pm2Dir} (first use only) ...`);
  mkdirSync(cfg.pm2Dir, { recursive: true });
  const r = await runCapture(
    npm,
    ['install', '--prefix', cfg.pm2Dir, '--no-audit', '--no-fund', '--no-save', '--loglevel=error', `pm2@${cfg.pm2Version}`],
    { ...process.env, npm_config_update_notifier: 'false' },
    180_000,
  );
  if (r.code !== 0 || !existsSync(bin) || !version()) {
    log(`PM2 skipped: 'npm install --prefix ${cfg.pm2Dir} pm2@${cfg.pm2Version}' failed (exit ${r.code}):\n${r.out.trim()}`);
    return null;
  }
  return { bin, version: version() };
}

async function startPm2(env, workers) {
  const home = mkdtempSync(path.join(tempRoot, 'pm2-home-'));
  pm2State = {
    home,
    bin: pm2Info.bin,
    // PM2_HOME keeps the daemon, its sockets and logs private to this run; the app inherits the
    // BENCH_* variables from the CLI's environment.
    env: { ...process.env, ...env, PM2_HOME: home, PM2_DISABLE_VERSION_CHECK: 'true' },
  };
  const r = await runCapture(
    process.execPath,
    [pm2State.bin, 'start', path.join(serversDir, 'plain.cjs'), '-i', String(workers), '--name', 'arbiter-bench', '--no-autorestart'],
    pm2State.env,
    60_000,
  );
  const daemon = pm2DaemonPid();
  if (daemon) trackTree(daemon);
  if (r.code !== 0 || !daemon) throw new Error(`pm2 start failed (exit ${r.code}):\n${r.out.trim()}`);
  const logs = () => {
    try {
      return readdirSync(path.join(home, 'logs'))
        .map((f) => `--- ${f}\n${readFileSync(path.join(home, 'logs', f), 'utf8').slice(-2000)}`)
        .join('\n');
    } catch {
      return '';
    }
  };
  return { name: 'pm2', root: daemon, exited: null, output: logs };
}

async function stopPm2() {
  if (!pm2State) return;
  const daemon = pm2DaemonPid();
  if (daemon) trackTree(daemon);
  const r = await runCapture(process.execPath, [pm2State.bin, 'kill'], pm2State.env, 20_000);
  if (r.code !== 0) log(`pm2 kill exited ${r.code}:\n${r.out.trim()}`);
  for (let i = 0; i < 60 && anyTrackedAlive(); i += 1) await sleep(50);
  killTracked('SIGKILL');
  rmSync(pm2State.home, { recursive: true, force: true });
  pm2State = null;
}

// ---------------------------------------------------------------------------------------------
// Load generation.

function parseWrkDuration(s) {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(s);
  if (!m) return NaN;
  const v = Number(m[1]);
  return { us: v / 1000, ms: v, s: v * 1000, m: v * 60_000 }[m[2]];
}

function parseWrk(out) {
  const rps = Number(/Requests\/sec:\s*([\d.]+)/.exec(out)?.[1]);
  const requests = Number(/(\d+) requests in ([\d.]+)(\w+)/.exec(out)?.[1]);
  const pct = (p) => parseWrkDuration(new RegExp(`^\\s+${p}%\\s+(\\S+)`, 'm').exec(out)?.[1] ?? '');
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  const errors = (sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0) + non2xx;
  return { requests, rps, p50Ms: pct(50), p99Ms: pct(99), errors, errorDetail: sock ? sock[0] : '' };
}

function runLoad(cfg, port, mode, seconds) {
  const url = `http://${HOST}:${port}/`;
  let cmd;
  let args;
  if (cfg.loadgenKind === 'wrk') {
    cmd = cfg.wrk;
    args = ['-t', String(Math.min(cfg.threads, cfg.connections)), '-c', String(cfg.connections), '-d', `${seconds}s`, '--latency', '--timeout', '5s'];
    if (mode === 'close') args.push('-H', 'Connection: close');
    args.push(url);
  } else {
    cmd = process.execPath;
    args = [path.join(here, 'loadgen.mjs'), url, String(cfg.connections), String(seconds), mode];
  }
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    currentLoad = child;
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), (seconds + 20) * 1000);
    child.on('error', (err) => {
      clearTimeout(timer);
      currentLoad = null;
      reject(err);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      currentLoad = null;
      if (code !== 0) return reject(new Error(`load generator exited ${signal ?? code}:\n${out}`));
      try {
        const r = cfg.loadgenKind === 'wrk' ? parseWrk(out) : JSON.parse(out.trim().split('\n').pop());
        if (!Number.isFinite(r.rps)) throw new Error('no Requests/sec');
        resolve(r);
      } catch (err) {
        reject(new Error(`cannot read the load generator's output (${err.message}):\n${out}`));
      }
    });
  });
}

/** Machine-wide busy ticks (all cores) from /proc/stat, or NaN without /proc. */
function machineBusyTicks() {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal: busy = all - idle - iowait (guest is inside user).
    return f.slice(0, 8).reduce((a, b) => a + b, 0) - f[3] - f[4];
  } catch {
    return NaN;
  }
}

/** This process's own CPU ticks, and those of its reaped children (the load generator, once it exits). */
function selfTicks() {
  try {
    const st = readFileSync('/proc/self/stat', 'utf8');
    const f = st.slice(st.lastIndexOf(')') + 2).split(' ').map(Number);
    return { self: f[11] + f[12], children: f[13] + f[14] };
  } catch {
    return { self: NaN, children: NaN }; // no /proc (not Linux): CPU columns stay empty
  }
}

/** % of one core the machine spent busy during `ms` of sleep. */
async function machineBusyPct(ms) {
  const b0 = machineBusyTicks();
  const t = process.hrtime.bigint();
  await sleep(ms);
  const seconds = Number(process.hrtime.bigint() - t) / 1e9;
  return (100 * (machineBusyTicks() - b0)) / CLK_TCK / seconds;
}

/** Before a start, waits (at most 15 s) while something else keeps the shared machine busy. */
async function waitQuiet(cfg) {
  const deadline = Date.now() + 15_000;
  let busy = await machineBusyPct(300);
  if (!(busy > cfg.maxOther)) return;
  log(`machine ${fmt.pct(busy)} busy (of one core) outside the bench: waiting up to 15 s for it to calm down`);
  while (busy > cfg.maxOther && Date.now() < deadline) busy = await machineBusyPct(500);
}

/** CPU ticks per live process of the server tree. */
function cpuSnapshot(root) {
  const snap = new Map();
  for (const pid of tree(root)) {
    const st = procStat(pid);
    if (st) snap.set(pid, st.ticks);
  }
  return snap;
}

/** CPU use during a run: the root (master/primary/PM2 daemon) and each worker, in % of one core. */
function cpuDelta(root, before, after, seconds) {
  const pct = (ticks) => (100 * ticks) / CLK_TCK / seconds;
  let master = 0;
  const workers = [];
  for (const [pid, t1] of after) {
    const t0 = before.get(pid) ?? 0;
    if (pid === root) master = pct(t1 - t0);
    else workers.push(pct(t1 - t0));
  }
  workers.sort((a, b) => b - a);
  if (!after.size) return { master: NaN, workers: [], total: NaN }; // no /proc
  return { master, workers, total: master + workers.reduce((a, b) => a + b, 0) };
}

/** One measured run of `scen` against a started server, with where the machine's CPU went. */
async function measure(cfg, server, scen) {
  const before = cpuSnapshot(server.root);
  const me0 = selfTicks();
  const busy0 = machineBusyTicks();
  const t = process.hrtime.bigint();
  const r = await runLoad(cfg, server.port, scen, cfg.duration);
  const seconds = Number(process.hrtime.bigint() - t) / 1e9;
  const busy1 = machineBusyTicks();
  const me1 = selfTicks();
  r.seconds = seconds;
  r.cpu = cpuDelta(server.root, before, cpuSnapshot(server.root), seconds);
  // The rest of the machine's CPU: the load generator (a child of this process, reaped when it
  // exits, so it shows in our cutime), this process, and anything else on the box (should be ~0).
  const pct = (ticks) => (100 * ticks) / CLK_TCK / seconds;
  r.cpu.client = pct(me1.children - me0.children);
  r.cpu.machine = pct(busy1 - busy0);
  r.cpu.other = Math.max(0, r.cpu.machine - r.cpu.total - r.cpu.client - pct(me1.self - me0.self));
  return r;
}

// ---------------------------------------------------------------------------------------------
// Report.

const fmt = {
  rps: (v) => (Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : '—'),
  ms: (v) => (Number.isFinite(v) ? (v < 10 ? v.toFixed(2) : v.toFixed(1)) : '—'),
  x: (v) => (Number.isFinite(v) ? `${v.toFixed(2)}x` : '—'),
  pct: (v) => (Number.isFinite(v) ? `${Math.round(v)}%` : '—'),
};

/** The busiest worker's share of all workers' CPU in one run (1/workers = perfectly even). */
const busiestShare = (r) => {
  const w = r.cpu?.workers ?? [];
  const sum = w.reduce((a, b) => a + b, 0);
  return w.length > 1 && sum > 0 ? w[0] / sum : NaN;
};

function summarize(allRuns) {
  // Runs during which something outside the bench took CPU measure that something, not the
  // contender: they count only when a cell has no clean run at all.
  const clean = allRuns.filter((r) => !r.noisy);
  const runs = clean.length ? clean : allRuns;
  const rpsList = runs.map((r) => r.rps);
  const med = median(rpsList);
  return {
    n: runs.length,
    total: allRuns.length,
    clean: clean.length,
    rps: med,
    spread: runs.length > 1 ? (Math.max(...rpsList) - Math.min(...rpsList)) / med : NaN,
    p50: median(runs.map((r) => r.p50Ms)),
    p99: median(runs.map((r) => r.p99Ms)),
    errors: runs.reduce((a, r) => a + (r.errors || 0), 0),
    master: median(runs.map((r) => r.cpu?.master)),
    workers: median(runs.map((r) => r.cpu?.workers.reduce((a, b) => a + b, 0))),
    // CPU microseconds the whole server tree spent per request (a load-independent efficiency measure).
    cpuPerReq: median(runs.map((r) => (r.cpu && r.requests ? (r.cpu.total / 100) * r.seconds * 1e6 / r.requests : NaN))),
    split: median(runs.map(busiestShare)),
    splitMax: Math.max(...runs.map(busiestShare).filter(Number.isFinite)),
  };
}

function report(cfg, env, results, contenders) {
  const lines = [];
  lines.push(`## HTTP throughput: arbiter vs node:cluster vs PM2`);
  lines.push('');
  lines.push(
    `${env.date} · Node ${process.version} · ${env.cpu} · ${env.cores} cores · ${env.kernel} · load: ${env.loadgen} · ` +
      `${cfg.workers} workers each · ${cfg.connections} connections · ${cfg.rounds} x ${cfg.duration} s per cell (median) · arbiter ${env.arbiter}` +
      (env.pm2 ? ` · PM2 ${env.pm2}` : ''),
  );
  lines.push('');
  lines.push(
    `> The load generator runs on the same ${env.cores} cores as the servers, so every number is "requests the ` +
      `whole box serves while also generating the load": CPU spent by a server process (for example a ` +
      `cluster primary passing connections) is CPU the workers and the client do not get.`,
  );
  for (const scen of cfg.scenarios) {
    lines.push('');
    lines.push(`### ${SCENARIOS[scen]}`);
    lines.push('');
    lines.push(
      `| contender | req/s (median) | vs ${BASELINE} | runs | spread | p50 ms | p99 ms | p99 vs ${BASELINE} | master CPU | workers CPU | busiest worker (worst) | server CPU µs/req | errors |`,
    );
    lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    const base = results[BASELINE]?.[scen]?.length ? summarize(results[BASELINE][scen]) : null;
    for (const c of contenders) {
      const runs = results[c]?.[scen] ?? [];
      if (!runs.length) {
        lines.push(`| ${c} | skipped | | | | | | | | | | | |`);
        continue;
      }
      const s = summarize(runs);
      lines.push(
        `| ${c} | ${fmt.rps(s.rps)} | ${base ? fmt.x(s.rps / base.rps) : '—'} | ${s.clean === s.total ? s.total : s.clean ? `${s.clean} of ${s.total}` : `${s.total}, all noisy`} | ±${fmt.pct((s.spread * 100) / 2)} | ${fmt.ms(s.p50)} | ${fmt.ms(s.p99)} | ` +
          `${base ? fmt.x(s.p99 / base.p99) : '—'} | ${fmt.pct(s.master)} | ${fmt.pct(s.workers)} | ${fmt.pct(s.split * 100)} (${fmt.pct(s.splitMax * 100)}) | ${Math.round(s.cpuPerReq)} | ${s.errors} |`,
      );
    }
  }
  lines.push('');
  lines.push(
    'Columns: req/s is the median over the rounds and "vs cluster-rr" its ratio to cluster-rr\'s median (higher is better); ' +
      `runs is how many runs the medians use ("2 of 3": one run was still noisy after ${cfg.retries} repeats and is left out; ` +
      '"all noisy": none was clean, all are used); spread is half the max-min range of req/s over the rounds, relative to the median; p50/p99 are the medians of each ' +
      'run\'s percentiles (p99 vs cluster-rr: lower is better); master CPU is the arbiter master / cluster primary / PM2 ' +
      'daemon and workers CPU the sum over workers, in % of one core; busiest worker is its share of the workers\' CPU ' +
      'in the median run and, in parentheses, the worst run (50% = perfectly even with 2 workers); server CPU µs/req is all server processes\' CPU time per request served.',
  );
  const kept = contenders.flatMap((c) => cfg.scenarios.flatMap((scen) => results[c]?.[scen] ?? []));
  const worst = Math.max(...kept.map((r) => r.cpu?.other).filter(Number.isFinite));
  const noisy = kept.filter((r) => r.noisy).length;
  lines.push('');
  lines.push(
    `Machine: ${fmt.pct(env.busyBefore)} of a core busy before the start; in the kept runs, processes outside the bench used at most ` +
      `${fmt.pct(worst)} of a core; ${env.repeated} run(s) repeated because something else was running` +
      (noisy ? `; ${noisy} run(s) were still noisy after the repeats (other CPU > ${cfg.maxOther}%) and are left out of the medians where the cell has a clean run.` : '.'),
  );
  lines.push('');
  lines.push('Ratios to cluster-rr (req/s, median):');
  lines.push('');
  for (const c of contenders) {
    if (c === BASELINE) continue;
    const parts = cfg.scenarios.map((scen) => {
      const a = results[c]?.[scen];
      const b = results[BASELINE]?.[scen];
      if (!a?.length || !b?.length) return `${scen}: —`;
      return `${scen} ${fmt.x(summarize(a).rps / summarize(b).rps)}`;
    });
    lines.push(`- ${c}/${BASELINE}: ${parts.join(', ')}`);
  }
  return lines.join('\n');
}

function rawTable(cfg, results, contenders) {
  const lines = ['', '<details><summary>every run</summary>', '', '| contender | scenario | round | slot | req/s | p50 ms | p99 ms | master CPU | worker CPU | client CPU | other CPU | errors |', '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|'];
  for (const c of contenders) {
    for (const scen of cfg.scenarios) {
      for (const r of results[c]?.[scen] ?? []) {
        lines.push(
          `| ${c} | ${scen} | ${r.round + 1} | ${r.slot + 1} | ${fmt.rps(r.rps)} | ${fmt.ms(r.p50Ms)} | ${fmt.ms(r.p99Ms)} | ${fmt.pct(r.cpu?.master)} | ` +
            `${r.cpu ? r.cpu.workers.map((w) => fmt.pct(w)).join(' / ') : '—'} | ${fmt.pct(r.cpu?.client)} | ${fmt.pct(r.cpu?.other)}${r.noisy ? ' (noisy)' : ''} | ${r.errors}${r.errorDetail && r.errors ? ` (${r.errorDetail})` : ''} |`,
        );
      }
    }
  }
  lines.push('', '</details>');
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Main.

let pm2Info = null;

async function main() {
  const cfg = parseArgs(process.argv.slice(2));
  if (cfg.reportFrom) {
    const saved = JSON.parse(readFileSync(cfg.reportFrom, 'utf8'));
    const names = ALL.filter((c) => c in saved.results);
    process.stdout.write(`${report(saved.cfg, saved.env, saved.results, names)}\n${rawTable(saved.cfg, saved.results, names)}\n`);
    return;
  }
  if (!existsSync(path.join(repo, 'dist', 'esm', 'index.js')) && cfg.only.includes('arbiter')) {
    console.error('dist/ is missing: run `npm run build` first');
    process.exit(2);
  }

  const wrk = which('wrk');
  if (cfg.loadgen === 'wrk' && !wrk) {
    console.error('--loadgen wrk: wrk is not on PATH (Debian/Ubuntu: sudo apt-get install -y wrk; macOS: brew install wrk)');
    process.exit(2);
  }
  cfg.loadgenKind = cfg.loadgen === 'node' || (cfg.loadgen === 'auto' && !wrk) ? 'node' : 'wrk';
  cfg.wrk = wrk;
  if (cfg.loadgenKind === 'node' && cfg.loadgen === 'auto') {
    log('wrk not found: using the built-in Node load generator (bench/loadgen.mjs), which needs far more CPU per');
    log('request than wrk and so leaves less for the servers. For better numbers install wrk:');
    log('  Debian/Ubuntu: sudo apt-get install -y wrk    macOS: brew install wrk');
  }

  tempRoot = mkdtempSync(path.join(os.tmpdir(), 'arbiter-bench-'));

  let contenders = [...cfg.only];
  if (contenders.includes('pm2')) {
    pm2Info = await ensurePm2(cfg);
    if (!pm2Info) {
      log('continuing without PM2');
      contenders = contenders.filter((c) => c !== 'pm2');
    }
  }
  if (!contenders.length) {
    console.error('nothing to run');
    process.exit(2);
  }

  const perStart = cfg.warmup + cfg.duration * cfg.scenarios.length + 3;
  const estimate = contenders.length * cfg.rounds * perStart;
  // Repeats of noisy runs stop once the run has taken twice the estimate; the hard deadline is beyond that.
  const retryUntil = Date.now() + estimate * 2 * 1000;
  const maxSeconds = cfg.maxSeconds || estimate * 3 + 180;
  const deadline = setTimeout(() => {
    log(`global deadline of ${maxSeconds} s reached: stopping everything`);
    abort(1);
  }, maxSeconds * 1000);
  deadline.unref();

  const loadgenDesc =
    cfg.loadgenKind === 'wrk'
      ? `${(spawnSync(wrk, ['-v'], { encoding: 'utf8' }).stdout || 'wrk').split('\n')[0].split(' [')[0].trim()} -t${Math.min(cfg.threads, cfg.connections)}`
      : 'bench/loadgen.mjs (Node http.Agent clients)';
  const env = {
    date: new Date().toISOString().slice(0, 10),
    cpu: os.cpus()[0]?.model?.replace(/\s+/g, ' ').trim() ?? 'unknown CPU',
    cores: os.cpus().length,
    kernel: `${os.type()} ${os.release()}`,
    loadgen: loadgenDesc,
    arbiter: JSON.parse(readFileSync(path.join(repo, 'package.json'), 'utf8')).version,
    pm2: pm2Info?.version ?? null,
  };
  log(
    `${contenders.join(', ')} · ${cfg.workers} workers · ${cfg.rounds} rounds x ${cfg.scenarios.join('+')} x ${cfg.duration} s · ` +
      `${cfg.connections} connections · ${loadgenDesc} · about ${Math.round(estimate)} s`,
  );
  log(`note: the load generator shares the machine's ${env.cores} cores with the servers`);

  const idle = await machineBusyPct(1000);
  env.busyBefore = idle;
  if (idle > 15) log(`warning: the machine was ${Math.round(idle)}% busy (of one core) before the bench started; numbers will be noisy`);

  const results = Object.fromEntries(contenders.map((c) => [c, Object.fromEntries(cfg.scenarios.map((s) => [s, []]))]));
  env.repeated = 0;
  const t0 = Date.now();
  for (let round = 0; round < cfg.rounds; round += 1) {
    // Rotate the order every round so no contender always runs first (cold machine) or last.
    const order = contenders.map((_, i) => contenders[(i + round) % contenders.length]);
    for (const [slot, name] of order.entries()) {
      await waitQuiet(cfg);
      const server = await startServer(name, cfg);
      try {
        if (cfg.warmup > 0) await runLoad(cfg, server.port, 'keepalive', cfg.warmup);
        // Alternate the scenario order too: the second scenario always runs on a warmer server.
        const scens = round % 2 ? [...cfg.scenarios].reverse() : cfg.scenarios;
        for (const scen of scens) {
          for (let attempt = 0; ; attempt += 1) {
            const r = await measure(cfg, server, scen);
            Object.assign(r, { round, slot, attempt });
            log(
              `round ${round + 1}/${cfg.rounds} ${name.padEnd(12)} ${scen.padEnd(9)} ${fmt.rps(r.rps).padStart(7)} req/s  ` +
                `p50 ${fmt.ms(r.p50Ms)} ms  p99 ${fmt.ms(r.p99Ms)} ms  master ${fmt.pct(r.cpu.master)}  workers ` +
                `${r.cpu.workers.map((w) => fmt.pct(w)).join('/')}  client ${fmt.pct(r.cpu.client)}  other ${fmt.pct(r.cpu.other)}` +
                `${r.errors ? `  errors ${r.errors}` : ''}`,
            );
            // Something outside the bench took CPU during this run (the machine is shared): repeat it.
            r.noisy = r.cpu.other > cfg.maxOther;
            if (r.noisy && attempt < cfg.retries && Date.now() < retryUntil) {
              env.repeated += 1;
              log(`  other processes used ${fmt.pct(r.cpu.other)} of a core (> ${cfg.maxOther}%): repeating this run`);
              await waitQuiet(cfg);
              continue;
            }
            results[name][scen].push(r);
            break;
          }
        }
      } finally {
        await stopCurrentServer();
      }
    }
  }
  clearTimeout(deadline);
  log(`done in ${Math.round((Date.now() - t0) / 1000)} s`);

  const md = report(cfg, env, results, contenders) + '\n' + rawTable(cfg, results, contenders);
  process.stdout.write(`\n${md}\n`);
  if (cfg.json) {
    writeFileSync(cfg.json, JSON.stringify({ cfg: { ...cfg, wrk: undefined }, env, results }, null, 2));
    log(`raw results written to ${cfg.json}`);
  }
}

main().then(
  () => {
    cleanupSync();
  },
  async (err) => {
    log(`failed: ${err?.stack ?? err}`);
    await abort(1);
  },
);
