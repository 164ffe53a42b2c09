import type { IncomingMessage, ServerResponse } from 'node:http';
import { cpuBudget, type CpuBudget } from './cpus.js';
import { ArbiterError, configError } from './errors.js';
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel, type LogSink } from './log.js';
import { parseDuration, parseSize, type Duration, type Size } from './units.js';
import { checkGroup, checkUmask, checkUser } from './users.js';

// This module knows no worker model: the type of worker the hooks receive is a type parameter
// (`W`), and which `workerClass` values are valid is asked of the model registry, passed in to
// resolveConfig(). The models import the config, never the other way round.

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
   * @default $WEB_CONCURRENCY or 1
   */
  workers?: number | 'auto';
  /**
   * Worker model: `'async'` (the event loop serves many connections), `'sync'` (gunicorn's model:
   * one request at a time per worker), `'threaded'`, or a `WorkerClass` subclass.
   * @default 'async'
   */
  workerClass?: WorkerClassValue<W>;
  /** Threads per `threaded` worker (other models ignore it, with a warning at start). @default 1 */
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
   * Format of operator log lines: `'text'` (gunicorn's) or `'json'`, one object per line with
   * `time`, `level`, `pid`, `msg` and fields such as `worker`, `signal`, `reason`, `err.stack`.
   * @default 'text'
   */
  logFormat?: LogFormat;
  /**
   * Address of a read-only HTTP server in the master for probes and scrapers: `/healthz`,
   * `/readyz`, `/status` (the JSON of `arbiter status --json`) and `/metrics` (Prometheus).
   * `host:port`, `:port`, `[::1]:port` or `unix:/path`; `null`: none. It accepts no command.
   * @default null
   */
  statusBind?: string | null;
}

/**
 * The options that are durations: milliseconds, or strings with a unit ({@link Duration}). In a
 * config file a bare number below 1000 for one of them is refused (see {@link bareMilliseconds}).
 */
export const DURATION_OPTIONS = ['timeout', 'gracefulTimeout', 'bootTimeout', 'keepAlive', 'restartWindow'] as const satisfies readonly (keyof BaseConfig)[];

/** The name of a duration option. */
export type DurationOption = (typeof DURATION_OPTIONS)[number];

/** A config with every default filled in: what the engine works with (see {@link BaseConfig} for each field). */
export interface ResolvedConfig<W = unknown>
  extends WorkerHooks<W>,
    Required<Omit<BaseConfig<W>, keyof WorkerHooks | 'bind' | 'workers' | DurationOption | 'maxWorkerMemory' | 'pidfile' | 'procName' | 'env' | 'user' | 'group' | 'umask' | 'controlSocket'>> {
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
  /** Milliseconds, see {@link BaseConfig.restartWindow}. */
  restartWindow: number;
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
}

/** The option defaults that do not depend on the environment (`bind` and `workers` do: `PORT`, `WEB_CONCURRENCY`). */
export type StaticDefaults = Readonly<
  Pick<ResolvedConfig, 'backlog' | 'workerClass' | 'threads' | 'workerConnections' | 'timeout' | 'gracefulTimeout' | 'bootTimeout' | 'spareWorkers' | 'keepAlive' | 'maxRequests' | 'maxRequestsJitter' | 'pidfile' | 'procName' | 'logLevel' | 'maxWorkerMemory' | 'maxRestarts' | 'restartWindow' | 'user' | 'group' | 'umask' | 'logFormat' | 'statusBind' | 'controlSocket'>
>;

/** The static defaults (those that do not depend on the environment). */
export const DEFAULTS: StaticDefaults = Object.freeze({
  backlog: 2048,
  workerClass: 'async',
  threads: 1,
  workerConnections: 1000,
  timeout: 30_000,
  gracefulTimeout: 30_000,
  bootTimeout: 60_000,
  spareWorkers: 0,
  keepAlive: 2000,
  maxRequests: 0,
  maxRequestsJitter: 0,
  pidfile: null,
  procName: null,
  logLevel: 'info',
  maxWorkerMemory: 0,
  maxRestarts: 0,
  restartWindow: 60_000,
  user: null,
  group: null,
  umask: null,
  logFormat: 'text',
  statusBind: null,
  controlSocket: true,
});

const HOOK_NAMES = [
  'postFork',
  'postWorkerInit',
  'preRequest',
  'postRequest',
  'workerInt',
  'workerAbort',
  'workerExit',
  'onReopenLogs',
] as const satisfies readonly (keyof WorkerHooks)[];

function integer(name: string, value: unknown, min: number, unit = ''): number {
  const suffix = unit ? ` (${unit})` : '';
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > Number.MAX_SAFE_INTEGER) {
    const what = min === 0 ? 'a non-negative integer' : min === 1 ? 'a positive integer' : `an integer >= ${min}`;
    throw configError(name, `${what}${suffix}`, value);
  }
  return value;
}

/**
 * A duration: milliseconds, or a string with a unit (`'30s'`). Capped at 2^31-1 ms because Node's
 * timers cannot wait longer.
 */
function duration(name: string, value: unknown): number {
  const ms = typeof value === 'string' ? parseDuration(value) : integer(name, value, 0, 'milliseconds');
  if (ms === undefined) throw configError(name, 'a non-negative integer (milliseconds) or a duration with a unit such as "30s", "500ms", "2m" or "1h"', value);
  if (ms > 2_147_483_647) throw configError(name, 'at most 2147483647 (milliseconds, about 24.8 days)', value);
  return ms;
}

/** A duration that must be at least 1 ms. */
function positiveDuration(name: string, value: unknown): number {
  const ms = duration(name, value);
  if (ms === 0) throw configError(name, 'a positive integer (milliseconds)', value);
  return ms;
}

/** A size: bytes, or a string with a unit (`'512mb'`, 1024-based). */
function size(name: string, value: unknown): number {
  const bytes = typeof value === 'string' ? parseSize(value) : integer(name, value, 0, 'bytes');
  if (bytes === undefined || bytes > Number.MAX_SAFE_INTEGER) {
    throw configError(name, 'a non-negative integer (bytes) or a size with a unit such as "512mb", "1gb" or "64kb"', value);
  }
  return bytes;
}

/**
 * The most workers a master runs, and the most warm spares: `workers`, `WEB_CONCURRENCY`,
 * `spareWorkers`, `scale()`, TTIN and `arbiter scale` refuse more. Each worker is a whole Node
 * process (40 MB or more of RSS; two descriptors and a table entry in the master), so 1024 is
 * some 40 GB of workers on one master: past anything one master should run, and far enough
 * past the 256 known to work that no real deployment meets it. A larger number is a typo (an
 * extra zero), which must not make the master spawn until the machine gives out.
 */
export const MAX_WORKERS = 1024;

/** A worker count: `integer(name, value, min)` and at most {@link MAX_WORKERS}. */
function workerCount(name: string, value: number): number {
  if (value > MAX_WORKERS) throw configError(name, `at most ${MAX_WORKERS} (the limit on workers per master)`, value);
  return value;
}

/** Smallest non-zero `maxWorkerMemory`: below it the value is surely a unit mistake (megabytes for bytes). */
const MIN_WORKER_MEMORY = 16 * 1024 * 1024;

function optionalPath(name: string, value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value !== 'string' || value.length === 0) throw configError(name, 'a non-empty string or null', value);
  return value;
}

/** A positive integer, or the one other accepted value `alternative` names (the validator handles that one first). */
function positiveIntegerOr(name: string, value: unknown, alternative: string): number {
  if (typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= Number.MAX_SAFE_INTEGER) return value;
  throw configError(name, `a positive integer or ${alternative}`, value);
}

function oneOf<T extends string>(name: string, allowed: readonly T[], value: unknown): T {
  if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T;
  throw configError(name, `one of ${allowed.map((a) => `"${a}"`).join(', ')}`, value);
}

/** Parses an integer from an environment variable, naming the variable on error. */
function envInteger(name: string, raw: string, min: number): number {
  const n = /^\s*\d+\s*$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n) || n < min) {
    throw new ArbiterError('ARBITER_ERR_CONFIG', `Expected environment variable ${name} to be an integer >= ${min}, got ${JSON.stringify(raw)}`);
  }
  return n;
}

/** `checkWorkerClass` comes from the model registry (this module knows no models). */
type Validator = (value: unknown, env: NodeJS.ProcessEnv, checkWorkerClass: WorkerClassCheck) => unknown;

/** One validator per option; the table is also the list of known names. */
const VALIDATORS: { [K in keyof ResolvedConfig]-?: Validator } = {
  bind: (v, env) => {
    if (v === undefined) return [env.PORT !== undefined ? `0.0.0.0:${envInteger('PORT', env.PORT, 0)}` : '127.0.0.1:8000'];
    const list = typeof v === 'string' ? [v] : v;
    if (!Array.isArray(list) || list.length === 0 || !list.every((b) => typeof b === 'string' && b.length > 0)) {
      throw configError('bind', 'an address string or a non-empty array of them ("host:port", ":port", "[::1]:port", "tcp://host:port", "unix:/path", "fd://N")', v);
    }
    return [...list];
  },
  backlog: (v) => (v === undefined ? DEFAULTS.backlog : integer('backlog', v, 1)),
  workers: (v, env) => {
    if (v === 'auto') return cpuBudget(env); // a CpuBudget: resolveConfig keeps how it was decided
    if (v !== undefined) return workerCount('workers', positiveIntegerOr('workers', v, '"auto"'));
    if (env.WEB_CONCURRENCY === undefined) return 1;
    const n = envInteger('WEB_CONCURRENCY', env.WEB_CONCURRENCY, 1);
    if (n > MAX_WORKERS) throw new ArbiterError('ARBITER_ERR_CONFIG', `Expected environment variable WEB_CONCURRENCY to be at most ${MAX_WORKERS} (the limit on workers per master), got ${JSON.stringify(env.WEB_CONCURRENCY)}`);
    return n;
  },
  workerClass: (v, _env, checkWorkerClass) => (v === undefined ? DEFAULTS.workerClass : checkWorkerClass(v)),
  threads: (v) => (v === undefined ? DEFAULTS.threads : integer('threads', v, 1)),
  workerConnections: (v) => (v === undefined ? DEFAULTS.workerConnections : integer('workerConnections', v, 1)),
  timeout: (v) => (v === undefined ? DEFAULTS.timeout : duration('timeout', v)),
  gracefulTimeout: (v) => (v === undefined ? DEFAULTS.gracefulTimeout : duration('gracefulTimeout', v)),
  bootTimeout: (v) => (v === undefined ? DEFAULTS.bootTimeout : duration('bootTimeout', v)),
  spareWorkers: (v) => (v === undefined ? DEFAULTS.spareWorkers : workerCount('spareWorkers', integer('spareWorkers', v, 0))),
  keepAlive: (v) => (v === undefined ? DEFAULTS.keepAlive : duration('keepAlive', v)),
  maxRequests: (v) => (v === undefined ? DEFAULTS.maxRequests : integer('maxRequests', v, 0)),
  maxRequestsJitter: (v) => (v === undefined ? DEFAULTS.maxRequestsJitter : integer('maxRequestsJitter', v, 0)),
  pidfile: (v) => optionalPath('pidfile', v),
  procName: (v) => optionalPath('procName', v),
  env: (v) => {
    if (v === undefined) return Object.freeze({});
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw configError('env', 'an object of string values', v);
    for (const [k, val] of Object.entries(v)) {
      if (typeof val !== 'string') throw configError(`env.${k}`, 'a string', val);
    }
    return Object.freeze({ ...(v as Record<string, string>) });
  },
  logger: (v) => {
    if (v === undefined) return process.stderr;
    if (v === false) return false;
    if (typeof v === 'object' && v !== null && typeof (v as LogSink).write === 'function') return v;
    throw configError('logger', 'false or an object with a write(line) method (e.g. a stream)', v);
  },
  logLevel: (v) => {
    if (v === undefined) return DEFAULTS.logLevel;
    if (typeof v === 'string' && (LOG_LEVELS as readonly string[]).includes(v)) return v;
    throw configError('logLevel', `one of ${LOG_LEVELS.map((l) => `"${l}"`).join(', ')}`, v);
  },
  maxWorkerMemory: (v) => {
    if (v === undefined) return DEFAULTS.maxWorkerMemory;
    const bytes = size('maxWorkerMemory', v);
    if (bytes > 0 && bytes < MIN_WORKER_MEMORY) throw configError('maxWorkerMemory', `0 (off) or at least ${MIN_WORKER_MEMORY} (bytes, 16 MiB: a Node process uses more than that)`, v);
    return bytes;
  },
  maxRestarts: (v) => (v === undefined ? DEFAULTS.maxRestarts : integer('maxRestarts', v, 0, 'unplanned worker deaths; 0 = no budget')),
  restartWindow: (v) => (v === undefined ? DEFAULTS.restartWindow : positiveDuration('restartWindow', v)),
  user: (v) => (v === undefined || v === null ? DEFAULTS.user : checkUser(v)),
  group: (v) => (v === undefined || v === null ? DEFAULTS.group : checkGroup(v)),
  umask: (v) => (v === undefined || v === null ? DEFAULTS.umask : checkUmask(v)),
  logFormat: (v) => (v === undefined ? DEFAULTS.logFormat : oneOf('logFormat', LOG_FORMATS, v)),
  statusBind: (v) => {
    if (v === undefined || v === null) return null;
    let kind: BindAddress['kind'] | undefined;
    try {
      kind = typeof v === 'string' ? parseBind(v).kind : undefined;
    } catch {
      // reported below, under this option's name
    }
    if (kind !== 'tcp' && kind !== 'unix') throw configError('statusBind', 'an address "host:port", ":port", "[::1]:port" or "unix:/path", or null', v);
    return v;
  },
  controlSocket: (v) => {
    if (v === undefined) return DEFAULTS.controlSocket;
    if (typeof v === 'boolean' || (typeof v === 'string' && v.length > 0)) return v;
    throw configError('controlSocket', 'true (automatic path), false (none) or a non-empty path', v);
  },
  ...Object.fromEntries(
    HOOK_NAMES.map((name) => [
      name,
      (v: unknown) => {
        if (v === undefined) return undefined;
        if (typeof v !== 'function') throw configError(name, 'a function', v);
        return v;
      },
    ]),
  ) as unknown as { [K in (typeof HOOK_NAMES)[number]]: Validator },
};

const KNOWN = Object.keys(VALIDATORS);

/** Edit distance (insertions, deletions, substitutions, adjacent transpositions) between two names. */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The closest of `candidates` to `name`, for "did you mean" hints (option names here, the
 * command's flags in cli/args.ts): case, `_` and `-` are ignored (`graceful_timeout` →
 * `gracefulTimeout`), then up to one typo per four letters (`timout` → `timeout`, `wrokers` →
 * `workers`). `undefined` when none is that close.
 */
export function closestName(name: string, candidates: readonly string[]): string | undefined {
  const norm = (s: string): string => s.toLowerCase().replace(/[_-]/g, '');
  const wanted = norm(name);
  let best: { name: string; d: number } | undefined;
  for (const k of candidates) {
    const d = distance(wanted, norm(k));
    if (!best || d < best.d) best = { name: k, d };
  }
  return best && best.d <= Math.max(1, Math.floor(wanted.length / 4)) ? best.name : undefined;
}

/**
 * Validates a user config and fills in defaults. Never mutates its argument.
 * `checkWorkerClass` is the model registry's validator of `workerClass`.
 * @throws {@link ArbiterError} `ARBITER_ERR_CONFIG` naming the option, the value and the expectation.
 */
export function resolveConfig(input: unknown, checkWorkerClass: WorkerClassCheck, env: NodeJS.ProcessEnv = process.env): ResolvedConfig {
  if (input === undefined || input === null) input = {};
  if (typeof input !== 'object' || Array.isArray(input)) throw configError('config', 'an object', input);
  const given = input as Record<string, unknown>;
  for (const key of Object.keys(given)) {
    if (!Object.hasOwn(VALIDATORS, key)) {
      const hint = closestName(key, KNOWN);
      throw new ArbiterError(
        'ARBITER_ERR_CONFIG',
        `Unknown option \`${key}\`${hint ? ` (did you mean \`${hint}\`?)` : ''}; known options: ${KNOWN.join(', ')}`,
      );
    }
  }
  const out: Record<string, unknown> = {};
  for (const [key, validate] of Object.entries(VALIDATORS)) {
    const value = validate(given[key], env, checkWorkerClass);
    if (value !== undefined) out[key] = value;
  }
  for (const b of out.bind as string[]) parseBind(b); // address syntax errors surface at construction
  const budget = typeof out.workers === 'object' ? (out.workers as CpuBudget) : undefined;
  if (budget) out.workers = Math.min(budget.count, MAX_WORKERS);
  const config = Object.freeze(out) as unknown as ResolvedConfig;
  if (budget) AUTO_WORKERS.set(config, budget);
  return config;
}

/**
 * The duration options of a config file given as bare numbers from 1 to 999. A config file takes
 * milliseconds, as the API does, so `{"timeout": 30}` would be 30 ms where a gunicorn user means
 * 30 seconds: the command refuses these (a unit says what is meant: `"30s"`, `"500ms"`). 0 is not
 * ambiguous and stays allowed. The library itself takes bare numbers as milliseconds.
 */
export function bareMilliseconds(config: unknown): { option: DurationOption; value: number }[] {
  if (typeof config !== 'object' || config === null) return [];
  const given = config as Record<string, unknown>;
  return DURATION_OPTIONS.flatMap((option) => {
    const value = given[option];
    return typeof value === 'number' && value > 0 && value < 1000 ? [{ option, value }] : [];
  });
}

/** How `workers: 'auto'` was resolved, per resolved config (for the master's log line). */
const AUTO_WORKERS = new WeakMap<object, CpuBudget>();

/** When `config` came from `workers: 'auto'`: the CPU count it resolved to and how it was decided. */
export function autoWorkers(config: object): CpuBudget | undefined {
  return AUTO_WORKERS.get(config);
}

/**
 * A parsed `bind` entry. A TCP `host` is an IP address or a host name, which the master resolves
 * when it binds: every address the name resolves to is bound (`localhost`: 127.0.0.1 and ::1 where
 * both resolve), as gunicorn does.
 */
export type BindAddress =
  | { kind: 'tcp'; host: string; port: number; family: 4 | 6; spec: string }
  | { kind: 'unix'; path: string; spec: string }
  | { kind: 'fd'; fd: number; spec: string };

/**
 * Parses one `bind` string: `host:port` (also `tcp://host:port`, as gunicorn), `:port`,
 * `[::1]:port`, `unix:/path`, `fd://N`.
 * @throws {@link ArbiterError} `ARBITER_ERR_CONFIG` when it is not one of the accepted forms.
 */
export function parseBind(spec: string): BindAddress {
  const bad = () =>
    configError('bind', 'an address of the form "host:port", ":port", "[::1]:port", "tcp://host:port", "unix:/path" or "fd://N" (port 0-65535)', spec);
  if (spec.startsWith('unix:')) {
    const path = spec.slice(5);
    if (!path) throw bad();
    return { kind: 'unix', path, spec };
  }
  if (spec.startsWith('fd://')) {
    const fd = /^\d+$/.test(spec.slice(5)) ? Number(spec.slice(5)) : NaN;
    if (!Number.isSafeInteger(fd)) throw bad();
    return { kind: 'fd', fd, spec };
  }
  const address = spec.startsWith('tcp://') ? spec.slice('tcp://'.length) : spec;
  let host: string;
  let portText: string;
  const v6 = /^\[([0-9a-fA-F:.%a-zA-Z]+)\]:(\d+)$/.exec(address);
  if (v6) {
    host = v6[1]!;
    portText = v6[2]!;
  } else {
    const i = address.lastIndexOf(':');
    if (i < 0) throw bad();
    host = address.slice(0, i) || '0.0.0.0';
    portText = address.slice(i + 1);
    if (host.includes(':') || host.includes('/')) throw bad();
  }
  const port = /^\d+$/.test(portText) ? Number(portText) : NaN;
  if (!(port >= 0 && port <= 65535)) throw bad();
  return { kind: 'tcp', host, port, family: v6 ? 6 : 4, spec };
}
