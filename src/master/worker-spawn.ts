import { performance } from 'node:perf_hooks';
import type { ResolvedConfig } from '../config.js';
import type { WorkerState } from '../events.js';
import type { OperatorLog } from '../log.js';
import { APP_LOAD_ERROR, WORKER_BOOT_ERROR } from '../protocol.js';
import type { BalanceTable } from './balance-table.js';
import type { Emit } from './bus.js';
import type { MasterListener } from './listeners.js';
import type { WorkerIdentity } from './privileges.js';
import { spawnOptions } from './spawn-options.js';
import { onWorkerExit, type ExitHost } from './worker-exit.js';
import { ProcessWorkerHandle } from './worker-handle.js';
import { onWatchdogReport, onWorkerMessage, type MessageHost } from './worker-messages.js';
import { snapshot, type WorkerRecord } from './worker-record.js';

/** What starting a worker needs from the supervisor. */
export interface SpawnHost {
  readonly log: OperatorLog;
  readonly emit: Emit;
  readonly workers: Map<number, WorkerRecord>;
  readonly balance: BalanceTable | undefined;
  readonly bindOnDemand: boolean;
  /** Where the worker's messages and watchdog reports go (worker-messages.ts). */
  readonly messages: MessageHost;
  /** Where its exit goes (worker-exit.ts). */
  readonly exits: ExitHost;
  /** The current generation's config, `bind` listeners, serving threads per worker. */
  config(): ResolvedConfig;
  listeners(): readonly MasterListener[];
  threads(): number;
  identity(): WorkerIdentity;
  /** The current generation. */
  generation(): number;
  /** The next worker's age (spawn order). */
  nextAge(): number;
  stop(graceful: boolean, code: number, reason: string): void;
}

/**
 * Starts a worker in `slot` (−1 with `spare`: a warm spare): `pre_fork`, the process, its row in
 * the table (with its boot deadline), `spawn`. `undefined` when the OS refused to start it: the
 * master halts (status 3).
 */
export function spawnWorker(host: SpawnHost, slot: number, spare = false): WorkerRecord | undefined {
  const { log, emit } = host;
  const config = host.config();
  const age = host.nextAge();
  const base = { pid: 0, age, slot, generation: host.generation(), bootedAt: Date.now(), state: 'booting' as WorkerState };
  emit('pre_fork', snapshot(base));
  let rec: WorkerRecord | undefined;
  try {
    const input = { ...base, spare, config, listeners: host.listeners(), threads: host.threads(), identity: host.identity(), balance: host.balance, bindOnDemand: host.bindOnDemand };
    const handle = new ProcessWorkerHandle(spawnOptions(input), {
      message: (msg) => rec && onWorkerMessage(host.messages, rec, msg),
      watchdog: (report) => rec && onWatchdogReport(host.messages, rec, report),
    });
    rec = { ...base, pid: handle.pid, handle, killSent: false, spare };
  } catch (err) {
    const reason = (err as { reason?: Promise<Error> }).reason;
    if (reason) void reason.then((cause) => log.error(`${(err as Error).message}: ${cause.message}`, { reason: 'boot_error' }));
    else log.exception('Error spawning a worker', err);
    host.stop(true, WORKER_BOOT_ERROR, 'Worker failed to boot.');
    return undefined;
  }
  const w = rec;
  if (config.bootTimeout > 0) w.readyBy = performance.now() + config.bootTimeout;
  host.workers.set(w.pid, w);
  log.info(`Booting ${spare ? 'spare ' : ''}worker with pid: ${w.pid}`, { worker: w.pid, slot: w.slot, generation: w.generation, ...(spare ? { spare: true } : {}) });
  emit('spawn', snapshot(w));
  void w.handle.exited.then(({ code, signal }) => {
    // `boot_failed` was sent before the exit, but may be read in the same turn of the event
    // loop after it: handle the exit once that turn is over, so a failed reload has its reason.
    if ((code === APP_LOAD_ERROR || code === WORKER_BOOT_ERROR) && w.failure === undefined) setImmediate(() => onWorkerExit(host.exits, w, code, signal));
    else onWorkerExit(host.exits, w, code, signal);
  });
  return w;
}
