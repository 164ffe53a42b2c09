import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import { ENV, unwrap, WATCHDOG_HELLO, WATCHDOG_STDIO_INDEX, WATCHDOG_TIMEOUT, type WorkerMessage } from '../protocol.js';
import { trace } from '../trace.js';
import type { BalanceTable } from './balance-table.js';
import { entryArgs } from './entry.js';

/** What the supervisor needs from a running worker, whatever runs it. */
export interface WorkerHandle {
  /** Process id (> 0 once spawned). */
  readonly pid: number;
  /** Sends a signal; false when the worker is already gone. */
  kill(signal: NodeJS.Signals): boolean;
  /** Resolves when the worker process has been reaped. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Callbacks from a worker to the supervisor. */
export interface WorkerHandleEvents {
  /** An arbiter protocol message. */
  message(msg: WorkerMessage): void;
  /** The watchdog thread started (`'hello'`) or saw the main loop stall (`'stalled'`). */
  watchdog(what: 'hello' | 'stalled'): void;
}

/** Everything needed to start one worker process. */
export interface SpawnOptions {
  age: number;
  slot: number;
  generation: number;
  /** Listener fds, inherited at stdio indexes after the watchdog pipe. */
  fds: readonly number[];
  /** How many copies of the listener fds the worker gets (one per serving thread; usually 1). */
  copies: number;
  /** Extra environment (`config.env`). */
  env: Readonly<Record<string, string>>;
  /** The shared balance table: the worker gets one seat per copy, released when it exits. */
  balance?: BalanceTable | undefined;
}

/**
 * A worker process: the same entry script and `execArgv` as the master (loaders keep working),
 * stdio layout `[ignore, inherit, inherit, ipc, watchdog pipe, ...listener fds × copies, balance table]`.
 */
export class ProcessWorkerHandle implements WorkerHandle {
  readonly pid: number;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly #child: ChildProcess;

  /** Spawns the process; throws when the OS refuses (the supervisor treats it as a boot failure). */
  constructor(opts: SpawnOptions, events: WorkerHandleEvents) {
    const firstListener = WATCHDOG_STDIO_INDEX + 1;
    const inherited = Array.from({ length: opts.copies }, () => opts.fds).flat();
    // "5,6;7,8": one group of fd numbers (as the worker sees them) per copy
    const groups = Array.from({ length: opts.copies }, (_, c) =>
      opts.fds.map((_, i) => firstListener + c * opts.fds.length + i).join(','),
    ).join(';');
    const seats = opts.balance?.take(opts.copies) ?? [];
    const balanceEnv = opts.balance ? { [ENV.balance]: `${firstListener + inherited.length}:${seats.join(',')}` } : {};
    let child: ChildProcess;
    try {
      child = spawn(process.execPath, entryArgs(), {
        stdio: ['ignore', 'inherit', 'inherit', 'ipc', 'pipe', ...inherited, ...(opts.balance ? [opts.balance.fd] : [])],
        env: {
          ...process.env,
          ...opts.env,
          [ENV.age]: String(opts.age),
          [ENV.slot]: String(opts.slot),
          [ENV.generation]: String(opts.generation),
          [ENV.fds]: groups,
          [ENV.watchdog]: String(WATCHDOG_STDIO_INDEX),
          [ENV.master]: String(process.pid),
          ...balanceEnv,
        },
        serialization: 'json',
      });
    } catch (err) {
      opts.balance?.release(seats);
      throw err;
    }
    this.#child = child;
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        opts.balance?.release(seats); // a crashed worker never clears its own seats
        resolve({ code, signal });
      });
    });
    if (child.pid === undefined) {
      // spawn failed synchronously (EAGAIN, ENOMEM...): the 'error' event carries the reason
      child.once('error', () => {});
      opts.balance?.release(seats);
      throw new Error('spawn failed');
    }
    this.pid = child.pid;
    child.on('error', (err) => trace.master('worker %d error: %s', this.pid, err.message));
    child.on('message', (payload) => {
      const msg = unwrap(payload);
      if (msg) events.message(msg);
    });
    const pipe = child.stdio[WATCHDOG_STDIO_INDEX] as Readable | null;
    pipe?.on('data', (chunk: Buffer) => {
      const text = chunk.toString('latin1');
      if (text.includes(WATCHDOG_HELLO)) events.watchdog('hello');
      if (text.includes(WATCHDOG_TIMEOUT)) events.watchdog('stalled');
    });
    pipe?.on('error', () => {});
  }

  kill(signal: NodeJS.Signals): boolean {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return false;
    try {
      return this.#child.kill(signal);
    } catch {
      return false;
    }
  }
}
