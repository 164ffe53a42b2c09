import { HttpWorker, type HttpServingPolicy } from './http.js';

/**
 * The `sync` model (gunicorn's default): one connection, so one request, at a time per worker
 * process; the connection is closed after each response. The heartbeat only beats between
 * requests, so a request running longer than `timeout` gets its worker killed and replaced.
 *
 * A busy sync worker does not accept: it pauses its listeners while it serves and resumes once
 * it is free, so idle workers get the next connections (instead of this one holding them).
 */
export class SyncWorker extends HttpWorker {
  /** One connection at a time, no keep-alive, heartbeat only between requests. */
  protected readonly policy: HttpServingPolicy = { maxConnections: 1, keepAlive: false, heartbeat: 'idle', exclusiveAccept: true, balance: false };
}
