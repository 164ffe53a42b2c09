// The control commands' handlers: what each command does to the master (gunicorn's handle_*),
// apart from how requests arrive (server.ts: the socket, frames and limits).
import type { ReloadFailure, ReloadSuccess } from '../events.js';
import type { MasterBus } from '../master/bus.js';
import type { ArbiterStats, MasterSummary } from '../master/stats.js';
import type { ControlCommand, ControlCommands } from './protocol.js';

/** What the control commands call: the same public methods a library user calls on an `Arbiter`. */
export interface ControlTarget {
  summary(): MasterSummary;
  stats(): Promise<ArbiterStats>;
  reload(): void;
  scale(n: number): void;
  readonly numWorkers: number;
  stop(options: { graceful?: boolean }): Promise<number>;
  reexec(): void;
  reopenLogs(): void;
}

/** The master's events, as the control server hears them. */
export type ControlEvents = Pick<MasterBus, 'on' | 'once' | 'off'>;

/** Writes the `Control: …` line of a command (the client's identity is added). */
export type Note = (action: string, level?: 'debug' | 'info' | 'warning') => void;

/**
 * What a handler works with: the master it acts on, its events, and a way to wait for an event
 * that ends when the master halts (the control server is all three).
 */
export interface CommandContext {
  readonly target: ControlTarget;
  readonly events: ControlEvents;
  /** See `ControlServer.wait`. */
  wait<T>(start: (settle: (err: Error | undefined, value?: T) => void) => () => void, onHalt?: boolean): Promise<T>;
}

/** Runs one command; what it returns (or throws) is the answer. */
export type Handler<C extends ControlCommand> = (
  server: CommandContext,
  args: Partial<ControlCommands[C]['args']>,
  note: Note,
) => Promise<ControlCommands[C]['data']> | ControlCommands[C]['data'];

const REASONS: Record<ReloadFailure['reason'], string> = {
  config_error: 'the new config could not be read or applied',
  app_load_error: 'the app failed to load',
  boot_error: 'a worker failed to boot',
  crash: 'a worker crashed while booting',
  boot_timeout: 'a worker was not ready within bootTimeout',
};

/** `reload failed: the app failed to load: SyntaxError: … (/srv/app/app.mjs:3); the 2 workers of the previous generation keep serving`. */
export function reloadFailureMessage(f: ReloadFailure): string {
  const detail = f.error ? `: ${f.error}` : '';
  return `reload failed: ${REASONS[f.reason]}${detail}; the ${f.keptWorkers} workers of the previous generation keep serving`;
}

/** `1 worker`, `3 workers`. */
const workers = (n: number): string => `${n} worker${n === 1 ? '' : 's'}`;

/** An integer argument, or an error naming it. */
function integerArg(command: string, name: string, value: unknown): number {
  if (typeof value === 'number' && Number.isSafeInteger(value)) return value;
  throw new Error(`${command}: \`${name}\` must be an integer, got ${JSON.stringify(value) ?? String(value)}`);
}

/** One function per command (gunicorn's handlers), each a call a library user could make. */
export const HANDLERS: { [C in Exclude<ControlCommand, 'subscribe'>]: Handler<C> } = {
  info: (s, _args, note) => {
    note('info', 'debug'); // every `arbiter ls` asks every master: not worth an info line
    return s.target.summary();
  },
  status: (s, _args, note) => {
    note('status', 'debug');
    return s.target.stats();
  },
  reload: (s, _args, note) =>
    s.wait<ReloadSuccess>((settle) => {
      note('reload');
      const ok = (detail: ReloadSuccess): void => settle(undefined, detail);
      const failed = (f: ReloadFailure): void => settle(new Error(reloadFailureMessage(f)));
      s.events.once('reloaded', ok);
      s.events.once('reload_failed', failed);
      s.target.reload();
      return () => {
        s.events.off('reloaded', ok);
        s.events.off('reload_failed', failed);
      };
    }),
  scale: (s, args, note) => {
    const previous = s.target.numWorkers;
    const { n, delta } = args as { n?: unknown; delta?: unknown };
    let next: number;
    if (delta !== undefined) {
      const by = integerArg('scale', 'delta', delta);
      // TTOU at one worker: nothing to retire, and not an error
      if (by < 0 && previous <= 1) {
        note(`scale ${by} ignored: already at ${workers(previous)}, the minimum`);
        return { previous, target: previous };
      }
      next = previous + by;
    } else if (n !== undefined) next = integerArg('scale', 'n', n);
    else throw new Error('scale needs `n` (a number of workers) or `delta` (a change of it)');
    try {
      s.target.scale(next);
    } catch (err) {
      note(`scale ${previous} -> ${next} refused: ${(err as Error).message}`, 'warning');
      throw new Error(`${(err as Error).message} (the target is ${workers(previous)})`);
    }
    note(`scale ${previous} -> ${next}`);
    return { previous, target: s.target.numWorkers };
  },
  stop: (s, args, note) =>
    s.wait<{ status: number }>((settle) => {
      const graceful = args.graceful ?? true;
      note(`stop (${graceful ? 'graceful' : 'quick'})`);
      const onExit = (status: number): void => settle(undefined, { status });
      s.events.once('exit', onExit);
      void s.target.stop({ graceful });
      return () => s.events.off('exit', onExit);
    }, true),
  upgrade: (s, _args, note) => {
    note('upgrade');
    s.target.reexec();
    return {};
  },
  reopen: (s, _args, note) => {
    note('reopen');
    s.target.reopenLogs();
    return {};
  },
};
