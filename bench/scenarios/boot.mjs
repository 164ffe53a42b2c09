// Boot and stop at scale: the time from starting the master (`cluster` primary, `pm2 start`) until
// N workers are ready and a request is answered, and for arbiter the time a graceful stop (SIGTERM)
// takes and whether every worker was gone with the master. A full run adds 256 arbiter workers
// when the machine has the memory for them.
import nodeModule from 'node:module';
import os from 'node:os';
import { clean, measured } from '../lib/measure.mjs';
import { nowNs } from '../lib/proc.mjs';
import { LABELS, startServer } from '../lib/servers.mjs';
import { fmt, summary, table } from '../lib/stats.mjs';

export async function run(ctx) {
  const p = ctx.quick ? { sizes: [1, 8], trials: 1, big: [] } : { sizes: [1, 8, 32, 64], trials: 3, big: [256] };
  // ESM entries (bench/servers/arbiter.mjs, plain.mjs) beside the CommonJS ones, and where Node has
  // a compile cache (22.8+), arbiter's ESM workers without it: the before/after.
  const compileCache = typeof nodeModule.enableCompileCache === 'function';
  const SPECS = {
    arbiter: ['arbiter', {}],
    'arbiter ESM': ['arbiter', { esm: true }],
    'arbiter ESM, no compile cache': ['arbiter', { esm: true, env: { NODE_DISABLE_COMPILE_CACHE: '1' } }],
    'cluster-rr': ['cluster-rr', {}],
    'cluster ESM': ['cluster-rr', { esm: true }],
    pm2: ['pm2', {}],
  };
  const contenders = ['arbiter', 'arbiter ESM', ...(compileCache ? ['arbiter ESM, no compile cache'] : []), 'cluster-rr', 'cluster ESM', ...(ctx.pm2 && !ctx.quick ? ['pm2'] : [])];
  const runs = {};
  const notes = [];
  const one = async (key, n) => {
    const [name, opts] = SPECS[key];
    await ctx.waitQuiet();
    let server;
    const r = await measured(
      ctx,
      () => [server?.root],
      async () => {
        const t0 = nowNs();
        server = await startServer(ctx, name, { workers: n, readyTimeoutMs: 60_000 + n * 1000, ...opts });
        return { ms: Number(nowNs() - t0) / 1e6 };
      },
 { what: `${key} boot ${n}`, retries: 0 },
    );
    const stop = await server.stop();
    Object.assign(r, { stopMs: stop.ms, leftovers: stop.leftovers, forced: stop.forced });
    (runs[`${key}:${n}`] ??= []).push(r);
    ctx.log(`${key.padEnd(12)} ${String(n).padStart(3)} workers: ready in ${fmt.ms(r.ms)} ms; stopped in ${fmt.ms(stop.ms)} ms${stop.forced ? ' (forced)' : ''}, ${stop.leftovers} left behind  other ${fmt.pct(r.cpu.other)}`);
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
    `Time from spawning the master (\`cluster\` primary; for PM2 from running \`pm2 start\`, which also starts its daemon) until every worker is ready and one request was answered, in ms; ${p.trials} trial(s). *ESM*: an ES module entry script (arbiter.mjs; \`cluster\` workers run plain.mjs)${compileCache ? "; arbiter's workers use Node's compile cache unless *no compile cache*" : ''}. *arbiter stop* is SIGTERM to the master until it exited; *left behind* counts workers still alive after the master exited and stops that needed SIGKILL (should be 0).`,
    table(['workers', ...contenders.map((c) => `${LABELS[c] ?? c} boot`), 'arbiter stop', 'left behind'], rows),
    ...notes,
  ].join('\n\n');
  const big = Math.max(...sizes);
  const bootMedNum = (key, n) => summary(clean(runs[`${key}:${n}`] ?? []).map((r) => r.ms)).median;
  const bootMed = (key, n) => fmt.ms(bootMedNum(key, n));
  const bootRatio = (a, b, n) => bootMedNum(a, n) / bootMedNum(b, n);
  const summaryRows = [
    {
      measure: `boot: ${sizes.join(' / ')} workers ready (ms)`,
      arbiter: sizes.map((n) => fmt.ms(summary(clean(runs[`arbiter:${n}`])?.map((r) => r.ms)).median)).join(' / '),
      cluster: p.sizes.map((n) => fmt.ms(summary(clean(runs[`cluster-rr:${n}`]).map((r) => r.ms)).median)).join(' / '),
      pm2: contenders.includes('pm2') ? p.sizes.map((n) => fmt.ms(summary(clean(runs[`pm2:${n}`]).map((r) => r.ms)).median)).join(' / ') : '—',
      target: '',
    },
    {
      measure: `boot, ESM entry: ${Math.max(...p.sizes)} workers ready (ms)${compileCache ? '; without compile cache' : ''}`,
      arbiter: `${bootMed('arbiter ESM', Math.max(...p.sizes))}${compileCache ? `; ${bootMed('arbiter ESM, no compile cache', Math.max(...p.sizes))}` : ''}`,
      cluster: bootMed('cluster-rr', Math.max(...p.sizes)),
      reference: `\`cluster\` ESM ${bootMed('cluster ESM', Math.max(...p.sizes))}`,
      ratio: `${fmt.x(bootRatio('arbiter ESM', 'cluster-rr', Math.max(...p.sizes)))} \`cluster\`, ${fmt.x(bootRatio('arbiter ESM', 'cluster ESM', Math.max(...p.sizes)))} \`cluster\` ESM`,
      target: '≤ 1.3× `cluster`',
    },
    {
      measure: `scale: ${big} workers boot, serve and stop cleanly`,
      arbiter: `ready ${fmt.ms(summary(runs[`arbiter:${big}`].map((r) => r.ms)).median)} ms, stop ${fmt.ms(summary(runs[`arbiter:${big}`].map((r) => r.stopMs)).median)} ms, ${runs[`arbiter:${big}`].reduce((a, r) => a + r.leftovers + (r.forced ? 1 : 0), 0)} left behind`,
      target: '0 left behind',
    },
  ];
  return { title: 'Boot and stop at scale', summary: summaryRows, section, raw: runs };
}
