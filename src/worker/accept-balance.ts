import { readSync, writeSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { AcceptBalance, BalanceSeat } from '../models/base.js';
import { BALANCE_SEAT_BYTES as SEAT_BYTES } from '../protocol.js';
import { trace } from '../trace.js';

export type { BalanceSeat } from '../models/base.js';

/** Seats read at most (a bigger table is read up to here). */
const MAX_SEATS = 4096;
/** Table reads and writes happen at most this often per loop (ms); decisions in between use the last view. */
const SYNC_PERIOD = 1;
/** A loop holding more than its share stops accepting and looks again after this long (ms). */
const PAUSE_MS = 2;
/**
 * It stops yielding when the others have not accepted anything for this long (ms): they cannot
 * (a blocked loop, a stopped process), and connections must not wait for them.
 */
const MAX_STALL = 200;
/** A loop yields above `fair share * RATIO + SLACK` connections. */
const RATIO = 1.25;
const SLACK = 2;

/**
 * Fair-share accepting across workers (Puma's `wait_for_less_busy_worker`, with the other workers'
 * load actually known).
 *
 * Every worker accepts directly from the shared socket, and whoever the scheduler runs first takes
 * the connections that arrive together: 64 keep-alive connections opened in one burst can land
 * 42/11/9/2 on four workers and stay that way for their whole life. So each accepting loop
 * publishes how many connections it holds in a small table shared through an inherited file
 * (tmpfs: no disk I/O; `pwrite`/`pread` of a few bytes, at most once a millisecond per loop), and a
 * loop that holds more than its fair share (the average over the loops accepting right now, times
 * 1.25, plus 2) stops accepting for 2 ms, leaving the queued connections to the others.
 *
 * Connections never wait long for a worker that cannot take them: a loop yields only while the
 * others keep accepting; when they have accepted nothing for 200 ms (a blocked or stopped loop),
 * it accepts greedily again until they do. Under connection-per-request load every loop's count
 * stays near the average, so nobody pauses and the only cost is the throttled table I/O.
 */
export class AcceptBalancer implements AcceptBalance {
  readonly #fd: number;
  readonly #offset: number;
  readonly #own = Buffer.alloc(SEAT_BYTES);
  readonly #table = Buffer.alloc(SEAT_BYTES * MAX_SEATS);
  readonly #view = new Int32Array(this.#table.buffer, this.#table.byteOffset, 2 * MAX_SEATS);
  readonly #index: number;
  #conns = 0;
  #accepted = 0;
  #lastSync = -Infinity;
  #timer: NodeJS.Timeout | undefined;
  /** Connections above which this loop yields (from the last view of the table). */
  #limit = Infinity;
  /** Sum of the other loops' accept counters at the last sync. */
  #others = 0;
  /** The others' sum when we last saw it change, and when that was (performance.now()). */
  #othersSeen = NaN;
  #othersMovedAt = 0;
  #active = false;

  /** @param seat - where to publish (from the master) */
  constructor(seat: BalanceSeat) {
    this.#fd = seat.fd;
    this.#index = seat.index;
    this.#offset = seat.index * SEAT_BYTES;
  }

  /** Starts publishing (the loop accepts from now on). */
  join(): void {
    this.#active = true;
    this.#sync();
  }

  /** Stops publishing and clears the seat (the loop no longer accepts: draining). */
  leave(): void {
    if (!this.#active) return;
    this.#active = false;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#own.fill(0);
    this.#write();
  }

  /**
   * A connection was accepted and this loop now holds `conns`. Returns how long (ms) to stop
   * accepting: 0 to go on.
   */
  accepted(conns: number): number {
    if (!this.#active) return 0;
    this.#accepted = (this.#accepted + 1) | 0;
    this.#conns = conns;
    this.#soon();
    return conns > this.#limit ? this.#decide(true) : 0;
  }

  /** While not accepting: called when the pause is over. Returns how long (ms) to go on pausing: 0 to accept again. */
  recheck(conns: number): number {
    if (!this.#active) return 0;
    this.#conns = conns;
    return this.#decide(false);
  }

  /**
   * Above the limit of the last view: yield, unless a fresh view says otherwise or, during this
   * pause (`starting` one, or going on with one), the others have stopped accepting.
   */
  #decide(starting: boolean): number {
    this.#sync();
    if (this.#conns <= this.#limit) return 0;
    const now = performance.now();
    if (starting || this.#others !== this.#othersSeen) {
      this.#othersSeen = this.#others;
      this.#othersMovedAt = now;
    }
    if (now - this.#othersMovedAt > MAX_STALL) return 0; // the others take nothing: do not wait for them
    trace.worker('balance: %d connections > %d: not accepting for %d ms', this.#conns, Math.floor(this.#limit), PAUSE_MS);
    return PAUSE_MS;
  }

  /** A connection closed; this loop now holds `conns`. */
  closed(conns: number): void {
    if (!this.#active) return;
    this.#conns = conns;
    this.#soon();
  }

  /** Syncs now if the last sync is a period old, else once the period is over. */
  #soon(): void {
    if (performance.now() - this.#lastSync >= SYNC_PERIOD) this.#sync();
    else if (!this.#timer) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        if (this.#active) this.#sync();
      }, SYNC_PERIOD);
      this.#timer.unref();
    }
  }

  /** Publishes our count, reads everyone's, recomputes the limit. */
  #sync(): void {
    this.#lastSync = performance.now();
    this.#own.writeInt32LE(this.#conns + 1, 0);
    this.#own.writeInt32LE(this.#accepted, 4);
    if (!this.#write()) return;
    let bytes: number;
    try {
      bytes = readSync(this.#fd, this.#table, 0, this.#table.length, 0);
    } catch (err) {
      this.#fail(err);
      return;
    }
    const view = this.#view;
    let loops = 0;
    let total = 0;
    let others = 0;
    for (let i = 0, n = bytes / SEAT_BYTES; i < n; i++) {
      const v = view[2 * i]!;
      if (v <= 0) continue;
      loops += 1;
      total += v - 1;
      if (i !== this.#index) others = (others + view[2 * i + 1]!) | 0;
    }
    this.#others = others;
    this.#limit = loops > 1 ? (total / loops) * RATIO + SLACK : Infinity;
  }

  #write(): boolean {
    try {
      writeSync(this.#fd, this.#own, 0, SEAT_BYTES, this.#offset);
      return true;
    } catch (err) {
      this.#fail(err);
      return false;
    }
  }

  /** The table is unusable (should not happen): accept greedily, as without balancing. */
  #fail(err: unknown): void {
    trace.worker('balance table unusable (%s): accepting greedily', (err as Error).message);
    this.#active = false;
    this.#limit = Infinity;
  }
}
