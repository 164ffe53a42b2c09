import type { InflightRequest } from './worker/inflight.js';
/**
 * Every message between master and worker. IPC messages carry them under the `__arbiter__` key,
 * so a user's own `process.send()` messages pass through untouched.
 */
export type WorkerMessage =
  /** the entry script called `run()` (the worker now loads the app) */
  | { cmd: 'run' }
  /** the app is loaded and the listeners accept */
  | { cmd: 'ready' }
  /** a spare has loaded the app and waits for `serve` (it does not accept yet) */
  | { cmd: 'spare_ready' }
  /** the worker stops accepting and will exit once drained; the master may replace it now */
  | { cmd: 'retiring'; reason: 'max_requests' }
  /** the worker closed its listeners for good (draining): during a graceful stop the master closes its own copies once every worker has */
  | { cmd: 'accept_stopped' }
  /**
   * the worker failed before it was ready (its app did not load, its boot threw) and is about to
   * exit: why, in one line — the error's first line and where it is (see `errorSummary`)
   */
  | { cmd: 'boot_failed'; error: string }
  /** a config probe (reload) reports the config it evaluated */
  | { cmd: 'config'; config: unknown }
  /**
   * answer to `app_metrics` request `id`: the app's prom-client `register.getMetricsAsJSON()` of
   * each event loop that runs the app (one for a process model, one per thread for `threaded`;
   * a thread that did not answer in time is left out), or `null` when the app has no prom-client
   */
  | { cmd: 'app_metrics'; id: number; metrics: unknown[][] | null; error?: string }
  /**
   * the app called listen() itself (request) or exports a handler while the master binds on demand
   * (`{ default: index }`): asks for that socket; answered by `listened` with the handle attached
   */
  | { cmd: 'listen'; id: number; request: ListenRequest | { default: number } }
  /** `reload` (development): the app's files this worker loaded (absolute paths), for the master to watch */
  | { cmd: 'files'; files: string[] };

/**
 * What an app's own `listen()` asked for: a TCP port (with a host, or none: every interface, as
 * Node does) or a unix socket path. See `worker/app-servers.ts`.
 */
export interface ListenRequest {
  port?: number;
  host?: string | undefined;
  ipv6Only?: boolean;
  path?: string;
}

/** Messages from the master to a worker. */
export type MasterMessage =
  /** a `/metrics` scrape wants the app's own prom-client metrics within `deadline` ms (answered by `app_metrics`) */
  | { cmd: 'app_metrics'; id: number; deadline: number }
  /**
   * USR1 reached the master: reopen log files (the `onReopenLogs` hook). Sent over IPC, not as a
   * signal, so that a worker's own SIGUSR1 stays free (e.g. for Node's inspector).
   */
  | { cmd: 'reopen_logs' }
  /**
   * sent before the signal that stops or retires a worker: the master kills it `ms` ms after
   * that signal (its `gracefulTimeout` now — a reload may have changed it since the worker
   * started), so the worker cuts its exit hooks off by then
   */
  | { cmd: 'grace'; ms: number }
  /** a spare takes slot `slot` over: start accepting now */
  | { cmd: 'serve'; slot: number }
  /**
   * answer to `listen` request `id`: the socket is attached to the message (a raw handle); `error`
   * (with the errno `code`) when the master could not bind it; `count`: how many default binds there are
   */
  | { cmd: 'listened'; id: number; url?: string; count?: number; error?: { code: string; message: string } };

/** The key under which arbiter messages travel over IPC. */
export const NS = '__arbiter__';

/** Wraps a message for `send()`. */
export function envelope<M extends WorkerMessage | MasterMessage>(msg: M): { [NS]: M } {
  return { [NS]: msg };
}

/** Extracts an arbiter message from an IPC payload, or `undefined` for user messages. */
export function unwrap<M extends WorkerMessage | MasterMessage = WorkerMessage>(payload: unknown): M | undefined {
  if (typeof payload === 'object' && payload !== null && NS in payload) {
    return (payload as { [NS]: M })[NS];
  }
  return undefined;
}

/**
 * The watchdog channel: a socket pair between the master and each worker's watchdog thread, which
 * runs its own event loop and so answers even while the worker's main thread is blocked. One JSON
 * object per line in each direction. The master holds the only other end: when the master dies,
 * the watchdog sees the channel close and kills its own process (no orphan, whatever the main
 * thread is doing).
 */
export type WatchdogReport =
  /** the watchdog runs (the arbiter package was loaded in the worker) */
  | { t: 'hello' }
  /**
   * heartbeat slot `slot` (0: the main thread; i: serving thread i) has not moved for `ms` >= timeout.
   * `stack`: that thread's JavaScript stack, taken by the watchdog just before reporting (see
   * `src/worker/stack.ts`; it took `captureMs`); absent when it could not be taken, then `noStack`
   * says why. `idle`: the thread ran no JavaScript — its event loop is free, not blocked.
   * `requests`: what that thread had in flight (oldest first); `more`: requests the table could not hold.
   */
  | { t: 'stalled'; slot: number; ms: number; stack?: string; noStack?: string; idle?: boolean; captureMs?: number; requests?: InflightRequest[]; more?: number }
  /** the process's RSS reached `maxWorkerMemory` × 1, then × 1.5, × 2, … (one report per step) */
  | { t: 'memory'; rss: number }
  /** answer to a `vitals` query */
  | { t: 'vitals'; id: number; vitals: WorkerVitals };

/** Queries and orders from the master to a worker's watchdog. */
export type WatchdogQuery =
  | { t: 'vitals'; id: number }
  /**
   * the master just sent SIGABRT (timeout): unless the main thread's SIGABRT handler starts within
   * `grace` ms (its event loop returned), the watchdog SIGKILLs its process at once
   */
  | { t: 'abort'; grace: number };

/** Figures about a worker that its watchdog gathers without needing the worker's event loop. */
export interface WorkerVitals {
  /** Milliseconds since the stalest event loop of the worker last beat (grows while it hangs). */
  heartbeatAge: number;
  /** Requests finished so far (every serving loop of the process). */
  requests: number;
  /** Requests being handled now. */
  inflight: number;
  /** Resident set size, bytes. */
  rss: number;
  /** CPU time used so far (user + system), milliseconds. */
  cpu: number;
  /**
   * Of `cpu`, what the watchdog thread itself used (answering queries, its checks), milliseconds;
   * absent where Node has no `process.threadCpuUsage()` (before 22.x / 23.9).
   */
  ownCpu?: number;
  /** Requests per second over the last 10 s (over the worker's life while it is younger). */
  reqRate?: number;
  /**
   * Event-loop utilization (0–1) of the serving loop(s) over the last 5 s (a `threaded` worker:
   * the mean of its serving threads). Absent until a loop has sampled itself once.
   */
  elu?: number;
  /** Event-loop delay p99 (ms) over the last 5 s (a `threaded` worker: its worst thread). */
  loopDelayP99?: number;
  /** V8 heap in use, bytes (every isolate of the process: a `threaded` worker's threads too). */
  heapUsed?: number;
  /** V8 heap size limit, bytes (summed like `heapUsed`). */
  heapLimit?: number;
  /** Requests answered 503 by overload shedding so far, per reason in `SHED_REASONS` order (absent: none). */
  shed?: number[];
  /**
   * Queue times seen (`X-Request-Start`) so far: a count per bucket of `QUEUE_BUCKETS` (not
   * cumulative), the +Inf bucket, then the sum of seconds (absent: none).
   */
  queue?: number[];
}

/** Environment variables through which the master describes a worker to itself. */
export const ENV = {
  /** presence marks a worker process; value is the worker's age */
  age: 'ARBITER_WORKER_AGE',
  slot: 'ARBITER_WORKER_SLOT',
  generation: 'ARBITER_WORKER_GENERATION',
  /** comma-separated fds of the inherited listeners */
  fds: 'ARBITER_LISTEN_FDS',
  /** fd of the watchdog pipe */
  watchdog: 'ARBITER_WATCHDOG_FD',
  /** pid of the master, for the orphan check */
  master: 'ARBITER_MASTER_PID',
  /** the master's `timeout` (ms), so the watchdog can start before the worker has read its config */
  timeout: 'ARBITER_TIMEOUT',
  /** the master's `bootTimeout` (ms): the stall limit of the main thread before it reaches `run()` */
  bootTimeout: 'ARBITER_BOOT_TIMEOUT',
  /** heartbeat slots the watchdog watches: 1 + serving threads */
  slots: 'ARBITER_WATCHDOG_SLOTS',
  /** marks a config probe process (reload re-reads the config through one) */
  probe: 'ARBITER_CONFIG_PROBE',
  /** `maxWorkerMemory` (bytes; 0 = off), checked by the watchdog every heartbeat period */
  maxMemory: 'ARBITER_MAX_MEMORY',
  /** `umask` for the worker process (octal digits), applied before the entry script's own code */
  umask: 'ARBITER_UMASK',
  /** `1`: this process is a warm spare (it boots, then waits for `serve` before accepting) */
  spare: 'ARBITER_SPARE',
  /** `fd:seat,seat…`: the shared balance table and this worker's seats in it, one per serving loop */
  balance: 'ARBITER_BALANCE',
  /** `1`: the master has no socket of its own yet (an app module run without `bind`): the worker asks for the default bind over IPC (`listen`) */
  bindOnDemand: 'ARBITER_BIND_ON_DEMAND',
  /** `1`: the master set `NODE_COMPILE_CACHE` (compile-cache.ts); the worker removes it from its environment */
  compileCache: 'ARBITER_COMPILE_CACHE',
} as const;

/**
 * Layout of the balance table (see `worker/accept-balance.ts`): one seat per accepting event loop,
 * two little-endian Int32s: `connections + 1` (0 = nobody accepting there) and connections
 * accepted so far (wrapping).
 */
export const BALANCE_SEAT_BYTES = 8;

/** stdio index of the watchdog pipe; listeners follow it. */
export const WATCHDOG_STDIO_INDEX = 4;

/**
 * How long (ms) a worker aborted for a timeout (SIGABRT) gets to run `workerAbort`/`workerExit`
 * and exit before the master sends SIGKILL.
 */
export const ABORT_GRACE = 1000;

/** Exit status of a worker that failed before it booted (gunicorn `WORKER_BOOT_ERROR`): the master halts with it. */
export const WORKER_BOOT_ERROR = 3;
/** Exit status of a worker whose `load()` threw (gunicorn `APP_LOAD_ERROR`): the master halts with it. */
export const APP_LOAD_ERROR = 4;
