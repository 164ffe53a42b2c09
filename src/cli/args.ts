import { parseArgs, type ParseArgsConfig } from 'node:util';
import path from 'node:path';
import { existsSync, readFileSync } from 'node:fs';
import { errorSummary, importApp } from '../app-errors.js';
import type { ArbiterConfig } from '../application.js';
import { bareMilliseconds, resolveConfig } from '../config.js';
import { closestName } from '../config/suggest.js';
import { ArbiterError, configError } from '../errors.js';
import { checkWorkerClass } from '../models/registry.js';
import { parseDuration, parseSize } from '../units.js';

/** How a flag's text becomes an option value. */
type Kind = 'string' | 'list' | 'int' | 'duration' | 'size' | 'workers' | 'env' | 'id';

/** One command-line flag that sets a config option. */
export interface OptionFlag {
  /** One-letter alias. */
  readonly short?: string;
  /** The config option it sets. */
  readonly key: string;
  /** How its text is read. */
  readonly kind: Kind;
  /** Placeholder in the help. */
  readonly value: string;
  /** One line of help. */
  readonly help: string;
  /** The gunicorn flag it corresponds to (docs/cli.md's table), when there is one. */
  readonly gunicorn?: string;
  /** Help section. */
  readonly section: 'Serving' | 'Workers' | 'Timeouts' | 'Process' | 'Logging';
}

/** The flags that set config options, gunicorn's names (SPEC §9). One table drives parsing and help. */
export const OPTION_FLAGS: Readonly<Record<string, OptionFlag>> = {
  bind: { short: 'b', key: 'bind', kind: 'list', value: 'ADDRESS', section: 'Serving', gunicorn: '-b/--bind', help: 'listen on host:port (every address of a host name), :port, [::1]:port, tcp://host:port, unix:/path or fd://N; repeatable [127.0.0.1:8000, or 0.0.0.0:$PORT]' },
  backlog: { key: 'backlog', kind: 'int', value: 'N', section: 'Serving', gunicorn: '--backlog', help: 'listen backlog [2048]' },
  workers: { short: 'w', key: 'workers', kind: 'workers', value: 'N|auto', section: 'Workers', gunicorn: '-w/--workers', help: 'worker processes; auto = one per CPU the process may use [$WEB_CONCURRENCY or 1]' },
  'worker-class': { short: 'k', key: 'workerClass', kind: 'string', value: 'CLASS', section: 'Workers', gunicorn: '-k/--worker-class', help: 'async, sync or threaded [async]' },
  threads: { key: 'threads', kind: 'int', value: 'N', section: 'Workers', gunicorn: '--threads', help: 'serving threads per threaded worker [1]' },
  'worker-connections': { key: 'workerConnections', kind: 'int', value: 'N', section: 'Workers', gunicorn: '--worker-connections', help: 'concurrent connections per async worker [1000]' },
  'max-requests': { key: 'maxRequests', kind: 'int', value: 'N', section: 'Workers', gunicorn: '--max-requests', help: 'recycle a worker after this many requests; 0 = never [0]' },
  'max-requests-jitter': { key: 'maxRequestsJitter', kind: 'int', value: 'N', section: 'Workers', gunicorn: '--max-requests-jitter', help: 'add a random 0..N to --max-requests per worker [0]' },
  'max-worker-memory': { key: 'maxWorkerMemory', kind: 'size', value: 'SIZE', section: 'Workers', help: 'recycle a worker whose RSS exceeds this (512mb, 1gb; bare number = bytes); 0 = off [0]' },
  'spare-workers': { key: 'spareWorkers', kind: 'int', value: 'N', section: 'Workers', help: 'warm spare workers that take over a dead worker\'s slot at once [0]' },
  timeout: { short: 't', key: 'timeout', kind: 'duration', value: 'DURATION', section: 'Timeouts', gunicorn: '-t/--timeout', help: 'a worker silent this long is killed and replaced; 0 = off [30s]' },
  'graceful-timeout': { key: 'gracefulTimeout', kind: 'duration', value: 'DURATION', section: 'Timeouts', gunicorn: '--graceful-timeout', help: 'how long a graceful stop or reload may take before SIGKILL [30s]' },
  'boot-timeout': { key: 'bootTimeout', kind: 'duration', value: 'DURATION', section: 'Timeouts', help: 'a new worker must be ready within this (a reload that misses it rolls back); 0 = off [60s]' },
  'keep-alive': { key: 'keepAlive', kind: 'duration', value: 'DURATION', section: 'Timeouts', gunicorn: '--keep-alive', help: 'idle keep-alive timeout of async/threaded workers [2s]' },
  pid: { short: 'p', key: 'pidfile', kind: 'string', value: 'FILE', section: 'Process', gunicorn: '-p/--pid', help: 'write the master\'s pid to FILE' },
  name: { short: 'n', key: 'procName', kind: 'string', value: 'NAME', section: 'Process', gunicorn: '-n/--name', help: 'process titles "arbiter: master [NAME]"; also how control commands find the master' },
  env: { short: 'e', key: 'env', kind: 'env', value: 'KEY=VALUE', section: 'Process', gunicorn: '-e/--env', help: 'extra environment variable for the workers; repeatable' },
  user: { short: 'u', key: 'user', kind: 'id', value: 'USER', section: 'Process', gunicorn: '-u/--user', help: 'run the workers as this user (name or id)' },
  group: { short: 'g', key: 'group', kind: 'id', value: 'GROUP', section: 'Process', gunicorn: '-g/--group', help: 'run the workers as this group (name or id)' },
  umask: { short: 'm', key: 'umask', kind: 'string', value: 'MASK', section: 'Process', gunicorn: '-m/--umask', help: 'the workers\' umask, octal (027); also the mode of unix sockets the master binds [inherited]' },
  'control-socket': { key: 'controlSocket', kind: 'string', value: 'PATH', section: 'Process', gunicorn: '--control-socket', help: 'put the control socket at PATH [$XDG_RUNTIME_DIR/arbiter/<pid>.sock]' },
  'status-bind': { key: 'statusBind', kind: 'string', value: 'ADDRESS', section: 'Process', help: 'serve /metrics, /healthz, /readyz and /status (read-only) on this address' },
  'log-level': { key: 'logLevel', kind: 'string', value: 'LEVEL', section: 'Logging', gunicorn: '--log-level', help: 'debug, info, warning, error or critical [info]' },
  'log-format': { key: 'logFormat', kind: 'string', value: 'FORMAT', section: 'Logging', help: 'text or json [text]' },
};

/** Flags that are not config options. */
const OTHER_FLAGS = {
  'no-control-socket': { type: 'boolean' },
  config: { type: 'string', short: 'c' },
  'check-config': { type: 'boolean' },
  'print-config': { type: 'boolean' },
  version: { type: 'boolean', short: 'v' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

const PARSE_OPTIONS: ParseArgsConfig['options'] = {
  ...Object.fromEntries(
    Object.entries(OPTION_FLAGS).map(([name, f]) => [
      name,
      { type: 'string', ...(f.short ? { short: f.short } : {}), ...(f.kind === 'list' || f.kind === 'env' ? { multiple: true } : {}) },
    ]),
  ),
  ...OTHER_FLAGS,
};

/** An error of the command line: printed as one line, exit status 1. */
export class UsageError extends Error {
  override name = 'UsageError';
  /** Whether the line ends with "(see arbiter --help)": not when it already says what to do. */
  readonly seeHelp: boolean;

  constructor(message: string, { seeHelp = true }: { seeHelp?: boolean } = {}) {
    super(message);
    this.seeHelp = seeHelp;
  }
}

const LOGS_TO_STDERR = 'arbiter logs to stderr: redirect it (2>>file) or let systemd or the container runtime collect it; --log-level and --log-format json shape it';
const TLS = 'arbiter has no TLS yet (planned: SPEC §14): terminate TLS in front of it (nginx, a load balancer)';
const RELOAD = 'not in arbiter yet (planned: SPEC §14); meanwhile run `arbiter reload` (HUP) after a change — it keeps the old workers if the new code fails to boot — or node --watch in development';
const REQUEST_LIMITS = 'not in arbiter yet (planned: SPEC §14); Node limits the request head itself: node --max-http-header-size=N';
const PROXIES = 'not in arbiter yet (planned: SPEC §14): let the app trust its proxy (express: app.set(\'trust proxy\', …))';
const STATSD = 'arbiter has no StatsD: the master serves Prometheus metrics at /metrics of --status-bind ADDRESS';
const STDIO = 'not needed: the workers write to the master\'s stdout and stderr';
const ACCESS_LOG = 'arbiter writes no access log yet (planned: SPEC §14): log requests in the app (pino-http, morgan)';
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
  reload: RELOAD,
  'reload-engine': RELOAD,
  'reload-extra-file': RELOAD,
  certfile: TLS,
  keyfile: TLS,
  'ca-certs': TLS,
  'cert-reqs': TLS,
  'ssl-version': TLS,
  ciphers: TLS,
  'do-handshake-on-connect': TLS,
  'suppress-ragged-eofs': TLS,
  'access-logfile': ACCESS_LOG,
  'access-logformat': ACCESS_LOG,
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
  'limit-request-line': REQUEST_LIMITS,
  'limit-request-fields': REQUEST_LIMITS,
  'limit-request-field_size': REQUEST_LIMITS,
  'forwarded-allow-ips': PROXIES,
  'proxy-protocol': PROXIES,
  'proxy-allow-from': PROXIES,
  'reuse-port': 'not needed: the master binds each address once and every worker accepts on that one socket',
  'no-sendfile': 'not applicable: arbiter sends no files itself, the app does',
  spew: 'that traces Python: use node --inspect, or DEBUG=arbiter:* for arbiter\'s own trace',
  initgroups: 'arbiter has none: workers run with the user and group only (supplementary groups are dropped)',
};

/** gunicorn's one-letter flags that arbiter does not have, by their long name in {@link GUNICORN_ONLY}. */
const GUNICORN_SHORT: Readonly<Record<string, string>> = { D: 'daemon', R: 'enable-stdio-inheritance' };

/** Every long flag of run mode, for "did you mean". */
const LONG_FLAGS = (): string[] => [...Object.keys(OPTION_FLAGS), ...Object.keys(OTHER_FLAGS)];

/**
 * gunicorn's worker classes (`-k gevent`, `-k uvicorn.workers.UvicornWorker`): what they are, and
 * which of arbiter's models does that job in Node; `undefined` for anything else.
 */
function gunicornWorkerClass(value: string): string | undefined {
  const v = value.toLowerCase();
  const models = 'arbiter\'s models: async (the default), sync (one request at a time, gunicorn\'s default), threaded';
  if (/gthread|threadworker/.test(v)) return `${value} is gunicorn's threaded worker: use -k threaded --threads N (each thread runs its own event loop: real parallelism). ${models}`;
  if (/gevent|eventlet|tornado|uvicorn|aiohttp|meinheld|asyncio/.test(v)) {
    return `${value} is a Python worker that gives Python an event loop; a Node worker has one already: -k async (the default) serves many connections per worker. ${models}`;
  }
  return undefined;
}

/** `-t/--timeout` */
export function flagName(name: string): string {
  const short = OPTION_FLAGS[name]?.short ?? (OTHER_FLAGS as Record<string, { short?: string }>)[name]?.short;
  return short ? `-${short}/--${name}` : `--${name}`;
}

/**
 * Turns a parseArgs error into one line that names the flag. An unknown flag that is gunicorn's
 * says why arbiter has none and what to do instead; a misspelled one gets "did you mean"
 * (`flags`: the long flags to suggest from).
 */
export function parseError(err: unknown, flags: readonly string[] = []): UsageError {
  const e = err as { code?: string; message: string };
  const flag = /'(-[^']*)'/.exec(e.message)?.[1];
  switch (e.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION': {
      if (flag === undefined) return new UsageError(`unknown option ${e.message}`);
      const name = flag.startsWith('--') ? flag.slice(2) : GUNICORN_SHORT[flag.slice(1)];
      if (name !== undefined && Object.hasOwn(GUNICORN_ONLY, name)) {
        const shown = flag.startsWith('--') ? flag : `${flag}/--${name}`;
        return new UsageError(`${shown} is gunicorn's: ${GUNICORN_ONLY[name]}`, { seeHelp: false });
      }
      const hint = flag.startsWith('--') ? closestName(flag.slice(2), flags) : undefined;
      return hint ? new UsageError(`unknown option ${flag} (did you mean --${hint}?)`, { seeHelp: false }) : new UsageError(`unknown option ${flag}`);
    }
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return new UsageError(/argument missing/.test(e.message) ? `option ${/'([^']*)'/.exec(e.message)?.[1]?.replace(/ <value>$/, '') ?? e.message} needs a value` : e.message.split('\n')[0]!);
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return new UsageError(`unexpected argument ${/'([^']*)'/.exec(e.message)?.[1] ?? e.message}`);
    default:
      return new UsageError(e.message.split('\n')[0]!);
  }
}

const INTEGER = /^-?\d+$/;

/**
 * The option value of one flag's text. Unit syntax is checked here (the same message template as
 * the library's); whether the value is acceptable is left to the library's validation.
 */
function convert(name: string, flag: OptionFlag, raw: string | string[]): unknown {
  const one = (text: string): unknown => {
    switch (flag.kind) {
      case 'int':
        return INTEGER.test(text) ? Number(text) : text;
      case 'id':
        return /^\d+$/.test(text) ? Number(text) : text;
      case 'workers':
        return INTEGER.test(text) ? Number(text) : text;
      case 'duration': {
        const ms = parseDuration(text, 's'); // a bare number is seconds, as in gunicorn
        if (ms === undefined) throw configError(flagName(name), 'a duration such as 30 (seconds), 30s, 500ms or 2m', text);
        return ms;
      }
      case 'size': {
        const bytes = parseSize(text, 'b');
        if (bytes === undefined) throw configError(flagName(name), 'a size such as 512mb, 1gb or a number of bytes', text);
        return bytes;
      }
      default:
        return text;
    }
  };
  if (flag.kind === 'list') return (raw as string[]).map(one);
  if (flag.kind === 'env') {
    const env: Record<string, string> = {};
    for (const pair of raw as string[]) {
      const eq = pair.indexOf('=');
      if (eq <= 0) throw configError(flagName(name), 'KEY=VALUE', pair);
      env[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
    return env;
  }
  return one(raw as string);
}

/** What the command line asks for, in run mode (`arbiter [options] <module>`). */
export interface RunArgs {
  /** `<module>[:export]`, if given. */
  module: string | undefined;
  /** `-c` file, if given. */
  configFile: string | undefined;
  /** Config options set by flags, converted (not yet validated as a whole). */
  flags: ArbiterConfig;
  checkConfig: boolean;
  printConfig: boolean;
  help: boolean;
  version: boolean;
}

/** `--max-requests -1` → `--max-requests=-1` (parseArgs would take `-1` for a flag), so that the value reaches validation. */
function withNegativeValues(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const name = arg.startsWith('--') ? arg.slice(2) : Object.keys(OPTION_FLAGS).find((n) => arg === `-${OPTION_FLAGS[n]!.short}`);
    const next = argv[i + 1];
    if (name !== undefined && Object.hasOwn(OPTION_FLAGS, name) && next !== undefined && /^-\d/.test(next)) {
      out.push(`--${name}=${next}`);
      i++;
    } else out.push(arg);
  }
  return out;
}

/**
 * Parses run-mode arguments. Each flag's value is validated on its own by the library's own
 * validator (`resolveConfig`), so a bad value is reported against the flag that carried it.
 * @throws {@link UsageError} for an unknown flag, a missing value or an extra argument;
 *   {@link ArbiterError} for a bad value (its message names the flag).
 */
export function parseRunArgs(argv: readonly string[]): RunArgs {
  let parsed;
  try {
    parsed = parseArgs({ args: withNegativeValues(argv), options: PARSE_OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    throw parseError(err, LONG_FLAGS());
  }
  const { values, positionals } = parsed as { values: Record<string, string | string[] | boolean | undefined>; positionals: string[] };
  if (positionals.length > 1) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[1])}: one app module only`);
  const flags: Record<string, unknown> = {};
  for (const [name, flag] of Object.entries(OPTION_FLAGS)) {
    const raw = values[name];
    if (raw === undefined) continue;
    const python = flag.key === 'workerClass' ? gunicornWorkerClass(raw as string) : undefined;
    if (python) throw new ArbiterError('ARBITER_ERR_CONFIG', `${flagName(name)} ${raw as string}: ${python}`);
    const value = convert(name, flag, raw as string | string[]);
    try {
      resolveConfig({ [flag.key]: value }, checkWorkerClass, {}); // the library's validator for this one option
    } catch (err) {
      if (err instanceof ArbiterError) throw new ArbiterError(err.code, `${flagName(name)} ${Array.isArray(raw) ? raw.join(' ') : raw}: ${err.message}`);
      throw err;
    }
    flags[flag.key] = value;
  }
  if (values['no-control-socket']) {
    if (values['control-socket'] !== undefined) throw new UsageError('--control-socket and --no-control-socket contradict each other');
    flags.controlSocket = false;
  }
  return {
    module: positionals[0],
    configFile: values.config as string | undefined,
    flags: flags as ArbiterConfig,
    checkConfig: values['check-config'] === true,
    printConfig: values['print-config'] === true,
    help: values.help === true,
    version: values.version === true,
  };
}

/**
 * Reads a `-c` config file: JSON (`.json`), or a JS module (ESM or CJS) whose default export is
 * the config object — or, gunicorn style, whose named exports are the options (`export const workers = 4`).
 * Durations are milliseconds or unit strings (`"30s"`), sizes bytes or unit strings (`"512mb"`),
 * as in the API; a bare number from 1 to 999 for a duration is refused ({@link bareMilliseconds}).
 * @throws {@link UsageError} when it cannot be read; {@link ArbiterError} when an option in it is bad.
 */
export async function readConfigFile(file: string): Promise<ArbiterConfig> {
  const abs = path.resolve(file);
  let config: unknown;
  try {
    if (abs.endsWith('.json')) config = JSON.parse(readFileSync(abs, 'utf8'));
    else {
      const ns = await importApp(abs); // a SyntaxError says where it is
      const named = Object.fromEntries(Object.entries(ns).filter(([k]) => k !== 'default' && k !== 'module.exports'));
      config = ns.default !== undefined ? ns.default : named;
    }
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    // ERR_MODULE_NOT_FOUND is also what a package the file imports gives: say which
    const missing = e.code === 'ENOENT' || (e.code === 'ERR_MODULE_NOT_FOUND' && !existsSync(abs));
    throw new UsageError(`cannot read the config file ${file}: ${missing ? 'no such file' : abs.endsWith('.json') ? e.message.split('\n')[0] : errorSummary(err).replace(/^Error(?: \[\w+\])?: /, '')}`);
  }
  const [bare] = bareMilliseconds(config);
  if (bare) {
    const { option, value } = bare;
    throw new ArbiterError(
      'ARBITER_ERR_CONFIG',
      `config file ${file}: ${option} = ${value} would be ${value} ms (config files take milliseconds); write "${value}s" for ${value} second${value === 1 ? '' : 's'}, or ${Math.round(value * 1000)} ("${value}ms" if you do mean milliseconds)`,
    );
  }
  try {
    resolveConfig(config, checkWorkerClass, {});
  } catch (err) {
    if (err instanceof ArbiterError) throw new ArbiterError(err.code, `config file ${file}: ${err.message}`);
    throw err;
  }
  return config as ArbiterConfig;
}

/** The file's config with the flags on top (`env` is merged key by key). */
export function mergeConfig(file: ArbiterConfig | undefined, flags: ArbiterConfig): ArbiterConfig {
  const merged: ArbiterConfig = { ...file, ...flags };
  if (file?.env && flags.env) merged.env = { ...file.env, ...flags.env };
  return merged;
}

/** `arbiter <command>` names of the control commands. */
export const CONTROL_COMMANDS = ['ls', 'status', 'reload', 'scale', 'stop', 'upgrade', 'reopen'] as const;

/** One control command. */
export type ControlCommandName = (typeof CONTROL_COMMANDS)[number];

/** What the command line asks for, for a control command. */
export interface ControlArgs {
  command: ControlCommandName;
  /** The master: pid, name, pidfile or socket path. */
  target: string | undefined;
  /** `scale`: `n`, `+k` or `-k` as given. */
  amount: string | undefined;
  json: boolean;
  quick: boolean;
  help: boolean;
}

/**
 * Parses `arbiter <command> [...]`. `scale -1` works: a signed number is the amount, not a flag.
 * @throws {@link UsageError}
 */
export function parseControlArgs(command: ControlCommandName, argv: readonly string[]): ControlArgs {
  const amounts = command === 'scale' ? argv.filter((a) => /^[+-]\d+$/.test(a)) : [];
  const rest = argv.filter((a) => !amounts.includes(a));
  const options = { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' }, ...(command === 'stop' ? { quick: { type: 'boolean' as const } } : {}) } as const;
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw parseError(err, Object.keys(options));
  }
  const positionals = [...amounts, ...parsed.positionals];
  let amount: string | undefined;
  if (command === 'scale') {
    amount = amounts[0] ?? parsed.positionals[0];
    if (!parsed.values.help && (amount === undefined || !/^[+-]?\d+$/.test(amount))) {
      throw new UsageError(`scale needs a worker count: n, +k or -k (got ${amount === undefined ? 'nothing' : JSON.stringify(amount)})`);
    }
    positionals.splice(positionals.indexOf(amount!), 1);
  }
  const max = command === 'ls' ? 0 : 1;
  if (positionals.length > max) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[max])} for ${command}`);
  return {
    command,
    target: positionals[0],
    amount,
    json: parsed.values.json === true,
    quick: (parsed.values as { quick?: boolean }).quick === true,
    help: parsed.values.help === true,
  };
}

/** The help text: every flag, from the one table. */
export function helpText(): string {
  const sections = new Map<string, string[]>();
  const line = (left: string, help: string): string => {
    // help wrapped at 100 columns, continuation lines under the help column
    const words = help.split(' ');
    const lines: string[] = [];
    let current = '';
    for (const w of words) {
      if (current && current.length + 1 + w.length > 100 - 37) {
        lines.push(current);
        current = w;
      } else current = current ? `${current} ${w}` : w;
    }
    lines.push(current);
    return `  ${left.padEnd(34)} ${lines.join(`\n${' '.repeat(37)}`)}`;
  };
  for (const [name, f] of Object.entries(OPTION_FLAGS)) {
    const left = `${f.short ? `-${f.short}, ` : '    '}--${name} ${f.value}`;
    const list = sections.get(f.section) ?? [];
    list.push(line(left, f.help));
    sections.set(f.section, list);
  }
  sections.get('Process')!.push(line('    --no-control-socket', 'open no control socket'));
  const body = [...sections].map(([title, lines]) => `${title}:\n${lines.join('\n')}`).join('\n\n');
  return `Usage: arbiter [options] <module>[:export]
       arbiter <command> [target] [--json]

Serves an app module with a gunicorn-style master: it binds the listeners, runs the workers
(each imports <module> and serves its export), restarts the dead and the hung, and answers
signals and the control commands below. The export (default: default) is a request listener
(express app, koa.callback()), a Koa app, a Fastify instance, an object with load(), or a
function returning one of these.

Durations take units (30s, 500ms, 2m, 1h); a bare number is seconds, as in gunicorn. In a -c
file a bare number is milliseconds, as in the API, so write "30s" there (30 alone is refused).
<module> is resolved as Node would: app finds app.js, app.mjs, app.cjs or app/index.js.

${body}

Config:
${line('-c, --config FILE', 'read options from a JS/JSON file (the flags override it)')}
${line('    --check-config', 'validate the config and the app module, then exit 0 (or 1)')}
${line('    --print-config', 'print the resolved config as JSON and exit')}
${line('-v, --version', 'print the version and exit')}
${line('-h, --help', 'print this help and exit')}

Commands (to running masters of this user, over their control sockets):
${line('ls [--json]', 'every master: pid, name, binds, workers ready/target, generation, uptime')}
${line('status [target] [--json]', 'the master and each worker: requests, in flight, RSS, CPU, heartbeat')}
${line('reload [target|all]', 'new workers with fresh code (HUP); waits for the outcome, and says why it failed')}
${line('scale <n|+k|-k> [target]', 'set the number of workers (1 to 1024), or change it by k')}
${line('stop [--quick] [target|all]', 'graceful stop (TERM), or quick (QUIT); waits for the master to halt')}
${line('upgrade [target]', 'start a new master from the same command (USR2)')}
${line('reopen [target|all]', 'reopen log files (USR1)')}
  target: a master's pid, its --name, or its pidfile. Omitted: for ls and status, the only master
  running; for a command that changes something, the master started from this directory.
  Exit status 0 on success, 1 otherwise.
`;
}
