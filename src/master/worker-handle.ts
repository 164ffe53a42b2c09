import { spawn, type ChildProcess } from 'node:child_process';
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import {
  ENV,
  envelope,
  unwrap,
  WATCHDOG_STDIO_INDEX,
  type MasterMessage,
  type WatchdogQuery,
  type WatchdogReport,
  type WorkerMessage,
  type WorkerVitals,
} from '../protocol.js';
import { compileCacheEnv } from '../compile-cache.js';
import { trace } from '../trace.js';
import type { BalanceTable } from './balance-table.js';
import { entryArgs } from './entry.js';

/** What the supervisor needs from a running worker, whatever runs it. */
export interface WorkerHandle {
  /** Process id (> 0 once spawned). */
  readonly pid: number;
  /** Sends a signal; false when the worker is already gone. */
  kill(signal: NodeJS.Signals): boolean;
  /**
   * Timeout: SIGABRT, and tells the worker's watchdog to SIGKILL the process unless its main
   * thread starts the SIGABRT handler within `grace` ms (a spinning loop never will).
   */
  abort(grace: number): void;
  /** Sends a message (dropped when the worker is gone), with a socket handle attached when given. */
  send(msg: MasterMessage, handle?: unknown): void;
  /** Resolves when the worker process has been reaped. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /**
   * Asks the worker's watchdog thread for its figures (it answers even while the worker's main
   * thread is blocked); `undefined` when no answer comes within `deadline` ms.
   */
  vitals(deadline: number): Promise<WorkerVitals | undefined>;
  /**
   * Asks the worker for the app's prom-client metrics (one `getMetricsAsJSON()` array per event
   * loop that runs the app); `null` when the app has no prom-client, `undefined` when no answer
   * comes within `deadline` ms (a blocked worker cannot answer: this goes through its main thread).
   */
  appMetrics(deadline: number): Promise<unknown[][] | null | undefined>;
}

/** Callbacks from a worker to the supervisor. */
export interface WorkerHandleEvents {
  /** An arbiter protocol message. */
  message(msg: WorkerMessage): void;
  /** The watchdog thread started (`hello`), saw an event loop stall (`stalled`) or the RSS over `maxWorkerMemory` (`memory`). */
  watchdog(report: Exclude<WatchdogReport, { t: 'vitals' }>): void;
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
  /** The master's `timeout` (the watchdog starts before the worker has read its own config). */
  timeout: number;
  /** The master's `bootTimeout`. */
  bootTimeout: number;
  /** Heartbeat slots to watch: 1 + serving threads. */
  slots: number;
  /** `maxWorkerMemory` (bytes; 0 = off): the watchdog reports an RSS above it. */
  maxMemory: number;
  /** Run the worker as this user and group (`user`/`group` options); absent: as the master. */
  uid?: number | undefined;
  gid?: number | undefined;
  /** The worker's umask (`umask` option); absent: inherited from the master. */
  umask?: number | undefined;
  /** The shared balance table: the worker gets one seat per copy, released when it exits. */
  balance?: BalanceTable | undefined;
  /** Start it as a warm spare (it boots, then waits for `serve`). */
  spare?: boolean;
  /** The master binds on demand (no fds yet): the worker asks for its sockets over IPC. */
  bindOnDemand?: boolean;
}

/**
 * A worker process: the same entry script and `execArgv` as the master (loaders keep working),
 * stdio layout `[ignore, inherit, inherit, ipc, watchdog pipe, ...listener fds × copies, balance table]`.
 */
export class ProcessWorkerHandle implements WorkerHandle {
  readonly pid: number;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly #child: ChildProcess;
  readonly #channel: Duplex | null;
  readonly #queries = new Map<number, (v: WorkerVitals | undefined) => void>();
  #querySeq = 0;
  readonly #metricsQueries = new Map<number, (m: unknown[][] | null | undefined) => void>();

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
          [ENV.timeout]: String(opts.timeout),
          [ENV.bootTimeout]: String(opts.bootTimeout),
          [ENV.slots]: String(opts.slots),
          [ENV.maxMemory]: String(opts.maxMemory),
          ...(opts.umask !== undefined ? { [ENV.umask]: opts.umask.toString(8) } : {}),
          ...balanceEnv,
          ...(opts.spare ? { [ENV.spare]: '1' } : {}),
          ...(opts.bindOnDemand ? { [ENV.bindOnDemand]: '1' } : {}),
          ...compileCacheEnv(ENV.compileCache, opts.uid, opts.gid),
        },
        serialization: 'json',
        ...(opts.uid !== undefined ? { uid: opts.uid } : {}),
        ...(opts.gid !== undefined ? { gid: opts.gid } : {}),
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
      // spawn failed (EACCES: the worker's user cannot reach node; EAGAIN, ENOMEM…): the reason
      // comes with the 'error' event, a tick later
      opts.balance?.release(seats);
      const reason = new Promise<Error>((resolve) => child.once('error', resolve));
      throw Object.assign(new Error(`Cannot start a worker (${process.execPath}${opts.uid !== undefined ? ` as uid ${opts.uid}` : ''})`), { reason });
    }
    this.pid = child.pid;
    child.on('error', (err) => trace.master('worker %d error: %s', this.pid, err.message));
    child.on('message', (payload) => {
      const msg = unwrap(payload);
      if (msg?.cmd === 'app_metrics') this.#metricsQueries.get(msg.id)?.(msg.metrics);
      else if (msg) events.message(msg);
    });
    const channel = (this.#channel = child.stdio[WATCHDOG_STDIO_INDEX] as Duplex | null);
    let pending = '';
    channel?.setEncoding('utf8');
    channel?.on('data', (chunk: string) => {
      pending += chunk;
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        let report: WatchdogReport;
        try {
          report = JSON.parse(line) as WatchdogReport;
        } catch {
          continue;
        }
        if (report.t === 'vitals') this.#queries.get(report.id)?.(report.vitals);
        else events.watchdog(report);
      }
    });
    channel?.on('error', () => {});
  }

  /** Writes one query to the watchdog; false when the channel is gone. */
  #ask(query: WatchdogQuery): boolean {
    const channel = this.#channel;
    if (!channel || channel.destroyed || !channel.writable) return false;
    channel.write(`${JSON.stringify(query)}\n`);
    return true;
  }

  abort(grace: number): void {
    if (this.kill('SIGABRT')) this.#ask({ t: 'abort', grace });
  }

  vitals(deadline: number): Promise<WorkerVitals | undefined> {
    const channel = this.#channel;
    if (!channel || channel.destroyed || !channel.writable) return Promise.resolve(undefined);
    const id = ++this.#querySeq;
    return new Promise((resolve) => {
      const timer = setTimeout(() => answer(undefined), deadline);
      const answer = (v: WorkerVitals | undefined): void => {
        clearTimeout(timer);
        this.#queries.delete(id);
        resolve(v);
      };
      this.#queries.set(id, answer);
      void this.exited.then(() => answer(undefined));
      this.#ask({ t: 'vitals', id });
    });
  }

  appMetrics(deadline: number): Promise<unknown[][] | null | undefined> {
    if (!this.#child.connected) return Promise.resolve(undefined);
    const id = ++this.#querySeq;
    return new Promise((resolve) => {
      const timer = setTimeout(() => answer(undefined), deadline);
      const answer = (m: unknown[][] | null | undefined): void => {
        clearTimeout(timer);
        this.#metricsQueries.delete(id);
        resolve(m);
      };
      this.#metricsQueries.set(id, answer);
      void this.exited.then(() => answer(undefined));
      this.#child.send(envelope({ cmd: 'app_metrics', id, deadline } satisfies MasterMessage), (err) => {
        if (err) answer(undefined);
      });
    });
  }

  send(msg: MasterMessage, handle?: unknown): void {
    if (!this.#child.connected) return;
    // a raw TCP/Pipe handle travels as 'net.Native': the worker gets its own fd of the same socket
    this.#child.send(envelope(msg), handle as net.Server | undefined, (err: Error | null) => {
      if (err) trace.master('worker %d: cannot send %s: %s', this.pid, msg.cmd, err.message);
    });
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
