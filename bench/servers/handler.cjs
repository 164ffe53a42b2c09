'use strict';
// The one request handler every contender serves, so they differ only in how connections reach it.
//   GET /            'hello\n' (after BENCH_CPU_MS ms of busy CPU, when set: a handler that costs CPU)
//   GET /block?ms=N  spins the event loop for N ms (the hang scenario)
//   GET /slow?ms=N   answers after N ms without blocking (the sync balance scenario)
//   GET /pid         the serving process's pid
// With BENCH_STATS_DIR set, each process writes its request count to <dir>/<pid> (at most every
// 100 ms, only when it changed), so the bench can see how requests split between workers.
const { writeFileSync } = require('node:fs');
const path = require('node:path');

const cpuMs = Number(process.env.BENCH_CPU_MS || 0);
const statsDir = process.env.BENCH_STATS_DIR;
let served = 0;
if (statsDir) {
  let written = -1;
  setInterval(() => {
    if (served === written) return;
    written = served;
    writeFileSync(path.join(statsDir, String(process.pid)), String(served));
  }, 100).unref();
}

function spin(ms) {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

module.exports = function handler(req, res) {
  served += 1;
  if (req.url === '/') {
    if (cpuMs) spin(cpuMs);
    return res.end('hello\n');
  }
  if (req.url.startsWith('/block')) {
    spin(Number(new URL(req.url, 'http://x').searchParams.get('ms') ?? 0));
    return res.end('unblocked\n');
  }
  if (req.url.startsWith('/slow')) {
    setTimeout(() => res.end('slow\n'), Number(new URL(req.url, 'http://x').searchParams.get('ms') ?? 0));
    return;
  }
  if (req.url === '/pid') return res.end(String(process.pid));
  res.statusCode = 404;
  res.end('not found\n');
};
