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
