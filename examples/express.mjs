// Express under arbiter:  node examples/express.mjs   then: curl http://127.0.0.1:8000/hello/you
// An Express app is a request listener: load() returns it. Never call app.listen() — the workers
// already serve the master's sockets (see docs/frameworks.md).
import express from 'express';
import { Arbiter } from 'arbiter';

const arbiter = new Arbiter({
  config: { bind: process.env.BIND ?? '127.0.0.1:8000', workers: Number(process.env.WORKERS ?? 2) },
  // Runs in each worker, never in the master: build the app here.
  load: () => {
    const app = express();
    app.get('/hello/:name', (req, res) => {
      res.type('text/plain').send(`hello ${req.params.name} from express, worker ${process.pid}\n`);
    });
    return app;
  },
});
arbiter.on('ready', ([address]) => console.log(`express at ${address} (master pid ${process.pid})`));
await arbiter.run();
