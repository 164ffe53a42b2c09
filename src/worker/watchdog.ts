import { Worker } from 'node:worker_threads';
import { WATCHDOG_HELLO, WATCHDOG_TIMEOUT } from '../protocol.js';

/**
 * The watchdog thread. It shares one Int32Array with the worker: one heartbeat slot per event
 * loop (slot 0 is the process's main thread; `threaded` workers add one per serving thread), and
 * `notify(slot)` bumps it. The thread wakes every `check` ms (its own event loop, unaffected by a blocked main
 * loop) and:
 *  - writes `T` on the watchdog pipe when any slot has not moved for `timeout` ms (once per stall),
 *    so the master learns of a hang within `timeout + 2*check` without polling anything itself;
 *  - SIGKILLs its own process when the master is gone (parent pid changed), so even a worker
 *    whose main loop spins can never outlive its master.
 * It is plain JS evaluated in the thread, so it needs no file path (works from ESM, CJS and a tarball).
 */
const THREAD_SOURCE = `
'use strict';
const { workerData } = require('node:worker_threads');
const { writeSync } = require('node:fs');
const { buffer, fd, timeout, check, masterPid, hello, stalled } = workerData;
const beats = new Int32Array(buffer);
const send = (b) => { try { writeSync(fd, b); } catch {} };
const start = performance.now();
const slots = Array.from(beats, (v) => ({ seen: v, changedAt: start, reported: false }));
send(hello);
setInterval(() => {
  if (process.ppid !== masterPid) process.kill(process.pid, 'SIGKILL');
  const now = performance.now();
  for (let i = 0; i < slots.length; i++) {
    const s = slots[i];
    const v = Atomics.load(beats, i);
    if (v !== s.seen) { s.seen = v; s.changedAt = now; s.reported = false; continue; }
    if (timeout > 0 && !s.reported && now - s.changedAt >= timeout) { s.reported = true; send(stalled); }
  }
}, check);
`;

/** The heartbeat side of a running watchdog. */
export interface Watchdog {
  /** Proves liveness of slot 0 (the main thread): one atomic add, callable from any hot path. */
  notify(): void;
  /** The shared heartbeat slots, for serving threads (`Atomics.add(new Int32Array(beats), slot, 1)`). */
  readonly beats: SharedArrayBuffer;
  /** The interval (ms) at which healthy code should call `notify()`; 0 when `timeout` is 0. */
  readonly interval: number;
}

/**
 * Picks the heartbeat/check period for a timeout: `timeout / 30`, between 5 ms and 1 s.
 * A stall is then reported within `timeout + 2 * period` (about 7% late at most), and an idle
 * worker wakes at most once a second.
 */
export function heartbeatPeriod(timeout: number): number {
  return timeout > 0 ? Math.min(1000, Math.max(5, Math.floor(timeout / 30))) : 0;
}

/** Starts the watchdog thread for this worker process. */
export function startWatchdog(options: { fd: number; timeout: number; masterPid: number; slots: number }): Watchdog {
  const buffer = new SharedArrayBuffer(4 * options.slots);
  const beats = new Int32Array(buffer);
  const interval = heartbeatPeriod(options.timeout);
  const thread = new Worker(THREAD_SOURCE, {
    eval: true,
    workerData: {
      buffer,
      fd: options.fd,
      timeout: options.timeout,
      check: interval || 1000,
      masterPid: options.masterPid,
      hello: WATCHDOG_HELLO,
      stalled: WATCHDOG_TIMEOUT,
    },
    stdout: false,
    stderr: false,
    resourceLimits: { maxOldGenerationSizeMb: 8, maxYoungGenerationSizeMb: 2 },
  });
  thread.unref();
  return {
    interval,
    beats: buffer,
    notify: () => {
      Atomics.add(beats, 0, 1);
    },
  };
}
