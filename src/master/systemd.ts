import { spawn } from 'node:child_process';
import type { OperatorLog } from '../log.js';
import { trace } from '../trace.js';
import type { MasterEventSource } from './bus.js';
import type { SupervisorView } from './stats.js';

/** One notification datagram: `VARIABLE=VALUE` assignments, and the main pid it announces (`MAINPID=`), if any. */
interface Datagram {
  fields: Map<string, string>;
  mainPid?: number;
}

/**
 * Sends sd_notify datagrams through `systemd-notify`, one process per datagram, one at a time
 * (so they arrive in order). Node 20 cannot send on an `AF_UNIX`/`SOCK_DGRAM` socket itself (its
 * `dgram` module is UDP only, `net` is stream only) and a native addon would be a runtime
 * dependency; `systemd-notify` is on every systemd host. The master sends few messages (start,
 * reload, stop, worker-count changes, a watchdog ping every `WATCHDOG_USEC / 2`), so a short-lived
 * process each (~10 ms, measured) costs nothing noticeable; a run of `STATUS=` updates waiting
 * behind a send collapses into the latest one. `systemd-notify` waits until systemd has
 * processed each message (`BARRIER=1`), which closes the race where a message from an
 * already-exited sender is dropped; messages come from the `systemd-notify` process, not the
 * master, so the unit needs `NotifyAccess=all`.
 */
export class NotifyCarrier {
  readonly #queue: Datagram[] = [];
  #busy = false;
  #broken = false;
  readonly #command: string;
  readonly #log: OperatorLog;

  /** @param log - where a missing or failing `systemd-notify` is reported (once); @param command - the executable */
  constructor(log: OperatorLog, command = 'systemd-notify') {
    this.#log = log;
    this.#command = command;
  }

  /** Queues a datagram. A `STATUS`-only message updates the status of the last queued one instead, if any. */
  send(fields: Record<string, string>, mainPid?: number): void {
    if (this.#broken) return;
    const keys = Object.keys(fields);
    const last = this.#queue.at(-1);
    if (last && mainPid === undefined && keys.length === 1 && keys[0] === 'STATUS') {
      last.fields.set('STATUS', fields.STATUS!);
      return;
    }
    // the same message again while the previous copy still waits (watchdog pings behind a slow send)
    if (last && last.mainPid === mainPid && keys.length === last.fields.size && keys.every((k) => last.fields.get(k) === fields[k])) return;
    this.#queue.push({ fields: new Map(Object.entries(fields)), mainPid });
    this.#next();
  }

  #next(): void {
    if (this.#busy || this.#broken) return;
    const d = this.#queue.shift();
    if (!d) return;
    this.#busy = true;
    const args = [...(d.mainPid !== undefined ? [`--pid=${d.mainPid}`] : []), ...[...d.fields].map(([k, v]) => `${k}=${v}`)];
    trace.master('sd_notify %s', args.join(' '));
    const child = spawn(this.#command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (c: string) => (stderr = (stderr + c).slice(-500)));
    const done = (problem?: string): void => {
      if (problem) this.#fail(problem);
      this.#busy = false;
      this.#next();
    };
    child.once('error', (err: NodeJS.ErrnoException) =>
      done(err.code === 'ENOENT' ? `${this.#command} was not found (install systemd, or unset NOTIFY_SOCKET)` : err.message),
    );
    child.once('exit', (code, signal) => done(code === 0 ? undefined : `${this.#command} ${args.join(' ')} failed (${signal ?? `exit code ${code}`}) ${stderr.trim()}`));
  }

  #fail(problem: string): void {
    if (this.#broken) return;
    this.#broken = true;
    this.#queue.length = 0;
    this.#log.warning(`Cannot notify systemd: ${problem}. No further notifications will be sent.`);
  }
}

/** What the notifier reads from the master. */
export interface NotifyTarget {
  /** The supervisor's state (workers and their generations, the target count). */
  inspect(): Pick<SupervisorView, 'generation' | 'target' | 'workers'>;
}

/**
 * systemd's service notification protocol (sd_notify), for `Type=notify` units. Subscribes to the
 * master's events; sends:
 * - `READY=1` (with `MAINPID=` the master) once every worker of the first generation is ready;
 * - `RELOADING=1` + `MONOTONIC_USEC=` on a reload, `READY=1` when it settles (new generation in
 *   place, or rolled back);
 * - `STOPPING=1` when the master begins to stop;
 * - `STATUS=<n> workers ready` whenever that number changes;
 * - `WATCHDOG=1` every `WATCHDOG_USEC / 2` while the master's event loop runs (when systemd asks
 *   for it: `WatchdogSec=`);
 * - `MAINPID=` on a USR2 upgrade: the old master names the new one just before it exits, and the
 *   new one, once promoted, names itself (with `READY=1`). Until then a new master is silent.
 * Nothing is sent, and nothing runs, when `NOTIFY_SOCKET` is not set.
 */
export class SystemdNotifier {
  readonly #carrier: NotifyCarrier;
  readonly #master: NotifyTarget;
  /** A master started by USR2 says nothing until the old one has gone. */
  #silent: boolean;
  #readySent = false;
  #reloading = false;
  #lastStatus = '';
  #stopping = false;
  #watchdog: NodeJS.Timeout | undefined;
  readonly #watchdogEvery: number;

  /**
   * Starts notifying when `env.NOTIFY_SOCKET` is set; returns `undefined` (and does nothing) otherwise.
   * @param upgraded - this master was started by USR2 and has not been promoted yet
   */
  static attach(
    events: MasterEventSource,
    master: NotifyTarget,
    log: OperatorLog,
    upgraded: boolean,
    env: NodeJS.ProcessEnv = process.env,
  ): SystemdNotifier | undefined {
    if (!env.NOTIFY_SOCKET) return undefined;
    const usec = Number(env.WATCHDOG_USEC);
    const forUs = env.WATCHDOG_PID === undefined || Number(env.WATCHDOG_PID) === process.pid;
    const every = Number.isFinite(usec) && usec > 0 && forUs ? Math.max(1, Math.floor(usec / 2000)) : 0;
    return new SystemdNotifier(events, master, new NotifyCarrier(log), upgraded, every);
  }

  private constructor(events: MasterEventSource, master: NotifyTarget, carrier: NotifyCarrier, silent: boolean, watchdogEvery: number) {
    this.#master = master;
    this.#carrier = carrier;
    this.#silent = silent;
    this.#watchdogEvery = watchdogEvery;
    const changed = (): void => this.#update();
    events.on('worker_ready', changed);
    events.on('worker_exit', changed);
    events.on('nworkers_changed', changed);
    events.on('ready', () => this.#startWatchdog());
    events.on('reload', () => {
      if (this.#silent || !this.#readySent || this.#stopping) return;
      this.#reloading = true;
      this.#carrier.send({ RELOADING: '1', MONOTONIC_USEC: String(process.hrtime.bigint() / 1000n), STATUS: 'Reloading' });
    });
    const settled = (): void => {
      if (!this.#reloading || this.#stopping) return;
      this.#reloading = false;
      this.#carrier.send({ READY: '1', STATUS: this.#status() });
      this.#lastStatus = this.#status();
    };
    events.on('reloaded', settled);
    events.on('reload_failed', settled);
    events.on('stopping', () => {
      this.#stopping = true;
      if (!this.#silent) this.#carrier.send({ STOPPING: '1', STATUS: 'Stopping' });
    });
    events.on('handover', (pid) => {
      // Before this master stops, systemd must know the new main process, or it takes the
      // stop of its main process for the end of the service and stops the unit. From here on
      // this master says nothing but its watchdog pings (they go on until it exits: the new
      // master pings only once promoted).
      this.#carrier.send({ STATUS: 'Handing over to the new master' }, pid);
      this.#silent = true;
    });
    events.on('promoted', () => {
      this.#silent = false;
      this.#readySent = true;
      this.#lastStatus = this.#status();
      this.#carrier.send({ READY: '1', STATUS: this.#lastStatus }, process.pid);
      this.#startWatchdog();
    });
    events.on('exit', () => {
      if (this.#watchdog) clearInterval(this.#watchdog);
      this.#watchdog = undefined;
    });
  }

  #readyCounts(): { ready: number; current: number; target: number } {
    const view = this.#master.inspect();
    let ready = 0;
    let current = 0;
    for (const { info } of view.workers) {
      if (info.state !== 'ready') continue;
      ready++;
      if (info.generation === view.generation) current++;
    }
    return { ready, current, target: view.target };
  }

  #status(): string {
    const { ready } = this.#readyCounts();
    return `${ready} worker${ready === 1 ? '' : 's'} ready`;
  }

  #update(): void {
    if (this.#silent || this.#stopping) return;
    const { current, target } = this.#readyCounts();
    const status = this.#status();
    if (!this.#readySent) {
      if (current < target) return;
      this.#readySent = true;
      this.#lastStatus = status;
      this.#carrier.send({ READY: '1', STATUS: status }, process.pid);
      return;
    }
    if (status === this.#lastStatus) return;
    this.#lastStatus = status;
    this.#carrier.send({ STATUS: status });
  }

  /** Pings from the master's event loop: a blocked loop stops the pings, and systemd acts on it. */
  #startWatchdog(): void {
    if (this.#silent || this.#watchdogEvery === 0 || this.#watchdog) return;
    this.#watchdog = setInterval(() => this.#carrier.send({ WATCHDOG: '1' }), this.#watchdogEvery);
    this.#watchdog.unref();
  }
}
