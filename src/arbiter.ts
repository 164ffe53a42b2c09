import type { RequestListener } from 'node:http';
import { performance } from 'node:perf_hooks';
import { EventEmitter } from 'eventemitter3';
import type { ApplicationLike, NeedsWorkerClass } from './application.js';
import { resolveConfig, type ResolvedConfig } from './config.js';
import { ArbiterError } from './errors.js';
import type { ArbiterEvents, WorkerInfo } from './events.js';
import { MASTER_ONLY_EVENTS, type MasterEvents } from './master/bus.js';
import { startedByUpgrade } from './master/listeners.js';
import { OperatorLog } from './log.js';
import { LiveFeed } from './control/feed.js';
import { ControlServer } from './control/server.js';
import { answerProbe, isProbe, masterConfig } from './master/probe.js';
import { collectStats, summarize, type ArbiterStats, type MasterSummary } from './master/stats.js';
import { Supervisor } from './master/supervisor.js';
import { BIND_ON_DEMAND } from './module-app.js';
import { MetricsPage } from './master/metrics.js';
import { unsupportedNode } from './node-support.js';
import { StatusServer } from './master/status-server.js';
import { SystemdNotifier } from './master/systemd.js';
import { Tally } from './master/tally.js';
import type { WorkerClass } from './models/base.js';
import { checkWorkerClass, resolveModel } from './models/registry.js';
import { isWorkerProcess, runWorker } from './worker/runtime.js';
import { isArbiterThread, runThread } from './worker/thread.js';

/** Options of {@link Arbiter.stop}. */
export interface StopOptions {
  /** `true` (default): like SIGTERM, workers finish in-flight work. `false`: like SIGINT/SIGQUIT. */
  graceful?: boolean;
}

/** How eventemitter3 keeps a listener. */
interface ListenerRecord {
  fn: (...args: unknown[]) => unknown;
  context: unknown;
  once: boolean;
}

/**
 * The master process of a Node server, gunicorn-style: owns the listening sockets, spawns
 * workers from the same entry script, heartbeats them, kills hung ones, replaces dead ones,
 * answers operator signals, and emits typed lifecycle events ({@link ArbiterEvents}).
 *
 * The same entry script runs in the master and in every worker: in the master `run()`
 * supervises; in a worker it serves `app.load()`'s handler until told to stop.
 *
 * `H` is the type of that handler, inferred from `load()`: a Node `http.RequestListener` for the
 * built-in models (the default), or whatever a custom `WorkerClass<H>` serves. A handler that
 * does not fit `workerClass` is a compile error (see {@link NeedsWorkerClass}).
 *
 * @typeParam H - the handler type `load()` returns
 *
 * @example
 * ```ts
 * import { Arbiter } from 'arbiter';
 * const arbiter = new Arbiter({
 *   config: { bind: '127.0.0.1:8000', workers: 4, workerClass: 'async' },
 *   load: () => (req, res) => res.end('hello\n'),
 * });
 * arbiter.on('worker_exit', (w, exit) => console.log(w.pid, exit.reason));
 * process.exitCode = await arbiter.run();
 * ```
 */
export class Arbiter<H = RequestListener> extends EventEmitter<ArbiterEvents> {
  /** The validated config with every default filled in (frozen). */
  readonly config: ResolvedConfig<WorkerClass<H>>;
  readonly #app: ApplicationLike<H>;
  #supervisor: Supervisor | undefined;
  readonly #log: OperatorLog;
  /**
   * The master's own subscribers (counters, control socket, systemd, status server) hear every
   * event before the host's listeners, plus the master-only ones ({@link MasterEvents}), on an
   * emitter the host cannot clear with `removeAllListeners()`.
   */
  readonly #internal = new EventEmitter<MasterEvents>();
  readonly #tally = new Tally(this.#internal);
  /** Lifecycle events for `arbiter events`/`top` and the dashboard (see src/control/feed.ts). */
  readonly #feed = new LiveFeed(this.#internal);
  /** `performance.now()` when `run()` started in the master. */
  #startedAt = 0;

  /**
   * Validates the whole config.
   * @throws {@link ArbiterError} `ARBITER_ERR_CONFIG` naming the option, the value and what was expected.
   */
  constructor(app: ApplicationLike<H> & NeedsWorkerClass<H>) {
    super();
    if (typeof app !== 'object' || app === null || typeof app.load !== 'function') {
      throw new ArbiterError('ARBITER_ERR_CONFIG', `Expected \`app\` to be an object with a load() function, got ${String(app)}`);
    }
    this.#app = app;
    this.config = resolveConfig(app.config, checkWorkerClass) as ResolvedConfig<WorkerClass<H>>;
    this.#log = OperatorLog.from(this.config);
  }

  /** True in a worker process (or a serving thread of one) spawned by a master: there `run()` serves instead of supervising. */
  static get isWorker(): boolean {
    return isWorkerProcess() || isArbiterThread();
  }

  /**
   * In the master: binds, spawns the workers, supervises, and resolves with the exit status once
   * halted (also set as `process.exitCode`; never calls `process.exit()`). On a Node.js older than
   * `engines` allows (20), logs one error line and resolves with 1 at once.
   * In a worker: serves until told to stop, then the worker process exits.
   * A second call rejects with an {@link ArbiterError} `ARBITER_ERR_STATE` (it never throws).
   */
  run(): Promise<number> {
    if (isProbe()) return answerProbe(masterConfig(this.config, resolveModel(this.config).inThreads));
    if (isArbiterThread()) return runThread(this.#app, this.config);
    if (isWorkerProcess()) return runWorker(this.#app, this.config);
    // A promise-returning method rejects rather than throws: `arbiter.run().catch(…)` sees it.
    if (this.#supervisor) return Promise.reject(new ArbiterError('ARBITER_ERR_STATE', 'run() was already called on this Arbiter'));
    const unsupported = unsupportedNode();
    if (unsupported) {
      this.#log.error(unsupported); // one line, not whatever an older Node would break on first
      process.exitCode = 1;
      return Promise.resolve(1);
    }
    this.#startedAt = performance.now();
    const upgraded = startedByUpgrade(); // read before run() consumes the inherited sockets
    const bindOnDemand = (this.#app as { [BIND_ON_DEMAND]?: boolean })[BIND_ON_DEMAND] === true;
    const supervisor = (this.#supervisor = new Supervisor(
      this.config,
      (event, ...args) => {
        (this.#internal.emit as (e: string, ...a: unknown[]) => boolean)(event, ...args);
        if (!MASTER_ONLY_EVENTS.has(event)) this.#safeEmit(event as keyof ArbiterEvents, args);
      },
      { bindOnDemand },
    ));
    SystemdNotifier.attach(this.#internal, supervisor, supervisor.log, upgraded);
    if (this.config.statusBind) {
      const metrics = new MetricsPage(this.#internal, this.#tally, () => this.#startedAt, supervisor.log);
      StatusServer.attach(this.#internal, { bind: this.config.statusBind, master: supervisor, stats: () => this.stats(), metrics, log: supervisor.log, upgraded, feed: this.#feed });
    }
    const { controlSocket } = this.config;
    if (controlSocket !== false) void new ControlServer(this, this.#internal, this.#log, this.#feed).listen(controlSocket, upgraded);
    return supervisor.run();
  }

  /** HUP: start a new generation of workers (fresh code); old ones retire as new ones become ready. */
  reload(): void {
    this.#running().reload();
  }

  /** TTIN/TTOU: set the number of workers (>= 1); emits `nworkers_changed`. */
  scale(n: number): void {
    this.#running().scale(n);
  }

  /**
   * TERM (`graceful`, default) or QUIT. Resolves with the exit status, like `run()`; rejects with
   * an {@link ArbiterError} `ARBITER_ERR_STATE` before `run()` (it never throws).
   */
  stop(options: StopOptions = {}): Promise<number> {
    if (!this.#supervisor) return Promise.reject(new ArbiterError('ARBITER_ERR_STATE', 'stop() called before run()'));
    return this.#supervisor.stop(options.graceful ?? true);
  }

  /**
   * USR2: start a new master from the same entry script and `execArgv`, handing it the listening
   * sockets (it never rebinds). Emits `pre_exec`. Ignored, with a warning, while a previous new
   * master still lives. See docs/zero-downtime.md for the whole upgrade.
   */
  reexec(): void {
    this.#running().reexec();
  }

  /** USR1: the workers reopen their log files. */
  reopenLogs(): void {
    this.#running().reopenLogs();
  }

  /**
   * The master and a line per worker: the data of `arbiter status --json` and `/status`
   * ({@link ArbiterStats}). Each worker's figures come from its watchdog thread, so a blocked
   * worker still answers (its `heartbeatAge` grows); CPU % is measured over a 200 ms window, so
   * this takes about that long. Works from `run()` on, also once the arbiter has halted (then
   * with no workers). Nothing is sampled between calls.
   * @throws {@link ArbiterError} `ARBITER_ERR_STATE` before `run()` and in a worker.
   */
  stats(): Promise<ArbiterStats> {
    return collectStats(this.#started().inspect(), this.#tally, this.#startedAt);
  }

  /** The cheap part of {@link Arbiter.stats} (no worker is asked anything): one row of `arbiter ls --json`. */
  summary(): MasterSummary {
    return summarize(this.#started().inspect(), this.#startedAt);
  }

  /** The live workers, keyed by pid (read-only snapshots; empty before `run()` and in workers). */
  get workers(): ReadonlyMap<number, WorkerInfo> {
    return this.#supervisor?.workers() ?? new Map();
  }

  /** The target number of workers (changes with TTIN/TTOU/`scale()`, resets on reload). */
  get numWorkers(): number {
    return this.#supervisor?.target ?? this.config.workers;
  }

  #started(): Supervisor {
    if (!this.#supervisor) throw new ArbiterError('ARBITER_ERR_STATE', 'the arbiter has not started (call run() in the master first)');
    return this.#supervisor;
  }

  #running(): Supervisor {
    if (!this.#supervisor || !this.#supervisor.running) {
      throw new ArbiterError('ARBITER_ERR_STATE', 'the arbiter is not running (call run() in the master first)');
    }
    return this.#supervisor;
  }

  /**
   * Calls every listener as `emit()` would (its `context`, `once` listeners removed first), but
   * isolating failures: a throwing listener is logged, never fatal, and the others still run.
   * eventemitter3's `emit()` stops at the first throw and `listeners()` loses `once` and the
   * context, so this reads the records it keeps (`{ fn, context, once }`, one or an array).
   */
  #safeEmit(event: keyof ArbiterEvents, args: unknown[]): void {
    const stored = (this as unknown as { _events: Record<string, ListenerRecord | ListenerRecord[] | undefined> })._events[`${EventEmitter.prefixed || ''}${event}`];
    if (!stored) return;
    for (const { fn, context, once } of Array.isArray(stored) ? [...stored] : [stored]) {
      if (once) this.removeListener(event, fn as never, undefined, true);
      try {
        const r = fn.apply(context, args);
        if (r && typeof (r as Promise<unknown>).then === 'function') {
          (r as Promise<unknown>).catch((err: unknown) => this.#log.exception(`Exception in ${event} listener`, err));
        }
      } catch (err) {
        this.#log.exception(`Exception in ${event} listener`, err);
      }
    }
  }
}
