import net from 'node:net';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import type { ResolvedConfig } from '../config.js';
import { ArbiterError } from '../errors.js';
import { OperatorLog } from '../log.js';
import { trace } from '../trace.js';
import { APP_LOAD_ERROR, WORKER_BOOT_ERROR } from '../protocol.js';
import { AsyncWorker } from '../models/async.js';
import { AcceptBalancer, type BalanceSeat } from './accept-balance.js';
import { answerThreadAppMetrics } from './app-metrics.js';
import { listenAll } from './listen.js';
import { loopFields, loopVitals } from './watchdog.js';
import { startLoopSampler } from './loop-sampler.js';

/** Marks the `workerData` of a serving thread of a `threaded` worker. */
export const THREAD_MARK = '__arbiterThread__';

/** What a serving thread is started with. */
export interface ThreadData {
  [THREAD_MARK]: true;
  /** Heartbeat slot of this thread (1..threads; 0 is the process's main thread). */
  index: number;
  /** This thread's own copies of the listener fds. */
  fds: number[];
  beats: SharedArrayBuffer;
  /** The in-flight request table (this thread writes its own region). */
  requests?: SharedArrayBuffer;
  /** This thread's seat in the balance table (the process's fds are the thread's too). */
  balance: BalanceSeat | undefined;
  heartbeatInterval: number;
  maxRequests: number;
  age: number;
  slot: number;
}

/** Messages from a serving thread to its process's main thread. */
export type ThreadMessage = { type: 'ready' } | { type: 'retire' } | { type: 'accept_stopped' };

/** True inside a serving thread of a `threaded` worker. */
export function isArbiterThread(): boolean {
  return !isMainThread && (workerData as Partial<ThreadData> | null)?.[THREAD_MARK] === true;
}

/**
 * A serving thread: the entry script was evaluated again in this thread (like a worker process),
 * and `run()` lands here. It loads the app, accepts on its own fd copies and serves with the
 * `async` model on its own event loop, beating its own heartbeat slot. Exit codes tell the
 * process's main thread what happened: 4 load error, 3 boot error, 0 drained.
 */
export async function runThread(app: { load(): unknown }, config: ResolvedConfig): Promise<never> {
  const data = workerData as ThreadData;
  const port = parentPort!;
  const vitals = loopVitals(data.beats, data.index, data.requests);
  startLoopSampler(loopFields(data.beats), data.index); // this thread's ELU, loop delay, heap
  const notify = vitals.notify;
  notify();
  const bootBeat = data.heartbeatInterval > 0 ? setInterval(notify, data.heartbeatInterval) : undefined;
  const log = OperatorLog.from(config);
  const controller = new AbortController();
  answerThreadAppMetrics(); // /metrics scrapes, through the process's main thread
  let worker: AsyncWorker | undefined; // set once the app is loaded
  port.on('message', (msg: unknown) => {
    if (msg === 'drain') controller.abort();
    else if (msg === 'reopen_logs') worker?.reopenLogs();
  });

  let handler: unknown;
  try {
    handler = await app.load();
  } catch (err) {
    log.exception(`Exception in worker thread ${data.index}: the app failed to load`, err);
    return process.exit(APP_LOAD_ERROR);
  }
  const listeners = data.fds.map(() => net.createServer());
  worker = new AsyncWorker({
    listeners,
    handler: handler as never,
    config,
    log,
    age: data.age,
    slot: data.slot,
    signal: controller.signal,
    notify,
    counters: vitals,
    heartbeatInterval: data.heartbeatInterval,
    maxRequests: data.maxRequests,
    retire: () => port.postMessage({ type: 'retire' } satisfies ThreadMessage),
    balance: data.balance ? new AcceptBalancer(data.balance) : undefined,
    acceptStopped: () => port.postMessage({ type: 'accept_stopped' } satisfies ThreadMessage),
  });
  try {
    await worker.boot(); // checks that load() returned a request listener
  } catch (err) {
    if (err instanceof ArbiterError) log.error(`${err.message} (pid: ${process.pid}, thread ${data.index})`, { worker: process.pid, thread: data.index });
    else log.exception(`Exception while booting worker thread ${data.index}`, err);
    return process.exit(WORKER_BOOT_ERROR);
  }
  listenAll(listeners, data.fds, config.backlog, (err, fd) => {
    log.exception(`Thread ${data.index} cannot listen on inherited fd ${fd}`, err);
    process.exit(WORKER_BOOT_ERROR);
  });
  const running = worker.run();
  if (bootBeat) clearInterval(bootBeat);
  port.postMessage({ type: 'ready' } satisfies ThreadMessage);
  trace.worker('thread %d of worker %d ready', data.index, process.pid);
  await running;
  return process.exit(0); // ends this thread only
}
