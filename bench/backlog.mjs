// What one read of the binds' accept queues (`backlog` in stats(), `arbiter_listen_backlog`)
// costs the master with many open connections (issue 19): the read parses /proc/net/tcp and
// tcp6, which list every TCP socket of the network namespace. A listener in this process, a child
// that opens N connections to it (both ends are in /proc/net/tcp: 2N lines), then `--reads` reads.
// Usage: npm run build && node bench/backlog.mjs [--connections 10000] [--reads 200] [--ipv6]
import { spawn } from 'node:child_process';
import net from 'node:net';
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { readBacklog } from '../dist/esm/master/backlog.js';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const N = arg('connections', 10_000);
const READS = arg('reads', 200);
const HOST = process.argv.includes('--ipv6') ? '::1' : '127.0.0.1'; // --ipv6: the bind and the connections over IPv6

const accepted = [];
const server = net.createServer((s) => accepted.push(s));
await new Promise((r) => server.listen({ port: 0, host: HOST, backlog: 4096 }, r));
const { port } = server.address();
const fd = server._handle.fd;
const child = spawn(process.execPath, ['-e', `
  const net = require('node:net'); const keep = []; let open = 0, i = 0;
  const next = () => { while (i < ${N} && i - open < 200) { i++; const s = net.connect(${port}, '${HOST}', () => { if (++open === ${N}) process.send('open'); else next(); }); s.on('error', (e) => { console.error(e.message); process.exit(1); }); keep.push(s); } };
  next();
`], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
process.on('exit', () => child.kill('SIGKILL'));
await new Promise((resolve, reject) => {
  child.once('message', resolve);
  child.once('exit', (code) => reject(new Error(`client exited ${code}`)));
});
while (accepted.length < N) await new Promise((r) => setTimeout(r, 50));

const listeners = [{ url: HOST === '::1' ? `http://[::1]:${port}` : `http://127.0.0.1:${port}`, fd }];
const backlog = readBacklog(listeners);
const wall = [];
const cpu0 = process.cpuUsage();
for (let i = 0; i < READS; i++) {
  const t = performance.now();
  readBacklog(listeners);
  wall.push(performance.now() - t);
}
const cpu = process.cpuUsage(cpu0);
wall.sort((a, b) => a - b);
const pct = (p) => wall[Math.min(wall.length - 1, Math.floor((p / 100) * wall.length))].toFixed(2);
console.log(`${N} open connections (${accepted.length} accepted here), backlog read: ${backlog.total}`);
console.log(`one read: median ${pct(50)} ms, p99 ${pct(99)} ms wall; CPU ${((cpu.user + cpu.system) / 1000 / READS).toFixed(2)} ms per read (user+system, ${READS} reads); load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
child.kill('SIGKILL');
for (const s of accepted) s.destroy();
server.close();
