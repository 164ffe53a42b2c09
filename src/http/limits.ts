// Request limits (gunicorn's limit_request_line, limit_request_fields, limit_request_field_size),
// answered before the app runs, as gunicorn answers them: a request line over the limit is
// `400 Bad Request` ("Request Line is too large (5000 > 4094)"), too many header fields or a field
// over its size is `431 Request Header Fields Too Large`; the connection is closed after the answer
// and the worker logs "Invalid request from ip=…" (a warning, as gunicorn does).
//
// Node's parser (llhttp) limits only the whole request head (`maxHeaderSize`): it is set here to
// what the three limits allow together, so that they, not it, decide. A head beyond even that never
// reaches a request: the parser's error becomes the same answers (`clientError`).
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { OperatorLog } from '../log.js';

/** gunicorn's largest request line (`limit_request_line` is capped at it). */
export const MAX_REQUEST_LINE = 8190;
/** gunicorn's largest number of header fields. */
export const MAX_REQUEST_FIELDS = 32768;
/** The size a field may have when `limitRequestFieldSize` is 0 (unlimited): the bound of the parser's buffer. */
const UNLIMITED_FIELD = 65536;

/** The three limits, as in a resolved config. */
export interface RequestLimits {
  /** Longest request line in bytes (method, target, version); 0 = gunicorn's maximum, 8190. */
  limitRequestLine: number;
  /** Most header fields. */
  limitRequestFields: number;
  /** Longest header field (`Name: value`) in bytes; 0 = unlimited. */
  limitRequestFieldSize: number;
}

/** One refusal: status, reason phrase and the message (gunicorn's wording). */
interface Refusal {
  status: 400 | 431;
  reason: string;
  message: string;
}

const lineTooLarge = (size: number, limit: number): Refusal => ({ status: 400, reason: 'Bad Request', message: `Request Line is too large (${size} > ${limit})` });
const headersTooLarge = (what: string): Refusal => ({ status: 431, reason: 'Request Header Fields Too Large', message: `Error parsing headers: '${what}'` });

/** Sets a server's parser limits (`maxHeaderSize`, `maxHeadersCount`) so that these limits, not Node's defaults, decide. */
export function applyParserLimits(server: Pick<Server, 'maxHeadersCount'>, l: RequestLimits): void {
  const line = l.limitRequestLine || MAX_REQUEST_LINE;
  const field = l.limitRequestFieldSize || UNLIMITED_FIELD;
  // +1 field: the parser keeps one more than the limit, so that "too many" can be seen
  (server as { maxHeaderSize?: number }).maxHeaderSize = line + 2 + (l.limitRequestFields + 1) * (field + 2) + 2;
  server.maxHeadersCount = l.limitRequestFields + 1;
}

/** What is wrong with a parsed request head, if anything. */
function check(req: IncomingMessage, l: RequestLimits): Refusal | undefined {
  const lineLimit = l.limitRequestLine || MAX_REQUEST_LINE;
  // method SP target SP HTTP/x.y
  const line = (req.method?.length ?? 0) + (req.url?.length ?? 0) + 7 + req.httpVersion.length;
  if (line > lineLimit) return lineTooLarge(line, lineLimit);
  const raw = req.rawHeaders;
  if (raw.length / 2 > l.limitRequestFields) return headersTooLarge('limit request headers fields');
  const size = l.limitRequestFieldSize;
  if (size > 0) {
    for (let i = 0; i < raw.length; i += 2) {
      if (raw[i]!.length + raw[i + 1]!.length + 2 > size) return headersTooLarge('limit request headers fields size');
    }
  }
  return undefined;
}

function answer(r: Refusal): string {
  const body = `${r.message}\n`;
  return `HTTP/1.1 ${r.status} ${r.reason}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

/**
 * Answers a request over the limits (and closes its connection); `true` when it did, and the app
 * must not see the request.
 */
export function refuseOverLimits(req: IncomingMessage, res: ServerResponse, l: RequestLimits, log: OperatorLog): boolean {
  const r = check(req, l);
  if (!r) return false;
  log.warning(`Invalid request from ip=${req.socket.remoteAddress ?? '?'}: ${r.message}`);
  res.shouldKeepAlive = false;
  res.writeHead(r.status, r.reason, { connection: 'close', 'content-type': 'text/plain' }).end(`${r.message}\n`);
  return true;
}

/**
 * The answer to a head the parser refused for its size (`HPE_HEADER_OVERFLOW`), or `undefined`
 * for other parser errors: 400 when the bytes it was reading hold no end of line yet (the request
 * line itself is too long), else 431 (too many fields when the bytes hold more lines than allowed).
 */
export function overflowAnswer(err: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: object, l: RequestLimits, log: OperatorLog): string | undefined {
  if (err.code !== 'HPE_HEADER_OVERFLOW') return undefined;
  const packet = err.rawPacket;
  const lineLimit = l.limitRequestLine || MAX_REQUEST_LINE;
  // Node ≥ 25 also refuses a head with more fields than maxHeadersCount this way: count them
  const fields = packet ? packet.toString('latin1').split('\n').length - 3 : 0; // request line, fields, end of head
  const r =
    packet && !packet.includes(10)
      ? lineTooLarge(packet.length, lineLimit)
      : headersTooLarge(fields > l.limitRequestFields ? 'limit request headers fields' : 'limit request headers fields size');
  log.warning(`Invalid request from ip=${(socket as { remoteAddress?: string }).remoteAddress ?? '?'}: ${r.message}`);
  return answer(r);
}
