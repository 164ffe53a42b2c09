// Reload under load: arbiter's HUP (a new generation of workers, the old one drains) against
// `pm2 reload` (PM2's graceful reload: a new worker, then the old one gets SIGINT, PM2's default
// for an app that installs no handler of its own), while wrk keeps 32 connections busy.
// Counted: failed requests (wrk's socket errors and non-2xx answers), the worst latency, and how
// long the reload took. `cluster` has no reload of its own.
import { clean, measured, runsLabel } from '../lib/measure.mjs';
import { startLoad } from '../lib/load.mjs';
import { nowNs, sleep } from '../lib/proc.mjs';
import { events, LABELS, startServer } from '../lib/servers.mjs';
import { fmt, median, table } from '../lib/stats.mjs';

const MODES = { keepalive: 'keep-alive', close: 'new connection per request' };

async function trial(ctx, name, mode, p) {
  await ctx.waitQuiet();
  const server = await startServer(ctx, name, { workers: p.workers });
  try {
    return await measured(
      ctx,
      [server.root],
      async () => {
        const load = startLoad(ctx.gen, { url: server.url, connections: p.connections, seconds: p.seconds, mode });
        await sleep(p.reloadAt * 1000);
        const t0 = nowNs();
        let reloadMs;
        if (name === 'pm2') {
          await server.pm2.reload();
          reloadMs = Number(nowNs() - t0) / 1e6;
        } else {
          const old = new Set(server.workerPids());
          process.kill(server.root, 'SIGHUP');
          const exits = await server.proc.waitFor(() => {
            const gone = events(server, 'worker_exit').filter((e) => e.t >= t0 && old.has(e.pid));
            return gone.length >= old.size && gone;
          }, 'the old workers to exit', 60_000);
          reloadMs = Number(exits.at(-1).t - t0) / 1e6;
        }
        const r = await load.done;
        return { ...r, reloadMs };
      },
      { what: `${name} reload ${mode}`, retries: 0 },
    );
  } finally {
    await server.stop();
  }
}

export async function run(ctx) {
  const p = ctx.quick
    ? { workers: 2, connections: 32, seconds: 5, reloadAt: 1.5, trials: 1, modes: ['keepalive'] }
    : { workers: 2, connections: 32, seconds: 8, reloadAt: 2, trials: 3, modes: ['keepalive', 'close'] };
  const contenders = ['arbiter', ...(ctx.pm2 ? ['pm2'] : [])];
  const runs = Object.fromEntries(contenders.map((c) => [c, Object.fromEntries(p.modes.map((m) => [m, []]))]));
  for (let t = 0; t < p.trials; t++) {
    for (const mode of p.modes) {
      for (const name of contenders) {
        const r = await trial(ctx, name, mode, p);
        runs[name][mode].push(r);
        ctx.log(`${name.padEnd(8)} reload under ${mode.padEnd(9)} load: ${r.errors} failed of ${fmt.int(r.requests)} (${r.errorDetail || 'none'}), max latency ${fmt.ms(r.maxMs)} ms, reload took ${fmt.ms(r.reloadMs)} ms  other ${fmt.pct(r.cpu.other)}`);
      }
    }
  }
  const rows = [];
  for (const mode of p.modes) {
    for (const name of contenders) {
      const all = runs[name][mode];
      const rs = clean(all);
      rows.push([
        `${LABELS[name]}, ${MODES[mode]}`,
        `${all.reduce((a, r) => a + r.errors, 0)} of ${fmt.int(all.reduce((a, r) => a + r.requests, 0))}`,
        [...new Set(all.map((r) => r.errorDetail).filter(Boolean))].join('; ') || '—',
        fmt.ms(median(rs.map((r) => r.maxMs))),
        fmt.ms(median(rs.map((r) => r.reloadMs))),
        fmt.int(median(rs.map((r) => r.rps))),
        runsLabel(all),
      ]);
    }
  }
  const section = [
    `${p.workers} workers, wrk with ${p.connections} connections for ${p.seconds} s; the reload starts ${p.reloadAt} s in (arbiter: SIGHUP to the master, done when the old workers have exited; PM2: \`pm2 reload\`, done when the command returns). ${p.trials} trial(s) per cell, a fresh server each.`,
    table(['contender, load', 'failed requests (all trials)', 'failures', 'worst latency ms', 'reload took ms', 'req/s over the run', 'runs'], rows),
  ].join('\n\n');
  const failed = (name) => p.modes.map((m) => `${runs[name][m].reduce((a, r) => a + r.errors, 0)} of ${fmt.int(runs[name][m].reduce((a, r) => a + r.requests, 0))} (${MODES[m]})`).join(', ');
  const summaryRows = [
    {
      measure: 'reload under load: failed requests',
      arbiter: failed('arbiter'),
      cluster: 'no reload',
      pm2: runs.pm2 ? failed('pm2') : '—',
      target: '0',
    },
  ];
  return { title: 'Reload under load', summary: summaryRows, section, raw: runs };
}
