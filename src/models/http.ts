import http from 'node:http';
import { Server, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { AccessLog, CountingResponse } from '../http/access-log.js';
import { applyParserLimits, overflowAnswer, refuseOverLimits } from '../http/limits.js';
import { parseForwardedAllowIps, screenForwarded } from '../http/forwarded.js';
import { readProxyHeaderFirst } from '../http/proxy-protocol.js';
import { trace } from '../trace.js';
import { pauseAccepting, resumeAccepting } from '../worker/listen.js';
import { WorkerClass } from './base.js';
import { checkRequestListener } from './handler.js';
import { createModelServer, goAway, rawSocket } from './servers.js';
import { overloadShedder, type Shedder } from './shed.js';

/** Where a response keeps its entry in the in-flight request table (src/worker/inflight.ts). */
const ENTRY = Symbol('arbiter.inflight');
type Tracked = http.ServerResponse & { [ENTRY]?: number };

/** How an HTTP worker model serves; the only thing `async` and `sync` differ in. */
export interface HttpServingPolicy {
  /** Connections served at once; more wait (paused) until one closes. */
  maxConnections: number;
  /** Keep connections open between requests. */
  keepAlive: boolean;
  /** `'loop'`: heartbeat from a timer (a blocked loop misses it); `'idle'`: only while no request runs. */
  heartbeat: 'loop' | 'idle';
  /**
   * Stop accepting while at `maxConnections`, so that idle workers get the next connections
   * instead of this one holding them (paused) until it has room. The listeners are paused, not
   * closed (see `worker/listen.ts`); where a listener cannot be paused, extra connections wait
   * (paused) in the worker.
   */
  exclusiveAccept: boolean;
  /**
   * Fair-share accepting: a worker holding clearly more connections than the average of the
   * workers accepting right now stops accepting for a moment, so a burst of connections spreads
   * over the workers (see `worker/accept-balance.ts`). Used when the runtime provides a table.
   */
  balance: boolean;
}

/** Longest time (ms) a draining worker keeps accepting while connections keep arriving. */
const DRAIN_LINGER = 1000;

interface ConnState {
  inflight: number;
  served: number;
  /** The request being handled on this connection, if any. */
  current: http.IncomingMessage | undefined;
}

/**
 * Shared HTTP serving for the built-in models: connection admission, request accounting,
 * error isolation, hooks, heartbeat and a graceful drain that finishes every accepted connection.
 *
 * Graceful drain (why not `http.Server.close()`): on Node >= 19 `close()` also destroys
 * connections that were accepted but whose request has not been read yet. Here, once the
 * signal aborts: listeners stop accepting as soon as the accept queue is empty (at most 1 s
 * later under steady load; a full worker — a busy sync worker — accepts nothing while full, and
 * takes what is queued once free: within that second, or with one last look after it); requests in flight finish with `Connection: close`;
 * idle keep-alive connections, and accepted ones that have not sent a request yet, get
 * `keepAlive` ms to send one (served with `Connection: close`) before they are closed.
 */
export abstract class HttpWorker extends WorkerClass<http.RequestListener> {
  /** The serving policy of this model. */
  protected abstract readonly policy: HttpServingPolicy;
  /** Accepted connections and what each is doing (also read by the abort log line). */
  readonly #conns = new Map<Socket, ConnState>();
  /** The access log (`accesslog`), opened at boot. */
  #access: AccessLog | undefined;

  /**
   * Checks that `load()` returned a request listener: anything else (a Fastify instance, a Koa
   * app, a server…) fails the boot (exit status 3) with a message saying how to serve it,
   * instead of answering every request with 500.
   */
  override async boot(): Promise<void> {
    const { workerClass } = this.config;
    this.#access = AccessLog.open(this.config, this.log);
    if (this.appServers) return; // the app serves through its own servers
    checkRequestListener(this.handler, typeof workerClass === 'string' ? workerClass : this.constructor.name);
  }

  /** USR1: reopens the access log, then runs the `onReopenLogs` hook. */
  override reopenLogs(): void {
    this.#access?.reopen();
    super.reopenLogs();
  }

  /** Logs the requests that were running when the worker was aborted. */
  override aborting(): void {
    for (const { current: req } of this.#conns.values()) {
      if (!req) continue;
      const what = `${req.method ?? ''} ${req.url ?? ''}`;
      if (this.policy.heartbeat === 'idle') {
        this.log.error(`Request timeout: ${what} was still running after ${this.config.timeout} ms (pid: ${this.pid})`, { worker: this.pid });
      } else {
        this.log.error(`Worker aborted with ${what} in flight (pid: ${this.pid})`, { worker: this.pid });
      }
    }
  }

  /** Answers 500 for a handler that threw (or rejected); the worker lives on. */
  #fail(req: http.IncomingMessage, res: http.ServerResponse, err: unknown): void {
    this.log.exception(`Error handling request ${req.method ?? ''} ${req.url ?? ''}`, err);
    if (!res.headersSent) {
      res.shouldKeepAlive = false;
      res.writeHead(500, { 'content-type': 'text/plain', connection: 'close' }).end('Internal Server Error\n');
    } else {
      res.destroy();
    }
  }

  /**
   * Serves until the signal aborts and every accepted connection is finished. Connections go to
   * the model's own HTTP server running {@link WorkerClass.handler} — or, for an app that
   * started its own servers ({@link WorkerClass.appServers}), to the app's server that accepted
   * them, after the same admission; its requests are counted and drained the same way.
   */
  async run(): Promise<void> {
    const { policy, config } = this;
    const conns = this.#conns;
    const waiting: [Socket, Dispatch][] = [];
    const { preRequest, postRequest } = config;
    let inflight = 0;
    let draining = false;
    let resolveDone!: () => void;
    const done = new Promise<void>((r) => (resolveDone = r));

    // The request path: no per-request closures beyond what Node allocates itself.
    const worker = this;
    const access = this.#access;
    const forwarded = parseForwardedAllowIps(config.forwardedAllowIps);
    function onResponseClose(this: http.ServerResponse): void {
      const req = this.req;
      const socket = rawSocket(req.socket);
      const st = conns.get(socket);
      inflight -= 1;
      if (st) {
        st.inflight -= 1;
        st.served += 1;
        st.current = undefined;
      }
      if (postRequest) worker.hook('postRequest', req, this);
      if (access) access.finished(req, this);
      worker.requestDone((this as Tracked)[ENTRY]);
      if (policy.heartbeat === 'idle' && inflight === 0) worker.notify();
      if (draining) closeIfIdle(socket);
    }
    const account = (req: http.IncomingMessage, res: http.ServerResponse): void => {
      screenForwarded(req, forwarded);
      const st = conns.get(rawSocket(req.socket));
      inflight += 1;
      (res as Tracked)[ENTRY] = this.requestStarted(req);
      if (st) {
        st.inflight += 1;
        st.current = req;
      }
      if (draining || !policy.keepAlive) res.shouldKeepAlive = false;
      res.on('close', onResponseClose);
      if (access) access.started(res);
      if (preRequest) this.hook('preRequest', req);
    };
    const app = this.appServers;
    const shed = overloadShedder(config, policy.keepAlive); // 503 before the app runs (off unless configured, but it records queue times)
    const server = app ? undefined : createModelServer(config, access ? { ServerResponse: CountingResponse } : {}, (req, res) => {
      if (refuseOverLimits(req, res, config, this.log)) return;
      if (shed?.(req, res)) return;
      account(req, res);
      try {
        const r: unknown = this.handler(req, res);
        if (r && typeof (r as Promise<unknown>).then === 'function') {
          (r as Promise<unknown>).then(undefined, (err: unknown) => this.#fail(req, res, err));
        }
      } catch (err) {
        this.#fail(req, res, err);
      }
    });
    if (server) applyParserLimits(server as http.Server, config); // an HTTP/2 server's HTTP/1.1 fallback reads them too
    server?.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
      trace.worker('client error %s', err.code);
      if (socket.writable && !(err.code === 'ECONNRESET')) socket.end(overflowAnswer(err, socket, config, this.log) ?? 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      else socket.destroy();
    });

    const checkDone = (): void => {
      if (draining && acceptDone && conns.size === 0 && waiting.length === 0) resolveDone();
    };
    // Closing an idle keep-alive connection races with the client's next request on it (the
    // client sees ECONNRESET). So an idle connection is never cut at once: its next request is
    // served with `Connection: close`, and one that stays idle for `keepAlive` ms is closed (the
    // client was told that timeout in the Keep-Alive header). The same goes for a connection
    // that was accepted but has not sent its request yet.
    const closeIfIdle = (socket: Socket): void => {
      const st = conns.get(socket);
      if (!st || st.inflight > 0) return;
      const servedBefore = st.served;
      setTimeout(() => {
        const again = conns.get(socket);
        if (again && again.inflight === 0 && again.served === servedBefore) socket.destroy();
      }, Math.max(config.keepAlive, 100)).unref();
    };
    // Accepting: the listeners stay open for the worker's life; they are paused while the worker
    // is full (exclusiveAccept, draining or not) or holds more than its share (balance, not while draining).
    const listeners = app ? app.servers : this.listeners;
    const balance = policy.balance ? this.balance : undefined;
    let paused = false;
    let yielding: NodeJS.Timeout | undefined;
    let acceptDone = false;
    const full = (): boolean => policy.exclusiveAccept && conns.size >= policy.maxConnections;
    const pause = (): void => {
      if (paused || acceptDone || (draining && !full())) return;
      if (listeners.every((l) => pauseAccepting(l))) paused = true;
      else for (const l of listeners) resumeAccepting(l); // cannot pause here: keep accepting
    };
    const resume = (): void => {
      if (!paused || acceptDone) return;
      paused = false;
      for (const l of listeners) resumeAccepting(l);
    };
    const endOfYield = (): void => {
      const more = draining ? 0 : (balance?.recheck(conns.size) ?? 0);
      yielding = more > 0 ? setTimeout(endOfYield, more) : undefined;
      if (!yielding && !full()) resume();
    };

    const admit = (socket: Socket, dispatch: Dispatch): void => {
      conns.set(socket, { inflight: 0, served: 0, current: undefined });
      const yieldMs = balance?.accepted(conns.size) ?? 0;
      if (full()) pause();
      else if (!draining && yieldMs > 0 && !yielding) {
        pause();
        yielding = setTimeout(endOfYield, yieldMs);
      }
      socket.once('close', () => {
        conns.delete(socket);
        balance?.closed(conns.size);
        const queued = waiting.shift();
        if (queued) admit(...queued);
        else if (paused && !yielding && !full()) {
          resume();
          if (draining) acceptWhileFree();
        }
        checkDone();
      });
      dispatch(socket);
      if (socket.isPaused()) socket.resume();
      if (draining) closeIfIdle(socket);
    };
    let acceptedRecently = 0;
    const onConnection = (socket: Socket, dispatch: Dispatch): void => {
      acceptedRecently += 1;
      if (conns.size < policy.maxConnections) {
        admit(socket, dispatch);
      } else {
        socket.pause();
        waiting.push([socket, dispatch]);
        socket.once('close', () => {
          const i = waiting.findIndex(([s]) => s === socket);
          if (i >= 0) waiting.splice(i, 1);
          checkDone();
        });
      }
    };
    // Our own listeners hand their connections to our server; an app's server hands them to its
    // own `connection` listeners (http's parser, the app's), once admitted.
    const detach: (() => void)[] = [];
    const viaProxy = (d: Dispatch): Dispatch => readProxyHeaderFirst(config.proxyProtocol, this.log, d);
    const toServer: Dispatch = viaProxy((socket) => server!.emit('connection', socket));
    const ownConnection = (socket: Socket): void => onConnection(socket, toServer);
    const attach = (l: Server): void => {
      if (!app) {
        l.on('connection', ownConnection);
        detach.push(() => l.off('connection', ownConnection));
        return;
      }
      detach.push(routeConnections(l, onConnection, viaProxy, shed));
      l.prependListener('request', account);
      if (acceptDone) return void Server.prototype.close.call(l); // started listening while this worker drains
      if (paused) pauseAccepting(l);
      else resumeAccepting(l);
    };
    if (app) app.onServer(attach);
    else for (const l of listeners) attach(l);
    balance?.join();

    let heartbeat: NodeJS.Timeout | undefined;
    if (this.heartbeatInterval > 0) {
      heartbeat = setInterval(() => {
        if (policy.heartbeat === 'loop' || inflight === 0) this.notify();
      }, this.heartbeatInterval);
      heartbeat.unref();
    }

    // Stop accepting only once the kernel's accept queue looks empty: if this is the last copy
    // of the socket (shutdown), closing it resets every connection still queued — connections
    // whose clients started them before the stop. So keep accepting until one full event-loop
    // turn (a poll of the socket) brings nothing new, at most DRAIN_LINGER ms under steady load.
    const finishAccepting = (): void => {
      if (acceptDone) return;
      acceptDone = true;
      if (yielding) clearTimeout(yielding);
      balance?.leave();
      for (const undo of detach.splice(0)) undo();
      // net.Server's close(): http.Server's would also drop accepted connections (see above)
      for (const l of listeners) Server.prototype.close.call(l);
      trace.worker('listeners closed');
      this.stoppedAccepting();
      checkDone();
    };
    let lingerUntil = 0; // draining: accept until the queue is quiet, up to then
    let lastRound = false; // a full worker freed after lingerUntil: one look at the queue, then close
    let round = 0; // the quiet check that counts (a newer one supersedes)
    const closeListenersWhenQuiet = (deadline: number): void => {
      acceptedRecently = 0;
      const mine = ++round;
      setImmediate(() =>
        setImmediate(() => {
          if (acceptDone || mine !== round) return;
          if (paused && full()) return; // busy: accepts nothing; looks again once free (acceptWhileFree)
          if (acceptedRecently > 0 && performance.now() < deadline) return closeListenersWhenQuiet(deadline);
          finishAccepting();
        }),
      );
    };
    // A full worker that drains was paused: once free, it takes what is queued (when this is
    // the last copy of the socket, closing it would reset those connections) until the queue is
    // quiet — within the linger, or for one last look after it.
    const acceptWhileFree = (): void => {
      if (acceptDone) return;
      if (performance.now() < lingerUntil) return closeListenersWhenQuiet(lingerUntil);
      if (lastRound) return finishAccepting();
      lastRound = true;
      closeListenersWhenQuiet(0);
    };
    const drain = (): void => {
      draining = true;
      lingerUntil = performance.now() + DRAIN_LINGER;
      trace.worker('draining: %d connections, %d waiting', conns.size, waiting.length);
      if (server) goAway(server);
      for (const socket of conns.keys()) closeIfIdle(socket);
      // A full worker (a busy sync worker) stays paused: a connection it took now would wait
      // behind the one it serves, while other workers (a reload's new ones) could serve it at
      // once. It looks at the queue again once free. A worker yielding to others accepts again:
      // the pool is going away.
      if (paused && full()) return;
      resume();
      closeListenersWhenQuiet(lingerUntil);
    };
    if (this.signal.aborted) drain();
    else this.signal.addEventListener('abort', drain, { once: true });

    await done;
    if (heartbeat) clearInterval(heartbeat);
    server?.close();
  }
}

/** Hands an admitted connection to the server that serves it. */
type Dispatch = (socket: Socket) => void;

/**
 * Routes the `connection` events of an app's server through `onConnection` (admission), which
 * later dispatches the socket to the server's own listeners — all of them, including those the
 * app adds after listen() — and its `request` events through `shed` (overload). Returns the undo.
 */
function routeConnections(server: Server, onConnection: (socket: Socket, dispatch: Dispatch) => void, wrap: (d: Dispatch) => Dispatch, shed?: Shedder): () => void {
  const emit = server.emit as (this: Server, event: string | symbol, ...args: unknown[]) => boolean;
  const dispatch: Dispatch = wrap((socket) => void emit.call(server, 'connection', socket));
  server.emit = function (this: Server, event: string | symbol, ...args: unknown[]): boolean {
    // a shed request never reaches the app's listeners (nor the accounting prepended to them)
    if (event === 'request' && shed?.(args[0] as http.IncomingMessage, args[1] as http.ServerResponse)) return true;
    if (event !== 'connection') return emit.call(this, event, ...args);
    onConnection(args[0] as Socket, dispatch);
    return true;
  };
  return () => {
    server.emit = emit;
  };
}
