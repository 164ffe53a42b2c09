/** A worker dying on its own within this many ms of its start counts toward restart backoff. */
export const QUICK_DEATH = 5000;
/** The first delay, at the second quick death in a row in a slot (ms). */
export const RESTART_BACKOFF_MIN = 100;
/** The delay doubles up to this (ms). */
export const RESTART_BACKOFF_MAX = 10_000;

/** What {@link RestartBackoff.noteDeath} decided for a slot. */
export type BackoffDecision =
  /** It lived {@link QUICK_DEATH} ms or more: respawn at once; `reset` when the slot was backing off. */
  | { readonly quick: false; readonly reset: boolean }
  /** A quick death, the `deaths`-th in a row: respawn after `delay` ms (0: at once). */
  | { readonly quick: true; readonly deaths: number; readonly delay: number };

/** The delay after the `deaths`-th quick death in a row: none for the first, then 100 ms doubling up to 10 s. */
export function backoffDelay(deaths: number): number {
  return deaths < 2 ? 0 : Math.min(RESTART_BACKOFF_MAX, RESTART_BACKOFF_MIN * 2 ** (deaths - 2));
}

/**
 * Restart backoff, per slot (−1 for the spares): a worker that dies on its own within
 * {@link QUICK_DEATH} ms of its start is replaced at once the first time; from the second such
 * death in a row in its slot, the respawn waits 100 ms, doubling up to 10 s. A worker that lived
 * longer resets its slot. Times are monotonic ms (`performance.now()`).
 */
export class RestartBackoff {
  readonly #slots = new Map<number, { deaths: number; notBefore: number }>();

  /** Records that the worker in `slot` died on its own after living `lived` ms. */
  noteDeath(slot: number, lived: number, now: number): BackoffDecision {
    const prev = this.#slots.get(slot);
    if (lived >= QUICK_DEATH) {
      this.#slots.delete(slot);
      return { quick: false, reset: prev !== undefined };
    }
    const deaths = (prev?.deaths ?? 0) + 1;
    const delay = backoffDelay(deaths);
    this.#slots.set(slot, { deaths, notBefore: now + delay });
    return { quick: true, deaths, delay };
  }

  /** The slot must not be respawned yet. */
  waiting(slot: number, now: number): boolean {
    return (this.#slots.get(slot)?.notBefore ?? 0) > now;
  }

  /** How many slots are waiting now. */
  waitingCount(now: number): number {
    let n = 0;
    for (const { notBefore } of this.#slots.values()) if (notBefore > now) n++;
    return n;
  }

  /** The earliest time a waiting slot may be respawned (Infinity: none waits). */
  nextDue(now: number): number {
    let next = Infinity;
    for (const { notBefore } of this.#slots.values()) if (notBefore > now) next = Math.min(next, notBefore);
    return next;
  }
}

/** The log line for a death {@link RestartBackoff.noteDeath} decided on: a warning once a respawn waits. */
export function deathLine(d: BackoffDecision, slot: number, lived: number): { level: 'debug' | 'warning'; message: string } {
  if (!d.quick) return { level: 'debug', message: `Slot ${slot}: its worker lived ${lived} ms: respawning at once${d.reset ? ' (restart backoff reset)' : ''}` };
  if (d.delay > 0) return { level: 'warning', message: `Worker in slot ${slot} died ${d.deaths} times in a row within ${QUICK_DEATH} ms of starting: respawning in ${d.delay} ms` };
  return { level: 'debug', message: `Slot ${slot}: its worker died ${lived} ms after starting: respawning at once (a second such death in a row waits ${RESTART_BACKOFF_MIN} ms)` };
}
