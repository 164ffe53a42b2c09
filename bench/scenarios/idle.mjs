// Idle cost: a master (or `cluster` primary, PM2 daemon) with many idle workers. After the start
// settles (JIT, GC, heap shrinking), CPU is measured over a window from the scheduler's exact
// accounting (/proc/PID/task/TID/schedstat), memory as VmRSS. arbiter's control socket is open
// (it is by default) and answers one `status` before the window: answering leaves nothing running.
import path from 'node:path';
import { controlDir, controlRequest } from 'arbiter';
import { measured } from '../lib/measure.mjs';
import { cpuNs, rssBytes, sleep } from '../lib/proc.mjs';
import { LABELS, startServer } from '../lib/servers.mjs';
import { fmt, median, table } from '../lib/stats.mjs';

export async function run(ctx) {
  const p = ctx.quick ? { workers: 16, settle: 5, seconds: 5 } : { workers: 64, settle: 8, seconds: 20 };
  const contenders = ['arbiter', 'cluster-rr', ...(ctx.pm2 ? ['pm2'] : [])];
  const res = {};
  for (const name of contenders) {
    await ctx.waitQuiet();
    const server = await startServer(ctx, name, { workers: p.workers });
    try {
      let status;
      if (name === 'arbiter') status = await controlRequest(path.join(controlDir(), `${server.root}.sock`), 'status', {});
      await sleep(p.settle * 1000);
      const pids = server.workerPids();
      const r = await measured(
        ctx,
        [server.root],
        async () => {
          const m0 = cpuNs(server.root);
          const w0 = pids.map(cpuNs);
          const t0 = performance.now();
          await sleep(p.seconds * 1000);
          const secs = (performance.now() - t0) / 1000;
          const pct = (ns) => ns / 1e7 / secs;
          const workerPct = pids.map((pid, i) => pct(cpuNs(pid) - w0[i]));
          return {
            master: pct(cpuNs(server.root) - m0),
            masterRss: rssBytes(server.root),
            worker: median(workerPct),
            workerRss: median(pids.map(rssBytes)),
            workers: pids.length,
            statusWorkers: status?.workers?.length,
          };
        },
        { what: `${name} idle` },
      );
      res[name] = r;
      ctx.log(`${name.padEnd(12)} ${r.workers} workers idle: master ${fmt.pct(r.master, 3)} of a core, ${fmt.mb(r.masterRss)}; worker ${fmt.pct(r.worker, 2)}, ${fmt.mb(r.workerRss)} (median)  other ${fmt.pct(r.cpu.other)}`);
    } finally {
      await server.stop();
    }
  }
  const rows = contenders.map((name) => {
    const r = res[name];
    return [LABELS[name], fmt.pct(r.master, 3), fmt.mb(r.masterRss), fmt.pct(r.worker, 2), fmt.mb(r.workerRss), r.noisy ? 'noisy' : 'clean'];
  });
  const section = [
    `${p.workers} idle workers (arbiter: \`async\`, default \`timeout\` 30 s, so each worker's heartbeat and watchdog wake once a second; its control socket open, one \`status\` answered before the window, seeing ${res.arbiter?.statusWorkers ?? '?'} workers); ${p.settle} s to settle after the start, then ${p.seconds} s measured. *master* is the arbiter master, \`cluster\` primary or PM2 daemon.`,
    table(['contender', 'master CPU (% of a core)', 'master RSS', 'worker CPU (median)', 'worker RSS (median)', 'run'], rows),
  ].join('\n\n');
  const a = res.arbiter;
  const summaryRows = [
    {
      measure: `idle master with ${p.workers} workers: CPU (% of a core) / RSS`,
      arbiter: `${fmt.pct(a.master, 3)} / ${fmt.mb(a.masterRss)}`,
      cluster: `${fmt.pct(res['cluster-rr'].master, 3)} / ${fmt.mb(res['cluster-rr'].masterRss)}`,
      pm2: res.pm2 ? `${fmt.pct(res.pm2.master, 3)} / ${fmt.mb(res.pm2.masterRss)}` : '—',
      reference: `worker: arbiter ${fmt.pct(a.worker, 2)} / ${fmt.mb(a.workerRss)}, \`cluster\` ${fmt.pct(res['cluster-rr'].worker, 2)} / ${fmt.mb(res['cluster-rr'].workerRss)}`,
      target: '< 0.5% / < 60 MB',
    },
  ];
  return { title: `Idle master with ${p.workers} workers`, summary: summaryRows, section, raw: res };
}
