import { spawnSync } from 'node:child_process';
import { lookup } from 'node:dns/promises';
import { lstatSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import { constants as osConstants } from 'node:os';
import { resolve as resolvePath } from 'node:path';
import { parseBind, type BindAddress } from '../config.js';
import { ArbiterError } from '../errors.js';
import type { OperatorLog } from '../log.js';
import { trace } from '../trace.js';
import { bindError, errnoName, sameAddress, notASocket, tcpBindFailed } from './bind-errors.js';

/** Node's internal TCP/Pipe wrap, as far as we use it. */
interface RawHandle {
  fd: number;
  close(cb?: () => void): void;
  getsockname?(out: Record<string, unknown>): number;
}

/** A socket the master owns: bound and listening at the kernel level, never accepted from here. */
export interface MasterListener {
  /** The `bind` string (or `fd://N` for systemd sockets). */
  readonly spec: string;
  /** Display form: `http://127.0.0.1:8000`, `http://[::1]:8000`, `unix:/tmp/app.sock` (see {@link announcedUrl} for non-HTTP models). */
  readonly url: string;
  /** The fd the workers inherit. */
  readonly fd: number;
  /** The raw handle (sent to a worker over IPC when the socket is bound on demand). */
  readonly handle: unknown;
  /** Set when the socket was bound for an app's own listen() (`app-binds.ts`): what it was asked for. */
  readonly appKey?: string;
  /** Closes the master's copy (and removes the unix socket file the master created). */
  close(): void;
}

type CreateServerHandle = (address: string | null, port: number, addressType: number, fd?: number, flags?: number) => RawHandle | number;
const createServerHandle = (net as unknown as { _createServerHandle: CreateServerHandle })._createServerHandle;

const UV_EADDRINUSE = -osConstants.errno.EADDRINUSE;

/** Bind retries, as gunicorn: 5 tries, 1 s apart. */
export const BIND_TRIES = 5;
export const BIND_RETRY_DELAY = 1000;

/** Reads the bound address of a raw handle; a negative number is libuv's deferred bind error. */
function sockname(handle: RawHandle): { address?: string; port?: number; family?: string } | number {
  const out: Record<string, unknown> = {};
  const rc = handle.getsockname?.(out) ?? 0;
  return rc < 0 ? rc : (out as { address?: string; port?: number; family?: string });
}

function tcpUrl(address: string, port: number): string {
  return address.includes(':') ? `http://[${address}]:${port}` : `http://${address}:${port}`;
}

/** A unix socket path is stale when connecting to it is refused (then it is removed); a live one is "in use". */
export async function removeStaleUnixSocket(path: string): Promise<'removed' | 'absent' | 'in-use'> {
  let st;
  try {
    st = lstatSync(path);
  } catch {
    return 'absent';
  }
  if (!st.isSocket()) throw bindError(`unix:${path}`, 'EEXIST', `the path exists and is ${notASocket(path) ?? 'not a socket'}, not a socket: arbiter does not remove it; move it away or choose another path`);
  // Only a refused connection means nobody listens: a full backlog (EAGAIN) or no permission
  // to connect is somebody's live socket.
  const answer = await new Promise<string>((resolve) => {
    const c = net.connect(path);
    c.once('connect', () => {
      c.destroy();
      resolve('connected');
    });
    c.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
  });
  if (answer === 'ENOENT') return 'absent';
  if (answer !== 'ECONNREFUSED') return 'in-use';
  try {
    unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'absent';
    throw err;
  }
  trace.listeners('removed stale unix socket %s', path);
  return 'removed';
}

/**
 * A listener's address as the master announces it (`Listening at:`, the `ready` event):
 * `http://host:port` when the worker model serves HTTP, `tcp://host:port` when it does not (a
 * custom `WorkerClass`); `unix:/path` and `fd://N` either way.
 */
export function announcedUrl(url: string, scheme: 'http' | 'https' | 'tcp'): string {
  return scheme !== 'http' && url.startsWith('http://') ? `${scheme}://${url.slice('http://'.length)}` : url;
}

/** A bound (not yet listening) socket of one bind spec. */
interface Bound {
  handle: RawHandle;
  url: string;
  cleanup?: () => void;
}

/** Binds one TCP address: a bound handle (and the port it got), `'in-use'`, or libuv's error code (negative). */
function bindTcp(host: string, family: number, port: number): (Bound & { port: number }) | 'in-use' | number {
  const handle = createServerHandle(host, port, family);
  if (typeof handle === 'number') return handle === UV_EADDRINUSE ? 'in-use' : handle;
  const name = sockname(handle); // libuv defers EADDRINUSE of a TCP bind until here
  if (typeof name === 'number') {
    handle.close();
    return name === UV_EADDRINUSE ? 'in-use' : name;
  }
  return { handle, url: tcpUrl(name.address ?? host, name.port ?? port), port: name.port ?? port };
}

/** Errors that say "this machine has no such address" (e.g. ::1 where IPv6 is disabled, as in many containers). */
const UNAVAILABLE = new Set([-osConstants.errno.EADDRNOTAVAIL, -osConstants.errno.EAFNOSUPPORT]);

/**
 * One bind attempt of one spec: its bound (not yet listening) sockets — several for a host name
 * that resolves to several addresses, as gunicorn binds them all (`localhost`: 127.0.0.1 and ::1)
 * — or `'in-use'` (then none stays bound), or a thrown ArbiterError. An address of a name that
 * this machine cannot have (EADDRNOTAVAIL, EAFNOSUPPORT) is skipped with a warning when another
 * one binds. With port 0 the other addresses take the port the first one got.
 */
async function bindOnce(addr: BindAddress, warn: (message: string) => void): Promise<Bound[] | 'in-use'> {
  switch (addr.kind) {
    case 'fd': {
      const handle = createServerHandle(null, 0, 0, addr.fd);
      if (typeof handle === 'number') throw bindError(addr.spec, errnoName(handle), `fd ${addr.fd} is not a socket this process can listen on`);
      const name = sockname(handle);
      const url = typeof name === 'object' && name.port !== undefined && name.address ? tcpUrl(name.address, name.port) : addr.spec;
      return [{ handle, url }];
    }
    case 'unix': {
      if ((await removeStaleUnixSocket(addr.path)) === 'in-use') return 'in-use';
      const handle = createServerHandle(addr.path, -1, -1);
      if (typeof handle === 'number') {
        if (handle === UV_EADDRINUSE) return 'in-use';
        throw bindError(addr.spec, errnoName(handle), 'bind failed');
      }
      const ino = lstatSync(addr.path).ino;
      return [{ handle, url: `unix:${addr.path}`, cleanup: () => unlinkSocket(addr.path, ino) }];
    }
    case 'tcp': {
      let addresses: { address: string; family: number }[];
      const family = net.isIP(addr.host);
      if (family !== 0) addresses = [{ address: addr.host, family }];
      else {
        try {
          addresses = await lookup(addr.host, { all: true });
        } catch {
          throw bindError(addr.spec, 'ENOTFOUND', `cannot resolve host ${JSON.stringify(addr.host)}`);
        }
        addresses = addresses.filter((a, i) => addresses.findIndex((b) => b.address === a.address) === i);
        if (addresses.length === 0) throw bindError(addr.spec, 'ENOTFOUND', `host ${JSON.stringify(addr.host)} resolves to no address`);
        trace.listeners('%s resolves to %s', addr.host, addresses.map((a) => a.address).join(', '));
      }
      const bound: Bound[] = [];
      let port = addr.port;
      try {
        for (const [i, { address, family }] of addresses.entries()) {
          const got = bindTcp(address, family, port);
          if (got === 'in-use') {
            for (const b of bound) b.handle.close();
            return 'in-use';
          }
          if (typeof got === 'number') {
            const skippable = addresses.length > 1 && UNAVAILABLE.has(got) && (bound.length > 0 || i < addresses.length - 1);
            if (!skippable) throw bindError(addr.spec, errnoName(got), addresses.length > 1 ? `bind failed at ${address}` : tcpBindFailed(port, got));
            warn(`Not listening at ${tcpUrl(address, port)} (${addr.spec}): ${errnoName(got)}, this machine has no such address`);
            continue;
          }
          bound.push({ handle: got.handle, url: got.url });
          port = got.port; // port 0: every address gets the port the first one got
        }
      } catch (err) {
        for (const b of bound) b.handle.close();
        throw err;
      }
      if (bound.length === 0) throw bindError(addr.spec, 'EADDRNOTAVAIL', `none of the addresses of ${JSON.stringify(addr.host)} can be bound here`);
      return bound;
    }
  }
}

/**
 * THE one place where the master listens without accepting (SPEC §7).
 *
 * Node has no public "listen but do not accept": `server.listen()` also starts libuv's accept
 * watcher, and the master would then take connections itself. So the master only *binds*
 * (`net._createServerHandle`, the same internal Node's own cluster uses; no watcher is started)
 * and a throwaway helper process that inherits the sockets calls listen(2) on them and exits.
 * listen(2) acts on the shared socket, so from then on the kernel queues connections in the
 * backlog (none refused while workers boot or restart) and nobody in the master accepts them.
 * Workers inherit the same fds and accept directly.
 */
function listenWithoutAccepting(listeners: readonly MasterListener[], backlog: number): void {
  if (listeners.length === 0) return;
  const script =
    `const net=require('net');let n=${listeners.length};` +
    `for(let i=0;i<${listeners.length};i++){const s=net.createServer();` +
    `s.on('error',e=>{process.stderr.write(i+' '+String(e.code||e.message));process.exit(1)});` +
    `s.listen({fd:3+i,backlog:${backlog}},()=>{if(--n===0)process.exit(0)})}`;
  const r = spawnSync(process.execPath, ['-e', script], {
    stdio: ['ignore', 'ignore', 'pipe', ...listeners.map((l) => l.fd)],
    timeout: 30_000,
    env: { PATH: process.env.PATH ?? '' },
  });
  if (r.status === 0) return;
  const said = /^(\d+) (.*)$/s.exec(String(r.stderr ?? '').trim());
  const failed = said ? listeners[Number(said[1])] : undefined;
  if (failed && said![2] === 'EADDRINUSE') {
    throw bindError(failed.spec, 'EADDRINUSE', `${failed.url} cannot listen: another socket listens on an address that overlaps it (two \`bind\` entries that cover the same address, such as 0.0.0.0:PORT and a host name on that port? keep one of them)`);
  }
  if (failed) throw bindError(failed.spec, said![2]!, `${failed.url} cannot listen`);
  throw new ArbiterError('ARBITER_ERR_BIND', `Cannot listen on the bound sockets: ${helperFailure(r)}`);
}

/** Why the listen helper failed when it did not say so itself: spawn error, timeout, signal or exit status. */
function helperFailure(r: ReturnType<typeof spawnSync>): string {
  const stderr = String(r.stderr ?? '').trim();
  if (r.error) return `the helper process (${process.execPath} -e) could not run: ${r.error.message}`;
  if (r.signal) return `the helper process (${process.execPath} -e) was killed by ${r.signal}${stderr ? `: ${stderr}` : ''}`;
  return `the helper process (${process.execPath} -e) exited with status ${r.status}${stderr ? `: ${stderr}` : ' without saying why'}`;
}

/** Environment variable through which an upgrading master (USR2) describes the sockets it hands down. */
export const UPGRADE_ENV = 'ARBITER_UPGRADE_LISTENERS';

/** What a new master needs to know about each inherited socket. */
interface UpgradeListener {
  fd: number;
  spec: string;
  url: string;
  appKey?: string;
}

/**
 * The stdio layout and environment for a new master started by USR2: every listener at fd 3, 4, …
 * (already listening: the new master never rebinds, so no connection is refused).
 */
export function upgradeHandover(listeners: readonly MasterListener[]): { fds: number[]; env: Record<string, string> } {
  const described: UpgradeListener[] = listeners.map((l, i) => ({ fd: 3 + i, spec: l.spec, url: l.url, ...(l.appKey ? { appKey: l.appKey } : {}) }));
  return { fds: listeners.map((l) => l.fd), env: { [UPGRADE_ENV]: JSON.stringify(described) } };
}

/** True in a master started by USR2, until its `run()` has consumed the inherited sockets. */
export function startedByUpgrade(env: NodeJS.ProcessEnv = process.env): boolean {
  return env[UPGRADE_ENV] !== undefined;
}

/**
 * In a master started by USR2: runs `fn` once the old master is gone (the IPC channel to it
 * closed) — at once if it is gone already ('disconnect' is emitted only once: a listener added
 * after it would never run).
 */
export function whenOldMasterGone(fn: () => void): void {
  if (process.connected) process.once('disconnect', fn);
  else fn();
}

/**
 * In a master started by USR2: the sockets inherited from the old master (consumes the variable).
 * Closing one removes its unix socket file only once the old master is gone (the IPC channel to
 * it has closed) and only if it is still the file that was there
 * when the socket was inherited: while the old master lives it serves on that path too (a failed
 * or rolled-back upgrade stops this master and the old one goes on).
 */
export function upgradeListeners(env: NodeJS.ProcessEnv = process.env): MasterListener[] | undefined {
  const raw = env[UPGRADE_ENV];
  if (raw === undefined) return undefined;
  delete env[UPGRADE_ENV];
  const described = JSON.parse(raw) as UpgradeListener[];
  return described.map(({ fd, spec, url, appKey }) => {
    const handle = createServerHandle(null, 0, 0, fd);
    if (typeof handle === 'number') throw bindError(spec, errnoName(handle), `inherited fd ${fd} is not a listening socket`);
    const path = spec.startsWith('unix:') ? spec.slice(5) : undefined;
    if (!path) return masterListener(spec, url, handle, undefined, appKey);
    const ino = inodeOf(path);
    return masterListener(
      spec,
      url,
      handle,
      () => {
        if (ino !== undefined && !process.connected) unlinkSocket(path, ino);
      },
      appKey,
    );
  });
}

/** The inode of the socket file at `path`, or undefined when there is none. */
function inodeOf(path: string): number | undefined {
  try {
    const st = lstatSync(path);
    return st.isSocket() ? st.ino : undefined;
  } catch {
    return undefined;
  }
}

/** Removes a unix socket file (only the one with inode `ino`, when given). */
function unlinkSocket(path: string, ino?: number): void {
  try {
    const st = lstatSync(path);
    if (st.isSocket() && (ino === undefined || st.ino === ino)) unlinkSync(path);
  } catch {
    // already gone
  }
}

function masterListener(spec: string, url: string, handle: RawHandle, cleanup?: () => void, appKey?: string): MasterListener {
  return {
    spec,
    url,
    fd: handle.fd,
    handle,
    ...(appKey ? { appKey } : {}),
    close: () => {
      handle.close();
      cleanup?.();
    },
  };
}

/** The listening sockets systemd passed (`LISTEN_FDS`/`LISTEN_PID`), as `fd://N` specs; consumes the variables. */
export function systemdBinds(env: NodeJS.ProcessEnv = process.env): string[] | undefined {
  if (env.LISTEN_PID === undefined || Number(env.LISTEN_PID) !== process.pid) return undefined;
  const n = Number(env.LISTEN_FDS);
  delete env.LISTEN_PID;
  delete env.LISTEN_FDS;
  delete env.LISTEN_FDNAMES;
  if (!Number.isInteger(n) || n <= 0) return undefined;
  return Array.from({ length: n }, (_, i) => `fd://${3 + i}`);
}

/**
 * Binds every address (retrying "address in use" like gunicorn), then makes them listen
 * without accepting. A host name gives one listener per address it resolves to, each with the
 * name's spec. All-or-nothing: on failure every socket bound so far is closed.
 * `stopped()` is checked between retries, so a stop during them ends the wait.
 */
export async function openListeners(
  binds: readonly string[],
  backlog: number,
  log: OperatorLog,
  stopped: () => boolean = () => false,
  tries: number = BIND_TRIES,
): Promise<MasterListener[]> {
  const opened: MasterListener[] = [];
  const warned = new Set<string>(); // once, not at every retry
  const warn = (spec: string, message: string): void => {
    if (!warned.has(message)) log.warning(message, { address: spec });
    warned.add(message);
  };
  try {
    for (const spec of binds) {
      const addr = parseBind(spec);
      // Binding a unix path again would replace the socket file of the earlier entry (stale: it does not listen yet).
      const samePath = addr.kind === 'unix' ? opened.find((l) => l.spec.startsWith('unix:') && resolvePath(l.spec.slice(5)) === resolvePath(addr.path)) : undefined;
      if (samePath) throw sameAddress(samePath.spec, spec, samePath.url);
      for (let attempt = 1; ; attempt++) {
        const got = await bindOnce(addr, (message) => warn(spec, message));
        if (got !== 'in-use') {
          const twice = got.find((b) => opened.some((l) => l.url === b.url));
          if (twice) {
            const earlier = opened.find((l) => l.url === twice.url)!;
            for (const b of got) b.handle.close();
            throw sameAddress(earlier.spec, spec, twice.url);
          }
          for (const { handle, url, cleanup } of got) {
            opened.push(masterListener(spec, url, handle, cleanup)); // a host name may give several, all with this spec
            trace.listeners('bound %s as fd %d', url, handle.fd);
          }
          break;
        }
        log.error(`Connection in use: ${spec}`, { address: spec });
        if (attempt >= tries) {
          log.error(`Can't connect to ${spec}`, { address: spec });
          throw bindError(spec, 'EADDRINUSE', `address already in use after ${tries} ${tries === 1 ? 'try' : 'tries'}`);
        }
        log.debug('Retrying in 1 second.');
        await new Promise((r) => setTimeout(r, BIND_RETRY_DELAY));
        if (stopped()) throw new ArbiterError('ARBITER_ERR_STATE', 'stopped while binding');
      }
    }
    listenWithoutAccepting(opened, backlog);
    return opened;
  } catch (err) {
    for (const l of opened) l.close();
    throw err;
  }
}
