// arbiter master for the bench: serves the shared handler on BENCH_HOST:BENCH_PORT with the
// config in BENCH_CONFIG (JSON; default: 2 `async` workers, everything else arbiter's defaults).
// It prints one `EV {json}` line per master event on stdout ({ e, pid, slot, state, t } with t
// in monotonic ns, comparable with the bench's clock) and writes a marker per ready worker into
// BENCH_READY_DIR. Operator log lines go to stderr.
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Arbiter } from 'arbiter';

const handler = createRequire(import.meta.url)('./handler.cjs');

const arbiter = new Arbiter({
  config: {
    bind: `${process.env.BENCH_HOST ?? '127.0.0.1'}:${process.env.BENCH_PORT}`,
    workers: 2,
    workerClass: 'async',
    ...JSON.parse(process.env.BENCH_CONFIG || '{}'),
  },
  load: () => handler,
});

const emit = (e, w) => process.stdout.write(`EV ${JSON.stringify({ e, pid: w?.pid, slot: w?.slot, state: w?.state, t: String(process.hrtime.bigint()) })}\n`);
for (const e of ['spawn', 'worker_ready', 'worker_timeout', 'worker_exit', 'reload', 'spare_ready']) {
  arbiter.on(e, (w) => emit(e, w));
}
arbiter.on('worker_ready', (w) => {
  const dir = process.env.BENCH_READY_DIR;
  if (dir) writeFileSync(path.join(dir, `worker-${w.pid}`), '');
});

await arbiter.run();
