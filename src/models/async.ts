import { HttpWorker, type HttpServingPolicy } from './http.js';

/**
 * The `async` model: Node's event loop serves many connections at once (up to
 * `workerConnections`), with keep-alive. The heartbeat comes from a loop timer, so a worker
 * whose event loop is *blocked* for `timeout` ms is killed, while slow non-blocking requests are fine.
 */
export class AsyncWorker extends HttpWorker {
  /** Many connections, keep-alive, heartbeat from the loop. */
  protected readonly policy: HttpServingPolicy = {
    maxConnections: this.config.workerConnections,
    keepAlive: true,
    heartbeat: 'loop',
    exclusiveAccept: true,
    balance: true,
  };
}
