// Fastify under arbiter:  node examples/fastify.mjs   then: curl http://127.0.0.1:8000/hello/you
// A Fastify instance is not a request listener: load() awaits app.ready() and returns
// app.routing. workerExit closes the app (onClose hooks, DB pools…); the worker awaits it.
// Never call app.listen() — the workers already serve the master's sockets (docs/frameworks.md).
import fastify from 'fastify';
import { Arbiter } from 'arbiter';

let app; // this worker's Fastify instance

const arbiter = new Arbiter({
  config: {
    bind: process.env.BIND ?? '127.0.0.1:8000',
    workers: Number(process.env.WORKERS ?? 2),
    // Awaited before the worker exits (at most gracefulTimeout after the stop was asked).
    workerExit: async () => {
      await app?.close();
    },
  },
  // Runs in each worker, never in the master: build the app here.
  load: async () => {
    app = fastify();
    app.get('/hello/:name', async (req) => `hello ${req.params.name} from fastify, worker ${process.pid}\n`);
    app.addHook('onClose', async () => console.log(`fastify closed (worker ${process.pid})`));
    await app.ready();
    return app.routing;
  },
});
arbiter.on('ready', ([address]) => console.log(`fastify at ${address} (master pid ${process.pid})`));
await arbiter.run();
