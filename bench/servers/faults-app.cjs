'use strict';
// The app of bench/faults.mjs. BENCH_MODE=arbiter: an arbiter master (config in BENCH_CONFIG,
// JSON) serving the handler; BENCH_MODE=plain: a plain http.Server on BENCH_PORT (what PM2 runs).
//   /spin          prints `SPIN <pid> <Date.now()>` on stdout, then loops forever
//   /alloc?mb=N    retains N MiB (touched, so it counts in the RSS) and answers the pid
//   anything else  answers the pid
const http = require('node:http');

const leak = [];

function spinForever() {
  for (;;);
}

function handler(req, res) {
  const url = new URL(req.url, 'http://x');
  if (url.pathname === '/spin') {
    process.stdout.write(`SPIN ${process.pid} ${Date.now()}\n`);
    return spinForever();
  }
  if (url.pathname === '/alloc') leak.push(Buffer.alloc(Number(url.searchParams.get('mb') ?? 1) * 1048576, 1));
  res.end(String(process.pid));
}

if (process.env.BENCH_MODE === 'plain') {
  http.createServer(handler).listen(Number(process.env.BENCH_PORT), '127.0.0.1');
} else {
  const { Arbiter } = require('arbiter');
  const arbiter = new Arbiter({ config: JSON.parse(process.env.BENCH_CONFIG ?? '{}'), load: () => handler });
  arbiter.on('worker_ready', (w) => process.stdout.write(`READY ${w.pid} ${Date.now()}\n`));
  arbiter.on('worker_exit', (w, exit) => process.stdout.write(`EXIT ${w.pid} ${Date.now()} ${exit.reason}\n`));
  arbiter.run();
}
