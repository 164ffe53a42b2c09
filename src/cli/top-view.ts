// What `arbiter top` draws: a pure function of what it knows (the last `status`, the events,
// the prompt), so that the screen can be checked without a terminal.
import { formatEvent, type LiveEvent } from '../control/feed.js';
import type { ArbiterStats, WorkerStats } from '../master/stats.js';
import { formatBytes, formatDuration, formatPercent, table } from './format.js';

/** Figures a newer master may add to `status` (the saturation work); shown when present, `-` otherwise. */
interface OptionalVitals {
  elu?: number | null;
  loopDelayP99?: number | null;
  heapUsed?: number | null;
  heapLimit?: number | null;
  reqRate?: number | null;
}

/** What the view shows. */
export interface TopState {
  /** The last `status` answer (absent until the first one). */
  stats?: ArbiterStats & { saturation?: number | null; backlog?: number | null };
  /** Requests per second per worker pid, measured by `top` between two `status` answers (when the master does not report `reqRate`). */
  rates: ReadonlyMap<number, number>;
  /** The events seen, oldest first. */
  events: readonly LiveEvent[];
  /** The bottom line: a question, or the outcome of the last key. */
  message?: string;
  /** The last error talking to the master. */
  error?: string;
  /** Terminal size. */
  columns: number;
  rows: number;
  /** Colours on. */
  color: boolean;
  /** Wall-clock time of the drawing. */
  now: number;
}

const ESC = '\x1b[';
const paint = (on: boolean, code: string, text: string): string => (on ? `${ESC}${code}m${text}${ESC}0m` : text);

/** `0.42` (a fraction) or `42` (percent) → `42.0%`. */
function percentOf(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '-';
  return formatPercent(v <= 1 ? v * 100 : v);
}

const num = (v: number | null | undefined, digits = 1): string => (v === null || v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(digits));

/** The row of one worker. */
function workerRow(w: WorkerStats & OptionalVitals, rate: number | undefined): string[] {
  const heap = w.heapUsed === null || w.heapUsed === undefined ? '-' : `${formatBytes(w.heapUsed)}${w.heapLimit ? ` / ${formatBytes(w.heapLimit).replace(/\.\d /, ' ')}` : ''}`;
  return [
    String(w.pid),
    w.slot < 0 ? '-' : String(w.slot),
    w.state,
    formatDuration(w.uptime),
    num(w.reqRate ?? rate),
    w.inflight === null ? '-' : String(w.inflight),
    percentOf(w.elu),
    w.loopDelayP99 === null || w.loopDelayP99 === undefined ? '-' : formatDuration(w.loopDelayP99),
    formatBytes(w.rss),
    heap,
    formatPercent(w.cpu),
    formatDuration(w.heartbeatAge),
  ];
}

const STATE_COLOR: Record<string, string> = { ready: '32', booting: '33', spare: '36', retiring: '2', timed_out: '1;31' };

/** Cuts a line to `width` visible characters (the line has no escapes yet). */
const fit = (line: string, width: number): string => (line.length > width ? line.slice(0, Math.max(0, width - 1)) + '…' : line);

/** The screen, one string per row (at most `rows`), without the cursor movements. */
export function renderTop(s: TopState): string[] {
  const { color, columns } = s;
  const out: string[] = [];
  const push = (text: string, code?: string): void => void out.push(code ? paint(color, code, fit(text, columns)) : fit(text, columns));
  const st = s.stats;
  const clock = new Date(s.now).toTimeString().slice(0, 8);
  if (!st) {
    push(`arbiter top  ${clock}`, '1');
    push(s.error ? `waiting for the master: ${s.error}` : 'asking the master…');
  } else {
    const rates = st.workers.map((w) => (w as OptionalVitals).reqRate ?? s.rates.get(w.pid) ?? 0);
    const total = rates.reduce((a, b) => a + b, 0);
    push(`master ${st.pid}${st.name ? ` [${st.name}]` : ''}  arbiter ${st.version}  ${st.workerClass}  ${st.binds.join(' ') || '(not listening)'}  ${clock}`, '1');
    push(
      `up ${formatDuration(st.uptime)}  generation ${st.generation}  workers ${st.ready}/${st.target} ready  req/s ${total.toFixed(1)}  saturation ${percentOf(st.saturation)}  backlog ${st.backlog ?? '-'}  reloads ${st.reloads}  restarts ${st.restarts}`,
    );
    push('');
    const rows = st.workers.map((w) => workerRow(w, s.rates.get(w.pid)));
    const lines = table(['PID', 'SLOT', 'STATE', 'AGE', 'REQ/S', 'INFLIGHT', 'ELU', 'LOOP P99', 'RSS', 'HEAP', 'CPU', 'HEARTBEAT'], rows, new Set([0, 1, 3, 4, 5, 6, 7, 8, 9, 10, 11])).split('\n');
    push(lines[0]!, '7');
    lines.slice(1).forEach((line, i) => {
      const w = st.workers[i]!;
      const late = w.heartbeatAge !== null && w.heartbeatAge > 1000;
      push(line, late ? '1;31' : STATE_COLOR[w.state]);
    });
    if (st.workers.length === 0) push('(no workers)', '2');
  }
  push('');
  push('Events', '1');
  const footer = s.message ?? (s.error && st ? `! ${s.error}` : 'q quit   r reload   + add a worker   - remove a worker');
  const room = Math.max(0, s.rows - out.length - 2);
  const events = room > 0 ? s.events.slice(-room) : [];
  if (events.length === 0 && room > 0) push('(none yet)', '2');
  for (const e of events) push(formatEvent(e), e.type === 'timeout' || e.type === 'reload_failed' ? '31' : e.type === 'halt' || e.type === 'stopping' ? '33' : undefined);
  while (out.length < s.rows - 1) out.push('');
  out.length = Math.min(out.length, Math.max(1, s.rows - 1));
  push(footer, s.message ? '1;33' : '2');
  return out;
}
