import type { OperatorLog } from '../log.js';
import { transition, type WorkerRecord } from './worker-record.js';

/**
 * `maxWorkerMemory`: what the master does when a worker's watchdog reports its RSS. The watchdog
 * checks every heartbeat period and reports at `limit`, then at every further half of it
 * (× 1.5, × 2, …), so a growing worker sends a handful of reports, not a stream.
 *
 * - first report: recycle gracefully — a replacement starts at once, and the worker drains once
 *   the pool is complete without it (`planWorkers`, `recycle`), so no request fails;
 * - a later report at 1.5× the limit or more (it kept growing while waiting or draining): kill it,
 *   before the kernel's OOM killer picks a victim of its own.
 */
export type MemoryAction = 'recycle' | 'kill' | 'none';

/** Decides what a `memory` report means for a worker already (or not yet) being recycled. */
export function memoryAction(rss: number, limit: number, recycling: boolean): MemoryAction {
  if (limit <= 0) return 'none';
  if (!recycling) return 'recycle';
  return rss >= limit * 1.5 ? 'kill' : 'none';
}

/** `530.2 MiB`, for log lines. */
export function mebibytes(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}

/** The operator log line for an action on worker `pid`. */
export function memoryMessage(action: Exclude<MemoryAction, 'none'>, pid: number, rss: number, limit: number): string {
  return action === 'recycle'
    ? `Worker (pid:${pid}) uses ${mebibytes(rss)} of memory, over maxWorkerMemory (${mebibytes(limit)}): recycling it gracefully`
    : `Worker (pid:${pid}) kept growing to ${mebibytes(rss)} (1.5 × maxWorkerMemory is ${mebibytes(limit * 1.5)}) while being recycled: killing it`;
}

/**
 * Acts on worker `w`'s `memory` report (see {@link memoryAction}): marks it to be recycled, or
 * kills it. False when nothing changed.
 */
export function onMemoryReport(w: WorkerRecord, rss: number, limit: number, log: OperatorLog): boolean {
  const action = memoryAction(rss, limit, w.recycle === true || w.state === 'retiring');
  if (action === 'none' || w.state === 'timed_out' || w.state === 'exited') return false;
  if (w.state === 'booting') log.warning(`Worker (pid:${w.pid}) uses ${mebibytes(rss)} before it is ready: is maxWorkerMemory (${mebibytes(limit)}) too low for this app?`);
  if (action === 'recycle') {
    log.warning(memoryMessage(action, w.pid, rss, limit));
    w.recycle = true;
  } else {
    log.error(memoryMessage(action, w.pid, rss, limit));
    if (w.state !== 'retiring') transition(w, 'retiring');
    w.reason ??= 'memory'; // a worker already stopped for a reload or a shutdown keeps that reason
    w.killSent = true;
    w.handle.kill('SIGKILL');
  }
  return true;
}
