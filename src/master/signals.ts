import { MAX_WORKERS } from '../config.js';
import type { OperatorLog } from '../log.js';

/** What a signal can ask of the master: the public actions of the loop (`Supervisor`). */
export interface SignalTarget {
  readonly log: OperatorLog;
  /** Target number of workers of the current generation. */
  readonly target: number;
  reload(): void;
  stop(graceful: boolean): unknown;
  scale(n: number): void;
  reopenLogs(): void;
  reexec(): void;
  retireAll(): void;
  wakeup(): void;
}

/** HUP: reload the config and the code, with a new generation of workers (rolls back if it fails). */
function handleHup(s: SignalTarget): void {
  s.reload();
}

/** TERM: graceful stop (workers drain). */
function handleTerm(s: SignalTarget): void {
  void s.stop(true);
}

/** INT: quick stop. */
function handleInt(s: SignalTarget): void {
  void s.stop(false);
}

/** QUIT: quick stop. */
function handleQuit(s: SignalTarget): void {
  void s.stop(false);
}

/** TTIN: one more worker, up to the limit. */
function handleTtin(s: SignalTarget): void {
  if (s.target < MAX_WORKERS) s.scale(s.target + 1);
  else s.log.warning(`TTIN ignored: already at ${MAX_WORKERS} workers, the limit`);
}

/** TTOU: one worker less, never below one. */
function handleTtou(s: SignalTarget): void {
  if (s.target > 1) s.scale(s.target - 1);
}

/** USR1: reopen the log files (the master's and the workers'). */
function handleUsr1(s: SignalTarget): void {
  s.reopenLogs();
}

/** USR2: start a new master on the same sockets (see handover.ts). */
function handleUsr2(s: SignalTarget): void {
  s.reexec();
}

/** WINCH: retire every worker, keeping the master — unless it runs in a terminal, which sends WINCH on a resize. */
function handleWinch(s: SignalTarget): void {
  if (process.stdin.isTTY) s.log.info('SIGWINCH ignored: the master runs in a terminal (resizing it sends WINCH).');
  else s.retireAll();
}

/** CHLD: only wakes the loop; reaping itself is driven by each child's exit event. */
function handleChld(s: SignalTarget): void {
  s.wakeup();
}

/** Signals the master handles; each maps to one action (gunicorn's `handle_<signal>`). */
export const SIGNAL_ACTIONS = {
  SIGHUP: handleHup,
  SIGTERM: handleTerm,
  SIGINT: handleInt,
  SIGQUIT: handleQuit,
  SIGTTIN: handleTtin,
  SIGTTOU: handleTtou,
  SIGUSR1: handleUsr1,
  SIGUSR2: handleUsr2,
  SIGWINCH: handleWinch,
  SIGCHLD: handleChld,
} as const satisfies Partial<Record<NodeJS.Signals, (s: SignalTarget) => void>>;

/** A signal the master handles. */
export type HandledSignal = keyof typeof SIGNAL_ACTIONS;

/**
 * The signal queue: a raw signal callback only queues the signal and wakes the loop; the loop
 * handles the queue on its next turn ({@link SignalQueue.handle}), never inside the callback.
 */
export class SignalQueue {
  readonly #queue: HandledSignal[] = [];
  readonly #handlers = new Map<HandledSignal, () => void>();

  /** Installs a handler for every signal in {@link SIGNAL_ACTIONS}; `wakeup` schedules the loop. */
  install(wakeup: () => void): void {
    for (const sig of Object.keys(SIGNAL_ACTIONS) as HandledSignal[]) {
      const handler = (): void => {
        this.#queue.push(sig); // queued: handled on the loop, never inside the raw callback
        wakeup();
      };
      this.#handlers.set(sig, handler);
      process.on(sig, handler);
    }
  }

  /** Handles the queued signals in order (gunicorn logs `Handling signal: hup`); one that throws is logged, the rest still run. */
  handle(s: SignalTarget): void {
    while (this.#queue.length > 0) {
      const sig = this.#queue.shift()!;
      if (sig !== 'SIGCHLD') s.log.info(`Handling signal: ${sig.slice(3).toLowerCase()}`, { signal: sig });
      try {
        SIGNAL_ACTIONS[sig](s);
      } catch (err) {
        s.log.exception(`Error handling signal ${sig}`, err, { signal: sig });
      }
    }
  }

  /** Removes the handlers (the master halted). */
  uninstall(): void {
    for (const [sig, handler] of this.#handlers) process.off(sig, handler);
    this.#handlers.clear();
  }
}
