import { Worker } from 'node:worker_threads';
import { WATCHDOG_HELLO, WATCHDOG_TIMEOUT } from '../protocol.js';

/**
 * The watchdog thread. It shares one Int32Array with the worker's main thread: `notify()` bumps
 * slot 0. The thread wakes every `check` ms (its own event loop, unaffected by a blocked main
 * loop) and:
 *  - writes `T` on the watchdog pipe when slot 0 has not moved for `timeout` ms (once per stall),
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
let seen = Atomics.load(beats, 0);
let changedAt = performance.now();
let reported = false;
send(hello);
setInterval(() => {
  if (process.ppid !== masterPid) process.kill(process.pid, 'SIGKILL');
  const now = performance.now();
  const v = Atomics.load(beats, 0);
  if (v !== seen) { seen = v; changedAt = now; reported = false; return; }
  if (timeout > 0 && !reported && now - changedAt >= timeout) { reported = true; send(stalled); }
}, check);
`;

/** The heartbeat side of a running watchdog. */
export interface Watchdog {
  /** Proves liveness: one atomic add, callable from any hot path. */
  notify(): void;
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
export function startWatchdog(options: { fd: number; timeout: number; masterPid: number }): Watchdog {
  const buffer = new SharedArrayBuffer(4);
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
    notify: () => {
      Atomics.add(beats, 0, 1);
    },
  };
}
