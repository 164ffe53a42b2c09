import { readFileSync, statSync } from 'node:fs';
import type { RequestListener } from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { ApplicationLike } from './application.js';
import type { ArbiterConfig } from './application.js';
import { DEFAULTS } from './config.js';
import { ArbiterError } from './errors.js';
import { importApp, missingExportMessage } from './app-errors.js';
import { describeHandler, handlerKind, handlerRecipe } from './models/handler.js';
import type { ListenRequest } from './protocol.js';
import { isMainThread } from 'node:worker_threads';
import { askMaster, captureListen, type AppServers } from './worker/app-servers.js';
import { workerProcess } from './worker/guard.js';


/** A parsed `<module>[:export]`. */
export interface ModuleSpecifier {
  /** Absolute path of the module file. */
  file: string;
  /** The export to serve (`default` unless given). */
  exportName: string;
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/** What a module name without its extension is tried with, in order (Node's `require` tries `.js` first too). */
const EXTENSIONS = ['.js', '.mjs', '.cjs'] as const;

/** A module path that names its file completely: tried as it is, nothing added. */
const HAS_EXTENSION = /\.[cm]?[jt]sx?$/;

function isFile(p: string): boolean {
  return statSync(p, { throwIfNoEntry: false })?.isFile() ?? false;
}

/** A directory's package.json `main`, if it has one. */
function packageMain(dir: string): string | undefined {
  try {
    const main = (JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { main?: unknown }).main;
    return typeof main === 'string' && main ? path.resolve(dir, main) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The files a module path may be, in the order Node's `require` tries them: the path itself,
 * with `.js`, `.mjs`, `.cjs`; as a directory, its package.json `main` (itself, with an
 * extension, or its index), then `index.js`, `index.mjs`, `index.cjs`. A path with an extension
 * is only itself.
 */
function fileCandidates(abs: string): string[] {
  if (HAS_EXTENSION.test(abs)) return [abs];
  const withExtensions = (p: string): string[] => [p, ...EXTENSIONS.map((e) => p + e)];
  const index = (dir: string): string[] => EXTENSIONS.map((e) => path.join(dir, `index${e}`));
  const main = statSync(abs, { throwIfNoEntry: false })?.isDirectory() ? packageMain(abs) : undefined;
  return [...withExtensions(abs), ...(main ? [...withExtensions(main), ...index(main)] : []), ...index(abs)];
}

/**
 * Parses and resolves `<module>[:export]` (`app`, `app.mjs`, `./dist/server.js:app`,
 * `my-package:handler`) against `cwd` as Node would: a path to a file (`.js`, `.mjs`, `.cjs`; `.ts`
 * with a TS loader); a name without its extension (`app` → `app.js`, `app.mjs`, `app.cjs`); a
 * directory (its package.json `main`, else `app/index.js`, `index.mjs`, `index.cjs`); else a package
 * name resolved from `cwd`. A file in `cwd` wins over a package of the same name. Checks that the
 * file exists but does not load it.
 * @throws {@link ArbiterError} `ARBITER_ERR_APP` when there is no such module, naming what was tried.
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
  const candidates = fileCandidates(asPath);
  const file = candidates.find(isFile);
  if (file) return { file, exportName };
  const isPath = request.startsWith('.') || path.isAbsolute(request) || HAS_EXTENSION.test(request);
  if (!isPath) {
    try {
      return { file: createRequire(path.join(cwd, 'noop.js')).resolve(request), exportName };
    } catch {
      // reported below
    }
  }
  const tried = candidates.map((c, i) => (i === 0 ? c : path.relative(cwd, c))).join(', ');
  throw new ArbiterError(
    'ARBITER_ERR_APP',
    `Cannot find the app module ${JSON.stringify(request)} (looked for ${tried}${isPath ? '' : ` and for a package ${JSON.stringify(request)}`})`,
  );
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
 * the master) imports `<module>[:export]` and adapts the export with {@link toRequestListener} —
 * or, when the module calls `listen()` itself (an unmodified Express/Fastify/Koa/Hono/NestJS/
 * `http`/`net` app), serves the app's own servers on sockets the master binds for them (see
 * docs/design.md, "Apps that listen themselves"). Without `config.bind`, the master binds
 * nothing at start: the addresses the app's `listen()` asks for are served, and the default
 * `bind` only for a module that exports a handler.
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
  const app: ApplicationLike<RequestListener> = {
    config,
    async load() {
      // listen() calls the module makes (at import, or later while it boots) are captured: in a
      // worker the master gives the socket; elsewhere (--check-config) nothing is bound.
      const capture = captureAppListen(config?.backlog ?? DEFAULTS.backlog);
      const before = busyResources();
      const ns = await importApp(file);
      const missingWhy = missingExportMessage(file, ns, exportName, shown);
      const missing = missingWhy !== undefined;
      const noExport = (): ArbiterError => new ArbiterError('ARBITER_ERR_APP', `${missingWhy ?? ''}; nor did it call listen()`);
      capture.nothingToServe = noExport;
      // An app that listens itself is served through its own servers, whatever it exports.
      if (capture.requested > 0) return ownServers(capture);
      if (missing || handlerKind(ns[exportName]) === 'other') {
        // Nothing to serve exported. A NestJS main.ts exports nothing and listens once bootstrapped:
        // while the module still has work under way (a socket, a file read: not just timers), the
        // worker runtime waits for a listen() up to bootTimeout; otherwise none can come.
        if (!missing) {
          const why = (await toRequestListener(ns[exportName], `The export \`${exportName}\` of ${shown}`).then(() => undefined, (err: unknown) => err)) as Error;
          capture.nothingToServe = () => Object.assign(why, { message: `${why.message}; nor did the module call listen()` });
        }
        await settleTurns();
        // Some work is invisible to getActiveResourcesInfo() (on Node 26 an fs.promises read is),
        // and work that was visible may be over with only a timer left before the listen(): look
        // again for a short grace before concluding that nothing will listen.
        const graceEnd = Date.now() + NOTHING_GRACE;
        while (capture.requested === 0 && busyResources() <= before && Date.now() < graceEnd) {
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
        if (capture.requested > 0 || busyResources() > before) return ownServers(capture);
        capture.release();
        throw capture.nothingToServe();
      }
      const listener = await toRequestListener(ns[exportName], `The export \`${exportName}\` of ${shown}`);
      await settleTurns(); // a framework's listen() continues right after its ready()
      if (capture.requested > 0) return ownServers(capture);
      capture.release();
      return listener;
    },
  };
  // Without a bind of its own, the master binds what the app's listen() asks for (and `bind`'s
  // default only for an app that exports a handler). Read by Arbiter.
  if (config?.bind === undefined) Object.defineProperty(app, BIND_ON_DEMAND, { value: true });
  return app;
}

/** Marks an app whose master binds on demand (see {@link moduleApp}). */
export const BIND_ON_DEMAND = Symbol.for('arbiter.bindOnDemand');

/** Active resources other than timers (sockets, file and DNS requests…): work a module started that may end in a listen(). */
function busyResources(): number {
  return process.getActiveResourcesInfo().filter((r) => r !== 'Timeout' && r !== 'Immediate').length;
}

/** How long a module that exported nothing and seems idle is watched for a listen() or new work (ms). */
const NOTHING_GRACE = 1000;

/** Two turns of the event loop: continuations of what the module started (a promise chain, a setImmediate) run. */
function settleTurns(): Promise<void> {
  return new Promise((resolve) => setImmediate(() => setImmediate(resolve)));
}

/**
 * Starts capturing the app's listen() calls: in a worker process the master gives each socket;
 * anywhere else (`--check-config`, a serving thread of the `threaded` model) they are only recorded.
 */
function captureAppListen(backlog: number): AppServers {
  return captureListen(workerProcess() ? askSocket : () => new Promise(() => {}), backlog);
}

/**
 * What load() returns for an app that serves through its own servers (the worker runtime hands
 * them to the model). A serving thread cannot: the socket comes over the worker process's IPC.
 */
function ownServers(capture: AppServers): RequestListener {
  if (!isMainThread) {
    const where = capture.requests.length > 0 ? ` (${capture.requests.join(', ')})` : '';
    throw new ArbiterError(
      'ARBITER_ERR_APP',
      `The app calls listen() itself${where}, which the threaded worker class cannot serve: use -k async (or -k sync), or export the app's request listener`,
    );
  }
  return capture as unknown as RequestListener;
}

async function askSocket(request: ListenRequest): Promise<unknown> {
  return (await askMaster(request)).handle;
}
