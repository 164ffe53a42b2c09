// The config: the options a user gives (types.ts), checked and defaulted row by row from the
// option table (options.ts). This module knows no worker model: the type of worker the hooks
// receive is a type parameter (`W`), and which `workerClass` values are valid is asked of the model
// registry, passed in to resolveConfig(). The models import the config, never the other way round.
import type { CpuBudget } from './cpus.js';
import { ArbiterError, configError } from './errors.js';
import { checkBindList, checkStatusBind } from './config/bind.js';
import { MAX_WORKERS } from './config/checks.js';
import { OPTIONS } from './config/options.js';
import { checkThresholds, type RangeValue, type WorkerRange } from './config/adaptive.js';
import { closestName } from './config/suggest.js';
import { loadTls, type TlsConfig } from './tls.js';
import { DURATION_OPTIONS, type DurationOption, type ResolvedConfig, type WorkerClassCheck } from './config/types.js';

export type { BaseConfig, DurationOption, ResolvedConfig, StaticDefaults, WorkerClassCheck, WorkerClassValue, WorkerHooks } from './config/types.js';
export { DURATION_OPTIONS } from './config/types.js';
export { DEFAULTS } from './config/options.js';
export { MAX_WORKERS } from './config/checks.js';
export type { WorkerRange } from './config/adaptive.js';
export { parseBind, type BindAddress } from './config/bind.js';

const KNOWN = Object.keys(OPTIONS);

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
    if (!Object.hasOwn(OPTIONS, key)) {
      const hint = closestName(key, KNOWN);
      throw new ArbiterError(
        'ARBITER_ERR_CONFIG',
        `Unknown option \`${key}\`${hint ? ` (did you mean \`${hint}\`?)` : ''}; known options: ${KNOWN.join(', ')}`,
      );
    }
  }
  const out: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(OPTIONS)) {
    const value = given[key] === undefined && 'default' in spec ? spec.default : spec.check(given[key], { name: key, env, checkWorkerClass });
    if (value !== undefined) out[key] = value;
  }
  checkBindList(out.bind as string[]); // address syntax errors and duplicates surface at construction
  // Only against a `bind` given: the default one may go unused (an app that listens itself, systemd's sockets).
  if (typeof out.statusBind === 'string' && given.bind !== undefined) checkStatusBind(out.statusBind, out.bind as string[]);
  loadTls(out as unknown as TlsConfig); // a missing or bad certificate too
  checkThresholds(out.scaleUpAt as number, out.scaleDownAt as number);
  const range = typeof out.workers === 'object' && 'range' in (out.workers as object) ? (out.workers as RangeValue).range : undefined;
  const budget = !range && typeof out.workers === 'object' ? (out.workers as CpuBudget) : undefined;
  if (budget) out.workers = Math.min(budget.count, MAX_WORKERS);
  if (range) out.workers = range.min;
  const config = Object.freeze(out) as unknown as ResolvedConfig;
  if (budget) AUTO_WORKERS.set(config, budget);
  if (range) WORKER_RANGES.set(config, range);
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

/** `workers: { min, max }`, per resolved config. */
const WORKER_RANGES = new WeakMap<object, WorkerRange>();

/** The bounds of adaptive workers when `config` came from `workers: { min, max }`; `undefined` for a fixed number. */
export function workerRange(config: object): WorkerRange | undefined {
  return WORKER_RANGES.get(config);
}

/** `to` (a config derived from `from`) keeps `from`'s adaptive bounds; returns `to`. */
export function keepRange<C extends object>(from: object, to: C): C {
  const range = WORKER_RANGES.get(from);
  if (range) WORKER_RANGES.set(to, range);
  return to;
}

/** How `workers: 'auto'` was resolved, per resolved config (for the master's log line). */
const AUTO_WORKERS = new WeakMap<object, CpuBudget>();

/** When `config` came from `workers: 'auto'`: the CPU count it resolved to and how it was decided. */
export function autoWorkers(config: object): CpuBudget | undefined {
  return AUTO_WORKERS.get(config);
}
