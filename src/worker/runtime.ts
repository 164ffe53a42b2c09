import net from 'node:net';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { errorSummary } from '../app-errors.js';
import type { ResolvedConfig } from '../config.js';
import { ArbiterError } from '../errors.js';
import { OperatorLog } from '../log.js';
import { trace } from '../trace.js';
import { flushCompileCache } from '../compile-cache.js';
import { ABORT_GRACE, APP_LOAD_ERROR, envelope, unwrap, WORKER_BOOT_ERROR, type MasterMessage, type WorkerMessage } from '../protocol.js';
import type { WorkerClass } from '../models/base.js';
import { HttpWorker } from '../models/http.js';
import { AcceptBalancer } from './accept-balance.js';
import { answerAppMetrics } from './app-metrics.js';
import { listenAll } from './listen.js';
import { setProcessTitle } from '../title.js';
import { warnOnAppListen } from './app-listen.js';
import { workerProcess } from './guard.js';
import { ORPHAN_GRACE } from './watchdog.js';
import { warmHttp } from './warm.js';
import { recordModuleGraph } from './module-graph.js';
import { askMaster, isAppServers, type AppServers } from './app-servers.js';
import { modelName, resolveModel } from '../models/registry.js';

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
export async function runWorker(app: { load(): unknown }, config: ResolvedConfig): Promise<never> {
  const context = workerProcess()!;
  const { age, slot, watchdog, balance } = context;
  let fdGroups = context.fdGroups;
  // The master gives a worker `bootTimeout` ms to get here (a worker that never calls run() is a
  // boot failure). Until it is ready (loading the app, which may block), the watchdog allows
  // `bootTimeout` too; `timeout` applies from ready on (markServing below).
  send({ cmd: 'run' });

  const log = OperatorLog.from(config);
  warnOnAppListen(log);
  if (config.procName) setProcessTitle(`arbiter: worker [${config.procName}]`, log, age === 1); // warn once, not per worker
  const Model = resolveModel(config);
  answerAppMetrics(!Model.inThreads, Model.inThreads ? config.threads : 0); // /metrics scrapes

  const controller = new AbortController();
  let worker: WorkerClass | undefined;
  let booted = false;
  let serving = false; // some loop may accept: from listenAll on, or once a threaded model's boot() starts its threads

  // Exiting: stop accepting, run the exit hooks — a returned promise is awaited, but only until
  // the master's kill deadline for this kind of stop (less EXIT_MARGIN, to exit by ourselves) —
  // then exit. A second call joins the first (its code and hooks are ignored).
  let stopAt: number | undefined; // when a graceful stop was asked: the master's gracefulTimeout runs from there
  let grace = config.gracefulTimeout; // the master's, as it says when it stops this worker (a reload may change it)
  controller.signal.addEventListener('abort', () => (stopAt ??= performance.now()), { once: true });
  let exiting: Promise<never> | undefined;
  const exit = (code: number, first?: 'workerInt' | 'workerAbort', limit = Infinity): Promise<never> =>
    (exiting ??= (async () => {
      const deadline = Math.min((stopAt ?? performance.now()) + grace, limit) - EXIT_MARGIN;
      controller.abort();
      // Keep proving liveness while hooks await (the model's own heartbeat may have stopped).
      const beat = watchdog.interval > 0 ? setInterval(watchdog.main.notify, watchdog.interval) : undefined;
      for (const name of first ? [first, 'workerExit' as const] : ['workerExit' as const]) {
        if (!(await settleBy(worker?.hook(name), deadline))) {
          log.warning(`${name} hook cut off: still running when this worker had to exit (gracefulTimeout ${grace} ms) (pid: ${process.pid})`, { worker: process.pid });
        }
      }
      if (beat) clearInterval(beat);
      log.info(`Worker exiting (pid: ${process.pid})`, { worker: process.pid, code });
      return process.exit(code);
    })());

  const quickExit = (): void => void exit(0, 'workerInt');
  const onSignal: Partial<Record<NodeJS.Signals, () => void>> = {
    // Before it accepts, a worker has nothing to drain: a graceful stop is an immediate exit.
    // Once something may accept, the stop is a drain (run() sees the aborted signal and drains).
    SIGTERM: () => (serving ? controller.abort() : void exit(0)),
    SIGINT: quickExit,
    SIGQUIT: quickExit,
    SIGABRT: () => {
      watchdog.markAborting(); // the loop returned: the watchdog lets this handler finish
      try {
        worker?.aborting();
      } catch (err) {
        log.exception('Exception in aborting()', err);
      }
      void exit(1, 'workerAbort', performance.now() + ABORT_GRACE); // the master's SIGKILL follows
    },
    SIGUSR1: () => log.info('Worker reopening logs.'),
    // HUP, USR2, TTIN, TTOU and WINCH are meant for the master: the orphan guard (guard.ts)
    // already keeps them from killing or stopping a worker, from its first moment.
  };
  for (const [sig, fn] of Object.entries(onSignal)) process.on(sig, fn);
  // USR1 reaches the master; it asks each worker over IPC (the worker's own SIGUSR1 is left alone).
  process.on('message', (payload: unknown) => {
    const msg = unwrap<MasterMessage>(payload);
    if (msg?.cmd === 'grace') grace = msg.ms;
    if (msg?.cmd !== 'reopen_logs') return;
    log.info('Worker reopening logs.');
    try {
      worker?.reopenLogs();
    } catch (err) {
      log.exception('Exception in reopenLogs()', err);
    }
  });
  process.on('disconnect', () => {
    trace.worker('master disconnected');
    void exit(0, undefined, performance.now() + ORPHAN_GRACE); // the watchdog kills an orphan then
  });
  const fatal = (kind: string) => (err: unknown) => {
    log.exception(`${kind} in worker (pid: ${process.pid})`, err, { worker: process.pid });
    if (!booted) send({ cmd: 'boot_failed', error: errorSummary(err) });
    void exit(booted ? 1 : WORKER_BOOT_ERROR);
  };
  process.on('uncaughtException', fatal('Uncaught exception'));
  process.on('unhandledRejection', fatal('Unhandled rejection'));

  let handler: unknown;
  let appServers: AppServers | undefined;
  // `reload`: the master watches what this worker loads (and what a failed load got as far as)
  const graph = config.reload ? recordModuleGraph() : undefined;
  const reportFiles = (): void => {
    if (graph) send({ cmd: 'files', files: [...new Set([path.resolve(process.argv[1] ?? ''), ...graph()])] });
  };
  if (!Model.inThreads) {
    try {
      handler = await app.load();
      if (isAppServers(handler)) {
        // The app called listen() itself (or may yet: it exported nothing to serve).
        appServers = handler;
        handler = undefined;
        if (!(Model.prototype instanceof HttpWorker)) {
          throw new ArbiterError('ARBITER_ERR_APP', `The app calls listen() itself, which the ${modelName(config.workerClass)} worker class cannot serve: use the async or sync worker class, or export the app`);
        }
        await appServers.settled(APP_QUIET, config.bootTimeout > 0 ? Math.max(config.bootTimeout - 1000, config.bootTimeout / 2) : 0);
        trace.worker('the app listens itself on %s', appServers.requests.join(', '));
      }
    } catch (err) {
      log.exception(`Exception in worker process: the app failed to load`, err);
      reportFiles(); // a fix of the broken file reloads
      send({ cmd: 'boot_failed', error: errorSummary(err) }); // the reason a failed reload gives
      return exit(APP_LOAD_ERROR);
    }
  }

  // A master that binds on demand (an app module run without `bind`) had nothing to hand down at
  // spawn: an app that exports a handler gets the default bind now (one copy per serving loop).
  let sockets: (number | { fd: number })[] = Model.inThreads || appServers ? [] : [...(fdGroups[0] ?? [])];
  if (context.bindOnDemand && !appServers && fdGroups.every((g) => g.length === 0)) {
    try {
      const groups = await defaultBinds(Model.inThreads ? config.threads : 1);
      if (Model.inThreads) fdGroups = groups.map((g) => g.map((h) => h.fd));
      else sockets = groups[0]!;
    } catch (err) {
      log.error(`Cannot get the listening socket from the master: ${(err as Error).message} (pid: ${process.pid})`, { worker: process.pid });
      return exit(WORKER_BOOT_ERROR);
    }
  }
  const listeners = sockets.map(() => net.createServer());
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
      inherited: Model.inThreads ? { fds: fdGroups, beats: watchdog.buffer, requests: watchdog.requests, balance } : undefined,
      balance: balance[0] && !Model.inThreads ? new AcceptBalancer(balance[0]) : undefined,
      acceptStopped: () => send({ cmd: 'accept_stopped' }),
      appServers,
    });
    await config.postFork?.(worker);
    // A warm spare waits here for a slot, booted as far as it can be without accepting (a model
    // whose boot() starts serving threads waits before it).
    if (context.spare && Model.inThreads) worker.takeSlot(await promotion());
    serving = Model.inThreads; // each serving thread accepts as soon as it has loaded
    await worker.boot();
    await config.postWorkerInit?.(worker);
    if (context.spare && !Model.inThreads) {
      if (worker instanceof HttpWorker) await warmHttp();
      worker.takeSlot(await promotion());
    }
  } catch (err) {
    // Our own errors (a handler the model cannot serve, a thread that failed to boot: they carry
    // their exit status) are a message for the operator, not a bug with a stack.
    if (err instanceof ArbiterError || exitCodeOf(err, -1) !== -1) log.error(`${(err as Error).message} (pid: ${process.pid})`, { worker: process.pid });
    else log.exception('Exception while booting the worker', err);
    send({ cmd: 'boot_failed', error: errorSummary(err) });
    return exit(exitCodeOf(err, WORKER_BOOT_ERROR));
  }

  if (exiting) return exiting; // stopped while booting (an async workerExit hook runs): accept nothing
  // From here to run() nothing may yield: the listeners accept as soon as the loop turns,
  // and run() attaches the connection handlers synchronously.
  serving = true;
  listenAll(listeners, sockets, config.backlog, (err, fd) => {
    log.exception(`Cannot listen on inherited fd ${fd}`, err);
    void exit(WORKER_BOOT_ERROR);
  });
  const running = worker.run();
  context.stopBootBeat();
  watchdog.markServing();
  booted = true;
  send({ cmd: 'ready' });
  if (graph) setTimeout(reportFiles, 100).unref(); // module.register's loader thread posts what it saw a moment later
  flushCompileCache(); // what this boot compiled, for the next worker (a SIGKILLed worker writes nothing)
  trace.worker('worker %d ready (age %d, slot %d)', process.pid, age, worker.slot);
  try {
    await running;
  } catch (err) {
    log.exception('Worker run() failed', err);
    return exit(exitCodeOf(err, 1));
  }
  return exit(0);
}

/** Quiet time (ms) after an app's last listen() before its worker counts as ready (a second server may follow the first). */
const APP_QUIET = 50;

/** The master's default bind sockets, `copies` times (each copy its own fd), asked for over IPC. */
async function defaultBinds(copies: number): Promise<{ fd: number }[][]> {
  const groups: { fd: number }[][] = [];
  for (let c = 0; c < copies; c++) {
    const first = await askMaster({ default: 0 });
    const group = [first.handle];
    for (let i = 1; i < first.count; i++) group.push((await askMaster({ default: i })).handle);
    groups.push(group);
  }
  return groups;
}

/** A warm spare: tells the master it is ready to take a slot over and resolves with the slot it is given. */
function promotion(): Promise<number> {
  return new Promise((resolve) => {
    const onMessage = (payload: unknown): void => {
      const msg = unwrap<MasterMessage>(payload);
      if (msg?.cmd !== 'serve') return;
      process.off('message', onMessage);
      trace.worker('spare %d takes slot %d over', process.pid, msg.slot);
      resolve(msg.slot);
    };
    process.on('message', onMessage);
    send({ cmd: 'spare_ready' });
    flushCompileCache();
  });
}

/** Time (ms) kept before the master's kill deadline, to log and exit by ourselves. */
const EXIT_MARGIN = 100;

/**
 * Awaits what a hook returned until `deadline` (a `performance.now()` time): `true` when it
 * settled in time (or returned no promise), `false` when it was cut off.
 */
async function settleBy(result: void | Promise<void>, deadline: number): Promise<boolean> {
  if (!result) return true;
  let timer: NodeJS.Timeout | undefined;
  const cutOff = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), Math.max(0, deadline - performance.now()))));
  try {
    return await Promise.race([result.then(() => true as const), cutOff]);
  } finally {
    clearTimeout(timer);
  }
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

