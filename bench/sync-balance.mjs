// How evenly do sync workers share simultaneous connections? libuv accepts greedily, so a sync
// worker busy with one request may already hold the next connection (paused) while another
// worker idles. Ideal: C concurrent 400 ms requests on W workers take ceil(C/W) rounds.
// Usage: node bench/sync-balance.mjs [--workers 2] [--concurrency 4] [--trials 20] [--ms 400]
import { spawn } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { fileURLToPath } from 'node:url';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const W = arg('workers', 2);
const C = arg('concurrency', 4);
const TRIALS = arg('trials', 20);
const MS = arg('ms', 400);
const port = await new Promise((r) => {
  const s = net.createServer().listen(0, '127.0.0.1', () => {
    const { port } = s.address();
    s.close(() => r(port));
  });
});
const app = fileURLToPath(new URL('../test/fixtures/app.mjs', import.meta.url));
const master = spawn(process.execPath, [app], {
  env: { ...process.env, ARBITER_TEST_CONFIG: JSON.stringify({ bind: `127.0.0.1:${port}`, workers: W, workerClass: 'sync', logger: false }) },
  stdio: ['ignore', 'pipe', 'inherit'],
});
process.on('exit', () => master.kill('SIGKILL'));
let out = '';
master.stdout.on('data', (d) => (out += d));
while ((out.match(/"worker_ready"/g) ?? []).length < W) await new Promise((r) => setTimeout(r, 20));

const get = () =>
  new Promise((resolve, reject) =>
    http.get({ host: '127.0.0.1', port, path: `/slow?ms=${MS}`, agent: false }, (res) => {
      let b = '';
      res.on('data', (c) => (b += c));
      res.on('end', () => resolve(b));
    }).on('error', reject),
  );
const rounds = [];
for (let i = 0; i < TRIALS; i++) {
  const t0 = performance.now();
  await Promise.all(Array.from({ length: C }, get));
  rounds.push(Math.round((performance.now() - t0) / MS));
}
const ideal = Math.ceil(C / W);
const hist = {};
for (const r of rounds) hist[r] = (hist[r] ?? 0) + 1;
console.log(`sync, ${W} workers, ${C} concurrent ${MS} ms requests, ${TRIALS} trials: ideal ${ideal} rounds; observed ${JSON.stringify(hist)} (rounds: trials)`);
master.kill('SIGTERM');
