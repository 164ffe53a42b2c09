'use strict';
// A plain http.Server on BENCH_HOST:BENCH_PORT serving the shared handler. It is the worker code of
// both `cluster` contenders (forked by bench/servers/cluster.mjs) and the app PM2 runs in cluster
// mode (`pm2 start plain.cjs -i N`). CommonJS so that any PM2 version loads it in cluster mode.
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const handler = require('./handler.cjs');

const host = process.env.BENCH_HOST || '127.0.0.1';
const port = Number(process.env.BENCH_PORT);
if (!Number.isInteger(port) || port <= 0) {
  console.error('plain.cjs: BENCH_PORT is not set');
  process.exit(2);
}

const server = http.createServer(handler);
server.listen(port, host, () => {
  // The bench waits for one marker per worker before it sends load.
  const dir = process.env.BENCH_READY_DIR;
  if (dir) fs.writeFileSync(path.join(dir, `worker-${process.pid}`), '');
});
