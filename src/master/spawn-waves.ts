import { cpuBudget } from '../cpus.js';
import { isLive, type WorkerRecord } from './worker-record.js';

/**
 * At most this many processes start at once (spawned, not yet at `run()`: starting `node` and
 * loading modules, which is CPU work). With 64 or 256 workers on a few cores, starting them all
 * at once would make every one of them take the whole boot to get ready (and risk the deadline
 * for reaching `run()`); in waves, the first are ready after one boot. `load()` is not limited:
 * it may wait on I/O. CPUs as `workers: 'auto'` counts them (a cgroup quota included).
 */
export const MAX_STARTING = Math.max(2, 2 * cpuBudget().count);

/** How many more processes may start now (negative: over the limit already). */
export function startingRoom(workers: Iterable<WorkerRecord>, max = MAX_STARTING): number {
  let starting = 0;
  for (const w of workers) if (w.state === 'booting' && !w.ran) starting++;
  return max - starting;
}

/**
 * Slots the loop may go through in one turn (what `planWorkers` gets as `limit`): one per process
 * it may start, one per warm spare (which takes a slot over without starting anything), one per
 * slot waiting in restart backoff (skipped, so the next slot still gets its turn).
 */
export function usableSlots(workers: Iterable<WorkerRecord>, room: number, backingOff: number): number {
  let usable = Math.max(0, room) + backingOff;
  for (const w of workers) if (w.spare && w.state === 'spare') usable++;
  return usable;
}

/** After a failed reload spawning is paused; with no worker left at all (not even a spare) it must resume. */
export function nothingLeft(workers: Iterable<WorkerRecord>): boolean {
  for (const w of workers) if (isLive(w) || w.state === 'spare') return false;
  return true;
}

/** The debug line of a spawn wave: how many started and, if the target is not reached, how many wait for the next wave. */
export function waveMessage(spawned: number, generation: number, missing: number, max = MAX_STARTING): string {
  return `Spawn wave: ${spawned} worker${spawned === 1 ? '' : 's'} of generation ${generation} started${missing > 0 ? `, ${missing} more once these reach run() (at most ${max} start at once)` : ''}`;
}
