import { subscribe } from 'node:diagnostics_channel';
import type { OperatorLog } from '../log.js';
import { ownListenPath } from './app-servers.js';
import { workerProcess } from './guard.js';

// An app that calls listen() itself (app.listen(3000), a framework's serve()) next to arbiter:
// the workers already serve the master's sockets, so that server is outside arbiter — and when the
// entry script does it at top level, the master runs it too and never exits after
// "Shutting down: Master". We cannot stop it, but a worker can say so. Node (>= 20.13) announces
// every net.Server listen() on a diagnostics channel; arbiter's own worker listeners use
// inherited fds or handles, so a port or a path means the app's own.

/** What the app listened on before there was a log to say it (the entry script's top level). */
const early: string[] = [];
let report: ((where: string) => void) | undefined;
/** Unix socket paths arbiter itself listens on in a worker (a spare's warm-up, `warm.ts`). */
const own = new Set<string>();

/** Marks `path` as arbiter's own listener: no warning about it, never captured as the app's (`app-servers.ts`). */
export function ownListener(path: string): void {
  own.add(path);
  ownListenPath(path);
}

function onListen(message: unknown): void {
  const options = (message as { options?: { port?: unknown; path?: unknown; host?: unknown } }).options;
  if (!options || (options.port === undefined && options.path === undefined)) return;
  if (options.path !== undefined && own.has(String(options.path))) return;
  const where = options.path !== undefined ? `unix:${String(options.path)}` : `${String(options.host ?? '')}:${String(options.port)}`;
  if (report) report(where);
  else early.push(where);
}

if (workerProcess()) subscribe('tracing:net.server.listen:asyncStart', onListen);

/** In a worker: logs a warning for every server the app starts listening on by itself (also those before now). */
export function warnOnAppListen(log: OperatorLog): void {
  report = (where) =>
    log.warning(
      `The app called listen() itself (${where}) in worker (pid: ${process.pid}): arbiter's workers already serve ` +
        `the master's sockets, so that server runs outside arbiter — and one the entry script starts at top level ` +
        `also runs in the master, which then never exits. Return the request listener from load() and remove the listen() call — or run the module as it is with the arbiter command (arbiter server.js), which serves apps that call listen() themselves.`,
      { worker: process.pid },
    );
  for (const where of early.splice(0)) report(where);
}
