import { closeSync, openSync, readlinkSync, readSync } from 'node:fs';

/**
 * The binds' accept queues: connections the kernel has completed that no worker has accepted yet
 * (SPEC §12 `backlog`). Read only when asked (`stats()`, `/status`, a `/metrics` scrape), never on
 * a timer.
 *
 * On Linux a listening TCP socket's `rx_queue` in `/proc/net/tcp` / `/proc/net/tcp6` is its accept
 * queue length (`sk_ack_backlog`). The master finds its own sockets there by inode
 * (`/proc/self/fd/<fd>` → `socket:[<inode>]`). Those files list every TCP socket of the network
 * namespace, listening ones first: reading stops after those, so the cost hardly grows with the
 * open connections (`node bench/backlog.mjs`: docs/design.md, "Saturation"). A unix socket's queue is not
 * readable this way (`/proc/net/unix` has no queue length): `null`, as everywhere off Linux.
 */

/** A master listener as the backlog reader needs it. */
export interface BacklogSource {
  /** The bind's display URL (the `bind` label of `arbiter_listen_backlog`). */
  readonly url: string;
  /** The master's fd of the listening socket. */
  readonly fd: number;
}

/** Accept queue length per bind URL (`null` where it cannot be read), and their sum (`null` when none could be). */
export interface Backlog {
  /** Per bind, in the order given. */
  readonly binds: ReadonlyMap<string, number | null>;
  /** Sum over the binds that could be read; `null` when none could. */
  readonly total: number | null;
}

/** The socket inode behind `fd`, or `undefined` (not a socket, not Linux). */
function socketInode(fd: number): string | undefined {
  try {
    return /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`))?.[1];
  } catch {
    return undefined;
  }
}

// sl local rem st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
const LINE = /^ *\d+: [0-9A-F]+:[0-9A-F]+ [0-9A-F]+:[0-9A-F]+ ([0-9A-F]{2}) [0-9A-F]+:([0-9A-F]+) \S+ \S+ +\d+ +\d+ +(\d+)/;
const LISTEN = '0A';
const CHUNK = Buffer.alloc(4096); // a page: the kernel generates the text a page per read

/**
 * rx_queue of the listening sockets of one `/proc/net/tcp*` file, by inode, into `queues`; false
 * when it cannot be read. The kernel lists the listening sockets first, then the others (every
 * connection: established, TIME_WAIT…), generating the text as it is read: reading stops at the
 * first line that is not LISTEN, so the cost does not grow with the open connections.
 */
function readListening(file: string, queues: Map<string, number>): boolean {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return false;
  }
  try {
    let rest = '';
    let header = true;
    for (;;) {
      const n = readSync(fd, CHUNK, 0, CHUNK.length, null);
      if (n === 0) return true;
      const lines = (rest + CHUNK.toString('latin1', 0, n)).split('\n');
      rest = lines.pop()!;
      for (const line of lines) {
        if (header) {
          header = false;
          continue;
        }
        const m = LINE.exec(line);
        if (!m) continue;
        if (m[1] !== LISTEN) return true;
        queues.set(m[3]!, Number.parseInt(m[2]!, 16));
      }
    }
  } catch {
    return false;
  } finally {
    closeSync(fd);
  }
}

/**
 * rx_queue of the listening sockets by inode, from `/proc/net/tcp` and/or `tcp6` as `files` says;
 * `undefined` when none can be read. (`tcp6` only when a bind is IPv6: IPv4 and IPv6 sockets share
 * one table, so listing the IPv6 ones walks past every IPv4 connection of the host.)
 */
function listenQueues(files: readonly string[]): Map<string, number> | undefined {
  const queues = new Map<string, number>();
  let read = false;
  for (const file of files) read = readListening(file, queues) || read;
  return read ? queues : undefined;
}

/** Reads the accept queues of `listeners` now (see the module comment for what it costs). */
export function readBacklog(listeners: readonly BacklogSource[]): Backlog {
  const inodes = listeners.map((l) => (l.url.startsWith('unix:') ? undefined : socketInode(l.fd)));
  const tcp = listeners.filter((_, i) => inodes[i] !== undefined);
  const files = [...(tcp.some((l) => !l.url.includes('[')) ? ['/proc/net/tcp'] : []), ...(tcp.some((l) => l.url.includes('[')) ? ['/proc/net/tcp6'] : [])];
  const queues = files.length > 0 ? listenQueues(files) : undefined;
  const binds = new Map<string, number | null>();
  let total: number | null = null;
  listeners.forEach((l, i) => {
    const inode = inodes[i];
    const n = inode !== undefined ? queues?.get(inode) ?? null : null;
    binds.set(l.url, n);
    if (n !== null) total = (total ?? 0) + n;
  });
  return { binds, total };
}
