import type { WorkerState } from '../events.js';

/** What the spare planner needs to know about a process in the worker table. */
export interface SpareView {
  readonly pid: number;
  readonly age: number;
  readonly generation: number;
  readonly state: WorkerState;
  /** Started as a spare and not promoted yet. */
  readonly spare: boolean;
}

/** What to do about spares now. */
export interface SparePlan {
  /** How many spares to start. */
  spawn: number;
  /** Spares to retire: of an older generation (`reload`), or beyond `spareWorkers` (`scale_down`). */
  retire: { pid: number; reason: 'reload' | 'scale_down' }[];
}

const live = (w: SpareView): boolean => w.state === 'booting' || w.state === 'spare';

/**
 * Warm spares (`spareWorkers`) as a pure function of the worker table, like `planWorkers`:
 * - keep `want` spares of the current generation, starting new ones only while no worker of the
 *   current generation is booting (a spare never competes with a worker for the CPU while the
 *   worker boots: it boots *behind* it);
 * - retire spares of older generations (a reload brings fresh code) once no worker of the current
 *   generation is booting: a reload that fails makes the older generation current again, and its
 *   spares (the code that works, already loaded) are still there;
 * - retire a surplus, newest first (the oldest are surely warm).
 */
export function planSpares(table: Iterable<SpareView>, want: number, generation: number): SparePlan {
  const all = [...table];
  const spares = all.filter((w) => w.spare && live(w)).sort((a, b) => a.age - b.age);
  const current = spares.filter((w) => w.generation === generation);
  const workerBooting = all.some((w) => !w.spare && w.generation === generation && w.state === 'booting');
  const plan: SparePlan = { spawn: 0, retire: [] };
  if (!workerBooting) for (const w of spares) if (w.generation !== generation) plan.retire.push({ pid: w.pid, reason: 'reload' });
  for (const w of current.slice(want)) plan.retire.push({ pid: w.pid, reason: 'scale_down' });
  if (!workerBooting) plan.spawn = Math.max(0, want - current.length);
  return plan;
}

/** The warm spare of the current generation that should take a slot over (the oldest), if any. */
export function pickSpare<W extends SpareView>(table: Iterable<W>, generation: number): W | undefined {
  let best: W | undefined;
  for (const w of table) {
    if (w.spare && w.state === 'spare' && w.generation === generation && (!best || w.age < best.age)) best = w;
  }
  return best;
}
