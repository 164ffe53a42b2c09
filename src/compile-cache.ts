import { chownSync, lstatSync, mkdirSync } from 'node:fs';
import nodeModule from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { trace } from './trace.js';

/**
 * Node's module compile cache for worker boot (Node 22.8+; see docs/design.md, "Worker boot and
 * Node's compile cache"). A worker compiles the same code every time it starts: the entry
 * script, arbiter's bundle, the app. With `NODE_COMPILE_CACHE` set when it starts, Node keeps
 * V8's code cache of every module it compiles in that directory and the next worker deserializes
 * it instead of parsing the source again.
 *
 * The master gives each worker `NODE_COMPILE_CACHE=<tmpdir>/arbiter-compile-cache-<uid>` (the uid
 * the worker runs as): a directory only that user may write, since whoever can write code cache
 * can change what the worker runs. It is used only if it is a real directory (not a symlink)
 * owned by that uid with no group/other permissions; the master creates it so (as root, for the
 * `user` option, it chowns it to the worker's user). Anything else — an older Node, the
 * operator's own `NODE_COMPILE_CACHE` (used as it is) or `NODE_DISABLE_COMPILE_CACHE`, a directory
 * someone else owns, a read-only tmpdir — and workers boot without the cache, as on Node 20:
 * it is only a cache, so nothing is logged (`DEBUG=arbiter:master` says why).
 */

/** Node 22.8+ has `module.enableCompileCache()` (the feature the worker environment relies on). */
const supported = typeof (nodeModule as { enableCompileCache?: unknown }).enableCompileCache === 'function';

/** Per worker uid: the directory, or `null` when it cannot be used. */
const dirs = new Map<number, string | null>();

/**
 * The environment that gives a worker the compile cache (`{}` when it gets none): the directory,
 * and a marker telling the worker that arbiter set it (the worker removes both from its
 * environment, so the app's own child processes do not inherit arbiter's choice).
 */
export function compileCacheEnv(marker: string, uid?: number, gid?: number): Record<string, string> {
  if (!supported || process.env.NODE_COMPILE_CACHE || process.env.NODE_DISABLE_COMPILE_CACHE) return {};
  const owner = uid ?? process.getuid?.();
  if (owner === undefined) return {};
  let dir = dirs.get(owner);
  if (dir === undefined) {
    dir = privateDir(path.join(os.tmpdir(), `arbiter-compile-cache-${owner}`), owner, gid);
    dirs.set(owner, dir);
  }
  return dir === null ? {} : { NODE_COMPILE_CACHE: dir, [marker]: '1' };
}

/** Creates `dir` for `uid` (mode 0700) unless it exists; returns it if only `uid` can write it, else null. */
function privateDir(dir: string, uid: number, gid: number | undefined): string | null {
  try {
    try {
      mkdirSync(dir, { mode: 0o700 });
      if (process.getuid?.() !== uid) chownSync(dir, uid, gid ?? -1);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const st = lstatSync(dir);
    if (!st.isDirectory()) throw new Error('not a directory');
    if (st.uid !== uid) throw new Error(`owned by uid ${st.uid}, not ${uid}`);
    if ((st.mode & 0o077) !== 0) throw new Error(`mode ${(st.mode & 0o777).toString(8)}, not 700`);
    return dir;
  } catch (err) {
    trace.master('no compile cache for workers of uid %d: %s: %s', uid, dir, (err as Error).message);
    return null;
  }
}

/**
 * In a worker: writes what Node's compile cache gathered so far, on the next turn of the event
 * loop (after the connections already waiting were accepted). Node writes it when a process exits
 * normally, but a worker may live for weeks and then die by SIGKILL: without this, the cache
 * would never be written. Entries that were loaded from the cache are not written again.
 */
export function flushCompileCache(): void {
  const { flushCompileCache: flush } = nodeModule as { flushCompileCache?: () => void };
  if (!flush) return; // Node < 22.10; a no-op where the cache is not enabled
  setImmediate(() => {
    try {
      flush();
    } catch (err) {
      trace.worker('compile cache not written: %s', (err as Error).message);
    }
  }).unref();
}
