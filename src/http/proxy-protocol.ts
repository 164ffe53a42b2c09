// proxyProtocol: every connection starts with a PROXY protocol header (HAProxy's spec, v1 text or
// v2 binary), sent by a proxy in front (HAProxy `send-proxy`, nginx `proxy_protocol on`, AWS NLB);
// it names the client, and the app sees that client as `req.socket.remoteAddress`/`remotePort`.
// The header is read before the connection reaches the HTTP server; what follows it is handed on
// untouched. A connection whose header is missing, malformed or incomplete after HEADER_TIMEOUT
// is closed and logged at debug level: never an exception, never a worker's death.
import { isIPv4, isIPv6, type Socket } from 'node:net';
import type { OperatorLog } from '../log.js';

/** How long a connection may take to send its PROXY header. */
export const HEADER_TIMEOUT = 5000;
/** The longest v1 line, CRLF included (the spec's bound). */
const V1_MAX = 107;
const V1_PREFIX = Buffer.from('PROXY ');
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

/** The client a header names; `undefined` for a LOCAL (v2) or UNKNOWN (v1) connection: keep the peer's address. */
export interface ProxiedAddress {
  family: 'IPv4' | 'IPv6';
  address: string;
  port: number;
}

/** A parsed header: the bytes it took and the client it names; or why it is malformed; or `'more'` (incomplete). */
export type ParseResult = { length: number; client: ProxiedAddress | undefined } | { error: string } | 'more';

const PORT = /^(0|[1-9]\d{0,4})$/;

function parseV1(buf: Buffer): ParseResult {
  const end = buf.indexOf('\r\n');
  if (end < 0) return buf.length >= V1_MAX ? { error: 'v1 line longer than 107 bytes' } : 'more';
  if (end + 2 > V1_MAX) return { error: 'v1 line longer than 107 bytes' };
  const parts = buf.toString('latin1', 0, end).split(' ');
  if (parts[1] === 'UNKNOWN') return { length: end + 2, client: undefined };
  if (parts.length !== 6) return { error: 'v1 line without 6 fields' };
  const [, proto, src, , sport, dport] = parts as [string, string, string, string, string, string];
  const ok = proto === 'TCP4' ? isIPv4(src) && isIPv4(parts[3]!) : proto === 'TCP6' ? isIPv6(src) && isIPv6(parts[3]!) : false;
  if (!ok) return { error: `v1 protocol or addresses not valid: ${JSON.stringify(parts.slice(1, 4).join(' '))}` };
  if (!PORT.test(sport) || !PORT.test(dport) || Number(sport) > 65535 || Number(dport) > 65535) return { error: 'v1 port not valid' };
  return { length: end + 2, client: { family: proto === 'TCP4' ? 'IPv4' : 'IPv6', address: src, port: Number(sport) } };
}

/** The 16 bytes at `at` as RFC 5952 text (the longest run of zero groups as `::`). */
function ipv6(buf: Buffer, at: number): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push(buf.readUInt16BE(at + i * 2));
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j > i ? j : i + 1;
  }
  const hex = (a: number[]): string => a.map((n) => n.toString(16)).join(':');
  return best < 0 ? hex(g) : `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}

function parseV2(buf: Buffer): ParseResult {
  if (buf.length < 16) return 'more';
  const verCmd = buf[12]!;
  if (verCmd >> 4 !== 2) return { error: `v2 version ${verCmd >> 4}` };
  const cmd = verCmd & 0x0f;
  if (cmd > 1) return { error: `v2 command ${cmd}` };
  const length = 16 + buf.readUInt16BE(14);
  if (buf.length < length) return 'more';
  if (cmd === 0) return { length, client: undefined }; // LOCAL: the proxy's own connection (a health check)
  const family = buf[13]! >> 4;
  const transport = buf[13]! & 0x0f;
  if (transport > 2) return { error: `v2 transport ${transport}` };
  if (family === 1) {
    if (length < 16 + 12) return { error: 'v2 IPv4 addresses truncated' };
    return { length, client: { family: 'IPv4', address: `${buf[16]}.${buf[17]}.${buf[18]}.${buf[19]}`, port: buf.readUInt16BE(24) } };
  }
  if (family === 2) {
    if (length < 16 + 36) return { error: 'v2 IPv6 addresses truncated' };
    return { length, client: { family: 'IPv6', address: ipv6(buf, 16), port: buf.readUInt16BE(48) } };
  }
  if (family === 0 || family === 3) return { length, client: undefined }; // UNSPEC or unix: keep the peer's
  return { error: `v2 address family ${family}` };
}

/** Parses the PROXY header at the start of `buf` (v1 or v2, told apart by the first byte). */
export function parseProxyHeader(buf: Buffer): ParseResult {
  if (buf.length === 0) return 'more';
  const v2 = buf[0] === V2_SIGNATURE[0];
  const sig = v2 ? V2_SIGNATURE : V1_PREFIX;
  const n = Math.min(buf.length, sig.length);
  if (buf.compare(sig, 0, n, 0, n) !== 0) return { error: 'no PROXY header' };
  if (buf.length < sig.length) return 'more';
  return v2 ? parseV2(buf) : parseV1(buf);
}

/** Makes `socket` report the client's address and port (own properties over net.Socket's getters). */
function adopt(socket: Socket, client: ProxiedAddress): void {
  Object.defineProperties(socket, {
    remoteAddress: { value: client.address, configurable: true },
    remotePort: { value: client.port, configurable: true },
    remoteFamily: { value: client.family, configurable: true },
  });
}

/**
 * Wraps a connection's dispatch (hand it to the HTTP server) so that the PROXY header is read
 * and applied first; returns `dispatch` itself when `proxyProtocol` is off.
 */
export function readProxyHeaderFirst(enabled: boolean, log: OperatorLog, dispatch: (socket: Socket) => void): (socket: Socket) => void {
  if (!enabled) return dispatch;
  return (socket) => {
    let buf: Buffer = Buffer.alloc(0);
    const peer = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    const done = (): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', onError);
    };
    const refuse = (why: string): void => {
      done();
      log.debug(`Invalid PROXY header from ${peer}: ${why}; connection closed`);
      socket.destroy();
    };
    const onError = (err: Error): void => refuse((err as NodeJS.ErrnoException).code ?? err.message);
    const onData = (chunk: Buffer): void => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      const r = parseProxyHeader(buf);
      if (r === 'more') return;
      if ('error' in r) return refuse(r.error);
      done();
      socket.pause();
      if (r.client) adopt(socket, r.client);
      if (buf.length > r.length) socket.unshift(buf.subarray(r.length));
      dispatch(socket);
      socket.resume();
    };
    const timer = setTimeout(() => refuse(`no complete header within ${HEADER_TIMEOUT} ms`), HEADER_TIMEOUT);
    timer.unref();
    socket.on('error', onError);
    socket.on('data', onData);
    socket.once('close', () => clearTimeout(timer));
  };
}
