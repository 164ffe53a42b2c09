import { performance } from 'node:perf_hooks';
import type { ResolvedConfig } from '../config.js';
import type { OperatorLog } from '../log.js';
import type { WorkerMessage } from '../protocol.js';
import { trace } from '../trace.js';
import type { Emit } from './bus.js';
import type { BootFailures, Deadlines } from './deadlines.js';
import { onMemoryReport } from './memory.js';
import type { WorkerHandleEvents } from './worker-handle.js';
import { snapshot, transition, type WorkerRecord } from './worker-record.js';

/** A report from a worker's watchdog thread (all but the answers to queries). */
export type WatchdogReport = Parameters<WorkerHandleEvents['watchdog']>[0];

/** What a worker's messages and watchdog reports need from the supervisor. */
export interface MessageHost {
  readonly log: OperatorLog;
  readonly emit: Emit;
  readonly bootFailures: BootFailures;
  readonly deadlines: Deadlines;
  /** The current generation's config. */
  config(): ResolvedConfig;
  /** A worker asks for a socket (see listen-requests.ts). */
  listen(w: WorkerRecord, msg: Extract<WorkerMessage, { cmd: 'listen' }>): void;
  /** `reload` (development): files a worker loaded, to watch (see file-watch.ts). */
  watch(files: readonly string[]): void;
  wakeup(): void;
}

/** Updates worker `w`'s row for a message it sent, and wakes the loop (a `listen` request is answered on its own). */
export function onWorkerMessage(host: MessageHost, w: WorkerRecord, msg: WorkerMessage): void {
  switch (msg.cmd) {
    case 'run':
      w.ran = true;
      host.bootFailures.ran();
      break; // no state change, but the next process may start now (MAX_STARTING)
    case 'ready':
      w.readyBy = undefined;
      host.bootFailures.ready();
      if (w.state === 'booting' && transition(w, 'ready')) host.emit('worker_ready', snapshot(w));
      break;
    case 'spare_ready':
      w.readyBy = undefined;
      if (w.spare && w.state === 'booting' && transition(w, 'spare')) host.emit('spare_ready', snapshot(w));
      break;
    case 'retiring':
      if (transition(w, 'retiring')) {
        w.reason = msg.reason;
        w.killAt = performance.now() + host.config().gracefulTimeout;
        w.handle.send({ cmd: 'grace', ms: host.config().gracefulTimeout });
      }
      break;
    case 'accept_stopped':
      w.acceptStopped = true;
      break;
    case 'boot_failed':
      w.failure = msg.error;
      break;
    case 'listen':
      host.listen(w, msg);
      return;
    case 'files':
      host.watch(msg.files);
      return;
  }
  host.wakeup();
}

/** A watchdog report: its thread started, memory over `maxWorkerMemory` (see memory.ts), or a stalled slot (a timeout). */
export function onWatchdogReport(host: MessageHost, w: WorkerRecord, report: WatchdogReport): void {
  const config = host.config();
  if (report.t === 'hello') trace.master('worker %d: watchdog running', w.pid);
  else if (report.t === 'memory') {
    if (onMemoryReport(w, report.rss, config.maxWorkerMemory, host.log)) host.wakeup();
  } else if (config.timeout > 0) {
    trace.master('worker %d: slot %d stalled for %d ms; stack taken in %d ms', w.pid, report.slot, report.ms, report.captureMs ?? -1);
    host.deadlines.timedOut(w, w.ran ? 'heartbeat' : 'boot', report);
  }
}
