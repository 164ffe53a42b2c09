// gunicorn habits: its flags that arbiter does not have (why, and what to do instead) and its
// worker classes (which of arbiter's models does that job in Node). What an operator coming from
// gunicorn types gets a reason and a way forward, not just "unknown option".

const LOGS_TO_STDERR = 'arbiter logs to stderr: redirect it (2>>file) or let systemd or the container runtime collect it; --log-level and --log-format json shape it';
const TLS = 'Node\'s TLS defaults apply (TLS 1.2 and 1.3, its cipher list): set them for the whole process with NODE_OPTIONS (--tls-min-v1.3, --tls-cipher-list=…); --certfile, --keyfile, --ca-certs and --cert-reqs are arbiter\'s too';
const STATSD = 'arbiter has no StatsD: the master serves Prometheus metrics at /metrics of --status-bind ADDRESS';
const STDIO = 'not needed: the workers write to the master\'s stdout and stderr';
const PASTE = 'PasteDeploy is Python\'s: name the JS module and its export instead (arbiter app.js:server)';

/**
 * gunicorn's flags that arbiter does not have: why, and what to do instead (one line each).
 * Short forms: {@link GUNICORN_SHORT}.
 */
export const GUNICORN_ONLY: Readonly<Record<string, string>> = {
  preload:
    'arbiter\'s workers are spawned, not forked, so each loads the app itself and the master never does (Node cannot share a loaded app\'s memory between processes: there is no fork() copy-on-write); for a booted worker that takes a dead one\'s place at once, use --spare-workers N',
  daemon: 'arbiter stays in the foreground: run it under systemd, a container runtime or another process manager (docs/deploy.md)',
  'worker-tmp-dir': 'not needed: a worker\'s heartbeat is a shared-memory counter that a watchdog thread checks and reports to the master, not a temporary file',
  'reload-engine': 'not needed: --reload watches the directories of the app\'s loaded files with fs.watch (inotify on Linux): there is no engine to choose',
  'ssl-version': TLS,
  ciphers: TLS,
  'do-handshake-on-connect': TLS,
  'suppress-ragged-eofs': TLS,
  'error-logfile': LOGS_TO_STDERR,
  'log-file': LOGS_TO_STDERR,
  'log-config': LOGS_TO_STDERR,
  'log-config-json': LOGS_TO_STDERR,
  'log-syslog': LOGS_TO_STDERR,
  'log-syslog-to': LOGS_TO_STDERR,
  'log-syslog-prefix': LOGS_TO_STDERR,
  'log-syslog-facility': LOGS_TO_STDERR,
  'logger-class': LOGS_TO_STDERR,
  'disable-redirect-access-to-syslog': LOGS_TO_STDERR,
  'capture-output': STDIO,
  'enable-stdio-inheritance': STDIO,
  chdir: 'arbiter finds the module and the -c file from the current directory: cd there first (cd /srv/app && arbiter app), or set WorkingDirectory= in the systemd unit',
  paste: PASTE,
  paster: PASTE,
  'paste-global': PASTE,
  'statsd-host': STATSD,
  'statsd-prefix': STATSD,
  'dogstatsd-tags': STATSD,
  pythonpath: 'that is Python\'s import path: Node finds packages in node_modules (NODE_PATH adds directories)',
  'proxy-allow-from': 'not needed: with --proxy-protocol every connection must start with a PROXY header (a direct client cannot claim an address); keep the port reachable only from the proxy',
  'reuse-port': 'not needed: the master binds each address once and every worker accepts on that one socket',
  'no-sendfile': 'not applicable: arbiter sends no files itself, the app does',
  spew: 'that traces Python: use node --inspect, or DEBUG=arbiter:* for arbiter\'s own trace',
  initgroups: 'arbiter has none: workers run with the user and group only (supplementary groups are dropped)',
};

/** gunicorn's one-letter flags that arbiter does not have, by their long name in {@link GUNICORN_ONLY}. */
export const GUNICORN_SHORT: Readonly<Record<string, string>> = { D: 'daemon', R: 'enable-stdio-inheritance' };

/**
 * gunicorn's worker classes (`-k gevent`, `-k uvicorn.workers.UvicornWorker`): what they are, and
 * which of arbiter's models does that job in Node; `undefined` for anything else.
 */
export function gunicornWorkerClass(value: string): string | undefined {
  const v = value.toLowerCase();
  const models = 'arbiter\'s models: async (the default), sync (one request at a time, gunicorn\'s default), threaded';
  if (/gthread|threadworker/.test(v)) return `${value} is gunicorn's threaded worker: use -k threaded --threads N (each thread runs its own event loop: real parallelism). ${models}`;
  if (/gevent|eventlet|tornado|uvicorn|aiohttp|meinheld|asyncio/.test(v)) {
    return `${value} is a Python worker that gives Python an event loop; a Node worker has one already: -k async (the default) serves many connections per worker. ${models}`;
  }
  return undefined;
}
