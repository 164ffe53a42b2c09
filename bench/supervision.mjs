// Measures the two supervision claims of the core issue, with real processes:
//  1. an idle master with N workers (default 16), its control socket open, uses well under 1% of a core;
//  2. a worker whose event loop blocks is caught within ~10% of `timeout`.
// Usage: node bench/supervision.mjs [--workers 16] [--settle-seconds 8] [--idle-seconds 10] [--timeout 2000] [--trials 5]
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { controlDir, controlRequest } from 'arbiter';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const WORKERS = arg('workers', 16);
const IDLE_SECONDS = arg('idle-seconds', 10);
const TIMEOUT = arg('timeout', 2000);
const TRIALS = arg('trials', 5);
const server = fileURLToPath(new URL('./servers/supervised.mjs', import.meta.url));

const started = [];
process.on('exit', () => started.forEach((c) => c.kill('SIGKILL')));
process.on('SIGINT', () => process.exit(130));

// CPU time in seconds of every thread of `pid`, from the scheduler's nanosecond accounting
// (/proc/PID/task/TID/schedstat), which is exact where utime/stime are sampled per 10 ms tick.
const cpuSeconds = (pid) =>
  readdirSync(`/proc/${pid}/task`).reduce((sum, tid) => {
    try {
      return sum + Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]) / 1e9;
    } catch {
      return sum; // thread gone
    }
  }, 0);
const children = (pid) =>
  readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
const freePort = () =>
  new Promise((r) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => r(port));
    });
  });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function startMaster(port, workers, timeout) {
  const child = spawn(process.execPath, [server], {
    env: { ...process.env, BENCH_BIND: `127.0.0.1:${port}`, BENCH_WORKERS: String(workers), BENCH_TIMEOUT: String(timeout) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.push(child);
  child.lines = [];
  let buf = '';
  child.stdout.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      child.lines.push({ at: performance.now(), line: buf.slice(0, i) });
      buf = buf.slice(i + 1);
    }
  });
  child.stderr.resume();
  return child;
}
async function until(pred, what, ms = 30_000) {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}
const readyCount = (m) => m.lines.filter((l) => l.line.startsWith('worker_ready')).length;

// 1. Idle master CPU
{
  const port = await freePort();
  const m = startMaster(port, WORKERS, 30_000);
  await until(() => readyCount(m) === WORKERS, `${WORKERS} workers`);
  // The control socket is open (on by default); one `arbiter status` before the window shows that
  // answering it leaves nothing running behind.
  const socket = join(controlDir(), `${m.pid}.sock`);
  const status = await controlRequest(socket, 'status', {});
  await sleep(arg('settle-seconds', 8) * 1000); // let start-up work (JIT, GC, heap shrinking) settle
  const pids = children(m.pid);
  const before = { master: cpuSeconds(m.pid), workers: pids.map(cpuSeconds) };
  const t0 = performance.now();
  await sleep(IDLE_SECONDS * 1000);
  const secs = (performance.now() - t0) / 1000;
  const masterPct = ((cpuSeconds(m.pid) - before.master) / secs) * 100;
  const workerPct = pids.map((p, i) => ((cpuSeconds(p) - before.workers[i]) / secs) * 100);
  const avgWorker = workerPct.reduce((a, b) => a + b, 0) / workerPct.length;
  console.log(`idle master, ${WORKERS} workers, ${secs.toFixed(1)} s: master ${masterPct.toFixed(3)}% of a core; workers ${avgWorker.toFixed(2)}% each (avg), max ${Math.max(...workerPct).toFixed(2)}%`);
  console.log(`  control socket ${socket} open throughout; one status call before the window saw ${status.workers.length} workers`);
  m.kill('SIGTERM');
  await new Promise((r) => m.once('exit', r));
}

// 2. Timeout precision
{
  const port = await freePort();
  const m = startMaster(port, 2, TIMEOUT);
  await until(() => readyCount(m) === 2, '2 workers');
  const lateness = [];
  for (let trial = 0; trial < TRIALS; trial++) {
    const seen = m.lines.filter((l) => l.line.startsWith('worker_timeout')).length;
    const t0 = performance.now();
    http.get({ host: '127.0.0.1', port, path: `/block?ms=${TIMEOUT * 5}`, agent: false }).on('error', () => {});
    await until(() => m.lines.filter((l) => l.line.startsWith('worker_timeout')).length > seen, 'a worker_timeout');
    const at = m.lines.filter((l) => l.line.startsWith('worker_timeout'))[seen].at;
    lateness.push((at - t0 - TIMEOUT) / TIMEOUT);
    await until(() => readyCount(m) >= 2 + trial + 1, 'the replacement');
  }
  lateness.sort((a, b) => a - b);
  const pct = (x) => `${(x * 100).toFixed(1)}%`;
  console.log(`timeout ${TIMEOUT} ms, ${TRIALS} trials: caught after timeout + [${lateness.map(pct).join(', ')}] (max ${pct(lateness.at(-1))})`);
  m.kill('SIGTERM');
  await new Promise((r) => m.once('exit', r));
}
