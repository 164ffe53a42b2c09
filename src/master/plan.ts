import type { ExitReason, WorkerState } from '../events.js';

/** What the planner needs to know about a worker. */
export interface PlanWorker {
  readonly pid: number;
  readonly age: number;
  readonly slot: number;
  readonly generation: number;
  readonly state: WorkerState;
  /** Over `maxWorkerMemory`: replaced first, then retired (`memory`) like an old generation. */
  readonly recycle?: boolean;
}

/** What manage_workers should do now. */
export interface WorkerPlan {
  /** Slots to spawn a current-generation worker into, in order. */
  spawn: number[];
  /** Workers to retire gracefully, oldest first, with the reason. */
  retire: { pid: number; reason: Extract<ExitReason, 'scale_down' | 'reload' | 'memory'> }[];
}

/**
 * gunicorn's manage_workers as a pure function, generation-aware:
 * - spawn current-generation workers up to `target`, into the lowest free slots;
 * - retire the oldest current-generation surplus (`scale_down`);
 * - retire old-generation workers only once the whole current generation is ready, so a reload
 *   never leaves fewer than `target` serving workers, and a new generation that fails to boot
 *   leaves the old one complete (`reload`);
 * - a worker marked `recycle` does not count toward the target (a replacement is spawned into its
 *   slot) and retires (`memory`) under the same condition as an old generation.
 * Workers already retiring, timed out or exited are not counted: they are on their way out.
 *
 * `spawnLimit` caps the slots listed in `spawn` (the caller can only start so many now): the
 * plan costs what the worker table holds, never what the target asks for.
 */
export function planWorkers(workers: Iterable<PlanWorker>, target: number, generation: number, spawnLimit = Infinity): WorkerPlan {
  const live = [...workers].filter((w) => w.state === 'booting' || w.state === 'ready').sort((a, b) => a.age - b.age);
  const current = live.filter((w) => w.generation === generation && !w.recycle);
  const recycling = live.filter((w) => w.generation === generation && w.recycle);
  const old = live.filter((w) => w.generation !== generation);
  const plan: WorkerPlan = { spawn: [], retire: [] };

  const taken = new Set(current.map((w) => w.slot));
  for (let n = current.length, slot = 0; n < target && plan.spawn.length < spawnLimit; n++) {
    while (taken.has(slot)) slot++;
    taken.add(slot);
    plan.spawn.push(slot);
  }
  const surplus = Math.max(0, current.length - target);
  for (const w of current.slice(0, surplus)) plan.retire.push({ pid: w.pid, reason: 'scale_down' });

  const readyNew = current.slice(surplus).filter((w) => w.state === 'ready').length;
  if (readyNew >= target) {
    for (const w of old) plan.retire.push({ pid: w.pid, reason: 'reload' });
    for (const w of recycling) plan.retire.push({ pid: w.pid, reason: 'memory' });
  }
  return plan;
}
