// The option table: every option in one place. A row says how a given value is checked, what the
// option defaults to, the unit of its number, and the command-line flag that sets it. From it come
// the known names and the order of a resolved config (resolveConfig() in config.ts), DEFAULTS, the
// CLI's flags and the defaults its --help shows (cli/flags.ts); test/config.test.mjs checks the
// README's table against it. The documentation of record is BaseConfig's JSDoc (types.ts, what
// typedoc shows): a type cannot be derived from data, so a new option is a row here, a field there.
import path from 'node:path';
import { cpuBudget } from '../cpus.js';
import { checkCertReqs } from '../tls.js';
import { configError } from '../errors.js';
import { LOG_FORMATS, LOG_LEVELS, type LogSink } from '../log.js';
import { compileAccessFormat, DEFAULT_ACCESS_LOG_FORMAT } from '../http/access-format.js';
import { parseForwardedAllowIps } from '../http/forwarded.js';
import { MAX_REQUEST_FIELDS, MAX_REQUEST_LINE } from '../http/limits.js';
import { checkGroup, checkUmask, checkUser } from '../users.js';
import { parseBind, type BindAddress } from './bind.js';
import { ratio, workerRange } from './adaptive.js';
import { duration, integer, MIN_WORKER_MEMORY, oneOf, optionalPath, positiveDuration, positiveIntegerOr, size, threadCount, workerCount } from './checks.js';
import { defaultBind, defaultWorkers } from './env.js';
import type { ResolvedConfig, StaticDefaults, WorkerClassCheck } from './types.js';

/** How a flag's text becomes an option value (cli/args.ts). */
export type FlagKind = 'string' | 'list' | 'int' | 'duration' | 'size' | 'workers' | 'number' | 'env' | 'id' | 'boolean';

/** The command-line flag that sets an option (gunicorn's name where gunicorn has the option, SPEC §9). */
export interface FlagSpec {
  /** Long name, without the dashes. */
  readonly name: string;
  /** One-letter alias. */
  readonly short?: string;
  /** How its text is read. */
  readonly kind: FlagKind;
  /** Placeholder in the help. */
  readonly value: string;
  /** One line of help; the default is added from the row (` [30s]`). */
  readonly help: string;
  /** The default as the help says it, where the row's `default` cannot (`$WEB_CONCURRENCY or 1`). */
  readonly shownDefault?: string;
  /** The gunicorn flag it corresponds to (docs/cli.md's table), when there is one. */
  readonly gunicorn?: string;
}

/** What a check gets besides the value. */
export interface CheckContext {
  /** The option's name, for the error. */
  readonly name: string;
  /** The environment (`PORT`, `WEB_CONCURRENCY`, the cgroup's CPU quota). */
  readonly env: NodeJS.ProcessEnv;
  /** The model registry's validator of `workerClass` (the config knows no models). */
  readonly checkWorkerClass: WorkerClassCheck;
}

/**
 * Checks a given value and returns the resolved one (`undefined`: leave the option out); throws
 * `ARBITER_ERR_CONFIG` naming the option, the value and what was expected.
 */
export type Check = (value: unknown, context: CheckContext) => unknown;

/** One row of the option table. */
export interface OptionSpec<T> {
  /**
   * The value when the option is not given (`check` is then not called). Absent where it is not a
   * constant — `bind` and `workers` (the environment), `env`, `logger`, the hooks: `check` gets `undefined`.
   */
  readonly default?: T;
  /** What a bare number means: milliseconds (a `Duration`) or bytes (a `Size`). */
  readonly unit?: 'ms' | 'bytes';
  /** Checks a given value. */
  readonly check: Check;
  /** The command-line flag, if the option has one. */
  readonly flag?: FlagSpec;
}

const int =
  (min: number, unit?: string): Check =>
  (v, { name }) =>
    integer(name, v, min, unit);
const bounded = (name: string, v: unknown, min: number, max: number, unit: string): number => {
  const n = integer(name, v, min, unit);
  if (n > max) throw configError(name, `an integer from ${min} to ${max} (${unit})`, v);
  return n;
};
const ms: Check = (v, { name }) => duration(name, v);
const bool: Check = (v, { name }) => {
  if (typeof v !== 'boolean') throw configError(name, 'true or false', v);
  return v;
};

/** A hook: a function, or nothing. */
const hook: OptionSpec<undefined> = {
  check: (v, { name }) => {
    if (v === undefined) return undefined;
    if (typeof v !== 'function') throw configError(name, 'a function', v);
    return v;
  },
};

/** Every option, in the order of a resolved config; the table is also the list of known names. */
export const OPTIONS: { readonly [K in keyof ResolvedConfig]-?: OptionSpec<ResolvedConfig[K]> } = {
  bind: {
    check: (v, { env }) => {
      if (v === undefined) return defaultBind(env);
      const list = typeof v === 'string' ? [v] : v;
      if (!Array.isArray(list) || list.length === 0 || !list.every((b) => typeof b === 'string' && b.length > 0)) {
        throw configError('bind', 'an address string or a non-empty array of them ("host:port", ":port", "[::1]:port", "tcp://host:port", "unix:/path", "fd://N")', v);
      }
      return [...list];
    },
    flag: { name: 'bind', short: 'b', kind: 'list', value: 'ADDRESS', gunicorn: '-b/--bind', help: 'listen on host:port (every address of a host name), :port, [::1]:port, tcp://host:port, unix:/path or fd://N; repeatable', shownDefault: '127.0.0.1:8000, or 0.0.0.0:$PORT' },
  },
  backlog: { default: 2048, check: int(1), flag: { name: 'backlog', kind: 'int', value: 'N', gunicorn: '--backlog', help: 'listen backlog' } },
  workers: {
    check: (v, { env }) => {
      if (v === 'auto') return cpuBudget(env); // a CpuBudget: resolveConfig keeps how it was decided
      if (typeof v === 'object' && v !== null && !Array.isArray(v)) return workerRange(v, env); // adaptive: resolveConfig keeps the range
      if (v !== undefined) return workerCount('workers', positiveIntegerOr('workers', v, '"auto"'));
      return defaultWorkers(env);
    },
    flag: { name: 'workers', short: 'w', kind: 'workers', value: 'N|auto|MIN:MAX', gunicorn: '-w/--workers', help: 'worker processes; auto = one per CPU the process may use; MIN:MAX (2:8, 1:auto) = adaptive, scaled on saturation', shownDefault: '$WEB_CONCURRENCY or 1' },
  },
  scaleUpAt: {
    default: 0.75,
    check: (v, { name }) => ratio(name, v),
    flag: { name: 'scale-up-at', kind: 'number', value: 'RATIO', help: 'adaptive workers: add one when saturation stays at or above this for 3 s' },
  },
  scaleDownAt: {
    default: 0.25,
    check: (v, { name }) => ratio(name, v),
    flag: { name: 'scale-down-at', kind: 'number', value: 'RATIO', help: 'adaptive workers: remove one when saturation stays at or below this for --scale-down-after' },
  },
  scaleDownAfter: { default: 30_000, unit: 'ms', check: (v, { name }) => positiveDuration(name, v), flag: { name: 'scale-down-after', kind: 'duration', value: 'DURATION', help: 'adaptive workers: how long saturation must stay low before one is removed' } },
  workerClass: {
    default: 'async',
    check: (v, { checkWorkerClass }) => checkWorkerClass(v),
    flag: { name: 'worker-class', short: 'k', kind: 'string', value: 'CLASS', gunicorn: '-k/--worker-class', help: 'async, sync or threaded' },
  },
  threads: { default: 1, check: (v, { name }) => threadCount(name, v), flag: { name: 'threads', kind: 'int', value: 'N', gunicorn: '--threads', help: 'serving threads per threaded worker' } },
  workerConnections: { default: 1000, check: int(1), flag: { name: 'worker-connections', kind: 'int', value: 'N', gunicorn: '--worker-connections', help: 'concurrent connections per async worker' } },
  timeout: { default: 30_000, unit: 'ms', check: ms, flag: { name: 'timeout', short: 't', kind: 'duration', value: 'DURATION', gunicorn: '-t/--timeout', help: 'a worker silent this long is killed and replaced; 0 = off' } },
  gracefulTimeout: { default: 30_000, unit: 'ms', check: ms, flag: { name: 'graceful-timeout', kind: 'duration', value: 'DURATION', gunicorn: '--graceful-timeout', help: 'how long a graceful stop or reload may take before SIGKILL' } },
  bootTimeout: { default: 60_000, unit: 'ms', check: ms, flag: { name: 'boot-timeout', kind: 'duration', value: 'DURATION', help: 'a new worker must be ready within this (a reload that misses it rolls back); 0 = off' } },
  spareWorkers: {
    default: 0,
    check: (v) => workerCount('spareWorkers', integer('spareWorkers', v, 0)),
    flag: { name: 'spare-workers', kind: 'int', value: 'N', help: 'warm spare workers that take over a dead worker\'s slot at once' },
  },
  keepAlive: { default: 2000, unit: 'ms', check: ms, flag: { name: 'keep-alive', kind: 'duration', value: 'DURATION', gunicorn: '--keep-alive', help: 'idle keep-alive timeout of async/threaded workers' } },
  maxQueueTime: {
    default: 0,
    unit: 'ms',
    check: ms,
    flag: { name: 'max-queue-time', kind: 'duration', value: 'DURATION', help: 'answer 503 to a request whose X-Request-Start (set by the proxy) is older; 0 = off' },
  },
  maxEventLoopDelay: {
    default: 0,
    unit: 'ms',
    check: ms,
    flag: { name: 'max-event-loop-delay', kind: 'duration', value: 'DURATION', help: 'answer 503 to new requests while the worker\'s event-loop delay p99 over the last second is above this; 0 = off' },
  },
  maxRequests: { default: 0, check: int(0), flag: { name: 'max-requests', kind: 'int', value: 'N', gunicorn: '--max-requests', help: 'recycle a worker after this many requests; 0 = never' } },
  maxRequestsJitter: { default: 0, check: int(0), flag: { name: 'max-requests-jitter', kind: 'int', value: 'N', gunicorn: '--max-requests-jitter', help: 'add a random 0..N to --max-requests per worker' } },
  pidfile: { default: null, check: (v, { name }) => optionalPath(name, v), flag: { name: 'pid', short: 'p', kind: 'string', value: 'FILE', gunicorn: '-p/--pid', help: 'write the master\'s pid to FILE' } },
  procName: {
    default: null,
    check: (v, { name }) => optionalPath(name, v),
    flag: { name: 'name', short: 'n', kind: 'string', value: 'NAME', gunicorn: '-n/--name', help: 'process titles "arbiter: master [NAME]"; also how control commands find the master' },
  },
  env: {
    check: (v) => {
      if (v === undefined) return Object.freeze({});
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw configError('env', 'an object of string values', v);
      for (const [k, val] of Object.entries(v)) {
        if (typeof val !== 'string') throw configError(`env.${k}`, 'a string', val);
      }
      return Object.freeze({ ...(v as Record<string, string>) });
    },
    flag: { name: 'env', short: 'e', kind: 'env', value: 'KEY=VALUE', gunicorn: '-e/--env', help: 'extra environment variable for the workers; repeatable' },
  },
  logger: {
    check: (v) => {
      if (v === undefined) return process.stderr;
      if (v === false) return false;
      if (typeof v === 'object' && v !== null && typeof (v as LogSink).write === 'function') return v;
      throw configError('logger', 'false or an object with a write(line) method (e.g. a stream)', v);
    },
  },
  logLevel: {
    default: 'info',
    check: (v) => {
      if (typeof v === 'string' && (LOG_LEVELS as readonly string[]).includes(v)) return v;
      throw configError('logLevel', `one of ${LOG_LEVELS.map((l) => `"${l}"`).join(', ')}`, v);
    },
    flag: { name: 'log-level', kind: 'string', value: 'LEVEL', gunicorn: '--log-level', help: 'debug, info, warning, error or critical' },
  },
  maxWorkerMemory: {
    default: 0,
    unit: 'bytes',
    check: (v) => {
      const bytes = size('maxWorkerMemory', v);
      if (bytes > 0 && bytes < MIN_WORKER_MEMORY) throw configError('maxWorkerMemory', `0 (off) or at least ${MIN_WORKER_MEMORY} (bytes, 16 MiB: a Node process uses more than that)`, v);
      return bytes;
    },
    flag: { name: 'max-worker-memory', kind: 'size', value: 'SIZE', help: 'recycle a worker whose RSS exceeds this (512mb, 1gb; bare number = bytes); 0 = off' },
  },
  maxRestarts: { default: 0, check: int(0, 'unplanned worker deaths; 0 = no budget') },
  restartWindow: { default: 60_000, unit: 'ms', check: (v, { name }) => positiveDuration(name, v) },
  user: {
    default: null,
    check: (v) => (v === null ? null : checkUser(v)),
    flag: { name: 'user', short: 'u', kind: 'id', value: 'USER', gunicorn: '-u/--user', help: 'run the workers as this user (name or id)' },
  },
  group: {
    default: null,
    check: (v) => (v === null ? null : checkGroup(v)),
    flag: { name: 'group', short: 'g', kind: 'id', value: 'GROUP', gunicorn: '-g/--group', help: 'run the workers as this group (name or id)' },
  },
  umask: {
    default: null,
    check: (v) => (v === null ? null : checkUmask(v)),
    flag: { name: 'umask', short: 'm', kind: 'string', value: 'MASK', gunicorn: '-m/--umask', help: 'the workers\' umask, octal (027); also the mode of unix sockets the master binds', shownDefault: 'inherited' },
  },
  logFormat: { default: 'text', check: (v, { name }) => oneOf(name, LOG_FORMATS, v), flag: { name: 'log-format', kind: 'string', value: 'FORMAT', help: 'text or json' } },
  statusBind: {
    default: null,
    check: (v) => {
      if (v === null) return null;
      let kind: BindAddress['kind'] | undefined;
      try {
        kind = typeof v === 'string' ? parseBind(v).kind : undefined;
      } catch {
        // reported below, under this option's name
      }
      if (kind !== 'tcp' && kind !== 'unix') throw configError('statusBind', 'an address "host:port", ":port", "[::1]:port" or "unix:/path", or null', v);
      return v;
    },
    flag: { name: 'status-bind', kind: 'string', value: 'ADDRESS', help: 'serve /metrics, /healthz, /readyz and /status (read-only) on this address' },
  },
  controlSocket: {
    default: true,
    check: (v) => {
      if (typeof v === 'boolean' || (typeof v === 'string' && v.length > 0)) return v;
      throw configError('controlSocket', 'true (automatic path), false (none) or a non-empty path', v);
    },
    flag: { name: 'control-socket', kind: 'string', value: 'PATH', gunicorn: '--control-socket', help: 'put the control socket at PATH', shownDefault: '$XDG_RUNTIME_DIR/arbiter/<pid>.sock' },
  },
  accesslog: {
    default: null,
    check: (v, { name }) => optionalPath(name, v),
    flag: { name: 'access-logfile', kind: 'string', value: 'FILE', gunicorn: '--access-logfile', help: 'write an access log line per request to FILE (- = stdout); reopened on USR1' },
  },
  accessLogFormat: {
    default: DEFAULT_ACCESS_LOG_FORMAT,
    check: (v, { name }) => (compileAccessFormat(v, name), v),
    flag: { name: 'access-logformat', kind: 'string', value: 'FORMAT', gunicorn: '--access-logformat', help: 'the access log line, gunicorn\'s atoms (%(h)s %(r)s %(s)s %(M)s %({user-agent}i)s …)', shownDefault: 'gunicorn\'s (combined)' },
  },
  limitRequestLine: {
    default: 4094,
    check: (v, { name }) => bounded(name, v, 0, MAX_REQUEST_LINE, 'bytes; 0 = 8190'),
    flag: { name: 'limit-request-line', kind: 'int', value: 'BYTES', gunicorn: '--limit-request-line', help: 'longest request line; longer: 400 before the app runs (0 = 8190)' },
  },
  limitRequestFields: {
    default: 100,
    check: (v, { name }) => bounded(name, v, 1, MAX_REQUEST_FIELDS, 'header fields'),
    flag: { name: 'limit-request-fields', kind: 'int', value: 'N', gunicorn: '--limit-request-fields', help: 'most header fields in a request; more: 431' },
  },
  limitRequestFieldSize: {
    default: 8190,
    check: int(0, 'bytes; 0 = unlimited'),
    flag: { name: 'limit-request-field_size', kind: 'int', value: 'N', gunicorn: '--limit-request-field_size', help: 'longest header field (Name: value); longer: 431 (0 = unlimited)' },
  },
  forwardedAllowIps: {
    // gunicorn's default: $FORWARDED_ALLOW_IPS, else the loopback addresses
    check: (v, { name, env }) => {
      const value = v ?? env.FORWARDED_ALLOW_IPS ?? '127.0.0.1,::1';
      parseForwardedAllowIps(value, v === undefined && env.FORWARDED_ALLOW_IPS !== undefined ? `${name} (from FORWARDED_ALLOW_IPS)` : name);
      return typeof value === 'string' ? value : [...(value as string[])];
    },
    flag: { name: 'forwarded-allow-ips', kind: 'string', value: 'IPS', gunicorn: '--forwarded-allow-ips', help: 'peers whose X-Forwarded-For/-Proto reach the app (addresses, networks, * = all); others\' are removed', shownDefault: '$FORWARDED_ALLOW_IPS or 127.0.0.1,::1' },
  },
  proxyProtocol: {
    default: false,
    check: bool,
    flag: { name: 'proxy-protocol', kind: 'boolean', value: '', gunicorn: '--proxy-protocol', help: 'every connection starts with a PROXY v1/v2 header: the app sees the client\'s address' },
  },
  certfile: { default: null, check: (v, { name }) => optionalPath(name, v), flag: { name: 'certfile', kind: 'string', value: 'FILE', gunicorn: '--certfile', help: 'serve HTTPS with this PEM certificate (chain); re-read on reload' } },
  keyfile: { default: null, check: (v, { name }) => optionalPath(name, v), flag: { name: 'keyfile', kind: 'string', value: 'FILE', gunicorn: '--keyfile', help: 'the PEM private key of --certfile' } },
  caCerts: { default: null, check: (v, { name }) => optionalPath(name, v), flag: { name: 'ca-certs', kind: 'string', value: 'FILE', gunicorn: '--ca-certs', help: 'CA certificates (PEM) that client certificates are checked against' } },
  certReqs: { default: 'none', check: (v) => checkCertReqs(v), flag: { name: 'cert-reqs', kind: 'string', value: 'REQS', gunicorn: '--cert-reqs', help: 'client certificates: none, optional or required (or 0, 1, 2)' } },
  http2: {
    default: false,
    check: bool,
    flag: { name: 'http2', kind: 'boolean', value: '', help: 'serve HTTP/2 on the TLS binds, HTTP/1.1 to clients that do not offer it (ALPN)' },
  },
  reload: {
    default: false,
    check: bool,
    flag: { name: 'reload', kind: 'boolean', value: '', gunicorn: '--reload', help: 'development: reload (as HUP, with rollback) when a file of the app changes' },
  },
  reloadExtraFiles: {
    default: [],
    check: (v, { name }) => {
      const list = typeof v === 'string' ? [v] : v;
      if (!Array.isArray(list) || !list.every((f) => typeof f === 'string' && f.length > 0)) throw configError(name, 'a path or an array of paths', v);
      return list.map((f: string) => path.resolve(f));
    },
    flag: { name: 'reload-extra-file', kind: 'list', value: 'FILE', gunicorn: '--reload-extra-file', help: 'with --reload, also watch FILE (a template, a .env); repeatable' },
  },
  postFork: hook,
  postWorkerInit: hook,
  preRequest: hook,
  postRequest: hook,
  workerInt: hook,
  workerAbort: hook,
  workerExit: hook,
  onReopenLogs: hook,
};

/** The static defaults (those that do not depend on the environment). */
export const DEFAULTS: StaticDefaults = Object.freeze(
  Object.fromEntries(Object.entries(OPTIONS).flatMap(([name, spec]) => ('default' in spec ? [[name, spec.default]] : []))),
) as StaticDefaults;
