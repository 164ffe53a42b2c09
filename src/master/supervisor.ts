import { performance } from 'node:perf_hooks';
import { autoWorkers, MAX_WORKERS, type ResolvedConfig } from '../config.js';
import type { Emit } from './bus.js';
import { ArbiterError } from '../errors.js';
import type { ExitReason, ReloadFailure, WorkerExit, WorkerInfo, WorkerState } from '../events.js';
import { OperatorLog } from '../log.js';
import { trace } from '../trace.js';
import { APP_LOAD_ERROR, WORKER_BOOT_ERROR, type WorkerMessage } from '../protocol.js';
import { VERSION } from '../version.js';
import { announcedUrl, openListeners, systemdBinds, upgradeListeners, type MasterListener } from './listeners.js';
import { listenerScheme, modelName, modelWarnings, resolveModel } from '../models/registry.js';
import { setProcessTitle } from '../title.js';
import { Pidfile } from './pidfile.js';
import { planWorkers } from './plan.js';
import { pickSpare, planSpares } from './spares.js';
import { AppBinds } from './app-binds.js';
import { BalanceTable } from './balance-table.js';
import { onMemoryReport } from './memory.js';
import { shareUnixSockets, workerIdentity, type WorkerIdentity } from './privileges.js';
import { BUDGET_EXHAUSTED, RestartBudget, UNPLANNED } from './restarts.js';
import { QUICK_DEATH, RESTART_BACKOFF_MIN, RestartBackoff } from './backoff.js';
import { classifyExit } from './exit-reason.js';
import { SignalQueue } from './signals.js';
import { Generations } from './generations.js';
import { Reloads } from './reload.js';
import { Handover } from './handover.js';
import { BootFailures, Deadlines, nextDeadline } from './deadlines.js';
import { ListenRequests } from './listen-requests.js';
import type { SupervisorView } from './stats.js';
import { ProcessWorkerHandle, type WorkerHandleEvents } from './worker-handle.js';
import { isLive, snapshot, transition, type WorkerRecord } from './worker-record.js';
import { nothingLeft, startingRoom, usableSlots, waveMessage } from './spawn-waves.js';

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
  #phase: 'new' | 'starting' | 'running' | 'stopping' | 'halted' = 'new';
  #exitCode = 0;
  #haltReason: string | undefined;
  /** What the first workers wait for (see holdFirstSpawn), and whether the loop waits for it now. */
  #firstSpawnHolds: Promise<unknown>[] = [];
  #holding = false;
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
  /** `maxRestarts` / `restartWindow`. */
  readonly #budget: RestartBudget;
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
    this.#reloads = new Reloads({
      log: this.log,
      emit,
      generations: this.#gen,
      running: () => this.#phase === 'running',
      workers: () => this.#workers.values(),
      serving: () => ({ config: this.#config, listeners: this.#listeners, threads: this.#threads, target: this.target }),
      serve: (state) => {
        ({ config: this.#config, listeners: this.#listeners, threads: this.#threads, target: this.target } = state);
      },
      rebinds: () => !this.#fixedListeners && !this.#bindOnDemand,
      opened: (added) => this.#opened(added),
      scale: (n) => this.scale(n),
      retire: (w, reason) => this.#retire(w, reason),
      wakeup: () => this.wakeup(),
    });
    this.#deadlines = new Deadlines({
      log: this.log,
      emit,
      config: () => this.#config,
      reloadFailed: (w, reason) => this.#reloadFailed(w, reason),
      bootFailed: (w) => this.#bootFailed(w),
      wakeup: () => this.wakeup(),
    });
    this.#bindOnDemand = options.bindOnDemand === true;
    this.#appBinds = new AppBinds(config.backlog, this.log, (l) => this.#opened([l]));
    this.#listenRequests = new ListenRequests(
      {
        log: this.log,
        running: () => this.#phase === 'running',
        config: () => this.#config,
        listeners: () => this.#listeners,
        adopt: (opened) => {
          this.#opened(opened);
          this.#listeners.push(...opened);
        },
        cannotServe: (err) => {
          // status 1, as when binding at start fails; once a worker was ready, only that request fails
          if (this.#bootFailures.everReady) return;
          this.log.error(err instanceof Error ? err.message : String(err));
          void this.stop(true, 1);
        },
      },
      this.#appBinds,
    );
    this.target = config.workers;
    this.#threads = resolveModel(config).inThreads ? config.threads : 0;
    this.#budget = new RestartBudget(config.maxRestarts, config.restartWindow);
    this.done = new Promise((r) => (this.#resolve = r));
  }

  /** Binds, spawns, and resolves with the exit status once halted. */
  async run(): Promise<number> {
    if (this.#phase !== 'new') throw new ArbiterError('ARBITER_ERR_STATE', 'run() was already called on this Arbiter');
    this.#phase = 'starting';
    const config = this.#config;
    if (!process.argv[1]) {
      this.log.error('arbiter needs an entry script (node server.js): workers re-run it, so it cannot run from -e or a REPL');
      this.#exitCode = 1;
      this.#finish();
      return this.done;
    }
    const log = this.log;
    this.#emit('starting');
    log.info(`Starting arbiter ${VERSION}`);
    if (process.pid === 1) {
      log.warning('The master runs as PID 1: Node does not reap orphaned processes it did not start, so zombies would pile up. Run it under an init: docker run --init, tini, or dumb-init.');
    }
    // Handlers first, so a TERM during the bind retries stops cleanly instead of killing us.
    this.#signals.install(() => this.wakeup());
    try {
      this.#identity = workerIdentity(config.user, config.group);
      const inherited = upgradeListeners();
      if (config.pidfile) {
        // A master started by USR2 writes <pidfile>.2 and takes over <pidfile> when the old one exits.
        this.#pidfile = new Pidfile(inherited ? `${config.pidfile}.2` : config.pidfile);
        this.#pidfile.create(process.pid);
      }
      if (inherited) this.#handover.awaitPromotion(() => this.#phase === 'halted', this.#pidfile, config.pidfile);
      const systemd = inherited ? undefined : systemdBinds();
      this.#fixedListeners = systemd !== undefined;
      const listeners =
        inherited ?? (await openListeners(systemd ?? (this.#bindOnDemand ? [] : config.bind), config.backlog, log, () => this.#phase !== 'starting'));
      if (this.#phase !== 'starting') {
        for (const l of listeners) l.close(); // stopped while binding
        return this.done;
      }
      this.#appBinds.adopt(listeners); // a USR2 master: the old master's sockets for the app's own listen()
      this.#listeners = listeners.filter((l) => !l.appKey);
      shareUnixSockets(listeners, this.#identity, config.umask);
    } catch (err) {
      if (this.#phase !== 'starting') return this.done; // stopped while binding: not a failure
      log.error(err instanceof Error ? err.message : String(err));
      this.#exitCode = 1;
      this.#finish();
      return this.done;
    }
    const scheme = listenerScheme(config); // tcp:// for a model that does not serve HTTP
    for (const l of [...this.#listeners, ...this.#appBinds.listeners]) this.#announce(l);
    if (this.#bindOnDemand && this.#listeners.length === 0 && this.#appBinds.listeners.length === 0) {
      log.info(`No bind given: the app's own listen() calls choose the addresses (an exported handler is served on ${config.bind.join(', ')})`);
    }
    log.info(`Using worker: ${modelName(config.workerClass)}`, { workerClass: modelName(config.workerClass) });
    const auto = autoWorkers(config);
    if (auto) log.info(`Using ${auto.count} worker${auto.count === 1 ? '' : 's'} (workers: 'auto': ${auto.how})`, { workers: auto.count });
    if (this.#identity.description) log.info(`Workers run as ${this.#identity.description}`);
    for (const warning of modelWarnings(config)) log.warning(warning);
    if (config.procName) setProcessTitle(`arbiter: master [${config.procName}]`, log);
    this.#phase = 'running';
    this.#emit('ready', this.#listeners.map((l) => announcedUrl(l.url, scheme)));
    if (this.#firstSpawnHolds.length > 0) {
      // The loop does not turn meanwhile (signals wait in the queue): nothing is spawned.
      this.#holding = true;
      const keepAlive = setInterval(() => {}, 60_000); // no worker holds the event loop yet
      await Promise.all(this.#firstSpawnHolds); // e.g. the status server binding statusBind
      clearInterval(keepAlive);
      this.#firstSpawnHolds = [];
      this.#holding = false;
    }
    this.wakeup();
    return this.done;
  }

  /** Called from a `ready` listener: the first workers are spawned only once `work` has settled (a master that fails to start never serves). */
  holdFirstSpawn(work: Promise<unknown>): void {
    this.#firstSpawnHolds.push(work.catch(() => undefined));
  }

  /** Schedules one pass of the loop (coalesced). */
  wakeup(): void {
    if (this.#tickQueued || this.#holding || this.#phase === 'halted') return;
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
      binds: [...this.#listeners, ...this.#appBinds.listeners].map((l) => l.url),
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

  /** Changes the target number of workers (at least 1). */
  scale(n: number): void {
    if (!Number.isInteger(n) || n < 1) {
      throw new ArbiterError('ARBITER_ERR_CONFIG', `Expected \`scale(n)\` to get a positive integer, got ${String(n)}`);
    }
    if (n > MAX_WORKERS) throw new ArbiterError('ARBITER_ERR_CONFIG', `Expected \`scale(n)\` to get at most ${MAX_WORKERS} (the limit on workers per master), got ${n}`);
    if (this.#phase !== 'running' || n === this.target) return;
    const previous = this.target;
    this.target = n;
    this.#emit('nworkers_changed', n, previous);
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
    if (this.#phase === 'new') {
      this.#exitCode = code;
      this.#finish();
      return this.done;
    }
    if (this.#phase === 'halted') return this.done;
    const escalate = this.#phase === 'stopping';
    this.#phase = 'stopping';
    if (!escalate) this.#exitCode = code; // the first reason to stop sets the status
    this.#haltReason ??= reason;
    if (!escalate) {
      // A new master started by USR2 is the service from now on: say so before anything says
      // "stopping" (systemd stops the whole unit on STOPPING=1 from its main process, and it
      // only accepts MAINPID= while the unit runs).
      if (this.#handover.child) this.#emit('handover', this.#handover.child.pid!);
      this.#emit('stopping', graceful);
    }
    // A quick stop closes our copy of the sockets now. A graceful one keeps it until every worker
    // has stopped accepting (checked on each pass of the loop), so connections queued in the kernel are
    // still taken by draining workers instead of being reset.
    if (!graceful) this.#closeListeners();
    const now = performance.now();
    for (const w of this.#workers.values()) {
      if (w.state === 'exited' || w.state === 'timed_out') continue;
      if (escalate && graceful) continue;
      w.reason ??= 'shutdown';
      if (w.state !== 'retiring') transition(w, 'retiring');
      w.handle.kill(graceful ? 'SIGTERM' : 'SIGQUIT');
      if (w.killAt === undefined || !escalate) w.killAt = now + this.#config.gracefulTimeout;
    }
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
    if (previous !== 0) this.#emit('nworkers_changed', 0, previous);
    this.wakeup();
  }

  // ---- the loop -------------------------------------------------------------------------

  #tick(): void {
    this.#tickQueued = false;
    if (this.#phase === 'halted' || this.#holding) return; // run() wakes the loop when the hold ends
    this.#signals.handle(this);
    this.#deadlines.enforce(this.#workers.values(), performance.now());
    if (this.#phase === 'running') {
      this.#manageWorkers();
      this.#announceGeneration();
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

  /** Applies {@link planWorkers}: spawn up to the target (a warm spare first), retire the oldest surplus; then the spares. */
  #manageWorkers(): void {
    const now = performance.now();
    let room = startingRoom(this.#workers.values());
    const usable = usableSlots(this.#workers.values(), room, this.#backoff.waitingCount(now));
    const plan = planWorkers([...this.#workers.values()].filter((w) => !w.spare), this.target, this.#gen.current, usable);
    // After a failed reload the code on disk is the broken one: spawn nothing (a warm spare, which
    // runs the code that works, may still take a slot over) until the next reload.
    let canSpawn = true;
    if (this.#gen.spawnPaused && plan.spawn.length > 0) {
      if (!nothingLeft(this.#workers.values())) canSpawn = false;
      else {
        this.log.warning('No worker left after the failed reload: spawning with the current code.');
        this.#gen.resumeSpawning();
      }
    }
    let spawned = 0;
    for (const slot of plan.spawn) {
      if (this.#backoff.waiting(slot, now)) continue; // crash-looping slot: wait
      const spare = pickSpare(this.#workers.values(), this.#gen.current);
      if (spare) this.#promote(spare, slot);
      else if (!canSpawn || room-- <= 0) break; // the next wave starts when one of these reaches run()
      else if (!this.#spawn(slot)) return;
      else spawned++;
    }
    if (spawned > 0) {
      const missing = this.target - [...this.#workers.values()].filter((w) => !w.spare && w.generation === this.#gen.current && isLive(w)).length;
      this.log.debug(waveMessage(spawned, this.#gen.current, missing));
    }
    for (const { pid, reason } of plan.retire) {
      const w = this.#workers.get(pid);
      if (w) this.#retire(w, reason);
    }
    const spares = planSpares(this.#workers.values(), this.#config.spareWorkers, this.#gen.current);
    for (const { pid, reason } of spares.retire) this.#retire(this.#workers.get(pid)!, reason);
    const spareBackoff = this.#backoff.waiting(-1, now);
    for (let i = 0; i < spares.spawn && !this.#gen.spawnPaused && !spareBackoff && room-- > 0; i++) if (!this.#spawn(-1, true)) return; // spares start in waves too
  }

  /** `generation_ready` once per generation, when the target count of its workers is ready. */
  #announceGeneration(): void {
    const ready = this.#gen.whole(this.#workers.values(), this.target);
    if (ready === undefined) return;
    const generation = this.#gen.current;
    this.log.info(`Generation ${generation} ready (${ready} worker${ready === 1 ? '' : 's'})`, { generation, workers: ready });
    this.#emit('generation_ready', Object.freeze({ generation, workers: ready }));
  }

  /** A warm spare takes `slot` over: it only has to start accepting (it reports ready as a worker does). */
  #promote(w: WorkerRecord, slot: number): void {
    if (!transition(w, 'booting')) return;
    w.spare = false;
    w.slot = slot;
    w.promotedAt = Date.now();
    if (this.#config.bootTimeout > 0) w.readyBy = performance.now() + this.#config.bootTimeout;
    this.log.info(`Spare worker (pid:${w.pid}) takes over slot ${slot}`);
    w.handle.send({ cmd: 'serve', slot });
  }

  #spawn(slot: number, spare = false): WorkerRecord | undefined {
    const age = ++this.#age;
    const base = { pid: 0, age, slot, generation: this.#gen.current, bootedAt: Date.now(), state: 'booting' as WorkerState };
    this.#emit('pre_fork', snapshot(base));
    let rec: WorkerRecord | undefined;
    try {
      const handle = new ProcessWorkerHandle(
        {
          age,
          slot,
          generation: base.generation,
          fds: this.#listeners.map((l) => l.fd),
          copies: this.#threads || 1,
          slots: 1 + this.#threads,
          env: this.#config.env,
          timeout: this.#config.timeout,
          bootTimeout: this.#config.bootTimeout,
          maxMemory: this.#config.maxWorkerMemory,
          uid: this.#identity.uid,
          gid: this.#identity.gid,
          umask: this.#config.umask ?? undefined,
          balance: this.#balance,
          spare,
          bindOnDemand: this.#bindOnDemand && this.#listeners.length === 0,
        },
        {
          message: (msg) => rec && this.#onMessage(rec, msg),
          watchdog: (report) => rec && this.#onWatchdog(rec, report),
        },
      );
      rec = { ...base, pid: handle.pid, handle, killSent: false, spare };
    } catch (err) {
      const reason = (err as { reason?: Promise<Error> }).reason;
      if (reason) void reason.then((cause) => this.log.error(`${(err as Error).message}: ${cause.message}`, { reason: 'boot_error' }));
      else this.log.exception('Error spawning a worker', err);
      this.stop(true, WORKER_BOOT_ERROR, 'Worker failed to boot.');
      return undefined;
    }
    const w = rec;
    if (this.#config.bootTimeout > 0) w.readyBy = performance.now() + this.#config.bootTimeout;
    this.#workers.set(w.pid, w);
    this.log.info(`Booting ${spare ? 'spare ' : ''}worker with pid: ${w.pid}`, { worker: w.pid, slot: w.slot, generation: w.generation, ...(spare ? { spare: true } : {}) });
    this.#emit('spawn', snapshot(w));
    void w.handle.exited.then(({ code, signal }) => {
      // `boot_failed` was sent before the exit, but may be read in the same turn of the event
      // loop after it: handle the exit once that turn is over, so a failed reload has its reason.
      if ((code === APP_LOAD_ERROR || code === WORKER_BOOT_ERROR) && w.failure === undefined) setImmediate(() => this.#onExit(w, code, signal));
      else this.#onExit(w, code, signal);
    });
    return w;
  }

  #retire(w: WorkerRecord, reason: ExitReason): void {
    if (!transition(w, 'retiring')) return;
    this.log.debug(`Retiring worker (pid:${w.pid}) of generation ${w.generation}, slot ${w.slot}: ${reason}`, { worker: w.pid, reason });
    w.reason = reason;
    w.killAt = performance.now() + this.#config.gracefulTimeout;
    w.handle.kill('SIGTERM');
  }

  /** A worker did not get as far as `run()`: a reload's new generation rolls back; else {@link BootFailures} decides between a retry and a halt (status 3). */
  #bootFailed(w: WorkerRecord): void {
    if (this.#phase !== 'running' || this.#reloadFailed(w, 'boot_error')) return;
    if (this.#bootFailures.failed()) this.stop(true, WORKER_BOOT_ERROR, 'Worker failed to boot.');
  }

  #onMessage(w: WorkerRecord, msg: WorkerMessage): void {
    switch (msg.cmd) {
      case 'run':
        w.ran = true;
        this.#bootFailures.ran();
        break; // no state change, but the next process may start now (MAX_STARTING)
      case 'ready':
        w.readyBy = undefined;
        this.#bootFailures.ready();
        if (w.state === 'booting' && transition(w, 'ready')) this.#emit('worker_ready', snapshot(w));
        break;
      case 'spare_ready':
        w.readyBy = undefined;
        if (w.spare && w.state === 'booting' && transition(w, 'spare')) this.#emit('spare_ready', snapshot(w));
        break;
      case 'retiring':
        if (transition(w, 'retiring')) {
          w.reason = msg.reason;
          w.killAt = performance.now() + this.#config.gracefulTimeout;
        }
        break;
      case 'accept_stopped':
        w.acceptStopped = true;
        break;
      case 'boot_failed':
        w.failure = msg.error;
        break;
      case 'listen':
        void this.#listenRequests.answer(w, msg);
        return;
    }
    this.wakeup();
  }

  #onWatchdog(w: WorkerRecord, report: Parameters<WorkerHandleEvents['watchdog']>[0]): void {
    if (report.t === 'hello') trace.master('worker %d: watchdog running', w.pid);
    else if (report.t === 'memory') {
      if (onMemoryReport(w, report.rss, this.#config.maxWorkerMemory, this.log)) this.wakeup(); // see memory.ts
    } else if (this.#config.timeout > 0) {
      trace.master('worker %d: slot %d stalled for %d ms; stack taken in %d ms', w.pid, report.slot, report.ms, report.captureMs ?? -1);
      this.#deadlines.timedOut(w, w.ran ? 'heartbeat' : 'boot', report);
    }
  }

  #onExit(w: WorkerRecord, code: number | null, signal: NodeJS.Signals | null): void {
    // A promoted spare is 'booting' until it accepts, but it has loaded the app and run(): its
    // death is a crash (it may have been exiting already when it was given the slot), not a boot failure.
    const wasBooting = w.state === 'booting' && w.promotedAt === undefined;
    transition(w, 'exited');
    this.#workers.delete(w.pid);
    this.#appBinds.release(w.pid);
    const { reason, lines } = classifyExit({ pid: w.pid, code, signal, asked: w.reason, wasBooting, killSent: w.killSent });
    for (const { message, fields } of lines) this.log.error(message, fields);

    if (reason === 'crash' || reason === 'exit') this.#noteUnplannedDeath(w);
    const budget = UNPLANNED.has(reason) && this.#phase === 'running' ? this.#budget.note(performance.now()) : undefined;

    const info = snapshot(w);
    const exit: WorkerExit = Object.freeze({ code, signal, reason });
    this.#emit('child_exit', info, exit);
    this.#emit('worker_exit', info, exit);

    if (this.#phase === 'running' && wasBooting && !w.reason) {
      const failure = reason === 'app_load_error' || reason === 'boot_error' || reason === 'crash' ? reason : undefined;
      if (failure && this.#reloadFailed(w, failure)) {
        // the previous generation keeps serving
      } else if (reason === 'app_load_error') this.stop(true, APP_LOAD_ERROR, `App failed to load${w.failure ? `: ${w.failure}` : ''}.`);
      else if (reason === 'boot_error') this.stop(true, WORKER_BOOT_ERROR, 'Worker failed to boot.');
    }
    if (budget?.exhausted && this.#phase === 'running') {
      const why = this.#budget.describe(budget.count);
      this.log.error(why);
      this.stop(true, BUDGET_EXHAUSTED, why);
    }
    this.wakeup();
  }

  /** Restart backoff (see backoff.ts) for a worker that went away on its own. */
  #noteUnplannedDeath(w: WorkerRecord): void {
    const lived = Date.now() - (w.promotedAt ?? w.bootedAt);
    const d = this.#backoff.noteDeath(w.slot, lived, performance.now());
    if (!d.quick) {
      this.log.debug(`Slot ${w.slot}: its worker lived ${lived} ms: respawning at once${d.reset ? ' (restart backoff reset)' : ''}`);
      return;
    }
    const { deaths, delay } = d;
    if (delay > 0) this.log.warning(`Worker in slot ${w.slot} died ${deaths} times in a row within ${QUICK_DEATH} ms of starting: respawning in ${delay} ms`, { worker: w.pid, slot: w.slot });
    else this.log.debug(`Slot ${w.slot}: its worker died ${lived} ms after starting: respawning at once (a second such death in a row waits ${RESTART_BACKOFF_MIN} ms)`);
  }

  /** A worker of the current generation failed to boot: roll back to the previous one if it serves (see reload.ts). */
  #reloadFailed(w: WorkerRecord, reason: ReloadFailure['reason']): boolean {
    return this.#reloads.failed(w, reason);
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

  #finish(): void {
    if (this.#phase === 'halted') return;
    this.#phase = 'halted';
    if (this.#timer) clearTimeout(this.#timer);
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
