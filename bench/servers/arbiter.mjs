// arbiter master for the bench: BENCH_WORKERS `async` workers on BENCH_HOST:BENCH_PORT serving the
// shared handler; everything else is arbiter's defaults. The master writes one marker per ready
// worker into BENCH_READY_DIR; it logs to stderr and stops gracefully on SIGTERM.
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Arbiter } from 'arbiter';

const handler = createRequire(import.meta.url)('./handler.cjs');

const arbiter = new Arbiter({
  config: {
    bind: `${process.env.BENCH_HOST ?? '127.0.0.1'}:${process.env.BENCH_PORT}`,
    workers: Number(process.env.BENCH_WORKERS ?? 2),
    workerClass: 'async',
  },
  load: () => handler,
});

arbiter.on('worker_ready', (w) => {
  const dir = process.env.BENCH_READY_DIR;
  if (dir) writeFileSync(path.join(dir, `worker-${w.pid}`), '');
});

await arbiter.run();
