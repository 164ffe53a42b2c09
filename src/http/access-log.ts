// The access log, written by each worker (and each serving thread) itself: `accesslog` is '-'
// (the worker's stdout, which is the master's) or a file opened for appending. Lines are
// gathered for at most FLUSH_MS (or FLUSH_BYTES) and written together, in one write() of whole
// lines (O_APPEND: lines of several workers never interleave inside a line), so a busy worker
// makes a system call per batch, not per request. Pending lines are written when the worker exits;
// a worker killed with SIGKILL loses at most FLUSH_MS of them. USR1 reopens the file (logrotate).
import { closeSync, openSync, writeSync } from 'node:fs';
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { ArbiterError } from '../errors.js';
import type { OperatorLog } from '../log.js';
import { compileAccessFormat, type AccessFormat } from './access-format.js';

/** Longest time (ms) a line waits before it is written. */
const FLUSH_MS = 20;
/** Gathered bytes (about) that are written at once. */
const FLUSH_BYTES = 64 * 1024;

const STARTED = Symbol('arbiter.accessStarted');
const SENT = Symbol('arbiter.accessSent');

interface Timed {
  [STARTED]?: number;
  [SENT]?: number;
}

type Chunk = string | Uint8Array | undefined | null | ((err?: Error | null) => void);
const byteLength = (chunk: Chunk, encoding: unknown): number =>
  typeof chunk === 'string' ? Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8') : chunk instanceof Uint8Array ? chunk.byteLength : 0;

/**
 * A ServerResponse that counts the body bytes the app writes (gunicorn's `B`/`b`), for the
 * server a worker model creates (`http.createServer({ ServerResponse })`). An app that runs its
 * own server gets its Content-Length instead.
 */
export class CountingResponse extends http.ServerResponse {
  /** Body bytes written so far. */
  [SENT] = 0;
  /** When the request reached the worker (declared here, so that every response has one shape). */
  [STARTED] = 0;
  override write(chunk: Chunk, encoding?: unknown, cb?: unknown): boolean {
    this[SENT] += byteLength(chunk, encoding);
    return (super.write as (...a: unknown[]) => boolean)(chunk, encoding, cb);
  }
  override end(chunk?: Chunk, encoding?: unknown, cb?: unknown): this {
    this[SENT] += byteLength(chunk, encoding);
    return (super.end as (...a: unknown[]) => this)(chunk, encoding, cb);
  }
}

/** What the access log needs from the config. */
export interface AccessLogOptions {
  accesslog: string | null;
  accessLogFormat: string;
  logFormat: 'text' | 'json';
}

/** One worker's access log. */
export class AccessLog {
  readonly #target: string;
  readonly #format: AccessFormat;
  readonly #json: boolean;
  readonly #log: OperatorLog;
  #fd: number | undefined;
  #pending = '';
  #scheduled = false;

  private constructor(target: string, format: AccessFormat, json: boolean, log: OperatorLog) {
    this.#target = target;
    this.#format = format;
    this.#json = json;
    this.#log = log;
    if (target !== '-') this.#fd = AccessLog.#open(target);
    process.once('exit', () => this.flush());
  }

  /**
   * The access log a config asks for, opened; `undefined` when `accesslog` is null.
   * @throws `ARBITER_ERR_CONFIG` when the file cannot be opened for appending.
   */
  static open(options: AccessLogOptions, log: OperatorLog): AccessLog | undefined {
    if (options.accesslog === null) return undefined;
    return new AccessLog(options.accesslog, compileAccessFormat(options.accessLogFormat), options.logFormat === 'json', log);
  }

  static #open(path: string): number {
    try {
      return openSync(path, 'a', 0o644);
    } catch (err) {
      throw new ArbiterError('ARBITER_ERR_CONFIG', `Cannot open the access log (accesslog) ${path}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Marks the start of a request (call when it reaches the worker). */
  started(res: http.ServerResponse): void {
    (res as Timed)[STARTED] = performance.now();
  }

  /** Writes the line of a finished (or aborted) request. */
  finished(req: http.IncomingMessage, res: http.ServerResponse): void {
    const t = res as Timed;
    const ms = t[STARTED] === undefined ? 0 : performance.now() - t[STARTED];
    let sent = t[SENT];
    if (sent === undefined) {
      const length = res.getHeader('content-length');
      sent = length === undefined ? undefined : Number(length);
    }
    const record = { req, res, ms, sent };
    let line: string;
    try {
      line = this.#json ? this.#format.json(record) : this.#format.text(record);
    } catch (err) {
      return this.#log.exception('Error writing the access log line', err);
    }
    this.#pending += line;
    if (this.#pending.length >= FLUSH_BYTES) this.flush();
    else if (!this.#scheduled) {
      this.#scheduled = true;
      setTimeout(this.#flushSoon, FLUSH_MS).unref();
    }
  }

  readonly #flushSoon = (): void => {
    this.#scheduled = false;
    this.flush();
  };

  /** Writes the gathered lines now. */
  flush(): void {
    const data = this.#pending;
    if (!data) return;
    this.#pending = '';
    try {
      if (this.#fd === undefined) process.stdout.write(data);
      else writeSync(this.#fd, data);
    } catch (err) {
      this.#log.error(`Error writing the access log ${this.#target}: ${(err as Error).message}`);
    }
  }

  /** USR1: writes what is gathered, then reopens the file (a rotated file's new copy). */
  reopen(): void {
    this.flush();
    if (this.#fd === undefined) return;
    const old = this.#fd;
    try {
      this.#fd = AccessLog.#open(this.#target);
    } catch (err) {
      return this.#log.error((err as Error).message); // keep writing to the old file
    }
    closeSync(old);
  }
}
