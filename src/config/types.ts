// The config's public types: every option with its documentation (what typedoc shows), the
// resolved config the engine works with, and the hooks. The option table (options.ts) checks and
// defaults them; this file holds no behaviour.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { LogFormat, LogLevel, LogSink } from '../log.js';
import type { Duration, Size } from '../units.js';
import type { MAX_WORKERS } from './checks.js'; // for {@link MAX_WORKERS}

/**
 * Worker-side hooks (they run inside each worker process, never in the master).
 * `W` is the worker they receive: `WorkerClass<H>` for an app whose handler is `H` (see
 * `ArbiterConfig<H>`). Hook errors are logged with their stack; they never kill the master.
 */
export interface WorkerHooks<W = unknown> {
  /**
   * Once the app is loaded (after `load()`), before `boot()` and before the worker accepts
   * (gunicorn `post_fork`, worker side; gunicorn runs it before loading the app). Awaited; a
   * throw or rejection fails the boot (exit status 3).
   */
  postFork?(worker: W): void | Promise<void>;
  /** After `boot()`, just before the worker accepts (gunicorn `post_worker_init`). Awaited; a throw or rejection fails the boot. */
  postWorkerInit?(worker: W): void | Promise<void>;
  /** Before each HTTP request is handed to the app (gunicorn `pre_request`). Not awaited. */
  preRequest?(worker: W, req: IncomingMessage): void;
  /** After each HTTP request, even when the handler threw (gunicorn `post_request`). Not awaited. */
  postRequest?(worker: W, req: IncomingMessage, res: ServerResponse): void;
  /**
   * The worker got SIGINT/SIGQUIT (gunicorn `worker_int`); `workerExit` follows. A returned
   * promise is awaited, within the same bound as `workerExit`.
   */
  workerInt?(worker: W): void | Promise<void>;
  /**
   * The worker got SIGABRT, usually because the master timed it out (gunicorn `worker_abort`);
   * `workerExit` follows. Both together get about one second: the master's SIGKILL follows.
   */
  workerAbort?(worker: W): void | Promise<void>;
  /**
   * The worker is about to exit (gunicorn `worker_exit`, worker side): close pools, flush, finish
   * async work. A returned promise is awaited, until `gracefulTimeout` after the stop was asked
   * (the master's SIGKILL deadline) less 100 ms; a hook still running then is cut off with a
   * warning in the log.
   */
  workerExit?(worker: W): void | Promise<void>;
  /**
   * The master got SIGUSR1 (logrotate's `postrotate kill -USR1 <master pid>`): reopen the log
   * files the app writes. Runs once in every worker (in every serving thread of a `threaded`
   * worker, where the app lives); the master emits `reopen_logs`. Not awaited; errors are logged.
   */
  onReopenLogs?(worker: W): void | Promise<void>;
}

/**
 * What the config knows about a `workerClass` value: a model's name or a class whose instances
 * are `W`. Which names and classes are valid is the model registry's business.
 */
export type WorkerClassValue<W = unknown> = string | (new (init: never) => W);

/** Validates a `workerClass` value (the model registry's `checkWorkerClass`); throws `ARBITER_ERR_CONFIG`. */
export type WorkerClassCheck = (value: unknown) => WorkerClassValue;

/**
 * Every option the arbiter understands, for workers of type `W` (what the hooks receive).
 * Apps use `ArbiterConfig<H>`, which is this with `W = WorkerClass<H>`.
 * All are optional. Durations are milliseconds, or strings with a unit (`'30s'`, `'500ms'`, `'2m'`,
 * `'1h'`: {@link Duration}); sizes are bytes, or strings such as `'512mb'` ({@link Size}).
 * Unknown names are rejected (`ARBITER_ERR_CONFIG`): a typo never passes silently.
 */
export interface BaseConfig<W = unknown> extends WorkerHooks<W> {
  /**
   * Where to listen: `host:port`, `:port` (all interfaces), `[::1]:port`, `tcp://host:port`,
   * `unix:/path`, `fd://N`. A host name is bound at every address it resolves to
   * (`localhost:8000`: 127.0.0.1 and ::1 where both resolve), as gunicorn does.
   * Under systemd socket activation (`LISTEN_FDS`/`LISTEN_PID`) the passed sockets are used instead.
   * Each address once: an entry listed twice, two spellings of one address (`tcp://127.0.0.1:8000`
   * and `127.0.0.1:8000`, two paths to one unix socket) or a wildcard with an address it covers on
   * the same port (`0.0.0.0:8000` and `127.0.0.1:8000`) are refused (`ARBITER_ERR_CONFIG`); a host name
   * that resolves to an address listed too (`localhost:8000` and `127.0.0.1:8000`) fails the bind.
   * @default '127.0.0.1:8000', or '0.0.0.0:$PORT' when PORT is set
   */
  bind?: string | string[];
  /** Listen backlog (pending connections the kernel queues). @default 2048 */
  backlog?: number;
  /**
   * Number of worker processes, or `'auto'`: one per CPU this process may use — the cgroup v2 CPU
   * quota (a container's or pod's CPU limit), rounded down, at least 1, else
   * `os.availableParallelism()`. Resolved when the config is read (and again on reload); the
   * master logs how it decided. At most {@link MAX_WORKERS} (1024).
   *
   * `{ min, max }`: adaptive workers (`max` may be `'auto'`, the CPU budget). The master starts
   * `min` workers, adds one when `saturation` stays at or above {@link BaseConfig.scaleUpAt} for
   * 3 s or connections wait in the accept queues for 2 s, and removes one when it stays at or below
   * {@link BaseConfig.scaleDownAt} for {@link BaseConfig.scaleDownAfter}; never beyond the bounds,
   * never up while the cgroup's memory headroom is below 1.5× the median worker RSS. `scale()`,
   * TTIN and TTOU are clamped to the bounds.
   * @default $WEB_CONCURRENCY or 1
   */
  workers?:
    | number
    | 'auto'
    | {
        /** Fewest workers (the count the master starts with), at least 1. */
        min: number;
        /** Most workers, at least `min`, at most 1024; `'auto'`: the CPU budget, as `workers: 'auto'`. */
        max: number | 'auto';
      };
  /** Adaptive workers: the `saturation` (0–1) at or above which, held for 3 s, a worker is added. @default 0.75 */
  scaleUpAt?: number;
  /** Adaptive workers: the `saturation` (0–1, below `scaleUpAt`) at or below which, held for `scaleDownAfter`, a worker is removed. @default 0.25 */
  scaleDownAt?: number;
  /** Adaptive workers: how long (milliseconds, or `'30s'`) saturation must stay low before a worker is removed. @default 30000 */
  scaleDownAfter?: Duration;
  /**
   * Worker model: `'async'` (the event loop serves many connections), `'sync'` (gunicorn's model:
   * one request at a time per worker), `'threaded'`, or a `WorkerClass` subclass.
   * @default 'async'
   */
  workerClass?: WorkerClassValue<W>;
  /** Threads per `threaded` worker, 1 to 256 (other models ignore it, with a warning at start). @default 1 */
  threads?: number;
  /** Maximum concurrent connections per `async` worker; more are queued until one closes. @default 1000 */
  workerConnections?: number;
  /** A worker silent this long (milliseconds, or `'30s'`) is aborted and replaced; 0 disables. @default 30000 */
  timeout?: Duration;
  /** How long (milliseconds, or `'30s'`) a graceful stop may take before SIGKILL. @default 30000 */
  gracefulTimeout?: Duration;
  /**
   * How long (milliseconds, or `'1m'`) a new worker may take to report ready. During a reload, a
   * new generation that misses it is abandoned and the old workers keep serving; otherwise the
   * worker is aborted and replaced. 0 disables. @default 60000
   */
  bootTimeout?: Duration;
  /**
   * Warm spares: processes that have booted and loaded the app but do not accept. When a worker
   * dies, times out or retires, a spare takes its slot over at once (it only has to start
   * accepting, not to boot), and a new spare boots behind it. Spares never serve, are not counted
   * in `workers`, are replaced with fresh code on reload, and show with state `'spare'`.
   * Each costs a worker's memory. At most {@link MAX_WORKERS}. @default 0
   */
  spareWorkers?: number;
  /** Idle keep-alive timeout (milliseconds, or `'2s'`) of `async`/`threaded` workers. @default 2000 */
  keepAlive?: Duration;
  /**
   * Overload shedding by queue time: a request whose `X-Request-Start` header (set by the proxy in
   * front: `t=<seconds>` with a fraction as nginx's `t=${msec}`, `t=<milliseconds>` as Heroku and
   * Render, or `t=<microseconds>`) is older than this many milliseconds is answered `503` with
   * `Retry-After: 1` before the app sees it — the client has probably given up. Counted in
   * `arbiter_shed_total{reason="queue_time"}`. HTTP worker models only; 0 = off. @default 0
   */
  maxQueueTime?: Duration;
  /**
   * Overload shedding by event-loop delay (`@fastify/under-pressure` for every framework): while
   * the worker's event-loop delay p99 over the last second is above this many milliseconds, new
   * requests are answered `503` with `Retry-After: 1` before the app sees them. Counted in
   * `arbiter_shed_total{reason="event_loop_delay"}`. HTTP worker models only; 0 = off. @default 0
   */
  maxEventLoopDelay?: Duration;
  /** Recycle a worker after this many requests; 0 = never. @default 0 */
  maxRequests?: number;
  /** Add `randint(0, maxRequestsJitter)` to `maxRequests` per worker. @default 0 */
  maxRequestsJitter?: number;
  /** Path of the master's pidfile, written atomically and removed on exit. @default null (none) */
  pidfile?: string | null;
  /**
   * Process title suffix: `arbiter: master [procName]`, `arbiter: worker [procName]`. Linux keeps
   * a process title in the memory of its original command line, so a title is cut to that length
   * (`node server.js`: 14 characters); the master (and the first worker) then log a warning.
   * Start node with a longer command line (e.g. the script's absolute path, as a systemd unit
   * does) or use a shorter name.
   * @default null (titles unchanged)
   */
  procName?: string | null;
  /** Extra environment variables for the workers (gunicorn `raw_env`). @default {} */
  env?: Record<string, string>;
  /** Where operator log lines go: a sink with `write()`, or `false` to silence them. @default process.stderr */
  logger?: LogSink | false;
  /** Minimum level of operator log lines. @default 'info' */
  logLevel?: LogLevel;
  /**
   * Resident memory (RSS: bytes, or `'512mb'`) above which a worker is recycled gracefully: a replacement
   * starts first, then the worker drains (no failed request); one that keeps growing past 1.5×
   * while draining is killed. Checked by the worker's watchdog every heartbeat period.
   * 0 = off; otherwise at least 16 MiB. Exit reason `memory`.
   * @default 0
   */
  maxWorkerMemory?: Size;
  /**
   * Restart budget (Erlang/OTP's intensity): more than this many unplanned worker deaths (crashes,
   * unexpected exits, timeouts) within `restartWindow` halts the master with status 5 after
   * stopping the remaining workers, so systemd or Kubernetes can act. 0 = no budget.
   * @default 0
   */
  maxRestarts?: number;
  /** The window (milliseconds, or `'1m'`) over which `maxRestarts` counts deaths. @default 60000 */
  restartWindow?: Duration;
  /**
   * Run the workers as this user: a name or a uid. The master keeps its own user and the sockets
   * it bound (start it as root). Names are looked up in /etc/passwd, then with `getent`.
   * @default null (the master's user)
   */
  user?: string | number | null;
  /**
   * Run the workers with this group: a name or a gid.
   * @default null (the user's primary group when `user` is set, else the master's group)
   */
  group?: string | number | null;
  /**
   * The workers' umask (also applied to the mode of unix sockets the master binds): an integer,
   * or octal digits as a string (`'027'`).
   * @default null (inherited from the master)
   */
  umask?: number | string | null;
  /**
   * The master's control socket (what `arbiter ls|status|reload|scale|stop|upgrade|reopen` talk
   * to): `true` for the automatic path `$XDG_RUNTIME_DIR/arbiter/<pid>.sock`, else
   * `<os.tmpdir()>/arbiter-<uid>/<pid>.sock` (directory 0700, socket 0600, removed on exit);
   * a path to put it there instead; `false` for none. See docs/cli.md.
   * @default true
   */
  controlSocket?: string | boolean;
  /**
   * Serve HTTPS: the PEM certificate (with its chain) of every bind. Each worker reads it when it
   * boots, so a reload (HUP) serves the file on disk then; one that does not load fails the reload
   * and the old workers keep serving. Needs {@link BaseConfig.keyfile}. The HTTP worker models serve it
   * (not an app that calls `listen()` itself: its own server decides). See docs/deploy.md.
   * @default null (plain HTTP)
   */
  certfile?: string | null;
  /**
   * The PEM private key of {@link BaseConfig.certfile}.
   * @default null
   */
  keyfile?: string | null;
  /**
   * CA certificates (PEM) that client certificates are checked against (with {@link BaseConfig.certReqs}).
   * @default null
   */
  caCerts?: string | null;
  /**
   * Client certificates: `'none'` (not asked for), `'optional'` (asked for; the app reads
   * `req.socket.authorized`), `'required'` (a connection without a valid one is refused in the
   * handshake). gunicorn's numbers 0, 1, 2 are accepted.
   * @default 'none'
   */
  certReqs?: 'none' | 'optional' | 'required' | 0 | 1 | 2;
  /**
   * Serve HTTP/2 on the TLS binds, HTTP/1.1 to clients that do not offer it (ALPN). The app's
   * handler gets Node's HTTP/2 compatibility request and response (`http2.Http2ServerRequest`).
   * Needs {@link BaseConfig.certfile}.
   * @default false
   */
  http2?: boolean;
  /**
   * Development: watch the app's files — every file of the module graph a worker loaded, outside
   * `node_modules` — and reload (as HUP: new workers, the old ones keep serving until they are
   * ready, rolled back when the new code fails to load) when one changes. See docs/cli.md.
   * @default false
   */
  reload?: boolean;
  /**
   * With {@link BaseConfig.reload}: more files to watch (templates, a `.env`), relative to the
   * working directory.
   * @default []
   */
  reloadExtraFiles?: string | string[];
  /**
   * Format of operator log lines: `'text'` (gunicorn's) or `'json'`, one object per line with
   * `time`, `level`, `pid`, `msg` and fields such as `worker`, `signal`, `reason`, `err.stack`.
   * @default 'text'
   */
  logFormat?: LogFormat;
  /**
   * Address of a read-only HTTP server in the master for probes and scrapers: `/healthz`,
   * `/readyz`, `/status` (the JSON of `arbiter status --json`) and `/metrics` (Prometheus).
   * `host:port`, `:port`, `[::1]:port` or `unix:/path`; `null`: none. It accepts no command.
   * An address of a given `bind` (or one a `bind` wildcard covers) is refused (`ARBITER_ERR_CONFIG`).
   * @default null
   */
  statusBind?: string | null;
  /**
   * The access log (gunicorn `accesslog`): `'-'` for standard output, or a file path that each
   * worker opens for appending (reopened on USR1, for logrotate); `null`: none. Each worker
   * writes its own lines, whole lines per write.
   * @default null
   */
  accesslog?: string | null;
  /**
   * The access log's line (gunicorn `access_log_format`): `%(atom)s` with gunicorn's atoms — `h`
   * remote address, `l` `-`, `u` Basic-auth user, `t` date `[06/Dec/2026:04:20:00 +0000]`, `r`
   * request line, `m` method, `U` path, `q` query, `H` protocol, `s` status, `B` body bytes, `b`
   * body bytes or `-`, `f` referer, `a` user agent, `T` seconds, `M` milliseconds, `D`
   * microseconds, `L` decimal seconds, `p` `<pid>`, `{Header}i` request header, `{Header}o`
   * response header, `{VARIABLE}e` a CGI variable (`REMOTE_PORT`, `QUERY_STRING`…) or the
   * worker's environment. With `logFormat: 'json'` each line is a JSON object with `time`,
   * `pid` and the format's atoms by name (`remote_addr`, `request`, `status`, `bytes`, `req_<header>`…).
   * An unknown atom or a stray `%` is a config error.
   * @default '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"'
   */
  accessLogFormat?: string;
  /**
   * Longest request line (method, target and version) in bytes (gunicorn `limit_request_line`):
   * a longer one is answered `400 Bad Request` before the app runs. 1 to 8190; 0 = 8190.
   * Applies to the servers the worker models create (not to an app that listens itself).
   * @default 4094
   */
  limitRequestLine?: number;
  /**
   * Most header fields in a request (gunicorn `limit_request_fields`): more are answered `431
   * Request Header Fields Too Large` before the app runs. 1 to 32768.
   * @default 100
   */
  limitRequestFields?: number;
  /**
   * Longest header field (`Name: value`) in bytes (gunicorn `limit_request_field_size`): a longer
   * one is answered `431`. 0 = unlimited (up to 64 KiB each). Node's own limit on the whole
   * head (`maxHeaderSize`, 16 KiB) is raised to what the three limits allow together.
   * @default 8190
   */
  limitRequestFieldSize?: number;
  /**
   * The peers trusted to say who the client is (gunicorn `forwarded_allow_ips`): addresses and
   * networks (`'10.0.0.0/8,fd00::/8'`, or an array), or `'*'` for every peer. A request from a
   * trusted peer reaches the app with its `X-Forwarded-For`, `X-Forwarded-Proto` (and the other
   * `X-Forwarded-*`, `Forwarded`, `X-Real-IP`) headers as sent; from any other peer those headers
   * are removed before the app runs, so the app (or `trust proxy` in Express) can believe the ones
   * it sees. Nothing is rewritten: `req.socket.remoteAddress` stays the peer — or, with
   * `proxyProtocol`, the client the PROXY header names, which is the address checked.
   * A unix-socket peer is trusted.
   * @default $FORWARDED_ALLOW_IPS, or '127.0.0.1,::1' (as gunicorn)
   */
  forwardedAllowIps?: string | string[];
  /**
   * Every connection starts with a PROXY protocol header, v1 (text) or v2 (binary), from the proxy
   * in front (HAProxy `send-proxy`, nginx `proxy_protocol`, an AWS NLB): the app sees the client
   * it names as `req.socket.remoteAddress` and `remotePort`. A connection whose header is missing,
   * malformed or not complete within 5 s is closed and logged at debug level. Unlike gunicorn
   * (which also serves connections without a header), the header is required: a client that
   * reaches the port directly cannot claim an address.
   * @default false
   */
  proxyProtocol?: boolean;
}

/**
 * The options that are durations: milliseconds, or strings with a unit ({@link Duration}). In a
 * config file a bare number below 1000 for one of them is refused (see `bareMilliseconds` in config.ts).
 */
export const DURATION_OPTIONS = ['scaleDownAfter', 'timeout', 'gracefulTimeout', 'bootTimeout', 'keepAlive', 'maxQueueTime', 'maxEventLoopDelay', 'restartWindow'] as const satisfies readonly (keyof BaseConfig)[];

/** The name of a duration option. */
export type DurationOption = (typeof DURATION_OPTIONS)[number];

/** A config with every default filled in: what the engine works with (see {@link BaseConfig} for each field). */
export interface ResolvedConfig<W = unknown>
  extends WorkerHooks<W>,
    Required<Omit<BaseConfig<W>, keyof WorkerHooks | 'bind' | 'workers' | DurationOption | 'maxWorkerMemory' | 'pidfile' | 'procName' | 'env' | 'user' | 'group' | 'umask' | 'controlSocket' | 'reloadExtraFiles' | 'certfile' | 'keyfile' | 'caCerts' | 'certReqs'>> {
  /** Every address to listen on, see {@link BaseConfig.bind}. */
  bind: string[];
  /** Number of worker processes (`'auto'` already resolved), see {@link BaseConfig.workers}. */
  workers: number;
  /** Milliseconds, see {@link BaseConfig.timeout}. */
  timeout: number;
  /** Milliseconds, see {@link BaseConfig.gracefulTimeout}. */
  gracefulTimeout: number;
  /** Milliseconds, see {@link BaseConfig.bootTimeout}. */
  bootTimeout: number;
  /** Milliseconds, see {@link BaseConfig.keepAlive}. */
  keepAlive: number;
  /** Milliseconds (0 = off), see {@link BaseConfig.maxQueueTime}. */
  maxQueueTime: number;
  /** Milliseconds (0 = off), see {@link BaseConfig.maxEventLoopDelay}. */
  maxEventLoopDelay: number;
  /** Milliseconds, see {@link BaseConfig.restartWindow}. */
  restartWindow: number;
  /** Milliseconds, see {@link BaseConfig.scaleDownAfter}. */
  scaleDownAfter: number;
  /** Bytes, see {@link BaseConfig.maxWorkerMemory}. */
  maxWorkerMemory: number;
  /** See {@link BaseConfig.pidfile}; `null` when none. */
  pidfile: string | null;
  /** See {@link BaseConfig.procName}; `null` when titles are left alone. */
  procName: string | null;
  /** See {@link BaseConfig.env}. */
  env: Readonly<Record<string, string>>;
  /** The workers' uid (see {@link BaseConfig.user}); `null`: the master's. */
  user: number | null;
  /** The workers' gid (see {@link BaseConfig.group}); `null`: the user's primary group, or the master's. */
  group: number | null;
  /** The workers' umask (see {@link BaseConfig.umask}); `null`: inherited. */
  umask: number | null;
  /** See {@link BaseConfig.controlSocket}: `true` (automatic path), a path, or `false`. */
  controlSocket: string | boolean;
  /** See {@link BaseConfig.certfile}; `null` when none. */
  certfile: string | null;
  /** See {@link BaseConfig.keyfile}; `null` when none. */
  keyfile: string | null;
  /** See {@link BaseConfig.caCerts}; `null` when none. */
  caCerts: string | null;
  /** See {@link BaseConfig.certReqs} (a number resolved to its name). */
  certReqs: 'none' | 'optional' | 'required';
  /** Absolute paths, see {@link BaseConfig.reloadExtraFiles}. */
  reloadExtraFiles: string[];
}

/** The option defaults that do not depend on the environment (`bind` and `workers` do: `PORT`, `WEB_CONCURRENCY`). */
export type StaticDefaults = Readonly<
  Pick<ResolvedConfig, 'backlog' | 'scaleUpAt' | 'scaleDownAt' | 'scaleDownAfter' | 'workerClass' | 'threads' | 'workerConnections' | 'timeout' | 'gracefulTimeout' | 'bootTimeout' | 'spareWorkers' | 'keepAlive' | 'maxQueueTime' | 'maxEventLoopDelay' | 'maxRequests' | 'maxRequestsJitter' | 'pidfile' | 'procName' | 'logLevel' | 'maxWorkerMemory' | 'maxRestarts' | 'restartWindow' | 'user' | 'group' | 'umask' | 'logFormat' | 'statusBind' | 'controlSocket' | 'reload' | 'reloadExtraFiles' | 'certfile' | 'keyfile' | 'caCerts' | 'certReqs' | 'http2' | 'accesslog' | 'accessLogFormat' | 'limitRequestLine' | 'limitRequestFields' | 'limitRequestFieldSize' | 'proxyProtocol'>
>;
