import { lookup } from 'node:dns/promises';
import net from 'node:net';
import type { ArbiterError } from '../errors.js';
import type { OperatorLog } from '../log.js';
import type { ListenRequest } from '../protocol.js';
import { trace } from '../trace.js';
import { openListeners, type MasterListener } from './listeners.js';

/**
 * The sockets an app asks for with its own `listen()` (see `worker/app-servers.ts`), bound by the
 * master on the first request and kept for the master's life: every worker of every generation
 * gets the same socket (a reload never rebinds; `listen(0)` gives every worker the same port, as
 * `cluster` does), and a USR2 master inherits them.
 *
 * Which socket serves a request: a `bind` socket the master already holds whose port (or unix
 * path) is the one asked for; else, when the master holds exactly one `bind` socket this worker
 * has not been given yet, that one (`arbiter -b :8000 server.js` serves an app that listens on
 * 3000 on port 8000: the operator's `-b` wins, as in gunicorn); else a socket bound for the
 * request itself. (One systemd socket counts as a `bind` socket: socket activation serves the app.)
 */
export class AppBinds {
  readonly #byKey = new Map<string, Promise<MasterListener>>();
  readonly #bound: MasterListener[] = [];
  /** `bind` sockets handed to each worker for a request that named another address. */
  readonly #claims = new Map<number, Set<MasterListener>>();

  /**
   * @param backlog - listen backlog of new sockets
   * @param opened - called with each socket bound for a request (the master logs `Listening at:`)
   */
  constructor(
    private readonly backlog: number,
    private readonly log: OperatorLog,
    private readonly opened: (listener: MasterListener) => void,
  ) {}

  /** Sockets bound for apps' requests. */
  get listeners(): readonly MasterListener[] {
    return this.#bound;
  }

  /** Takes over sockets an old master bound for its app (USR2). */
  adopt(listeners: readonly MasterListener[]): void {
    for (const l of listeners) {
      if (!l.appKey) continue;
      this.#bound.push(l);
      this.#byKey.set(l.appKey, Promise.resolve(l));
    }
  }

  /** The socket for `request` from worker `pid`; rejects with the bind error (its `errno` is the code, e.g. EADDRINUSE). */
  acquire(request: ListenRequest, pid: number, binds: readonly MasterListener[]): Promise<MasterListener> {
    const same = binds.find((l) => sameAddress(l, request));
    if (same) return Promise.resolve(same);
    const claimed = this.#claims.get(pid) ?? new Set();
    if (binds.length === 1 && !claimed.has(binds[0]!)) {
      claimed.add(binds[0]!);
      this.#claims.set(pid, claimed);
      return Promise.resolve(binds[0]!);
    }
    const key = keyOf(request);
    let got = this.#byKey.get(key);
    if (!got) {
      got = this.#open(request, key);
      this.#byKey.set(key, got);
      got.catch(() => this.#byKey.delete(key)); // a later request tries again
    }
    return got;
  }

  /** Forgets what worker `pid` was given (it exited). */
  release(pid: number): void {
    this.#claims.delete(pid);
  }

  /** Closes every socket bound for an app. */
  close(): void {
    for (const l of this.#bound.splice(0)) l.close();
    this.#byKey.clear();
  }

  async #open(request: ListenRequest, key: string): Promise<MasterListener> {
    const specs = await bindSpecs(request);
    let lastError: unknown;
    for (const spec of specs) {
      try {
        const [l] = await openListeners([spec], this.backlog, this.log);
        const listener: MasterListener = { ...l!, appKey: key };
        this.#bound.push(listener);
        trace.listeners('bound %s for the app (%s)', listener.url, key);
        this.opened(listener);
        return listener;
      } catch (err) {
        lastError = err;
        // no IPv6 here: Node's own listen() falls back to 0.0.0.0 the same way
        if (!['EAFNOSUPPORT', 'EADDRNOTAVAIL'].includes((err as { errno?: string }).errno ?? '')) break;
      }
    }
    throw lastError as ArbiterError;
  }
}

/** What identifies a request across workers: the address as the app wrote it. */
function keyOf(r: ListenRequest): string {
  return r.path !== undefined ? `unix:${r.path}` : `${r.host ?? ''}|${r.port ?? 0}${r.ipv6Only ? '|v6only' : ''}`;
}

/** The `bind` strings to try for a request, in order: no host is `::` then `0.0.0.0` (as Node's listen()); a name is its first address (as Node). */
async function bindSpecs(r: ListenRequest): Promise<string[]> {
  if (r.path !== undefined) return [`unix:${r.path}`];
  const port = r.port ?? 0;
  if (!r.host) return [`[::]:${port}`, `0.0.0.0:${port}`];
  let host = r.host;
  if (net.isIP(host) === 0) host = (await lookup(host)).address;
  return [net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`];
}

/** True when `listener` (a `bind` socket) serves the port or path the request names. */
function sameAddress(listener: MasterListener, r: ListenRequest): boolean {
  if (r.path !== undefined) return listener.url === `unix:${r.path}`;
  const port = /:(\d+)$/.exec(listener.url)?.[1];
  return r.port !== undefined && r.port !== 0 && port === String(r.port);
}
