import { isMainThread } from 'node:worker_threads';
import { ENV, WATCHDOG_STDIO_INDEX } from '../protocol.js';
import { startWatchdog, type Watchdog } from './watchdog.js';

/** What a worker process learns from its environment, read once when the package is loaded. */
export interface WorkerProcessContext {
  readonly age: number;
  readonly slot: number;
  readonly generation: number;
  /** Listener fds, one group per serving loop: `[[5, 6]]`, or `[[5, 6], [7, 8]]` for two threads. */
  readonly fdGroups: readonly (readonly number[])[];
  readonly masterPid: number;
  /** The master's `timeout` when it spawned this worker (ms). */
  readonly timeout: number;
  /** Started as soon as the package was loaded. */
  readonly watchdog: Watchdog;
  /** Stops the start-up heartbeat (once the worker model beats by itself). */
  stopBootBeat(): void;
}

/** One per process, even if both the ESM and the CJS build of the package are loaded. */
const KEY = Symbol.for('arbiter.workerProcess');
type Holder = { [KEY]?: WorkerProcessContext | null };

/** This process's worker context, or `undefined` when it is not a worker spawned by a master. */
export function workerProcess(): WorkerProcessContext | undefined {
  return (globalThis as Holder)[KEY] ?? undefined;
}

/**
 * The orphan guard, installed when the package is loaded — before the entry script's own code
 * runs, and whether or not it ever calls `run()`: in a process a master spawned as a worker, the
 * watchdog thread starts at once. It kills the process when the master's end of the watchdog
 * channel closes (the master died, however) or the parent pid changes — even while the main
 * thread spins or never reaches `run()`. A start-up heartbeat keeps beating while the event loop
 * turns (a top-level spin is reported as a stall). The `ARBITER_*` variables are removed from the
 * environment so that the app's own child processes are not mistaken for workers.
 * (No `disconnect` listener here: it would keep an entry script that never calls `run()` alive.)
 */
function install(): void {
  const holder = globalThis as Holder;
  if (KEY in holder) return;
  holder[KEY] = null;
  const env = process.env;
  if (!isMainThread || typeof process.send !== 'function') return;
  if (env[ENV.probe] === '1') {
    process.once('disconnect', () => process.exit(1)); // a config probe whose master died
    process.channel?.unref(); // ...but the listener must not keep a probe alive by itself
    return;
  }
  if (env[ENV.age] === undefined) return;
  const number = (name: string): number => Number(env[name]);
  const fdGroups = (env[ENV.fds] ?? '').split(';').map((g) => g.split(',').filter(Boolean).map(Number));
  const timeout = number(ENV.timeout) || 0;
  const bootTimeout = number(ENV.bootTimeout) || 0;
  const masterPid = number(ENV.master);
  const slots = Math.max(1, number(ENV.slots) || 1);
  const fd = env[ENV.watchdog] !== undefined ? number(ENV.watchdog) : WATCHDOG_STDIO_INDEX;
  const age = number(ENV.age);
  const slot = number(ENV.slot);
  const generation = number(ENV.generation);
  for (const key of Object.values(ENV)) delete env[key];

  const watchdog = startWatchdog({ fd, timeout, bootTimeout, masterPid, slots });
  const bootBeat = watchdog.interval > 0 ? setInterval(watchdog.main.notify, watchdog.interval) : undefined;
  bootBeat?.unref();
  holder[KEY] = {
    age,
    slot,
    generation,
    fdGroups,
    masterPid,
    timeout,
    watchdog,
    stopBootBeat: () => {
      if (bootBeat) clearInterval(bootBeat);
    },
  };
}

install();
