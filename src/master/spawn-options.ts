import type { ResolvedConfig } from '../config.js';
import type { BalanceTable } from './balance-table.js';
import type { WorkerIdentity } from './privileges.js';
import type { SpawnOptions } from './worker-handle.js';

/** What the options of one worker process are made of (plain values). */
export interface SpawnInput {
  readonly age: number;
  readonly slot: number;
  readonly generation: number;
  readonly spare: boolean;
  /** The current generation's config. */
  readonly config: Pick<ResolvedConfig, 'env' | 'timeout' | 'bootTimeout' | 'maxWorkerMemory' | 'umask'>;
  /** The current generation's `bind` listeners (not the sockets of an app's own `listen()`). */
  readonly listeners: readonly { readonly fd: number }[];
  /** Serving threads per worker (`inThreads` models), 0 when the main thread serves. */
  readonly threads: number;
  readonly identity: WorkerIdentity;
  readonly balance: BalanceTable | undefined;
  /** No `bind` for an app module. */
  readonly bindOnDemand: boolean;
}

/**
 * The options a worker process is spawned with: one copy of the listener fds per serving thread
 * (one when the main thread serves), a heartbeat slot for the main thread and each serving
 * thread, and sockets asked for over IPC while binding on demand has bound nothing yet.
 */
export function spawnOptions(i: SpawnInput): SpawnOptions {
  return {
    age: i.age,
    slot: i.slot,
    generation: i.generation,
    fds: i.listeners.map((l) => l.fd),
    copies: i.threads || 1,
    slots: 1 + i.threads,
    env: i.config.env,
    timeout: i.config.timeout,
    bootTimeout: i.config.bootTimeout,
    maxMemory: i.config.maxWorkerMemory,
    uid: i.identity.uid,
    gid: i.identity.gid,
    umask: i.config.umask ?? undefined,
    balance: i.balance,
    spare: i.spare,
    bindOnDemand: i.bindOnDemand && i.listeners.length === 0,
  };
}
