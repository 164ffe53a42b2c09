import { closeSync, existsSync, ftruncateSync, openSync, unlinkSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BALANCE_SEAT_BYTES as SEAT_BYTES } from '../protocol.js';
import { trace } from '../trace.js';

/**
 * The master's side of fair-share accepting (see `worker/accept-balance.ts`): a small file every
 * worker inherits, one 8-byte seat per accepting event loop. The master hands out seats when it
 * spawns a worker and clears them when the worker is gone (a crashed worker never clears its own).
 * The file lives in /dev/shm where there is one (memory only), is created 0600 and unlinked at
 * once, so only processes that inherit the fd can reach it.
 */
export class BalanceTable {
  /** fd of the table, inherited by every worker. */
  readonly fd: number;
  readonly #taken = new Set<number>();
  #seats = 0;
  readonly #zero = Buffer.alloc(SEAT_BYTES);

  private constructor(fd: number) {
    this.fd = fd;
  }

  /** Creates the table, or returns undefined when no file can be created (workers then accept greedily). */
  static open(): BalanceTable | undefined {
    const dir = existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
    const file = path.join(dir, `arbiter-balance-${process.pid}-${Math.random().toString(36).slice(2)}`);
    try {
      const fd = openSync(file, 'wx+', 0o600);
      unlinkSync(file);
      return new BalanceTable(fd);
    } catch (err) {
      trace.master('no balance table (%s): workers accept greedily', (err as Error).message);
      return undefined;
    }
  }

  /** Hands out `n` free seats (the lowest), cleared. */
  take(n: number): number[] {
    const seats: number[] = [];
    for (let i = 0; seats.length < n; i++) if (!this.#taken.has(i)) seats.push(i);
    for (const s of seats) {
      this.#taken.add(s);
      this.#clear(s);
    }
    const needed = Math.max(...seats, -1) + 1;
    if (needed > this.#seats) {
      this.#seats = needed;
      ftruncateSync(this.fd, needed * SEAT_BYTES);
    }
    return seats;
  }

  /** Clears seats whose worker is gone and makes them free again. */
  release(seats: readonly number[]): void {
    for (const s of seats) {
      this.#clear(s);
      this.#taken.delete(s);
    }
  }

  #clear(seat: number): void {
    try {
      writeSync(this.fd, this.#zero, 0, SEAT_BYTES, seat * SEAT_BYTES);
    } catch {
      // closed: the master is halting
    }
  }

  close(): void {
    try {
      closeSync(this.fd);
    } catch {
      // already closed
    }
  }
}
