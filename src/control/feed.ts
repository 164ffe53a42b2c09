// The live feed of lifecycle events (`arbiter events`, `arbiter top`, the dashboard's /events):
// the master's events turned into plain JSON records, kept in a short ring and pushed to subscribers.
import type { CutRequest, ReloadFailure, WorkerExit, WorkerInfo } from '../events.js';
import type { MasterBus } from '../master/bus.js';
import { requestLine } from '../master/deadlines.js';

/** What happened, see {@link LiveEvent}. */
export type LiveEventType =
  | 'spawn'
  | 'ready'
  | 'spare_ready'
  | 'timeout'
  | 'exit'
  | 'generation_ready'
  | 'reload'
  | 'reloaded'
  | 'reload_failed'
  | 'scale'
  | 'control'
  | 'reopen_logs'
  | 'upgrade'
  | 'promoted'
  | 'stopping'
  | 'halt';

/** The worker a {@link LiveEvent} is about. */
export interface LiveWorker {
  /** Process id. */
  pid: number;
  /** Slot (−1: a spare). */
  slot: number;
  /** Spawn counter. */
  age: number;
  /** Reload generation. */
  generation: number;
}

/**
 * One lifecycle event of a master, as `arbiter events --json` prints it and `/events` sends it.
 * `seq` counts from 1 over the master's life; `time` is epoch ms. The other fields depend on `type`:
 *
 * - `spawn`, `ready`, `spare_ready`: `worker`
 * - `timeout`: `worker`, `kind` (`heartbeat`/`boot`), `frame` (the innermost frame of the stack),
 *   `stack`, `requests` (what it had in flight), `moreRequests`
 * - `exit`: `worker`, `reason` (an `ExitReason`: `memory` is a recycling for `maxWorkerMemory`),
 *   `code`, `signal`
 * - `generation_ready`, `reloaded`: `generation`, `workers`; `reload`: nothing (a reload begins)
 * - `reload_failed`: `generation`, `reason`, `error`, `keptWorkers`
 * - `scale`: `previous`, `target`
 * - `control`: `action` (`reload`, `scale 2 -> 3`, …), `client` (`pid 4242, uid 1000`)
 * - `stopping`: `graceful`; `halt`: `status` (5: the restart budget was exhausted, then `budget: true`)
 * - `upgrade` (USR2), `promoted`, `reopen_logs`: nothing more
 */
export interface LiveEvent {
  /** Counts from 1 over the master's life. */
  seq: number;
  /** When, epoch ms. */
  time: number;
  /** What happened. */
  type: LiveEventType;
  /** The worker (spawn, ready, spare_ready, timeout, exit). */
  worker?: LiveWorker;
  /** timeout: `heartbeat` (a stalled loop) or `boot` (a boot deadline). */
  kind?: 'heartbeat' | 'boot';
  /** timeout: the innermost frame of the stalled stack (`at fn (file:line:col)`). */
  frame?: string;
  /** timeout: the whole stalled stack. */
  stack?: string;
  /** timeout: the requests the stalled thread had in flight, oldest first. */
  requests?: readonly CutRequest[];
  /** timeout: requests beyond those listed. */
  moreRequests?: number;
  /** exit: an `ExitReason`; reload_failed: a `ReloadFailure` reason. */
  reason?: string;
  /** exit: the exit status (`null`: killed by a signal). */
  code?: number | null;
  /** exit: the signal that killed it, or `null`. */
  signal?: string | null;
  /** generation_ready, reloaded, reload_failed: the generation. */
  generation?: number;
  /** generation_ready, reloaded: its workers. */
  workers?: number;
  /** reload_failed: workers of the previous generation that keep serving. */
  keptWorkers?: number;
  /** reload_failed: the error in one line, when known. */
  error?: string;
  /** scale: the target before. */
  previous?: number;
  /** scale: the target now. */
  target?: number;
  /** control: what was done (`reload`, `scale 2 -> 3`, `stop (graceful)`). */
  action?: string;
  /** control: who asked (`pid 4242, uid 1000`). */
  client?: string;
  /** stopping: TERM (`true`) or QUIT. */
  graceful?: boolean;
  /** halt: the master's exit status. */
  status?: number;
  /** halt: the restart budget was exhausted (status 5). */
  budget?: boolean;
}

/** Events kept for a subscriber that asks for the recent past (`top` shows them at once). */
export const FEED_BACKLOG = 50;

/** Exit status of a master that exhausted its restart budget (see src/master/restarts.ts). */
const BUDGET_EXHAUSTED = 5;

const worker = (w: WorkerInfo): LiveWorker => ({ pid: w.pid, slot: w.slot, age: w.age, generation: w.generation });

/**
 * Turns the master's events into {@link LiveEvent}s. It listens from the start (a lifecycle
 * event costs one small object in a ring of {@link FEED_BACKLOG}; nothing happens between events,
 * so a master nobody watches does no more work than before) and pushes to whoever subscribed.
 */
export class LiveFeed {
  readonly #ring: LiveEvent[] = [];
  readonly #subscribers = new Set<(e: LiveEvent) => void>();
  #seq = 0;

  /** @param events - the master's internal bus */
  constructor(events: Pick<MasterBus, 'on'>) {
    events.on('spawn', (w) => this.publish({ type: 'spawn', worker: worker(w) }));
    events.on('worker_ready', (w) => this.publish({ type: 'ready', worker: worker(w) }));
    events.on('spare_ready', (w) => this.publish({ type: 'spare_ready', worker: worker(w) }));
    events.on('worker_timeout', (w, d) => {
      const frame = d.stack?.split('\n')[0]?.trim();
      this.publish({
        type: 'timeout',
        worker: worker(w),
        kind: d.kind,
        ...(frame ? { frame, stack: d.stack } : {}),
        ...(d.requests ? { requests: d.requests } : {}),
        ...(d.moreRequests ? { moreRequests: d.moreRequests } : {}),
      });
    });
    events.on('worker_exit', (w, x: WorkerExit) => this.publish({ type: 'exit', worker: worker(w), reason: x.reason, code: x.code, signal: x.signal }));
    events.on('generation_ready', (d) => this.publish({ type: 'generation_ready', generation: d.generation, workers: d.workers }));
    events.on('reload', () => this.publish({ type: 'reload' }));
    events.on('reloaded', (d) => this.publish({ type: 'reloaded', generation: d.generation, workers: d.workers }));
    events.on('reload_failed', (f: ReloadFailure) =>
      this.publish({ type: 'reload_failed', generation: f.generation, reason: f.reason, keptWorkers: f.keptWorkers, ...(f.error ? { error: f.error } : {}) }),
    );
    events.on('nworkers_changed', (next, previous) => this.publish({ type: 'scale', previous, target: next }));
    events.on('reopen_logs', () => this.publish({ type: 'reopen_logs' }));
    events.on('pre_exec', () => this.publish({ type: 'upgrade' }));
    events.on('promoted', () => this.publish({ type: 'promoted' }));
    events.on('stopping', (graceful) => this.publish({ type: 'stopping', graceful }));
    events.on('exit', (status) => this.publish({ type: 'halt', status, ...(status === BUDGET_EXHAUSTED ? { budget: true } : {}) }));
  }

  /** Records an event and pushes it to every subscriber (a throwing subscriber is dropped). */
  publish(event: Omit<LiveEvent, 'seq' | 'time'>): void {
    const e: LiveEvent = { seq: ++this.#seq, time: Date.now(), ...event };
    this.#ring.push(e);
    if (this.#ring.length > FEED_BACKLOG) this.#ring.shift();
    for (const fn of [...this.#subscribers]) {
      try {
        fn(e);
      } catch {
        this.#subscribers.delete(fn);
      }
    }
  }

  /** Calls `fn` with every event from now on, after the last `backlog` ones; returns how to stop. */
  subscribe(fn: (e: LiveEvent) => void, backlog = 0): () => void {
    for (const e of backlog > 0 ? this.#ring.slice(-backlog) : []) fn(e);
    this.#subscribers.add(fn);
    return () => void this.#subscribers.delete(fn);
  }

  /** How many subscribers are connected now. */
  get subscribers(): number {
    return this.#subscribers.size;
  }
}

/** `spawn`, `TIMEOUT`: the type column of a line (upper case where an operator must look). */
const LABEL: Record<LiveEventType, string> = {
  spawn: 'spawn',
  ready: 'ready',
  spare_ready: 'spare',
  timeout: 'TIMEOUT',
  exit: 'exit',
  generation_ready: 'gen ready',
  reload: 'reload',
  reloaded: 'reloaded',
  reload_failed: 'RELOAD FAILED',
  scale: 'scale',
  control: 'control',
  reopen_logs: 'reopen',
  upgrade: 'upgrade',
  promoted: 'promoted',
  stopping: 'stopping',
  halt: 'halt',
};

/** Exit reasons in words. */
const EXITS: Record<string, string> = {
  crash: 'crashed',
  timeout: 'timed out',
  max_requests: 'recycled after maxRequests',
  memory: 'recycled: RSS over maxWorkerMemory',
  reload: 'replaced by a reload',
  scale_down: 'retired by a scale-down',
  shutdown: 'stopped with the master',
  boot_error: 'failed to boot',
  app_load_error: 'the app failed to load',
  exit: 'exited by itself',
};


/** What an event says, without time or type: `worker 1234 (slot 0, gen 1): timed out, SIGKILL`. */
export function describeEvent(e: LiveEvent): string {
  const w = e.worker ? `worker ${e.worker.pid} (${e.worker.slot < 0 ? 'spare' : `slot ${e.worker.slot}`}, gen ${e.worker.generation})` : '';
  switch (e.type) {
    case 'spawn':
    case 'ready':
    case 'spare_ready':
      return w;
    case 'timeout': {
      // the requests first: in a narrow terminal the end of a long line is cut
      const cut = e.requests?.length ? `: ${e.requests.map(requestLine).join(', ')}${e.moreRequests ? ` and ${e.moreRequests} more` : ''}` : e.requests ? ': no request in flight' : '';
      const where = e.frame ? `; ${e.frame}` : e.kind === 'boot' ? ' while booting' : '; no JavaScript stack';
      return `${w}${cut}${where}`;
    }
    case 'exit': {
      const how = e.signal ? `, ${e.signal}` : e.code !== null && e.code !== undefined ? `, code ${e.code}` : '';
      return `${w}: ${EXITS[e.reason ?? ''] ?? e.reason}${how}`;
    }
    case 'generation_ready':
    case 'reloaded':
      return `generation ${e.generation} (${e.workers} worker${e.workers === 1 ? '' : 's'})`;
    case 'reload':
      return 'begins';
    case 'reload_failed':
      return `generation ${e.generation}: ${e.reason}${e.error ? `: ${e.error}` : ''}; ${e.keptWorkers} worker${e.keptWorkers === 1 ? '' : 's'} of the previous generation keep serving`;
    case 'scale':
      return `${e.previous} -> ${e.target} workers`;
    case 'control':
      return `${e.action} (${e.client})`;
    case 'stopping':
      return e.graceful ? 'graceful' : 'quick';
    case 'halt':
      return `exit status ${e.status}${e.budget ? ' (restart budget exhausted)' : ''}`;
    default:
      return '';
  }
}

/** `HH:MM:SS` local time. */
function clock(time: number): string {
  const d = new Date(time);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
}

/** One line of `arbiter events`: `14:02:11  exit      worker 1234 (slot 0, gen 1): crashed, code 1`. */
export function formatEvent(e: LiveEvent): string {
  return `${clock(e.time)}  ${LABEL[e.type].padEnd(9)} ${describeEvent(e)}`.trimEnd();
}
