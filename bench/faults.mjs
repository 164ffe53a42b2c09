// Faults (issue 8), measured with real processes:
//  1. hang-to-kill: a handler spins forever (`for(;;)`); how long until the stuck client's
//     connection closes, from the moment the handler started spinning, as a ratio to `timeout`
//     (target: <= timeout × 1.1 + 150 ms), at timeouts 1 s and 5 s; and how long the watchdog
//     took to capture the stack (from the `arbiter:master` trace);
//  2. memory limit: a worker's RSS jumps over the limit; how long until arbiter decided to
//     recycle it, had its replacement ready and the old worker gone (`maxWorkerMemory`, default
//     timeout, so checks every second) — and, in the same run, until PM2 restarted it
//     (`--max-memory-restart`, cluster mode, PM2's default 30 s `worker_interval`).
//
// Usage: npm run build && node bench/faults.mjs [--trials 5] [--timeouts 1000,5000]
//          [--limit-mb 160] [--memory-trials 3] [--pm2-trials 2] [--no-pm2]
// PM2 is installed on first use into BENCH_PM2_DIR (default <tmpdir>/arbiter-bench-pm2, shared
// with bench/throughput.mjs); its daemon runs with a private PM2_HOME and is killed at the end.
// Standalone on purpose: a bench harness can run it as one scenario (it prints one report).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const opt = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const TRIALS = Number(opt('trials', 5));
const TIMEOUTS = String(opt('timeouts', '1000,5000')).split(',').map(Number);
const LIMIT_MB = Number(opt('limit-mb', 160));
const MEMORY_TRIALS = Number(opt('memory-trials', 3));
const PM2_TRIALS = process.argv.includes('--no-pm2') ? 0 : Number(opt('pm2-trials', 2));
const PM2_DIR = path.resolve(process.env.BENCH_PM2_DIR ?? path.join(os.tmpdir(), 'arbiter-bench-pm2'));
const PM2_VERSION = process.env.BENCH_PM2_VERSION ?? 'latest';

const here = path.dirname(fileURLToPath(import.meta.url));
const app = path.join(here, 'servers', 'faults-app.cjs');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'arbiter-bench-faults-'));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...a) => console.error('[faults]', ...a);

// ---- bookkeeping: everything started here dies with the bench ------------------------------
const started = new Set();
let pm2 = null; // { bin, env } while a PM2 daemon may run
const children = (pid) => {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((t) =>
      readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number),
    );
  } catch {
    return [];
  }
};
const tree = (pid) => [pid, ...children(pid).flatMap(tree)];
function cleanup() {
  if (pm2) spawnSync(process.execPath, [pm2.bin, 'kill'], { env: pm2.env, stdio: 'ignore', timeout: 15_000 });
  for (const c of started) for (const pid of tree(c.pid)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  rmSync(tmp, { recursive: true, force: true });
}
process.on('exit', cleanup);
process.on('SIGINT', () => process.exit(130));
process.on('SIGTERM', () => process.exit(143));

const freePort = () =>
  new Promise((r) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => r(port));
    });
  });

/**
 * GET on 127.0.0.1:port; resolves { body, at } or { error, at } (at: Date.now() when it ended).
 * A request without an answer for `timeoutMs` is an error: one lost while PM2 replaced its worker
 * would otherwise hang the whole run.
 */
const get = (port, p, timeoutMs = 10_000) =>
  new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: p, agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ body, at: Date.now() }));
      res.on('error', (error) => resolve({ error, at: Date.now() }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (error) => resolve({ error, at: Date.now() }));
  });

const waitFor = async (pred, what, ms = 30_000, every = 10) => {
  const end = Date.now() + ms;
  for (;;) {
    const v = await pred();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(every);
  }
};

/** An arbiter master running faults-app.cjs; stdout/stderr lines are kept with their arrival time. */
function startArbiter(config) {
  const child = spawn(process.execPath, [app], {
    env: { ...process.env, BENCH_MODE: 'arbiter', BENCH_CONFIG: JSON.stringify(config), DEBUG: 'arbiter:master', DEBUG_COLORS: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.add(child);
  const lines = [];
  for (const stream of [child.stdout, child.stderr]) {
    let buf = '';
    stream.setEncoding('utf8').on('data', (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        lines.push({ text: buf.slice(0, i), at: Date.now() });
        buf = buf.slice(i + 1);
      }
    });
  }
  const exited = new Promise((r) => child.once('exit', r));
  const find = (re, from = 0) => lines.slice(from).find((l) => re.test(l.text));
  return {
    child,
    lines,
    find,
    ready: () => lines.filter((l) => l.text.startsWith('READY ')).map((l) => Number(l.text.split(' ')[1])),
    async stop() {
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(15_000)]);
      started.delete(child);
    },
  };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (xs) => `median ${median(xs)} ms, min ${Math.min(...xs)}, max ${Math.max(...xs)}`;

// ---- 1. hang to kill ----------------------------------------------------------------------
async function hangToKill(timeout) {
  const port = await freePort();
  const m = startArbiter({ bind: `127.0.0.1:${port}`, workers: 1, timeout });
  const out = [];
  try {
    for (let i = 0; i < TRIALS; i++) {
      await waitFor(() => m.ready().length >= i + 1, 'a ready worker');
      const from = m.lines.length;
      const sent = Date.now();
      const r = await get(port, '/spin', 60_000);
      if (!r.error) throw new Error('the spinning request answered?');
      const spin = await waitFor(() => m.find(/^SPIN \d+ \d+$/, from), 'the SPIN line');
      const spunAt = Number(spin.text.split(' ')[2]);
      const taken = await waitFor(() => m.find(/stack taken in -?\d+ ms/, from), 'the stall trace', 5000);
      const captureMs = Number(/stack taken in (-?\d+) ms/.exec(taken.text)[1]);
      out.push({ hung: r.at - spunAt, sinceRequest: r.at - sent, captureMs });
    }
  } finally {
    await m.stop();
  }
  const hung = out.map((o) => o.hung);
  const bound = timeout * 1.1 + 150;
  return {
    timeout,
    hung,
    ratio: hung.map((h) => +(h / timeout).toFixed(3)),
    within: hung.filter((h) => h <= bound).length,
    bound,
    capture: out.map((o) => o.captureMs),
    sinceRequest: out.map((o) => o.sinceRequest),
  };
}

// ---- 2. memory limit --------------------------------------------------------------------------
const rssMiB = (pid) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;

async function arbiterMemory() {
  const port = await freePort();
  const m = startArbiter({ bind: `127.0.0.1:${port}`, workers: 1, maxWorkerMemory: LIMIT_MB * 1048576 });
  const out = [];
  try {
    for (let i = 0; i < MEMORY_TRIALS; i++) {
      await waitFor(() => m.ready().length >= i + 1, 'a ready worker');
      const pid = m.ready()[i];
      const from = m.lines.length;
      const need = Math.ceil(LIMIT_MB - rssMiB(pid) + 16);
      const r = await get(port, `/alloc?mb=${need}`);
      if (r.error || Number(r.body) !== pid) throw new Error(`the allocation did not land on ${pid}`);
      const over = r.at; // the worker's RSS is over the limit from here
      const decided = await waitFor(() => m.find(new RegExp(`Worker \\(pid:${pid}\\) uses .* recycling`), from), 'the recycle decision');
      const replaced = await waitFor(() => m.find(/^READY \d+ \d+$/, from), 'the replacement');
      const gone = await waitFor(() => m.find(new RegExp(`^EXIT ${pid} \\d+ memory$`), from), 'the old worker to exit');
      out.push({ decided: decided.at - over, replaced: Number(replaced.text.split(' ')[2]) - over, gone: Number(gone.text.split(' ')[2]) - over });
    }
  } finally {
    await m.stop();
  }
  return out;
}

async function ensurePm2() {
  const bin = path.join(PM2_DIR, 'node_modules', 'pm2', 'bin', 'pm2');
  if (existsSync(bin)) return bin;
  log(`installing pm2@${PM2_VERSION} into ${PM2_DIR} (first use only) ...`);
  mkdirSync(PM2_DIR, { recursive: true });
  const r = spawnSync('npm', ['install', '--prefix', PM2_DIR, '--no-audit', '--no-fund', '--no-save', '--loglevel=error', `pm2@${PM2_VERSION}`], {
    stdio: 'inherit',
    timeout: 180_000,
  });
  return r.status === 0 && existsSync(bin) ? bin : null;
}

async function pm2Memory() {
  const bin = await ensurePm2();
  if (!bin) return { skipped: 'PM2 could not be installed' };
  const version = JSON.parse(readFileSync(path.join(PM2_DIR, 'node_modules', 'pm2', 'package.json'), 'utf8')).version;
  const port = await freePort();
  const home = mkdtempSync(path.join(tmp, 'pm2-home-'));
  pm2 = { bin, env: { ...process.env, PM2_HOME: home, PM2_DISABLE_VERSION_CHECK: 'true', BENCH_MODE: 'plain', BENCH_PORT: String(port) } };
  const start = spawnSync(process.execPath, [bin, 'start', app, '-i', '1', '--name', 'faults-bench', '--max-memory-restart', `${LIMIT_MB}M`], {
    env: pm2.env,
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (start.status !== 0) return { skipped: `pm2 start failed: ${start.stderr || start.stdout}` };
  const out = [];
  try {
    for (let i = 0; i < PM2_TRIALS; i++) {
      const pid = Number(await waitFor(async () => (await get(port, '/')).body, 'PM2 to serve', 60_000, 100));
      const need = Math.ceil(LIMIT_MB - rssMiB(pid) + 16);
      const r = await get(port, `/alloc?mb=${need}`);
      if (r.error) throw new Error(`allocation failed: ${r.error.message}`);
      const over = r.at;
      await waitFor(async () => {
        const now = await get(port, '/');
        return now.body && Number(now.body) !== pid;
      }, 'PM2 to restart the worker', 90_000, 50);
      out.push({ restarted: Date.now() - over, version });
    }
  } finally {
    spawnSync(process.execPath, [bin, 'kill'], { env: pm2.env, stdio: 'ignore', timeout: 15_000 });
    pm2 = null;
  }
  return out;
}

// ---- report -------------------------------------------------------------------------------------
const load0 = os.loadavg();
console.log(`# bench/faults.mjs — node ${process.version}, ${os.cpus().length} CPUs, load average at start ${load0.map((l) => l.toFixed(2)).join(' ')}`);
console.log('\n## Hang to kill (a `for(;;)` handler; from the moment it spins to the stuck connection closing)\n');
console.log('| timeout | closed after (ms) | ratio to timeout | within timeout × 1.1 + 150 ms | stack capture (ms) |');
console.log('|---|---|---|---|---|');
for (const timeout of TIMEOUTS) {
  const r = await hangToKill(timeout);
  console.log(`| ${timeout} ms | ${fmt(r.hung)} | median ${median(r.ratio)}, max ${Math.max(...r.ratio)} | ${r.within}/${r.hung.length} (bound ${r.bound} ms) | ${fmt(r.capture)} |`);
}
console.log(`\n## Memory limit reaction (limit ${LIMIT_MB} MiB; the RSS jumps over it in one request)\n`);
const a = await arbiterMemory();
console.log('| | decided (ms) | replacement ready (ms) | old worker gone (ms) |');
console.log('|---|---|---|---|');
console.log(`| arbiter \`maxWorkerMemory\` (default timeout: checked every 1 s) | ${fmt(a.map((x) => x.decided))} | ${fmt(a.map((x) => x.replaced))} | ${fmt(a.map((x) => x.gone))} |`);
if (PM2_TRIALS > 0) {
  const p = await pm2Memory();
  if (p.skipped) console.log(`| PM2 | skipped: ${p.skipped} | | |`);
  else console.log(`| PM2 ${p[0].version} \`--max-memory-restart\` (cluster mode) | — | — | restarted after ${fmt(p.map((x) => x.restarted))} |`);
}
const load1 = os.loadavg();
console.log(`\nLoad average at the end: ${load1.map((l) => l.toFixed(2)).join(' ')}.`);
