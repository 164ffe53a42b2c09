// Koa under arbiter:  node examples/koa.mjs   then: curl http://127.0.0.1:8000/hello/you
// load() returns app.callback(), Koa's request listener. Never call app.listen() — the workers
// already serve the master's sockets (see docs/frameworks.md).
import Koa from 'koa';
import { Arbiter } from 'arbiter';

const arbiter = new Arbiter({
  config: { bind: process.env.BIND ?? '127.0.0.1:8000', workers: Number(process.env.WORKERS ?? 2) },
  // Runs in each worker, never in the master: build the app here.
  load: () => {
    const app = new Koa();
    app.use((ctx) => {
      const match = /^\/hello\/([^/]+)$/.exec(ctx.path);
      if (!match) return; // 404
      ctx.body = `hello ${match[1]} from koa, worker ${process.pid}\n`;
    });
    return app.callback();
  },
});
arbiter.on('ready', ([address]) => console.log(`koa at ${address} (master pid ${process.pid})`));
await arbiter.run();
