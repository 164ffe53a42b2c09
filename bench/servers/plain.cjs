'use strict';
// A plain http.Server serving the shared handler: the worker code of both `cluster` contenders
// (forked by cluster.mjs), the app PM2 runs in cluster mode (`pm2 start plain.cjs -i N`), and the
// bare process of the respawn baseline (BENCH_FD: listen on that inherited fd).
// Once listening it writes a marker file into BENCH_READY_DIR and prints `READY <pid> <hrtime ns>`.
// CommonJS so that any PM2 version loads it in cluster mode.
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const handler = require('./handler.cjs');

const server = http.createServer(handler);
const fd = process.env.BENCH_FD;
const where = fd ? { fd: Number(fd) } : { host: process.env.BENCH_HOST || '127.0.0.1', port: Number(process.env.BENCH_PORT) };
server.listen(where, () => {
  const dir = process.env.BENCH_READY_DIR;
  if (dir) fs.writeFileSync(path.join(dir, `worker-${process.pid}`), '');
  if (fd) process.stdout.write(`READY ${process.pid} ${process.hrtime.bigint()}\n`);
});
