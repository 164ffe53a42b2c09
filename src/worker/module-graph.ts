// `reload` (development): which files a worker loaded, so the master can watch them. ES modules
// are seen through a module loader hook (`module.registerHooks`, in-thread, Node 22.15+; else
// `module.register`, whose hooks run on a loader thread and post each URL back); CommonJS ones
// are in `require.cache` as well. Only files outside node_modules: the app's own code.
import { createRequire } from 'node:module';
import * as nodeModule from 'node:module';
import { MessageChannel } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { trace } from '../trace.js';

/** The files loaded so far (absolute paths), asked for when the worker reports them. */
export type ModuleGraph = () => string[];

const appFile = (file: string): boolean => !file.split(/[\\/]/).includes('node_modules');

/** Starts recording the files this process loads from now on (call before the app is imported). */
export function recordModuleGraph(): ModuleGraph {
  const seen = new Set<string>();
  const record = (url: string): void => {
    if (!url.startsWith('file:')) return;
    try {
      const file = fileURLToPath(url);
      if (appFile(file)) seen.add(file);
    } catch {
      // not a local path
    }
  };
  type Hooks = { load(url: string, context: unknown, next: (url: string, context: unknown) => unknown): unknown };
  const api = nodeModule as unknown as {
    registerHooks?: (hooks: Hooks) => unknown;
    register?: (specifier: string, options: { data: unknown; transferList: unknown[] }) => void;
  };
  if (typeof api.registerHooks === 'function') {
    api.registerHooks({
      load(url, context, next) {
        record(url);
        return next(url, context);
      },
    });
  } else if (typeof api.register === 'function') {
    const { port1, port2 } = new MessageChannel();
    port1.on('message', (url: string) => record(url));
    port1.unref();
    const hooks = `let port; export function initialize(data) { port = data.port; }
export async function load(url, context, next) { port.postMessage(url); return next(url, context); }`;
    api.register(`data:text/javascript,${encodeURIComponent(hooks)}`, { data: { port: port2 }, transferList: [port2] });
  } else trace.worker('no module hooks in this Node: --reload watches the CommonJS modules and the entry only');
  const cache = createRequire(`${process.cwd()}/`).cache; // the one require.cache, whoever asks
  return () => {
    for (const file of Object.keys(cache)) if (appFile(file)) seen.add(file);
    return [...seen];
  };
}
