import { spawn, type ChildProcess } from 'node:child_process';
import type { OperatorLog } from '../log.js';
import type { Emit } from './bus.js';
import { entryArgs } from './entry.js';
import { upgradeHandover, whenOldMasterGone, type MasterListener } from './listeners.js';
import type { Pidfile } from './pidfile.js';

/**
 * The USR2 upgrade, both sides: the old master starts a new one from the same entry script,
 * handing it the listening sockets; the new master takes the old one's place (its pidfile) once
 * that one has exited.
 */
export class Handover {
  readonly #log: OperatorLog;
  readonly #emit: Emit;
  #child: ChildProcess | undefined;
  #upgraded = false;

  constructor(log: OperatorLog, emit: Emit) {
    this.#log = log;
    this.#emit = emit;
  }

  /** The new master started by USR2, while it lives (this master must not close the sockets it serves on). */
  get child(): ChildProcess | undefined {
    return this.#child;
  }

  /**
   * USR2: start a new master from the same entry script and `execArgv`, handing it `listeners`
   * as inherited fds (it never rebinds). Both masters then serve; WINCH/TERM to this one
   * completes the upgrade, HUP to this one plus TERM to the new one rolls it back.
   */
  reexec(listeners: readonly MasterListener[]): void {
    if (this.#child) {
      this.#log.warning('USR2 signal ignored. Child exists.');
      return;
    }
    this.#emit('pre_exec');
    const { fds, env } = upgradeHandover(listeners);
    const child = spawn(process.execPath, entryArgs(), {
      stdio: ['inherit', 'inherit', 'inherit', ...fds, 'ipc'],
      // systemd's WATCHDOG_PID names this master: the new one pings once it is the main process
      env: { ...process.env, WATCHDOG_PID: undefined, ...env },
    });
    if (child.pid === undefined) {
      child.once('error', (err) => this.#log.exception('Cannot start a new master', err));
      return;
    }
    this.#child = child;
    this.#log.info(`Started new master with pid: ${child.pid}`, { master: child.pid });
    child.once('exit', (code, signal) => {
      this.#log.info(`New master (pid:${child.pid}) exited (${signal ?? `code ${code}`})`, { master: child.pid, code, signal });
      this.#child = undefined;
    });
  }

  /**
   * In a master started by USR2: when the old master is gone (IPC disconnect), take over its
   * pidfile (`pidfile` written at `<path>.2`). It may be gone already (it stopped while this
   * process was loading): then at once. Nothing once `halted()`.
   */
  awaitPromotion(halted: () => boolean, pidfile: Pidfile | undefined, path: string | null): void {
    this.#upgraded = true;
    whenOldMasterGone(() => {
      if (halted()) return;
      if (pidfile && path) {
        try {
          pidfile.rename(path);
        } catch (err) {
          this.#log.exception('Cannot take over the pidfile', err);
        }
      }
      this.#log.info('Master has been promoted.');
      this.#emit('promoted');
    });
  }

  /** The master halted: drop the IPC channel to the old master, or it keeps this process alive. */
  release(): void {
    if (this.#upgraded && process.connected) process.disconnect();
  }

  /**
   * The master has halted and removed its files: only now tell the new master it is gone (it
   * renames <pidfile>.2 and <socket>.2 into place on the disconnect): had it renamed first, our
   * removal of the files could remove its. Does not wait for it.
   */
  letGo(): void {
    const child = this.#child;
    if (!child) return;
    child.disconnect();
    child.unref();
  }
}
