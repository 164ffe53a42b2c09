/**
 * The in-flight request table of a worker process, in shared memory: which requests each serving
 * loop is working on, readable by the watchdog thread while that loop is blocked, so that a
 * `WORKER TIMEOUT` names the requests it cut (see docs/design.md, "Which requests a timeout cut").
 *
 * One region per heartbeat slot (0: the main thread; i: serving thread i), written only by the
 * loop that owns it: no locks. Each region holds {@link ENTRIES} entries and an overflow counter.
 * An entry is a sequence number (odd while in use: bumped before and after every write, so a
 * reader sees a torn entry and skips it), the start time (epoch ms) and up to {@link TEXT_BYTES}
 * bytes of UTF-8: `METHOD path` (no query string), then `\n` and the `x-request-id` when the
 * request has one. Per request: one short string, one `encodeInto`, three atomic stores; no message.
 */

/** Entries per serving loop; requests beyond them are counted, not listed. */
export const ENTRIES = 64;
/** Bytes of `METHOD path\nrequest-id` kept per entry (longer ones are cut). */
export const TEXT_BYTES = 240;
/** Bytes per entry: seq (Int32), length (Int32), start (Float64), text. */
const ENTRY_BYTES = 16 + TEXT_BYTES;
/** Bytes per slot: the entries, then the overflow counter (Int32, padded to 8). */
const SLOT_BYTES = ENTRIES * ENTRY_BYTES + 8;

/** A request as the watchdog reads it from the table. */
export interface InflightRequest {
  /** `GET`, `POST`, … */
  readonly method: string;
  /** The request target without its query string. */
  readonly path: string;
  /** How long it has been in flight (ms) when the table was read. */
  readonly ageMs: number;
  /** Its `x-request-id` header, when it had one. */
  readonly requestId?: string;
}

/** The shared table of a worker process with `slots` serving loops. */
export function inflightBuffer(slots: number): SharedArrayBuffer {
  return new SharedArrayBuffer(slots * SLOT_BYTES);
}

/** What a request looks like to the table (an `http.IncomingMessage` is one). */
export interface RequestLike {
  /** `GET`, `POST`, … */
  readonly method?: string | undefined;
  /** The request target; its query string is left out of the table. */
  readonly url?: string | undefined;
  /** Header names in lower case; only `x-request-id` is kept. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
}

/** One serving loop's writer on the table. */
export class InflightWriter {
  readonly #seq: Int32Array;
  readonly #bytes: Uint8Array;
  readonly #time: Float64Array;
  readonly #overflow: number;
  readonly #free: number[] = [];
  /** Each entry's text bytes, made once (a view per request would be an allocation per request). */
  readonly #texts: Uint8Array[] = [];
  readonly #base: number;
  readonly #encoder = new TextEncoder();

  /** The writer of slot `slot`'s region of `buffer` (made by {@link inflightBuffer}). */
  constructor(buffer: SharedArrayBuffer, slot: number) {
    this.#seq = new Int32Array(buffer);
    this.#bytes = new Uint8Array(buffer);
    this.#time = new Float64Array(buffer);
    this.#base = slot * SLOT_BYTES;
    this.#overflow = (this.#base + ENTRIES * ENTRY_BYTES) >> 2;
    for (let i = ENTRIES - 1; i >= 0; i--) this.#free.push(i);
    for (let i = 0; i < ENTRIES; i++) {
      const at = this.#base + i * ENTRY_BYTES + 16;
      this.#texts.push(this.#bytes.subarray(at, at + TEXT_BYTES));
    }
  }

  /** A request started: returns its entry, −1 when the table is full (it is counted). */
  begin(req: RequestLike): number {
    const i = this.#free.pop();
    if (i === undefined) {
      Atomics.add(this.#seq, this.#overflow, 1);
      return -1;
    }
    const at = this.#base + i * ENTRY_BYTES;
    const url = req.url ?? '';
    const q = url.indexOf('?');
    const id = req.headers['x-request-id'];
    const text = `${req.method ?? '?'} ${q < 0 ? url : url.slice(0, q)}${typeof id === 'string' ? `\n${id}` : ''}`;
    const seq = at >> 2;
    Atomics.add(this.#seq, seq, 1); // odd: being written
    const { written } = this.#encoder.encodeInto(text, this.#texts[i]!);
    this.#seq[seq + 1] = written;
    this.#time[(at + 8) >> 3] = Date.now();
    Atomics.add(this.#seq, seq, 1); // even: stable (and in use while the start time is set)
    return i;
  }

  /** The request of entry `i` (from {@link InflightWriter.begin}) finished. */
  end(i: number): void {
    if (i < 0) {
      Atomics.sub(this.#seq, this.#overflow, 1);
      return;
    }
    const at = this.#base + i * ENTRY_BYTES;
    Atomics.add(this.#seq, at >> 2, 1);
    this.#time[(at + 8) >> 3] = 0;
    Atomics.add(this.#seq, at >> 2, 1);
    this.#free.push(i);
  }
}

/**
 * The requests in flight on slot `slot` (oldest first), and how many more the table could not
 * hold. Runs in the watchdog thread, whose source is a string: this function is embedded with
 * `toString()`, so it stays self-contained (no imports, no helpers, constants passed in).
 */
export function readInflight(
  buffer: SharedArrayBuffer,
  slot: number,
  now: number,
  entries: number,
  textBytes: number,
): { requests: { method: string; path: string; ageMs: number; requestId?: string }[]; more: number } {
  const entryBytes = 16 + textBytes;
  const base = slot * (entries * entryBytes + 8);
  const ints = new Int32Array(buffer);
  const times = new Float64Array(buffer);
  const bytes = new Uint8Array(buffer);
  const decoder = new TextDecoder();
  const requests: { method: string; path: string; ageMs: number; requestId?: string }[] = [];
  for (let i = 0; i < entries; i++) {
    const at = base + i * entryBytes;
    const seq = Atomics.load(ints, at >> 2);
    if (seq & 1) continue; // being written
    const started = times[(at + 8) >> 3]!;
    if (!started) continue;
    const len = Math.min(ints[(at >> 2) + 1]!, textBytes);
    const text = decoder.decode(bytes.slice(at + 16, at + 16 + len)); // a copy: not every runtime decodes shared memory
    if (Atomics.load(ints, at >> 2) !== seq) continue; // rewritten meanwhile
    const nl = text.indexOf('\n');
    const line = nl < 0 ? text : text.slice(0, nl);
    const sp = line.indexOf(' ');
    const r: { method: string; path: string; ageMs: number; requestId?: string } = {
      method: line.slice(0, sp),
      path: line.slice(sp + 1),
      ageMs: Math.max(0, Math.round(now - started)),
    };
    if (nl >= 0) r.requestId = text.slice(nl + 1);
    requests.push(r);
  }
  requests.sort((a, b) => b.ageMs - a.ageMs);
  return { requests, more: Math.max(0, Atomics.load(ints, (base + entries * entryBytes) >> 2)) };
}
