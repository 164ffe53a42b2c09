import { chmodSync, lstatSync, mkdirSync, renameSync, statSync, symlinkSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { ReloadFailure, ReloadSuccess } from '../events.js';
import type { MasterBus } from '../master/bus.js';
import type { OperatorLog } from '../log.js';
import type { ArbiterStats, MasterSummary } from '../master/stats.js';
import { whenOldMasterGone } from '../master/listeners.js';
import { trace } from '../trace.js';
import { connectable, controlRequest } from './client.js';
import { controlDir, defaultControlPath, ensurePrivateDir } from './paths.js';
import { CONTROL_PROTOCOL, encodeFrame, FrameDecoder, type ControlCommand, type ControlCommands, type ControlRequest } from './protocol.js';

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

type Handler<C extends ControlCommand> = (server: ControlServer, args: Partial<ControlCommands[C]['args']>) => Promise<ControlCommands[C]['data']> | ControlCommands[C]['data'];

const REASONS: Record<ReloadFailure['reason'], string> = {
  config_error: 'the new config could not be read or applied',
  app_load_error: 'the app failed to load',
  boot_error: 'a worker failed to boot',
  crash: 'a worker crashed while booting',
  boot_timeout: 'a worker was not ready within bootTimeout',
};

/** One function per command (gunicorn's handlers), each a call a library user could make. */
const HANDLERS: { [C in ControlCommand]: Handler<C> } = {
  info: (s) => s.target.summary(),
  status: (s) => s.target.stats(),
  reload: (s) =>
    s.wait<ReloadSuccess>((settle) => {
      const ok = (detail: ReloadSuccess): void => settle(undefined, detail);
      const failed = (f: ReloadFailure): void =>
        settle(new Error(`reload failed: ${REASONS[f.reason]}${f.error ? `: ${f.error}` : ''}; the ${f.keptWorkers} workers of the previous generation keep serving`));
      s.events.once('reloaded', ok);
      s.events.once('reload_failed', failed);
      s.target.reload();
      return () => {
        s.events.off('reloaded', ok);
        s.events.off('reload_failed', failed);
      };
    }),
  scale: (s, args) => {
    const previous = s.target.numWorkers;
    const n = 'delta' in args && args.delta !== undefined ? previous + args.delta : (args as { n?: number }).n;
    try {
      s.target.scale(n as number);
    } catch (err) {
      throw new Error(`${(err as Error).message} (the target is ${previous} workers)`);
    }
    return { previous, target: s.target.numWorkers };
  },
  stop: (s, args) =>
    s.wait<{ status: number }>((settle) => {
      const onExit = (status: number): void => settle(undefined, { status });
      s.events.once('exit', onExit);
      void s.target.stop({ graceful: args.graceful ?? true });
      return () => s.events.off('exit', onExit);
    }, true),
  upgrade: (s) => {
    s.target.reexec();
    return {};
  },
  reopen: (s) => {
    s.target.reopenLogs();
    return {};
  },
};

/**
 * The master's control socket (SPEC §9): a unix socket, mode 0600 in a 0700 directory, that
 * serves the commands of {@link ControlCommands}. It belongs to the master (a library user gets
 * it too), does nothing while nobody talks to it, and goes away when the master halts. Only this
 * socket can change anything: nothing on TCP accepts commands.
 */
export class ControlServer {
  /** The arbiter the commands act on. */
  readonly target: ControlTarget;
  /** The master's events (for commands that answer once something happened). */
  readonly events: ControlEvents;
  readonly #log: OperatorLog;
  #server: net.Server | undefined;
  readonly #sockets = new Set<net.Socket>();
  /** Where we listen, and the inode we created there (removed on close only if it is still ours). */
  #path: string | undefined;
  #ino = 0;
  /** `<controlDir>/<pid>.sock` symlink pointing at an explicitly configured path, for discovery. */
  #link: string | undefined;
  /** Pending answers that wait for an event; settled with an error when the master halts. */
  readonly #waiting = new Set<(err: Error) => void>();
  #closed = false;
  readonly #backstop = (): void => this.#unlink();

  /** @param target - the `Arbiter`; @param events - its internal event bus; @param log - operator log */
  constructor(target: ControlTarget, events: ControlEvents, log: OperatorLog) {
    this.target = target;
    this.events = events;
    this.#log = log;
    // The file goes at once (a new master started by USR2 renames its own into place when we
    // are gone: the master hands over only after this), connected clients keep their
    // connection; answers waiting for the halt go out first (they settle now, reply on the
    // microtask queue), then the connections close.
    events.once('exit', () => {
      this.#closed = true;
      this.#unlink();
      for (const cancel of [...this.#waiting]) cancel(new Error('the master stopped'));
      setImmediate(() => this.close());
    });
  }

  /** The path clients connect to (after {@link ControlServer.listen} succeeded). */
  get path(): string | undefined {
    return this.#path;
  }

  /**
   * Opens the socket: `option` is `true` (the automatic path) or a path. A stale socket of a dead
   * master is replaced; a live one is left alone — except that a new master started by USR2 with
   * an explicit path listens at `<path>.2` and takes `<path>` over when the old master exits (as
   * with the pidfile). Failures are logged; the master runs on without a control socket.
   */
  async listen(option: true | string, upgraded: boolean): Promise<void> {
    try {
      await this.#listen(option, upgraded);
    } catch (err) {
      this.#log.warning(`Cannot open the control socket: ${(err as Error).message}; running without it.`);
      this.close();
    }
  }

  async #listen(option: true | string, upgraded: boolean): Promise<void> {
    const auto = option === true;
    const wanted = auto ? defaultControlPath(process.pid) : path.resolve(option);
    if (auto) ensurePrivateDir(path.dirname(wanted));
    else mkdirSync(path.dirname(wanted), { recursive: true, mode: 0o700 });
    let where = wanted;
    try {
      if (!lstatSync(wanted).isSocket()) throw new Error(`${wanted} exists and is not a socket`);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (await connectable(wanted)) {
      const holder = await controlRequest(wanted, 'info', {}, 2000).catch(() => undefined);
      // Started by USR2, the old master holds it: listen beside it. Unless the old master has
      // gone meanwhile (no answer, channel closed): then what is left there is stale.
      const oldMasterGone = upgraded && !holder && !process.connected;
      if (!oldMasterGone && (!upgraded || holder?.pid !== process.ppid)) throw new Error(`${wanted} is in use by a running master${holder ? ` (pid ${holder.pid})` : ''}`);
      if (!oldMasterGone) where = `${wanted}.2`;
    }
    if (this.#closed) return;
    // Listen on a temporary name, restrict it, then rename it into place: the final path never
    // exists with a wider mode, a stale file is replaced atomically, and closing the server (which
    // unlinks the name it was bound to) cannot remove a socket that another master put there since.
    const tmp = path.join(path.dirname(where), `.${process.pid}.${Math.random().toString(36).slice(2, 8)}.tmp`);
    const server = (this.#server = net.createServer((socket) => this.#accept(socket)));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(tmp, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.unref();
    chmodSync(tmp, 0o600);
    renameSync(tmp, where);
    this.#path = where;
    this.#ino = statSync(where).ino;
    process.once('exit', this.#backstop);
    if (!auto) this.#linkForDiscovery(where);
    this.#log.info(`Control socket: ${where}`);
    if (where !== wanted) {
      whenOldMasterGone(() => {
        if (this.#closed || this.#path !== where) return;
        try {
          renameSync(where, wanted);
          this.#path = wanted;
          if (!auto) this.#linkForDiscovery(wanted);
        } catch (err) {
          this.#log.exception('Cannot take over the control socket', err);
        }
      });
    }
    if (this.#closed) this.close();
  }

  /** An explicitly placed socket is still found by `arbiter ls` and by pid: a symlink in the control directory points at it. */
  #linkForDiscovery(target: string): void {
    const link = defaultControlPath(process.pid);
    const tmp = `${link}.${Math.random().toString(36).slice(2, 8)}.tmp`;
    try {
      ensurePrivateDir(controlDir());
      symlinkSync(target, tmp);
      renameSync(tmp, link); // replaces an older link at once: the name never goes missing
      this.#link = link;
    } catch (err) {
      trace.master('control: no discovery link %s: %s', link, (err as Error).message);
      try {
        unlinkSync(tmp);
      } catch {
        // not made
      }
    }
  }

  /** Stops listening, ends every connection and removes the socket file (only if it is still ours). */
  close(): void {
    this.#closed = true;
    for (const socket of this.#sockets) socket.end();
    this.#server?.close();
    this.#server = undefined;
    this.#unlink();
    process.off('exit', this.#backstop);
  }

  #unlink(): void {
    if (this.#link) {
      try {
        unlinkSync(this.#link);
      } catch {
        // gone
      }
      this.#link = undefined;
    }
    if (!this.#path) return;
    try {
      if (statSync(this.#path).ino === this.#ino) unlinkSync(this.#path);
    } catch {
      // gone
    }
    this.#path = undefined;
  }

  /**
   * Runs `start`, which subscribes what settles the answer and returns how to unsubscribe. When
   * the master halts first, the answer is an error — or, with `onHalt`, whatever `start` settled by then.
   */
  wait<T>(start: (settle: (err: Error | undefined, value?: T) => void) => () => void, onHalt = false): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let unsubscribe = (): void => {};
      const settle = (err: Error | undefined, value?: T): void => {
        this.#waiting.delete(cancel);
        unsubscribe();
        if (err) reject(err);
        else resolve(value as T);
      };
      const cancel = (err: Error): void => {
        if (!onHalt) settle(err);
      };
      this.#waiting.add(cancel);
      try {
        unsubscribe = start(settle);
      } catch (err) {
        settle(err as Error);
      }
    });
  }

  #accept(socket: net.Socket): void {
    if (this.#closed) {
      socket.destroy();
      return;
    }
    this.#sockets.add(socket);
    socket.on('close', () => this.#sockets.delete(socket));
    socket.on('error', (err) => trace.master('control connection: %s', err.message));
    const decoder = new FrameDecoder();
    socket.on('data', (chunk: Buffer) => {
      let messages: unknown[];
      try {
        messages = decoder.push(chunk);
      } catch (err) {
        this.#reply(socket, { id: 0, status: 'error', error: `bad request: ${(err as Error).message}` });
        socket.end();
        return;
      }
      for (const m of messages) void this.#handle(socket, m);
    });
  }

  async #handle(socket: net.Socket, raw: unknown): Promise<void> {
    const req = (typeof raw === 'object' && raw !== null ? raw : {}) as Partial<ControlRequest>;
    const id = typeof req.id === 'number' ? req.id : 0;
    if (typeof req.v !== 'number' || req.v > CONTROL_PROTOCOL) {
      const error = `the client speaks control protocol ${String(req.v)}; this master speaks version ${CONTROL_PROTOCOL} (upgrade the master, or use a client of its version)`;
      return this.#reply(socket, { id, status: 'error', error });
    }
    const command = req.command;
    if (typeof command !== 'string' || !Object.hasOwn(HANDLERS, command)) {
      return this.#reply(socket, { id, status: 'error', error: `unknown command ${JSON.stringify(command)}; known: ${Object.keys(HANDLERS).join(', ')}` });
    }
    const args = (typeof req.args === 'object' && req.args !== null ? req.args : {}) as never;
    trace.master('control: %s %o', command, args);
    try {
      const data = await (HANDLERS[command as ControlCommand] as Handler<ControlCommand>)(this, args);
      this.#reply(socket, { id, status: 'ok', data });
    } catch (err) {
      this.#reply(socket, { id, status: 'error', error: err instanceof Error ? err.message : String(err) });
    }
  }

  #reply(socket: net.Socket, body: { id: number } & ({ status: 'ok'; data: unknown } | { status: 'error'; error: string })): void {
    if (socket.writable) socket.write(encodeFrame({ v: CONTROL_PROTOCOL, ...body }));
  }
}
