// Adaptive workers' decision (SPEC §12) as a pure function: the state so far, one sample of the
// pool's vitals and the time in, a decision out. The timing (sampling once a second, acting on
// the decision, logging) is autoscale.ts's; everything that can flap is decided here.

/** How long `saturation` must stay at or above `scaleUpAt` before a worker is added (ms). */
export const SCALE_UP_AFTER = 3000;
/** How long connections must keep waiting in the accept queues before a worker is added (ms). */
export const BACKLOG_AFTER = 2000;
/** Quiet time after a change has settled (the added worker ready, the removed one gone) before the next windows start (ms). */
export const SETTLE_AFTER = 3000;

/** The thresholds and bounds, from the config. */
export interface ScalePolicy {
  readonly min: number;
  readonly max: number;
  /** Saturation (0–1) held for {@link SCALE_UP_AFTER}: one more worker. */
  readonly scaleUpAt: number;
  /** Saturation (0–1) held for `scaleDownAfter`: one worker less. */
  readonly scaleDownAt: number;
  /** Milliseconds. */
  readonly scaleDownAfter: number;
}

/** One sample of the pool. */
export interface ScaleSample {
  /** Mean ELU of the ready workers; `null` when none reports one. */
  readonly saturation: number | null;
  /** Connections in the accept queues; `null` when unreadable. */
  readonly backlog: number | null;
  /** The current target. */
  readonly target: number;
  /** The pool is what the target says: every current worker ready, none booting or retiring for a scale change. */
  readonly settled: boolean;
  /** Bytes the cgroup may still grow (`memory.max` − `memory.current`); `null`: unlimited or unreadable. */
  readonly headroom: number | null;
  /** Median RSS of the workers, bytes; `null` when unknown. */
  readonly medianRss: number | null;
}

/** Since when (ms, the caller's clock) each condition has held; `null`: it does not hold now. */
export interface ScaleState {
  readonly highSince: number | null;
  readonly backlogSince: number | null;
  readonly lowSince: number | null;
  /** No window starts before this (after a change, once the pool settled). */
  readonly quietUntil: number;
  /** The memory guard is holding a scale-up back (one log line per episode). */
  readonly memoryBlocked: boolean;
}

/** Why the count changes (the `nworkers_changed` reason and the log line's). */
export type ScaleReason = 'saturation' | 'backlog' | 'idle';

/** What to do now. */
export type ScaleDecision =
  | { readonly action: 'none' }
  | { readonly action: 'up' | 'down'; readonly reason: ScaleReason; readonly detail: string }
  /** An up decision the memory guard refused; `first` on the first sample of the episode (log it then). */
  | { readonly action: 'blocked'; readonly first: boolean; readonly detail: string };

/** The state before any sample. */
export const INITIAL_STATE: ScaleState = { highSince: null, backlogSince: null, lowSince: null, quietUntil: 0, memoryBlocked: false };

const pct = (r: number): string => `${Math.round(r * 100)}%`;
const secs = (ms: number): string => `${Number((ms / 1000).toFixed(1))}s`;

/**
 * Decides from one sample. Hysteresis: a condition counts only while every sample since it began
 * met it (one sample the other way starts the window again), up and down have separate thresholds
 * (`scaleDownAt` < `scaleUpAt`), and after a change no window starts until the pool has settled
 * and {@link SETTLE_AFTER} more has passed — so a load right at a threshold, or the dip a new
 * worker causes, cannot make the count flap.
 */
export function decide(state: ScaleState, s: ScaleSample, now: number, p: ScalePolicy): { state: ScaleState; decision: ScaleDecision } {
  const none = { action: 'none' } as const;
  if (!s.settled) return { state: { ...INITIAL_STATE, quietUntil: now + SETTLE_AFTER, memoryBlocked: state.memoryBlocked }, decision: none };
  if (now < state.quietUntil) return { state: { ...state, highSince: null, backlogSince: null, lowSince: null }, decision: none };
  const high = s.saturation !== null && s.saturation >= p.scaleUpAt;
  const queued = s.backlog !== null && s.backlog > 0;
  const low = s.saturation !== null && s.saturation <= p.scaleDownAt && !queued;
  const next: ScaleState = {
    highSince: high ? (state.highSince ?? now) : null,
    backlogSince: queued ? (state.backlogSince ?? now) : null,
    lowSince: low ? (state.lowSince ?? now) : null,
    quietUntil: state.quietUntil,
    memoryBlocked: state.memoryBlocked,
  };
  const upFor = next.highSince !== null && now - next.highSince >= SCALE_UP_AFTER;
  const backlogFor = next.backlogSince !== null && now - next.backlogSince >= BACKLOG_AFTER;
  if ((upFor || backlogFor) && s.target < p.max) {
    const reason: ScaleReason = upFor ? 'saturation' : 'backlog';
    const detail = upFor ? `saturation ${pct(s.saturation!)} >= ${pct(p.scaleUpAt)} for ${secs(now - next.highSince!)}` : `${s.backlog} connection${s.backlog === 1 ? '' : 's'} waiting in the accept queue for ${secs(now - next.backlogSince!)}`;
    if (s.headroom !== null && s.medianRss !== null && s.headroom < 1.5 * s.medianRss) {
      return { state: { ...next, memoryBlocked: true }, decision: { action: 'blocked', first: !state.memoryBlocked, detail } };
    }
    return { state: { ...INITIAL_STATE, quietUntil: now + SETTLE_AFTER }, decision: { action: 'up', reason, detail } };
  }
  const cleared = upFor || backlogFor ? next : { ...next, memoryBlocked: false }; // the episode ends with the pressure
  if (next.lowSince !== null && now - next.lowSince >= p.scaleDownAfter && s.target > p.min) {
    return { state: { ...INITIAL_STATE, quietUntil: now + SETTLE_AFTER }, decision: { action: 'down', reason: 'idle', detail: `saturation ${pct(s.saturation!)} <= ${pct(p.scaleDownAt)} for ${secs(now - next.lowSince)}` } };
  }
  return { state: cleared, decision: none };
}

/** The median of `values` (`null` when empty). */
export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
