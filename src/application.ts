import type { RequestListener } from 'node:http';
import type { ArbiterConfig } from './config.js';

/**
 * What `new Arbiter(app)` takes: optional config and a `load()` that runs in each worker
 * (never in the master) and returns the handler — for the built-in HTTP workers a Node
 * `http.RequestListener` (express, fastify's `routing`, koa's `callback()` all fit).
 */
export interface ApplicationLike<H = RequestListener> {
  /** Options, see {@link ArbiterConfig}. */
  config?: ArbiterConfig;
  /** Builds the handler inside a worker. Throwing here halts the master with status 4. */
  load(): H | Promise<H>;
}

/**
 * Base class alternative to a plain object (gunicorn's `BaseApplication`).
 *
 * @example
 * ```ts
 * class MyApp extends Application {
 *   config = { workers: 4, workerClass: 'async' } as const;
 *   load() { return (req, res) => res.end('hi\n'); }
 * }
 * await new Arbiter(new MyApp()).run();
 * ```
 */
export abstract class Application<H = RequestListener> implements ApplicationLike<H> {
  /** Options, see {@link ArbiterConfig}. */
  config?: ArbiterConfig;
  /** Builds the handler inside a worker. */
  abstract load(): H | Promise<H>;
}
