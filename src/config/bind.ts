// `bind` addresses: the syntax every listener option shares (`bind`, `statusBind`).
import { configError } from '../errors.js';

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
