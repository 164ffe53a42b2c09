import type { ExitReason, WorkerInfo, WorkerState } from '../events.js';
import { trace } from '../trace.js';
import type { WorkerHandle } from './worker-handle.js';

/** One row of the master's worker table: a worker process and what the master knows of it. */
export interface WorkerRecord {
  readonly pid: number;
  readonly age: number;
  /** −1 for a spare until it takes a slot over. */
  slot: number;
  /** Started as a warm spare and not promoted yet (see spares.ts). */
  spare: boolean;
  /** When a spare took its slot over (`Date.now()`): restart backoff counts from there. */
  promotedAt?: number;
  readonly generation: number;
  readonly bootedAt: number;
  state: WorkerState;
  readonly handle: WorkerHandle;
  /** Why the master is stopping it (unset: the worker went away on its own). */
  reason?: ExitReason;
  /** Monotonic deadline after which it gets SIGKILL. */
  killAt?: number;
  /** The master itself sent SIGKILL (so a SIGKILL exit is not "out of memory"). */
  killSent: boolean;
  /** The worker reached `run()` (the entry script must call it in every process). */
  ran?: boolean;
  /** Monotonic deadline for reporting ready (`bootTimeout`). */
  readyBy?: number;
  /** The worker closed its listeners for good (draining). */
  acceptStopped?: boolean;
  /** Over `maxWorkerMemory`: being replaced, then retired (see `planWorkers`). */
  recycle?: boolean;
  /** Why it failed before it was ready, as it said (`boot_failed`): the error's first line and where it is. */
  failure?: string;
}

/** The states a worker may move to from each state; any other move is ignored (and traced). */
export const LEGAL: Readonly<Record<WorkerState, readonly WorkerState[]>> = {
  booting: ['ready', 'spare', 'retiring', 'timed_out', 'exited'],
  spare: ['booting', 'retiring', 'timed_out', 'exited'],
  ready: ['retiring', 'timed_out', 'exited'],
  retiring: ['timed_out', 'exited'],
  timed_out: ['exited'],
  exited: [],
};

/** The one writer of `WorkerRecord.state`: false (and no change) for a move {@link LEGAL} does not allow. */
export function transition(w: WorkerRecord, next: WorkerState): boolean {
  if (!LEGAL[w.state].includes(next)) {
    trace.master('worker %d: ignoring %s -> %s', w.pid, w.state, next);
    return false;
  }
  trace.master('worker %d: %s -> %s', w.pid, w.state, next);
  w.state = next;
  return true;
}

/** The frozen public view of a worker (what events and `workers()` carry). */
export function snapshot(w: WorkerInfo): WorkerInfo {
  return Object.freeze({ pid: w.pid, age: w.age, slot: w.slot, generation: w.generation, bootedAt: w.bootedAt, state: w.state });
}

/** A worker that is or will be serving: booting or ready (not a spare, not on its way out). */
export function isLive(w: WorkerRecord): boolean {
  return w.state === 'booting' || w.state === 'ready';
}
