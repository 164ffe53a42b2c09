import { performance } from 'node:perf_hooks';
import type { ReloadFailure, WorkerExit } from '../events.js';
import type { OperatorLog } from '../log.js';
import type { AppBinds } from './app-binds.js';
import { deathLine, type RestartBackoff } from './backoff.js';
import type { Emit } from './bus.js';
import { bootExit, classifyExit } from './exit-reason.js';
import { BUDGET_EXHAUSTED, UNPLANNED, type RestartBudget } from './restarts.js';
import { snapshot, transition, type WorkerRecord } from './worker-record.js';

/** What reaping a worker needs from the supervisor. */
export interface ExitHost {
  readonly log: OperatorLog;
  readonly emit: Emit;
  readonly workers: Map<number, WorkerRecord>;
  readonly appBinds: AppBinds;
  readonly backoff: RestartBackoff;
  readonly budget: RestartBudget;
  /** The master runs (not starting, not stopping). */
  running(): boolean;
  /** A reload's new generation rolls back on this failure (see reload.ts); false: nothing to fall back to. */
  reloadFailed(w: WorkerRecord, reason: ReloadFailure['reason']): boolean;
  stop(graceful: boolean, code: number, reason: string): void;
  wakeup(): void;
}

/**
 * A worker was reaped: it leaves the table; its exit is classified and logged (see
 * exit-reason.ts), counted toward restart backoff and the restart budget when unplanned, and
 * emitted; a worker that failed before it was ready rolls a reload back or halts the master, as
 * does an exhausted restart budget. Wakes the loop (which respawns).
 */
export function onWorkerExit(host: ExitHost, w: WorkerRecord, code: number | null, signal: NodeJS.Signals | null): void {
  const { log, emit } = host;
  // A promoted spare is 'booting' until it accepts, but it has loaded the app and run(): its
  // death is a crash (it may have been exiting already when it was given the slot), not a boot failure.
  const wasBooting = w.state === 'booting' && w.promotedAt === undefined;
  transition(w, 'exited');
  host.workers.delete(w.pid);
  host.appBinds.release(w.pid);
  const { reason, lines } = classifyExit({ pid: w.pid, code, signal, asked: w.reason, wasBooting, killSent: w.killSent });
  for (const { message, fields } of lines) log.error(message, fields);

  if (reason === 'crash' || reason === 'exit') noteUnplannedDeath(host, w);
  const budget = UNPLANNED.has(reason) && host.running() ? host.budget.note(performance.now()) : undefined;

  const info = snapshot(w);
  const exit: WorkerExit = Object.freeze({ code, signal, reason });
  emit('child_exit', info, exit);
  emit('worker_exit', info, exit);

  if (host.running() && wasBooting && !w.reason) {
    const { rollback, halt } = bootExit(reason, w.failure);
    // a rollback: the previous generation keeps serving
    if (!(rollback && host.reloadFailed(w, rollback)) && halt) host.stop(true, halt.code, halt.why);
  }
  if (budget?.exhausted && host.running()) {
    const why = host.budget.describe(budget.count);
    log.error(why);
    host.stop(true, BUDGET_EXHAUSTED, why);
  }
  host.wakeup();
}

/** Restart backoff (see backoff.ts) for a worker that went away on its own. */
function noteUnplannedDeath(host: ExitHost, w: WorkerRecord): void {
  const lived = Date.now() - (w.promotedAt ?? w.bootedAt);
  const { level, message } = deathLine(host.backoff.noteDeath(w.slot, lived, performance.now()), w.slot, lived);
  if (level === 'warning') host.log.warning(message, { worker: w.pid, slot: w.slot });
  else host.log.debug(message);
}
