// A custom, non-HTTP worker model: a TCP line-echo server built on WorkerClass.
// Each line a client sends comes back transformed by the app's handler (here: upper-cased).
//   node examples/echo-worker.mjs          then: nc 127.0.0.1 9000
import { Arbiter, WorkerClass } from 'arbiter';

class LineEchoWorker extends WorkerClass {
  async run() {
    const sockets = new Set();
    // Heartbeat from the event loop: a blocked loop stops it and the master replaces us.
    const beat = setInterval(() => this.notify(), this.heartbeatInterval || 1000);
    // Attach handlers synchronously: the inherited listeners already accept.
    for (const listener of this.listeners) {
      listener.on('connection', (socket) => {
        sockets.add(socket);
        socket.once('close', () => sockets.delete(socket));
        socket.setEncoding('utf8');
        let buffered = '';
        socket.on('data', (chunk) => {
          buffered += chunk;
          for (let i = buffered.indexOf('\n'); i >= 0; i = buffered.indexOf('\n')) {
            const line = buffered.slice(0, i);
            buffered = buffered.slice(i + 1);
            socket.write(`${this.handler(line)}\n`);
            this.requestDone(); // counts toward maxRequests
          }
        });
        socket.on('error', () => socket.destroy());
      });
    }
    // Graceful stop: stop accepting, say goodbye, let clients hang up (or cut them after keepAlive).
    await new Promise((resolve) => this.signal.addEventListener('abort', resolve, { once: true }));
    for (const listener of this.listeners) listener.close();
    await Promise.all(
      [...sockets].map(
        (socket) =>
          new Promise((resolve) => {
            socket.once('close', resolve);
            socket.end('bye\n');
            setTimeout(() => socket.destroy(), this.config.keepAlive).unref();
          }),
      ),
    );
    clearInterval(beat);
  }
}

const arbiter = new Arbiter({
  config: { bind: process.env.ECHO_BIND ?? '127.0.0.1:9000', workers: 2, workerClass: LineEchoWorker },
  load: () => (line) => line.toUpperCase(), // the "app": runs in each worker
});
arbiter.on('ready', ([address]) => console.log(`line echo server at ${address} (master pid ${process.pid})`));
await arbiter.run();
