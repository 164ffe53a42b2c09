import { autoWorkers, workerRange, type ResolvedConfig } from '../config.js';
import { policyOf } from './autoscale.js';
import { modelName, modelWarnings } from '../models/registry.js';
import type { LogFields, OperatorLog } from '../log.js';
import type { AppBinds } from './app-binds.js';
import type { Handover } from './handover.js';
import { openListeners, systemdBinds, upgradeListeners, type MasterListener } from './listeners.js';
import { Pidfile } from './pidfile.js';
import { shareUnixSockets, workerIdentity, type WorkerIdentity } from './privileges.js';

/** Why a master refuses to start from `node -e` or a REPL. */
export const NO_ENTRY_SCRIPT = 'arbiter needs an entry script (node server.js): workers re-run it, so it cannot run from -e or a REPL';

/** Logged by a master that is PID 1. */
export const PID1_WARNING =
  'The master runs as PID 1: Node does not reap orphaned processes it did not start, so zombies would pile up. Run it under an init: docker run --init, tini, or dumb-init.';

/** One operator log line. */
export interface StartupLine {
  readonly level: 'info' | 'warning';
  readonly message: string;
  readonly fields?: LogFields;
}

/** What {@link startupLines} reports on (plain values). */
export interface StartupFacts {
  /** Binding on demand and nothing bound yet: the app's own `listen()` calls choose. */
  readonly nothingBound: boolean;
  /** `bind`, where an exported handler is served when nothing was bound. */
  readonly bind: readonly string[];
  readonly workerClass: string;
  /** `workers: 'auto'`: how many, and how that was counted. */
  readonly auto: { readonly count: number; readonly how: string } | undefined;
  /** Adaptive workers: the bounds and thresholds (optional: absent for a fixed number). */
  readonly adaptive?: { readonly min: number; readonly max: number; readonly scaleUpAt: number; readonly scaleDownAt: number; readonly scaleDownAfter: number } | undefined;
  /** Who the workers run as (`user`/`group`), if not as the master. */
  readonly identity: string | undefined;
  /** The worker model's warnings about the config. */
  readonly warnings: readonly string[];
}

/** The lines a master logs once bound, before its first workers (after `Listening at:`). */
export function startupLines(f: StartupFacts): StartupLine[] {
  const lines: StartupLine[] = [];
  if (f.nothingBound) {
    lines.push({ level: 'info', message: `No bind given: the app's own listen() calls choose the addresses (an exported handler is served on ${f.bind.join(', ')})` });
  }
  lines.push({ level: 'info', message: `Using worker: ${f.workerClass}`, fields: { workerClass: f.workerClass } });
  if (f.auto) lines.push({ level: 'info', message: `Using ${f.auto.count} worker${f.auto.count === 1 ? '' : 's'} (workers: 'auto': ${f.auto.how})`, fields: { workers: f.auto.count } });
  if (f.adaptive) {
    const a = f.adaptive;
    const pct = (r: number): string => `${Math.round(r * 100)}%`;
    lines.push({ level: 'info', message: `Adaptive workers: ${a.min} to ${a.max} (one more at saturation >= ${pct(a.scaleUpAt)} for 3s or a backlog for 2s, one less at <= ${pct(a.scaleDownAt)} for ${a.scaleDownAfter / 1000}s)`, fields: { min: a.min, max: a.max } });
  }
  if (f.identity) lines.push({ level: 'info', message: `Workers run as ${f.identity}` });
  for (const warning of f.warnings) lines.push({ level: 'warning', message: warning });
  return lines;
}

/** {@link StartupFacts} of a config. */
export function startupFacts(config: ResolvedConfig, identity: WorkerIdentity, nothingBound: boolean): StartupFacts {
  return { nothingBound, bind: config.bind, workerClass: modelName(config.workerClass), auto: autoWorkers(config), adaptive: policyOf(workerRange(config), config), identity: identity.description, warnings: modelWarnings(config) };
}

/** What binding at start needs from the supervisor. */
export interface StartupHost {
  readonly config: ResolvedConfig;
  readonly log: OperatorLog;
  readonly handover: Handover;
  readonly appBinds: AppBinds;
  /** No `bind` for an app module: bind nothing, workers ask. */
  readonly bindOnDemand: boolean;
  /** Still starting: no stop came meanwhile. */
  starting(): boolean;
  /** The master has halted (a USR2 master is then not promoted). */
  halted(): boolean;
  /** The pidfile about to be written: the halt removes it, also when binding fails after. */
  pidfile(p: Pidfile): void;
}

/** Holds the first spawn until work a `ready` listener started has settled (e.g. the status server binding `statusBind`). */
export class FirstSpawnHold {
  #work: Promise<unknown>[] = [];
  #holding = false;

  /** Waiting now: the loop must not turn (signals wait in the queue). */
  get holding(): boolean {
    return this.#holding;
  }

  /** Something to wait for (its failure is its owner's to report). */
  get pending(): boolean {
    return this.#work.length > 0;
  }

  add(work: Promise<unknown>): void {
    this.#work.push(work.catch(() => undefined));
  }

  /** Resolves once everything added has settled; keeps the process alive meanwhile (no worker does yet). */
  async wait(): Promise<void> {
    this.#holding = true;
    const keepAlive = setInterval(() => {}, 60_000);
    await Promise.all(this.#work);
    clearInterval(keepAlive);
    this.#work = [];
    this.#holding = false;
  }
}

/** What the master serves with, once bound. */
export interface Bound {
  readonly identity: WorkerIdentity;
  /** The listeners came from systemd: a reload keeps them whatever `bind` says. */
  readonly fixedListeners: boolean;
  /** The `bind` listeners (an app's own `listen()` sockets went to `appBinds`). */
  readonly listeners: MasterListener[];
}

/**
 * The start of `run()` up to serving: who the workers run as, the pidfile (`<pidfile>.2` for a
 * master started by USR2, which takes the old master's over once it is promoted), the sockets —
 * inherited from the old master (USR2), from systemd, or bound (with gunicorn's retries).
 * Resolves `undefined` when a stop came while binding (what was opened is closed again); rejects
 * when something cannot be done (the caller halts with status 1).
 */
export async function bindAtStart(host: StartupHost): Promise<Bound | undefined> {
  const { config, log } = host;
  const identity = workerIdentity(config.user, config.group);
  const inherited = upgradeListeners();
  let pidfile: Pidfile | undefined;
  if (config.pidfile) {
    pidfile = new Pidfile(inherited ? `${config.pidfile}.2` : config.pidfile);
    host.pidfile(pidfile);
    pidfile.create(process.pid);
  }
  if (inherited) host.handover.awaitPromotion(host.halted, pidfile, config.pidfile);
  const systemd = inherited ? undefined : systemdBinds();
  const listeners =
    inherited ?? (await openListeners(systemd ?? (host.bindOnDemand ? [] : config.bind), config.backlog, log, () => !host.starting()));
  if (!host.starting()) {
    for (const l of listeners) l.close(); // stopped while binding
    return undefined;
  }
  host.appBinds.adopt(listeners); // a USR2 master: the old master's sockets for the app's own listen()
  shareUnixSockets(listeners, identity, config.umask);
  return { identity, fixedListeners: systemd !== undefined, listeners: listeners.filter((l) => !l.appKey) };
}
