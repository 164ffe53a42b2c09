import net from 'node:net';
import type { ApplicationLike } from '../application.js';
import type { ResolvedConfig } from '../config.js';
import { OperatorLog } from '../log.js';
import { trace } from '../trace.js';
import { APP_LOAD_ERROR, envelope, unwrap, WORKER_BOOT_ERROR, type MasterMessage, type WorkerMessage } from '../protocol.js';
import type { PreparedListeners, WorkerClass, WorkerInit } from '../models/base.js';
import { resolveModel } from '../models/registry.js';
import { listenAll } from './listen.js';
import { workerProcess } from './guard.js';

/** True when this process was spawned by an arbiter master as a worker. */
export function isWorkerProcess(): boolean {
  return workerProcess() !== undefined;
}

function send(msg: WorkerMessage): void {
  if (process.connected) process.send?.(envelope(msg));
}

/**
 * The worker side: runs in a process the master spawned from the same entry script.
 * Loads the app, opens the inherited listeners, runs the worker model until it drains, exits.
 * Never returns. The watchdog and the orphan guard already run (see `guard.ts`).
 */
export async function runWorker(app: ApplicationLike<unknown>, config: ResolvedConfig): Promise<never> {
  const context = workerProcess()!;
  const { age, slot, fdGroups, watchdog } = context;
  // The master gives a worker `timeout` ms to get here (a worker that never calls run() is a boot failure).
  send({ cmd: 'run' });
  watchdog.markRunning();

  const log = OperatorLog.from(config);
  if (config.procName) process.title = `arbiter: worker [${config.procName}]`;
  const Model = resolveModel(config);

  const controller = new AbortController();
  let worker: WorkerClass | undefined;
  let booted = false;

  const runHook = (name: 'workerInt' | 'workerAbort' | 'workerExit'): void => worker?.hook(name);
  const exit = (code: number): never => {
    runHook('workerExit');
    log.info(`Worker exiting (pid: ${process.pid})`, { worker: process.pid, code });
    process.exit(code);
  };

  const quickExit = (): void => {
    runHook('workerInt');
    exit(0);
  };
  const onSignal: Partial<Record<NodeJS.Signals, () => void>> = {
    // Before it accepts, a worker has nothing to drain: a graceful stop is an immediate exit.
    SIGTERM: () => (booted ? controller.abort() : exit(0)),
    SIGINT: quickExit,
    SIGQUIT: quickExit,
    SIGABRT: () => {
      try {
        worker?.aborting();
      } catch (err) {
        log.exception('Exception in aborting()', err);
      }
      runHook('workerAbort');
      exit(1);
    },
    SIGUSR1: () => log.info('Worker reopening logs.'), // replaces Node's default (start the inspector)
    // Meant for the master (`pkill -HUP -f server.js` reaches the workers too): a worker must
    // neither die (HUP, USR2) nor stop (TTIN, TTOU) because of them.
    SIGHUP: () => {},
    SIGUSR2: () => {},
    SIGTTIN: () => {},
    SIGTTOU: () => {},
    SIGWINCH: () => {},
  };
  for (const [sig, fn] of Object.entries(onSignal)) process.on(sig, fn);
  process.on('disconnect', () => {
    trace.worker('master disconnected');
    exit(0);
  });
  const fatal = (kind: string) => (err: unknown) => {
    log.exception(`${kind} in worker (pid: ${process.pid})`, err, { worker: process.pid });
    exit(booted ? 1 : WORKER_BOOT_ERROR);
  };
  process.on('uncaughtException', fatal('Uncaught exception'));
  process.on('unhandledRejection', fatal('Unhandled rejection'));

  let handler: unknown;
  if (!Model.inThreads) {
    try {
      handler = await app.load();
    } catch (err) {
      log.exception(`Exception in worker process: the app failed to load`, err);
      return exit(APP_LOAD_ERROR);
    }
  }

  const ownFds = Model.inThreads ? [] : (fdGroups[0] ?? []);
  const listeners = ownFds.map(() => net.createServer());
  try {
    worker = new Model({
      listeners,
      handler,
      config,
      log,
      age,
      slot,
      signal: controller.signal,
      notify: watchdog.main.notify,
      counters: watchdog.main,
      heartbeatInterval: watchdog.interval,
      maxRequests: effectiveMaxRequests(config),
      retire: (reason) => {
        send({ cmd: 'retiring', reason });
        controller.abort();
      },
      inherited: Model.inThreads ? { fds: fdGroups, beats: watchdog.buffer } : undefined,
      fetchListeners: listenerFetcher(config.backlog),
      acceptStopped: () => send({ cmd: 'accept_stopped' }),
    });
    await config.postFork?.(worker);
    await worker.boot();
    await config.postWorkerInit?.(worker);
  } catch (err) {
    log.exception('Exception while booting the worker', err);
    return exit(exitCodeOf(err, WORKER_BOOT_ERROR));
  }

  // From here to run() nothing may yield: the listeners accept as soon as the loop turns,
  // and run() attaches the connection handlers synchronously.
  listenAll(listeners, ownFds, config.backlog, (err, fd) => {
    log.exception(`Cannot listen on inherited fd ${fd}`, err);
    exit(WORKER_BOOT_ERROR);
  });
  const running = worker.run();
  context.stopBootBeat();
  booted = true;
  send({ cmd: 'ready' });
  trace.worker('worker %d ready (age %d, slot %d)', process.pid, age, slot);
  try {
    await running;
  } catch (err) {
    log.exception('Worker run() failed', err);
    return exit(exitCodeOf(err, 1));
  }
  return exit(0);
}

/** Raw socket handles as received over IPC. */
interface RawHandle {
  close(): void;
}

/**
 * Fetches fresh copies of the master's listening sockets over IPC: one request, one reply per
 * listener, each carrying a duplicate of the socket. Only TCP handles can be adopted by a
 * `net.Server` as they are, so for other listeners (unix sockets) there is no fetcher.
 */
function listenerFetcher(backlog: number): WorkerInit['fetchListeners'] {
  let seq = 0;
  const pending = new Map<number, { handles: RawHandle[]; got: number; resolve: (p: PreparedListeners) => void }>();
  process.on('message', (payload: unknown, handle?: RawHandle) => {
    const msg = unwrap<MasterMessage>(payload);
    if (msg?.cmd !== 'listener') return;
    const req = pending.get(msg.id);
    if (!req || !handle) {
      handle?.close();
      return;
    }
    req.handles[msg.index] = handle;
    req.got += 1;
    if (req.got < msg.count) return;
    pending.delete(msg.id);
    const { handles } = req;
    req.resolve({
      listen: () => handles.map((h) => net.createServer().listen(h, backlog)),
      close: () => handles.forEach((h) => h.close()),
    });
  });
  return () =>
    new Promise((resolve) => {
      const id = ++seq;
      pending.set(id, { handles: [], got: 0, resolve });
      send({ cmd: 'listeners', id });
    });
}


/** `maxRequests` with this worker's random jitter applied; 0 = never. */
export function effectiveMaxRequests(config: ResolvedConfig): number {
  return config.maxRequests > 0 ? config.maxRequests + Math.floor(Math.random() * (config.maxRequestsJitter + 1)) : 0;
}

/** An error may carry the exit status it means (`exitCode`), e.g. from a threaded worker's boot. */
export function exitCodeOf(err: unknown, fallback: number): number {
  const code = (err as { exitCode?: unknown } | null)?.exitCode;
  return typeof code === 'number' && Number.isInteger(code) ? code : fallback;
}

