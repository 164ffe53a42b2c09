import type { ExitReason, ReloadFailure } from '../events.js';
import type { OperatorLog } from '../log.js';
import { setProcessTitle } from '../title.js';
import type { Emit } from './bus.js';
import { configErrorDetail, reloadedConfig, reloadedListeners, reloadFailedMessage, type Generations, type Proven } from './generations.js';
import { openListeners, type MasterListener } from './listeners.js';
import { probeConfig, type MasterConfig } from './probe.js';
import { isLive, type WorkerRecord } from './worker-record.js';

/** What a reload needs from the loop. */
export interface ReloadHost {
  readonly log: OperatorLog;
  readonly emit: Emit;
  readonly generations: Generations;
  /** The master runs (not starting, not stopping). */
  running(): boolean;
  workers(): Iterable<WorkerRecord>;
  /** What the current generation runs with. */
  serving(): Proven;
  /** Runs with `state` from now on (a reload's, or the proven one again after a rollback). */
  serve(state: Proven): void;
  /** A reload may open the addresses a new `bind` adds (not with systemd's sockets, nor when binding on demand). */
  rebinds(): boolean;
  /** Listeners a reload opened: shared with the workers' user and announced. */
  opened(added: readonly MasterListener[]): void;
  scale(n: number): void;
  retire(w: WorkerRecord, reason: ExitReason): void;
  wakeup(): void;
}

/**
 * HUP, gated: read the new config through a probe, open the new `bind` addresses, start a new
 * generation ({@link Generations} keeps the last proven state); roll back when its workers fail
 * to boot while the previous generation serves; settle once the previous one has retired.
 */
export class Reloads {
  readonly #host: ReloadHost;
  /** Aborts the config probe under way (the master stops). */
  #probe: AbortController | undefined;

  constructor(host: ReloadHost) {
    this.#host = host;
  }

  /**
   * Re-reads the config (a short-lived probe evaluates the entry script, as a new worker would),
   * then starts a new generation with fresh code; the old one retires once the new one is ready.
   * If the config cannot be read, the current workers keep serving (`reload_failed`).
   */
  start(): void {
    const host = this.#host;
    if (host.generations.probing) {
      host.log.warning('Reload already in progress; ignored.');
      return;
    }
    host.log.info('Hang up: Master');
    host.emit('reload');
    host.generations.probing = true;
    const probe = (this.#probe = new AbortController());
    probeConfig(host.serving().config.env, undefined, probe.signal)
      .then((fresh) => this.#apply(fresh))
      .catch((err: unknown) => this.#configFailed(err))
      .finally(() => {
        host.generations.probing = false;
        if (this.#probe === probe) this.#probe = undefined;
      });
  }

  /** The master stops: a config probe under way is killed (a stop never waits for a slow entry script), and its reload ends. */
  cancel(): void {
    this.#probe?.abort();
  }

  async #apply(fresh: MasterConfig): Promise<void> {
    const host = this.#host;
    if (!host.running()) return;
    let listeners = host.serving().listeners;
    if (host.rebinds()) {
      const missing = fresh.bind.filter((spec) => !host.serving().listeners.some((l) => l.spec === spec));
      const added = missing.length > 0 ? await openListeners(missing, fresh.backlog, host.log, () => !host.running(), 1) : [];
      listeners = reloadedListeners(fresh.bind, host.serving().listeners, added); // as they are after the await
      host.opened(added);
    }
    if (!host.running()) {
      for (const l of listeners) if (!host.serving().listeners.includes(l)) l.close();
      return;
    }
    const proven = host.serving();
    host.serve({ config: reloadedConfig(proven.config, fresh), listeners, threads: fresh.inThreads ? fresh.threads : 0, target: proven.target });
    if (fresh.procName) setProcessTitle(`arbiter: master [${fresh.procName}]`, host.log);
    host.generations.start(proven);
    if (proven.target !== fresh.workers) host.scale(fresh.workers);
    host.wakeup();
  }

  #configFailed(err: unknown): void {
    const host = this.#host;
    if (!host.running()) return;
    const kept = [...host.workers()].filter(isLive).length;
    const detail = configErrorDetail(err);
    host.log.error(`Reload failed: the new config could not be read or applied: ${detail}. Keeping the ${kept} current workers.`, { reason: 'config_error' });
    host.emit('reload_failed', Object.freeze({ generation: host.generations.skip(), reason: 'config_error' as const, keptWorkers: kept, error: detail }));
  }

  /**
   * A worker of the current generation failed to boot. If this generation came from a reload and
   * a previous generation still has ready workers, abandon the new one: stop its workers, make the
   * previous generation current again and spawn nothing until the next reload. Returns false when
   * there is nothing to fall back to (then the usual halt or replacement applies).
   */
  failed(w: WorkerRecord, reason: ReloadFailure['reason']): boolean {
    const host = this.#host;
    const r = host.generations.rollback(w.generation, host.workers());
    if (!r) return false;
    if (r.restore) {
      // back to the config and listeners the fallback generation runs with
      for (const l of host.serving().listeners) if (!r.restore.listeners.includes(l)) l.close();
      host.serve(r.restore);
    }
    for (const x of r.abandon) host.retire(x, 'reload');
    const { failed, fallback, kept } = r;
    const { config, target } = host.serving();
    const error = w.failure; // the worker's own words: its error and where it is
    host.log.error(reloadFailedMessage(reason, error, kept, config.bootTimeout), { reason, generation: failed });
    host.log.debug(`Rollback: generation ${failed} abandoned, generation ${fallback} is current again (target ${target}); nothing is spawned until the next reload`);
    host.emit('reload_failed', Object.freeze({ generation: failed, reason, keptWorkers: kept, ...(error ? { error } : {}) }));
    host.wakeup();
    return true;
  }

  /**
   * Once every worker of an older generation has been told to retire, the state kept for a
   * rollback goes, and listeners the new config dropped are closed — before those workers close
   * their own copies, so the last holder of a dropped socket is a worker, which accepts until then.
   */
  settle(): void {
    const host = this.#host;
    const settled = host.generations.settle(host.workers());
    if (!settled) return;
    const { listeners } = host.serving();
    for (const l of settled.previous.listeners) if (!listeners.includes(l)) l.close();
    const { workers, retired } = settled;
    const generation = host.generations.current;
    host.log.info(`Reload complete: generation ${generation} is ready (${workers} workers); the previous generation retired (${retired} workers)`);
    host.emit('reloaded', Object.freeze({ generation, workers }));
  }
}
