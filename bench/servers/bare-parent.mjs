// The respawn baseline: the least a supervisor can do. It binds BENCH_HOST:BENCH_PORT (the
// listening socket stays open here, so connections queue while no child accepts), starts a bare
// `node plain.cjs` (plain.mjs with BENCH_ESM=1) that listens on the inherited fd, and when that child dies starts a new one at
// once. Children print `READY <pid> <ns>` on the shared stdout once listening. SIGTERM stops both.
import { spawn } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';

const plain = fileURLToPath(new URL(process.env.BENCH_ESM === '1' ? './plain.mjs' : './plain.cjs', import.meta.url)); // BENCH_ESM=1: the ESM twin
// Bound but not listening (no accept watcher here); the first child's listen(2) makes it listen,
// and the socket keeps listening after that child dies because this process holds it.
const handle = net._createServerHandle(process.env.BENCH_HOST ?? '127.0.0.1', Number(process.env.BENCH_PORT), 4);
if (typeof handle === 'number') throw new Error(`bind failed: ${handle}`);

let child;
let stopping = false;
function start() {
  child = spawn(process.execPath, [plain], { stdio: ['ignore', 'inherit', 'inherit', handle.fd], env: { ...process.env, BENCH_FD: '3' } });
  process.stdout.write(`SPAWN ${child.pid} ${process.hrtime.bigint()}\n`);
  child.once('exit', () => {
    if (!stopping) start();
  });
}
start();
process.on('SIGTERM', () => {
  stopping = true;
  if (child.exitCode !== null || child.signalCode !== null) process.exit(0);
  child.once('exit', () => process.exit(0));
  child.kill('SIGKILL');
});
