// `reusePort` (Node 22.12+ / 23.1+): BENCH_WORKERS processes that each bind BENCH_HOST:BENCH_PORT
// themselves with SO_REUSEPORT, so each has its own accept queue and the kernel spreads incoming
// connections over them by a hash of the connection's addresses. No shared socket, no master in
// the accept path. The parent only starts the children (and restarts none); each child serves the
// shared handler and writes a marker into BENCH_READY_DIR once listening. SIGTERM stops all.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import handler from './handler.cjs';

if (process.env.BENCH_REUSEPORT_CHILD === '1') {
  const server = http.createServer(handler);
  server.on('error', (err) => {
    console.error(`reuseport child ${process.pid}: ${err.message}`);
    process.exit(1);
  });
  server.listen({ host: process.env.BENCH_HOST || '127.0.0.1', port: Number(process.env.BENCH_PORT), reusePort: true }, () => {
    const dir = process.env.BENCH_READY_DIR;
    if (dir) fs.writeFileSync(path.join(dir, `worker-${process.pid}`), '');
  });
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
} else {
  const self = fileURLToPath(import.meta.url);
  const n = Number(process.env.BENCH_WORKERS ?? 2);
  const children = Array.from({ length: n }, () => spawn(process.execPath, [self], { stdio: 'inherit', env: { ...process.env, BENCH_REUSEPORT_CHILD: '1' } }));
  const stop = () => {
    for (const c of children) c.kill('SIGKILL');
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  for (const c of children) c.on('exit', (code) => code && stop());
}
