import type { RequestListener } from 'node:http';
import type { BaseConfig } from './config.js';
import type { WorkerClass, WorkerClassConstructor } from './models/base.js';
import type { WorkerClassOption } from './models/registry.js';

/**
 * Every option, for an app whose `load()` returns a handler of type `H` (default: a Node
 * `http.RequestListener`): the hooks receive a `WorkerClass<H>` (so `worker.handler` is an `H`),
 * and `workerClass` must fit `H` (see {@link WorkerClassOption}). Field by field: {@link BaseConfig}.
 *
 * @typeParam H - the handler type `load()` returns
 *
 * @example
 * ```ts
 * import type { ArbiterConfig } from 'arbiter';
 * export const config: ArbiterConfig = { workers: 4, timeout: 10_000, workerExit: async () => pool.end() };
 * ```
 */
export interface ArbiterConfig<H = RequestListener> extends BaseConfig<WorkerClass<H>> {
  /**
   * Worker model: `'async'` (the event loop serves many connections), `'sync'` (gunicorn's model:
   * one request at a time per worker), `'threaded'`, or a {@link WorkerClass} subclass. The
   * built-in names need a handler that is a `RequestListener`; a class needs one of its type.
   * @default 'async'
   */
  workerClass?: WorkerClassOption<H>;
}

/**
 * What `new Arbiter(app)` takes: optional config and a `load()` that runs in each worker
 * (never in the master) and returns the handler of type `H` — for the built-in HTTP workers a
 * Node `http.RequestListener` (express, fastify's `routing`, koa's `callback()` all fit; see
 * docs/frameworks.md). A handler of another type needs a `workerClass` of that type
 * ({@link NeedsWorkerClass}; `Arbiter`'s constructor checks it). Type app objects with
 * `satisfies ApplicationLike<H>`: an annotation widens `config` to optional.
 *
 * @typeParam H - the handler type `load()` returns
 */
export interface ApplicationLike<H = RequestListener> {
  /** Options, see {@link ArbiterConfig}. */
  config?: ArbiterConfig<H>;
  /** Builds the handler inside a worker. Throwing here halts the master with status 4. */
  load(): H | Promise<H>;
}

/**
 * The compile-time half of "the handler fits the worker model": the built-in models serve a
 * `RequestListener`, so an app whose handler `H` is anything else must name a
 * `WorkerClass<H>` subclass in `config.workerClass`. `unknown` (no requirement) when `H` is a
 * `RequestListener`. (At run time the HTTP models check what `load()` returned.)
 */
export type NeedsWorkerClass<H> = [H] extends [RequestListener]
  ? unknown
  : {
      /** Required for such a handler. */
      config: {
        /** The `WorkerClass<H>` subclass that serves the handler. */
        workerClass: WorkerClassConstructor<H>;
      };
    };

/**
 * Base class alternative to a plain object (gunicorn's `BaseApplication`).
 *
 * @example
 * ```ts
 * class MyApp extends Application {
 *   override config = { workers: 4, workerClass: 'async' } as const;
 *   load() { return (req: IncomingMessage, res: ServerResponse) => res.end('hi\n'); }
 * }
 * await new Arbiter(new MyApp()).run();
 * ```
 */
export abstract class Application<H = RequestListener> implements ApplicationLike<H> {
  /** Options, see {@link ArbiterConfig}. */
  config?: ArbiterConfig<H>;
  /** Builds the handler inside a worker. */
  abstract load(): H | Promise<H>;
}
