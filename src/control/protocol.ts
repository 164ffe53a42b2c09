import type { ReloadSuccess } from '../events.js';
import type { ArbiterStats, MasterSummary } from '../master/stats.js';

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

/** Largest frame accepted (bytes of JSON); a bigger length prefix is a protocol error. */
export const MAX_FRAME = 1 << 20;

/** Every command: its arguments and the data of its answer. */
export interface ControlCommands {
  /** Discovery (`arbiter ls`): the master in one row; no worker is asked anything. */
  info: { args: Record<string, never>; data: MasterSummary };
  /** `arbiter status`: `stats()`. */
  status: { args: Record<string, never>; data: ArbiterStats };
  /** `arbiter reload`: `reload()`, answered once the reload succeeded (`reloaded`) or failed (then an error). */
  reload: { args: Record<string, never>; data: ReloadSuccess };
  /** `arbiter scale`: `scale()` to `n`, or by `delta` from the current target. */
  scale: { args: { n: number } | { delta: number }; data: { previous: number; target: number } };
  /** `arbiter stop`: `stop({ graceful })`, answered when the master halts, with its exit status. */
  stop: { args: { graceful?: boolean }; data: { status: number } };
  /** `arbiter upgrade`: `reexec()` (USR2). */
  upgrade: { args: Record<string, never>; data: Record<string, never> };
  /** `arbiter reopen`: `reopenLogs()` (USR1). */
  reopen: { args: Record<string, never>; data: Record<string, never> };
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

  /**
   * Adds bytes; returns the messages completed by them.
   * @throws Error on a frame larger than {@link MAX_FRAME} or one that is not JSON.
   */
  push(chunk: Buffer): unknown[] {
    this.#buffer = this.#buffer.length ? Buffer.concat([this.#buffer, chunk]) : chunk;
    const out: unknown[] = [];
    while (this.#buffer.length >= 4) {
      const size = this.#buffer.readUInt32BE(0);
      if (size > MAX_FRAME) throw new Error(`control frame of ${size} bytes exceeds the ${MAX_FRAME}-byte limit`);
      if (this.#buffer.length < 4 + size) break;
      const body = this.#buffer.subarray(4, 4 + size).toString('utf8');
      this.#buffer = this.#buffer.subarray(4 + size);
      out.push(JSON.parse(body));
    }
    return out;
  }
}
