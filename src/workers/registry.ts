import type { ResolvedConfig } from '../config.js';
import { AsyncWorker } from './async.js';
import type { WorkerClassConstructor } from './base.js';
import { SyncWorker } from './sync.js';
import { ThreadedWorker } from './threaded.js';

const BUILT_IN: Record<string, WorkerClassConstructor> = { async: AsyncWorker, sync: SyncWorker, threaded: ThreadedWorker };

/** The model class for a config (built-in name or user class): the one place that maps names to models. */
export function resolveModel(config: ResolvedConfig): WorkerClassConstructor & { inThreads: boolean } {
  const Model = typeof config.workerClass === 'function' ? config.workerClass : BUILT_IN[config.workerClass];
  if (!Model) throw new Error(`Unknown worker class ${String(config.workerClass)}`);
  return Model as WorkerClassConstructor & { inThreads: boolean };
}
