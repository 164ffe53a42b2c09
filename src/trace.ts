import createDebug from 'debug';

/** A `debug` namespace, typed here so that no declaration file needs `@types/debug`. */
export type Tracer = (formatter: string, ...args: unknown[]) => void;

/** Internal tracing (`DEBUG=arbiter:*`); never part of the public API. */
export const trace: Readonly<Record<'master' | 'worker' | 'listeners' | 'signals', Tracer>> = {
  master: createDebug('arbiter:master'),
  worker: createDebug('arbiter:worker'),
  listeners: createDebug('arbiter:listeners'),
  signals: createDebug('arbiter:signals'),
};
