import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { WorkerInfo, WorkerState } from '../events.js';
import type { WorkerVitals } from '../protocol.js';
import { VERSION } from '../version.js';
import type { Tally } from './tally.js';
import { readBacklog, type BacklogSource } from './backlog.js';

/**
 * One worker in {@link ArbiterStats} (`arbiter status --json`, `/status`). Durations are
 * milliseconds, sizes bytes. A figure is `null` when it cannot be known: the worker's watchdog
 * did not answer (the worker has not loaded the arbiter package yet, or is exiting) and, for
 * `rss` and `cpu`, `/proc` could not tell either (not Linux).
 */
export interface WorkerStats {
  /** Process id. */
  pid: number;
  /** Stable slot `0..workers-1` (a replacement inherits it). */
  slot: number;
  /** Reload generation the worker was spawned for. */
  generation: number;
  /** `booting`, `ready`, `spare`, `retiring` or `timed_out` (see {@link WorkerState}). */
  state: WorkerState;
  /** Milliseconds since the worker was spawned. */
  uptime: number;
  /** Requests finished so far (every serving loop of the process). */
  requests: number | null;
  /** Requests being handled now. */
  inflight: number | null;
  /** Resident set size, bytes. */
  rss: number | null;
  /**
   * CPU use in percent of one core (a `threaded` worker can exceed 100), measured over a short
   * window (200 ms) when `stats()` is called — like `top`, so a spinning worker
   * shows ~100% however long it idled before. One decimal. Where Node has
   * `process.threadCpuUsage()` it leaves out the worker's watchdog thread, which answers the query.
   */
  cpu: number | null;
  /**
   * Milliseconds since the stalest event loop of the worker last proved it runs. Small (below
   * the heartbeat period, at most 1 s) while the worker is healthy; it keeps growing while the
   * worker is blocked, because the figure comes from the worker's watchdog thread, not from its
   * event loop.
   */
  heartbeatAge: number | null;
  /**
   * Event-loop utilization (0–1) of the worker's serving loop over the last 5 s: the share of
   * wall time the loop spent running code rather than waiting for I/O
   * (`performance.eventLoopUtilization()`). A `threaded` worker: the mean of its serving threads.
   * A blocked loop counts as fully used from its last sample on.
   */
  elu: number | null;
  /**
   * Event-loop delay p99 over the last 5 s, milliseconds (`monitorEventLoopDelay`): how late a
   * timer, and so a new connection, gets its turn. A `threaded` worker: its worst thread.
   */
  loopDelayP99: number | null;
  /** V8 heap in use, bytes (`v8.getHeapStatistics().used_heap_size`; a `threaded` worker: all its isolates). */
  heapUsed: number | null;
  /** V8 heap size limit, bytes (`heap_size_limit`, summed like `heapUsed`). */
  heapLimit: number | null;
  /** Requests finished per second over the last 10 s (over its life while the worker is younger). */
  reqRate: number | null;
}

/**
 * The master and its workers, as returned by `arbiter.stats()`, `arbiter status --json` and the
 * `/status` endpoint. Durations are milliseconds, sizes bytes.
 */
export interface ArbiterStats {
  /** The master's process id. */
  pid: number;
  /** The arbiter package version the master runs. */
  version: string;
  /** `procName`, or `null` when none is set. */
  name: string | null;
  /** The addresses the master listens on (`http://127.0.0.1:8000`, `unix:/run/app.sock`). */
  binds: string[];
  /** The worker model (`'async'`, `'sync'`, `'threaded'`, or a custom class's name). */
  workerClass: string;
  /** Target number of workers (changes with `scale()` / TTIN / TTOU and adaptive workers; resets on reload to a fixed `workers`). */
  target: number;
  /** Adaptive workers (`workers: { min, max }`): the fewest the master runs; `null` for a fixed number. */
  min: number | null;
  /** Adaptive workers: the most the master runs; `null` for a fixed number. */
  max: number | null;
  /** Workers that are ready and accept connections now (of any generation, so during a reload it can exceed `target`). */
  ready: number;
  /** The current generation (what new workers are spawned for); every reload moves it on. */
  generation: number;
  /** Milliseconds since the master started (`run()`). */
  uptime: number;
  /** Reloads acted on (HUP / `reload()`), successful or not. */
  reloads: number;
  /** Workers replaced without an operator asking: crashed, timed out, recycled, failed to boot (exits with reason `reload`, `scale_down` or `shutdown` do not count). */
  restarts: number;
  /**
   * Mean `elu` (0–1) of the ready workers: how busy the pool is — the number to autoscale on
   * (docs/design.md, "Saturation"). `null` when no ready worker reports one.
   */
  saturation: number | null;
  /**
   * Connections waiting in the binds' accept queues (no worker has accepted them yet), summed over
   * the binds. `null` where it cannot be read: off Linux, or only unix-socket binds.
   */
  backlog: number | null;
  /** Every worker the master has not reaped yet, oldest first. */
  workers: WorkerStats[];
}

/** One master in `arbiter ls --json` (the cheap part of {@link ArbiterStats}: no worker is asked anything). */
export interface MasterSummary {
  /** The master's process id. */
  pid: number;
  /** `procName`, or `null`. */
  name: string | null;
  /** The addresses the master listens on. */
  binds: string[];
  /** Target number of workers. */
  workers: number;
  /** Workers ready now. */
  ready: number;
  /** The current generation. */
  generation: number;
  /** Milliseconds since the master started. */
  uptime: number;
  /**
   * The master's working directory (where it was started, unless it changed directory since):
   * a control command that changes something acts, without a target, only on the master
   * started from the directory it runs in.
   */
  cwd: string;
}

/** What the stats read from the supervisor (its `inspect()`). */
export interface SupervisorView {
  /** Current generation. */
  readonly generation: number;
  /** Target number of workers. */
  readonly target: number;
  /** Adaptive workers' bounds; `null` for a fixed number. */
  readonly range: { readonly min: number; readonly max: number } | null;
  /** Listener URLs. */
  readonly binds: string[];
  /** The listening sockets (URL and the master's fd), for the accept queues ({@link readBacklog}). */
  readonly listeners: readonly BacklogSource[];
  /** `procName` (may change on reload). */
  readonly procName: string | null;
  /** Worker model name. */
  readonly workerClass: string;
  /** Every unreaped worker: its snapshot and a query to its watchdog. */
  readonly workers: readonly {
    info: WorkerInfo;
    vitals(deadline: number): Promise<WorkerVitals | undefined>;
    /** The app's prom-client metrics, for `/metrics` (see `WorkerHandle.appMetrics`). */
    appMetrics(deadline: number): Promise<unknown[][] | null | undefined>;
  }[];
}

/** Milliseconds between the two CPU samples `stats()` takes of each worker. */
export const CPU_WINDOW = 200;
/** How long (ms) `stats()` waits for a worker's watchdog to answer before falling back to `/proc`. */
const VITALS_DEADLINE = 1000;

/** Linux's USER_HZ, the unit of `/proc/<pid>/stat` CPU times (fixed at 100 by the kernel ABI). */
const USER_HZ = 100;

/** RSS (bytes) and CPU time (ms) of `pid` from `/proc`; `undefined` when unreadable (not Linux, gone). */
export function procVitals(pid: number): { rss: number; cpu: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // fields after "(comm)": state is field 3, utime 14, stime 15
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cpu = ((Number(fields[11]) + Number(fields[12])) * 1000) / USER_HZ;
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    if (!kb || !Number.isFinite(cpu)) return undefined;
    return { rss: Number(kb[1]) * 1024, cpu };
  } catch {
    return undefined;
  }
}

/** One sample of a worker (see {@link sampleWorkers}). */
export interface WorkerSample {
  /** The worker's snapshot. */
  info: WorkerInfo;
  /** Its figures: everything from its watchdog; only `rss` and `cpu` (ms) from `/proc` when the watchdog did not answer; `undefined` when neither could tell. */
  vitals: (Pick<WorkerVitals, 'cpu' | 'rss'> & Partial<WorkerVitals>) | undefined;
  /** `performance.now()` when the figures arrived. */
  at: number;
}

/**
 * Asks every worker for its figures once, in parallel, through the watchdog channel (answered by
 * the watchdog thread, so a blocked worker still reports, its heartbeat age growing). `/proc` is
 * only the fallback for a worker whose watchdog does not answer: the watchdog's figures are
 * portable (`process.cpuUsage()`, `process.memoryUsage.rss()` in the worker) and it alone knows
 * requests, in-flight and heartbeat. (For `/metrics`: cumulative CPU time is `vitals.cpu`.)
 */
export function sampleWorkers(view: SupervisorView): Promise<WorkerSample[]> {
  return Promise.all(
    view.workers.map(async (w) => {
      const vitals = (await w.vitals(VITALS_DEADLINE)) ?? procVitals(w.info.pid);
      return { info: w.info, vitals, at: performance.now() };
    }),
  );
}

const round1 = (n: number): number => Math.round(n * 10) / 10;

/**
 * The worker's CPU time without its watchdog thread's, where the watchdog could tell
 * (`process.threadCpuUsage()`): answering the two queries of a {@link CPU_WINDOW} costs that thread
 * a few ms, which an idle worker's CPU % would otherwise show (0.2–0.6% instead of ~0.1%, Node 24).
 */
const workerCpu = (v: Pick<WorkerVitals, 'cpu' | 'ownCpu'>): number => v.cpu - (v.ownCpu ?? 0);

/**
 * Builds the master's stats. Workers are sampled twice ({@link sampleWorkers}), {@link CPU_WINDOW}
 * ms apart, for their CPU use now; nothing runs between calls, so an idle master pays nothing.
 */
export async function collectStats(view: SupervisorView, tally: Tally, startedAt: number): Promise<ArbiterStats> {
  const first = await sampleWorkers(view);
  await new Promise((r) => setTimeout(r, CPU_WINDOW));
  const second = await sampleWorkers(view);
  const now = Date.now();
  const workers = view.workers.map(({ info }, i): WorkerStats => {
    const a = first[i]!;
    const b = second[i]!;
    const v = b.vitals;
    const cpu = a.vitals && v && b.at > a.at ? Math.max(0, round1(((workerCpu(v) - workerCpu(a.vitals)) / (b.at - a.at)) * 100)) : null;
    return {
      pid: info.pid,
      slot: info.slot,
      generation: info.generation,
      state: info.state,
      uptime: Math.max(0, now - info.bootedAt),
      requests: v?.requests ?? null,
      inflight: v?.inflight ?? null,
      rss: v?.rss ?? null,
      cpu,
      heartbeatAge: v?.heartbeatAge ?? null,
      elu: v?.elu ?? null,
      loopDelayP99: v?.loopDelayP99 ?? null,
      heapUsed: v?.heapUsed ?? null,
      heapLimit: v?.heapLimit ?? null,
      reqRate: v?.reqRate ?? null,
    };
  });
  const { reloads, restarts } = tally.counts();
  const m = summarize(view, startedAt);
  return {
    pid: m.pid,
    version: VERSION,
    name: m.name,
    binds: m.binds,
    workerClass: view.workerClass,
    target: m.workers,
    min: view.range?.min ?? null,
    max: view.range?.max ?? null,
    ready: m.ready,
    generation: m.generation,
    uptime: m.uptime,
    reloads: reloads.started,
    restarts,
    saturation: saturation(workers),
    backlog: readBacklog(view.listeners).total,
    workers,
  };
}

/** Mean `elu` of the ready workers that report one (3 decimals); `null` when none does. */
export function saturation(workers: readonly Pick<WorkerStats, 'state' | 'elu'>[]): number | null {
  const elus = workers.filter((w) => w.state === 'ready' && w.elu !== null).map((w) => w.elu!);
  return elus.length === 0 ? null : Math.round((elus.reduce((a, b) => a + b, 0) / elus.length) * 1000) / 1000;
}

/** `process.cwd()`, or `''` when it cannot be read (the directory was removed). */
function workingDir(): string {
  try {
    return process.cwd();
  } catch {
    return '';
  }
}

/** The `ls` row of this master: no worker is asked anything. */
export function summarize(view: SupervisorView, startedAt: number): MasterSummary {
  return {
    pid: process.pid,
    name: view.procName,
    binds: [...view.binds],
    workers: view.target,
    ready: view.workers.filter((w) => w.info.state === 'ready').length,
    generation: view.generation,
    uptime: Math.round(performance.now() - startedAt),
    cwd: workingDir(),
  };
}
