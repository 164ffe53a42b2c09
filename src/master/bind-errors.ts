// The errors of binding and listening: each names the `bind` entry, the errno and what to do.
import { lstatSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { ArbiterError } from '../errors.js';

/** The errno name of a libuv error code (negative): `EADDRINUSE`. */
export function errnoName(code: number): string {
  const entry = Object.entries(osConstants.errno).find(([, v]) => v === -code);
  return entry ? entry[0] : `errno ${code}`;
}

/** An `ARBITER_ERR_BIND` error about one `bind` entry; `errno` carries the code. */
export function bindError(spec: string, code: string, detail: string): ArbiterError {
  const err = new ArbiterError('ARBITER_ERR_BIND', `Cannot bind ${spec}: ${detail} (${code})`);
  (err as { errno?: string }).errno = code;
  return err;
}

/**
 * Why a TCP bind failed: EACCES on a port below 1024 (only root or a process with the
 * CAP_NET_BIND_SERVICE capability may bind one) names the ways to get that right.
 */
export function tcpBindFailed(port: number, errno: number): string {
  if (errno !== -osConstants.errno.EACCES || port === 0 || port >= 1024) return 'bind failed';
  return lowPortAdvice();
}

/** What to do about EACCES on a port below 1024 (the `bind` listeners and `statusBind` alike). */
export function lowPortAdvice(): string {
  return (
    'only root or a process with the CAP_NET_BIND_SERVICE capability may bind a port below 1024: ' +
    'start the master as root with `user` set (-u; the workers run as that user), ' +
    `give node the capability (setcap cap_net_bind_service=+ep ${process.execPath}, ` +
    'or AmbientCapabilities=CAP_NET_BIND_SERVICE in the systemd unit), ' +
    'or let systemd bind the port (socket activation, see docs/deploy.md)'
  );
}

/** Two `bind` entries that came to the same address once resolved (`localhost:8000` and `127.0.0.1:8000`). */
export function sameAddress(first: string, second: string, url: string): ArbiterError {
  const twice = first === second ? `${JSON.stringify(first)} twice` : `${JSON.stringify(first)} and ${JSON.stringify(second)}`;
  return bindError(second, 'EADDRINUSE', `\`bind\` lists ${twice}, which both bind ${url}: an address can be bound once; remove one of them`);
}

/**
 * What is in the way of a unix socket path when it is not a socket (`a regular file`, `a
 * directory`, …), or `undefined` (nothing there, or a socket). Arbiter removes only sockets.
 */
export function notASocket(path: string): string | undefined {
  let st;
  try {
    st = lstatSync(path);
  } catch {
    return undefined;
  }
  if (st.isSocket()) return undefined;
  return st.isFile() ? 'a regular file' : st.isDirectory() ? 'a directory' : st.isSymbolicLink() ? 'a symbolic link' : 'something else';
}
