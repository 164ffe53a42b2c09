import createDebug from 'debug';

/** A `debug` namespace, typed here so that no declaration file needs `@types/debug`. */
export type Tracer = (formatter: string, ...args: unknown[]) => void;

/**
 * A tracer that creates its `debug` namespace the first time something is traced, in a process
 * started with the `DEBUG` environment variable set (otherwise it does nothing). Every worker
 * loads this module on its way to accepting, and in the bundle the `debug` package itself is
 * loaded on first use (scripts/build.mjs), so a process without `DEBUG` never loads it (a few ms
 * of CPU per worker boot). The price: `debug.enable()` called by an app reaches arbiter's
 * namespaces only in a process started with `DEBUG` set.
 */
function tracer(namespace: string): Tracer {
  if (!process.env.DEBUG) return () => {};
  let debug: Tracer | undefined;
  return (formatter, ...args) => (debug ??= createDebug(namespace))(formatter, ...args);
}

/** Internal tracing (`DEBUG=arbiter:*`); never part of the public API. */
export const trace: Readonly<Record<'master' | 'worker' | 'listeners' | 'signals', Tracer>> = {
  master: tracer('arbiter:master'),
  worker: tracer('arbiter:worker'),
  listeners: tracer('arbiter:listeners'),
  signals: tracer('arbiter:signals'),
};
