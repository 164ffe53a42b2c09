// How fast does the port serve again after the only worker is SIGKILLed?
//
// Contenders, all up at once and measured in turn:
//   arbiter        1 worker
//   arbiter ESM    the same with an ES module entry script (bench/servers/arbiter.mjs)
//   …, no compile cache   the same two with NODE_DISABLE_COMPILE_CACHE=1 (on Node 22.8+ only)
//   arbiter+spare  1 worker and `spareWorkers: 1` (a booted process takes the slot over)
//   bare           the least a supervisor can do: a parent holding the socket restarts a bare
//                  `node plain.cjs` that listens on the inherited fd (bench/servers/bare-parent.mjs)
//   bare ESM       the same with plain.mjs (the reference of arbiter ESM)
//   cluster-rr     node:cluster forking a new worker on 'exit' (the primary keeps accepting meanwhile)
//   pm2            PM2 cluster mode with autorestart (its default)
// Each kill targets a healthy worker (up for `minAge`, so arbiter's restart backoff, which only
// applies to workers dying within 5 s of their start, is not involved). Right after the SIGKILL a
// request on a new connection starts every 10 ms until one is answered; the time is from the kill
// to the first complete answer. Where the socket stays open, the first request simply waits in the
// listen backlog; requests that were refused, reset or never answered are counted as failed.
import nodeModule from 'node:module';
import { clean, measured, runsLabel } from '../lib/measure.mjs';
import { cpuNs, nowNs, sleep, tree } from '../lib/proc.mjs';
import { events, get, startServer, timedGet } from '../lib/servers.mjs';
import { fmt, median, summary, table } from '../lib/stats.mjs';

const ms = (a, b) => (a === undefined || b === undefined ? NaN : Number(a - b) / 1e6);

/** Waits until the tree under `root` has `size` processes and used < 3% of a core over 200 ms. */
async function settle(root, size, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pids = tree(root);
    const c0 = pids.reduce((a, p) => a + (cpuNs(p) || 0), 0);
    await sleep(200);
    const c1 = pids.reduce((a, p) => a + (cpuNs(p) || 0), 0);
    if (pids.length === size && c1 - c0 < 0.03 * 200e6) return;
    if (Date.now() > deadline) return;
  }
}

/**
 * A train of requests on new connections, one every 10 ms from now on, until one is answered.
 * Resolves { res (the first answer), sent, failed } once every request has ended, where failed
 * requests were refused, reset, or not answered within 2 s of the first answer (lost).
 */
async function train(port) {
  const pending = [];
  let first;
  let failed = 0;
  const deadline = Date.now() + 20_000;
  while (!first && Date.now() < deadline) {
    pending.push(
      timedGet(port, '/pid', 20_000).then((r) => {
        if (r.ok) first ??= r;
        return r;
      }),
    );
    await sleep(10);
  }
  const settled = await Promise.all(pending.map((p) => Promise.race([p, sleep(2000).then(() => ({ ok: false, error: 'lost' }))])));
  for (const r of settled) if (!r.ok) failed++;
  const res = settled.filter((r) => r.ok).sort((a, b) => (a.ns < b.ns ? -1 : 1))[0];
  return { res, sent: pending.length, failed };
}

async function kill(ctx, c, roots) {
  const pid = Number((await get(c.server.port, '/pid'))?.body);
  if (!pid) throw new Error(`${c.name}: no pid from /pid`);
  const r = await measured(
    ctx,
    roots,
    async () => {
      const t0 = nowNs();
      process.kill(pid, 'SIGKILL');
      const { res, sent, failed } = await train(c.server.port);
      if (!res || Number(res.body) === pid) throw new Error(`${c.name}: nothing served after SIGKILL of ${pid}`);
      const out = { ms: ms(res.ns, t0), newPid: Number(res.body), t0, sent, failed };
      if (c.server.name === 'arbiter') {
        const after = (name, f = () => true) => events(c.server, name).find((e) => e.t >= t0 && f(e))?.t;
        out.steps = {
          exitSeen: ms(after('worker_exit', (e) => e.pid === pid), t0),
          spawned: ms(after('spawn'), t0),
          ready: ms(after('worker_ready', (e) => e.pid === out.newPid), t0),
        };
      } else if (c.server.name === 'bare') {
        const line = (prefix) => c.server.proc.lines.find((l) => l.line.startsWith(prefix) && BigInt(l.line.split(' ')[2]) >= t0);
        if (!line('SPAWN ')) return out;
        out.steps = {
          spawned: ms(line('SPAWN ') && BigInt(line('SPAWN ').line.split(' ')[2]), t0),
          ready: ms(line('READY ') && BigInt(line('READY ').line.split(' ')[2]), t0),
        };
      }
      return out;
    },
    { what: `${c.name} respawn`, retries: 0 },
  );
  c.bornAt = Date.now();
  await settle(c.server.root, c.size);
  return r;
}

export async function run(ctx) {
  const p = { trials: ctx.quick ? 2 : 7, minAge: ctx.quick ? 5500 : 10_000 };
  const contenders = [];
  const notes = [];
  // Node's compile cache (22.8+) is on by default for arbiter's workers; where Node has it, the
  // same contenders without it give the before/after.
  const compileCache = typeof nodeModule.enableCompileCache === 'function';
  const noCache = { env: { NODE_DISABLE_COMPILE_CACHE: '1' } };
  const start = async (name, label, opts) => {
    try {
      const server = await startServer(ctx, name, opts);
      contenders.push({ name: label, server, size: tree(server.root).length, bornAt: Date.now(), runs: [] });
    } catch (err) {
      const why = /spareWorkers/.test(err.message) ? 'this arbiter has no `spareWorkers` option' : err.message.split('\n')[0];
      notes.push(`${label}: not measured (${why}).`);
      ctx.log(`${label}: skipped (${why})`);
    }
  };
  try {
    await start('arbiter', 'arbiter', { workers: 1 });
    await start('arbiter', 'arbiter ESM', { workers: 1, esm: true });
    if (compileCache) {
      await start('arbiter', 'arbiter, no compile cache', { workers: 1, ...noCache });
      await start('arbiter', 'arbiter ESM, no compile cache', { workers: 1, esm: true, ...noCache });
    }
    await start('arbiter', 'arbiter+spare', { workers: 1, config: { spareWorkers: 1 } });
    await start('bare', 'bare', {});
    await start('bare', 'bare ESM', { esm: true });
    await start('cluster-rr', 'cluster-rr', { workers: 1, respawn: true });
    if (ctx.pm2) await start('pm2', 'pm2', { workers: 1, respawn: true });
    const roots = contenders.map((c) => c.server.root);
    for (let t = 0; t < p.trials; t++) {
      for (const c of contenders) {
        const wait = c.bornAt + p.minAge - Date.now();
        if (wait > 0) await sleep(wait);
        await ctx.waitQuiet();
        const r = await kill(ctx, c, roots);
        c.runs.push(r);
        ctx.log(`${c.name.padEnd(14)} serving again ${fmt.ms(r.ms)} ms after SIGKILL  (${Object.entries(r.steps ?? {}).map(([k, v]) => `${k} ${fmt.ms(v)}`).join(', ')})  other ${fmt.pct(r.cpu.other)}`);
      }
    }
  } finally {
    for (const c of contenders) await c.server.stop();
  }

  const by = Object.fromEntries(contenders.map((c) => [c.name, c]));
  const med = (name) => median(clean(by[name]?.runs ?? []).map((r) => r.ms));
  const sum = (name) => summary(clean(by[name]?.runs ?? []).map((r) => r.ms));
  const bare = med('bare');
  const bareEsm = med('bare ESM');
  const stepCols = ['exitSeen', 'spawned', 'ready'];
  const rows = contenders.map((c) => {
    const rs = clean(c.runs);
    return [
      c.name,
      fmt.range(sum(c.name)),
      fmt.x(med(c.name) / (/ESM/.test(c.name) ? bareEsm : bare)),
      ...stepCols.map((k) => fmt.ms(median(rs.map((r) => r.steps?.[k])))),
      `${c.runs.reduce((a, r) => a + r.failed, 0)} of ${c.runs.reduce((a, r) => a + r.sent, 0)}`,
      runsLabel(c.runs),
    ];
  });
  const section = [
    `SIGKILL of the only worker (up for at least ${p.minAge / 1000} s), then requests on new connections; ${p.trials} kill(s) per contender, contenders interleaved. *ESM*: the entry script is an ES module (bench/servers/arbiter.mjs; for bare, plain.mjs, which imports \`node:http\`), compared with the bare ESM server; the others are CommonJS. ${compileCache ? "arbiter's workers use Node's compile cache unless *no compile cache* (NODE_DISABLE_COMPILE_CACHE=1)." : `Node ${process.version} has no compile cache (22.8+).`} The step columns give, from the kill, when the master saw the exit, spawned the replacement and heard it was ready (arbiter's events; for arbiter+spare, *ready* is the spare taking the slot over and *spawned* the new spare booting behind it; for bare, when the parent spawned the child and the child listened). *Failed requests*: refused, reset or never answered (the listening socket was closed with the last worker, or the connection was handed to a dead worker).`,
    table(['contender', 'serving again (ms)', 'vs bare (ESM: vs bare ESM)', 'exit seen', 'spawned', 'ready', 'failed requests', 'runs'], rows),
    ...notes,
  ].join('\n\n');
  const summaryRows = [
    {
      measure: 'respawn: serving again after SIGKILL of the only worker (ms)',
      arbiter: fmt.range(sum('arbiter')),
      cluster: by['cluster-rr'] ? fmt.range(sum('cluster-rr')) : '—',
      pm2: by.pm2 ? fmt.range(sum('pm2')) : '—',
      reference: `bare node ${fmt.range(sum('bare'))}`,
      ratio: `${fmt.x(med('arbiter') / bare)} bare, ${fmt.x(med('arbiter') / med('cluster-rr'))} \`cluster\``,
      target: '≤ 1.3× bare',
    },
    {
      measure: 'respawn, ESM entry script (ms)',
      arbiter: fmt.range(sum('arbiter ESM')),
      reference: `bare node ESM ${fmt.range(sum('bare ESM'))}`,
      ratio: `${fmt.x(med('arbiter ESM') / bareEsm)} bare ESM`,
      target: '≤ 1.1× bare ESM',
    },
    ...(compileCache
      ? [
          {
            measure: 'respawn: compile cache on / off (ms; CommonJS, ESM)',
            arbiter: `${fmt.ms(med('arbiter'))} / ${fmt.ms(med('arbiter, no compile cache'))}, ${fmt.ms(med('arbiter ESM'))} / ${fmt.ms(med('arbiter ESM, no compile cache'))}`,
            ratio: `${fmt.x(med('arbiter') / med('arbiter, no compile cache'))}, ${fmt.x(med('arbiter ESM') / med('arbiter ESM, no compile cache'))}`,
            target: '',
          },
        ]
      : []),
    {
      measure: 'respawn with a warm spare (`spareWorkers: 1`) (ms)',
      arbiter: by['arbiter+spare'] ? fmt.range(sum('arbiter+spare')) : 'not available',
      reference: `bare node ${fmt.ms(bare)}`,
      ratio: by['arbiter+spare'] ? `${fmt.x(med('arbiter+spare') / bare)} bare` : '—',
      target: '≤ 0.2× bare',
    },
  ];
  const chart = [
    {
      title: 'Serving again after SIGKILL vs a bare node boot (lower is better)',
      note: 'one worker',
      bars: [
        { label: 'arbiter, respawn', value: med('arbiter') / bare, target: 1.3 },
        { label: 'arbiter ESM, respawn (vs bare ESM)', value: med('arbiter ESM') / bareEsm, target: 1.1 },
        ...(by['cluster-rr'] ? [{ label: 'cluster, fork on exit', value: med('cluster-rr') / bare, color: '#999' }] : []),
        ...(by.pm2 ? [{ label: 'PM2, autorestart', value: med('pm2') / bare, color: '#999' }] : []),
        ...(by['arbiter+spare'] ? [{ label: 'arbiter, warm spare', value: med('arbiter+spare') / bare, target: 0.2 }] : []),
      ],
    },
  ];
  return { title: 'Respawn', summary: summaryRows, section, chart, raw: Object.fromEntries(contenders.map((c) => [c.name, c.runs])) };
}
