import net from 'node:net';
import type { ApplicationLike } from '../application.js';
import type { ResolvedConfig } from '../config.js';
import { OperatorLog, trace } from '../log.js';
import { APP_LOAD_ERROR, ENV, envelope, WORKER_BOOT_ERROR, type WorkerMessage } from '../protocol.js';
import { AsyncWorker } from '../workers/async.js';
import type { WorkerClass, WorkerClassConstructor } from '../workers/base.js';
import { SyncWorker } from '../workers/sync.js';
import { startWatchdog } from './watchdog.js';


const BUILT_IN: Record<string, WorkerClassConstructor> = { async: AsyncWorker, sync: SyncWorker };

/** True when this process was spawned by an arbiter master as a worker. */
export function isWorkerProcess(): boolean {
  return process.env[ENV.age] !== undefined && typeof process.send === 'function';
}

function send(msg: WorkerMessage): void {
  if (process.connected) process.send?.(envelope(msg));
}

/**
 * The worker side: runs in a process the master spawned from the same entry script.
 * Loads the app, opens the inherited listeners, runs the worker model until it drains, exits.
 * Never returns.
 */
export async function runWorker(app: ApplicationLike<unknown>, config: ResolvedConfig): Promise<never> {
  const env = process.env;
  const age = Number(env[ENV.age]);
  const slot = Number(env[ENV.slot]);
  const fds = (env[ENV.fds] ?? '').split(',').filter(Boolean).map(Number);
  const watchdogFd = Number(env[ENV.watchdog]);
  const masterPid = Number(env[ENV.master]);
  for (const key of Object.values(ENV)) delete env[key]; // the app's own child processes are not workers

  const log = new OperatorLog(config.logger, config.logLevel);
  if (config.procName) process.title = `arbiter: worker [${config.procName}]`;
  const watchdog = startWatchdog({ fd: watchdogFd, timeout: config.timeout, masterPid });
  watchdog.notify();
  // Keep beating while the app loads asynchronously; a synchronously blocked load() is caught.
  const bootBeat = watchdog.interval > 0 ? setInterval(watchdog.notify, watchdog.interval) : undefined;
  bootBeat?.unref();

  const controller = new AbortController();
  let worker: WorkerClass | undefined;
  let booted = false;

  const runHook = (name: 'workerInt' | 'workerAbort' | 'workerExit'): void => {
    const fn = config[name];
    if (!fn || !worker) return;
    try {
      fn(worker);
    } catch (err) {
      log.exception(`Exception in ${name} hook`, err);
    }
  };
  const exit = (code: number): never => {
    runHook('workerExit');
    log.info(`Worker exiting (pid: ${process.pid})`);
    process.exit(code);
  };

  const onSignal: Partial<Record<NodeJS.Signals, () => void>> = {
    SIGTERM: () => controller.abort(),
    SIGINT: () => {
      runHook('workerInt');
      exit(0);
    },
    SIGQUIT: () => {
      runHook('workerInt');
      exit(0);
    },
    SIGABRT: () => {
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
  try {
    handler = await app.load();
  } catch (err) {
    log.exception(`Exception in worker process: the app failed to load`, err);
    return exit(APP_LOAD_ERROR);
  }

  const Model = typeof config.workerClass === 'function' ? config.workerClass : BUILT_IN[config.workerClass];
  if (!Model) {
    log.error(`Unknown worker class ${String(config.workerClass)}`);
    return exit(WORKER_BOOT_ERROR);
  }
  const listeners = fds.map(() => net.createServer());
  const maxRequests =
    config.maxRequests > 0 ? config.maxRequests + Math.floor(Math.random() * (config.maxRequestsJitter + 1)) : 0;
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
      maxRequests,
      retire: (reason) => {
        send({ cmd: 'retiring', reason });
        controller.abort();
      },
    });
    await config.postFork?.(worker);
    await config.postWorkerInit?.(worker);
  } catch (err) {
    log.exception('Exception while booting the worker', err);
    return exit(WORKER_BOOT_ERROR);
  }

  // From here to run() nothing may yield: the listeners accept as soon as the loop turns,
  // and run() attaches the connection handlers synchronously.
  listeners.forEach((server, i) => {
    server.once('error', (err) => {
      log.exception(`Cannot listen on inherited fd ${fds[i]}`, err);
      exit(WORKER_BOOT_ERROR);
    });
    server.listen({ fd: fds[i]!, backlog: config.backlog });
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
    return exit(1);
  }
  return exit(0);
}
