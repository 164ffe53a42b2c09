import type { ExitReason } from '../events.js';

/**
 * Exit reasons that are unplanned deaths: nobody asked the worker to go. They count toward the
 * restart budget. Recycling (`max_requests`, `memory`), reloads, scale-downs and shutdowns are
 * planned; boot and load errors halt the master on their own (statuses 3 and 4).
 */
export const UNPLANNED: ReadonlySet<ExitReason> = new Set<ExitReason>(['crash', 'exit', 'timeout']);

/** Exit status of a master whose restart budget was exhausted. */
export const BUDGET_EXHAUSTED = 5;

/** What {@link RestartBudget.note} concluded. */
export interface BudgetVerdict {
  /** Unplanned deaths within the window, this one included. */
  count: number;
  /** More than `maxRestarts`: the master must halt with status 5. */
  exhausted: boolean;
}

/**
 * The restart budget (Erlang/OTP supervisor intensity): at most `maxRestarts` unplanned worker
 * deaths within any `restartWindow` ms; one more exhausts it. A sliding window: deaths older
 * than the window are forgotten. `maxRestarts` 0 disables it (the backoff alone paces restarts).
 */
export class RestartBudget {
  readonly #max: number;
  readonly #window: number;
  /** Monotonic times of the deaths within the window, oldest first. */
  readonly #deaths: number[] = [];

  /** @param maxRestarts - deaths allowed per window (0: no budget); @param restartWindow - ms */
  constructor(maxRestarts: number, restartWindow: number) {
    this.#max = maxRestarts;
    this.#window = restartWindow;
  }

  /** Records one unplanned death at monotonic time `now` (ms). */
  note(now: number): BudgetVerdict {
    if (this.#max === 0) return { count: 0, exhausted: false };
    this.#deaths.push(now);
    while (this.#deaths.length > 0 && this.#deaths[0]! <= now - this.#window) this.#deaths.shift();
    return { count: this.#deaths.length, exhausted: this.#deaths.length > this.#max };
  }

  /** The log line of an exhausted budget, naming the budget and the count. */
  describe(count: number): string {
    return `Restart budget exhausted: ${count} unplanned worker deaths within ${this.#window} ms (maxRestarts: ${this.#max}, restartWindow: ${this.#window} ms)`;
  }
}
