// server.mjs — a production entry point, configured from the environment the way containers and
// systemd units configure it. Needs `npm install arbiter prom-client`.
import { Arbiter } from 'arbiter';
import client from 'prom-client';

const arbiter = new Arbiter({
  config: {
    bind: process.env.BIND, // unset: '0.0.0.0:$PORT' when PORT is set (systemd socket activation overrides either)
    workers: process.env.WEB_CONCURRENCY ? Number(process.env.WEB_CONCURRENCY) : 'auto', // one per CPU of the limit
    statusBind: process.env.STATUS_BIND ?? '127.0.0.1:9000', // /healthz /readyz /status /metrics
    logFormat: process.env.LOG_FORMAT === 'text' ? 'text' : 'json',
    timeout: 30_000,
    gracefulTimeout: 25_000, // the orchestrator's grace period must cover this (plus any preStop sleep)
  },
  // Runs in every worker: the app's own metrics are summed across workers on /metrics.
  load: () => {
    const requests = new client.Counter({ name: 'app_requests_total', help: 'Requests served.', labelNames: ['code'] });
    return (req, res) => {
      res.setHeader('content-type', 'text/plain');
      res.end(`hello from worker ${process.pid}\n`);
      requests.inc({ code: res.statusCode });
    };
  },
});

await arbiter.run();
