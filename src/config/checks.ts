// The checks options share: integers, durations, sizes, worker counts, paths, enumerations. Each
// takes the option's name, so that its error names it (ARBITER_ERR_CONFIG: the option, what was
// expected, the value).
import { configError } from '../errors.js';
import { parseDuration, parseSize } from '../units.js';

/** An integer from `min` up (`unit`, if given, is said in the error: `(milliseconds)`). */
export function integer(name: string, value: unknown, min: number, unit = ''): number {
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
export function duration(name: string, value: unknown): number {
  const ms = typeof value === 'string' ? parseDuration(value) : integer(name, value, 0, 'milliseconds');
  if (ms === undefined) throw configError(name, 'a non-negative integer (milliseconds) or a duration with a unit such as "30s", "500ms", "2m" or "1h"', value);
  if (ms > 2_147_483_647) throw configError(name, 'at most 2147483647 (milliseconds, about 24.8 days)', value);
  return ms;
}

/** A duration that must be at least 1 ms. */
export function positiveDuration(name: string, value: unknown): number {
  const ms = duration(name, value);
  if (ms === 0) throw configError(name, 'a positive integer (milliseconds)', value);
  return ms;
}

/** A size: bytes, or a string with a unit (`'512mb'`, 1024-based). */
export function size(name: string, value: unknown): number {
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
export function workerCount(name: string, value: number): number {
  if (value > MAX_WORKERS) throw configError(name, `at most ${MAX_WORKERS} (the limit on workers per master)`, value);
  return value;
}

/**
 * The most serving threads per `threaded` worker. Each thread is a V8 isolate that loads the app
 * (10 MB or more of memory each, often far more) and holds its own copy of every listening socket
 * (`threads` x `bind` descriptors handed to each worker at spawn), so 256 is gigabytes per worker
 * — far past the CPUs of any machine, where more threads stop adding parallelism. A larger number
 * is a typo, which must not make each worker start threads until the machine gives out.
 */
export const MAX_THREADS = 256;

/** `threads`: a positive integer, at most {@link MAX_THREADS}. */
export function threadCount(name: string, value: unknown): number {
  const n = integer(name, value, 1);
  if (n > MAX_THREADS) throw configError(name, `at most ${MAX_THREADS} (the limit on serving threads per threaded worker; each is a V8 isolate with the app loaded)`, value);
  return n;
}

/** Smallest non-zero `maxWorkerMemory`: below it the value is surely a unit mistake (megabytes for bytes). */
export const MIN_WORKER_MEMORY = 16 * 1024 * 1024;

/** A non-empty string, or `null`/`undefined` for none (`null`). */
export function optionalPath(name: string, value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value !== 'string' || value.length === 0) throw configError(name, 'a non-empty string or null', value);
  return value;
}

/** A positive integer, or the one other accepted value `alternative` names (the validator handles that one first). */
export function positiveIntegerOr(name: string, value: unknown, alternative: string): number {
  if (typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= Number.MAX_SAFE_INTEGER) return value;
  throw configError(name, `a positive integer or ${alternative}`, value);
}

/** One of the strings `allowed`. */
export function oneOf<T extends string>(name: string, allowed: readonly T[], value: unknown): T {
  if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T;
  throw configError(name, `one of ${allowed.map((a) => `"${a}"`).join(', ')}`, value);
}
