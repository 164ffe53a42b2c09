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
 * Checks a `bind` list: every entry parses, and no two bind the same address — the same entry
 * twice, two spellings of one address (`tcp://127.0.0.1:8000` and `127.0.0.1:8000`, `[::1]` and
 * `[0:0:0:0:0:0:0:1]`, two paths to one unix socket) or a wildcard and an address it covers on
 * the same port (`0.0.0.0:8000` covers every IPv4 address, `[::]:8000` every address). The
 * second socket could not listen (EADDRINUSE), and a second bind of a unix path would replace
 * the first one's socket file. Host names are compared once resolved, when the master binds.
 * @throws {@link ArbiterError} `ARBITER_ERR_CONFIG` naming the entries and what to do.
 */
export function checkBindList(binds: readonly string[], option = 'bind'): BindAddress[] {
  const parsed = binds.map((b) => parseBind(b));
  const seen = new Map<string, BindAddress>();
  for (const addr of parsed) {
    const key = bindKey(addr);
    if (key === undefined) continue;
    const earlier = seen.get(key);
    if (earlier) throw duplicateBind(option, earlier, addr);
    seen.set(key, addr);
  }
  const tcp = parsed.filter((a): a is Extract<BindAddress, { kind: 'tcp' }> => a.kind === 'tcp' && a.port !== 0);
  for (const wild of tcp) {
    const any = canonicalHost(wild.host, wild.family);
    if (any !== '0.0.0.0' && any !== '::') continue;
    const covered = tcp.find((a) => a !== wild && a.port === wild.port && (any === '::' || (a.family === 4 && net.isIPv4(a.host))));
    if (covered) {
      const what = any === '::' ? 'every address (IPv6 and IPv4)' : 'every IPv4 address';
      throw new ArbiterError(
        'ARBITER_ERR_CONFIG',
        `\`${option}\` lists ${JSON.stringify(wild.spec)} and ${JSON.stringify(covered.spec)}: ${JSON.stringify(wild.spec)} already listens on ${what} on port ${wild.port}, so the other cannot listen there; keep one of them`,
      );
    }
  }
  return parsed;
}

function duplicateBind(option: string, first: BindAddress, second: BindAddress): ArbiterError {
  const twice = first.spec === second.spec ? `${JSON.stringify(first.spec)} twice` : `${JSON.stringify(first.spec)} and ${JSON.stringify(second.spec)}, the same ${first.kind === 'unix' ? 'socket path' : 'address'}`;
  return new ArbiterError('ARBITER_ERR_CONFIG', `\`${option}\` lists ${twice}: an address can be bound once; remove the duplicate`);
}
