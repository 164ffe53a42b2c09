import { performance } from 'node:perf_hooks';
import type { ResolvedConfig } from '../config.js';
import type { ExitReason } from '../events.js';
import type { OperatorLog } from '../log.js';
import type { Emit } from './bus.js';
import type { RestartBackoff } from './backoff.js';
import type { Generations } from './generations.js';
import { planWorkers } from './plan.js';
import { pickSpare, planSpares } from './spares.js';
import { nothingLeft, startingRoom, usableSlots, waveMessage } from './spawn-waves.js';
import { isLive, transition, type WorkerRecord } from './worker-record.js';

/** What managing the workers needs from the supervisor. */
export interface ManageHost {
  readonly log: OperatorLog;
  readonly emit: Emit;
  readonly generations: Generations;
  readonly backoff: RestartBackoff;
  readonly workers: ReadonlyMap<number, WorkerRecord>;
  /** Target number of workers of the current generation. */
  target(): number;
  /** The current generation's config. */
  config(): ResolvedConfig;
  /** Starts a worker in `slot` (−1 and `spare`: a warm spare); `undefined` when it could not (the master halts). */
  spawn(slot: number, spare?: boolean): WorkerRecord | undefined;
  retire(w: WorkerRecord, reason: ExitReason): void;
}

/**
 * One turn's worth of gunicorn's manage_workers: applies {@link planWorkers} — spawn up to the
 * target in waves (a warm spare takes a slot over first; a crash-looping slot waits; nothing is
 * spawned after a failed reload while a worker is left), retire the oldest surplus — then
 * {@link planSpares}.
 */
export function manageWorkers(host: ManageHost): void {
  const { log, generations: gen, backoff, workers } = host;
  const now = performance.now();
  let room = startingRoom(workers.values());
  const usable = usableSlots(workers.values(), room, backoff.waitingCount(now));
  const target = host.target();
  const plan = planWorkers([...workers.values()].filter((w) => !w.spare), target, gen.current, usable);
  // After a failed reload the code on disk is the broken one: spawn nothing (a warm spare, which
  // runs the code that works, may still take a slot over) until the next reload.
  let canSpawn = true;
  if (gen.spawnPaused && plan.spawn.length > 0) {
    if (!nothingLeft(workers.values())) canSpawn = false;
    else {
      log.warning('No worker left after the failed reload: spawning with the current code.');
      gen.resumeSpawning();
    }
  }
  let spawned = 0;
  for (const slot of plan.spawn) {
    if (backoff.waiting(slot, now)) continue; // crash-looping slot: wait
    const spare = pickSpare(workers.values(), gen.current);
    if (spare) promote(spare, slot, host.config().bootTimeout, log);
    else if (!canSpawn || room-- <= 0) break; // the next wave starts when one of these reaches run()
    else if (!host.spawn(slot)) return;
    else spawned++;
  }
  if (spawned > 0) {
    const missing = target - [...workers.values()].filter((w) => !w.spare && w.generation === gen.current && isLive(w)).length;
    log.debug(waveMessage(spawned, gen.current, missing));
  }
  for (const { pid, reason } of plan.retire) {
    const w = workers.get(pid);
    if (w) host.retire(w, reason);
  }
  const spares = planSpares(workers.values(), host.config().spareWorkers, gen.current);
  for (const { pid, reason } of spares.retire) host.retire(workers.get(pid)!, reason);
  const spareBackoff = backoff.waiting(-1, now);
  for (let i = 0; i < spares.spawn && !gen.spawnPaused && !spareBackoff && room-- > 0; i++) if (!host.spawn(-1, true)) return; // spares start in waves too
}

/** A warm spare takes `slot` over: it only has to start accepting (it reports ready as a worker does). */
export function promote(w: WorkerRecord, slot: number, bootTimeout: number, log: OperatorLog): void {
  if (!transition(w, 'booting')) return;
  w.spare = false;
  w.slot = slot;
  w.promotedAt = Date.now();
  if (bootTimeout > 0) w.readyBy = performance.now() + bootTimeout;
  log.info(`Spare worker (pid:${w.pid}) takes over slot ${slot}`);
  w.handle.send({ cmd: 'serve', slot });
}

/** `generation_ready` once per generation, when the target count of its workers is ready. */
export function announceGeneration(host: ManageHost): void {
  const { generations: gen, log } = host;
  const ready = gen.whole(host.workers.values(), host.target());
  if (ready === undefined) return;
  const generation = gen.current;
  log.info(`Generation ${generation} ready (${ready} worker${ready === 1 ? '' : 's'})`, { generation, workers: ready });
  host.emit('generation_ready', Object.freeze({ generation, workers: ready }));
}

/** Retires worker `w` for `reason`: TERM now, SIGKILL once `gracefulTimeout` has passed (see deadlines.ts). */
export function retire(w: WorkerRecord, reason: ExitReason, gracefulTimeout: number, log: OperatorLog): void {
  if (!transition(w, 'retiring')) return;
  log.debug(`Retiring worker (pid:${w.pid}) of generation ${w.generation}, slot ${w.slot}: ${reason}`, { worker: w.pid, reason });
  w.reason = reason;
  w.killAt = performance.now() + gracefulTimeout;
  w.handle.send({ cmd: 'grace', ms: gracefulTimeout }); // its hooks are cut off by then, not by its own (older) config's
  w.handle.kill('SIGTERM');
}
