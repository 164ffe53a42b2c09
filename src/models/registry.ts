import type { RequestListener } from 'node:http';
import type { ResolvedConfig } from '../config.js';
import { configError } from '../errors.js';
import { AsyncWorker } from './async.js';
import { HttpWorker } from './http.js';
import type { WorkerClassConstructor } from './base.js';
import { SyncWorker } from './sync.js';
import { ThreadedWorker } from './threaded.js';

/** Names of the built-in worker models (all three serve HTTP with a `RequestListener`). */
export type WorkerModel = 'sync' | 'async' | 'threaded';

/**
 * What the `workerClass` option accepts for an app whose handler is `H`: a built-in model's name
 * (only when `H` is a Node `http.RequestListener`, which is what they serve) or a
 * {@link WorkerClass} subclass whose handler type is `H`.
 */
export type WorkerClassOption<H = RequestListener> = ([H] extends [RequestListener] ? WorkerModel : never) | WorkerClassConstructor<H>;

const BUILT_IN: Record<WorkerModel, WorkerClassConstructor> = { async: AsyncWorker, sync: SyncWorker, threaded: ThreadedWorker };

/**
 * Validates a `workerClass` option value: the one place that knows which values name a model.
 * @throws {@link ArbiterError} `ARBITER_ERR_CONFIG`
 */
export function checkWorkerClass(v: unknown): WorkerModel | WorkerClassConstructor {
  if (typeof v === 'string' && Object.hasOwn(BUILT_IN, v)) return v as WorkerModel;
  if (typeof v === 'function' && typeof (v as { prototype?: { run?: unknown } }).prototype?.run === 'function') return v as WorkerClassConstructor;
  throw configError('workerClass', `${Object.keys(BUILT_IN).map((n) => `"${n}"`).join(', ')} or a WorkerClass subclass`, v);
}

/** The model class for a config (built-in name or user class): the one place that maps names to models. */
export function resolveModel(config: ResolvedConfig): WorkerClassConstructor & { inThreads: boolean } {
  const Model = typeof config.workerClass === 'function' ? config.workerClass : BUILT_IN[config.workerClass as WorkerModel];
  return Model as WorkerClassConstructor & { inThreads: boolean };
}

/**
 * What the model serves on TCP listeners, for the addresses the master announces: `'http'` for
 * the built-in models and `HttpWorker` subclasses, `'tcp'` for any other `WorkerClass`.
 */
export function listenerScheme(config: ResolvedConfig): 'http' | 'https' | 'tcp' {
  const Model = resolveModel(config);
  const http = Model === ThreadedWorker || Model.prototype instanceof ThreadedWorker || Model.prototype instanceof HttpWorker;
  return !http ? 'tcp' : config.certfile !== null ? 'https' : 'http';
}

/** Options given that the model ignores, as warnings for the start-up log. */
export function modelWarnings(config: ResolvedConfig): string[] {
  const warnings: string[] = [];
  if (config.threads > 1 && !resolveModel(config).inThreads) {
    warnings.push(`threads (${config.threads}) is ignored by the ${modelName(config.workerClass)} worker: only 'threaded' runs threads (workerClass: 'threaded')`);
  }
  return warnings;
}

/** Display name of a model (`'async'`, or the class name of a custom one). */
export function modelName(option: ResolvedConfig['workerClass']): string {
  return typeof option === 'function' ? option.name : option;
}
