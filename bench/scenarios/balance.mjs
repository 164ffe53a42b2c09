// How evenly do workers share connections?
//
// Keep-alive: 4 workers, a handler that burns 1 ms of CPU per request, and wrk opening 64
// keep-alive connections in one burst (what a proxy's upstream pool does). Workers that accept
// directly from a shared socket can take a whole burst into one process, which then serves those
// connections for their whole life while other workers idle. Measured per worker: requests served
// during the run (each worker writes its count to a file); reported: the busiest worker's requests
// over its fair share (1.00× = perfectly even), and the throughput.
//
// Sync: 2 `sync` workers and 4 concurrent 400 ms requests (not blocking): the ideal is 2 rounds
// of 400 ms; a busy sync worker holding a connection another worker could serve makes it 3 or 4.
import { clean, measured, runsLabel } from '../lib/measure.mjs';
import { runLoad } from '../lib/load.mjs';
import { connectionsByPid, sleep } from '../lib/proc.mjs';
import { get, LABELS, startServer } from '../lib/servers.mjs';
import { fmt, median, summary, table } from '../lib/stats.mjs';

async function keepAliveTrial(ctx, name, p) {
  await ctx.waitQuiet();
  const server = await startServer(ctx, name, { workers: p.workers, cpuMs: p.cpuMs, stats: true });
  try {
    await sleep(300); // the readiness probe's count reaches its file
    const before = server.requestCounts();
    const pids = server.workerPids();
    let conns = [];
    const r = await measured(
      ctx,
      [server.root],
      async () => {
        const load = runLoad(ctx.gen, { url: server.url, connections: p.connections, seconds: p.seconds });
        await sleep(1000); // every connection is open by then; count who holds them
        conns = connectionsByPid(pids, server.port).sort((a, b) => b - a);
        return load;
      },
      { what: `${name} balance`, retries: 0 }, // a repeat would not be a fresh burst on a fresh server
    );
    r.conns = conns;
    r.connBusiest = conns[0] / (conns.reduce((a, b) => a + b, 0) / pids.length);
    await sleep(300); // the last counts reach their files
    const after = server.requestCounts();
    const served = pids.map((pid) => (after.get(pid) ?? 0) - (before.get(pid) ?? 0)).sort((a, b) => b - a);
    const total = served.reduce((a, b) => a + b, 0);
    r.served = served;
    r.busiest = served[0] / (total / pids.length);
    ctx.log(`${name.padEnd(12)} ${fmt.int(r.rps).padStart(6)} req/s  connections ${conns.join('/')}  requests per worker ${served.join(' / ')}  busiest ${fmt.x(r.busiest)} fair share  other ${fmt.pct(r.cpu.other)}`);
    return r;
  } finally {
    await server.stop();
  }
}

async function syncTrials(ctx, p) {
  const server = await startServer(ctx, 'arbiter', { workers: p.syncWorkers, config: { workerClass: 'sync' } });
  try {
    const rounds = [];
    for (let i = 0; i < p.syncTrials; i++) {
      const t0 = performance.now();
      await Promise.all(Array.from({ length: p.syncConcurrency }, () => get(server.port, `/slow?ms=${p.syncMs}`, 10_000)));
      rounds.push(Math.round((performance.now() - t0) / p.syncMs));
    }
    return rounds;
  } finally {
    await server.stop();
  }
}

export async function run(ctx) {
  const p = {
    workers: 4,
    connections: 64,
    cpuMs: 1,
    seconds: ctx.quick ? 2 : 5,
    trials: ctx.quick ? 1 : 5,
    syncWorkers: 2,
    syncConcurrency: 4,
    syncMs: 400,
    syncTrials: ctx.quick ? 3 : 20,
  };
  const contenders = ['arbiter', 'cluster-rr', 'cluster-none'];
  const runs = Object.fromEntries(contenders.map((c) => [c, []]));
  for (let t = 0; t < p.trials; t++) {
    for (const name of contenders.map((_, i) => contenders[(i + t) % contenders.length])) runs[name].push(await keepAliveTrial(ctx, name, p));
  }
  const syncRounds = await syncTrials(ctx, p);

  const busiest = (name) => summary(clean(runs[name]).map((r) => r.busiest));
  const connBusiest = (name) => summary(clean(runs[name]).map((r) => r.connBusiest));
  const rps = (name) => median(clean(runs[name]).map((r) => r.rps));
  const rows = contenders.map((name) => {
    const rs = clean(runs[name]);
    return [
      LABELS[name],
      fmt.range(busiest(name), fmt.x),
      rs.map((r) => r.served.join('/')).join('<br>'),
      fmt.range(connBusiest(name), fmt.x),
      rs.map((r) => r.conns.join('/')).join('<br>'),
      fmt.int(rps(name)),
      fmt.x(rps(name) / rps('cluster-rr')),
      String(runs[name].reduce((a, r) => a + (r.errors || 0), 0)),
      runsLabel(runs[name]),
    ];
  });
  const hist = {};
  for (const r of syncRounds) hist[r] = (hist[r] ?? 0) + 1;
  const ideal = Math.ceil(p.syncConcurrency / p.syncWorkers);
  const section = [
    `**Keep-alive connections opened in one burst.** ${p.workers} workers, a handler that burns ${p.cpuMs} ms of CPU per request, wrk opening ${p.connections} keep-alive connections at once and using them for ${p.seconds} s; a fresh server per trial, ${p.trials} trial(s) per contender. *Busiest worker* is the requests the busiest worker served over its fair share (total / ${p.workers}); 1.00× is perfectly even. Connections per worker are counted 1 s into the run (from /proc).`,
    table(['contender', 'busiest worker / fair share (requests)', 'requests per worker, each trial', 'busiest / fair share (connections)', 'connections per worker, each trial', 'req/s', 'vs `cluster` RR', 'errors', 'runs'], rows),
    `**Sync workers and slow requests.** ${p.syncWorkers} \`sync\` workers, ${p.syncConcurrency} concurrent ${p.syncMs} ms requests (not blocking), ${p.syncTrials} trials: ideal ${ideal} rounds of ${p.syncMs} ms; observed ${Object.entries(hist).map(([k, v]) => `${k} rounds: ${v}×`).join(', ')}.`,
  ].join('\n\n');
  const summaryRows = [
    {
      measure: `balance: busiest of ${p.workers} workers / fair share, ${p.connections} keep-alive connections in one burst`,
      arbiter: fmt.range(busiest('arbiter'), fmt.x),
      cluster: fmt.range(busiest('cluster-rr'), fmt.x),
      pm2: '(= `cluster`)',
      reference: `SCHED_NONE ${fmt.range(busiest('cluster-none'), fmt.x)}`,
      ratio: '',
      target: '≤ 1.5×',
    },
    {
      measure: `balance: throughput on that test (req/s, ${p.cpuMs} ms CPU per request)`,
      arbiter: fmt.int(rps('arbiter')),
      cluster: fmt.int(rps('cluster-rr')),
      pm2: '',
      reference: `SCHED_NONE ${fmt.int(rps('cluster-none'))}`,
      ratio: `${fmt.x(rps('arbiter') / rps('cluster-rr'))} \`cluster\``,
      target: '≥ 0.9× `cluster`',
    },
    {
      measure: `balance: \`sync\` workers, rounds for ${p.syncConcurrency} concurrent slow requests on ${p.syncWorkers} workers`,
      arbiter: `${ideal} rounds in ${hist[ideal] ?? 0} of ${syncRounds.length} trials`,
      target: `${ideal} (ideal)`,
    },
  ];
  return { title: 'Balance', summary: summaryRows, section, raw: { runs, syncRounds } };
}
