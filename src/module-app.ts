import { existsSync } from 'node:fs';
import type { RequestListener } from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { ApplicationLike } from './application.js';
import type { ArbiterConfig } from './application.js';
import { ArbiterError } from './errors.js';
import { importApp, missingExportMessage } from './app-errors.js';
import { describeHandler, handlerKind, handlerRecipe } from './models/handler.js';


/** A parsed `<module>[:export]`. */
export interface ModuleSpecifier {
  /** Absolute path of the module file. */
  file: string;
  /** The export to serve (`default` unless given). */
  exportName: string;
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/**
 * Parses and resolves `<module>[:export]` (`app.mjs`, `./dist/server.js:app`, `my-package:handler`)
 * against `cwd`: a path to a file (`.js`, `.mjs`, `.cjs`; `.ts` with a TS loader), else a package
 * name resolved from `cwd`. Checks that the file exists but does not load it.
 * @throws {@link ArbiterError} `ARBITER_ERR_APP` when there is no such module.
 */
export function resolveModuleSpecifier(specifier: string, cwd = process.cwd()): ModuleSpecifier {
  let request = specifier;
  let exportName = 'default';
  const colon = specifier.lastIndexOf(':');
  if (colon > 0 && IDENTIFIER.test(specifier.slice(colon + 1))) {
    request = specifier.slice(0, colon);
    exportName = specifier.slice(colon + 1);
  }
  if (!request) throw new ArbiterError('ARBITER_ERR_APP', `Expected an app module as <module>[:export], got ${JSON.stringify(specifier)}`);
  const asPath = path.resolve(cwd, request);
  if (existsSync(asPath)) return { file: asPath, exportName };
  const isPath = request.startsWith('.') || path.isAbsolute(request) || /\.[cm]?[jt]s$/.test(request);
  if (!isPath) {
    try {
      return { file: createRequire(path.join(cwd, 'noop.js')).resolve(request), exportName };
    } catch {
      // reported below
    }
  }
  throw new ArbiterError('ARBITER_ERR_APP', `Cannot find the app module ${JSON.stringify(request)} (looked for ${asPath})`);
}

const EXPECTED =
  'a request listener (req, res) => ... (an express app, koa.callback()), a Fastify instance, a Koa app, an object with load(), or a function of no arguments returning one of these';

/** Turns a value into a request listener, by its kind ({@link handlerKind}); `depth` bounds factories returning factories. */
async function adapt(value: unknown, what: string, depth: number): Promise<RequestListener> {
  const kind = depth <= 3 ? handlerKind(value) : 'other';
  switch (kind) {
    case 'express':
      return value as RequestListener;
    case 'request-listener': {
      // Two or more parameters: (req, res) => ...; fewer: a factory (sync or async) to call.
      const fn = value as (...args: unknown[]) => unknown;
      return fn.length >= 2 ? (fn as RequestListener) : adapt(await fn(), `${what}()`, depth + 1);
    }
    case 'fastify': {
      // served through its router once ready; its own server is never started
      const app = value as { ready(): Promise<unknown>; routing: RequestListener };
      await app.ready();
      return (req, res) => app.routing(req, res);
    }
    case 'koa':
      return (value as { callback(): RequestListener }).callback();
    case 'application':
      return adapt(await (value as { load(): unknown }).load(), `${what}.load()`, depth + 1);
    default: {
      const recipe = handlerRecipe(value);
      throw new ArbiterError('ARBITER_ERR_APP', `${what} is ${describeHandler(value)}; expected ${EXPECTED}${recipe ? ` (${recipe})` : ''}`);
    }
  }
}

/**
 * Turns whatever an app module exports into a request listener: a request listener (an express
 * app, or a function of two or more parameters such as `koa.callback()`), a Koa app, a Fastify
 * instance (after `await app.ready()`, served through `app.routing`), an object with `load()` (an
 * `Application`), or a function of fewer parameters (a factory, sync or async) returning any of
 * these. Kinds are recognised by `models/handler.ts`, as the worker models do.
 * @param what - how to name the value in an error message
 * @throws {@link ArbiterError} `ARBITER_ERR_APP` saying what was found and what is expected.
 */
export function toRequestListener(value: unknown, what = 'the export'): Promise<RequestListener> {
  return adapt(value, what, 0);
}

/**
 * The `ApplicationLike` behind the `arbiter` command: `load()` (which runs in each worker, never in
 * the master) imports `<module>[:export]` and adapts the export with {@link toRequestListener}.
 * The module is resolved (not loaded) at once, so a missing file fails before anything starts.
 * With the command, the config comes from flags and `-c`: the master never loads the module, so
 * a `config` on the exported object is not read.
 *
 * @example
 * ```ts
 * import { Arbiter, moduleApp } from 'arbiter';
 * await new Arbiter(moduleApp('./app.mjs:server', { workers: 4 })).run();
 * ```
 * @throws {@link ArbiterError} `ARBITER_ERR_APP` when the module does not exist.
 */
export function moduleApp(specifier: string, config?: ArbiterConfig): ApplicationLike<RequestListener> {
  const { file, exportName } = resolveModuleSpecifier(specifier);
  const shown = path.relative(process.cwd(), file) || file;
  return {
    config,
    async load() {
      const ns = await importApp(file);
      const missing = missingExportMessage(file, ns, exportName, shown);
      if (missing) throw new ArbiterError('ARBITER_ERR_APP', missing);
      return toRequestListener(ns[exportName], `The export \`${exportName}\` of ${shown}`);
    },
  };
}
