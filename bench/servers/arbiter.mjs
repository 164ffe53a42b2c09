// The ESM twin of arbiter.cjs (same config, events and markers), for the scenarios that measure an
// ESM entry script, as most apps now have: on Node 22+ the ESM loader and `import` of Node's
// built-ins cost a worker more than `require()` (see docs/benchmarks.md, "Runtimes").
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { Arbiter } from 'arbiter';
import handler from './handler.cjs';

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
for (const e of ['spawn', 'worker_ready', 'worker_timeout', 'worker_exit', 'reload', 'spare_ready']) arbiter.on(e, (w) => emit(e, w));
arbiter.on('worker_ready', (w) => {
  const dir = process.env.BENCH_READY_DIR;
  if (dir) writeFileSync(path.join(dir, `worker-${w.pid}`), '');
});

arbiter.run();
