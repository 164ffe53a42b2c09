/**
 * Stable error codes. Every error the library throws or rejects with is an {@link ArbiterError}
 * carrying one of these codes; match on `code`, never on the message.
 *
 * | code | meaning |
 * |---|---|
 * | `ARBITER_ERR_CONFIG` | an option (or `WEB_CONCURRENCY` / `PORT`) has a bad value or an unknown name |
 * | `ARBITER_ERR_BIND` | a listener could not be bound (address in use after retries, permission, bad fd) |
 * | `ARBITER_ERR_PIDFILE` | the pidfile is held by a live master or cannot be written |
 * | `ARBITER_ERR_STATE` | a control method was called when it makes no sense (before `run()`, in a worker, twice) |
 * | `ARBITER_ERR_HANDLER` | `load()` returned something the worker model cannot serve (logged by the worker, which exits with status 3) |
 * | `ARBITER_ERR_APP` | an app module (the `arbiter` command, `moduleApp()`) cannot be found, or its export is nothing arbiter can serve |
 * | `ARBITER_ERR_CONTROL` | the control socket: no master found, permission denied, the master refused or failed a command |
 */
export type ArbiterErrorCode =
  | 'ARBITER_ERR_CONFIG'
  | 'ARBITER_ERR_BIND'
  | 'ARBITER_ERR_PIDFILE'
  | 'ARBITER_ERR_STATE'
  | 'ARBITER_ERR_HANDLER'
  | 'ARBITER_ERR_APP'
  | 'ARBITER_ERR_CONTROL';

/**
 * The one error class of the library.
 *
 * @example
 * ```ts
 * try { new Arbiter({ config: { workers: -1 }, load: () => handler }); }
 * catch (err) { if (err instanceof ArbiterError && err.code === 'ARBITER_ERR_CONFIG') ... }
 * ```
 */
export class ArbiterError extends Error {
  /** Stable machine-readable code. */
  readonly code: ArbiterErrorCode;

  /**
   * @param code - one of {@link ArbiterErrorCode}
   * @param message - human-readable explanation
   * @param options - `cause` is kept on the error
   */
  constructor(code: ArbiterErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ArbiterError';
    this.code = code;
  }
}

/** Renders a received value for an error message: `"abc" (string)`, `-1 (number)`. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'function') return `[function ${value.name || 'anonymous'}]`;
  let shown: string;
  try {
    shown = typeof value === 'string' ? JSON.stringify(value) : typeof value === 'object' ? JSON.stringify(value) ?? String(value) : String(value);
  } catch {
    shown = Object.prototype.toString.call(value);
  }
  if (shown.length > 80) shown = `${shown.slice(0, 77)}...`;
  return `${shown} (${Array.isArray(value) ? 'array' : typeof value})`;
}

/** The one message template: ``Expected `timeout` to be ..., got "abc" (string)``. */
export function configError(name: string, expected: string, value: unknown): ArbiterError {
  return new ArbiterError('ARBITER_ERR_CONFIG', `Expected \`${name}\` to be ${expected}, got ${describeValue(value)}`);
}
