/**
 * arbiter — a gunicorn-style master process for Node.js servers.
 * @packageDocumentation
 */
// First, for its side effect: in a worker process, the orphan guard and watchdog start now,
// before any code of the entry script runs (see worker/guard.ts).
import './worker/guard.js';
export { Arbiter, type StopOptions } from './arbiter.js';
export { Application, type ApplicationLike, type ArbiterConfig, type NeedsWorkerClass } from './application.js';
export { ArbiterError, type ArbiterErrorCode } from './errors.js';
export {
  DEFAULTS,
  MAX_WORKERS,
  type BaseConfig,
  type ResolvedConfig,
  type StaticDefaults,
  type WorkerClassValue,
  type WorkerHooks,
} from './config.js';
export type { Duration, DurationUnit, Size, SizeUnit } from './units.js';
export type { ArbiterStats, MasterSummary, WorkerStats } from './master/stats.js';
export type { ArbiterEvents, CutRequest, ExitReason, GenerationReady, ReloadFailure, ReloadSuccess, ScaleChangeReason, TimeoutDetail, WorkerExit, WorkerInfo, WorkerState } from './events.js';
export { WorkerClass, type AcceptBalance, type BalanceSeat, type InheritedSockets, type OwnServers, type RequestCounters, type WorkerClassConstructor, type WorkerInit } from './models/base.js';
export type { RequestLike } from './worker/inflight.js';
export { HttpWorker, type HttpServingPolicy } from './models/http.js';
export { AsyncWorker } from './models/async.js';
export { SyncWorker } from './models/sync.js';
export { ThreadedWorker } from './models/threaded.js';
export { OperatorLog, type LogFields, type LogFormat, type LogLevel, type LogOptions, type LogSink } from './log.js';
export type { WorkerClassOption, WorkerModel } from './models/registry.js';
export { VERSION } from './version.js';
export { moduleApp, resolveModuleSpecifier, toRequestListener, type ModuleSpecifier } from './module-app.js';
export { controlRequest, controlSubscribe, findMaster, listMasters, type MasterEntry, type Subscription } from './control/client.js';
export { formatEvent, type LiveEvent, type LiveEventType, type LiveWorker } from './control/feed.js';
export { controlDir } from './control/paths.js';
export { CONTROL_PROTOCOL, type CommandSpec, type ControlCommand, type ControlCommands, type ScaleArgs, type ScaleResult, type StopArgs, type StopResult, type SubscribeArgs, type SubscribeResult, type ControlEventFrame } from './control/protocol.js';
