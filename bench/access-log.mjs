// The cost of the access log on keep-alive throughput (issue 21: goal ≤ 5%). Three copies of the
// bench's arbiter server (bench/servers/arbiter.cjs: 2 async workers, `res.end('hello\n')`) run
// side by side — access log off, to a file (gunicorn's default format), to a file as JSON lines —
// and wrk (50 keep-alive connections) loads one at a time, in short slots, round after round,
// the order rotated. On a shared machine the other load swings from one minute to the next, so
// each round's numbers are compared with the same round's "off" (slots seconds apart), and the
// report gives the median of those per-round ratios. Besides req/s it reports the CPU the
// server's processes spent per request (µs), the number least disturbed by that other load.
// --profile instead runs one worker per variant under V8's sampling profiler (--cpu-prof) for
// --seconds of load and reports the share of the worker's busy time (samples that are not idle)
// spent in the access log's own functions (the line, the batched write, the byte count): a
// proportion, so it holds on a loaded machine where absolute times do not.
// Usage: node bench/access-log.mjs [--rounds 15] [--seconds 2] [--connections 50]
//        node bench/access-log.mjs --profile [--seconds 10]
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadGenerator, runLoad } from './lib/load.mjs';
import { cpuNs, tree } from './lib/proc.mjs';
import { freePort } from './lib/servers.mjs';
import { median } from './lib/stats.mjs';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const ROUNDS = arg('rounds', 15);
const SECONDS = arg('seconds', 2);
const CONNECTIONS = arg('connections', 50);
const server = fileURLToPath(new URL('./servers/arbiter.cjs', import.meta.url));
const repo = fileURLToPath(new URL('..', import.meta.url));
const dir = mkdtempSync(path.join(tmpdir(), 'arbiter-bench-access-'));
const started = [];
process.on('exit', () => {
  started.forEach((c) => c.kill('SIGKILL'));
  rmSync(dir, { recursive: true, force: true });
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));

const VARIANTS = {
  off: {},
  file: { accesslog: path.join(dir, 'access.log') },
  json: { accesslog: path.join(dir, 'access.json'), logFormat: 'json' },
};

async function start(config, execArgv = []) {
  const port = await freePort();
  const ready = mkdtempSync(path.join(dir, 'ready-'));
  const child = spawn(process.execPath, [...execArgv, server], {
    cwd: repo,
    env: { ...process.env, BENCH_PORT: String(port), BENCH_READY_DIR: ready, BENCH_CONFIG: JSON.stringify({ workers: 2, controlSocket: false, ...config }) },
    stdio: 'ignore',
  });
  started.push(child);
  const deadline = Date.now() + 60_000;
  while (readdirSync(ready).length < (config.workers ?? 2)) {
    if (Date.now() > deadline) throw new Error('the server did not get 2 ready workers in 60 s');
    await new Promise((r) => setTimeout(r, 50));
  }
  return { child, url: `http://127.0.0.1:${port}/`, pids: tree(child.pid) };
}

/** The access log's own functions in a V8 CPU profile of a worker (inclusive: what they call counts). */
const OURS = new Set(['finished', 'flush', 'started', 'byteLength']);

const gen = loadGenerator('auto');
if (process.argv.includes('--profile')) {
  await profile(arg('seconds', 10));
  process.exit(0);
}


async function profile(seconds) {
  console.log(`# V8 CPU profile of 1 worker, ${gen.describe}, ${CONNECTIONS} keep-alive connections, ${seconds} s, node ${process.version}, load average ${loadavg()[0].toFixed(2)}`);
  console.log('\n| access log | share of the worker\'s busy time in the access log\'s code | of which the line | the batched write |\n|---|---|---|---|');
  for (const name of ['file', 'json']) {
    const profDir = mkdtempSync(path.join(dir, 'prof-'));
    const s = await start({ ...VARIANTS[name], workers: 1 }, ['--cpu-prof', `--cpu-prof-dir=${profDir}`]);
    await runLoad(gen, { url: s.url, connections: CONNECTIONS, seconds });
    s.child.kill('SIGTERM');
    await new Promise((r) => s.child.once('exit', r));
    const file = readdirSync(profDir).find((f) => !f.includes(`.${s.child.pid}.`));
    const p = JSON.parse(readFileSync(path.join(profDir, file), 'utf8'));
    const self = new Map();
    p.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)));
    const parent = new Map();
    for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n);
    let busy = 0;
    const inside = { all: 0, finished: 0, flush: 0 };
    for (const n of p.nodes) {
      const t = self.get(n.id) ?? 0;
      if (n.callFrame.functionName === '(idle)') continue;
      busy += t;
      // the outermost of our functions on this sample's stack
      let ours;
      for (let cur = n; cur; cur = parent.get(cur.id)) if (OURS.has(cur.callFrame.functionName) && /index\.js$/.test(cur.callFrame.url)) ours = cur.callFrame.functionName;
      if (!ours) continue;
      inside.all += t;
      if (ours in inside) inside[ours] += t;
    }
    const pct = (x) => `${((100 * x) / busy).toFixed(1)}%`;
    console.log(`| ${name} | ${pct(inside.all)} | ${pct(inside.finished)} | ${pct(inside.flush)} |`);
  }
}

console.log(`# ${gen.describe}, ${CONNECTIONS} keep-alive connections, ${ROUNDS} rounds × ${SECONDS} s slots, node ${process.version}, load average ${loadavg()[0].toFixed(2)}`);
const servers = {};
for (const [name, config] of Object.entries(VARIANTS)) {
  servers[name] = await start(config);
  await runLoad(gen, { url: servers[name].url, connections: CONNECTIONS, seconds: 2 }); // warm-up
}
const names = Object.keys(VARIANTS);
const rounds = [];
for (let round = 0; round < ROUNDS; round++) {
  const row = {};
  for (const name of names.map((_, i) => names[(i + round) % names.length])) {
    const s = servers[name];
    const cpu0 = s.pids.reduce((a, p) => a + cpuNs(p), 0);
    const r = await runLoad(gen, { url: s.url, connections: CONNECTIONS, seconds: SECONDS });
    const cpu = s.pids.reduce((a, p) => a + cpuNs(p), 0) - cpu0;
    row[name] = { rps: r.rps, usPerReq: cpu / 1000 / r.requests, errors: r.errors ?? 0 };
  }
  rounds.push(row);
  console.log(`round ${String(round + 1).padStart(2)}  ${names.map((n) => `${n} ${Math.round(row[n].rps).toString().padStart(6)} req/s ${row[n].usPerReq.toFixed(1).padStart(5)} µs`).join('   ')}`);
}
for (const name of ['file', 'json']) console.log(`# ${name}: ${(statSync(VARIANTS[name].accesslog).size / 2 ** 20).toFixed(0)} MiB of lines written`);
const pct = (x) => `${x >= 0 ? '+' : ''}${(100 * x).toFixed(1)}%`;
console.log(`\n| access log | req/s (median) | req/s vs off (median of rounds) | server CPU µs/req (median) | CPU/req vs off (median of rounds) | errors |\n|---|---|---|---|---|---|`);
for (const name of names) {
  const rps = median(rounds.map((r) => r[name].rps));
  const us = median(rounds.map((r) => r[name].usPerReq));
  const dRps = median(rounds.map((r) => r[name].rps / r.off.rps - 1));
  const dUs = median(rounds.map((r) => r[name].usPerReq / r.off.usPerReq - 1));
  const errors = rounds.reduce((a, r) => a + r[name].errors, 0);
  console.log(`| ${name} | ${Math.round(rps)} | ${name === 'off' ? '—' : pct(dRps)} | ${us.toFixed(1)} | ${name === 'off' ? '—' : pct(dUs)} | ${errors} |`);
}
process.exit(0); // the servers' handles would keep this process (and them) alive
