import { isMainThread } from 'node:worker_threads';
import type { BalanceSeat } from '../models/base.js';
import { ENV, WATCHDOG_STDIO_INDEX } from '../protocol.js';
import { loopFields, startWatchdog, type Watchdog } from './watchdog.js';
import { startLoopSampler } from './loop-sampler.js';

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
  /** Seats in the master's balance table, one per serving loop (none without a table). */
  readonly balance: readonly BalanceSeat[];
  /** Started as a warm spare: boot, then wait for the master's `serve` before accepting. */
  readonly spare: boolean;
  /** The master binds on demand (an app module run without `bind`): no fds are inherited; the worker asks for its sockets. */
  readonly bindOnDemand: boolean;
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
 * environment so that the app's own child processes are not mistaken for workers. The `umask`
 * option is applied here, and a SIGUSR1 listener replaces Node's default action (start the
 * inspector on 127.0.0.1:9229, reachable by any local user) from the first moment — as do
 * listeners for the signals the master answers (HUP, USR2, TTIN, TTOU, WINCH).
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
  const balance = balanceSeats(env[ENV.balance]);
  const spare = env[ENV.spare] === '1';
  const bindOnDemand = env[ENV.bindOnDemand] === '1';
  const maxMemory = number(ENV.maxMemory) || 0;
  const umask = env[ENV.umask];
  if (env[ENV.compileCache] === '1') delete env.NODE_COMPILE_CACHE; // read by Node at start; the app's children get their own
  for (const key of Object.values(ENV)) delete env[key];

  // A USR1 sent to a worker must never open a debugger port, and signals meant for the master
  // (`pkill -HUP -f server.js` reaches the workers too) must neither kill it (HUP, USR2) nor stop
  // it (TTIN, TTOU) while it loads (runtime.ts adds its own handlers later).
  for (const sig of ['SIGUSR1', 'SIGHUP', 'SIGUSR2', 'SIGTTIN', 'SIGTTOU', 'SIGWINCH'] as const) process.on(sig, () => {});
  if (umask !== undefined) process.umask(Number.parseInt(umask, 8));
  const watchdog = startWatchdog({ fd, timeout, bootTimeout, masterPid, slots, maxMemory });
  startLoopSampler(loopFields(watchdog.buffer), 0); // ELU, loop delay, heap of the main thread
  const bootBeat = watchdog.interval > 0 ? setInterval(watchdog.main.notify, watchdog.interval) : undefined;
  bootBeat?.unref();
  holder[KEY] = {
    age,
    slot,
    generation,
    fdGroups,
    masterPid,
    timeout,
    balance,
    spare,
    bindOnDemand,
    watchdog,
    stopBootBeat: () => {
      if (bootBeat) clearInterval(bootBeat);
    },
  };
}

/** Parses `fd:seat,seat…` (ENV.balance). */
function balanceSeats(value: string | undefined): BalanceSeat[] {
  const m = /^(\d+):([\d,]+)$/.exec(value ?? '');
  if (!m) return [];
  const fd = Number(m[1]);
  return m[2]!.split(',').map((index) => ({ fd, index: Number(index) }));
}

install();
