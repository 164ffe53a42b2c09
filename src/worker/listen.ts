import type net from 'node:net';

/**
 * Starts listening on the master's sockets: inherited fds, or handles the master sent over IPC
 * (sockets bound on demand); synchronous, errors arrive through `onError`.
 */
export function listenAll(listeners: net.Server[], sockets: readonly (number | { fd: number })[], backlog: number, onError: (err: Error, fd: number) => void): void {
  listeners.forEach((server, i) => {
    const socket = sockets[i]!;
    server.once('error', (err) => onError(err, typeof socket === 'number' ? socket : socket.fd));
    if (typeof socket === 'number') server.listen({ fd: socket, backlog });
    else server.listen(socket, backlog);
  });
}

/** The libuv stream handle behind a listening `net.Server`, as far as we use it. */
interface ListenHandle {
  readStart?(): number;
  readStop?(): number;
}

const handleOf = (server: net.Server): ListenHandle | undefined => (server as unknown as { _handle?: ListenHandle | null })._handle ?? undefined;

/**
 * THE one place where a worker stops and restarts accepting without closing its socket.
 *
 * Node has no public "pause a listening server". libuv has one, reachable through the handle's
 * stream methods: `uv_read_stop()` on a listening stream stops its I/O watcher (no more
 * `accept()`, and the process is no longer woken for new connections), `uv_read_start()` starts
 * it again; the socket stays open and listening, so connections wait in the kernel's queue, where
 * other workers take them. libuv >= 1.45 (Node 20) accepts one connection per wakeup, so pausing
 * from a `connection` handler takes effect before the next `accept()`. (`readStart` first: libuv
 * ignores `readStop` on a stream it does not consider reading.) Returns false when the handle has
 * no such methods (then the caller keeps accepting, as before).
 */
export function pauseAccepting(server: net.Server): boolean {
  const h = handleOf(server);
  if (!h?.readStart || !h.readStop) return false;
  h.readStart(); // UV_EALREADY when already "reading": fine
  return h.readStop() === 0;
}

/** Undoes {@link pauseAccepting}: the worker accepts again (no-op on a closed server). */
export function resumeAccepting(server: net.Server): void {
  handleOf(server)?.readStart?.();
}
