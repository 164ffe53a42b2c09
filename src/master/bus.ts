import type { EventEmitter } from 'eventemitter3';
import type { ArbiterEvents } from '../events.js';

/**
 * What the master's own subscribers hear (counters, the control socket, the status server,
 * systemd notification): every public event, plus a few that only matter inside the master and
 * never reach the host's listeners.
 */
export interface MasterEvents extends ArbiterEvents {
  /** The master begins to stop (TERM/INT/QUIT/`stop()`); later stop requests do not repeat it. */
  stopping: (graceful: boolean) => void;
  /** In a master started by USR2: the old master has exited, this one takes over. */
  promoted: () => void;
  /** This master begins to stop while a new master it started by USR2 lives on: that one is the service from now on (its pid). Emitted just before `stopping`. */
  handover: (pid: number) => void;
}

/** The names of {@link MasterEvents} that the host never sees. */
export const MASTER_ONLY_EVENTS: ReadonlySet<string> = new Set<keyof MasterEvents>(['stopping', 'promoted', 'handover']);

/** The master's internal event bus. */
export type MasterBus = EventEmitter<MasterEvents>;

/** Something that delivers the master's events to a subscriber. */
export type MasterEventSource = Pick<MasterBus, 'on'>;

/** Emits an event to the host; provided by `Arbiter`, which isolates throwing listeners. */
export type Emit = <K extends keyof MasterEvents>(event: K, ...args: Parameters<MasterEvents[K]>) => void;
