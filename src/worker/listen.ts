import type net from 'node:net';

/** Starts listening on inherited fds; synchronous, errors arrive through `onError`. */
export function listenAll(listeners: net.Server[], fds: readonly number[], backlog: number, onError: (err: Error, fd: number) => void): void {
  listeners.forEach((server, i) => {
    server.once('error', (err) => onError(err, fds[i]!));
    server.listen({ fd: fds[i]!, backlog });
  });
}
