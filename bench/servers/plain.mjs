// The ESM twin of plain.cjs: a plain http.Server serving the shared handler, written as an ESM
// app would be (`import http from 'node:http'`). The bare contender of the respawn scenario runs it
// with BENCH_ESM=1, `cluster` with an ESM entry (boot) too. Same markers and READY line as plain.cjs.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import handler from './handler.cjs';

const server = http.createServer(handler);
const fd = process.env.BENCH_FD;
const where = fd ? { fd: Number(fd) } : { host: process.env.BENCH_HOST || '127.0.0.1', port: Number(process.env.BENCH_PORT) };
server.listen(where, () => {
  const dir = process.env.BENCH_READY_DIR;
  if (dir) fs.writeFileSync(path.join(dir, `worker-${process.pid}`), '');
  if (fd) process.stdout.write(`READY ${process.pid} ${process.hrtime.bigint()}\n`);
});
