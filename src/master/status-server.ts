import http from 'node:http';
import { parseBind } from '../config.js';
import type { OperatorLog } from '../log.js';
import { trace } from '../trace.js';
import type { LiveEvent, LiveFeed } from '../control/feed.js';
import type { MasterEventSource } from './bus.js';
import { lowPortAdvice, notASocket } from './bind-errors.js';
import { DASHBOARD_HTML } from './dashboard.js';
import { BIND_RETRY_DELAY, BIND_TRIES, removeStaleUnixSocket } from './listeners.js';
import { APP_METRICS_DEADLINE, PROMETHEUS_CONTENT_TYPE, type MetricsPage } from './metrics.js';
import type { SupervisorView } from './stats.js';

/** What the status server reads from the master (it never changes anything but its own exit status on a failed bind). */
export interface StatusSource {
  /** The loop runs and the master is not stopping. */
  readonly running: boolean;
  /** Workers, generations, target. */
  inspect(): SupervisorView;
  /** Halts the master (used when the status address cannot be bound: the master could not start). */
  stop(graceful: boolean, code?: number, reason?: string): unknown;
  /** Makes the master wait for `work` before it spawns its first workers. */
  holdFirstSpawn(work: Promise<unknown>): void;
}

/** Everything the status server needs. */
export interface StatusServerOptions {
  /** `statusBind`: `host:port`, `:port`, `[::1]:port` or `unix:/path`. */
  bind: string;
  /** The master. */
  master: StatusSource;
  /** `arbiter.stats()`, for `/status`. */
  stats: () => Promise<unknown>;
  /** The `/metrics` page. */
  metrics: MetricsPage;
  /** Operator log. */
  log: OperatorLog;
  /** This master was started by USR2: the old master holds the address until it exits, so binding waits for it. */
  upgraded: boolean;
  /** The lifecycle events `/events` streams (without it, `/events` is 404). */
  feed?: LiveFeed;
}

/** `/events` streams open at once at most (each holds a connection of the 128 the server accepts). */
export const MAX_EVENT_STREAMS = 32;
/** A comment line on an idle `/events` stream this often (ms), so that proxies keep it open; no timer runs without a stream. */
const SSE_PING = 25_000;

type Route = (s: StatusServer, req: http.IncomingMessage, res: http.ServerResponse) => void | Promise<void>;

function text(res: http.ServerResponse, status: number, body: string, headers: http.OutgoingHttpHeaders = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', ...headers }).end(body);
}

/** The scraper's own timeout (Prometheus sends it) bounds how long we wait for the workers. */
function scrapeDeadline(req: http.IncomingMessage): number {
  const seconds = Number(req.headers['x-prometheus-scrape-timeout-seconds']);
  return Number.isFinite(seconds) && seconds > 0 ? Math.max(50, Math.min(APP_METRICS_DEADLINE, (seconds * 1000) / 2)) : APP_METRICS_DEADLINE;
}

/** Path -> handler (GET and HEAD only; HEAD gets the same status and headers, no body). */
const ROUTES: Readonly<Record<string, Route>> = {
  '/': (_s, _req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', 'content-security-policy': "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self'" }).end(DASHBOARD_HTML);
  },
  '/events': (s, req, res) => s.stream(req, res),
  // what a browser asks for beside the dashboard: nothing (no 404 in its console)
  '/favicon.ico': (_s, _req, res) => void res.writeHead(204, { 'cache-control': 'max-age=86400' }).end(),
  '/healthz': (_s, _req, res) => text(res, 200, 'ok\n'),
  '/readyz': (s, _req, res) => {
    const why = s.notReady();
    if (why) text(res, 503, `${why}\n`);
    else text(res, 200, 'ready\n');
  },
  '/status': async (s, _req, res) => {
    const body = JSON.stringify(await s.options.stats());
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(`${body}\n`);
  },
  '/metrics': async (s, req, res) => {
    const page = await s.options.metrics.render(s.options.master.inspect(), scrapeDeadline(req));
    res.writeHead(200, { 'content-type': PROMETHEUS_CONTENT_TYPE, 'cache-control': 'no-store' }).end(page);
  },
};

/**
 * The `statusBind` server: read-only HTTP in the master, for probes, scrapers and people — `/healthz`,
 * `/readyz`, `/status`, `/metrics`, the dashboard page `/` and its event stream `/events`. It accepts no command (anything but GET and HEAD gets 405) and
 * runs from the moment the loop runs (`ready`) until the master halts (`exit`). Nothing runs
 * between requests.
 */
export class StatusServer {
  /** What it was made with. */
  readonly options: StatusServerOptions;
  readonly #server: http.Server;
  #closed = false;
  #streams = 0;

  /** Creates the server; it listens once the master's loop runs and closes when the master halts. */
  static attach(events: MasterEventSource, options: StatusServerOptions): StatusServer {
    const s = new StatusServer(options);
    events.on('ready', () => {
      const listening = s.#listen();
      // A taken address fails the start before any worker serves (a USR2 master waits for the
      // old master to let go of it instead, while its workers take over).
      if (!options.upgraded) options.master.holdFirstSpawn(listening);
    });
    events.on('exit', () => s.close());
    return s;
  }

  private constructor(options: StatusServerOptions) {
    this.options = options;
    this.#server = http.createServer((req, res) => this.#handle(req, res));
    this.#server.maxConnections = 128; // a flood of scrapers must not take over the master
    this.#server.requestTimeout = 10_000;
    this.#server.on('clientError', (_err, socket) => socket.destroy());
  }

  /**
   * Why the master is not ready, or `undefined` when it is: it is not stopping, and at least one
   * worker is ready — of the current generation, or of the one a reload in progress is replacing
   * (that one serves until the new one is ready, so a reload does not take the instance out of a
   * load balancer).
   */
  notReady(): string | undefined {
    if (!this.options.master.running) return 'stopping';
    const ready = this.options.master.inspect().workers.some((w) => w.info.state === 'ready');
    return ready ? undefined : 'no worker ready';
  }

  /**
   * `GET /events`: server-sent events, one `data:` line (a {@link LiveEvent}) per lifecycle event,
   * its `seq` as the event id. `?backlog=N` replays the last N first (at most 50); a reconnecting
   * browser's `Last-Event-ID` skips what it has seen. The stream ends when the master halts.
   */
  stream(req: http.IncomingMessage, res: http.ServerResponse): void {
    const feed = this.options.feed;
    if (!feed) return text(res, 404, 'Not Found: no event feed in this master\n');
    if (this.#streams >= MAX_EVENT_STREAMS) return text(res, 503, `Service Unavailable: ${MAX_EVENT_STREAMS} event streams are open\n`, { 'retry-after': '10' });
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-accel-buffering': 'no' });
    if (req.method === 'HEAD') return void res.end();
    this.#streams++;
    const url = new URL(req.url ?? '/', 'http://x');
    const backlog = Math.min(Math.max(Number(url.searchParams.get('backlog')) || 0, 0), 50);
    const seen = Number(req.headers['last-event-id']) || 0;
    res.write('retry: 2000\n\n');
    const send = (e: LiveEvent): void => {
      if (e.seq <= seen || res.destroyed) return;
      if (res.writableLength > 1 << 20) return void res.destroy(); // a reader that does not read
      res.write(`id: ${e.seq}\ndata: ${JSON.stringify(e)}\n\n`);
      if (e.type === 'halt') res.end();
    };
    const unsubscribe = feed.subscribe(send, backlog || (seen ? 50 : 0));
    const ping = setInterval(() => res.write(': ping\n\n'), SSE_PING).unref();
    res.on('close', () => {
      this.#streams--;
      clearInterval(ping);
      unsubscribe();
    });
  }

  /** Stops listening and drops open connections (keep-alive scrapers included). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#server.close();
    this.#server.closeAllConnections();
  }

  #handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (req.method !== 'GET' && req.method !== 'HEAD') return text(res, 405, 'Method Not Allowed: this server is read-only\n', { allow: 'GET, HEAD' });
    const path = (req.url ?? '/').split('?')[0]!;
    const route = Object.hasOwn(ROUTES, path) ? ROUTES[path] : undefined;
    if (!route) return text(res, 404, 'Not Found: try / (the dashboard), /events, /healthz, /readyz, /status or /metrics\n');
    Promise.resolve()
      .then(() => route(this, req, res))
      .catch((err: unknown) => {
        this.options.log.exception(`Status server: error answering ${path}`, err);
        if (!res.headersSent) text(res, 500, 'Internal Server Error\n');
        else res.destroy();
      });
  }

  /** Binds `statusBind`, retrying "address in use" like the listeners (a USR2 master: until the old master lets go). */
  async #listen(): Promise<void> {
    const { bind, log, upgraded } = this.options;
    const addr = parseBind(bind);
    for (let attempt = 1; !this.#closed; attempt++) {
      const err = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
        const onError = (e: NodeJS.ErrnoException): void => resolve(e);
        this.#server.once('error', onError);
        const listening = (): void => {
          this.#server.off('error', onError);
          resolve(undefined);
        };
        if (addr.kind === 'unix') this.#server.listen(addr.path, listening);
        // one server, one address: `localhost` is 127.0.0.1 here (the listeners bind every address of a name)
        else if (addr.kind === 'tcp') this.#server.listen(addr.port, addr.host === 'localhost' ? '127.0.0.1' : addr.host, listening);
      });
      if (this.#closed) return this.close();
      if (!err) {
        const a = this.#server.address();
        const url = typeof a === 'string' ? `unix:${a}` : a ? `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}` : bind;
        log.info(`Status server listening at: ${url} (${process.pid})`, { address: url });
        return;
      }
      trace.master('status server: cannot listen on %s: %s', bind, err.code);
      let why = err.message;
      if (err.code === 'EADDRINUSE' && addr.kind === 'unix') {
        const inTheWay = notASocket(addr.path);
        if (inTheWay) why = `${addr.path} exists and is ${inTheWay}, not a socket: arbiter does not remove it; move it away or choose another \`statusBind\` path`; // not retried
        else if ((await removeStaleUnixSocket(addr.path).catch(() => 'in-use')) === 'removed') continue;
      } else if (err.code === 'EACCES' && addr.kind === 'tcp' && addr.port > 0 && addr.port < 1024) {
        why = `${err.message}: ${lowPortAdvice()}`;
      }
      if (err.code !== 'EADDRINUSE' || why !== err.message || (!upgraded && attempt >= BIND_TRIES)) {
        log.error(`Cannot serve status at ${bind} (statusBind): ${why}`, { address: bind });
        this.options.master.stop(true, 1, 'The status server could not listen.');
        return;
      }
      if (attempt === 1) {
        log.info(upgraded ? `Status server: ${bind} is in use, waiting for the old master to let go of it` : `Status server: ${bind} is in use, retrying`, { address: bind });
      }
      await new Promise((r) => setTimeout(r, BIND_RETRY_DELAY).unref());
    }
  }
}
