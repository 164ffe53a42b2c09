import net from 'node:net';
import { isMainThread } from 'node:worker_threads';
import type { ResolvedConfig } from '../config.js';
import { OperatorLog } from '../log.js';
import { trace } from '../trace.js';
import { APP_LOAD_ERROR, ENV, envelope, unwrap, WORKER_BOOT_ERROR, type MasterMessage, type WorkerMessage } from '../protocol.js';
import type { PreparedListeners, WorkerClass, WorkerInit } from '../models/base.js';
import { resolveModel } from '../models/registry.js';
import { listenAll } from './listen.js';
import { startWatchdog } from './watchdog.js';

/** True when this process was spawned by an arbiter master as a worker. */
export function isWorkerProcess(): boolean {
  return process.env[ENV.age] !== undefined && typeof process.send === 'function' && isMainThread;
}

function send(msg: WorkerMessage): void {
  if (process.connected) process.send?.(envelope(msg));
}

/**
 * The worker side: runs in a process the master spawned from the same entry script.
 * Loads the app, opens the inherited listeners, runs the worker model until it drains, exits.
 * Never returns.
 */
export async function runWorker(app: { load(): unknown }, config: ResolvedConfig): Promise<never> {
  const env = process.env;
  const age = Number(env[ENV.age]);
  const slot = Number(env[ENV.slot]);
  // One group of listener fds per serving loop: "5,6" (one group) or "5,6;7,8" (threaded, two threads).
  const fdGroups = (env[ENV.fds] ?? '').split(';').map((g) => g.split(',').filter(Boolean).map(Number));
  const watchdogFd = Number(env[ENV.watchdog]);
  const masterPid = Number(env[ENV.master]);
  for (const key of Object.values(ENV)) delete env[key]; // the app's own child processes are not workers

  const log = new OperatorLog(config.logger, config.logLevel);
  if (config.procName) process.title = `arbiter: worker [${config.procName}]`;
  const Model = resolveModel(config);
  const threads = Model.inThreads ? config.threads : 0;
  const watchdog = startWatchdog({ fd: watchdogFd, timeout: config.timeout, masterPid, slots: 1 + threads });
  watchdog.notify();
  // Keep beating while the app loads asynchronously; a synchronously blocked load() is caught.
  const bootBeat = watchdog.interval > 0 ? setInterval(watchdog.notify, watchdog.interval) : undefined;
  bootBeat?.unref();

  const controller = new AbortController();
  let worker: WorkerClass | undefined;
  let booted = false;

  const runHook = (name: 'workerInt' | 'workerAbort' | 'workerExit'): void => worker?.hook(name);
  const exit = (code: number): never => {
    runHook('workerExit');
    log.info(`Worker exiting (pid: ${process.pid})`);
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
    log.exception(`${kind} in worker (pid: ${process.pid})`, err);
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
      notify: watchdog.notify,
      heartbeatInterval: watchdog.interval,
      maxRequests: effectiveMaxRequests(config),
      retire: (reason) => {
        send({ cmd: 'retiring', reason });
        controller.abort();
      },
      inherited: Model.inThreads ? { fds: fdGroups, beats: watchdog.beats } : undefined,
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
  if (bootBeat) clearInterval(bootBeat);
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

