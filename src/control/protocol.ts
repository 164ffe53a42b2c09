import type { ReloadSuccess } from '../events.js';
import type { ArbiterStats, MasterSummary } from '../master/stats.js';
import type { LiveEvent } from './feed.js';

/**
 * The control protocol (gunicorn 25's control socket, `gunicornc`): over a unix stream socket,
 * each message is a 4-byte big-endian length followed by that many bytes of UTF-8 JSON.
 *
 * - request: `{ v, id, command, args }`
 * - response: `{ v, id, status: 'ok', data }` or `{ v, id, status: 'error', error }`
 *
 * `v` is the protocol version of the sender ({@link CONTROL_PROTOCOL}), so a client and an older
 * or newer master can tell each other apart: a master refuses a request of a version it does not
 * speak, naming both. Several requests may share a connection; answers carry the request's `id`.
 */
export const CONTROL_PROTOCOL = 1;

/** Largest answer a client accepts (bytes of JSON); a bigger length prefix is a protocol error. */
export const MAX_FRAME = 1 << 20;

/**
 * Largest request a master accepts (bytes of JSON). Requests are a few dozen bytes; the limit
 * bounds what a connection can make the master buffer (a bigger length prefix is refused at once,
 * before its bytes arrive).
 */
export const MAX_REQUEST = 64 * 1024;

/** Arguments of `scale`: a new target, or a change of the current one. */
export type ScaleArgs =
  | {
      /** The new number of workers. */
      n: number;
    }
  | {
      /** Add (positive) or remove (negative) this many workers. */
      delta: number;
    };

/** Answer of `scale`. */
export interface ScaleResult {
  /** The target before. */
  previous: number;
  /** The target now. */
  target: number;
}

/** Arguments of `stop`. */
export interface StopArgs {
  /** `true` (default): like TERM; `false`: like QUIT. */
  graceful?: boolean;
}

/** Answer of `stop`, sent as the master halts. */
export interface StopResult {
  /** The master's exit status. */
  status: number;
}

/** Arguments of `subscribe`. */
export interface SubscribeArgs {
  /** Replay this many of the most recent events first (at most `FEED_BACKLOG`, 50); default 0. */
  backlog?: number;
}

/** Answer of `subscribe`; then one `{ v, id, status: 'event', data: LiveEvent }` frame per event. */
export interface SubscribeResult {
  /** The master subscribed to (an `arbiter ls` row). */
  master: MasterSummary;
}

/** A frame pushed on a subscribed connection: one lifecycle event. */
export interface ControlEventFrame {
  /** Protocol version of the master. */
  v: number;
  /** The `id` of the `subscribe` request. */
  id: number;
  /** Tells an event from an answer. */
  status: 'event';
  /** The event. */
  data: LiveEvent;
}

/** One command: the shape of its arguments and of its answer's data. */
export interface CommandSpec<A, D> {
  /** The request's `args`. */
  args: A;
  /** The answer's `data`. */
  data: D;
}

/** Every command: its arguments and the data of its answer. */
export interface ControlCommands {
  /** Discovery (`arbiter ls`): the master in one row; no worker is asked anything. */
  info: CommandSpec<Record<string, never>, MasterSummary>;
  /** `arbiter status`: `stats()`. */
  status: CommandSpec<Record<string, never>, ArbiterStats>;
  /** `arbiter reload`: `reload()`, answered once the reload succeeded (`reloaded`) or failed (then an error). */
  reload: CommandSpec<Record<string, never>, ReloadSuccess>;
  /** `arbiter scale`: `scale()` to `n`, or by `delta` from the current target. */
  scale: CommandSpec<ScaleArgs, ScaleResult>;
  /** `arbiter stop`: `stop({ graceful })`, answered when the master halts, with its exit status. */
  stop: CommandSpec<StopArgs, StopResult>;
  /** `arbiter upgrade`: `reexec()` (USR2). */
  upgrade: CommandSpec<Record<string, never>, Record<string, never>>;
  /** `arbiter reopen`: `reopenLogs()` (USR1). */
  reopen: CommandSpec<Record<string, never>, Record<string, never>>;
  /**
   * `arbiter events` / `arbiter top`: answered at once, then the connection carries one
   * {@link ControlEventFrame} per lifecycle event until the client closes it or the master halts
   * (after the `halt` event, the master ends the connection). Requests on a subscribed connection are refused.
   */
  subscribe: CommandSpec<SubscribeArgs, SubscribeResult>;
}

/** A command name. */
export type ControlCommand = keyof ControlCommands;

/** A request frame. */
export interface ControlRequest<C extends string = string> {
  /** Protocol version of the client. */
  v: number;
  /** Chosen by the client; echoed in the answer. */
  id: number;
  /** Which command. */
  command: C;
  /** Its arguments. */
  args?: unknown;
  /**
   * Who sends it, as the client says (for the master's log: `Control: reload (pid 4242, uid
   * 1000)`). Node cannot read a unix socket's peer credentials (`SO_PEERCRED`), so the master
   * can only check this against `/proc`; see docs/cli.md, "The control socket".
   */
  client?: ControlClient;
}

/** The sender of a request, as it says ({@link ControlRequest.client}). */
export interface ControlClient {
  /** Its process id. */
  pid: number;
  /** Its effective uid (absent where there are no uids). */
  uid?: number;
}

/** An answer frame. */
export type ControlResponse<D = unknown> =
  | { v: number; id: number; status: 'ok'; data: D }
  | { v: number; id: number; status: 'error'; error: string };

/** Frames one message. */
export function encodeFrame(message: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(message), 'utf8');
  const head = Buffer.alloc(4);
  head.writeUInt32BE(body.length);
  return Buffer.concat([head, body]);
}

/** Cuts a byte stream into messages. */
export class FrameDecoder {
  #buffer: Buffer = Buffer.alloc(0);
  readonly #limit: number;

  /** @param limit - the largest frame accepted, bytes ({@link MAX_FRAME} by default) */
  constructor(limit = MAX_FRAME) {
    this.#limit = limit;
  }

  /** True while part of a frame has arrived and the rest has not. */
  get partial(): boolean {
    return this.#buffer.length > 0;
  }

  /**
   * Adds bytes; returns the messages completed by them.
   * @throws Error on a frame larger than the limit or one that is not JSON.
   */
  push(chunk: Buffer): unknown[] {
    this.#buffer = this.#buffer.length ? Buffer.concat([this.#buffer, chunk]) : chunk;
    const out: unknown[] = [];
    while (this.#buffer.length >= 4) {
      const size = this.#buffer.readUInt32BE(0);
      if (size > this.#limit) throw new Error(`control frame of ${size} bytes exceeds the ${this.#limit}-byte limit`);
      if (this.#buffer.length < 4 + size) break;
      const body = this.#buffer.subarray(4, 4 + size).toString('utf8');
      this.#buffer = this.#buffer.subarray(4 + size);
      try {
        out.push(JSON.parse(body));
      } catch (err) {
        throw new Error(`control frame is not JSON (${(err as Error).message})`);
      }
    }
    return out;
  }
}
