// `reusePort` (Node 22.12+) beside arbiter's shared accept queue and `cluster`: 4 worker processes
// each, the shared handler with 1 ms of CPU per request (so a stopped worker matters), and per round:
//   close      wrk, a new connection per request: req/s, p99, requests per worker
//   keepalive  wrk, 50 keep-alive connections opened at once: req/s, requests per worker
//   frozen     wrk, new connections, and 2 s in one of the 4 workers is SIGSTOPped for 3 s:
//              p99 and max latency, errors — who keeps handing connections to a process that
//              cannot take them?
// With reusePort every process has its own accept queue and the kernel picks one by a hash of the
// connection's addresses: nothing in user space is on the accept path, but a connection hashed to a
// stopped (or busy) process waits for it. arbiter's workers accept from one shared queue (a stopped
// worker simply takes nothing); `cluster` round-robin's primary accepts and hands each connection
// to the next worker, stopped or not.
import { clean, measured, runsLabel } from '../lib/measure.mjs';
import { startLoad } from '../lib/load.mjs';
import { sleep } from '../lib/proc.mjs';
import { LABELS, startServer } from '../lib/servers.mjs';
import { fmt, median, table } from '../lib/stats.mjs';

/** `reusePort` for net/http listen(): Node 22.12+ and 23.1+. */
export function hasReusePort(version = process.versions.node) {
  const [major, minor] = version.split('.').map(Number);
  return major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12);
}

/** Requests per worker since `before` (a Map of counts), busiest over fair share. */
function balanceOf(server, before) {
  const after = server.requestCounts();
  const per = [...after].map(([pid, n]) => n - (before.get(pid) ?? 0)).sort((a, b) => b - a);
  while (per.length < server.workers) per.push(0);
  const total = per.reduce((a, b) => a + b, 0);
  return { per, busiest: total ? per[0] / (total / server.workers) : NaN };
}

export async function run(ctx) {
  const p = ctx.quick ? { rounds: 1, seconds: 3, warmup: 1, freezeAt: 1, freezeFor: 3, tail: 1 } : { rounds: 3, seconds: 5, warmup: 1, freezeAt: 2, freezeFor: 3, tail: 3 };
  const workers = 4;
  const connections = 50;
  if (!hasReusePort()) {
    const note = `Not measured: Node ${process.version} has no \`reusePort\` (22.12+, 23.1+).`;
    return { title: '`reusePort`', summary: [], section: note, raw: {} };
  }
  const contenders = ['arbiter', 'cluster-rr', 'cluster-none', 'reuseport'];
  const runs = Object.fromEntries(contenders.map((c) => [c, { close: [], keepalive: [], frozen: [] }]));
  const stats = async (server) => {
    await sleep(250); // the handler writes its counts every 100 ms
    return server.requestCounts();
  };

  for (let round = 0; round < p.rounds; round++) {
    const order = contenders.map((_, i) => contenders[(i + round) % contenders.length]);
    for (const name of order) {
      await ctx.waitQuiet();
      const server = await startServer(ctx, name, { workers, cpuMs: 1, stats: true });
      try {
        await startLoad(ctx.gen, { url: server.url, connections, seconds: p.warmup, mode: 'close' }).done;
        for (const mode of ['close', 'keepalive']) {
          const before = await stats(server);
          const r = await measured(ctx, [server.root], async () => startLoad(ctx.gen, { url: server.url, connections, seconds: p.seconds, mode }).done, { what: `${name} ${mode}`, retries: 0 });
          await sleep(250); // the handler writes its counts every 100 ms
          Object.assign(r, balanceOf(server, before));
          runs[name][mode].push(r);
          ctx.log(`round ${round + 1} ${name.padEnd(12)} ${mode.padEnd(9)} ${fmt.int(r.rps).padStart(6)} req/s  p99 ${fmt.ms(r.p99Ms)} ms  busiest ${fmt.x(r.busiest)}  other ${fmt.pct(r.cpu.other)}`);
        }
        // One of the 4 workers stops (SIGSTOP) for freezeFor seconds while new connections keep coming.
        const victim = server.workerPids()[0];
        const r = await measured(
          ctx,
          [server.root],
          async () => {
            const load = startLoad(ctx.gen, { url: server.url, connections, seconds: p.freezeAt + p.freezeFor + p.tail, mode: 'close' });
            await sleep(p.freezeAt * 1000);
            process.kill(victim, 'SIGSTOP');
            await sleep(p.freezeFor * 1000);
            process.kill(victim, 'SIGCONT');
            return load.done;
          },
          { what: `${name} frozen`, retries: 0 },
        );
        runs[name].frozen.push(r);
        ctx.log(`round ${round + 1} ${name.padEnd(12)} frozen    ${fmt.int(r.rps).padStart(6)} req/s  p99 ${fmt.ms(r.p99Ms)} ms  max ${fmt.ms(r.maxMs)} ms  errors ${r.errors}  other ${fmt.pct(r.cpu.other)}`);
      } finally {
        await server.stop();
      }
    }
  }

  const med = (name, mode, key) => median(clean(runs[name][mode]).map((r) => r[key]));
  const rows = contenders.map((name) => [
    LABELS[name],
    fmt.int(med(name, 'close', 'rps')),
    fmt.ms(med(name, 'close', 'p99Ms')),
    fmt.x(med(name, 'close', 'busiest')),
    fmt.int(med(name, 'keepalive', 'rps')),
    fmt.x(med(name, 'keepalive', 'busiest')),
    fmt.int(med(name, 'frozen', 'rps')),
    fmt.ms(med(name, 'frozen', 'p99Ms')),
    fmt.ms(med(name, 'frozen', 'maxMs')),
    String(runs[name].frozen.reduce((a, r) => a + (r.errors || 0), 0)),
    runsLabel(runs[name].close),
  ]);
  const section = [
    `${workers} workers per contender, a handler with 1 ms of CPU per request, wrk with ${connections} connections; ${p.rounds} round(s), contenders rotated, each run ${p.seconds} s after ${p.warmup} s of warm-up. *Busiest* is the busiest worker's requests over the fair share (1.00× = even). *One worker frozen*: new connections for ${p.freezeAt + p.freezeFor + p.tail} s, and from ${p.freezeAt} s on one of the 4 workers is stopped (SIGSTOP) for ${p.freezeFor} s; wrk's timeout is 5 s.`,
    table(
      ['contender', 'new conn. req/s', 'p99 ms', 'busiest', 'keep-alive req/s', 'busiest', 'one frozen: req/s', 'p99 ms', 'max ms', 'errors', 'runs'],
      rows,
    ),
  ].join('\n\n');
  const summaryRows = [
    {
      measure: '`reusePort`: new connections, req/s; p99 / max ms with 1 of 4 workers stopped 3 s',
      arbiter: `${fmt.int(med('arbiter', 'close', 'rps'))}; ${fmt.ms(med('arbiter', 'frozen', 'p99Ms'))} / ${fmt.ms(med('arbiter', 'frozen', 'maxMs'))}`,
      cluster: `${fmt.int(med('cluster-rr', 'close', 'rps'))}; ${fmt.ms(med('cluster-rr', 'frozen', 'p99Ms'))} / ${fmt.ms(med('cluster-rr', 'frozen', 'maxMs'))}`,
      reference: `reusePort ${fmt.int(med('reuseport', 'close', 'rps'))}; ${fmt.ms(med('reuseport', 'frozen', 'p99Ms'))} / ${fmt.ms(med('reuseport', 'frozen', 'maxMs'))}`,
      ratio: `${fmt.x(med('arbiter', 'close', 'rps') / med('reuseport', 'close', 'rps'))} reusePort`,
      target: '',
    },
  ];
  return { title: '`reusePort`', summary: summaryRows, section, raw: runs };
}
