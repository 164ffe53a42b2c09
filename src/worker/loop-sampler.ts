import { monitorEventLoopDelay, performance, type EventLoopUtilization, type IntervalHistogram } from 'node:perf_hooks';
import v8 from 'node:v8';

/**
 * Event-loop vitals of one serving loop (SPEC §12), written into the worker's shared block (see
 * `vitalsBuffer` in `watchdog.ts`) once a {@link SAMPLE_PERIOD}, where the watchdog thread reads
 * them when the master asks (`vitals`): nothing crosses a thread or a process per request, and the
 * master is not woken.
 *
 * - ELU: `performance.eventLoopUtilization()` snapshots, one a period; the figure is the delta
 *   over the last {@link WINDOW} periods (5 s).
 * - Loop delay: how late the sampler's own timer fires, and while the loop is busy (ELU of the
 *   last period at least {@link BUSY}) a `monitorEventLoopDelay` histogram (its own unref'd
 *   {@link RESOLUTION} ms libuv timer, read and reset once a period). An idle loop has no delay to
 *   measure, and the monitor's 50 wake-ups a second would more than double an idle worker's CPU
 *   (0.33% → 0.83% of a core, measured): it runs only while there is load. The 5 s figure is the
 *   largest of the last five one-second figures: an upper bound of the p99 of the five seconds
 *   together (if every second has at most 1% of its samples above M, so do the five).
 * - Heap: `v8.getHeapStatistics()` of this isolate.
 */

/** Milliseconds between two samples of a loop. */
export const SAMPLE_PERIOD = 1000;
/** Periods in the ELU / loop delay window (5 s). */
export const WINDOW = 5;
/** Resolution (ms) of the loop delay monitor's timer. */
export const RESOLUTION = 20;
/** ELU (of the last period) from which the loop delay monitor runs; it stops below half of it. */
export const BUSY = 0.05;

/** Upper bounds (seconds) of the `arbiter_request_queue_seconds` histogram's buckets (then +Inf). */
export const QUEUE_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

/** Why a request was shed (`arbiter_shed_total{reason}`), in the order of their counters. */
export const SHED_REASONS = ['queue_time', 'event_loop_delay'] as const;
/** A reason in {@link SHED_REASONS}. */
export type ShedReason = (typeof SHED_REASONS)[number];

/** Index of the first shed counter among a loop's fields; the queue histogram follows. */
export const SHED_FIELD = 5;
/** Index of the queue histogram: one count per bucket (not cumulative), +Inf last, then the sum of seconds. */
export const QUEUE_FIELD = SHED_FIELD + SHED_REASONS.length;

/**
 * Float64 fields per loop in the shared block, in this order: when the loop last wrote (epoch ms,
 * `performance.timeOrigin + performance.now()`), ELU over the window (0–1), loop delay p99 over
 * the window (ms), heap used (bytes), heap limit (bytes) — `at` 0: never written —; then counters
 * the loop's request path keeps (one writer per loop): requests shed per reason, and the queue
 * time histogram (see {@link QUEUE_FIELD}).
 */
export const LOOP_FIELDS = QUEUE_FIELD + QUEUE_BUCKETS.length + 2;

/** Byte offset of the Float64 loop fields in a shared block whose Int32 part holds `int32s` values. */
export function loopFieldsOffset(int32s: number): number {
  return Math.ceil((4 * int32s) / 8) * 8;
}

/** What a serving loop's own code can ask of its sampler (overload shedding). */
export interface LoopSampler {
  /** Loop delay p99 (ms) over the last full {@link SAMPLE_PERIOD}. */
  readonly lastSecondP99: number;
  /** Counts a request answered 503 for `reason`. */
  shed(reason: ShedReason): void;
  /** Records how long (seconds) a request waited before it reached the worker (`X-Request-Start`). */
  queued(seconds: number): void;
  /** Stops sampling (the timers are unref'd: only tests need this). */
  stop(): void;
}

let current: LoopSampler | undefined;

/** The sampler of this thread's event loop, if one runs (each thread has its own copy of this module). */
export function loopSampler(): LoopSampler | undefined {
  return current;
}

/**
 * Starts sampling this thread's event loop into loop slot `slot` of the Float64 view `fields`
 * (made over the shared block at {@link loopFieldsOffset}). One per thread: a second call returns the first.
 */
export function startLoopSampler(fields: Float64Array, slot: number): LoopSampler {
  if (current) return current;
  const base = slot * LOOP_FIELDS;
  const delay: IntervalHistogram = monitorEventLoopDelay({ resolution: RESOLUTION });
  let monitoring = false;
  const elus: EventLoopUtilization[] = [performance.eventLoopUtilization()];
  const p99s: number[] = [];
  let lastTick = performance.now();
  const sampler = {
    lastSecondP99: 0,
    shed: (reason: ShedReason) => void (fields[base + SHED_FIELD + SHED_REASONS.indexOf(reason)]! += 1),
    queued: (seconds: number) => {
      let i = 0;
      while (i < QUEUE_BUCKETS.length && seconds > QUEUE_BUCKETS[i]!) i++;
      fields[base + QUEUE_FIELD + i]! += 1;
      fields[base + QUEUE_FIELD + QUEUE_BUCKETS.length + 1]! += seconds;
    },
    stop: () => {
      clearInterval(timer);
      delay.disable();
      if (current === sampler) current = undefined;
    },
  };
  const tick = (): void => {
    const at = performance.now();
    const late = Math.max(0, at - lastTick - SAMPLE_PERIOD); // this timer's own delay
    lastTick = at;
    const now = performance.eventLoopUtilization();
    const lastPeriod = performance.eventLoopUtilization(now, elus[elus.length - 1]).utilization;
    elus.push(now);
    if (elus.length > WINDOW + 1) elus.shift();
    const elu = performance.eventLoopUtilization(now, elus[0]).utilization;
    // The monitor records each timer interval whole: its resolution is not delay.
    const measured = monitoring && delay.count > 0 ? Math.max(0, delay.percentile(99) / 1e6 - RESOLUTION) : 0;
    sampler.lastSecondP99 = Math.max(measured, late);
    delay.reset();
    if (!monitoring && lastPeriod >= BUSY) {
      delay.enable();
      monitoring = true;
    } else if (monitoring && lastPeriod < BUSY / 2) {
      delay.disable();
      monitoring = false;
    }
    p99s.push(sampler.lastSecondP99);
    if (p99s.length > WINDOW) p99s.shift();
    const heap = v8.getHeapStatistics();
    fields[base + 1] = Number.isFinite(elu) ? elu : 0;
    fields[base + 2] = Math.max(...p99s);
    fields[base + 3] = heap.used_heap_size;
    fields[base + 4] = heap.heap_size_limit;
    fields[base] = performance.timeOrigin + performance.now(); // last: the watchdog reads `at` to know the rest is there
  };
  const timer = setInterval(tick, SAMPLE_PERIOD);
  timer.unref();
  tick();
  current = sampler;
  return sampler;
}
