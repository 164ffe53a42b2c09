// Hono under arbiter:  node examples/hono.mjs   then: curl http://127.0.0.1:8000/hello/you
// Hono speaks fetch (Request -> Response); @hono/node-server's getRequestListener turns it into a
// Node request listener, which load() returns. (Not serve(): that would listen by itself.)
import { getRequestListener } from '@hono/node-server';
import { Hono } from 'hono';
import { Arbiter } from 'arbiter';

const arbiter = new Arbiter({
  config: { bind: process.env.BIND ?? '127.0.0.1:8000', workers: Number(process.env.WORKERS ?? 2) },
  // Runs in each worker, never in the master: build the app here.
  load: () => {
    const app = new Hono();
    app.get('/hello/:name', (c) => c.text(`hello ${c.req.param('name')} from hono, worker ${process.pid}\n`));
    return getRequestListener(app.fetch);
  },
});
arbiter.on('ready', ([address]) => console.log(`hono at ${address} (master pid ${process.pid})`));
await arbiter.run();
