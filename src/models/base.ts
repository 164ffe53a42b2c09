import type { Server } from 'node:net';
import type { ResolvedConfig, WorkerHooks } from '../config.js';
import type { OperatorLog } from '../log.js';
import type { RequestLike } from '../worker/inflight.js';

/** A seat in the master's balance table (see {@link AcceptBalance}). */
export interface BalanceSeat {
  /** fd of the table (inherited from the master). */
  fd: number;
  /** Index of the seat. */
  index: number;
}

/**
 * Fair-share accepting across the workers of a master (see {@link WorkerInit.balance}). A model
 * reports what it accepts and closes; `accepted()` says when to stop accepting for a moment
 * because this worker holds clearly more connections than the others.
 */
export interface AcceptBalance {
  /** The worker starts accepting (and publishing its connection count). */
  join(): void;
  /** The worker stopped accepting for good (draining). */
  leave(): void;
  /** A connection was accepted; `conns` are held now. Returns how long (ms) to stop accepting, 0 to go on. */
  accepted(conns: number): number;
  /** The pause `accepted()` asked for is over; `conns` are held now. Returns how long (ms) to go on pausing, 0 to accept again. */
  recheck(conns: number): number;
  /** A connection closed; `conns` are held now. */
  closed(conns: number): void;
}

/** What an `inThreads` model inherits instead of listening itself. */
export interface InheritedSockets {
  /** Raw listener fds, one group per serving thread (each thread owns its copies). */
  fds: readonly (readonly number[])[];
  /** The shared block of heartbeat and request counters: slot 0 is the process's main thread, slot i the i-th serving thread. */
  beats: SharedArrayBuffer;
  /** The in-flight request table (one region per slot, as `beats`); absent from an older runtime. */
  requests?: SharedArrayBuffer;
  /** Seats in the master's balance table, one per serving thread (empty without a table). */
  balance: readonly BalanceSeat[];
}

/** Request counters a worker model keeps up to date (they feed `arbiter status` and the metrics). */
export interface RequestCounters {
  /**
   * A request started; given the request, it is listed in the in-flight table that a
   * `WORKER TIMEOUT` reads. Returns its entry there (−1: none).
   */
  started(req?: RequestLike): number | void;
  /** A request finished (`entry`: what `started` returned). */
  finished(entry?: number): void;
}

/** Everything a worker model is constructed with. Built by the worker runtime, never by users. */
export interface WorkerInit<H = unknown> {
  /** The master's listening sockets, inherited and already listening, no `connection` handler yet. */
  listeners: Server[];
  /** What `app.load()` returned. */
  handler: H;
  /** The resolved config, as evaluated in this worker (fresh code after a reload). */
  config: ResolvedConfig;
  /** Operator log of this worker. */
  log: OperatorLog;
  /** Spawn counter of this worker (see `WorkerInfo.age`). */
  age: number;
  /** Stable slot index of this worker. */
  slot: number;
  /** Aborted when the worker is asked to stop gracefully. */
  signal: AbortSignal;
  /** Heartbeat: proves the worker is alive to its watchdog. */
  notify: () => void;
  /** Where {@link WorkerClass.requestStarted} and {@link WorkerClass.requestDone} count (read by the watchdog for the master). */
  counters?: RequestCounters;
  /** How often (ms) a healthy worker should call `notify()`; 0 when `timeout` is disabled. */
  heartbeatInterval: number;
  /** Requests after which the worker recycles itself (jitter applied); 0 = never. */
  maxRequests: number;
  /** Stop accepting and drain, telling the master why (used for `maxRequests`). */
  retire: (reason: 'max_requests') => void;
  /** Only for classes with `static inThreads = true`, see {@link InheritedSockets}. */
  inherited?: InheritedSockets;
  /**
   * Fair-share accepting: how this worker's connection count compares with the other workers'.
   * Absent when the master provides none (e.g. for a worker started by an older master).
   */
  balance?: AcceptBalance;
  /** Tells the master this worker closed its listeners for good (see {@link WorkerClass.stoppedAccepting}). */
  acceptStopped?: () => void;
  /** See {@link WorkerClass.appServers}. */
  appServers?: OwnServers;
}

/**
 * The servers of an app that calls `listen()` itself (run by the `arbiter` command or
 * `moduleApp()`): each listens on a socket the master holds, paused until the worker model
 * accepts on it (`worker/listen.ts` `resumeAccepting`).
 */
export interface OwnServers {
  /** The servers listening now, in the order the app started them (later ones are appended). */
  readonly servers: readonly Server[];
  /** Calls `adopt` for every server listening now and for each one that starts listening later. */
  onServer(adopt: (server: Server) => void): void;
}

/** A concrete worker model class, as accepted by the `workerClass` option. */
export type WorkerClassConstructor<H = any> = new (init: WorkerInit<H>) => WorkerClass<H>;

/**
 * The extension point for worker models (gunicorn's `Worker` base class). `async` and `sync`
 * are subclasses; users write their own for non-HTTP protocols.
 *
 * A subclass implements {@link WorkerClass.run}: attach `connection` handlers to
 * {@link WorkerClass.listeners} **synchronously** at the start of `run()` (the sockets are
 * already accepting), call {@link WorkerClass.notify} while healthy, and resolve once
 * {@link WorkerClass.signal} is aborted and every accepted connection is finished.
 * The process then exits 0.
 *
 * `H` is the type of the handler the model serves: what the app's `load()` returns, available as
 * {@link WorkerClass.handler}. Passing the class as `workerClass` makes the compiler check that
 * `load()` returns an `H` (see `ArbiterConfig<H>` and docs/worker-models.md).
 *
 * @typeParam H - the handler type this model serves
 * @example
 * ```ts
 * class EchoWorker extends WorkerClass<(line: string) => string> {
 *   async run() {
 *     const timer = setInterval(() => this.notify(), this.heartbeatInterval || 1000);
 *     for (const l of this.listeners) l.on('connection', (s) => s.on('data', (d) => s.write(this.handler(String(d)))));
 *     await new Promise((r) => this.signal.addEventListener('abort', r));
 *     clearInterval(timer);
 *     await Promise.all(this.listeners.map((l) => new Promise((r) => l.close(r))));
 *   }
 * }
 * ```
 */
export abstract class WorkerClass<H = unknown> {
  /**
   * `true` for models whose serving happens in `worker_threads` (like `threaded`): the process's
   * main thread then neither loads the app nor listens; it gets {@link WorkerInit.inherited}
   * instead, and the master hands the worker one copy of each listener per thread.
   */
  static readonly inThreads: boolean = false;
  /** The master's listening sockets, inherited and already listening. */
  readonly listeners: Server[];
  /**
   * Set when the app started its own servers with `listen()` instead of exporting a handler: the
   * built-in HTTP models then route those servers' connections (admission, accounting, drain)
   * and {@link WorkerClass.handler} is not used. Other models refuse such an app.
   */
  readonly appServers: OwnServers | undefined;
  /** What `app.load()` returned. */
  readonly handler: H;
  /** The resolved config. */
  readonly config: ResolvedConfig;
  /** Operator log (gunicorn's format, the master's sink and level). */
  readonly log: OperatorLog;
  /** Spawn counter of this worker. */
  readonly age: number;
  #slot: number;
  /** This worker's process id. */
  readonly pid: number = process.pid;
  /** Aborted when the worker must stop accepting and drain. */
  readonly signal: AbortSignal;
  /** Suggested interval (ms) between `notify()` calls; 0 when `timeout` is 0. */
  readonly heartbeatInterval: number;
  /** Requests after which this worker recycles itself (jitter applied); 0 = never. */
  readonly maxRequests: number;
  /** Requests completed so far. */
  requests = 0;
  /** See {@link WorkerInit.inherited}; only set for `inThreads` models. */
  readonly inherited: WorkerInit['inherited'];
  readonly #notify: () => void;
  readonly #counters: RequestCounters | undefined;
  readonly #retire: (reason: 'max_requests') => void;
  /** See {@link WorkerInit.balance}; the built-in `async` model uses it, a custom model may. */
  protected readonly balance: AcceptBalance | undefined;
  readonly #acceptStopped: (() => void) | undefined;

  /** Called by the worker runtime; subclasses pass `init` through unchanged. */
  constructor(init: WorkerInit<H>) {
    this.listeners = init.listeners;
    this.appServers = init.appServers;
    this.handler = init.handler;
    this.config = init.config;
    this.log = init.log;
    this.age = init.age;
    this.#slot = init.slot;
    this.signal = init.signal;
    this.heartbeatInterval = init.heartbeatInterval;
    this.maxRequests = init.maxRequests;
    this.#notify = init.notify;
    this.#counters = init.counters;
    this.#retire = init.retire;
    this.inherited = init.inherited;
    this.balance = init.balance;
    this.#acceptStopped = init.acceptStopped;
  }

  /**
   * Call once the worker has closed its listeners for good while draining. During a graceful
   * stop the master keeps its own copy of the sockets (so queued connections are not reset)
   * until every worker has said so or exited. Optional: exiting says it too.
   */
  protected stoppedAccepting(): void {
    this.#acceptStopped?.();
  }

  /** Stable slot index of this worker (−1 for a warm spare until it takes a slot over). */
  get slot(): number {
    return this.#slot;
  }

  /**
   * Moves a warm spare into the slot it takes over (called by the worker runtime).
   * @internal
   */
  takeSlot(slot: number): void {
    this.#slot = slot;
  }

  /** `false` once the worker has been asked to stop (gunicorn's `worker.alive`). */
  get alive(): boolean {
    return !this.signal.aborted;
  }

  /** Heartbeat. Cheap (one atomic add); call it from wherever "healthy" is decided. */
  notify(): void {
    this.#notify();
  }

  /**
   * Prepares the model before it accepts (e.g. starts threads). The worker reports ready to the
   * master once this resolves and `run()` has started. Rejecting fails the boot (exit status 3,
   * or the rejection's `exitCode`).
   */
  boot(): Promise<void> {
    return Promise.resolve();
  }

  /**
   * The master asked the workers to reopen their log files (USR1): runs the `onReopenLogs` hook.
   * Models whose app lives elsewhere (the serving threads of `threaded`) forward it there.
   */
  reopenLogs(): void {
    void this.hook('onReopenLogs');
  }

  /**
   * Called when the worker got SIGABRT (normally: the master timed it out), before the
   * `workerAbort` hook and exit 1. Models log what they were doing; the default does nothing.
   */
  aborting(): void {}

  /** Stops accepting, drains, and tells the master why (so it can start a replacement at once). */
  protected retire(reason: 'max_requests'): void {
    this.#retire(reason);
  }

  /**
   * Counts one request in flight (shown by `arbiter status`); pair it with {@link WorkerClass.requestDone}.
   * Given the request (`method`, `url`, `headers`), it is also listed in the in-flight table a
   * `WORKER TIMEOUT` reports; pass what this returns to `requestDone`.
   */
  protected requestStarted(req?: RequestLike): number {
    return this.#counters?.started(req) ?? -1;
  }

  /**
   * Counts one finished request; when `maxRequests` is reached the worker logs
   * "Autorestarting worker after current request." and starts a graceful drain.
   */
  protected requestDone(entry?: number): void {
    this.requests += 1;
    this.#counters?.finished(entry);
    if (this.maxRequests > 0 && this.requests === this.maxRequests) {
      this.log.info('Autorestarting worker after current request.');
      this.retire('max_requests');
    }
  }

  /**
   * Runs a worker-side hook from the config with this worker first; a throwing (or rejecting) hook
   * is logged, never fatal. Returns the hook's promise (settled, never rejecting) when it returned
   * one, so that callers who must wait for it (the exit hooks) can, and others need not.
   */
  hook<K extends keyof WorkerHooks>(name: K, ...args: Parameters<NonNullable<WorkerHooks[K]>> extends [unknown, ...infer R] ? R : never): void | Promise<void> {
    const fn = this.config[name] as ((...a: unknown[]) => unknown) | undefined;
    if (!fn) return;
    try {
      const r = fn(this, ...args);
      if (r && typeof (r as Promise<unknown>).then === 'function') {
        return Promise.resolve(r as Promise<unknown>).then(
          () => undefined,
          (err: unknown) => this.log.exception(`Exception in ${name} hook`, err),
        );
      }
    } catch (err) {
      this.log.exception(`Exception in ${name} hook`, err);
    }
  }

  /** Serves until {@link WorkerClass.signal} is aborted and all work is drained. */
  abstract run(): Promise<void>;
}
