import type { RequestListener } from 'node:http';
import { Worker } from 'node:worker_threads';
import { APP_LOAD_ERROR, WORKER_BOOT_ERROR } from '../protocol.js';
import { servingThreadName } from '../worker/stack.js';
import { THREAD_MARK, type ThreadData, type ThreadMessage } from '../worker/thread.js';
import { loopVitals } from '../worker/watchdog.js';
import { WorkerClass } from './base.js';

function failure(message: string, exitCode: number): Error {
  return Object.assign(new Error(message), { exitCode });
}

/**
 * The `threaded` model (gunicorn's gthread, with real parallelism): one process running
 * `threads` worker_threads. Each thread evaluates the entry script, loads the app and accepts
 * directly from its own copy of the shared listening sockets, serving with the `async` model on
 * its own event loop — so CPU-bound requests run in parallel inside one process.
 *
 * The process's main thread only coordinates: it reports ready once every thread is, forwards a
 * graceful stop to every thread and resolves when all have drained. Each thread has its own
 * heartbeat slot, so one stalled thread gets the whole process recycled (`WORKER TIMEOUT`).
 * A thread that dies unexpectedly takes its process with it (exit 1); the master replaces it.
 * `maxRequests` is shared out: each thread recycles the process after `ceil(maxRequests / threads)`.
 */
export class ThreadedWorker extends WorkerClass<RequestListener | undefined> {
  static override readonly inThreads = true;
  readonly #threads: Worker[] = [];
  #stoppedThreads = 0;
  #failed: ((err: Error) => void) | undefined;

  /** Starts the threads and resolves when every one of them accepts. */
  override async boot(): Promise<void> {
    const inherited = this.inherited;
    const entry = process.argv[1];
    if (!inherited || !entry) throw failure('threaded worker started without inherited listeners', WORKER_BOOT_ERROR);
    const n = this.config.threads;
    const perThread = this.maxRequests > 0 ? Math.ceil(this.maxRequests / n) : 0;
    const ready = Array.from({ length: n }, (_, i) => {
      const data: ThreadData = {
        [THREAD_MARK]: true,
        index: i + 1,
        fds: [...(inherited.fds[i] ?? [])],
        beats: inherited.beats,
        requests: inherited.requests,
        balance: inherited.balance[i],
        heartbeatInterval: this.heartbeatInterval,
        maxRequests: perThread,
        age: this.age,
        slot: this.slot,
      };
      // the thread re-runs the entry script as a worker process does: the same arguments (the `arbiter` command's flags)
      const thread = new Worker(entry, { workerData: data, name: servingThreadName(i + 1), argv: process.argv.slice(2) });
      this.#threads.push(thread);
      return new Promise<void>((resolve, reject) => {
        let booted = false;
        thread.on('message', (msg: ThreadMessage) => {
          if (msg.type === 'ready') {
            booted = true;
            resolve();
          } else if (msg.type === 'retire') {
            this.retire('max_requests');
          } else if (msg.type === 'accept_stopped' && ++this.#stoppedThreads === n) {
            this.stoppedAccepting();
          }
        });
        thread.on('error', (err) => {
          this.log.exception(`Uncaught exception in worker thread ${i + 1} (pid: ${process.pid})`, err, { worker: process.pid, thread: i + 1 });
        });
        thread.on('exit', (code) => {
          // A thread that has ended (drained, or taking the process down with it) beats no more,
          // while its siblings may still be finishing long requests: its heartbeat slot must not
          // look like a stalled loop. The main thread beats for it from now on (until the process
          // exits — a blocked main thread is still seen: its own slot stops too).
          if (booted && this.heartbeatInterval > 0) setInterval(loopVitals(inherited.beats, i + 1).notify, this.heartbeatInterval).unref();
          if (!booted) {
            reject(failure(`worker thread ${i + 1} exited with code ${code} before it booted`, code === APP_LOAD_ERROR ? APP_LOAD_ERROR : WORKER_BOOT_ERROR));
          } else if (this.alive) {
            this.#failed?.(failure(`worker thread ${i + 1} exited with code ${code}`, 1));
          }
        });
      });
    });
    await Promise.all(ready);
  }

  /** Runs `onReopenLogs` in every serving thread (where the app and its log files live). */
  override reopenLogs(): void {
    for (const t of this.#threads) t.postMessage('reopen_logs');
  }

  /** Beats for the main thread, forwards the drain, resolves when every thread has finished. */
  async run(): Promise<void> {
    const beat = this.heartbeatInterval > 0 ? setInterval(() => this.notify(), this.heartbeatInterval) : undefined;
    beat?.unref();
    const exited = Promise.all(this.#threads.map((t) => new Promise<void>((resolve) => t.once('exit', () => resolve()))));
    try {
      await new Promise<void>((resolve, reject) => {
        this.#failed = reject;
        if (this.signal.aborted) resolve();
        else this.signal.addEventListener('abort', () => resolve(), { once: true });
      });
      for (const t of this.#threads) t.postMessage('drain');
      await exited;
    } finally {
      if (beat) clearInterval(beat);
    }
  }
}
