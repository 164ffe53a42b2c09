// Hang to kill: the only worker's event loop blocks (a request spins it for 5 × timeout); how long
// after `timeout` does the master notice (worker_timeout), kill it (worker_exit), and serve again?
// A request sent right after the hanging one waits in the listen backlog and is answered by the
// replacement (spawned as soon as the hang is detected). `cluster` and PM2 have no hang detection:
// their worker would hang for good.
import { clean, measured, runsLabel } from '../lib/measure.mjs';
import { nowNs, sleep } from '../lib/proc.mjs';
import { events, get, startServer, timedGet } from '../lib/servers.mjs';
import { fmt, summary, table } from '../lib/stats.mjs';

export async function run(ctx) {
  const p = { timeout: ctx.quick ? 1000 : 2000, trials: ctx.quick ? 2 : 5 };
  const server = await startServer(ctx, 'arbiter', { workers: 1, config: { timeout: p.timeout } });
  const runs = [];
  try {
    for (let t = 0; t < p.trials; t++) {
      await ctx.waitQuiet();
      const pid = Number((await get(server.port, '/pid'))?.body);
      const r = await measured(
        ctx,
        [server.root],
        async () => {
          const t0 = nowNs();
          const hung = timedGet(server.port, `/block?ms=${p.timeout * 5}`, p.timeout * 10);
          await sleep(50); // the worker has taken the hanging request and spins
          const res = await timedGet(server.port, '/pid', p.timeout * 10);
          await hung; // reset when the worker is killed
          const at = (name) => events(server, name).find((e) => e.t >= t0 && e.pid === pid)?.t;
          await server.proc.waitFor(() => at('worker_exit'), 'the hung worker to exit', p.timeout * 10);
          const ms = (t) => (t === undefined ? NaN : Number(t - t0) / 1e6);
          return { detected: ms(at('worker_timeout')), killed: ms(at('worker_exit')), served: res.ok ? ms(res.ns) : NaN };
        },
        { what: 'hang', retries: 0 },
      );
      r.late = (r.detected - p.timeout) / p.timeout;
      runs.push(r);
      ctx.log(`hang: timeout ${p.timeout} ms, detected after ${fmt.ms(r.detected)} ms (+${fmt.pct(r.late * 100, 1)}), killed ${fmt.ms(r.killed)}, serving again ${fmt.ms(r.served)} ms  other ${fmt.pct(r.cpu.other)}`);
      await sleep(500); // the replacement settles
    }
  } finally {
    await server.stop();
  }
  const c = clean(runs);
  const late = summary(c.map((r) => r.late * 100));
  const pct = (v) => fmt.pct(v, 1);
  const section = [
    `1 worker, \`timeout: ${p.timeout}\`; a request blocks its event loop for ${p.timeout * 5} ms and a second request is sent 50 ms later. Times from the first request; ${p.trials} trial(s). \`cluster\` and PM2 have no hang detection: the second request would wait for the loop to unblock (here ${p.timeout * 5} ms; forever for a real hang).`,
    table(
      ['', 'median', 'range', 'runs'],
      [
        ['detected (worker_timeout), after timeout +', pct(late.median), `${pct(late.min)} – ${pct(late.max)}`, runsLabel(runs)],
        ['killed (worker_exit), ms', fmt.ms(summary(c.map((r) => r.killed)).median), fmt.range(summary(c.map((r) => r.killed))), ''],
        ['serving again, ms', fmt.ms(summary(c.map((r) => r.served)).median), fmt.range(summary(c.map((r) => r.served))), ''],
      ],
      ['---', '---:', '---:', '---:'],
    ),
  ].join('\n\n');
  const summaryRows = [
    {
      measure: `hang to kill: a blocked loop is caught after \`timeout\` (${p.timeout} ms) +`,
      arbiter: `${pct(late.median)} (${pct(late.min)}–${pct(late.max)})`,
      cluster: 'never',
      pm2: 'never',
      target: '≤ +10%',
    },
    {
      measure: 'hang: serving again after the loop blocked (ms)',
      arbiter: fmt.range(summary(c.map((r) => r.served))),
      cluster: 'when the loop unblocks',
      pm2: 'when the loop unblocks',
    },
  ];
  return { title: 'Hang to kill', summary: summaryRows, section, raw: runs };
}
