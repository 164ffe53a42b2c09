import type { ExitReason } from '../events.js';
import type { LogFields } from '../log.js';
import { APP_LOAD_ERROR, WORKER_BOOT_ERROR } from '../protocol.js';

/** What the master knows of a worker it has just reaped. */
export interface ReapedWorker {
  readonly pid: number;
  /** Exit code, or null when a signal ended it. */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** Why the master stopped it (unset: it went away on its own). */
  readonly asked: ExitReason | undefined;
  /** It died before it was ready (a promoted spare is not: it had loaded the app and run()). */
  readonly wasBooting: boolean;
  /** The master itself sent it SIGKILL. */
  readonly killSent: boolean;
}

/** One operator log line (level error) about an exit, with its structured fields. */
export interface ExitLine {
  readonly message: string;
  readonly fields: LogFields;
}

/** How a reaped worker's exit is classified and reported. */
export interface ExitVerdict {
  readonly reason: ExitReason;
  /** Error lines for the operator log, in order (none for an exit the master asked for and got). */
  readonly lines: readonly ExitLine[];
}

/**
 * Classifies an exit: the worker's own statuses for a failed load or boot first, then the
 * master's reason for stopping it, then how it went (`boot_error` before it booted, `exit` with
 * code 0, else `crash`); and says what gunicorn would log about it.
 */
export function classifyExit(x: ReapedWorker): ExitVerdict {
  const { pid, code, signal, asked, wasBooting } = x;
  let reason: ExitReason;
  if (code === APP_LOAD_ERROR) reason = 'app_load_error';
  else if (code === WORKER_BOOT_ERROR) reason = 'boot_error';
  else if (asked) reason = asked;
  else if (wasBooting && code !== null) reason = 'boot_error'; // exited on its own before it booted
  else if (code === 0) reason = 'exit';
  else reason = 'crash';
  const lines: ExitLine[] = [];
  if (wasBooting && code === 0 && !asked) {
    lines.push({ message: `Worker (pid:${pid}) exited before it booted: does the entry script call run() in every process?`, fields: { worker: pid, reason } });
  }
  const fields = { worker: pid, code, signal, reason };
  if (signal === 'SIGKILL' && !x.killSent && asked !== 'timeout') lines.push({ message: `Worker (pid:${pid}) was sent SIGKILL! Perhaps out of memory?`, fields });
  else if (signal && !asked) lines.push({ message: `Worker (pid:${pid}) was sent ${signal}!`, fields });
  else if (code !== null && code !== 0 && reason !== 'timeout') lines.push({ message: `Worker (pid:${pid}) exited with code ${code}`, fields });
  return { reason, lines };
}

/** What a worker that died before it was ready, on its own, means while the master runs. */
export interface BootExit {
  /** A reload's new generation may roll back on it (see `Reloads.failed`). */
  readonly rollback: 'app_load_error' | 'boot_error' | 'crash' | undefined;
  /** When nothing rolls back: halt with this status and reason (a crash is replaced instead). */
  readonly halt: { readonly code: number; readonly why: string } | undefined;
}

/** {@link BootExit} for an exit classified `reason`; `failure` is the worker's own account of its error. */
export function bootExit(reason: ExitReason, failure: string | undefined): BootExit {
  const rollback = reason === 'app_load_error' || reason === 'boot_error' || reason === 'crash' ? reason : undefined;
  let halt: BootExit['halt'];
  if (reason === 'app_load_error') halt = { code: APP_LOAD_ERROR, why: `App failed to load${failure ? `: ${failure}` : ''}.` };
  else if (reason === 'boot_error') halt = { code: WORKER_BOOT_ERROR, why: 'Worker failed to boot.' };
  return { rollback, halt };
}
