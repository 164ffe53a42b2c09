import type { WorkerRecord } from './worker-record.js';
import { transition } from './worker-record.js';

/** Where the master is in its life. */
export type Phase = 'new' | 'starting' | 'running' | 'stopping' | 'halted';

/**
 * What a stop request (TERM, INT/QUIT, `stop()`, a fatal error) does, by the phase it arrives in:
 * `halt` at once (nothing was started), `none` (halted already), `begin` a stop, or `escalate` one
 * under way (a quick stop after a graceful one signals the workers again; the first stop's exit
 * status and reason stand).
 */
export function stopStep(phase: Phase): 'halt' | 'none' | 'begin' | 'escalate' {
  if (phase === 'new') return 'halt';
  if (phase === 'halted') return 'none';
  return phase === 'stopping' ? 'escalate' : 'begin';
}

/** The part of a worker's row a stop reads. */
export type StoppingWorker = Pick<WorkerRecord, 'state' | 'killAt'>;

/**
 * What a stop does to one worker: the signal to send (TERM to drain, QUIT for a quick stop), its
 * kill deadline — `gracefulTimeout` from now, except that an escalation keeps an earlier
 * deadline — and `grace`, the ms until then (whole ms: the worker logs it). `undefined`: nothing
 * (it is gone or being killed, or a second graceful stop).
 */
export function stopWorker(
  w: StoppingWorker,
  graceful: boolean,
  escalate: boolean,
  now: number,
  gracefulTimeout: number,
): { signal: 'SIGTERM' | 'SIGQUIT'; killAt: number; grace: number } | undefined {
  if (w.state === 'exited' || w.state === 'timed_out') return undefined;
  if (escalate && graceful) return undefined;
  const signal = graceful ? 'SIGTERM' : 'SIGQUIT';
  if (w.killAt === undefined || !escalate) return { signal, killAt: now + gracefulTimeout, grace: gracefulTimeout };
  return { signal, killAt: w.killAt, grace: Math.max(0, Math.floor(w.killAt - now)) };
}

/** Applies {@link stopWorker} to every worker: each retires (reason `shutdown` unless it had one) and gets its signal. */
export function stopWorkers(workers: Iterable<WorkerRecord>, graceful: boolean, escalate: boolean, now: number, gracefulTimeout: number): void {
  for (const w of workers) {
    const step = stopWorker(w, graceful, escalate, now, gracefulTimeout);
    if (!step) continue;
    w.reason ??= 'shutdown';
    if (w.state !== 'retiring') transition(w, 'retiring');
    w.handle.send({ cmd: 'grace', ms: step.grace }); // its hooks are cut off by then (see manage.ts retire)
    w.handle.kill(step.signal);
    w.killAt = step.killAt;
  }
}
