// The access log's format: gunicorn's `access_log_format` (Python %-formatting over named atoms)
// compiled once into a list of literal strings and atom getters, so a line costs one pass of
// string concatenation. Atoms follow gunicorn's glogging.py; what a WSGI environ holds there is
// taken from Node's request and response here.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { configError } from '../errors.js';

/** gunicorn's default `access_log_format` (Apache's combined format). */
export const DEFAULT_ACCESS_LOG_FORMAT = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"';

/** What a line is made from: the request, its response, its duration and the body bytes sent. */
export interface AccessRecord {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  /** Duration in milliseconds (fractional). */
  readonly ms: number;
  /** Body bytes sent, or `undefined` when unknown. */
  readonly sent: number | undefined;
}

/** One atom: its JSON key and how its value is read (`undefined`/`''` is written `-`). */
interface Atom {
  readonly key: string;
  readonly get: (r: AccessRecord) => string | number | undefined;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number): string => (n < 10 ? `0${n}` : String(n));
let clfSecond = -1;
let clfText = '';
/** `[06/Dec/2026:04:20:00 +0000]`, Apache's common log format date; computed once a second. */
function clfNow(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== clfSecond) {
    const d = new Date(now);
    const off = -d.getTimezoneOffset();
    const abs = Math.abs(off);
    clfSecond = second;
    clfText =
      `[${pad(d.getDate())}/${MONTHS[d.getMonth()]}/${d.getFullYear()}:${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())} ` +
      `${off >= 0 ? '+' : '-'}${pad(Math.floor(abs / 60))}${pad(abs % 60)}]`;
  }
  return clfText;
}

let isoMs = -1;
let isoText = '';
/** `"2026-12-06T04:20:00.123Z"` (quoted), computed once a millisecond. */
function isoNow(): string {
  const now = Date.now();
  if (now !== isoMs) {
    isoMs = now;
    isoText = `"${new Date(now).toISOString()}"`;
  }
  return isoText;
}

const path = (req: IncomingMessage): string => {
  const url = req.url ?? '';
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
};
const query = (req: IncomingMessage): string => {
  const url = req.url ?? '';
  const q = url.indexOf('?');
  return q < 0 ? '' : url.slice(q + 1);
};
const protocol = (req: IncomingMessage): string => `HTTP/${req.httpVersion}`;
const header = (v: string | string[] | number | undefined): string | undefined => (Array.isArray(v) ? v.join(', ') : v === undefined ? undefined : String(v));
/**
 * A request header (`lower`: its name in lower case) read from `rawHeaders`: `req.headers` is built
 * on first use, which costs more than the line itself when the app never reads it. Repeated fields
 * are joined with `, `.
 */
function requestHeader(req: IncomingMessage, lower: string): string | undefined {
  const raw = req.rawHeaders;
  let found: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === lower.length && (name === lower || name.toLowerCase() === lower)) found = found === undefined ? raw[i + 1] : `${found}, ${raw[i + 1]!}`;
  }
  return found;
}

/** The user of a `Basic` Authorization header (gunicorn's `u`). */
function basicUser(req: IncomingMessage): string | undefined {
  const auth = requestHeader(req, 'authorization');
  if (!auth || auth.slice(0, 6).toLowerCase() !== 'basic ') return undefined;
  const decoded = Buffer.from(auth.slice(6).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? undefined : decoded.slice(0, colon);
}

/** The single-letter atoms, gunicorn's meanings. */
const ATOMS: Readonly<Record<string, Atom>> = {
  h: { key: 'remote_addr', get: ({ req }) => req.socket.remoteAddress },
  l: { key: 'ident', get: () => undefined },
  u: { key: 'user', get: ({ req }) => basicUser(req) },
  t: { key: 'time_local', get: () => clfNow() },
  r: { key: 'request', get: ({ req }) => `${req.method ?? ''} ${req.url ?? ''} ${protocol(req)}` },
  m: { key: 'method', get: ({ req }) => req.method },
  U: { key: 'path', get: ({ req }) => path(req) },
  q: { key: 'query', get: ({ req }) => query(req) },
  H: { key: 'protocol', get: ({ req }) => protocol(req) },
  s: { key: 'status', get: ({ res }) => res.statusCode },
  B: { key: 'bytes', get: ({ sent }) => sent ?? 0 },
  b: { key: 'bytes', get: ({ sent }) => sent || undefined },
  f: { key: 'referer', get: ({ req }) => requestHeader(req, 'referer') },
  a: { key: 'user_agent', get: ({ req }) => requestHeader(req, 'user-agent') },
  T: { key: 'duration_s', get: ({ ms }) => Math.floor(ms / 1000) },
  M: { key: 'duration_ms', get: ({ ms }) => Math.floor(ms) },
  D: { key: 'duration_us', get: ({ ms }) => Math.floor(ms * 1000) },
  L: { key: 'duration', get: ({ ms }) => (ms / 1000).toFixed(6) },
  p: { key: 'pid', get: () => `<${process.pid}>` },
};

/** The CGI variables a WSGI environ has, for `{VARIABLE}e`; any other name is the worker's environment. */
const CGI: Readonly<Record<string, (r: AccessRecord) => string | number | undefined>> = {
  REMOTE_ADDR: ({ req }) => req.socket.remoteAddress,
  REMOTE_PORT: ({ req }) => req.socket.remotePort,
  SERVER_NAME: ({ req }) => req.socket.localAddress,
  SERVER_PORT: ({ req }) => req.socket.localPort,
  REQUEST_METHOD: ({ req }) => req.method,
  RAW_URI: ({ req }) => req.url,
  PATH_INFO: ({ req }) => path(req),
  QUERY_STRING: ({ req }) => query(req),
  SERVER_PROTOCOL: ({ req }) => protocol(req),
};

/** The atom of a `%(...)s` name: a letter above, or `{name}i`, `{name}o`, `{name}e`. */
function atom(name: string): Atom | undefined {
  const braced = /^\{([^{}]+)\}([ioe])$/.exec(name);
  if (!braced) return Object.hasOwn(ATOMS, name) ? ATOMS[name] : undefined;
  const [, inner, kind] = braced as unknown as [string, string, 'i' | 'o' | 'e'];
  const lower = inner.toLowerCase();
  if (kind === 'i') return { key: `req_${lower}`, get: ({ req }) => requestHeader(req, lower) };
  if (kind === 'o') return { key: `res_${lower}`, get: ({ res }) => header(res.getHeader(lower)) };
  const cgi = CGI[inner.toUpperCase()];
  return { key: `env_${inner}`, get: cgi ?? (() => process.env[inner]) };
}

const dash = (v: string | number | undefined): string | number => (v === undefined || v === '' ? '-' : v);

/**
 * The text line of `parts` as one straight-line function (`'"' + dash(g0(r)) + '" ' + …`): a loop
 * over the parts costs about twice as much per line. The code is made of JSON string literals and
 * indices into `getters`, nothing from the format is evaluated. Where code generation is
 * disallowed (`node --disallow-code-generation-from-strings`), the loop.
 */
function textLine(parts: readonly (string | Atom)[]): (r: AccessRecord) => string {
  const getters: Atom['get'][] = [];
  const terms = parts.map((p) => (typeof p === 'string' ? JSON.stringify(p) : `dash(g[${getters.push(p.get) - 1}](r))`));
  try {
    return new Function('g', 'dash', `return (r) => ${[...terms, '"\\n"'].join(' + ')};`)(getters, dash) as (r: AccessRecord) => string;
  } catch {
    // node --disallow-code-generation-from-strings: the loop
    return (r) => {
      let line = '';
      for (const p of parts) line += typeof p === 'string' ? p : dash(p.get(r));
      return `${line}\n`;
    };
  }
}

/** A compiled format: writes a record as a text line or as a JSON object. */
export interface AccessFormat {
  /** The line, newline included. */
  text(r: AccessRecord): string;
  /** One JSON object (`time`, `pid`, then each atom of the format by its key), newline included. */
  json(r: AccessRecord): string;
}

const WHAT = 'a format of gunicorn\'s atoms such as \'%(h)s "%(r)s" %(s)s %(M)s\': %(name)s with a name among h l u t r m U q H s B b f a T M D L p, {Header}i, {Header}o, {VARIABLE}e; %% for a literal %';

/**
 * Compiles an `accessLogFormat`.
 * @throws `ARBITER_ERR_CONFIG` naming `option` for an unknown atom or a stray or unbalanced `%(`.
 */
export function compileAccessFormat(format: unknown, option = 'accessLogFormat'): AccessFormat {
  if (typeof format !== 'string' || format.length === 0) throw configError(option, WHAT, format);
  const parts: (string | Atom)[] = [];
  let literal = '';
  for (let i = 0; i < format.length; i++) {
    const c = format[i]!;
    if (c !== '%') {
      literal += c;
      continue;
    }
    if (format[i + 1] === '%') {
      literal += '%';
      i += 1;
      continue;
    }
    const close = format.indexOf(')', i + 2);
    if (format[i + 1] !== '(' || close < 0) throw configError(option, `${WHAT} (a "%" at position ${i} starts no %(name)s)`, format);
    const name = format.slice(i + 2, close);
    const conversion = format[close + 1];
    if (conversion !== 's' && conversion !== 'd') throw configError(option, `${WHAT} (%(${name}) needs "s" after it)`, format);
    const found = atom(name);
    if (!found) throw configError(option, `${WHAT} (unknown atom "${name}")`, format);
    if (literal) parts.push(literal);
    literal = '';
    parts.push(found);
    i = close + 1;
  }
  if (literal) parts.push(literal);
  // `time` and `pid` open every JSON line; an atom named twice (`b` and `B`) is written once
  const jsonAtoms = parts
    .filter((p): p is Atom => typeof p !== 'string' && p.key !== 'time_local' && p.key !== 'pid')
    .filter((a, i, all) => all.findIndex((b) => b.key === a.key) === i)
    .map((a) => ({ get: a.get, quotedKey: JSON.stringify(a.key) }));
  return {
    text: textLine(parts),
    json(r) {
      // built as text: the keys are known, only string values need JSON's escaping
      let line = `{"time":${isoNow()},"pid":${process.pid}`;
      for (const a of jsonAtoms) {
        const v = a.get(r);
        line += `,${a.quotedKey}:${v === undefined || v === '' ? 'null' : typeof v === 'number' ? v : JSON.stringify(v)}`;
      }
      return `${line}}\n`;
    },
  };
}
