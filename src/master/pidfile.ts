import { readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { ArbiterError } from '../errors.js';

/** True while a process with this pid exists (ours or another user's). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The master's pidfile: refused when it names another live process, written atomically
 * (temp file + rename), removed on exit only if it still holds our pid.
 */
export class Pidfile {
  path: string;
  #pid = 0;

  /** @param path - the `pidfile` option */
  constructor(path: string) {
    this.path = path;
  }

  /** Writes `pid`; throws `ARBITER_ERR_PIDFILE` when a live process holds it. */
  create(pid: number): void {
    let existing = NaN;
    try {
      existing = Number.parseInt(readFileSync(this.path, 'utf8').trim(), 10);
    } catch {
      // absent or unreadable: fine
    }
    if (Number.isInteger(existing) && existing > 0 && existing !== pid && isAlive(existing)) {
      throw new ArbiterError('ARBITER_ERR_PIDFILE', `Already running on PID ${existing} (or pid file '${this.path}' is stale)`);
    }
    const tmp = `${this.path}.${pid}.tmp`;
    try {
      writeFileSync(tmp, `${pid}\n`, { mode: 0o644 });
      renameSync(tmp, this.path);
    } catch (err) {
      try {
        unlinkSync(tmp);
      } catch {
        // nothing to clean
      }
      throw new ArbiterError('ARBITER_ERR_PIDFILE', `Cannot write pidfile '${this.path}': ${(err as Error).message}`, { cause: err });
    }
    this.#pid = pid;
  }

  /** Moves our pidfile to `path` (USR2 promotion: `<pidfile>.2` becomes `<pidfile>`). */
  rename(path: string): void {
    renameSync(this.path, path);
    this.path = path;
  }

  /** Removes the file if it still holds our pid. */
  unlink(): void {
    if (!this.#pid) return;
    try {
      if (Number.parseInt(readFileSync(this.path, 'utf8'), 10) === this.#pid) unlinkSync(this.path);
    } catch {
      // already gone
    }
    this.#pid = 0;
  }
}
