import { appStack } from './app-errors.js';

/** Operator log levels, gunicorn's names. */
export type LogLevel = 'debug' | 'info' | 'warning' | 'error' | 'critical';

/** Anything with a `write(line)` method (a stream, a file stream, a test buffer). */
export interface LogSink {
  /** Receives one finished log line, newline included. */
  write(line: string): unknown;
}

/** The log levels, lowest first. */
export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warning', 'error', 'critical'];

/**
 * How operator lines are written: `'text'` is gunicorn's format; `'json'` is one JSON object per
 * line (`time`, `level`, `pid`, `msg`, then the line's fields) for log pipelines.
 */
export type LogFormat = 'text' | 'json';

/** The log formats. */
export const LOG_FORMATS: readonly LogFormat[] = ['text', 'json'];

/**
 * Structured fields of one operator line, e.g. `{ worker: 1235, signal: 'SIGKILL' }`. Only the
 * `'json'` format writes them (the text line already says the same in words); `undefined` values
 * are left out. A list of records (the requests a `WORKER TIMEOUT` cut) is written as a JSON array.
 */
export type LogFields = Readonly<Record<string, string | number | boolean | null | undefined | readonly object[]>>;

/** The options an {@link OperatorLog} is made from (a resolved config has them all). */
export interface LogOptions {
  /** Where lines go, or `false` for nowhere. */
  logger: LogSink | false;
  /** The minimum level written. */
  logLevel: LogLevel;
  /** Line format. */
  logFormat: LogFormat;
}

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warning: 30, error: 40, critical: 50 };


function pad(n: number): string {
  return String(n).padStart(2, '0');
}

/** gunicorn's timestamp: `2026-11-26 17:11:21 +0000`. */
function timestamp(d = new Date()): string {
  const off = -d.getTimezoneOffset();
  const sign = off >= 0 ? '+' : '-';
  const abs = Math.abs(off);
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())} ` +
    `${sign}${pad(Math.floor(abs / 60))}${pad(abs % 60)}`
  );
}

/** The `err` field of a JSON line: what an exception line carries. */
function errorFields(err: unknown): Record<string, unknown> {
  if (!(err instanceof Error)) return { message: String(err) };
  const out: Record<string, unknown> = { type: err.name, message: err.message, stack: appStack(err) };
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' || typeof code === 'number') out.code = code;
  return out;
}

/**
 * Operator log lines. Text (the default) is gunicorn's format:
 * `[2026-11-26 17:11:21 +0000] [1234] [INFO] Booting worker with pid: 1235`, an exception's stack on
 * the lines that follow. JSON is one object per line, a stack never spread over lines:
 * `{"time":"2026-11-26T17:11:21.042Z","level":"info","pid":1234,"msg":"Booting worker with pid: 1235","worker":1235}`.
 * Its `msg` is always one line: the first line of the message; the lines after it go to `err.stack`
 * when they hold stack frames (`err.message` is their first line), else to `detail`.
 * An exception's stack shows the app's frames first (see `appStack`), in both formats.
 * Created from the `logger`, `logLevel` and `logFormat` options; `logger: false` silences it.
 */
export class OperatorLog {
  readonly #sink: LogSink | false;
  readonly #min: number;
  readonly #json: boolean;

  /**
   * @param sink - where lines go, or `false` for nowhere
   * @param level - the minimum level written
   * @param format - `'text'` (gunicorn's) or `'json'`
   */
  constructor(sink: LogSink | false, level: LogLevel, format: LogFormat = 'text') {
    this.#sink = sink;
    this.#min = RANK[level];
    this.#json = format === 'json';
  }

  /** The log a config asks for (`logger`, `logLevel`, `logFormat`). */
  static from(options: LogOptions): OperatorLog {
    return new OperatorLog(options.logger, options.logLevel, options.logFormat);
  }

  /** Writes one line at `level` when it is at or above the configured minimum; `fields` go into JSON lines only. */
  write(level: LogLevel, message: string, fields?: LogFields): void {
    this.#write(level, message, fields, undefined);
  }

  #write(level: LogLevel, message: string, fields: LogFields | undefined, err: unknown): void {
    if (!this.#sink || RANK[level] < this.#min) return;
    let line: string;
    if (this.#json) {
      // `msg` is one line, whatever the caller passed: the lines after the first go to `err.stack`
      // when they hold stack frames (and no error came with the line), else to `detail`.
      const nl = message.indexOf('\n');
      const msg = nl < 0 ? message : message.slice(0, nl).replace(/\r$/, '');
      const rest = nl < 0 ? '' : message.slice(nl + 1);
      const entry: Record<string, unknown> = { time: new Date().toISOString(), level, pid: process.pid, msg };
      for (const [k, v] of Object.entries(fields ?? {})) if (!(k in entry) && v !== undefined) entry[k] = v;
      if (err !== undefined) entry.err = errorFields(err);
      if (rest && entry.err === undefined && /^\s+at /m.test(rest)) entry.err = { message: rest.split('\n', 1)[0]!.replace(/:$/, ''), stack: rest };
      else if (rest) entry.detail ??= rest;
      line = `${JSON.stringify(entry)}\n`;
    } else {
      const text = err === undefined ? message : `${message}\n${appStack(err)}`;
      line = `[${timestamp()}] [${process.pid}] [${level === 'warning' ? 'WARNING' : level.toUpperCase()}] ${text}\n`;
    }
    try {
      this.#sink.write(line);
    } catch {
      // A broken log sink must never take the arbiter down.
    }
  }

  /** Debug-level line. */
  debug(message: string, fields?: LogFields): void {
    this.write('debug', message, fields);
  }
  /** Info-level line. */
  info(message: string, fields?: LogFields): void {
    this.write('info', message, fields);
  }
  /** Warning-level line. */
  warning(message: string, fields?: LogFields): void {
    this.write('warning', message, fields);
  }
  /** Error-level line. */
  error(message: string, fields?: LogFields): void {
    this.write('error', message, fields);
  }
  /** Critical-level line. */
  critical(message: string, fields?: LogFields): void {
    this.write('critical', message, fields);
  }
  /**
   * Error line about `err`: in text, followed by its stack (or its string form) on the next lines;
   * in JSON, with an `err` field (`type`, `message`, `stack`, `code`). The stack keeps the app's
   * frames and leaves out Node's and arbiter's, counted on one line (when it has a frame of the app).
   */
  exception(message: string, err: unknown, fields?: LogFields): void {
    this.#write('error', message, fields, err);
  }
}
