// Server for bench/status.mjs: BENCH_WORKERS async workers and a status server on
// BENCH_STATUS_BIND. BENCH_APP_METRICS says what the app registers with prom-client in each worker:
// 'none' (no prom-client at all), 'app' (a labelled counter and a histogram),
// 'default' ('app' plus prom-client's collectDefaultMetrics(), as many services do).
import { Arbiter } from 'arbiter';

const kind = process.env.BENCH_APP_METRICS ?? 'default';
const arbiter = new Arbiter({
  config: {
    bind: process.env.BENCH_BIND,
    statusBind: process.env.BENCH_STATUS_BIND,
    workers: Number(process.env.BENCH_WORKERS),
    workerClass: 'async',
    logger: false,
  },
  load: async () => {
    if (kind === 'none') return (req, res) => res.end('ok\n');
    const { default: client } = await import('prom-client');
    if (kind === 'default') client.collectDefaultMetrics();
    const requests = new client.Counter({ name: 'app_http_requests_total', help: 'Requests.', labelNames: ['route', 'code'] });
    const latency = new client.Histogram({ name: 'app_http_request_duration_seconds', help: 'Latency.', labelNames: ['route'] });
    return (req, res) => {
      const end = latency.startTimer({ route: req.url });
      res.end('ok\n');
      requests.inc({ route: req.url, code: 200 });
      end();
    };
  },
});
arbiter.on('worker_ready', (w) => process.stdout.write(`worker_ready ${w.pid}\n`));
await arbiter.run();
