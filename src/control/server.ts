import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, renameSync, statSync, symlinkSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { OperatorLog } from '../log.js';
import { whenOldMasterGone } from '../master/listeners.js';
import { trace } from '../trace.js';
import { connectable, controlRequest } from './client.js';
import { FEED_BACKLOG, type LiveFeed } from './feed.js';
import { HANDLERS, type ControlEvents, type ControlTarget, type Handler, type Note } from './handlers.js';
import { controlDir, currentUid, defaultControlPath, ensurePrivateDir } from './paths.js';
import { CONTROL_PROTOCOL, encodeFrame, FrameDecoder, MAX_REQUEST, type ControlCommand, type ControlCommands, type ControlRequest } from './protocol.js';

/** At most this many control connections are open at once; a new one closes the longest-idle one, or is refused when every one has a request in flight. */
export const MAX_CONTROL_CONNECTIONS = 32;
/** A control connection with no request in flight (an idle one, or one whose request never completes) is closed after this many ms of silence. */
export const CONTROL_IDLE_TIMEOUT = 10_000;
/** Requests in flight on one connection at most (each `status` samples every worker). */
const MAX_IN_FLIGHT = 8;
/** Subscribed connections (`arbiter events`, `arbiter top`) at most, so that some always remain for other commands. */
export const MAX_SUBSCRIBERS = 16;
/** Bytes of events queued for a subscriber that does not read before it is dropped. */
const MAX_QUEUED = 1 << 20;
/** After refusing a connection, how long its peer has to read the answer before the connection is destroyed. */
const LINGER = 1000;

/** One accepted control connection. */
interface Connection {
  readonly socket: net.Socket;
  readonly decoder: FrameDecoder;
  /** Requests read and not answered yet. */
  inFlight: number;
  /** `performance.now()` of the last byte in or out. */
  active: number;
  /** Closes it after {@link CONTROL_IDLE_TIMEOUT} of silence without a request in flight. */
  readonly idle: NodeJS.Timeout;
  /** Refused: whatever else arrives is ignored. */
  refused: boolean;
  /** Set on a subscribed connection: stops its events. */
  unsubscribe?: () => void;
}

/**
 * Who sent a request, for the `Control:` line: what the client says, checked against `/proc`
 * where there is one. The socket is 0600 in a 0700 directory, so the kernel lets only the
 * master's user and root connect; within that, Node gives no peer credentials (`SO_PEERCRED`),
 * so the pid is the client's word: the check catches a wrong or stale claim, not a lie of that same user.
 */
export function describeClient(claim: unknown): { text: string; pid?: number; uid?: number } {
  const c = (typeof claim === 'object' && claim !== null ? claim : {}) as { pid?: unknown; uid?: unknown };
  const pid = typeof c.pid === 'number' && Number.isSafeInteger(c.pid) && c.pid > 0 ? c.pid : undefined;
  const uid = typeof c.uid === 'number' && Number.isSafeInteger(c.uid) && c.uid >= 0 ? c.uid : undefined;
  if (pid === undefined) return { text: 'client did not say who it is' };
  const said = `pid ${pid}${uid === undefined ? '' : `, uid ${uid}`}`;
  const doubt = ((): string | undefined => {
    const mine = currentUid();
    if (uid !== undefined && process.geteuid && uid !== mine && uid !== 0) return `only uid ${mine} and root can connect`;
    let status: string;
    try {
      status = readFileSync(`/proc/${pid}/status`, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' && existsSync('/proc/self/status')) return 'no such process';
      return undefined; // no /proc here: nothing to check against
    }
    const real = /^Uid:\s+\d+\s+(\d+)/m.exec(status);
    if (uid !== undefined && real && Number(real[1]) !== uid) return `pid ${pid} runs as uid ${real[1]}`;
    return undefined;
  })();
  return { text: doubt ? `${said}; unverified: ${doubt}` : said, pid, uid };
}

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
  readonly #connections = new Map<net.Socket, Connection>();
  /** Where we listen, and the inode we created there (removed on close only if it is still ours). */
  #path: string | undefined;
  #ino = 0;
  /** `<controlDir>/<pid>.sock` symlink pointing at an explicitly configured path, for discovery. */
  #link: string | undefined;
  /** Pending answers that wait for an event; settled with an error when the master halts. */
  readonly #waiting = new Set<(err: Error) => void>();
  #closed = false;
  readonly #backstop = (): void => this.#unlink();
  readonly #feed: LiveFeed | undefined;
  #subscribers = 0;

  /**
   * @param target - the `Arbiter`; @param events - its internal event bus; @param log - operator log;
   * @param feed - the lifecycle events `subscribe` pushes (without it, `subscribe` is refused)
   */
  constructor(target: ControlTarget, events: ControlEvents, log: OperatorLog, feed?: LiveFeed) {
    this.target = target;
    this.events = events;
    this.#log = log;
    this.#feed = feed;
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
    for (const { socket } of this.#connections.values()) socket.end();
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

  /**
   * A new connection. What cannot be a well-formed request of ours is refused — an error frame
   * where one can be sent, then the connection is closed: a length prefix over {@link MAX_REQUEST}
   * (refused from the 4 bytes alone, nothing buffered), a frame that is not JSON or not a request
   * object, a protocol version we do not speak, an unknown command, more than a few requests in
   * flight. Memory stays bounded: at most {@link MAX_CONTROL_CONNECTIONS} connections of at most
   * one partial request each; one silent for {@link CONTROL_IDLE_TIMEOUT} ms with no request in
   * flight (idle, or a frame that never completes) is closed, and a connection over the cap closes
   * the longest-idle one — so idle connections cannot keep `arbiter status` out.
   */
  #accept(socket: net.Socket): void {
    if (this.#closed) {
      socket.destroy();
      return;
    }
    socket.on('error', (err) => trace.master('control connection: %s', err.message));
    if (this.#connections.size >= MAX_CONTROL_CONNECTIONS) {
      let oldest: Connection | undefined;
      for (const c of this.#connections.values()) if (c.inFlight === 0 && (!oldest || c.active < oldest.active)) oldest = c;
      if (oldest) {
        trace.master('control: %d connections, closing the longest idle', this.#connections.size);
        this.#drop(oldest);
      } else {
        this.#log.warning(`Control: refusing a connection: ${MAX_CONTROL_CONNECTIONS} control connections are open, each with a request in flight`);
        socket.end(encodeFrame({ v: CONTROL_PROTOCOL, id: 0, status: 'error', error: `too many control connections (${MAX_CONTROL_CONNECTIONS}, all busy); try again` }));
        setTimeout(() => socket.destroy(), LINGER).unref();
        return;
      }
    }
    const conn: Connection = {
      socket,
      decoder: new FrameDecoder(MAX_REQUEST),
      inFlight: 0,
      active: performance.now(),
      idle: setTimeout(() => this.#onIdle(conn), CONTROL_IDLE_TIMEOUT).unref(),
      refused: false,
    };
    this.#connections.set(socket, conn);
    socket.on('close', () => {
      clearTimeout(conn.idle);
      this.#connections.delete(socket);
      if (conn.unsubscribe) {
        conn.unsubscribe();
        conn.unsubscribe = undefined;
        this.#subscribers--;
      }
    });
    socket.on('data', (chunk: Buffer) => {
      if (conn.refused) return;
      this.#touch(conn);
      let messages: unknown[];
      try {
        messages = conn.decoder.push(chunk);
      } catch (err) {
        this.#refuse(conn, 0, `bad request: ${(err as Error).message}`);
        return;
      }
      for (const m of messages) {
        if (conn.refused) return;
        this.#handle(conn, m);
      }
    });
  }

  #touch(conn: Connection): void {
    conn.active = performance.now();
    conn.idle.refresh();
  }

  #onIdle(conn: Connection): void {
    if (conn.refused || conn.socket.destroyed) return;
    if (conn.inFlight > 0) {
      conn.idle.refresh(); // waiting for a reload or a stop: not idle
      return;
    }
    if (conn.decoder.partial) this.#refuse(conn, 0, `bad request: incomplete, nothing more for ${CONTROL_IDLE_TIMEOUT} ms`);
    else this.#drop(conn);
  }

  /** Closes a connection without a word (idle, or over the cap). */
  #drop(conn: Connection): void {
    conn.refused = true;
    this.#connections.delete(conn.socket);
    conn.socket.destroy();
  }

  /** Answers `error` and closes the connection; the peer has {@link LINGER} ms to read it. */
  #refuse(conn: Connection, id: number, error: string): void {
    trace.master('control: refusing a connection: %s', error);
    conn.refused = true;
    this.#connections.delete(conn.socket);
    clearTimeout(conn.idle);
    if (conn.socket.writable) conn.socket.end(encodeFrame({ v: CONTROL_PROTOCOL, id, status: 'error', error }));
    setTimeout(() => conn.socket.destroy(), LINGER).unref();
  }

  #handle(conn: Connection, raw: unknown): void {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return this.#refuse(conn, 0, 'bad request: not a JSON object');
    const req = raw as Partial<ControlRequest>;
    const id = typeof req.id === 'number' && Number.isSafeInteger(req.id) ? req.id : 0;
    if (typeof req.v !== 'number' || !Number.isInteger(req.v) || req.v < 1 || req.v > CONTROL_PROTOCOL) {
      const error = `the client speaks control protocol ${String(req.v)}; this master speaks version ${CONTROL_PROTOCOL} (upgrade the master, or use a client of its version)`;
      return this.#refuse(conn, id, error);
    }
    const command = req.command;
    if (typeof command !== 'string' || (!Object.hasOwn(HANDLERS, command) && command !== 'subscribe')) {
      return this.#refuse(conn, id, `unknown command ${JSON.stringify(command)?.slice(0, 100)}; known: ${[...Object.keys(HANDLERS), 'subscribe'].join(', ')}`);
    }
    if (conn.unsubscribe) return this.#refuse(conn, id, 'a subscribed connection carries events only: send other commands on another connection');
    if (conn.inFlight >= MAX_IN_FLIGHT) return this.#refuse(conn, id, `too many requests in flight on one connection (at most ${MAX_IN_FLIGHT})`);
    const args = (typeof req.args === 'object' && req.args !== null ? req.args : {}) as never;
    trace.master('control: %s %o', command, args);
    const client = describeClient(req.client);
    const note: Note = (action, level = 'info') => {
      this.#log.write(level, `Control: ${action} (${client.text})`, { control: command, clientPid: client.pid, clientUid: client.uid });
      if (level !== 'debug') this.#feed?.publish({ type: 'control', action, client: client.text });
    };
    if (command === 'subscribe') return this.#subscribe(conn, id, args as { backlog?: unknown }, note);
    conn.inFlight++;
    void (async () => {
      try {
        const data = await (HANDLERS[command as Exclude<ControlCommand, 'subscribe'>] as Handler<ControlCommand>)(this, args, note);
        this.#reply(conn, { id, status: 'ok', data });
      } catch (err) {
        this.#reply(conn, { id, status: 'error', error: err instanceof Error ? err.message : String(err) });
      } finally {
        conn.inFlight--;
      }
    })();
  }

  /**
   * `subscribe`: answers with the master's summary, then pushes one event frame per lifecycle
   * event (after the last `backlog` ones). The connection counts as busy from then on (never
   * closed as idle); a subscriber that stops reading is dropped once {@link MAX_QUEUED} bytes wait.
   */
  #subscribe(conn: Connection, id: number, args: { backlog?: unknown }, note: Note): void {
    const feed = this.#feed;
    if (!feed) return this.#refuse(conn, id, 'this master has no event feed');
    if (this.#subscribers >= MAX_SUBSCRIBERS) return this.#refuse(conn, id, `too many subscribers (${MAX_SUBSCRIBERS} connections already follow this master's events)`);
    const backlog = typeof args.backlog === 'number' && Number.isSafeInteger(args.backlog) ? Math.min(Math.max(args.backlog, 0), FEED_BACKLOG) : 0;
    note('subscribe', 'debug');
    conn.inFlight++;
    this.#subscribers++;
    this.#reply(conn, { id, status: 'ok', data: { master: this.target.summary() } });
    const socket = conn.socket;
    conn.unsubscribe = feed.subscribe((data) => {
      if (!socket.writable) return;
      if (socket.writableLength > MAX_QUEUED) {
        this.#log.warning(`Control: dropping an event subscriber that does not read (${socket.writableLength} bytes queued)`);
        return void socket.destroy();
      }
      socket.write(encodeFrame({ v: CONTROL_PROTOCOL, id, status: 'event', data }));
    }, backlog);
  }

  #reply(conn: Connection, body: { id: number } & ({ status: 'ok'; data: unknown } | { status: 'error'; error: string })): void {
    if (!conn.socket.writable) return;
    this.#touch(conn);
    conn.socket.write(encodeFrame({ v: CONTROL_PROTOCOL, ...body }));
  }
}
