import type { ExitReason } from '../events.js';
import type { MasterEventSource } from './bus.js';

/** Anything that delivers the master's events (the `Arbiter`'s internal event bus). */
export type EventSource = MasterEventSource;

/** Exit reasons that follow an operator's request or the master's own stop: not restarts. */
const PLANNED: ReadonlySet<ExitReason> = new Set<ExitReason>(['reload', 'scale_down', 'shutdown']);

/** Counters since the master started; each only ever grows. */
export interface TallyCounts {
  /** Worker processes spawned. */
  readonly spawns: number;
  /** Workers gone, by {@link ExitReason}. */
  readonly exits: Readonly<Partial<Record<ExitReason, number>>>;
  /** `worker_timeout` events (hung at boot or missed heartbeats). */
  readonly timeouts: number;
  /**
   * Workers that went away without an operator asking (crashed, timed out, recycled after
   * `maxRequests`, failed to boot, exited by themselves): the master replaces them. Exits with
   * reason `reload`, `scale_down` or `shutdown` are not restarts.
   */
  readonly restarts: number;
  /** Reloads: `started` (HUP / `reload()` acted on), `succeeded` (`reloaded`), `failed` (`reload_failed`). */
  readonly reloads: { readonly started: number; readonly succeeded: number; readonly failed: number };
  /** Adaptive workers' decisions: workers added (`up`) and removed (`down`); manual changes do not count. */
  readonly scaleEvents: { readonly up: number; readonly down: number };
}

/**
 * Event-fed counters for `stats()`, the control socket and `/metrics`: it subscribes to the
 * master's events and adds them up; nothing else writes them, nothing is periodic.
 */
export class Tally {
  #spawns = 0;
  #timeouts = 0;
  #restarts = 0;
  readonly #exits: Partial<Record<ExitReason, number>> = {};
  readonly #reloads = { started: 0, succeeded: 0, failed: 0 };
  readonly #scale = { up: 0, down: 0 };

  /** @param events - the master's event source; subscribed for the master's whole life */
  constructor(events: EventSource) {
    events.on('spawn', () => void this.#spawns++);
    events.on('worker_timeout', () => void this.#timeouts++);
    events.on('worker_exit', (_w, exit) => {
      this.#exits[exit.reason] = (this.#exits[exit.reason] ?? 0) + 1;
      if (!PLANNED.has(exit.reason)) this.#restarts++;
    });
    events.on('reload', () => void this.#reloads.started++);
    events.on('reloaded', () => void this.#reloads.succeeded++);
    events.on('reload_failed', () => void this.#reloads.failed++);
    events.on('nworkers_changed', (next, previous, reason) => {
      if (reason === 'saturation' || reason === 'backlog' || reason === 'idle') this.#scale[next > previous ? 'up' : 'down']++;
    });
  }

  /** A copy of the counters now. */
  counts(): TallyCounts {
    return {
      spawns: this.#spawns,
      exits: { ...this.#exits },
      timeouts: this.#timeouts,
      restarts: this.#restarts,
      reloads: { ...this.#reloads },
      scaleEvents: { ...this.#scale },
    };
  }
}
