import { performance } from 'node:perf_hooks';
import { workerRange, type ResolvedConfig } from '../config.js';
import type { Emit } from './bus.js';
import { ArbiterError } from '../errors.js';
import type { ExitReason, ReloadFailure, ScaleChangeReason, WorkerInfo } from '../events.js';
import { OperatorLog } from '../log.js';
import { WORKER_BOOT_ERROR } from '../protocol.js';
import { VERSION } from '../version.js';
import { announcedUrl, type MasterListener } from './listeners.js';
import { listenerScheme, modelName, resolveModel } from '../models/registry.js';
import { setProcessTitle } from '../title.js';
import type { Pidfile } from './pidfile.js';
import { AppBinds } from './app-binds.js';
import { BalanceTable } from './balance-table.js';
import { shareUnixSockets, type WorkerIdentity } from './privileges.js';
import { RestartBudget } from './restarts.js';
import { RestartBackoff } from './backoff.js';
import { SignalQueue } from './signals.js';
import { Generations } from './generations.js';
import { Reloads } from './reload.js';
import { watchForReload, type FileWatch } from './file-watch.js';
import { Handover } from './handover.js';
import { BootFailures, Deadlines, nextDeadline } from './deadlines.js';
import { ListenRequests } from './listen-requests.js';
import type { SupervisorView } from './stats.js';
import { snapshot, type WorkerRecord } from './worker-record.js';
import { announceGeneration, manageWorkers, retire, type ManageHost } from './manage.js';
import { spawnWorker, type SpawnHost } from './worker-spawn.js';
import { bindAtStart, FirstSpawnHold, NO_ENTRY_SCRIPT, PID1_WARNING, startupFacts, startupLines, type Bound } from './startup.js';
import { stopStep, stopWorkers, type Phase } from './shutdown.js';
import { Autoscaler, checkScale, clampScale, clampToRange, policyOf, settledPool } from './autoscale.js';

export type { Emit } from './bus.js';

/**
 * The private engine behind `Arbiter` (master side): the worker table, the signal queue and the
 * loop. The loop is event-driven: it runs when a signal, a worker message, a watchdog report or
 * an exit arrives, or when a kill deadline is due — never on a fixed tick, so an idle master
 * sleeps.
 */
export class Supervisor {
  readonly log: OperatorLog;
  /** Target number of workers of the current generation. */
  target: number;
  #config: ResolvedConfig;
  readonly #emit: Emit;
  readonly #workers = new Map<number, WorkerRecord>();
  readonly #signals = new SignalQueue();
  #listeners: MasterListener[] = [];
  #pidfile: Pidfile | undefined;
  /** The reload generations: the current one, the last proven state, rollback (see generations.ts). */
  readonly #gen = new Generations();
  #age = 0;
  #phase: Phase = 'new';
  #exitCode = 0;
  #haltReason: string | undefined;
  /** `reload` (development): the app's files, watched (see file-watch.ts). */
  #fileWatch: FileWatch | undefined;
  /** What the first workers wait for (see holdFirstSpawn). */
  readonly #hold = new FirstSpawnHold();
  #tickQueued = false;
  /** Serving threads per worker (`inThreads` models), 0 when the main thread serves. */
  #threads: number;
  /** Workers that did not reach run(): retried once, or the master halts (see deadlines.ts). */
  readonly #bootFailures = new BootFailures();
  /** Listeners came from systemd: a reload keeps them whatever `bind` says. */
  #fixedListeners = false;
  #timer: NodeJS.Timeout | undefined;
  #resolve!: (code: number) => void;
  /** Restart backoff per slot: workers that died soon after they started wait to be respawned. */
  readonly #backoff = new RestartBackoff();
  /** HUP: probe, new generation, rollback, settle (see reload.ts). */
  readonly #reloads: Reloads;
  /** Boot and kill deadlines, timeouts (see deadlines.ts). */
  readonly #deadlines: Deadlines;
  /** The USR2 upgrade: a new master this one started, or the old master this one replaces. */
  readonly #handover: Handover;
  /** `user` / `group`: who the workers run as. */
  #identity: WorkerIdentity = { uid: undefined, gid: undefined, description: undefined };
  /** Where workers publish their connection counts for fair-share accepting (none: greedy). */
  readonly #balance = BalanceTable.open();
  /** No `bind` was given for an app module: the master binds what its workers ask for (see `app-binds.ts`). */
  readonly #bindOnDemand: boolean;
  /** Sockets bound for apps that call listen() themselves. */
  readonly #appBinds: AppBinds;
  /** Sockets workers ask for: their app's own listen(), or the default bind opened on demand. */
  readonly #listenRequests: ListenRequests;
  /** What managing the workers (manage.ts) and starting one (worker-spawn.ts) read and call. */
  readonly #manage: ManageHost;
  readonly #spawner: SpawnHost;
  /** Adaptive workers (`workers: { min, max }`): samples the pool once a second while on (see autoscale.ts). */
  readonly #autoscale: Autoscaler;
  readonly done: Promise<number>;

  /**
   * @param config - resolved config; @param emit - event sink of the host `Arbiter`
   * @param options.bindOnDemand - bind nothing at start: workers ask for sockets (an app module run without `bind`)
   */
  constructor(config: ResolvedConfig, emit: Emit, options: { bindOnDemand?: boolean } = {}) {
    this.#config = config;
    this.#emit = emit;
    this.log = OperatorLog.from(config);
    this.#handover = new Handover(this.log, emit);
    this.#bindOnDemand = options.bindOnDemand === true;
    this.target = config.workers;
    this.#threads = resolveModel(config).inThreads ? config.threads : 0;
    this.done = new Promise((r) => (this.#resolve = r));
    // What the modules read and call back (each takes the part its interface names).
    const core = {
      log: this.log,
      emit,
      config: () => this.#config,
      running: () => this.#phase === 'running',
      retire: (w: WorkerRecord, reason: ExitReason) => retire(w, reason, this.#config.gracefulTimeout, this.log),
      reloadFailed: (w: WorkerRecord, reason: ReloadFailure['reason']) => this.#reloads.failed(w, reason),
      stop: (graceful: boolean, code: number, reason?: string) => void this.stop(graceful, code, reason),
      wakeup: () => this.wakeup(),
    };
    this.#reloads = new Reloads({
      ...core,
      generations: this.#gen,
      workers: () => this.#workers.values(),
      serving: () => ({ config: this.#config, listeners: this.#listeners, threads: this.#threads, target: this.target }),
      serve: (state) => {
        ({ config: this.#config, listeners: this.#listeners, threads: this.#threads, target: this.target } = state);
      },
      rebinds: () => !this.#fixedListeners && !this.#bindOnDemand,
      opened: (added) => this.#opened(added),
      scale: (n) => this.scale(clampToRange(workerRange(this.#config) ? this.target : n, workerRange(this.#config)), 'reload'), // adaptive: the count stays, within the new bounds
    });
    const [policy, settled] = [() => policyOf(workerRange(this.#config), this.#config), () => settledPool(this.#workers.values(), this.target, this.#gen.current)];
    this.#autoscale = new Autoscaler({ log: this.log, policy, settled, view: () => this.inspect(), active: () => this.#phase === 'running' && !this.#gen.probing && this.target > 0, scale: (n, reason) => this.scale(n, reason) });
    this.#deadlines = new Deadlines({ ...core, bootFailed: (w) => this.#bootFailed(w) });
    this.#appBinds = new AppBinds(config.backlog, this.log, (l) => this.#opened([l]));
    const listenHost = {
      ...core,
      listeners: () => this.#listeners,
      adopt: (opened: readonly MasterListener[]) => {
        this.#opened(opened);
        this.#listeners.push(...opened);
      },
      cannotServe: (err: unknown) => {
        // status 1, as when binding at start fails; once a worker was ready, only that request fails
        if (this.#bootFailures.everReady) return;
        this.log.error(err instanceof Error ? err.message : String(err));
        void this.stop(true, 1);
      },
    };
    this.#listenRequests = new ListenRequests(listenHost, this.#appBinds);
    const tables = { workers: this.#workers, backoff: this.#backoff, generations: this.#gen };
    this.#manage = { ...core, ...tables, target: () => this.target, spawn: (slot, spare) => spawnWorker(this.#spawner, slot, spare) };
    this.#spawner = {
      ...core,
      ...tables,
      balance: this.#balance,
      bindOnDemand: this.#bindOnDemand,
      messages: { ...core, bootFailures: this.#bootFailures, deadlines: this.#deadlines, listen: (w, msg) => void this.#listenRequests.answer(w, msg), watch: (files) => this.#fileWatch?.add(files) },
      exits: { ...core, ...tables, appBinds: this.#appBinds, budget: new RestartBudget(config.maxRestarts, config.restartWindow) },
      listeners: () => this.#listeners,
      threads: () => this.#threads,
      identity: () => this.#identity,
      generation: () => this.#gen.current,
      nextAge: () => ++this.#age,
    };
  }

  /** Binds, spawns, and resolves with the exit status once halted. */
  async run(): Promise<number> {
    if (this.#phase !== 'new') throw new ArbiterError('ARBITER_ERR_STATE', 'run() was already called on this Arbiter');
    this.#phase = 'starting';
    if (!process.argv[1]) {
      this.log.error(NO_ENTRY_SCRIPT);
      return this.#halt(1);
    }
    this.#emit('starting');
    this.log.info(`Starting arbiter ${VERSION}`);
    if (process.pid === 1) this.log.warning(PID1_WARNING);
    // Handlers first, so a TERM during the bind retries stops cleanly instead of killing us.
    this.#signals.install(() => this.wakeup());
    await this.#start();
    return this.done;
  }

  /** Binds (see startup.ts), says what it serves with, and starts the loop. */
  async #start(): Promise<void> {
    const config = this.#config;
    let bound: Bound | undefined;
    try {
      bound = await bindAtStart({
        config,
        log: this.log,
        handover: this.#handover,
        appBinds: this.#appBinds,
        bindOnDemand: this.#bindOnDemand,
        starting: () => this.#phase === 'starting',
        halted: () => this.#phase === 'halted',
        pidfile: (p) => (this.#pidfile = p),
      });
    } catch (err) {
      if (this.#phase !== 'starting') return; // stopped while binding: not a failure
      this.log.error(err instanceof Error ? err.message : String(err));
      void this.#halt(1);
      return;
    }
    if (!bound) return; // stopped while binding
    ({ identity: this.#identity, fixedListeners: this.#fixedListeners, listeners: this.#listeners } = bound);
    for (const l of [...this.#listeners, ...this.#appBinds.listeners]) this.#announce(l);
    const nothingBound = this.#bindOnDemand && this.#listeners.length === 0 && this.#appBinds.listeners.length === 0;
    for (const { level, message, fields } of startupLines(startupFacts(config, this.#identity, nothingBound))) this.log[level](message, fields);
    if (config.procName) setProcessTitle(`arbiter: master [${config.procName}]`, this.log);
    this.#phase = 'running';
    this.#autoscale.update();
    if (config.reload) this.#fileWatch = watchForReload(config, this.log, () => this.reload());
    this.#emit('ready', this.#listeners.map((l) => announcedUrl(l.url, listenerScheme(config))));
    if (this.#hold.pending) await this.#hold.wait(); // the loop does not turn meanwhile: nothing is spawned
    this.wakeup();
  }

  /** Called from a `ready` listener: the first workers are spawned only once `work` has settled (a master that fails to start never serves). */
  holdFirstSpawn(work: Promise<unknown>): void {
    this.#hold.add(work);
  }

  /** Schedules one pass of the loop (coalesced). */
  wakeup(): void {
    if (this.#tickQueued || this.#hold.holding || this.#phase === 'halted') return;
    this.#tickQueued = true;
    setImmediate(() => this.#tick());
  }

  /** Read-only view of the workers, keyed by pid. */
  workers(): ReadonlyMap<number, WorkerInfo> {
    return new Map([...this.#workers].map(([pid, w]) => [pid, snapshot(w)]));
  }

  /** What `stats()` reads (see stats.ts): plain values and each worker's vitals query; the loop is not involved. */
  inspect(): SupervisorView {
    return {
      generation: this.#gen.current,
      target: this.target,
      range: workerRange(this.#config) ?? null,
      binds: [...this.#listeners.map((l) => (this.#config.certfile !== null ? announcedUrl(l.url, 'https') : l.url)), ...this.#appBinds.listeners.map((l) => l.url)],
      listeners: [...this.#listeners, ...this.#appBinds.listeners],
      procName: this.#config.procName,
      workerClass: modelName(this.#config.workerClass),
      workers: [...this.#workers.values()].map((w) => ({ info: snapshot(w), vitals: (deadline: number) => w.handle.vitals(deadline), appMetrics: (deadline: number) => w.handle.appMetrics(deadline) })),
    };
  }

  get running(): boolean {
    return this.#phase === 'running';
  }

  /**
   * HUP: re-read the config (a short-lived probe evaluates the entry script, as a new worker
   * would), open any new `bind` address, then start a new generation of workers with fresh code;
   * the old generation retires once the new one is ready. If the config cannot be read, or the new
   * workers fail to boot, the old generation keeps serving (`reload_failed`).
   */
  reload(): void {
    if (this.#phase !== 'running') return;
    this.#reloads.start();
  }

  /** Changes the target number of workers (at least 1; adaptive workers: clamped to [min, max], logged). */
  scale(n: number, reason: ScaleChangeReason = 'manual'): void {
    checkScale(n);
    if (this.#phase !== 'running') return;
    n = clampScale(n, workerRange(this.#config), this.log);
    if (n === this.target) return;
    const previous = this.target;
    this.target = n;
    this.#emit('nworkers_changed', n, previous, reason);
    this.wakeup();
  }

  /**
   * USR1: emits `reopen_logs` (the host reopens its own files) and asks every worker, over IPC,
   * to reopen theirs (the `onReopenLogs` hook). No signal goes to the workers.
   */
  reopenLogs(): void {
    this.#emit('reopen_logs');
    for (const w of this.#workers.values()) w.handle.send({ cmd: 'reopen_logs' });
  }

  /** TERM (graceful) or INT/QUIT (quick). Resolves with the exit status. */
  stop(graceful: boolean, code = this.#exitCode, reason?: string): Promise<number> {
    const step = stopStep(this.#phase);
    if (step === 'halt') return this.#halt(code);
    if (step === 'none') return this.done;
    const escalate = step === 'escalate';
    this.#phase = 'stopping';
    this.#autoscale.stop();
    this.#fileWatch?.close();
    this.#haltReason ??= reason;
    if (!escalate) {
      this.#exitCode = code; // the first reason to stop sets the status
      // A new master started by USR2 is the service from now on: say so before anything says
      // "stopping" (systemd stops the whole unit on STOPPING=1 from its main process, and it
      // only accepts MAINPID= while the unit runs).
      if (this.#handover.child) this.#emit('handover', this.#handover.child.pid!);
      this.#emit('stopping', graceful);
      this.#reloads.cancel(); // a HUP's config probe under way is killed: the stop does not wait for it
    }
    // A quick stop closes our copy of the sockets now. A graceful one keeps it until every worker
    // has stopped accepting (checked on each pass of the loop), so connections queued in the kernel are
    // still taken by draining workers instead of being reset.
    if (!graceful) this.#closeListeners();
    stopWorkers(this.#workers.values(), graceful, escalate, performance.now(), this.#config.gracefulTimeout);
    this.wakeup();
    return this.done;
  }

  /** USR2: start a new master on the same sockets (see handover.ts). */
  reexec(): void {
    if (this.#phase !== 'running') return;
    this.#handover.reexec([...this.#listeners, ...this.#appBinds.listeners]);
  }

  /** WINCH: retire every worker gracefully, keeping the master (HUP or TTIN brings workers back). */
  retireAll(): void {
    if (this.#phase !== 'running') return;
    this.log.info('graceful stop of workers');
    const previous = this.target;
    this.target = 0;
    if (previous !== 0) this.#emit('nworkers_changed', 0, previous, 'stop_workers');
    this.wakeup();
  }

  // ---- the loop -------------------------------------------------------------------------

  #tick(): void {
    this.#tickQueued = false;
    if (this.#phase === 'halted' || this.#hold.holding) return; // run() wakes the loop when the hold ends
    this.#signals.handle(this);
    this.#deadlines.enforce(this.#workers.values(), performance.now());
    if (this.#phase === 'running') {
      manageWorkers(this.#manage);
      announceGeneration(this.#manage);
      this.#reloads.settle();
    }
    if (this.#phase === 'stopping') {
      if ([...this.#workers.values()].every((w) => w.acceptStopped)) this.#closeListeners();
      if (this.#workers.size === 0) {
        this.#finish();
        return;
      }
    }
    this.#armTimer();
  }

  #armTimer(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    const next = Math.min(nextDeadline(this.#workers.values()), this.#backoff.nextDue(performance.now()));
    if (next === Infinity) return;
    this.#timer = setTimeout(() => this.wakeup(), Math.max(0, Math.ceil(next - performance.now())));
  }

  /** A worker did not get as far as `run()`: a reload's new generation rolls back; else {@link BootFailures} decides between a retry and a halt (status 3). */
  #bootFailed(w: WorkerRecord): void {
    if (this.#phase !== 'running' || this.#reloads.failed(w, 'boot_error')) return;
    if (this.#bootFailures.failed()) this.stop(true, WORKER_BOOT_ERROR, 'Worker failed to boot.');
  }

  /** Closes our copies of the listening sockets — unless a new master (USR2) serves on them: closing a unix listener would unlink its path. */
  #closeListeners(): void {
    if (this.#handover.child) return;
    for (const l of new Set([...this.#listeners, ...this.#gen.keptListeners])) l.close();
    this.#appBinds.close();
    this.#listeners = [];
    this.#gen.forget();
  }

  /** Listeners opened while running: shared with the workers' user (unix sockets), then announced. */
  #opened(listeners: readonly MasterListener[]): void {
    shareUnixSockets(listeners, this.#identity, this.#config.umask);
    for (const l of listeners) this.#announce(l);
  }

  /** `Listening at: <url> (<pid>)`, as gunicorn. */
  #announce(l: MasterListener): void {
    const url = announcedUrl(l.url, listenerScheme(this.#config));
    this.log.info(`Listening at: ${url} (${process.pid})`, { address: url });
  }

  /** Halts at once with status `code` (nothing to drain). */
  #halt(code: number): Promise<number> {
    this.#exitCode = code;
    this.#finish();
    return this.done;
  }

  #finish(): void {
    if (this.#phase === 'halted') return;
    this.#phase = 'halted';
    if (this.#timer) clearTimeout(this.#timer);
    this.#autoscale.stop();
    this.#fileWatch?.close();
    this.#closeListeners();
    this.#balance?.close();
    this.#pidfile?.unlink();
    this.#handover.release();
    this.#signals.uninstall();
    this.log.info('Shutting down: Master');
    if (this.#haltReason) this.log.info(`Reason: ${this.#haltReason}`, { code: this.#exitCode });
    this.#emit('exit', this.#exitCode); // the control socket's file is removed here, synchronously
    this.#handover.letGo();
    process.exitCode = this.#exitCode;
    this.#resolve(this.#exitCode);
  }
}
