'use strict';
// arbiter master for the bench: serves the shared handler on BENCH_HOST:BENCH_PORT with the
// config in BENCH_CONFIG (JSON; default: 2 `async` workers, everything else arbiter's defaults).
// It prints one `EV {json}` line per master event on stdout ({ e, pid, slot, state, t } with t
// in monotonic ns, comparable with the bench's clock) and writes a marker per ready worker into
// BENCH_READY_DIR. Operator log lines go to stderr. CommonJS like every other contender's code
// (plain.cjs, bare-parent), so that the module system of the entry script is not part of any
// difference (Node's ESM loader alone costs a worker about as much as loading arbiter).
const { writeFileSync } = require('node:fs');
const path = require('node:path');
const { Arbiter } = require('arbiter');
const handler = require('./handler.cjs');

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
