import { readSync, writeSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { AcceptBalance, BalanceSeat } from '../models/base.js';
import { BALANCE_SEAT_BYTES as SEAT_BYTES } from '../protocol.js';
import { trace } from '../trace.js';

export type { BalanceSeat } from '../models/base.js';

/** Seats read at most (a bigger table is read up to here). */
const MAX_SEATS = 4096;
/** Our seat is rewritten at most this often (ms), and only when our count moved by {@link drift}. */
const WRITE_PERIOD = 1;
/** The table is read at most this often (ms) on the accept path (a decision to yield always reads it). */
const READ_PERIOD = 5;
/** A loop holding more than its share stops accepting and looks again after this long (ms). */
const PAUSE_MS = 2;
/**
 * It stops yielding when the others have not accepted anything for this long (ms): they cannot
 * (a blocked loop, a stopped process), and connections must not wait for them.
 */
const MAX_STALL = 200;
/** Our accept counter is republished at most this often (ms) when only it moved (the others' stall check reads it). */
const ACCEPTS_PERIOD = MAX_STALL / 4;
/** A loop yields above `fair share * RATIO + SLACK` connections (so never with SLACK or fewer). */
const RATIO = 1.25;
const SLACK = 2;
/** How far our published count may lag the real one: the others' view is good to about SLACK. */
const drift = (published: number): number => Math.max(SLACK, Math.ceil(published / 4));

/**
 * Fair-share accepting across workers (Puma's `wait_for_less_busy_worker`, with the other workers'
 * load actually known).
 *
 * Every worker accepts directly from the shared socket, and whoever the scheduler runs first takes
 * the connections that arrive together: 64 keep-alive connections opened in one burst can land
 * 42/11/9/2 on four workers and stay that way for their whole life. So each accepting loop
 * publishes how many connections it holds in a small table shared through an inherited file
 * (tmpfs: no disk I/O), and a loop that holds more than its fair share (the average over the loops
 * accepting right now, times 1.25, plus 2) stops accepting for 2 ms at a time, leaving the queued
 * connections to the others.
 *
 * Connections never wait long for a worker that cannot take them: a loop yields only while the
 * others keep accepting; when they have accepted nothing for 200 ms (a blocked or stopped loop),
 * it accepts greedily again until they do (once: it does not wait another 200 ms per connection).
 *
 * The accept path stays cheap: a loop rewrites its seat only when its count has moved by 2 (or a
 * quarter) since it last did, at most once a millisecond, and reads the table at most every 5 ms,
 * or when it is about to yield; with 2 connections or fewer it never yields, so under
 * connection-per-request load (a few connections per loop at any time) there is almost no I/O.
 */
export class AcceptBalancer implements AcceptBalance {
  readonly #fd: number;
  readonly #offset: number;
  readonly #own = Buffer.alloc(SEAT_BYTES);
  readonly #table = Buffer.alloc(SEAT_BYTES * MAX_SEATS);
  readonly #index: number;
  #conns = 0;
  #accepted = 0;
  /** The count in our seat, and when we wrote it / last read the table (performance.now()). */
  #published = 0;
  #wroteAt = -Infinity;
  #readAt = -Infinity;
  /** Connections above which this loop yields (from the last view of the table). */
  #limit = Infinity;
  /** Sum of the other loops' accept counters at the last sync. */
  #others = 0;
  /** The others' sum when we last saw it change, and when that was (performance.now()). */
  #othersSeen = NaN;
  #othersMovedAt = 0;
  /** The others' sum when we found them stalled: until it moves, we accept greedily. */
  #stalledOthers = NaN;
  /** The accept counter in our seat. */
  #publishedAccepts = 0;
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
    this.#write();
    this.#read();
  }

  /** Stops publishing and clears the seat (the loop no longer accepts: draining). */
  leave(): void {
    if (!this.#active) return;
    this.#active = false;
    this.#own.fill(0);
    this.#pwrite();
  }

  /**
   * A connection was accepted and this loop now holds `conns`. Returns how long (ms) to stop
   * accepting: 0 to go on.
   */
  accepted(conns: number): number {
    if (!this.#active) return 0;
    this.#accepted = (this.#accepted + 1) | 0;
    this.#conns = conns;
    if (conns <= SLACK) {
      this.#publishIfMoved();
      return 0;
    }
    const now = performance.now();
    this.#publishIfMoved(now);
    if (now - this.#readAt >= READ_PERIOD) this.#read(now);
    return conns > this.#limit ? this.#decide(true) : 0;
  }

  /** While not accepting: called when the pause is over. Returns how long (ms) to go on pausing: 0 to accept again. */
  recheck(conns: number): number {
    if (!this.#active) return 0;
    this.#conns = conns;
    return this.#decide(false);
  }

  /** A connection closed; this loop now holds `conns`. */
  closed(conns: number): void {
    if (!this.#active) return;
    this.#conns = conns;
    this.#publishIfMoved();
  }

  /**
   * Above the limit of the last view: yield, unless a fresh view says otherwise or, during this
   * pause (`starting` one, or going on with one), the others have stopped accepting.
   */
  #decide(starting: boolean): number {
    const now = performance.now();
    this.#write(now);
    this.#read(now);
    if (this.#conns <= this.#limit) return 0;
    if (this.#others === this.#stalledOthers) return 0; // still stalled: no new wait until they accept again
    if (starting || this.#others !== this.#othersSeen) {
      this.#othersSeen = this.#others;
      this.#othersMovedAt = now;
    }
    if (now - this.#othersMovedAt > MAX_STALL) {
      this.#stalledOthers = this.#others; // the others take nothing: do not wait for them
      return 0;
    }
    trace.worker('balance: %d connections > %d: not accepting for %d ms', this.#conns, Math.floor(this.#limit), PAUSE_MS);
    return PAUSE_MS;
  }

  /**
   * Rewrites our seat when our count has drifted from what it says (at most every WRITE_PERIOD
   * ms), or when only our accept counter moved (at most every ACCEPTS_PERIOD ms: a loop that
   * accepts and closes at 0-2 connections must not look stalled to the others).
   */
  #publishIfMoved(now?: number): void {
    const drifted = Math.abs(this.#conns - this.#published) >= drift(this.#published);
    if (!drifted && this.#accepted === this.#publishedAccepts) return;
    const t = now ?? performance.now();
    if (t - this.#wroteAt >= (drifted ? WRITE_PERIOD : ACCEPTS_PERIOD)) this.#write(t);
  }

  /** Publishes our count and accept counter. */
  #write(now = performance.now()): void {
    this.#wroteAt = now;
    this.#published = this.#conns;
    this.#publishedAccepts = this.#accepted;
    this.#own.writeInt32LE(this.#conns + 1, 0);
    this.#own.writeInt32LE(this.#accepted, 4);
    this.#pwrite();
  }

  /** Reads everyone's counts and recomputes the limit. */
  #read(now = performance.now()): void {
    this.#readAt = now;
    let bytes: number;
    try {
      bytes = readSync(this.#fd, this.#table, 0, this.#table.length, 0);
    } catch (err) {
      this.#fail(err);
      return;
    }
    const table = this.#table; // seats are little-endian (written with writeInt32LE), whatever the CPU
    let loops = 0;
    let total = 0;
    let others = 0;
    for (let i = 0, n = Math.floor(bytes / SEAT_BYTES); i < n; i++) {
      const v = table.readInt32LE(i * SEAT_BYTES);
      if (v <= 0) continue;
      loops += 1;
      total += v - 1;
      if (i !== this.#index) others = (others + table.readInt32LE(i * SEAT_BYTES + 4)) | 0;
    }
    this.#others = others;
    this.#limit = loops > 1 ? (total / loops) * RATIO + SLACK : Infinity;
  }

  #pwrite(): void {
    try {
      writeSync(this.#fd, this.#own, 0, SEAT_BYTES, this.#offset);
    } catch (err) {
      this.#fail(err);
    }
  }

  /** The table is unusable (should not happen): accept greedily, as without balancing. */
  #fail(err: unknown): void {
    trace.worker('balance table unusable (%s): accepting greedily', (err as Error).message);
    this.#active = false;
    this.#limit = Infinity;
  }
}
