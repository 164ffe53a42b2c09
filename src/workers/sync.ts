import { HttpWorker, type HttpServingPolicy } from './http.js';

/**
 * The `sync` model (gunicorn's default): one connection, so one request, at a time per worker
 * process; the connection is closed after each response. The heartbeat only beats between
 * requests, so a request running longer than `timeout` gets its worker killed and replaced.
 *
 * Known limit (issue #3): libuv accepts greedily, so a busy sync worker can still accept
 * connections and hold them (paused) until it is free instead of leaving them to idle workers.
 */
export class SyncWorker extends HttpWorker {
  /** One connection at a time, no keep-alive, heartbeat only between requests. */
  protected readonly policy: HttpServingPolicy = { maxConnections: 1, keepAlive: false, heartbeat: 'idle' };
}
