// node:cluster primary for the bench: BENCH_WORKERS workers running plain.cjs on BENCH_PORT.
// BENCH_SCHED=rr (Node's default on Linux: the primary accepts every connection and passes it to a
// worker over IPC) or none (SCHED_NONE: the workers share the socket and accept themselves).
// A dead worker is replaced when BENCH_RESPAWN=1.
import cluster from 'node:cluster';
import { fileURLToPath } from 'node:url';

const sched = process.env.BENCH_SCHED ?? 'rr';
if (sched === 'none') cluster.schedulingPolicy = cluster.SCHED_NONE;
else if (sched === 'rr') cluster.schedulingPolicy = cluster.SCHED_RR;
else throw new Error(`BENCH_SCHED must be rr or none, not ${sched}`);

cluster.setupPrimary({ exec: fileURLToPath(new URL(process.env.BENCH_ESM === '1' ? './plain.mjs' : './plain.cjs', import.meta.url)) }); // BENCH_ESM=1: the ESM twin
const n = Number(process.env.BENCH_WORKERS ?? 2);
for (let i = 0; i < n; i += 1) cluster.fork();
console.error(`cluster primary ${process.pid}: ${n} workers, policy ${sched}`);

let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  // disconnect() closes the workers' servers and lets them exit; a hard deadline backs it up.
  setTimeout(() => {
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGKILL');
    process.exit(1);
  }, 3000).unref();
  cluster.disconnect(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
// BENCH_RESPAWN=1: replace a worker that died (what a supervisor on top of cluster does).
cluster.on('exit', (w, code, signal) => {
  if (stopping) return;
  console.error(`cluster worker ${w.process.pid} died (${signal ?? code})`);
  if (process.env.BENCH_RESPAWN === '1') cluster.fork();
});
