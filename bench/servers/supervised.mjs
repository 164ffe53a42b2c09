// Server for bench/supervision.mjs: prints master events on stdout, one per line.
import { Arbiter } from 'arbiter';

const arbiter = new Arbiter({
  config: {
    bind: process.env.BENCH_BIND,
    workers: Number(process.env.BENCH_WORKERS),
    timeout: Number(process.env.BENCH_TIMEOUT),
    workerClass: 'async',
    logger: false,
  },
  load: () => (req, res) => {
    const ms = Number(new URL(req.url, 'http://x').searchParams.get('ms') ?? 0);
    const end = Date.now() + ms;
    while (Date.now() < end); // /block?ms=N spins the event loop
    res.end('ok\n');
  },
});
for (const name of ['worker_ready', 'worker_timeout', 'worker_exit']) {
  arbiter.on(name, (w) => process.stdout.write(`${name} ${w.pid}\n`));
}
await arbiter.run();
