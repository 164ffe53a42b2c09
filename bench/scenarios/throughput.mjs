// Throughput of a trivial handler (`res.end('hello\n')`), 2 workers per contender, 50 connections:
// keep-alive, and a new connection per request (`Connection: close`), where the accept path differs.
// Each contender is started, warmed up, measured in both modes and stopped; that is repeated per
// round with the contender order rotated and the mode order alternated.
import { clean, measured, runsLabel } from '../lib/measure.mjs';
import { runLoad } from '../lib/load.mjs';
import { cpuNs } from '../lib/proc.mjs';
import { LABELS, startServer } from '../lib/servers.mjs';
import { fmt, median, spread, summary, table } from '../lib/stats.mjs';

const MODES = { keepalive: 'keep-alive', close: 'new connection per request' };

export async function run(ctx) {
  const p = ctx.quick
    ? { rounds: 1, seconds: 2, warmup: 1, workers: 2, connections: 50 }
    : { rounds: 3, seconds: 5, warmup: 1, workers: 2, connections: 50 };
  const contenders = ['arbiter', 'cluster-rr', 'cluster-none', ...(ctx.pm2 ? ['pm2'] : [])];
  const runs = Object.fromEntries(contenders.map((c) => [c, { keepalive: [], close: [] }]));

  for (let round = 0; round < p.rounds; round++) {
    const order = contenders.map((_, i) => contenders[(i + round) % contenders.length]);
    for (const name of order) {
      await ctx.waitQuiet();
      const server = await startServer(ctx, name, { workers: p.workers });
      try {
        await runLoad(ctx.gen, { url: server.url, connections: p.connections, seconds: p.warmup });
        const modes = round % 2 ? ['close', 'keepalive'] : ['keepalive', 'close'];
        for (const mode of modes) {
          const r = await measured(
            ctx,
            [server.root],
            async () => {
              const m0 = cpuNs(server.root);
              const load = await runLoad(ctx.gen, { url: server.url, connections: p.connections, seconds: p.seconds, mode });
              return { ...load, masterNs: cpuNs(server.root) - m0 };
            },
            { what: `${name} ${mode}` },
          );
          r.masterPct = (100 * r.masterNs) / (r.cpu.seconds * 1e9);
          r.usPerReq = (r.cpu.servers / 100) * r.cpu.seconds * 1e6 / r.requests;
          runs[name][mode].push(r);
          ctx.log(`round ${round + 1} ${name.padEnd(12)} ${mode.padEnd(9)} ${fmt.int(r.rps).padStart(7)} req/s  p99 ${fmt.ms(r.p99Ms)} ms  master ${fmt.pct(r.masterPct)}  servers ${fmt.pct(r.cpu.servers)}  client ${fmt.pct(r.cpu.client)}  other ${fmt.pct(r.cpu.other)}${r.errors ? `  errors ${r.errors}` : ''}`);
        }
      } finally {
        await server.stop();
      }
    }
  }

  const rps = (name, mode) => median(clean(runs[name]?.[mode] ?? []).map((r) => r.rps));
  const ratio = (a, mode) => rps(a, mode) / rps('cluster-rr', mode);
  const rpsCell = (name, mode) => (runs[name] ? fmt.range(summary(clean(runs[name][mode]).map((r) => r.rps)), fmt.int) : 'skipped');

  const sections = [];
  for (const mode of Object.keys(MODES)) {
    const rows = contenders.map((name) => {
      const rs = clean(runs[name][mode]);
      return [
        LABELS[name],
        fmt.int(median(rs.map((r) => r.rps))),
        fmt.x(ratio(name, mode)),
        fmt.spread(spread(rs.map((r) => r.rps))),
        fmt.ms(median(rs.map((r) => r.p50Ms))),
        fmt.ms(median(rs.map((r) => r.p99Ms))),
        fmt.pct(median(rs.map((r) => r.masterPct))),
        fmt.pct(median(rs.map((r) => r.cpu.servers - r.masterPct))),
        fmt.int(median(rs.map((r) => r.usPerReq))),
        String(runs[name][mode].reduce((a, r) => a + (r.errors || 0), 0)),
        runsLabel(runs[name][mode]),
      ];
    });
    sections.push(`#### ${MODES[mode]}\n\n${table(['contender', 'req/s', 'vs `cluster` RR', 'spread', 'p50 ms', 'p99 ms', 'master CPU', 'workers CPU', 'server CPU µs/req', 'errors', 'runs'], rows)}`);
  }
  const section = [
    `${p.workers} workers per contender, wrk with ${p.connections} connections, ${p.rounds} × ${p.seconds} s per cell after ${p.warmup} s of warm-up; the load generator shares the machine's cores with the servers. *master CPU* is the arbiter master, \`cluster\` primary or PM2 daemon, in % of one core; *server CPU µs/req* is the CPU of every server process per request served (the number that carries over to a bigger machine).`,
    ...sections,
  ].join('\n\n');

  const summaryRows = Object.keys(MODES).map((mode) => ({
    measure: `throughput, ${MODES[mode]} (req/s)`,
    arbiter: rpsCell('arbiter', mode),
    cluster: rpsCell('cluster-rr', mode),
    pm2: runs.pm2 ? rpsCell('pm2', mode) : 'skipped',
    reference: `SCHED_NONE ${fmt.int(rps('cluster-none', mode))}`,
    ratio: `${fmt.x(ratio('arbiter', mode))} \`cluster\`${runs.pm2 ? `, ${fmt.x(rps('arbiter', mode) / rps('pm2', mode))} PM2` : ''}`,
    target: mode === 'close' ? '≥ 1.5× `cluster`' : '',
  }));
  const chart = [
    {
      title: 'Throughput vs cluster round-robin (higher is better)',
      note: `${p.workers} workers, hello world`,
      bars: Object.keys(MODES).flatMap((mode) => [
        { label: `arbiter, ${MODES[mode]}`, value: ratio('arbiter', mode) },
        ...(runs.pm2 ? [{ label: `PM2, ${MODES[mode]}`, value: ratio('pm2', mode), color: '#999' }] : []),
      ]),
    },
  ];
  return { title: 'Throughput', summary: summaryRows, section, chart, raw: runs };
}
