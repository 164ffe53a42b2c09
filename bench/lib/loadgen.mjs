// Fallback load generator, used when `wrk` is not installed. Runs in its own process (the bench
// spawns it) so its CPU use never slows the orchestrator's bookkeeping.
//
//   node bench/lib/loadgen.mjs <url> <connections> <seconds> <keepalive|close>
//
// `connections` request loops run for `seconds`; each sends GET, reads the whole body, repeats.
// keepalive: one shared http.Agent with keepAlive and `connections` sockets;
// close: no keep-alive, `Connection: close`, a new TCP connection per request.
// Latency is measured from the request's start (including connect in `close` mode) to the end of
// the body. Prints one JSON line: { requests, errors, seconds, rps, p50Ms, p99Ms, maxMs }.
import http from 'node:http';

const [url, connArg, secArg, mode] = process.argv.slice(2);
const connections = Number(connArg);
const seconds = Number(secArg);
if (!url || !(connections > 0) || !(seconds > 0) || !['keepalive', 'close'].includes(mode ?? '')) {
  console.error('usage: node bench/lib/loadgen.mjs <url> <connections> <seconds> <keepalive|close>');
  process.exit(2);
}
const target = new URL(url);
const keepAlive = mode === 'keepalive';
const agent = new http.Agent({ keepAlive, maxSockets: connections, maxFreeSockets: connections });
const headers = keepAlive ? {} : { connection: 'close' };

let latencies = new Float64Array(1 << 16);
let count = 0;
let errors = 0;
let stopped = false;

const record = (ms) => {
  if (count === latencies.length) {
    const bigger = new Float64Array(latencies.length * 2);
    bigger.set(latencies);
    latencies = bigger;
  }
  latencies[count++] = ms;
};

const once = () =>
  new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const req = http.request(
      { host: target.hostname, port: target.port, path: target.pathname, method: 'GET', agent, headers },
      (res) => {
        res.on('data', () => {});
        res.on('end', () => {
          if (res.statusCode === 200) record(Number(process.hrtime.bigint() - t0) / 1e6);
          else errors += 1;
          resolve();
        });
        res.on('error', () => {
          errors += 1;
          resolve();
        });
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
    req.on('error', () => {
      errors += 1;
      // Do not spin on a refused port.
      setTimeout(resolve, 10);
    });
    req.end();
  });

const loop = async () => {
  while (!stopped) await once();
};

const start = process.hrtime.bigint();
const timer = setTimeout(() => (stopped = true), seconds * 1000);
// Only responses completed inside the window count; loops finish the request they are on.
await Promise.all(Array.from({ length: connections }, loop));
clearTimeout(timer);
const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
agent.destroy();

const sorted = latencies.subarray(0, count).sort();
const pct = (p) => (count ? sorted[Math.min(count - 1, Math.floor((p / 100) * count))] : NaN);
process.stdout.write(
  `${JSON.stringify({ requests: count, errors, seconds: elapsed, rps: count / elapsed, p50Ms: pct(50), p99Ms: pct(99), maxMs: count ? sorted[count - 1] : NaN })}\n`,
);
