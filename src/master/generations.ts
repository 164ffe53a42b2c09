import { keepRange, workerRange, type ResolvedConfig } from '../config.js';
import type { ReloadFailure } from '../events.js';
import type { MasterListener } from './listeners.js';
import type { MasterConfig } from './probe.js';
import { isLive, type WorkerRecord } from './worker-record.js';

/** What a generation runs with: kept as "the last proven state" while a reload is not proven yet. */
export interface Proven {
  readonly config: ResolvedConfig;
  readonly listeners: MasterListener[];
  readonly threads: number;
  readonly target: number;
}

/** What {@link Generations.rollback} decided: the generation given up, the one current again. */
export interface Rollback {
  readonly failed: number;
  readonly fallback: number;
  /** The state to go back to (unset: the failed generation ran with the same one, e.g. after a rollback already). */
  readonly restore: Proven | undefined;
  /** Live workers of the failed generation (to retire) and how many of the fallback's keep serving. */
  readonly abandon: readonly WorkerRecord[];
  readonly kept: number;
}

/** What {@link Generations.settle} found: the reload is complete. */
export interface Settled {
  /** The state kept for a rollback, now dropped: its listeners the new config dropped are to be closed. */
  readonly previous: Proven;
  /** Live workers of the current generation, and workers of older ones retired by the reload. */
  readonly workers: number;
  readonly retired: number;
}

/**
 * The newest generation older than `failed` with a ready worker, or −1: what a failed reload falls
 * back to. A pure decision over the worker table.
 */
export function fallbackGeneration(workers: Iterable<WorkerRecord>, failed: number): number {
  let fallback = -1;
  for (const w of workers) if (w.state === 'ready' && w.generation !== failed) fallback = Math.max(fallback, w.generation);
  return fallback;
}

/** The operator log line of a reload whose new workers failed (`reload_failed`). */
export function reloadFailedMessage(reason: ReloadFailure['reason'], error: string | undefined, kept: number, bootTimeout: number): string {
  const why = {
    config_error: 'the new config could not be applied',
    app_load_error: 'the app failed to load',
    boot_error: 'a worker failed to boot',
    crash: 'a worker crashed while booting',
    boot_timeout: `a worker was not ready within bootTimeout (${bootTimeout} ms)`,
  }[reason];
  return `Reload failed: ${why}${error ? `: ${error}` : ''}. Keeping the ${kept} workers of the previous generation; fix the code and send HUP again.`;
}

/** The options a reload applies from the freshly read config (the others need a restart), on top of `current`. */
export function reloadedConfig(current: ResolvedConfig, fresh: MasterConfig): ResolvedConfig {
  const { bind, backlog, workers, threads, timeout, gracefulTimeout, bootTimeout, spareWorkers, env, procName, maxWorkerMemory } = fresh;
  const range = workerRange(current); // adaptive bounds stay as the master started with them (they take a restart)
  return keepRange(current, Object.freeze({ ...current, bind, backlog, workers: range ? current.workers : workers, threads, timeout, gracefulTimeout, bootTimeout, spareWorkers, env, procName, maxWorkerMemory }));
}

/**
 * The listeners of a reloaded `bind` list, in its order: for each address the ones already open
 * (a host name's spec has one listener per address it resolved to), else the ones just `added`.
 */
export function reloadedListeners(bind: readonly string[], current: readonly MasterListener[], added: readonly MasterListener[]): MasterListener[] {
  return bind.flatMap((spec) => {
    const kept = current.filter((l) => l.spec === spec);
    return kept.length > 0 ? kept : added.filter((l) => l.spec === spec);
  });
}

/** The first line of why a reload's config could not be read (the probe's error), for `reload_failed`. */
export function configErrorDetail(err: unknown): string {
  return ((err instanceof Error ? err.message : String(err)).split('\n').find((l) => l.trim()) ?? '').replace(/^arbiter: /, '');
}

/**
 * The reload generations: which one is current (what the loop spawns), the last proven state kept
 * until a new generation has fully replaced it, whether a failure rolls back, and whether spawning
 * is paused because the code on disk failed. It decides; the loop applies (closes sockets, retires
 * workers, logs, emits).
 */
export class Generations {
  #current = 0;
  /** Last generation number handed out (never reused). */
  #seq = 0;
  #spawnPaused = false;
  #previous: Proven | undefined;
  /** The last generation announced whole (`generation_ready`). */
  #announced = -1;
  /** A config probe is running (HUP). */
  probing = false;

  /** The current generation (what manage_workers spawns); a failed reload moves it back. */
  get current(): number {
    return this.#current;
  }

  /** After a failed reload: spawn nothing until the next reload (the code on disk is broken). */
  get spawnPaused(): boolean {
    return this.#spawnPaused;
  }

  /** Spawning again with the current code (no worker was left to keep serving). */
  resumeSpawning(): void {
    this.#spawnPaused = false;
  }

  /** Listeners of the kept state (closed with the current ones when the master stops). */
  get keptListeners(): readonly MasterListener[] {
    return this.#previous?.listeners ?? [];
  }

  /** A reload applied a new config: keep `proven` (the first, if reloads stack) and start a new generation. */
  start(proven: Proven): number {
    this.#previous ??= proven;
    this.#current = ++this.#seq;
    this.#spawnPaused = false;
    return this.#current;
  }

  /** A reload that failed before starting a generation still uses a number up (its `reload_failed` names it). */
  skip(): number {
    return ++this.#seq;
  }

  /**
   * A worker of generation `failed` failed to boot. If that is the current generation and an older
   * one still has ready workers, give the new one up: the older one is current again, spawning
   * pauses until the next reload. Undefined when there is nothing to fall back to.
   */
  rollback(failed: number, workers: Iterable<WorkerRecord>): Rollback | undefined {
    if (failed !== this.#current) return undefined;
    const live = [...workers].filter(isLive);
    const fallback = fallbackGeneration(live, failed);
    if (fallback < 0) return undefined;
    const restore = this.#previous;
    this.#current = fallback;
    this.#spawnPaused = true;
    this.#previous = undefined;
    return { failed, fallback, restore, abandon: live.filter((x) => x.generation === failed), kept: live.filter((x) => x.generation === fallback).length };
  }

  /** Once no worker of an older generation is live, the reload is complete: the kept state goes. */
  settle(workers: Iterable<WorkerRecord>): Settled | undefined {
    if (!this.#previous) return undefined;
    const all = [...workers];
    if (all.some((w) => w.generation !== this.#current && isLive(w))) return undefined;
    const previous = this.#previous;
    this.#previous = undefined;
    const current = all.filter((w) => w.generation === this.#current && isLive(w)).length;
    const retired = all.filter((w) => w.generation !== this.#current && w.reason === 'reload').length;
    return { previous, workers: current, retired };
  }

  /** Drops the kept state (the master stops). */
  forget(): void {
    this.#previous = undefined;
  }

  /** The number of ready workers, once per generation, when the target count of its workers is ready (`generation_ready`). */
  whole(workers: Iterable<WorkerRecord>, target: number): number | undefined {
    if (this.#current <= this.#announced || target < 1) return undefined;
    let ready = 0;
    for (const w of workers) if (!w.spare && w.generation === this.#current && w.state === 'ready') ready++;
    if (ready < target) return undefined;
    this.#announced = this.#current;
    return ready;
  }
}
