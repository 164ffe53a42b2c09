// The contenders. Every one serves bench/servers/handler.cjs on 127.0.0.1 and a fresh port:
//   arbiter       bench/servers/arbiter.cjs (async workers accept directly; the master never accepts)
//   cluster-rr    node:cluster, default SCHED_RR (the primary accepts and hands each connection over)
//   cluster-none  node:cluster, SCHED_NONE (the workers accept directly from the shared socket)
//   pm2           PM2 cluster mode (its daemon is a SCHED_RR cluster primary)
//   reuseport     bench/servers/reuseport.mjs: every process binds the port itself with `reusePort`
//                 (Node 22.12+), one accept queue each, spread by the kernel
//   bare          bench/servers/bare-parent.mjs: a parent that holds the socket and restarts one bare
//                 `node plain.cjs` when it dies (the respawn baseline)
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Pm2App } from './pm2.mjs';
import { childrenOf, Proc, sleep, trackTree } from './proc.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repo = path.resolve(here, '..', '..');
const serversDir = path.join(here, '..', 'servers');
export const HOST = '127.0.0.1';

export const LABELS = {
  arbiter: 'arbiter',
  'cluster-rr': '`cluster` (round-robin)',
  'cluster-none': '`cluster` SCHED_NONE',
  pm2: 'PM2 cluster mode',
  bare: 'bare node',
  reuseport: '`reusePort` (a socket per process)',
};

export async function freePort() {
  const s = net.createServer();
  await new Promise((resolve, reject) => {
    s.once('error', reject);
    s.listen(0, HOST, resolve);
  });
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

/** One GET without keep-alive; resolves { status, body } or null on a network error. */
export function get(port, urlPath = '/', timeoutMs = 5000) {
  return new Promise((resolve) => {
    const req = http.get({ host: HOST, port, path: urlPath, agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, body }));
      res.on('error', () => resolve(null));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(null));
  });
}

/**
 * Starts contender `name` and waits until `workers` workers are ready and it answers.
 * Options: `workers`, `cpuMs` (CPU per request), `stats` (per-worker request counts),
 * `config` (extra arbiter config), `respawn` (`cluster` and PM2 replace dead workers; arbiter and
 * bare always do), `readyTimeoutMs`, `esm` (arbiter, bare and `cluster`: the ESM twin of the entry
 * script, arbiter.mjs / plain.mjs), `env` (extra environment, e.g. NODE_DISABLE_COMPILE_CACHE).
 */
export async function startServer(ctx, name, { workers = 2, cpuMs = 0, stats = false, config = {}, respawn = false, readyTimeoutMs, esm = false, env: extraEnv = {} } = {}) {
  const port = await freePort();
  const readyDir = mkdtempSync(path.join(ctx.tempRoot, `${name}-ready-`));
  const statsDir = stats ? mkdtempSync(path.join(ctx.tempRoot, `${name}-stats-`)) : undefined;
  const env = {
    BENCH_HOST: HOST,
    BENCH_PORT: String(port),
    BENCH_WORKERS: String(workers),
    BENCH_READY_DIR: readyDir,
    ...(cpuMs ? { BENCH_CPU_MS: String(cpuMs) } : {}),
    ...(statsDir ? { BENCH_STATS_DIR: statsDir } : {}),
    ...(esm ? { BENCH_ESM: '1' } : {}),
    ...extraEnv,
  };
  const server = { name, port, url: `http://${HOST}:${port}/`, workers, readyDir, statsDir, proc: null, pm2: null, root: 0 };
  if (name === 'arbiter') {
    server.proc = new Proc(name, process.execPath, [path.join(serversDir, esm ? 'arbiter.mjs' : 'arbiter.cjs')], {
      cwd: repo,
      env: { ...env, BENCH_CONFIG: JSON.stringify({ workers, ...config }) },
    });
  } else if (name === 'cluster-rr' || name === 'cluster-none') {
    server.proc = new Proc(name, process.execPath, [path.join(serversDir, 'cluster.mjs')], {
      cwd: repo,
      env: { ...env, BENCH_SCHED: name === 'cluster-rr' ? 'rr' : 'none', BENCH_RESPAWN: respawn ? '1' : '0' },
    });
  } else if (name === 'reuseport') {
    server.proc = new Proc(name, process.execPath, [path.join(serversDir, 'reuseport.mjs')], { cwd: repo, env });
  } else if (name === 'bare') {
    server.proc = new Proc(name, process.execPath, [path.join(serversDir, 'bare-parent.mjs')], { cwd: repo, env });
  } else if (name === 'pm2') {
    if (!ctx.pm2) throw new Error('PM2 is not available');
    server.pm2 = new Pm2App(ctx.pm2, ctx.tempRoot, env);
  } else {
    throw new Error(`unknown contender ${name}`);
  }
  server.output = () => server.proc?.output() ?? server.pm2?.logs() ?? '';
  /** Pids of the worker processes (children of the master/primary/daemon). */
  server.workerPids = () => childrenOf(server.root);
  /** Requests served so far by each worker process (needs `stats`), keyed by pid. */
  server.requestCounts = () => {
    const counts = new Map();
    for (const f of readdirSync(statsDir)) counts.set(Number(f), Number(readFileSync(path.join(statsDir, f), 'utf8')));
    return counts;
  };
  /** Stops it; resolves { ms, forced, leftovers } (see Proc.stop; PM2: just ms). */
  server.stop = async () => (server.pm2 ? server.pm2.stop() : server.proc.stop());
  try {
    if (server.pm2) server.root = await server.pm2.start(path.join(serversDir, 'plain.cjs'), workers, { autorestart: respawn });
    else server.root = server.proc.pid;
    await waitReady(server, name === 'bare' ? 1 : workers, readyTimeoutMs ?? 30_000 + workers * 1000);
  } catch (err) {
    await server.stop();
    throw err;
  }
  trackTree(server.root);
  return server;
}

async function waitReady(server, n, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (server.proc?.exitInfo) throw new Error(`${server.name} exited during startup (${server.proc.exitInfo.signal ?? server.proc.exitInfo.code})\n${server.output()}`);
    const markers = existsSync(server.readyDir) ? readdirSync(server.readyDir).length : 0;
    const ready = server.name === 'bare' ? server.proc.lines.some((l) => l.line.startsWith('READY ')) : markers >= n;
    if (ready && (await get(server.port))?.status === 200) return;
    if (Date.now() > deadline) throw new Error(`${server.name}: ${markers}/${n} workers ready after ${timeoutMs} ms\n${server.output()}`);
    await sleep(25);
  }
}

/** Arbiter master events printed by bench/servers/arbiter.cjs: [{ e, pid, slot, state, t (ns, BigInt) }]. */
export function events(server, name) {
  return server.proc.lines
    .filter((l) => l.line.startsWith('EV '))
    .map((l) => {
      const ev = JSON.parse(l.line.slice(3));
      return { ...ev, t: BigInt(ev.t) };
    })
    .filter((ev) => !name || ev.e === name);
}

/**
 * A GET on a new connection, timed with the monotonic clock: resolves { ok, body, ns } where `ns`
 * is when the whole response had arrived (BigInt), or { ok: false, error } on failure.
 */
export function timedGet(port, urlPath = '/', timeoutMs = 15_000) {
  return new Promise((resolve) => {
    const s = net.connect(port, HOST);
    let data = '';
    const timer = setTimeout(() => s.destroy(new Error('timeout')), timeoutMs);
    s.setEncoding('latin1');
    s.on('connect', () => s.write(`GET ${urlPath} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n`));
    s.on('data', (d) => (data += d));
    s.on('end', () => {
      const ns = process.hrtime.bigint();
      clearTimeout(timer);
      s.destroy();
      resolve({ ok: data.startsWith('HTTP/1.1 200'), body: data.slice(data.indexOf('\r\n\r\n') + 4), ns });
    });
    s.on('error', (err) => {
      clearTimeout(timer);
      resolve({ ok: false, error: err.message });
    });
  });
}
