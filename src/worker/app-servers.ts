import net from 'node:net';
import { envelope, unwrap, type ListenRequest, type MasterMessage, type WorkerMessage } from '../protocol.js';
import { trace } from '../trace.js';
import { pauseAccepting } from './listen.js';

// Apps that call listen() themselves (`app.listen(3000)`, `await fastify.listen({ port })`, Hono's
// `serve()`, NestJS, `net.createServer().listen(…)`) run unchanged, as under `node:cluster`: in a
// worker, such a listen() is not a bind of the worker's own. It asks the master for the socket
// (the master binds the address once and keeps it; every worker gets the same socket and accepts
// from it directly), then listens on the handle it got. Until the worker model runs, the server
// listens but does not accept (paused, see listen.ts), so a worker still booting takes no
// connection; the model then routes each accepted connection through its own admission and
// drain (models/http.ts) before the app's server sees it.

/** Gets the socket for a listen() request: a raw TCP/Pipe handle from the master (or a rejection shaped like Node's listen error). */
export type Binder = (request: ListenRequest) => Promise<unknown>;

/** What a listen() call asked for, or `undefined` when it is not ours to serve (an fd, a handle, or arbiter's own socket). */
export interface ParsedListen {
  request: ListenRequest;
  callback: (() => void) | undefined;
}

const isPort = (v: unknown): boolean => typeof v === 'number' || (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v)));

/**
 * Reads listen()'s overloads as Node does (the backlog is the master's `backlog` option, whatever the app asks): `(port?, host?, backlog?, cb?)`, `(path, backlog?, cb?)`,
 * `(options, cb?)`, `(handle, backlog?, cb?)`. Returns `undefined` for a handle, an fd or a
 * `handle` option (those are not an address to share).
 */
export function parseListenArgs(args: readonly unknown[]): ParsedListen | undefined {
  const list = [...args];
  const callback = typeof list[list.length - 1] === 'function' ? (list.pop() as () => void) : undefined;
  const first = list[0];
  if (first !== null && typeof first === 'object') {
    const o = first as { port?: unknown; host?: unknown; path?: unknown; ipv6Only?: unknown; fd?: unknown; handle?: unknown; _handle?: unknown };
    if (o.fd !== undefined || o.handle !== undefined || o._handle !== undefined) return undefined;
    if (!('port' in o) && !('path' in o) && !('host' in o) && !('backlog' in o)) return undefined; // a raw handle
    if (o.path !== undefined && o.path !== null) return { request: { path: String(o.path) }, callback };
    const host = typeof o.host === 'string' && o.host ? o.host : undefined;
    const port = o.port === undefined || o.port === null ? 0 : Number(o.port);
    return { request: o.ipv6Only === true ? { port, host, ipv6Only: true } : { port, host }, callback };
  }
  if (typeof first === 'string' && !isPort(first)) return { request: { path: first }, callback };
  const port = first === undefined || first === null ? 0 : Number(first);
  const host = typeof list[1] === 'string' && list[1] ? list[1] : undefined;
  return { request: { port, host }, callback };
}

/** How a listen() request is shown: `:3000`, `127.0.0.1:3000`, `[::1]:3000`, `unix:/tmp/app.sock`. */
export function describeRequest(r: ListenRequest): string {
  if (r.path !== undefined) return `unix:${r.path}`;
  const host = r.host ?? '';
  return `${host.includes(':') ? `[${host}]` : host}:${r.port ?? 0}`;
}

const BRAND = Symbol.for('arbiter.appServers');

/** True for what {@link captureListen} returned (from either build of the package). */
export function isAppServers(value: unknown): value is AppServers {
  return typeof value === 'object' && value !== null && (value as { [BRAND]?: unknown })[BRAND] === true;
}

/**
 * The servers an app started with its own listen() calls, in the order it called them. The worker
 * runtime hands them to the worker model instead of the master's sockets; servers that start
 * listening later (after the worker is ready) are handed over as they come ({@link onServer}).
 */
export class AppServers {
  /** Brand checked by {@link isAppServers} (the ESM and CJS builds have a class each). */
  readonly [BRAND] = true;
  /** Servers listening on a socket the master gave (paused until the worker model runs). */
  readonly servers: net.Server[] = [];
  /** Every address asked for (`describeRequest`), in order. */
  readonly requests: string[] = [];
  /** What went wrong when the app neither listens nor exports anything to serve (thrown by {@link settled} at its limit). */
  nothingToServe: () => Error = () => new Error('the app neither called listen() nor exported a handler');
  #pending = 0;
  #seq = 0;
  #adopt: ((server: net.Server) => void) | undefined;
  #changed: (() => void) | undefined;
  #release: (() => void) | undefined;

  /** @internal */
  constructor(release?: () => void) {
    this.#release = release;
  }

  /** Stops capturing: listen() binds as usual again (the app turned out to export a handler). */
  release(): void {
    this.#release?.();
    this.#release = undefined;
  }

  /** listen() calls seen so far. */
  get requested(): number {
    return this.#seq;
  }

  /** listen() calls still waiting for their socket. */
  get pending(): number {
    return this.#pending;
  }

  /** From now on each server that starts listening is passed to `adopt` (the worker model), those already listening too. */
  onServer(adopt: (server: net.Server) => void): void {
    this.#adopt = adopt;
    for (const s of this.servers) adopt(s);
  }

  /** @internal */
  begin(address: string): void {
    this.requests.push(address);
    this.#seq += 1;
    this.#pending += 1;
    this.#changed?.();
  }

  /** @internal */
  end(server: net.Server | undefined): void {
    this.#pending -= 1;
    if (server) {
      this.servers.push(server);
      this.#adopt?.(server);
    }
    this.#changed?.();
  }

  /**
   * Resolves once at least one listen() was asked for, none is waiting for its socket, and no
   * new one came for `quiet` ms (an app that starts a second server right after the first, as a
   * NestJS app with an admin port does). Rejects with {@link nothingToServe} after `limit` ms
   * without any listen() (0: no limit). `dry` (`--check-config`): sockets are never given, so pending ones do not count.
   */
  settled(quiet: number, limit: number, dry = false): Promise<void> {
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const limitTimer =
        limit > 0
          ? setTimeout(() => {
              if (this.#seq > 0) return;
              this.#changed = undefined;
              clearTimeout(timer);
              reject(this.nothingToServe());
            }, limit)
          : undefined;
      const check = (): void => {
        clearTimeout(timer);
        if (this.#seq === 0 || (this.#pending > 0 && !dry)) return;
        const seen = this.#seq;
        timer = setTimeout(() => {
          if (this.#seq !== seen || (this.#pending > 0 && !dry)) return;
          this.#changed = undefined;
          clearTimeout(limitTimer);
          resolve();
        }, quiet);
      };
      this.#changed = check;
      check();
    });
  }
}

type Listen = (this: net.Server, ...args: unknown[]) => net.Server;

/** One capture per process (the ESM and CJS builds may both be loaded). */
const KEY = Symbol.for('arbiter.appListen');
type Holder = { [KEY]?: { original: Listen; capture: AppServers | undefined; own: Set<string> } };

function state(): NonNullable<Holder[typeof KEY]> {
  const holder = globalThis as Holder;
  return (holder[KEY] ??= { original: net.Server.prototype.listen as unknown as Listen, capture: undefined, own: new Set() });
}

/** Marks a unix socket path as arbiter's own (a spare's warm-up, `warm.ts`): a listen() on it is never captured. */
export function ownListenPath(path: string): void {
  state().own.add(path);
}

/** True while listen() calls are being captured in this process. */
export function capturing(): boolean {
  return state().capture !== undefined;
}

/**
 * From now on, every `net.Server#listen()` on a port or a unix path (http, https, net, and every
 * framework on top of them) gets its socket from `binder` instead of binding: the server then
 * listens on that socket, paused, and emits `listening` (and runs the callback) as Node would;
 * a failure is emitted as the server's `error`, with Node's `code`, `syscall`, `address`, `port`.
 * Listens on an fd or a handle pass through untouched.
 */
export function captureListen(binder: Binder, backlog: number): AppServers {
  const st = state();
  const original = st.original;
  const capture = new AppServers(() => {
    if (st.capture !== capture) return;
    st.capture = undefined;
    net.Server.prototype.listen = original as unknown as typeof net.Server.prototype.listen;
  });
  st.capture = capture;
  net.Server.prototype.listen = function listen(this: net.Server, ...args: unknown[]): net.Server {
    const parsed = st.capture === capture ? parseListenArgs(args) : undefined;
    if (!parsed || (parsed.request.path !== undefined && st.own.has(parsed.request.path))) return original.apply(this, args);
    const { request, callback } = parsed;
    const address = describeRequest(request);
    if (callback) this.once('listening', callback);
    trace.worker('app listen(%s): asking the master', address);
    capture.begin(address);
    binder(request).then(
      (handle) => {
        try {
          original.call(this, handle, backlog);
          pauseAccepting(this); // accepts once the worker model runs (same tick: nothing was accepted)
          trace.worker('app listens on %s', address);
          capture.end(this);
        } catch (err) {
          capture.end(undefined);
          this.emit('error', err);
        }
      },
      (err: unknown) => {
        capture.end(undefined);
        this.emit('error', err);
      },
    );
    return this;
  } as typeof net.Server.prototype.listen;
  return capture;
}

/** An error shaped like the one Node's listen() emits (`listen EADDRINUSE: …`), with `code`, `syscall`, `address`, `port`. */
export function listenError(code: string, message: string, request: ListenRequest): NodeJS.ErrnoException {
  const err = new Error(`listen ${code}: ${message}`) as NodeJS.ErrnoException & { address?: string; port?: number };
  err.code = code;
  err.syscall = 'listen';
  if (request.path !== undefined) err.address = request.path;
  else {
    err.address = request.host ?? '::';
    err.port = request.port ?? 0;
  }
  return err;
}

/** What the master answered to a `listen` request. */
export interface MasterSocket {
  /** The raw TCP/Pipe handle (this process's own fd of the master's socket). */
  handle: { fd: number };
  /** The socket's address as the master shows it. */
  url: string;
  /** For a default-bind request: how many default binds there are. */
  count: number;
}

let askSeq = 0;
/** Handles received from the master, kept referenced for the worker's life (threads listen on their fds). */
const received: unknown[] = [];

/** Asks the master for a socket over IPC (`listen` → `listened` with the handle attached). */
export function askMaster(request: ListenRequest | { default: number }): Promise<MasterSocket> {
  const id = ++askSeq;
  return new Promise((resolve, reject) => {
    if (!process.connected || !process.send) {
      reject(new Error('no IPC channel to the master'));
      return;
    }
    const onMessage = (payload: unknown, handle: unknown): void => {
      const msg = unwrap<MasterMessage>(payload);
      if (msg?.cmd !== 'listened' || msg.id !== id) return;
      process.off('message', onMessage);
      process.off('disconnect', onGone);
      if (msg.error || !handle) {
        const code = msg.error?.code ?? 'EINVAL';
        const what = 'default' in request ? 'the default bind' : describeRequest(request);
        reject('default' in request ? new Error(`${msg.error?.message ?? 'no socket'} (${what})`) : listenError(code, msg.error?.message ?? `the master gave no socket for ${describeRequest(request)}`, request));
        return;
      }
      received.push(handle);
      resolve({ handle: handle as { fd: number }, url: msg.url ?? '', count: msg.count ?? 1 });
    };
    const onGone = (): void => {
      process.off('message', onMessage);
      reject(new Error('the master is gone'));
    };
    process.on('message', onMessage);
    process.once('disconnect', onGone);
    process.send(envelope({ cmd: 'listen', id, request } satisfies WorkerMessage));
  });
}
