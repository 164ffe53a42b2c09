// The command line: run mode's flags and the -c file into a config, a control command's
// arguments, and errors that name the flag. The flags themselves: flags.ts (from the option table).
import { parseArgs } from 'node:util';
import path from 'node:path';
import { existsSync, readFileSync } from 'node:fs';
import { errorSummary, importApp } from '../app-errors.js';
import type { ArbiterConfig } from '../application.js';
import { bareMilliseconds, resolveConfig } from '../config.js';
import { checkBindList } from '../config/bind.js';
import { OPTIONS } from '../config/options.js';
import { closestName } from '../config/suggest.js';
import { parseWorkersFlag } from '../config/adaptive.js';
import { ArbiterError, configError } from '../errors.js';
import { checkWorkerClass } from '../models/registry.js';
import { parseDuration, parseSize } from '../units.js';
import { flagName, LONG_FLAGS, OPTION_FLAGS, PARSE_OPTIONS, type OptionFlag } from './flags.js';
import { GUNICORN_ONLY, GUNICORN_SHORT, gunicornWorkerClass } from './gunicorn.js';

export { OPTION_FLAGS, type OptionFlag } from './flags.js';
export { GUNICORN_ONLY } from './gunicorn.js';

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
        return parseWorkersFlag(text);
      case 'number':
        return /^\d*\.?\d+$/.test(text) ? Number(text) : text;
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
  if (flag.kind === 'boolean') return raw as unknown as boolean;
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
      // the library's validator for this one option (options that go together are checked together later)
      const checked = OPTIONS[flag.key as keyof typeof OPTIONS].check(value, { name: flag.key, env: {}, checkWorkerClass });
      if (flag.key === 'bind') checkBindList(checked as string[]);
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
export const CONTROL_COMMANDS = ['ls', 'status', 'reload', 'scale', 'stop', 'upgrade', 'reopen', 'events', 'top'] as const;

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
  /** `top`: refresh period, ms (default 1000). */
  interval: number;
  /** `top`: no colours (also with `NO_COLOR` set). */
  noColor: boolean;
}

/** `top --interval`: `1s`, `500ms`, `2` (seconds); between 100 ms and 1 h. */
function parseInterval(value: string | undefined): number {
  if (value === undefined) return 1000;
  const m = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(value.trim());
  const ms = m ? Number(m[1]) * (m[2] === 'ms' ? 1 : 1000) : NaN;
  if (!(ms >= 100 && ms <= 3_600_000)) throw new UsageError(`--interval: expected a period between 100ms and 1h, like 1s, 500ms or 2 (seconds), got ${JSON.stringify(value)}`);
  return Math.round(ms);
}

/**
 * Parses `arbiter <command> [...]`. `scale -1` works: a signed number is the amount, not a flag.
 * @throws {@link UsageError}
 */
export function parseControlArgs(command: ControlCommandName, argv: readonly string[]): ControlArgs {
  const amounts = command === 'scale' ? argv.filter((a) => /^[+-]\d+$/.test(a)) : [];
  const rest = argv.filter((a) => !amounts.includes(a));
  const options = {
    ...(command === 'top' ? {} : { json: { type: 'boolean' as const } }),
    help: { type: 'boolean', short: 'h' },
    ...(command === 'stop' ? { quick: { type: 'boolean' as const } } : {}),
    ...(command === 'top' ? { interval: { type: 'string' as const }, 'no-color': { type: 'boolean' as const } } : {}),
  } as const;
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
    json: (parsed.values as { json?: boolean }).json === true,
    quick: (parsed.values as { quick?: boolean }).quick === true,
    help: parsed.values.help === true,
    interval: parseInterval((parsed.values as { interval?: string }).interval),
    noColor: (parsed.values as { 'no-color'?: boolean })['no-color'] === true,
  };
}
