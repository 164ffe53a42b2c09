/**
 * Lifecycle of a worker as the master sees it. Only the supervisor's transition function writes it.
 *
 * - `booting`: spawned, loading the app (a spare, too, until it is warm; and a spare taking a
 *   slot over, until it accepts)
 * - `spare`: a warm spare (`spareWorkers`): the app is loaded, the process does not accept; it
 *   takes over the slot of the next worker that dies, times out or retires (slot −1 until then)
 * - `ready`: the app is loaded and the worker accepts connections
 * - `retiring`: asked to stop gracefully (reload, scale-down, shutdown, max_requests)
 * - `timed_out`: missed its heartbeat; being aborted (SIGABRT, then SIGKILL)
 * - `exited`: reaped
 */
export type WorkerState = 'booting' | 'spare' | 'ready' | 'retiring' | 'timed_out' | 'exited';

/** Why a worker is gone. Data, never a log string to parse. */
export type ExitReason =
  /** died without being asked to (non-zero exit, or killed by a signal the master did not send) */
  | 'crash'
  /** missed its heartbeat for `timeout` ms and was aborted */
  | 'timeout'
  /** served `maxRequests` requests and recycled itself */
  | 'max_requests'
  /** its RSS went over `maxWorkerMemory`: recycled gracefully, or killed if it kept growing past 1.5× while draining */
  | 'memory'
  /** replaced by a worker of a newer generation (HUP / `reload()`) */
  | 'reload'
  /** retired because the target count went down (TTOU / `scale()`) */
  | 'scale_down'
  /** stopped because the master is stopping */
  | 'shutdown'
  /** failed before it booted (exit status 3): the master halts */
  | 'boot_error'
  /** `load()` threw (exit status 4): the master halts */
  | 'app_load_error'
  /** exited with status 0 although nobody asked it to */
  | 'exit';

/**
 * Why the target worker count changed (`nworkers_changed`'s third argument):
 * - `manual`: `scale()`, TTIN/TTOU, `arbiter scale`
 * - `reload`: a reload's config has another `workers`
 * - `stop_workers`: WINCH retired every worker (target 0)
 * - `saturation`, `backlog`: adaptive workers added one (saturation at or above `scaleUpAt` for
 *   3 s; connections waiting in the accept queues for 2 s)
 * - `idle`: adaptive workers removed one (saturation at or below `scaleDownAt` for `scaleDownAfter`)
 */
export type ScaleChangeReason = 'manual' | 'reload' | 'stop_workers' | 'saturation' | 'backlog' | 'idle';

/** What the master knows about one worker. Objects handed to listeners are read-only snapshots. */
export interface WorkerInfo {
  /** Process id; `0` in `pre_fork`, before the process exists. */
  readonly pid: number;
  /** Spawn counter, strictly increasing over the master's life (gunicorn's `worker.age`). */
  readonly age: number;
  /**
   * Stable index `0..workers-1`; a replacement inherits the slot of the worker it replaces.
   * −1 for a spare until it takes a slot over.
   */
  readonly slot: number;
  /** Reload generation: bumped by every HUP / `reload()`. */
  readonly generation: number;
  /** Wall-clock time (ms since the epoch) when the worker was spawned. */
  readonly bootedAt: number;
  /** Current state, see {@link WorkerState}. */
  readonly state: WorkerState;
}

/** How a worker ended. */
export interface WorkerExit {
  /** Exit status, or `null` when killed by a signal. */
  readonly code: number | null;
  /** Signal name (`'SIGKILL'`), or `null` when it exited by itself. */
  readonly signal: NodeJS.Signals | null;
  /** Why, see {@link ExitReason}. */
  readonly reason: ExitReason;
}

/** A request a worker had in flight when it timed out (read from its in-flight table, see `WORKER TIMEOUT`). */
export interface CutRequest {
  /** `GET`, `POST`, … */
  readonly method: string;
  /** The request target without its query string (`/orders/42`). */
  readonly path: string;
  /** How long it had been in flight when the stall was reported, milliseconds. */
  readonly ageMs: number;
  /** Its `x-request-id` header, when it had one. */
  readonly requestId?: string;
}

/** Detail of a `worker_timeout` event. */
export interface TimeoutDetail {
  /** The configured `timeout`, milliseconds. */
  readonly timeout: number;
  /**
   * `'heartbeat'` when the worker's watchdog reported a stalled event loop; `'boot'` when the worker
   * did not call `run()` within `timeout` of starting, or was not ready within `bootTimeout`.
   */
  readonly kind: 'heartbeat' | 'boot';
  /**
   * The JavaScript stack of the stalled thread when the timeout was detected (`    at fn
   * (file:line:col)` lines, innermost first), as logged under `WORKER TIMEOUT`. Absent when
   * it could not be taken: the thread ran no JavaScript (an idle event loop, e.g. a `sync` request
   * waiting for I/O, or a blocking system call), or the timeout was a boot deadline.
   */
  readonly stack?: string;
  /**
   * The requests the stalled thread had in flight, oldest first (as logged under `WORKER TIMEOUT`).
   * Present for `'heartbeat'` timeouts (empty when it had none); absent for boot deadlines.
   */
  readonly requests?: readonly CutRequest[];
  /** In-flight requests beyond those listed (the table holds 64 per serving loop); absent when none. */
  readonly moreRequests?: number;
}

/** Detail of a `reload_failed` event. */
export interface ReloadFailure {
  /** The generation that failed to boot. */
  readonly generation: number;
  /**
   * Why: `'config_error'` (the entry script threw or its config is invalid, so no worker was
   * started; or a new `bind` address could not be bound), `'app_load_error'`, `'boot_error'`,
   * `'crash'` or `'boot_timeout'`.
   */
  readonly reason: 'config_error' | 'app_load_error' | 'boot_error' | 'crash' | 'boot_timeout';
  /** How many workers of the previous generation keep serving. */
  readonly keptWorkers: number;
  /**
   * Why, in one line, when it is known: the error a worker of the new generation failed with — its
   * first line and where it is in the app's code, e.g.
   * `SyntaxError: Unexpected token ';' (/srv/app/routes.mjs:12)` — or what the config probe reported.
   */
  readonly error?: string;
}

/** Detail of a `generation_ready` event. */
export interface GenerationReady {
  /** The generation: 0 for the workers started with the master, then one more per reload. */
  readonly generation: number;
  /** How many of its workers are ready: the target count. */
  readonly workers: number;
}

/** Detail of a `reloaded` event. */
export interface ReloadSuccess {
  /** The generation that now serves. */
  readonly generation: number;
  /** How many workers of that generation are live (booting or ready) when the old generation is retired. */
  readonly workers: number;
}

/**
 * The events of an {@link Arbiter}, with their argument types. Names follow gunicorn's hooks.
 * The compiler checks every `on()`/`emit()` against this map.
 */
export interface ArbiterEvents {
  /** Before listeners are bound (`on_starting`). */
  starting: () => void;
  /**
   * Listeners bound and the loop running (`when_ready`); addresses like `http://127.0.0.1:8000`,
   * `http://[::1]:8000`, `unix:/tmp/s` — `tcp://127.0.0.1:9000` when the worker model does not
   * serve HTTP (a custom `WorkerClass` that is not an `HttpWorker`).
   */
  ready: (addresses: string[]) => void;
  /** Just before a worker is spawned (`pre_fork`); `worker.pid` is 0. */
  pre_fork: (worker: WorkerInfo) => void;
  /** A worker process exists (`post_fork`, master side). */
  spawn: (worker: WorkerInfo) => void;
  /** The worker loaded the app and accepts work (`post_worker_init`); also a spare that took a slot over. */
  worker_ready: (worker: WorkerInfo) => void;
  /** A spare (`spareWorkers`) has loaded the app and waits, not accepting, to take a slot over (state `'spare'`, slot −1). */
  spare_ready: (worker: WorkerInfo) => void;
  /** The worker missed its heartbeat and is being aborted (`WORKER TIMEOUT`). */
  worker_timeout: (worker: WorkerInfo, detail: TimeoutDetail) => void;
  /** A worker was reaped (`child_exit`). */
  child_exit: (worker: WorkerInfo, exit: WorkerExit) => void;
  /** A worker is gone (`worker_exit`). */
  worker_exit: (worker: WorkerInfo, exit: WorkerExit) => void;
  /**
   * Every worker of a generation is ready for the first time: the whole target count of it, at
   * start (generation 0) and after each reload (then just before `reloaded`). Once per generation;
   * also logged (`Generation 2 ready (4 workers)`).
   */
  generation_ready: (detail: GenerationReady) => void;
  /**
   * The target worker count changed (`nworkers_changed`), and why (see {@link ScaleChangeReason};
   * a listener written for `(next, previous)` keeps working).
   */
  nworkers_changed: (next: number, previous: number, reason: ScaleChangeReason) => void;
  /** HUP / `reload()` (`on_reload`). */
  reload: () => void;
  /**
   * The workers of a reload failed to boot (load() threw, they crashed, or missed `bootTimeout`):
   * they were stopped and the previous generation keeps serving. No new workers are spawned
   * until the next reload (the code on disk is broken), unless no worker is left at all.
   */
  reload_failed: (detail: ReloadFailure) => void;
  /**
   * USR1: the master was asked to reopen log files (logrotate's `postrotate`). Reopen the files
   * the host writes here; every worker runs its `onReopenLogs` hook.
   */
  reopen_logs: () => void;
  /**
   * A reload succeeded: its new generation is ready and every worker of the previous one has been
   * told to retire (they may still be draining). The counterpart of `reload_failed`.
   */
  reloaded: (detail: ReloadSuccess) => void;
  /** Just before a USR2 re-exec (`pre_exec`). */
  pre_exec: () => void;
  /** The master is about to halt with this status (`on_exit`). */
  exit: (code: number) => void;
}
