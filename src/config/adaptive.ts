// Adaptive workers (SPEC §12): `workers: { min, max }` and the thresholds the master scales on.
// The range is checked here; resolveConfig() keeps it beside the resolved config (`workers` is
// then `min`, the count the master starts with) and the master's autoscaler reads it.
import { cpuBudget } from '../cpus.js';
import { configError } from '../errors.js';
import { MAX_WORKERS } from './checks.js';

/** `workers: { min, max }` resolved: the bounds adaptive workers stay within. */
export interface WorkerRange {
  /** Fewest workers (the count the master starts with), at least 1. */
  readonly min: number;
  /** Most workers, at least `min`, at most {@link MAX_WORKERS}. */
  readonly max: number;
}

/** What the `workers` check returns for a range (told apart from a `CpuBudget` by `range`). */
export interface RangeValue {
  readonly range: WorkerRange;
}

/** One bound of `workers: { min, max }`: a positive integer up to {@link MAX_WORKERS} (`max` may be `'auto'`). */
function bound(name: string, value: unknown, env: NodeJS.ProcessEnv, auto: boolean): number {
  if (auto && value === 'auto') return Math.min(cpuBudget(env).count, MAX_WORKERS);
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) throw configError(name, `a positive integer${auto ? ' or "auto"' : ''}`, value);
  if (value > MAX_WORKERS) throw configError(name, `at most ${MAX_WORKERS} (the limit on workers per master)`, value);
  return value;
}

/** Checks `workers: { min, max }` (`max: 'auto'`: the CPU budget, as `workers: 'auto'`). */
export function workerRange(value: object, env: NodeJS.ProcessEnv): RangeValue {
  const given = value as Record<string, unknown>;
  for (const key of Object.keys(given)) if (key !== 'min' && key !== 'max') throw configError('workers', 'a number, "auto" or { min, max } (no other keys)', value);
  const min = bound('workers.min', given.min, env, false);
  const max = bound('workers.max', given.max, env, true);
  if (max < min) throw configError('workers.max', `at least workers.min (${min})`, given.max);
  return { range: Object.freeze({ min, max }) };
}

/** A ratio from 0 to 1 (`scaleUpAt`, `scaleDownAt`). */
export function ratio(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > 1) throw configError(name, 'a number from 0 to 1', value);
  return value;
}

/** `scaleDownAt` must be below `scaleUpAt`, or a load between them would flap. */
export function checkThresholds(up: number, down: number): void {
  if (down >= up) throw configError('scaleDownAt', `below scaleUpAt (${up}), so that a steady load cannot make the count flap`, down);
}

/** CLI `-w MIN:MAX` (`-w 2:8`, `-w 1:auto`) as a `{ min, max }` value; other text is returned as is. */
export function parseWorkersFlag(text: string): unknown {
  const m = /^(\d+):(\d+|auto)$/.exec(text);
  if (!m) return /^-?\d+$/.test(text) ? Number(text) : text;
  return { min: Number(m[1]), max: m[2] === 'auto' ? 'auto' : Number(m[2]) };
}
