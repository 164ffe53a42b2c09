// The demo behind `npm start`: an HTTP server on 127.0.0.1:8000 with 3 async workers.
// Run it, then poke it from another terminal with the commands it prints.
import { Arbiter } from 'arbiter';

const arbiter = new Arbiter({
  config: {
    bind: process.env.DEMO_BIND ?? '127.0.0.1:8000',
    workers: Number(process.env.DEMO_WORKERS ?? 3),
    workerClass: 'async',
    timeout: 10_000,
  },
  // Runs in every worker, never in the master.
  load: () => (req, res) => {
    res.setHeader('content-type', 'text/plain');
    res.end(`hello from worker ${process.pid}\n`);
  },
});

arbiter.on('ready', (addresses) => {
  const pid = process.pid;
  console.log(`
arbiter demo: master pid ${pid}, listening at ${addresses.join(', ')}
  curl ${addresses[0]}/            # answered by one of the workers
  kill -TTIN ${pid}               # one worker more
  kill -TTOU ${pid}               # one worker fewer (the oldest retires)
  kill -HUP ${pid}                # reload: fresh workers replace the old ones
  kill -TERM ${pid}               # graceful stop (Ctrl+C: quick stop)
`);
});
arbiter.on('worker_exit', (worker, exit) => {
  console.log(`worker ${worker.pid} (slot ${worker.slot}) exited: ${exit.reason}`);
});

await arbiter.run();
