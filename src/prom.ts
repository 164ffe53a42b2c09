import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';

/** The part of prom-client's API arbiter uses (prom-client >= 13; it stays the app's dependency). */
export interface PromClient {
  /** The default registry, where an app's metrics live unless it made its own. */
  register: { getMetricsAsJSON(): Promise<unknown[]> | unknown[] };
  /** Sums (or averages, ...) per-process metrics by each metric's `aggregator`. */
  AggregatorRegistry: { aggregate(metrics: unknown[][]): { metrics(): Promise<string> | string } };
}

let found: PromClient | undefined;
let missing = false;
let requires: NodeJS.Require[] | undefined;

function isPromClient(mod: unknown): mod is PromClient {
  const m = mod as Partial<PromClient> | undefined;
  return typeof m?.register?.getMetricsAsJSON === 'function' && typeof m.AggregatorRegistry?.aggregate === 'function';
}

/**
 * The app's prom-client, resolved the way the app resolves it: from its entry script (or, failing
 * that, the working directory), so master and workers use the app's copy — and an app that
 * `import`s it has the very same instance (Node shares CommonJS modules between `import` and
 * `require`). `null` when the app does not have it: arbiter works without it.
 *
 * @param loadedOnly - only if the app has already loaded it (in a worker: an app that never
 *   loaded prom-client has no metrics, and loading it there just to say so would cost memory)
 */
export function appPromClient(loadedOnly = false): PromClient | null {
  if (found) return found;
  if (missing && !loadedOnly) return null;
  requires ??= [process.argv[1] ? resolve(process.argv[1]) : undefined, join(process.cwd(), 'index.js')]
    .filter((base): base is string => base !== undefined)
    .map((base) => createRequire(base));
  for (const req of requires) {
    let path: string;
    try {
      path = req.resolve('prom-client');
    } catch {
      continue; // not installed there
    }
    const mod: unknown = loadedOnly ? req.cache[path]?.exports : req(path);
    if (isPromClient(mod)) return (found = mod);
  }
  if (!loadedOnly) missing = true;
  return null;
}
