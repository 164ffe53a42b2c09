/** Operator log levels, gunicorn's names. */
export type LogLevel = 'debug' | 'info' | 'warning' | 'error' | 'critical';

/** Anything with a `write(line)` method (a stream, a file stream, a test buffer). */
export interface LogSink {
  /** Receives one finished log line, newline included. */
  write(line: string): unknown;
}

/** The log levels, lowest first. */
export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warning', 'error', 'critical'];

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

/**
 * Operator log lines, in gunicorn's format: `[2026-11-26 17:11:21 +0000] [1234] [INFO] Booting worker with pid: 1235`.
 * Created from the `logger` and `logLevel` options; `logger: false` silences it.
 */
export class OperatorLog {
  readonly #sink: LogSink | false;
  readonly #min: number;

  /** @param sink - where lines go, or `false` for nowhere; @param level - the minimum level written */
  constructor(sink: LogSink | false, level: LogLevel) {
    this.#sink = sink;
    this.#min = RANK[level];
  }

  /** Writes one line at `level` when it is at or above the configured minimum. */
  write(level: LogLevel, message: string): void {
    if (!this.#sink || RANK[level] < this.#min) return;
    const line = `[${timestamp()}] [${process.pid}] [${level === 'warning' ? 'WARNING' : level.toUpperCase()}] ${message}\n`;
    try {
      this.#sink.write(line);
    } catch {
      // A broken log sink must never take the arbiter down.
    }
  }

  /** Debug-level line. */
  debug(message: string): void {
    this.write('debug', message);
  }
  /** Info-level line. */
  info(message: string): void {
    this.write('info', message);
  }
  /** Warning-level line. */
  warning(message: string): void {
    this.write('warning', message);
  }
  /** Error-level line. */
  error(message: string): void {
    this.write('error', message);
  }
  /** Critical-level line. */
  critical(message: string): void {
    this.write('critical', message);
  }
  /** Error line followed by the error's stack (or its string form). */
  exception(message: string, err: unknown): void {
    const detail = err instanceof Error ? (err.stack ?? String(err)) : String(err);
    this.write('error', `${message}\n${detail}`);
  }
}
