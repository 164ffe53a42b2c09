// Measures the two claims of the status server (issue 10), with real processes:
//  1. a scrape of /metrics with N workers (default 16) answers in < 50 ms. Three apps: no
//     prom-client ('none': the master's own metrics, from every worker's watchdog), a counter and
//     a histogram per worker ('app'), and that plus prom-client's collectDefaultMetrics() in every
//     worker ('default'); the app's metrics are gathered from every worker over IPC and summed;
//  2. an idle master with a status server (nobody scraping) stays at ~0% of a core.
// Usage: node bench/status.mjs [--workers 16] [--scrapes 50] [--apps none,app,default]
//                              [--settle-seconds 8] [--idle-seconds 20]
// Numbers are only meaningful on a quiet machine: the script prints the load average with them.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const WORKERS = Number(arg('workers', 16));
const SCRAPES = Number(arg('scrapes', 50));
const APPS = arg('apps', 'none,app,default').split(',');
const SETTLE = Number(arg('settle-seconds', 8));
const IDLE = Number(arg('idle-seconds', 20));
const BOUND_MS = 50;
const server = fileURLToPath(new URL('./servers/status.mjs', import.meta.url));

const started = [];
process.on('exit', () => started.forEach((c) => c.kill('SIGKILL')));
process.on('SIGINT', () => process.exit(130));

/** CPU seconds of every thread of `pid` (scheduler nanoseconds, /proc/PID/task/TID/schedstat). */
const cpuSeconds = (pid) =>
  readdirSync(`/proc/${pid}/task`).reduce((sum, tid) => {
    try {
      return sum + Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]) / 1e9;
    } catch {
      return sum;
    }
  }, 0);
const freePort = () =>
  new Promise((r) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => r(port));
    });
  });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const get = (port, path, agent) =>
  new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode, body }));
      })
      .on('error', reject);
  });
const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
const ms = (v) => `${v.toFixed(1)} ms`;
const load = () => loadavg()[0].toFixed(1);

/** Starts a master running `app`, waits for its workers, sends some traffic; returns { master, statusPort }. */
async function start(app) {
  const [port, statusPort] = [await freePort(), await freePort()];
  const master = spawn(process.execPath, [server], {
    env: { ...process.env, BENCH_BIND: `127.0.0.1:${port}`, BENCH_STATUS_BIND: `127.0.0.1:${statusPort}`, BENCH_WORKERS: String(WORKERS), BENCH_APP_METRICS: app },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  started.push(master);
  let ready = 0;
  master.stdout.on('data', (d) => (ready += String(d).split('\n').filter((l) => l.startsWith('worker_ready')).length));
  const deadline = Date.now() + 60_000;
  while (ready < WORKERS) {
    if (Date.now() > deadline) throw new Error(`only ${ready} of ${WORKERS} workers became ready`);
    await sleep(20);
  }
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 }); // some traffic: counters and histograms get series
  await Promise.all(Array.from({ length: 2000 }, (_, i) => get(port, `/r${i % 5}`, agent)));
  agent.destroy();
  return { master, statusPort };
}

async function stop(master) {
  master.kill('SIGTERM');
  await new Promise((r) => master.once('exit', r));
}

console.log(`bench/status.mjs — ${WORKERS} async workers, ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), Node ${process.version}`);
console.log('');
console.log('| app metrics per worker | samples on the page | median | p95 | max | first (cold) | master CPU per scrape | load avg |');
console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
const medians = {};
let last;
for (const app of APPS) {
  const { master, statusPort } = await start(app);
  // one keep-alive connection, as Prometheus scrapes
  const scraper = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const t0 = performance.now();
  const first = await get(statusPort, '/metrics', scraper);
  const cold = performance.now() - t0;
  if (first.status !== 200) throw new Error(`/metrics answered ${first.status}`);
  const times = [];
  const cpuBefore = cpuSeconds(master.pid);
  let body = '';
  for (let i = 0; i < SCRAPES; i++) {
    const t = performance.now();
    body = (await get(statusPort, '/metrics', scraper)).body;
    times.push(performance.now() - t);
    await sleep(20);
  }
  const masterCpu = ((cpuSeconds(master.pid) - cpuBefore) / SCRAPES) * 1000;
  scraper.destroy();
  times.sort((a, b) => a - b);
  medians[app] = pct(times, 50);
  const samples = body.split('\n').filter((l) => l && !l.startsWith('#')).length;
  console.log(`| ${app} | ${samples} | ${ms(pct(times, 50))} | ${ms(pct(times, 95))} | ${ms(times.at(-1))} | ${ms(cold)} | ${ms(masterCpu)} | ${load()} |`);
  if (last) await stop(last);
  last = master;
}
console.log('');
for (const [app, median] of Object.entries(medians)) console.log(`bound (median < ${BOUND_MS} ms), app metrics '${app}': ${median < BOUND_MS ? 'met' : 'NOT met'}`);

// Idle master with a status server (the last one, already scraped), nobody scraping.
await sleep(SETTLE * 1000); // let the scrapes' garbage be collected
const a = cpuSeconds(last.pid);
const t = performance.now();
await sleep(IDLE * 1000);
const share = (cpuSeconds(last.pid) - a) / ((performance.now() - t) / 1000);
console.log(`idle master (status server up, nobody scraping) over ${IDLE} s: ${(share * 100).toFixed(3)}% of a core (load avg ${load()})`);
await stop(last);
