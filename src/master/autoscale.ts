import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { CGROUP_ROOT_ENV } from '../cpus.js';
import { MAX_WORKERS, type WorkerRange } from '../config.js';
import { ArbiterError } from '../errors.js';
import { trace } from '../trace.js';
import type { OperatorLog } from '../log.js';
import { readBacklog } from './backlog.js';
import { mebibytes } from './memory.js';
import { decide, INITIAL_STATE, median, type ScalePolicy, type ScaleReason, type ScaleState } from './scale-policy.js';
import { sampleWorkers, saturation, type SupervisorView } from './stats.js';

const debug = trace.master;

/** How often (ms) adaptive workers sample the pool: one vitals query per worker each time. */
export const SAMPLE_PERIOD = 1000;

/** What the autoscaler reads and calls. */
export interface AutoscaleHost {
  readonly log: OperatorLog;
  /** The bounds and thresholds now (a reload may change them); `undefined`: the workers are a fixed number now. */
  policy(): ScalePolicy | undefined;
  /** The workers and listeners, as `stats()` reads them. */
  view(): SupervisorView;
  /** The pool matches the target (no worker booting, none retiring for a scale change). */
  settled(): boolean;
  /** Whether decisions may be acted on now: running, no reload's config being read, not after WINCH (target 0: the operator retired every worker). */
  active(): boolean;
  /** Sets the target, logging and emitting `nworkers_changed(n, old, reason)`. */
  scale(n: number, reason: ScaleReason): void;
}

/** The policy of a config with `workers: { min, max }`. */
export function policyOf(range: WorkerRange | undefined, c: { scaleUpAt: number; scaleDownAt: number; scaleDownAfter: number }): ScalePolicy | undefined {
  return range && { ...range, scaleUpAt: c.scaleUpAt, scaleDownAt: c.scaleDownAt, scaleDownAfter: c.scaleDownAfter };
}

/** Bytes the cgroup may still grow (`memory.max` − `memory.current` of this process's cgroup); `null` when unlimited or unreadable. */
export function memoryHeadroom(env: NodeJS.ProcessEnv = process.env): number | null {
  try {
    const own = readFileSync('/proc/self/cgroup', 'utf8').split('\n').find((l) => l.startsWith('0::'))?.slice(3);
    if (own === undefined) return null;
    const dir = join(env[CGROUP_ROOT_ENV] || '/sys/fs/cgroup', own);
    const max = readFileSync(join(dir, 'memory.max'), 'utf8').trim();
    if (max === 'max') return null;
    const current = Number(readFileSync(join(dir, 'memory.current'), 'utf8').trim());
    return Number.isFinite(Number(max)) && Number.isFinite(current) ? Math.max(0, Number(max) - current) : null;
  } catch {
    return null;
  }
}

/**
 * Adaptive workers' clock: while `workers: { min, max }` is on, samples the pool every
 * {@link SAMPLE_PERIOD} ms (each ready worker's watchdog answers one vitals query; the accept
 * queues are read from `/proc`), asks {@link decide} and acts on it. With a fixed number of
 * workers nothing runs: the master's loop stays event-driven.
 */
export class Autoscaler {
  readonly #host: AutoscaleHost;
  #state: ScaleState = INITIAL_STATE;
  #timer: NodeJS.Timeout | undefined;
  #sampling = false;

  constructor(host: AutoscaleHost) {
    this.#host = host;
  }

  /** Starts or stops sampling to match the config (at start and after a reload). */
  update(): void {
    const on = this.#host.policy() !== undefined;
    if (on && !this.#timer) {
      this.#timer = setInterval(() => void this.#sample(), SAMPLE_PERIOD);
      this.#timer.unref();
    } else if (!on) this.stop();
  }

  /** Stops sampling (the master is stopping). */
  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#state = INITIAL_STATE;
  }

  async #sample(): Promise<void> {
    if (this.#sampling || !this.#host.active()) return;
    this.#sampling = true;
    try {
      const view = this.#host.view();
      const samples = await sampleWorkers(view);
      const policy = this.#host.policy();
      if (!policy || !this.#timer || !this.#host.active()) return;
      const now = performance.now();
      const live = samples.filter((s) => s.info.state === 'ready' || s.info.state === 'booting');
      const sample = {
        saturation: saturation(samples.map((s) => ({ state: s.info.state, elu: s.vitals?.elu ?? null }))),
        backlog: readBacklog(view.listeners).total,
        target: view.target,
        settled: this.#host.settled(),
        headroom: memoryHeadroom(),
        medianRss: median(live.flatMap((s) => (s.vitals?.rss ? [s.vitals.rss] : []))),
      };
      const { state, decision } = decide(this.#state, sample, now, policy);
      this.#state = state;
      debug('sample %o -> %s', sample, decision.action);
      if (decision.action === 'blocked') {
        if (decision.first) {
          this.#host.log.warning(`Not adding a worker (${decision.detail}): the cgroup's memory headroom ${mebibytes(sample.headroom!)} is below 1.5 × the median worker RSS ${mebibytes(sample.medianRss!)}`);
        }
      } else if (decision.action !== 'none') {
        const n = view.target + (decision.action === 'up' ? 1 : -1);
        this.#host.log.info(`Autoscale: ${view.target} -> ${n} workers (${decision.detail})`, { reason: decision.reason, workers: n, previous: view.target });
        this.#host.scale(n, decision.reason);
      }
    } finally {
      this.#sampling = false;
    }
  }
}

/** A worker as {@link settledPool} reads it. */
interface PoolWorker {
  readonly state: string;
  readonly generation: number;
  readonly spare?: boolean;
  readonly reason?: string;
}

/** Whether the pool matches `target`: that many current-generation workers, all ready, none still leaving after a scale-down. */
export function settledPool(workers: Iterable<PoolWorker>, target: number, generation: number): boolean {
  let ready = 0;
  for (const w of workers) {
    if (w.spare) continue;
    if (w.state === 'booting' || (w.state === 'retiring' && w.reason === 'scale_down')) return false;
    if (w.state === 'ready' && w.generation === generation) ready++;
  }
  return ready === target;
}

/** `n` clamped to the adaptive bounds (`range` undefined: unchanged). */
export function clampToRange(n: number, range: WorkerRange | undefined): number {
  return range ? Math.min(range.max, Math.max(range.min, n)) : n;
}

/** `scale(n)`'s argument: a positive integer up to {@link MAX_WORKERS}, or `ARBITER_ERR_CONFIG`. */
export function checkScale(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new ArbiterError('ARBITER_ERR_CONFIG', `Expected \`scale(n)\` to get a positive integer, got ${String(n)}`);
  if (n > MAX_WORKERS) throw new ArbiterError('ARBITER_ERR_CONFIG', `Expected \`scale(n)\` to get at most ${MAX_WORKERS} (the limit on workers per master), got ${n}`);
}

/** A manual `scale(n)` with adaptive workers: clamped to the bounds, and logged when it was. */
export function clampScale(n: number, range: WorkerRange | undefined, log: OperatorLog): number {
  const clamped = clampToRange(n, range);
  if (clamped !== n) log.info(`Scale to ${n} workers clamped to ${clamped}: adaptive workers stay within ${range!.min}:${range!.max}`);
  return clamped;
}
