import { performance } from 'node:perf_hooks';
import type { ExitReason, WorkerState } from '../events.js';
import type { OperatorLog } from '../log.js';
import { appPromClient } from '../prom.js';
import { trace } from '../trace.js';
import type { MasterEventSource } from './bus.js';
import { readBacklog } from './backlog.js';
import { sampleWorkers, saturation, type SupervisorView } from './stats.js';
import { QUEUE_BUCKETS, SHED_REASONS } from '../worker/loop-sampler.js';
import type { Tally } from './tally.js';

/** The content type of the Prometheus text exposition format. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** How long (ms) a scrape waits for a worker's app metrics unless the scraper allows less. */
export const APP_METRICS_DEADLINE = 1000;

/** Worker states shown by `arbiter_workers{state}` (always all of them, zeros included). */
const STATES: readonly WorkerState[] = ['booting', 'ready', 'spare', 'retiring', 'timed_out'];
/** Exit reasons always shown by `arbiter_worker_exits_total{reason}`, so alert rules find a series; others appear once seen. */
const BASE_REASONS: readonly ExitReason[] = ['crash', 'timeout', 'max_requests', 'reload', 'scale_down', 'shutdown', 'boot_error', 'app_load_error', 'exit'];

type Labels = Readonly<Record<string, string | number>>;
type Sample = readonly [Labels | undefined, number];

/** The names this page defines (an app metric with one of them is left out: a page must not repeat a name). */
export const METRIC_NAMES = [
  'arbiter_workers',
  'arbiter_workers_target',
  'arbiter_worker_spawns_total',
  'arbiter_worker_exits_total',
  'arbiter_worker_timeouts_total',
  'arbiter_reloads_total',
  'arbiter_requests_total',
  'arbiter_worker_resident_memory_bytes',
  'arbiter_worker_cpu_seconds_total',
  'arbiter_worker_heartbeat_age_seconds',
  'arbiter_master_uptime_seconds',
  'arbiter_worker_event_loop_utilization',
  'arbiter_worker_event_loop_delay_p99_seconds',
  'arbiter_worker_heap_used_bytes',
  'arbiter_saturation',
  'arbiter_listen_backlog',
  'arbiter_shed_total',
  'arbiter_request_queue_seconds',
  'arbiter_scale_events_total',
] as const;

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function value(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return '+Inf';
  if (n === -Infinity) return '-Inf';
  return String(Number(n.toPrecision(15))); // 0.316901, not 0.31690100000000004
}

/** One metric family in the text exposition format: `# HELP`, `# TYPE`, then its samples (a histogram's are named `_bucket`, `_sum`, `_count`). */
function family(name: (typeof METRIC_NAMES)[number], type: 'counter' | 'gauge' | 'histogram', help: string, samples: readonly Sample[], suffixes: readonly string[] = []): string {
  let out = `# HELP ${name} ${help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}\n# TYPE ${name} ${type}\n`;
  samples.forEach(([labels, v], i) => {
    const l = labels && Object.keys(labels).length > 0 ? `{${Object.entries(labels).map(([k, x]) => `${k}="${escapeLabel(String(x))}"`).join(',')}}` : '';
    out += `${name}${suffixes[i] ?? ''}${l} ${value(v)}\n`;
  });
  return out;
}

/** A histogram's samples from per-bucket counts (not cumulative; +Inf last) and the sum: buckets, then `_sum` and `_count`. */
function histogram(name: (typeof METRIC_NAMES)[number], help: string, bounds: readonly number[], counts: readonly number[], sum: number): string {
  const samples: Sample[] = [];
  let total = 0;
  counts.forEach((n, i) => {
    total += n;
    samples.push([{ le: i < bounds.length ? value(bounds[i]!) : '+Inf' }, total]);
  });
  samples.push([undefined, sum], [undefined, total]);
  return family(name, 'histogram', help, samples, [...counts.map(() => '_bucket'), '_sum', '_count']);
}

/** Adds `b` into `a`, index by index (a worker's counters into a total). */
function addInto(a: number[], b: readonly number[]): void {
  b.forEach((n, i) => (a[i] = (a[i] ?? 0) + n));
}

/**
 * The `/metrics` page: the master's own figures (SPEC §10 names) and the app's prom-client
 * metrics summed across workers. Everything is gathered when a scrape asks — worker figures from
 * each worker's watchdog thread, the app's metrics over IPC — so nothing runs while nobody scrapes.
 *
 * Counters never go backwards when workers are replaced: the last figures seen of a worker that
 * has exited (requests served, CPU time) are carried over into the totals. What a worker did
 * between the last scrape and its exit is not known, so it is not counted.
 */
export class MetricsPage {
  readonly #tally: Tally;
  readonly #startedAt: () => number;
  /** Workers from `spawn` to `worker_exit`: only their figures are recorded. */
  readonly #live = new Map<number, number>(); // pid -> slot
  /** The last figures seen of each live worker. */
  readonly #seen = new Map<number, { slot: number; requests: number; cpu: number; shed: number[]; queue: number[] }>();
  #retiredRequests = 0;
  /** Shed requests (per reason) and queue-time histogram (per bucket, then the sum) of exited workers. */
  readonly #retiredShed: number[] = SHED_REASONS.map(() => 0);
  readonly #retiredQueue: number[] = new Array<number>(QUEUE_BUCKETS.length + 2).fill(0);
  /** CPU milliseconds of exited workers, per slot. */
  readonly #retiredCpu = new Map<number, number>();
  /** The last app metrics each live worker answered, used when it does not answer in time (a blocked worker). */
  readonly #appCache = new Map<number, unknown[][]>();
  readonly #log: OperatorLog;
  #warned = false;

  /**
   * @param events - the master's event bus (spawns and exits)
   * @param tally - the master's event counters
   * @param startedAt - `performance.now()` when the master started
   * @param log - where a failure to merge the app's metrics is reported (once)
   */
  constructor(events: MasterEventSource, tally: Tally, startedAt: () => number, log: OperatorLog) {
    this.#tally = tally;
    this.#log = log;
    this.#startedAt = startedAt;
    events.on('spawn', (w) => this.#live.set(w.pid, w.slot));
    events.on('worker_exit', (w) => {
      this.#live.delete(w.pid);
      this.#appCache.delete(w.pid);
      const last = this.#seen.get(w.pid);
      if (!last) return;
      this.#seen.delete(w.pid);
      this.#retiredRequests += last.requests;
      addInto(this.#retiredShed, last.shed);
      addInto(this.#retiredQueue, last.queue);
      this.#retiredCpu.set(last.slot, (this.#retiredCpu.get(last.slot) ?? 0) + last.cpu);
    });
  }

  /**
   * Renders the page. `deadline` (ms) bounds the wait for the app's metrics: a worker that does
   * not answer in time (blocked) contributes what it answered last time.
   */
  async render(view: SupervisorView, deadline = APP_METRICS_DEADLINE): Promise<string> {
    const [samples, app] = await Promise.all([sampleWorkers(view), this.#appMetrics(view, deadline)]);
    const rss = new Map<number, number>();
    const heartbeat = new Map<number, number>();
    const elu = new Map<number, number>();
    const delay = new Map<number, number>();
    const heap = new Map<number, number>();
    for (const { info, vitals } of samples) {
      if (!vitals) continue;
      // per slot: the slot's ready worker (during a reload two share a slot: the new one's figures)
      if (info.slot >= 0 && (info.state === 'ready' || !elu.has(info.slot))) {
        if (vitals.elu !== undefined) elu.set(info.slot, vitals.elu);
        if (vitals.loopDelayP99 !== undefined) delay.set(info.slot, vitals.loopDelayP99);
        if (vitals.heapUsed !== undefined) heap.set(info.slot, vitals.heapUsed);
      }
      rss.set(info.slot, (rss.get(info.slot) ?? 0) + vitals.rss);
      if (vitals.heartbeatAge !== undefined) heartbeat.set(info.slot, Math.max(heartbeat.get(info.slot) ?? 0, vitals.heartbeatAge));
      if (!this.#live.has(info.pid)) continue; // exited while we asked: already carried over
      const prev = this.#seen.get(info.pid);
      this.#seen.set(info.pid, {
        slot: info.slot,
        requests: Math.max(prev?.requests ?? 0, vitals.requests ?? 0),
        cpu: Math.max(prev?.cpu ?? 0, vitals.cpu),
        shed: vitals.shed ?? prev?.shed ?? [],
        queue: vitals.queue ?? prev?.queue ?? [],
      });
    }
    let requests = this.#retiredRequests;
    const cpu = new Map(this.#retiredCpu);
    const shed = [...this.#retiredShed];
    const queue = [...this.#retiredQueue];
    for (const s of this.#seen.values()) {
      requests += s.requests;
      addInto(shed, s.shed);
      addInto(queue, s.queue);
      cpu.set(s.slot, (cpu.get(s.slot) ?? 0) + s.cpu);
    }
    const bySlot = (m: Map<number, number>, scale = 1): Sample[] => [...m].sort(([a], [b]) => a - b).map(([slot, v]) => [{ slot }, v * scale]);
    const states = new Map<WorkerState, number>(STATES.map((s) => [s, 0]));
    for (const { info } of view.workers) if (states.has(info.state)) states.set(info.state, states.get(info.state)! + 1);
    const counts = this.#tally.counts();
    const reasons = new Set<string>([...BASE_REASONS, ...Object.keys(counts.exits)]);
    const sat = saturation(samples.map(({ info, vitals }) => ({ state: info.state, elu: vitals?.elu ?? null })));
    const backlog = readBacklog(view.listeners);

    return (
      family('arbiter_workers', 'gauge', 'Worker processes by state.', [...states].map(([state, n]) => [{ state }, n])) +
      family('arbiter_workers_target', 'gauge', 'Target number of workers (changes with TTIN/TTOU/scale() and adaptive workers, resets on reload).', [[undefined, view.target]]) +
      family('arbiter_scale_events_total', 'counter', 'Workers added (up) and removed (down) by adaptive workers.', [
        [{ direction: 'up' }, counts.scaleEvents.up],
        [{ direction: 'down' }, counts.scaleEvents.down],
      ]) +
      family('arbiter_worker_spawns_total', 'counter', 'Worker processes spawned.', [[undefined, counts.spawns]]) +
      family('arbiter_worker_exits_total', 'counter', 'Workers gone, by reason.', [...reasons].map((reason) => [{ reason }, counts.exits[reason as ExitReason] ?? 0])) +
      family('arbiter_worker_timeouts_total', 'counter', 'Workers aborted for missing their heartbeat or boot deadline.', [[undefined, counts.timeouts]]) +
      family('arbiter_reloads_total', 'counter', 'Reloads (HUP / reload()) by result.', [
        [{ result: 'succeeded' }, counts.reloads.succeeded],
        [{ result: 'failed' }, counts.reloads.failed],
      ]) +
      family('arbiter_requests_total', 'counter', 'Requests served by all workers, past and present.', [[undefined, requests]]) +
      family('arbiter_worker_resident_memory_bytes', 'gauge', 'Resident memory of the workers in each slot, bytes.', bySlot(rss)) +
      family('arbiter_worker_cpu_seconds_total', 'counter', 'CPU time (user + system) of the workers of each slot, past and present, seconds.', bySlot(cpu, 1 / 1000)) +
      family('arbiter_worker_heartbeat_age_seconds', 'gauge', 'Seconds since the stalest event loop of the slot’s worker last beat (grows while it is blocked).', bySlot(heartbeat, 1 / 1000)) +
      family('arbiter_master_uptime_seconds', 'gauge', 'Seconds since the master started.', [[undefined, (performance.now() - this.#startedAt()) / 1000]]) +
      family('arbiter_worker_event_loop_utilization', 'gauge', 'Event-loop utilization (0-1) of the slot’s worker over the last 5 s.', bySlot(elu)) +
      family('arbiter_worker_event_loop_delay_p99_seconds', 'gauge', 'Event-loop delay p99 of the slot’s worker over the last 5 s, seconds.', bySlot(delay, 1 / 1000)) +
      family('arbiter_worker_heap_used_bytes', 'gauge', 'V8 heap in use by the slot’s worker, bytes.', bySlot(heap)) +
      family('arbiter_saturation', 'gauge', 'Mean event-loop utilization of the ready workers (0-1): the number to autoscale on.', sat === null ? [] : [[undefined, sat]]) +
      family('arbiter_shed_total', 'counter', 'Requests answered 503 by overload shedding (maxQueueTime, maxEventLoopDelay), by reason.', SHED_REASONS.map((reason, i) => [{ reason }, shed[i]!])) +
      histogram('arbiter_request_queue_seconds', 'Time requests waited between the proxy (X-Request-Start) and the worker, seconds.', QUEUE_BUCKETS, queue.slice(0, -1), queue[queue.length - 1]!) +
      family('arbiter_listen_backlog', 'gauge', 'Connections waiting in the bind’s accept queue (binds whose queue cannot be read are left out).', [...backlog.binds].filter((e): e is [string, number] => e[1] !== null).map(([bind, n]) => [{ bind }, n])) +
      app
    );
  }

  /** The app's prom-client metrics of every worker, merged by each metric's `aggregator`; '' when the app has none. */
  async #appMetrics(view: SupervisorView, deadline: number): Promise<string> {
    const answers = await Promise.all(
      view.workers.map(async (w) => {
        const got = await w.appMetrics(deadline);
        if (got === undefined) return this.#appCache.get(w.info.pid) ?? [];
        if (got && this.#live.has(w.info.pid)) this.#appCache.set(w.info.pid, got);
        return got ?? [];
      }),
    );
    const own = new Set<string>(METRIC_NAMES);
    const registries = answers.flat().map((r) => r.filter((m) => !own.has((m as { name?: string }).name ?? '')));
    if (registries.length === 0) return '';
    const prom = appPromClient(); // the master aggregates with the app's copy (loaded here on the first scrape)
    if (!prom) {
      if (!this.#warned) {
        this.#warned = true;
        this.#log.warning("The workers report prom-client metrics but the master cannot load prom-client (it is resolved from the entry script): /metrics leaves them out");
      }
      return '';
    }
    try {
      return await prom.AggregatorRegistry.aggregate(registries).metrics();
    } catch (err) {
      trace.master('cannot aggregate app metrics: %s', err instanceof Error ? err.message : String(err));
      if (!this.#warned) {
        this.#warned = true;
        this.#log.exception("Cannot merge the app's prom-client metrics for /metrics (left out until this is fixed)", err);
      }
      return '';
    }
  }
}
