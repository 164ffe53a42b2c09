import type { ResolvedConfig } from '../config.js';
import type { CutRequest, ReloadFailure, TimeoutDetail } from '../events.js';
import type { OperatorLog } from '../log.js';
import { ABORT_GRACE, type WatchdogReport } from '../protocol.js';
import { trace } from '../trace.js';
import type { Emit } from './bus.js';
import { snapshot, transition, type WorkerRecord } from './worker-record.js';

/**
 * How long after SIGABRT a timed-out worker's main thread has to start its SIGABRT handler; if it
 * does not (a spinning loop never will), its watchdog SIGKILLs it at once. {@link ABORT_GRACE} stays
 * the backstop (a handler that runs but does not finish, or no watchdog).
 */
export const ABORT_WATCH = 50;

/** A watchdog's report of a stalled thread. */
export type Stall = Extract<WatchdogReport, { t: 'stalled' }>;

/** What the deadlines need from the loop. */
export interface DeadlineHost {
  readonly log: OperatorLog;
  readonly emit: Emit;
  /** The current config (`timeout`, `bootTimeout`). */
  config(): ResolvedConfig;
  /** A worker of a reload failed: true when the previous generation took over again (see generations.ts). */
  reloadFailed(w: WorkerRecord, reason: ReloadFailure['reason']): boolean;
  /** A worker never reached `run()`: the loop decides between a retry and a halt. */
  bootFailed(w: WorkerRecord): void;
  wakeup(): void;
}

/** The earliest deadline among the workers (SIGKILL due, ready due), Infinity for none. */
export function nextDeadline(workers: Iterable<WorkerRecord>): number {
  let next = Infinity;
  for (const w of workers) {
    if (w.killAt !== undefined && !w.killSent) next = Math.min(next, w.killAt);
    if (w.readyBy !== undefined) next = Math.min(next, w.readyBy);
  }
  return next;
}

/**
 * A worker that has not reached `run()` by its deadline hangs when it has no watchdog at all
 * (stuck before the package was even loaded) or its event loop has not beaten for a while;
 * a loop that beats runs an entry script that never calls `run()`.
 */
export function isHung(vitals: { heartbeatAge: number } | undefined, timeout: number): boolean {
  return !vitals || (timeout > 0 && vitals.heartbeatAge >= Math.max(1000, timeout / 2));
}

/** Requests listed on the `WORKER TIMEOUT` lines at most (the `worker_timeout` event and JSON logs have them all). */
export const LISTED_REQUESTS = 10;

/** One request of a `WORKER TIMEOUT`: `GET /orders/42 (31012 ms, x-request-id 7f3a)`. */
export function requestLine(r: CutRequest): string {
  return `${r.method} ${r.path} (${r.ageMs} ms${r.requestId !== undefined ? `, x-request-id ${r.requestId}` : ''})`;
}

/**
 * The `WORKER TIMEOUT` line, then the requests the stalled thread had in flight and its JavaScript
 * stack when the watchdog took them. `withRequests: false` leaves the requests out (JSON logs carry them as a field).
 */
export function timeoutMessage(pid: number, stall: Stall | undefined, withRequests = true): string {
  const thread = stall && stall.slot > 0 ? ` (serving thread ${stall.slot})` : '';
  let requests = '';
  if (withRequests && stall?.requests) {
    const all = stall.requests;
    const more = all.length - Math.min(all.length, LISTED_REQUESTS) + (stall.more ?? 0);
    requests =
      all.length === 0 && !more
        ? `\nNo request in flight${thread}`
        : `\nRequests in flight${thread}:` + all.slice(0, LISTED_REQUESTS).map((r) => `\n  ${requestLine(r)}`).join('') + (more > 0 ? `\n  … and ${more} more` : '');
  }
  const detail = stall?.stack
    ? `\nJavaScript stack of the stalled thread${thread}:\n${stall.stack}`
    : stall?.noStack
      ? `\nNo JavaScript stack${thread}: ${stall.noStack}`
      : '';
  return `WORKER TIMEOUT (pid:${pid})${requests}${detail}`;
}

/** A request from a watchdog's report, checked field by field (the report comes from another process). */
function cutRequest(r: CutRequest): CutRequest {
  const out = { method: String(r.method), path: String(r.path), ageMs: Number(r.ageMs) || 0 };
  return typeof r.requestId === 'string' ? { ...out, requestId: r.requestId } : out;
}

/**
 * The workers' deadlines: ready within `bootTimeout` (and `run()` reached by then), SIGKILL once
 * a stop's grace has passed, and what a missed one or a stalled heartbeat does to the worker.
 */
export class Deadlines {
  readonly #host: DeadlineHost;

  constructor(host: DeadlineHost) {
    this.#host = host;
  }

  /** Acts on every deadline passed at monotonic time `now`. */
  enforce(workers: Iterable<WorkerRecord>, now: number): void {
    const host = this.#host;
    for (const w of workers) {
      if (w.readyBy !== undefined && now >= w.readyBy) {
        w.readyBy = undefined;
        if (w.state === 'booting' && !w.ran) this.#runDeadline(w);
        else if (w.state === 'booting' && !host.reloadFailed(w, 'boot_timeout')) {
          host.log.error(`Worker (pid:${w.pid}) was not ready within bootTimeout (${host.config().bootTimeout} ms)`, { worker: w.pid, reason: 'boot_timeout' });
          this.timedOut(w, 'boot');
        }
      }
      if (w.killAt !== undefined && now >= w.killAt && !w.killSent) {
        trace.master('worker %d: deadline passed, SIGKILL', w.pid);
        w.killSent = true;
        w.handle.kill('SIGKILL');
      }
    }
  }

  /** The worker missed its heartbeat or its boot deadline: `worker_timeout`, then SIGABRT (a stack) or SIGKILL. */
  timedOut(w: WorkerRecord, kind: TimeoutDetail['kind'], stall?: Stall): void {
    if (!transition(w, 'timed_out')) return;
    const host = this.#host;
    w.reason = 'timeout';
    const json = host.config().logFormat === 'json';
    // Before the worker serves, its loop runs the entry script or load(): no request to name.
    const requests = kind === 'heartbeat' ? stall?.requests?.map(cutRequest) : undefined;
    host.log.critical(timeoutMessage(w.pid, stall, !json && kind === 'heartbeat'), {
      worker: w.pid,
      reason: 'timeout',
      noStack: stall?.noStack,
      requests,
      moreRequests: (requests && stall?.more) || undefined,
    });
    host.emit('worker_timeout', snapshot(w), {
      timeout: host.config().timeout,
      kind,
      ...(stall?.stack ? { stack: stall.stack } : {}),
      ...(requests ? { requests } : {}),
      ...(requests && stall?.more ? { moreRequests: stall.more } : {}),
    });
    // Its replacement does not wait for what follows: a timed-out worker no longer counts.
    if (stall?.stack && stall.slot === 0) {
      // The main thread was running JavaScript after `timeout` ms without a beat: a loop that never
      // returns, whose SIGABRT handler could never run. Kill at once.
      w.killSent = true;
      w.handle.kill('SIGKILL');
    } else {
      // The loop may be free (an idle loop, a stalled serving thread): SIGABRT runs `workerAbort`.
      // If the handler does not start within ABORT_WATCH ms, the watchdog SIGKILLs the process;
      // ABORT_GRACE is the backstop (a handler that does not finish, or no watchdog).
      w.handle.abort(ABORT_WATCH);
      w.killAt = performance.now() + ABORT_GRACE;
    }
    if (!w.ran) host.bootFailed(w);
    host.wakeup();
  }

  /** The worker did not reach `run()` within `bootTimeout` of its spawn: its watchdog says whether it hangs ({@link isHung}). */
  #runDeadline(w: WorkerRecord): void {
    const { timeout } = this.#host.config();
    void w.handle.vitals(250).then((vitals) => {
      if (w.ran || w.state !== 'booting') return;
      if (isHung(vitals, timeout)) this.timedOut(w, 'boot');
      else this.#didNotRun(w);
    });
  }

  /** The worker's event loop runs, but its entry script never called `run()`. */
  #didNotRun(w: WorkerRecord): void {
    if (!transition(w, 'timed_out')) return;
    const host = this.#host;
    w.reason = 'boot_error';
    const { timeout, bootTimeout } = host.config();
    host.log.error(
      `Worker (pid:${w.pid}) did not call run() within ${bootTimeout} ms (bootTimeout) of starting: does the entry script call run() in every process?`,
      { worker: w.pid, reason: 'boot_error' },
    );
    host.emit('worker_timeout', snapshot(w), { timeout, kind: 'boot' });
    w.killSent = true;
    w.handle.kill('SIGKILL');
    host.bootFailed(w);
    host.wakeup();
  }
}

/**
 * Workers that do not get as far as `run()` (they hung or idled in their entry script): a boot
 * failure, never a respawn loop. The master halts (status 3) when no worker was ever ready or
 * the previous attempt failed the same way, and retries once when the failure may have been a
 * passing one.
 */
export class BootFailures {
  #everReady = false;
  /** Workers in a row that did not reach run(). */
  #notRunning = 0;

  /** Some worker has been ready. */
  get everReady(): boolean {
    return this.#everReady;
  }

  /** A worker reached `run()`. */
  ran(): void {
    this.#notRunning = 0;
  }

  /** A worker reported ready. */
  ready(): void {
    this.#everReady = true;
  }

  /** A worker did not reach `run()`: true when the master must halt. */
  failed(): boolean {
    this.#notRunning += 1;
    return !this.#everReady || this.#notRunning >= 2;
  }
}
