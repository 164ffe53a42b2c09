// `bind` addresses: the syntax every listener option shares (`bind`, `statusBind`).
import net from 'node:net';
import { resolve as resolvePath } from 'node:path';
import { ArbiterError, configError } from '../errors.js';

/**
 * A parsed `bind` entry. A TCP `host` is an IP address or a host name, which the master resolves
 * when it binds: every address the name resolves to is bound (`localhost`: 127.0.0.1 and ::1 where
 * both resolve), as gunicorn does.
 */
export type BindAddress =
  | { kind: 'tcp'; host: string; port: number; family: 4 | 6; spec: string }
  | { kind: 'unix'; path: string; spec: string }
  | { kind: 'fd'; fd: number; spec: string };

/**
 * Parses one `bind` string: `host:port` (also `tcp://host:port`, as gunicorn), `:port`,
 * `[::1]:port`, `unix:/path`, `fd://N`.
 * @throws {@link ArbiterError} `ARBITER_ERR_CONFIG` when it is not one of the accepted forms.
 */
export function parseBind(spec: string): BindAddress {
  const bad = () =>
    configError('bind', 'an address of the form "host:port", ":port", "[::1]:port", "tcp://host:port", "unix:/path" or "fd://N" (port 0-65535)', spec);
  if (spec.startsWith('unix:')) {
    const path = spec.slice(5);
    if (!path) throw bad();
    return { kind: 'unix', path, spec };
  }
  if (spec.startsWith('fd://')) {
    const fd = /^\d+$/.test(spec.slice(5)) ? Number(spec.slice(5)) : NaN;
    if (!Number.isSafeInteger(fd)) throw bad();
    return { kind: 'fd', fd, spec };
  }
  const address = spec.startsWith('tcp://') ? spec.slice('tcp://'.length) : spec;
  let host: string;
  let portText: string;
  const v6 = /^\[([0-9a-fA-F:.%a-zA-Z]+)\]:(\d+)$/.exec(address);
  if (v6) {
    host = v6[1]!;
    portText = v6[2]!;
  } else {
    const i = address.lastIndexOf(':');
    if (i < 0) throw bad();
    host = address.slice(0, i) || '0.0.0.0';
    portText = address.slice(i + 1);
    if (host.includes(':') || host.includes('/')) throw bad();
  }
  const port = /^\d+$/.test(portText) ? Number(portText) : NaN;
  if (!(port >= 0 && port <= 65535)) throw bad();
  return { kind: 'tcp', host, port, family: v6 ? 6 : 4, spec };
}

/** The address a TCP host names as written: IPv6 literals in their shortest form, names lowercased. */
function canonicalHost(host: string, family: 4 | 6): string {
  if (family === 6) {
    try {
      return new URL(`http://[${host}]/`).hostname.slice(1, -1);
    } catch {
      return host.toLowerCase(); // a zone id (fe80::1%eth0): compared as written
    }
  }
  return host.toLowerCase();
}

/** What a `bind` entry binds, for comparing entries: `undefined` for port 0 (every one gets its own port). */
function bindKey(addr: BindAddress): string | undefined {
  switch (addr.kind) {
    case 'unix':
      return `unix:${resolvePath(addr.path)}`;
    case 'fd':
      return `fd://${addr.fd}`;
    case 'tcp':
      return addr.port === 0 ? undefined : `${canonicalHost(addr.host, addr.family)}|${addr.port}`;
  }
}

/**
 * Why two entries cannot both be bound, or `undefined`: the same address (`same`), or `a` is a
 * wildcard that covers `b` on the same port (a sentence saying so).
 */
function clash(a: BindAddress, b: BindAddress): 'same' | string | undefined {
  const key = bindKey(a);
  if (key !== undefined && key === bindKey(b)) return 'same';
  if (a.kind !== 'tcp' || b.kind !== 'tcp' || a.port === 0 || a.port !== b.port) return undefined;
  const any = canonicalHost(a.host, a.family);
  if (any === '::') return `${JSON.stringify(a.spec)} already listens on every address (IPv6 and IPv4) on port ${a.port}`;
  if (any === '0.0.0.0' && b.family === 4 && net.isIPv4(b.host)) return `${JSON.stringify(a.spec)} already listens on every IPv4 address on port ${a.port}`;
  return undefined;
}

/**
 * Checks a `bind` list: every entry parses, and no two bind the same address — the same entry
 * twice, two spellings of one address (`tcp://127.0.0.1:8000` and `127.0.0.1:8000`, `[::1]` and
 * `[0:0:0:0:0:0:0:1]`, two paths to one unix socket) or a wildcard and an address it covers on
 * the same port (`0.0.0.0:8000` covers every IPv4 address, `[::]:8000` every address). The
 * second socket could not listen (EADDRINUSE), and a second bind of a unix path would replace
 * the first one's socket file. Host names are compared once resolved, when the master binds.
 * @throws {@link ArbiterError} `ARBITER_ERR_CONFIG` naming the entries and what to do.
 */
export function checkBindList(binds: readonly string[]): BindAddress[] {
  const parsed = binds.map((b) => parseBind(b));
  for (const [i, second] of parsed.entries()) {
    for (const first of parsed.slice(0, i)) {
      const why = clash(first, second);
      if (why === 'same') {
        const twice = first.spec === second.spec ? `${JSON.stringify(first.spec)} twice` : `${JSON.stringify(first.spec)} and ${JSON.stringify(second.spec)}, the same ${first.kind === 'unix' ? 'socket path' : 'address'}`;
        throw new ArbiterError('ARBITER_ERR_CONFIG', `\`bind\` lists ${twice}: an address can be bound once; remove the duplicate`);
      }
      const wide = why ?? clash(second, first);
      if (wide) throw new ArbiterError('ARBITER_ERR_CONFIG', `\`bind\` lists ${JSON.stringify(first.spec)} and ${JSON.stringify(second.spec)}: ${wide}, so the other cannot listen there; keep one of them`);
    }
  }
  return parsed;
}

/**
 * Checks that `statusBind` is not one of the `bind` addresses (nor covered by, nor covering one):
 * the master binds those first, so the status server could never listen there.
 * @throws {@link ArbiterError} `ARBITER_ERR_CONFIG` naming both options and what to do.
 */
export function checkStatusBind(statusBind: string, binds: readonly string[]): void {
  const status = parseBind(statusBind);
  for (const bind of binds.map((b) => parseBind(b))) {
    const why = clash(bind, status);
    const wide = why === 'same' ? undefined : (why ?? clash(status, bind));
    if (why === 'same' || wide) {
      throw new ArbiterError(
        'ARBITER_ERR_CONFIG',
        `\`statusBind\` ${JSON.stringify(statusBind)} ${why === 'same' ? `is the address of \`bind\` ${JSON.stringify(bind.spec)}` : `overlaps \`bind\` ${JSON.stringify(bind.spec)} (${wide})`}: the status server needs an address of its own; choose another port or path`,
      );
    }
  }
}
