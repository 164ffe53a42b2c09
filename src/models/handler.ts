import { Server } from 'node:net';
import { ArbiterError, describeValue } from '../errors.js';

// "What is this value?" for what an app hands us: `load()`'s result here, a module's export in
// the CLI. Duck-typed (no framework is imported), so it costs nothing and recognises any version
// that keeps the shape.

/**
 * What a value looks like as an app's handler:
 * - `'express'`: an Express app (a function with `handle`, `use`, `listen`) — a request listener too
 * - `'request-listener'`: any other plain function (not a class), assumed `(req, res) => void`
 * - `'fastify'`: a Fastify instance (serve `app.routing` after `await app.ready()`)
 * - `'koa'`: a Koa app (serve `app.callback()`)
 * - `'hono'`: a Hono app or any object with a `fetch(request)` method (serve it through `@hono/node-server`'s `getRequestListener`)
 * - `'server'`: a `net.Server` / `http.Server` (the app created its own server)
 * - `'application'`: an object with a `load()` method (an arbiter `Application`)
 * - `'class'`: a class, not an instance of it
 * - `'other'`: anything else
 */
export type HandlerKind = 'express' | 'request-listener' | 'fastify' | 'koa' | 'hono' | 'server' | 'application' | 'class' | 'other';

type Props = Record<string, unknown>;
const has = (v: Props, ...names: string[]): boolean => names.every((n) => typeof v[n] === 'function');

/** Classifies a value, see {@link HandlerKind}. */
export function handlerKind(value: unknown): HandlerKind {
  if (typeof value === 'function') {
    if (/^class\b/.test(Function.prototype.toString.call(value))) return 'class';
    return has(value as unknown as Props, 'handle', 'use', 'listen') ? 'express' : 'request-listener';
  }
  if (typeof value !== 'object' || value === null) return 'other';
  const v = value as Props;
  if (value instanceof Server) return 'server';
  if (has(v, 'routing', 'ready', 'register')) return 'fastify';
  if (has(v, 'callback', 'use') && Array.isArray(v.middleware)) return 'koa';
  if (has(v, 'load')) return 'application';
  if (has(v, 'fetch')) return 'hono';
  return 'other';
}

/** True for the kinds the HTTP models can serve as they are (`express`, `request-listener`). */
export function isRequestListener(value: unknown): value is (...args: never[]) => unknown {
  const kind = handlerKind(value);
  return kind === 'express' || kind === 'request-listener';
}

/** How to turn a value of each kind into a request listener (empty when there is no recipe). */
const RECIPES: Record<HandlerKind, string> = {
  express: '',
  'request-listener': '',
  fastify: 'serve a Fastify instance with `load: async () => { await app.ready(); return app.routing; }` (and close it in an awaited `workerExit` hook)',
  koa: 'serve a Koa app with `load: () => app.callback()`',
  hono: "serve a fetch-style app (Hono) with `load: () => getRequestListener(app.fetch)` from '@hono/node-server'",
  server: 'return the request listener you would pass to `http.createServer()`, not a server: the workers already listen on the master\'s sockets (a server that listens itself serves outside arbiter)',
  application: 'an object with load() is an app: pass it to `new Arbiter(app)`, and have its load() return the request listener',
  class: 'return an instance or a request listener, not a class',
  other: '',
};

/** How to serve a value of this kind (for a message), or `''` when there is no recipe. */
export function handlerRecipe(value: unknown): string {
  return RECIPES[handlerKind(value)];
}

/** Describes a value for a message: "a Fastify instance", "a Koa app", `{"a":1} (object)`. */
export function describeHandler(value: unknown): string {
  switch (handlerKind(value)) {
    case 'express':
      return 'an Express app';
    case 'request-listener':
      return `a function (${(value as { name?: string }).name || 'anonymous'})`;
    case 'fastify':
      return 'a Fastify instance';
    case 'koa':
      return 'a Koa app';
    case 'hono':
      return 'an object with a fetch() method (a Hono app?)';
    case 'server':
      return `a ${(value as object).constructor?.name ?? 'Server'} (a server, not a request handler)`;
    case 'application':
      return 'an object with a load() method';
    case 'class':
      return `the class ${(value as { name?: string }).name || '(anonymous)'}`;
    default:
      return describeValue(value);
  }
}

/**
 * Checks that `value` (what `load()` returned) is a request listener, as the HTTP worker model
 * named `model` needs.
 * @throws {@link ArbiterError} `ARBITER_ERR_HANDLER`, saying what was found, what is expected
 * and, for a known framework, how to serve it.
 */
export function checkRequestListener(value: unknown, model: string): void {
  if (isRequestListener(value)) return;
  const recipe = RECIPES[handlerKind(value)];
  throw new ArbiterError(
    'ARBITER_ERR_HANDLER',
    `Expected load() to return a request listener, (req, res) => void, for the \`${model}\` worker, got ${describeHandler(value)}` +
      (recipe ? `; ${recipe}` : ''),
  );
}
