/**
 * arbiter — a gunicorn-style master process for Node.js servers.
 * @packageDocumentation
 */
export { Arbiter, type StopOptions } from './arbiter.js';
export { Application, type ApplicationLike } from './application.js';
export { ArbiterError, type ArbiterErrorCode } from './errors.js';
export {
  DEFAULTS,
  type ArbiterConfig,
  type LogLevel,
  type LogSink,
  type ResolvedConfig,
  type StaticDefaults,
  type WorkerHooks,
  type WorkerModel,
} from './config.js';
export type { ArbiterEvents, ExitReason, ReloadFailure, TimeoutDetail, WorkerExit, WorkerInfo, WorkerState } from './events.js';
export { WorkerClass, type InheritedSockets, type PreparedListeners, type WorkerClassConstructor, type WorkerInit } from './workers/base.js';
export { HttpWorker, type HttpServingPolicy } from './workers/http.js';
export { AsyncWorker } from './workers/async.js';
export { SyncWorker } from './workers/sync.js';
export { ThreadedWorker } from './workers/threaded.js';
export { OperatorLog } from './log.js';
export { VERSION } from './version.js';
