// forwardedAllowIps (gunicorn's forwarded_allow_ips): which peers may tell the app, through
// X-Forwarded-For / X-Forwarded-Proto and their kin, who the client is and how it connected.
//
// What "trusted" means in Node: arbiter rewrites nothing. A request from a trusted peer reaches
// the app with those headers as sent (the app, or its framework's `trust proxy`, reads them); from
// any other peer they are removed (from `req.headers` and `req.rawHeaders`) before the app runs, so
// a client that connects directly cannot forge its address or scheme, and an app can trust the
// headers it does see. `req.socket.remoteAddress` stays the peer (or, with `proxyProtocol`, the
// client the PROXY header names: that address is the one checked).
import { BlockList, isIP, type Socket } from 'node:net';
import type { IncomingMessage } from 'node:http';
import { configError } from '../errors.js';

/** The headers a proxy sets to say who the client is and how it connected. */
const FORWARDING = /^(x-forwarded-.*|forwarded|x-real-ip)$/i;

const TRUSTED = Symbol('arbiter.forwardedTrusted');

const WHAT = 'a comma-separated list (or an array) of IP addresses and networks (10.0.0.0/8, fd00::/8), or "*" for every peer';

/** Which peers are trusted: `'*'` or a block list. */
export type ForwardedAllow = '*' | BlockList;

/**
 * Parses `forwardedAllowIps`.
 * @throws `ARBITER_ERR_CONFIG` naming the option for anything but addresses and networks.
 */
export function parseForwardedAllowIps(value: unknown, option = 'forwardedAllowIps'): ForwardedAllow {
  const list = typeof value === 'string' ? value.split(',') : Array.isArray(value) && value.every((v) => typeof v === 'string') ? (value as string[]) : undefined;
  if (!list) throw configError(option, WHAT, value);
  const entries = list.map((s) => s.trim()).filter(Boolean);
  if (entries.includes('*')) return '*';
  const block = new BlockList();
  for (const entry of entries) {
    const [addr, bits, extra] = entry.split('/');
    const family = isIP(addr ?? '');
    const type = family === 6 ? 'ipv6' : 'ipv4';
    if (!family || extra !== undefined) throw configError(option, `${WHAT} ("${entry}" is not an address)`, value);
    if (bits === undefined) {
      block.addAddress(addr!, type);
      if (family === 4) block.addAddress(`::ffff:${addr!}`, 'ipv6'); // the same peer on a dual-stack socket
      continue;
    }
    const prefix = Number(bits);
    if (!/^\d+$/.test(bits) || prefix > (family === 6 ? 128 : 32)) throw configError(option, `${WHAT} ("${entry}" has a bad prefix length)`, value);
    block.addSubnet(addr!, prefix, type);
    if (family === 4) block.addSubnet(`::ffff:${addr!}`, 96 + prefix, 'ipv6');
  }
  return block;
}

function trusted(socket: Socket & { [TRUSTED]?: boolean }, allow: ForwardedAllow): boolean {
  let t = socket[TRUSTED];
  if (t === undefined) {
    const addr = socket.remoteAddress;
    // a unix socket has no address: its peers are local processes, trusted like 127.0.0.1
    t = allow === '*' || addr === undefined || allow.check(addr, isIP(addr) === 6 ? 'ipv6' : 'ipv4');
    socket[TRUSTED] = t;
  }
  return t;
}

/**
 * Removes the forwarding headers of a request whose peer is not trusted; cheap when there are
 * none (one pass over the raw header names).
 */
export function screenForwarded(req: IncomingMessage, allow: ForwardedAllow): void {
  if (allow === '*' || trusted(req.socket, allow)) return;
  const raw = req.rawHeaders;
  let removed: string[] | undefined;
  for (let i = raw.length - 2; i >= 0; i -= 2) {
    const c = raw[i]!.charCodeAt(0) | 0x20;
    if ((c === 0x78 /* x */ || c === 0x66) /* f */ && FORWARDING.test(raw[i]!)) {
      (removed ??= []).push(raw[i]!.toLowerCase());
      raw.splice(i, 2);
    }
  }
  if (removed) for (const name of removed) delete req.headers[name];
}
