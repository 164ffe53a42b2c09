// Boot and stop at scale: the time from starting the master (`cluster` primary, `pm2 start`) until
// N workers are ready and a request is answered, and for arbiter the time a graceful stop (SIGTERM)
// takes and whether every worker was gone with the master. A full run adds 256 arbiter workers
// when the machine has the memory for them.
import os from 'node:os';
import { clean, measured } from '../lib/measure.mjs';
import { nowNs } from '../lib/proc.mjs';
import { LABELS, startServer } from '../lib/servers.mjs';
import { fmt, summary, table } from '../lib/stats.mjs';

export async function run(ctx) {
  const p = ctx.quick ? { sizes: [1, 8], trials: 1, big: [] } : { sizes: [1, 8, 32, 64], trials: 3, big: [256] };
  const contenders = ['arbiter', 'cluster-rr', ...(ctx.pm2 && !ctx.quick ? ['pm2'] : [])];
  const runs = {};
  const notes = [];
  const one = async (name, n) => {
    await ctx.waitQuiet();
    let server;
    const r = await measured(
      ctx,
      () => [server?.root],
      async () => {
        const t0 = nowNs();
        server = await startServer(ctx, name, { workers: n, readyTimeoutMs: 60_000 + n * 1000 });
        return { ms: Number(nowNs() - t0) / 1e6 };
      },
      { what: `${name} boot ${n}`, retries: 0 },
    );
    const stop = await server.stop();
    Object.assign(r, { stopMs: stop.ms, leftovers: stop.leftovers, forced: stop.forced });
    (runs[`${name}:${n}`] ??= []).push(r);
    ctx.log(`${name.padEnd(12)} ${String(n).padStart(3)} workers: ready in ${fmt.ms(r.ms)} ms; stopped in ${fmt.ms(stop.ms)} ms${stop.forced ? ' (forced)' : ''}, ${stop.leftovers} left behind  other ${fmt.pct(r.cpu.other)}`);
  };
  for (let t = 0; t < p.trials; t++) for (const n of p.sizes) for (const name of contenders) await one(name, n);
  for (const n of p.big) {
    const need = n * 60 * 2 ** 20;
    if (os.freemem() < need) {
      notes.push(`${n} workers: skipped, ${fmt.mb(os.freemem())} free < ${fmt.mb(need)} needed.`);
      continue;
    }
    await one('arbiter', n);
  }
  const sizes = [...p.sizes, ...p.big.filter((n) => runs[`arbiter:${n}`])];
  const cell = (name, n) => (runs[`${name}:${n}`] ? fmt.range(summary(clean(runs[`${name}:${n}`]).map((r) => r.ms))) : '—');
  const rows = sizes.map((n) => [
    String(n),
    ...contenders.map((name) => cell(name, n)),
    runs[`arbiter:${n}`] ? fmt.range(summary(runs[`arbiter:${n}`].map((r) => r.stopMs))) : '—',
    runs[`arbiter:${n}`] ? String(runs[`arbiter:${n}`].reduce((a, r) => a + r.leftovers + (r.forced ? 1 : 0), 0)) : '—',
  ]);
  const section = [
    `Time from spawning the master (\`cluster\` primary; for PM2 from running \`pm2 start\`, which also starts its daemon) until every worker is ready and one request was answered, in ms; ${p.trials} trial(s). *arbiter stop* is SIGTERM to the master until it exited; *left behind* counts workers still alive after the master exited and stops that needed SIGKILL (should be 0).`,
    table(['workers', ...contenders.map((c) => `${LABELS[c]} boot`), 'arbiter stop', 'left behind'], rows),
    ...notes,
  ].join('\n\n');
  const big = Math.max(...sizes);
  const summaryRows = [
    {
      measure: `boot: ${sizes.join(' / ')} workers ready (ms)`,
      arbiter: sizes.map((n) => fmt.ms(summary(clean(runs[`arbiter:${n}`])?.map((r) => r.ms)).median)).join(' / '),
      cluster: p.sizes.map((n) => fmt.ms(summary(clean(runs[`cluster-rr:${n}`]).map((r) => r.ms)).median)).join(' / '),
      pm2: contenders.includes('pm2') ? p.sizes.map((n) => fmt.ms(summary(clean(runs[`pm2:${n}`]).map((r) => r.ms)).median)).join(' / ') : '—',
      target: '',
    },
    {
      measure: `scale: ${big} workers boot, serve and stop cleanly`,
      arbiter: `ready ${fmt.ms(summary(runs[`arbiter:${big}`].map((r) => r.ms)).median)} ms, stop ${fmt.ms(summary(runs[`arbiter:${big}`].map((r) => r.stopMs)).median)} ms, ${runs[`arbiter:${big}`].reduce((a, r) => a + r.leftovers + (r.forced ? 1 : 0), 0)} left behind`,
      target: '0 left behind',
    },
  ];
  return { title: 'Boot and stop at scale', summary: summaryRows, section, raw: runs };
}
