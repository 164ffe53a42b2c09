import type { ResolvedConfig } from '../config.js';
import type { OperatorLog } from '../log.js';
import type { WorkerMessage } from '../protocol.js';
import type { AppBinds } from './app-binds.js';
import { openListeners, type MasterListener } from './listeners.js';
import type { WorkerRecord } from './worker-record.js';

/** What answering a worker's request for a socket needs from the loop. */
export interface ListenHost {
  readonly log: OperatorLog;
  /** The master runs (not starting, not stopping). */
  running(): boolean;
  config(): ResolvedConfig;
  /** The `bind` listeners every worker inherits. */
  listeners(): readonly MasterListener[];
  /** Adds listeners opened on demand to the `bind` listeners (after sharing unix sockets with the workers' user and announcing them). */
  adopt(opened: readonly MasterListener[]): void;
  /** Opening the default bind failed before any worker was ready: the master cannot serve. */
  cannotServe(err: unknown): void;
}

/** A worker's `listen` request. */
export type ListenMessage = Extract<WorkerMessage, { cmd: 'listen' }>;

function failure(message: string, errno: string): Error {
  return Object.assign(new Error(message), { errno });
}

/**
 * Answers the sockets workers ask for: one their app's own `listen()` wants ({@link AppBinds}
 * decides which), or — when the master binds on demand and the app exports a handler — the
 * default bind, opened on the first request and inherited by every later worker.
 */
export class ListenRequests {
  readonly #host: ListenHost;
  readonly #appBinds: AppBinds;
  /** The default bind being opened (a worker of an app that exports a handler asked for it). */
  #defaultBinding: Promise<void> | undefined;

  constructor(host: ListenHost, appBinds: AppBinds) {
    this.#host = host;
    this.#appBinds = appBinds;
  }

  /** Answers `listen` from worker `w`: the handle goes with the answer; an error carries its code (e.g. EADDRINUSE). */
  async answer(w: WorkerRecord, { id, request }: ListenMessage): Promise<void> {
    const host = this.#host;
    try {
      if (!host.running()) throw failure('the master is stopping', 'ECANCELED');
      if ('default' in request) {
        if (host.listeners().length === 0) await (this.#defaultBinding ??= this.#openDefault());
        const listeners = host.listeners();
        const l = listeners[request.default];
        if (!l) throw failure(`no default bind ${request.default}`, 'EINVAL');
        w.handle.send({ cmd: 'listened', id, url: l.url, count: listeners.length }, l.handle);
      } else {
        const l = await this.#appBinds.acquire(request, w.pid, host.listeners());
        w.handle.send({ cmd: 'listened', id, url: l.url }, l.handle);
      }
    } catch (err) {
      const code = (err as { errno?: string }).errno ?? 'EINVAL';
      w.handle.send({ cmd: 'listened', id, error: { code, message: err instanceof Error ? err.message : String(err) } });
    }
  }

  /** Binds `bind` for an app module that turned out to export a handler (no bind was given). */
  async #openDefault(): Promise<void> {
    const host = this.#host;
    const config = host.config();
    try {
      const opened = await openListeners(config.bind, config.backlog, host.log, () => !host.running());
      if (!host.running()) {
        for (const l of opened) l.close();
        throw failure('the master is stopping', 'ECANCELED');
      }
      host.adopt(opened);
    } catch (err) {
      this.#defaultBinding = undefined;
      if (host.running()) host.cannotServe(err);
      throw err;
    }
  }
}
