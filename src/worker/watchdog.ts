import { SHARE_ENV, Worker } from 'node:worker_threads';
import { ENTRIES, inflightBuffer, InflightWriter, readInflight, type RequestLike, TEXT_BYTES } from './inflight.js';
import { CAPTURE_DEADLINE, captureStack, MAX_FRAMES, servingThreadName } from './stack.js';
import { LOOP_FIELDS, loopFieldsOffset, QUEUE_BUCKETS, QUEUE_FIELD, SAMPLE_PERIOD, SHED_FIELD, SHED_REASONS, WINDOW } from './loop-sampler.js';

/**
 * The watchdog thread of a worker process. It shares one block of memory with the worker's
 * serving loops (see {@link vitalsBuffer}): a heartbeat counter per loop (slot 0 is the process's
 * main thread; `threaded` workers add one per serving thread) and per-loop request counters.
 * It runs its own event loop, so it works while the main thread is blocked, and it:
 *  - reports `stalled` on the watchdog channel when a slot has not moved for `timeout` ms (once
 *    per stall), so the master learns of a hang within `timeout + 2*check` without polling
 *    (`bootTimeout` for the main thread until the worker is ready: module loading and `load()` may block the loop);
 *  - takes the JavaScript stack of a stalled loop first ({@link captureStack}, at most
 *    {@link CAPTURE_DEADLINE} ms) and puts it in the report, with the requests that loop has in
 *    flight (read from the shared table of src/worker/inflight.ts: {@link readInflight});
 *  - when the master aborts the worker after a timeout (`abort`), SIGKILLs its own process unless
 *    the main thread's SIGABRT handler starts within the given grace (a loop that returned runs it;
 *    a spinning one never will, so it dies at once instead of a second later);
 *  - reports `memory` when the process's RSS reaches `maxWorkerMemory` (then × 1.5, × 2, …),
 *    checked every heartbeat period;
 *  - answers the master's `vitals` queries (heartbeat age, requests, RSS, CPU, and the loops'
 *    ELU, loop delay and heap that each loop writes there once a second: `loop-sampler.ts`) from
 *    that memory, and the request rate from the counts it samples on each check;
 *  - SIGKILLs its own process when the master is gone: as soon as the channel closes (the master
 *    holds its only other end) — {@link ORPHAN_GRACE} ms later once the worker serves (ready), so
 *    it can exit cleanly — or when the parent pid changes (a backstop).
 * It is plain JS evaluated in the thread, so it needs no file path (works from ESM, CJS and a tarball).
 */
/** How long (ms) a worker whose master died may take to exit by itself before its watchdog kills it. */
export const ORPHAN_GRACE = 500;

/** Flags after the per-slot counters: the worker serves (ready); its SIGABRT handler started. */
const FLAGS = 2;

const THREAD_SOURCE = `
'use strict';
const { workerData } = require('node:worker_threads');
const net = require('node:net');
const { buffer, requests: requestTable, fd, slots, timeout, bootTimeout, check, masterPid, bornAt, maxMemory } = workerData;
const mem = new Int32Array(buffer, 0, 3 * slots + ${FLAGS});
const fields = new Float64Array(buffer, Math.ceil((4 * (3 * slots + ${FLAGS})) / 8) * 8, ${LOOP_FIELDS} * slots);
const SERVING = 3 * slots;
const ABORTING = 3 * slots + 1;
const die = () => process.kill(process.pid, 'SIGKILL');
// The master is gone. Before run() there is nothing to finish: die now. A running worker's IPC
// 'disconnect' handler exits cleanly (workerExit hook); whatever it does, it is killed ORPHAN_GRACE ms later.
const orphaned = () => (Atomics.load(mem, SERVING) === 1 ? setTimeout(die, ${ORPHAN_GRACE}) : die());
const captureStack = ${captureStack.toString()};
const threadName = ${servingThreadName.toString()};
const readInflight = ${readInflight.toString()};
const channel = new net.Socket({ fd, readable: true, writable: true });
channel.on('end', orphaned);
channel.on('error', orphaned);
const send = (msg) => channel.write(JSON.stringify(msg) + '\\n');
// The main thread beat last when it started this thread (bornAt, epoch ms), however late this
// thread gets to run: a main thread that spins from then on is seen as stalled from then on.
const start = performance.now() - Math.max(0, Date.now() - bornAt);
const loops = Array.from({ length: slots }, (_, i) => ({ beat: Atomics.load(mem, i), at: start, reported: false, done: 0 }));
let requests = 0;
// (time, requests) about once a second over the last 10 s, for the request rate
const counts = [];
const RATE_WINDOW = 10000;
const sample = (now) => {
  // Serving threads' slots are watched once the worker serves (before, they may not exist yet).
  const armed = Atomics.load(mem, SERVING) === 1;
  for (let i = 0; i < slots; i++) {
    const l = loops[i];
    const beat = Atomics.load(mem, i);
    if (beat !== l.beat || (i > 0 && !armed)) { l.beat = beat; l.at = now; l.reported = false; }
    const done = Atomics.load(mem, slots + i);
    requests += (done - l.done) >>> 0; // wrap-safe: the shared counter is 32-bit
    l.done = done;
  }
  const last = counts[counts.length - 1];
  if (!last || now - last.at >= 1000) {
    counts.push({ at: now, requests });
    while (counts.length > 2 && now - counts[1].at >= RATE_WINDOW) counts.shift();
  }
};
// ELU, loop delay p99 and heap of the serving loops (slot 0 for a process model, the serving
// threads for a threaded one); the heap of every isolate. A loop that has not written for more
// than a period is busy (a blocked loop runs no timer): the time since counts as fully used, and
// as delay, in place of figures it could not write.
const PERIOD = ${SAMPLE_PERIOD};
const WINDOW_MS = ${WINDOW} * PERIOD;
const loopFigures = (nowEpoch) => {
  let elu = 0, n = 0, delay = 0, heapUsed = 0, heapLimit = 0;
  for (let i = 0; i < slots; i++) {
    const at = fields[i * ${LOOP_FIELDS}];
    if (at === 0) continue;
    heapUsed += fields[i * ${LOOP_FIELDS} + 3];
    heapLimit += fields[i * ${LOOP_FIELDS} + 4];
    if (slots > 1 && i === 0) continue; // a threaded worker's main thread does not serve
    const busy = Math.min(WINDOW_MS, Math.max(0, nowEpoch - at - PERIOD));
    elu += (busy + fields[i * ${LOOP_FIELDS} + 1] * (WINDOW_MS - busy)) / WINDOW_MS;
    delay = Math.max(delay, fields[i * ${LOOP_FIELDS} + 2], busy);
    n++;
  }
  return n === 0 ? {} : { elu: Math.round((elu / n) * 1000) / 1000, loopDelayP99: Math.round(delay * 10) / 10, heapUsed, heapLimit };
};
const vitals = () => {
  const now = performance.now();
  sample(now);
  let inflight = 0;
  let oldest = now;
  for (let i = 0; i < slots; i++) { inflight += Atomics.load(mem, 2 * slots + i); oldest = Math.min(oldest, loops[i].at); }
  const cpu = process.cpuUsage();
  const own = process.threadCpuUsage ? process.threadCpuUsage() : undefined; // this thread's share (Node 23.9+, 22.x)
  const v = { heartbeatAge: Math.round(now - oldest), requests, inflight, rss: process.memoryUsage.rss(), cpu: (cpu.user + cpu.system) / 1000 };
  if (own) v.ownCpu = (own.user + own.system) / 1000;
  const from = counts.find((c) => now - c.at <= RATE_WINDOW + 500) || counts[0];
  v.reqRate = from && now - from.at >= 500 ? Math.round(((requests - from.requests) * 10000) / (now - from.at)) / 10 : 0;
  Object.assign(v, loopFigures(performance.timeOrigin + now));
  // counters of the request path, summed over the loops
  const shed = new Array(${SHED_REASONS.length}).fill(0);
  const queue = new Array(${QUEUE_BUCKETS.length + 2}).fill(0);
  for (let i = 0; i < slots; i++) {
    for (let r = 0; r < shed.length; r++) shed[r] += fields[i * ${LOOP_FIELDS} + ${SHED_FIELD} + r];
    for (let b = 0; b < queue.length; b++) queue[b] += fields[i * ${LOOP_FIELDS} + ${QUEUE_FIELD} + b];
  }
  if (shed.some((n) => n > 0)) v.shed = shed;
  if (queue.some((n) => n > 0)) v.queue = queue;
  return v;
};
let pending = '';
channel.setEncoding('utf8');
channel.on('data', (chunk) => {
  pending += chunk;
  let nl;
  while ((nl = pending.indexOf('\\n')) >= 0) {
    const line = pending.slice(0, nl);
    pending = pending.slice(nl + 1);
    let q;
    try { q = JSON.parse(line); } catch { continue; }
    if (q && q.t === 'vitals') send({ t: 'vitals', id: q.id, vitals: vitals() });
    else if (q && q.t === 'abort') setTimeout(() => { if (Atomics.load(mem, ABORTING) === 0) die(); }, q.grace);
  }
});
const stalled = (slot, ms) => {
  // The requests first: read while the loop is still stuck on them (a capture may take 150 ms).
  let inflight;
  try { inflight = readInflight(requestTable, slot, Date.now(), ${ENTRIES}, ${TEXT_BYTES}); } catch (err) { inflight = { requests: [], more: 0 }; }
  const { requests, more } = inflight;
  captureStack(require('node:inspector'), slot, ${CAPTURE_DEADLINE}, ${MAX_FRAMES}, threadName(slot)).then(
    ({ stack, noStack, idle, ms: captureMs }) => send({ t: 'stalled', slot, ms, stack, noStack, idle, captureMs, requests, more }),
    (err) => send({ t: 'stalled', slot, ms, noStack: String(err), requests, more }),
  );
};
let memoryStep = maxMemory;
send({ t: 'hello' });
setInterval(() => {
  if (process.ppid !== masterPid) die();
  // Read before the beats: markServing() beats, then sets the flag (a long load() must not count).
  const serving = Atomics.load(mem, SERVING) === 1;
  const now = performance.now();
  sample(now);
  if (maxMemory > 0) {
    const rss = process.memoryUsage.rss();
    if (rss >= memoryStep) {
      send({ t: 'memory', rss });
      while (memoryStep <= rss) memoryStep += maxMemory / 2;
    }
  }
  if (timeout <= 0) return;
  // Until ready, the main thread runs the entry script's top-level code and load(): it may block for up to bootTimeout.
  const limit = serving ? timeout : bootTimeout || timeout;
  for (let i = 0; i < slots; i++) {
    const l = loops[i];
    if (!l.reported && now - l.at >= limit) { l.reported = true; stalled(i, Math.round(now - l.at)); }
  }
}, check);
`;

/**
 * The shared block of a worker process: `slots` heartbeat counters, then `slots` finished-request
 * counters, then `slots` in-flight counters (Int32 each; slot 0 is the main thread, slot i the
 * i-th serving thread of a `threaded` worker), then two flags: the worker serves (ready); its
 * SIGABRT handler started; then, 8-byte aligned, `LOOP_FIELDS` Float64 values per slot that the
 * slot's loop sampler writes (`loop-sampler.ts`).
 */
export function vitalsBuffer(slots: number): SharedArrayBuffer {
  return new SharedArrayBuffer(loopFieldsOffset(3 * slots + FLAGS) + 8 * LOOP_FIELDS * slots);
}

/** The Float64 loop fields (ELU, loop delay, heap: see `loop-sampler.ts`) of a block made by {@link vitalsBuffer}. */
export function loopFields(buffer: SharedArrayBuffer): Float64Array {
  const slots = slotsOf(buffer);
  return new Float64Array(buffer, loopFieldsOffset(3 * slots + FLAGS), LOOP_FIELDS * slots);
}

/** The number of loop slots of a block made by {@link vitalsBuffer}. */
function slotsOf(buffer: SharedArrayBuffer): number {
  for (let slots = 1; ; slots++) {
    const size = loopFieldsOffset(3 * slots + FLAGS) + 8 * LOOP_FIELDS * slots;
    if (size >= buffer.byteLength) return slots;
  }
}

/** One serving loop's handle on the shared block: its heartbeat and its request counters. */
export interface LoopVitals {
  /** Proves this loop is alive: one atomic add, callable from any hot path. */
  notify(): void;
  /** A request started on this loop; with the request, it goes into the in-flight table too (the entry is returned, −1 for none). */
  started(req?: RequestLike): number;
  /** A request finished on this loop (`entry`: what {@link LoopVitals.started} returned). */
  finished(entry?: number): void;
}

/**
 * The counters of heartbeat slot `slot` in a block made by {@link vitalsBuffer}, and its region of
 * the in-flight request table `requests` (made by {@link inflightBuffer}) when there is one.
 */
export function loopVitals(buffer: SharedArrayBuffer, slot: number, requests?: SharedArrayBuffer): LoopVitals {
  const slots = slotsOf(buffer);
  const mem = new Int32Array(buffer, 0, 3 * slots + FLAGS);
  const done = slots + slot;
  const inflight = 2 * slots + slot;
  const table = requests ? new InflightWriter(requests, slot) : undefined;
  return {
    notify: () => void Atomics.add(mem, slot, 1),
    started: (req) => {
      Atomics.add(mem, inflight, 1);
      return table && req ? table.begin(req) : -1;
    },
    finished: (entry) => {
      Atomics.sub(mem, inflight, 1);
      Atomics.add(mem, done, 1);
      if (table && entry !== undefined) table.end(entry);
    },
  };
}

/** A running watchdog: the shared block and the main thread's handle on it. */
export interface Watchdog {
  /** The main thread's heartbeat and request counters (slot 0). */
  readonly main: LoopVitals;
  /** The shared block, for serving threads ({@link loopVitals} with their own slot). */
  readonly buffer: SharedArrayBuffer;
  /** The in-flight request table, for serving threads (their own region of it). */
  readonly requests: SharedArrayBuffer;
  /** The interval (ms) at which healthy code should beat; 0 when `timeout` is 0. */
  readonly interval: number;
  /** The worker is ready and serves: `timeout` applies from now on (`bootTimeout` before), the serving threads' slots are watched, and an orphan gets {@link ORPHAN_GRACE} ms to exit. */
  markServing(): void;
  /** The main thread runs its SIGABRT handler: its event loop returned, so the watchdog lets it finish (`workerAbort`). */
  markAborting(): void;
}

/**
 * Picks the heartbeat/check period for a timeout: `timeout / 30`, between 5 ms and 1 s.
 * A stall is then reported within `timeout + 2 * period` (about 7% late at most), and an idle
 * worker wakes at most once a second.
 */
export function heartbeatPeriod(timeout: number): number {
  return timeout > 0 ? Math.min(1000, Math.max(5, Math.floor(timeout / 30))) : 0;
}

/**
 * Starts the watchdog thread for this worker process (`fd`: its end of the watchdog channel;
 * `maxMemory`: RSS in bytes at which it reports `memory`, 0 = never).
 */
export function startWatchdog(options: { fd: number; timeout: number; bootTimeout: number; masterPid: number; slots: number; maxMemory: number }): Watchdog {
  const buffer = vitalsBuffer(options.slots);
  const requests = inflightBuffer(options.slots);
  const interval = heartbeatPeriod(options.timeout);
  const main = loopVitals(buffer, 0, requests);
  main.notify();
  const thread = new Worker(THREAD_SOURCE, {
    eval: true,
    workerData: {
      buffer,
      requests,
      fd: options.fd,
      slots: options.slots,
      timeout: options.timeout,
      bootTimeout: options.bootTimeout,
      check: interval || 1000,
      masterPid: options.masterPid,
      maxMemory: options.maxMemory,
      bornAt: Date.now(),
    },
    stdout: false,
    stderr: false,
    resourceLimits: { maxOldGenerationSizeMb: 8, maxYoungGenerationSizeMb: 2 },
    // Not the process's execArgv: a `--require`/`--import` preload (an APM agent, a loader) would
    // run again in this thread, in its 8 MB heap. And the process's environment, not a copy.
    // Together about a sixth less CPU for the thread to start (callgrind, Node 24: docs/benchmarks.md).
    execArgv: [],
    env: SHARE_ENV,
  });
  thread.unref();
  const mem = new Int32Array(buffer, 0, 3 * options.slots + FLAGS);
  const flag = (i: number) => () => void Atomics.store(mem, 3 * options.slots + i, 1);
  const serving = flag(0);
  const markServing = (): void => {
    main.notify(); // the loop is free right now: a long load() must not count against `timeout`
    serving();
  };
  return { interval, buffer, requests, main, markServing, markAborting: flag(1) };
}
