import { appStack } from '../app-errors.js';
import { Arbiter } from '../arbiter.js';
import { resolveConfig, type ResolvedConfig } from '../config.js';
import { controlRequest, findMaster, listMasters, startedIn, type MasterEntry } from '../control/client.js';
import { ArbiterError } from '../errors.js';
import { checkWorkerClass, modelName } from '../models/registry.js';
import { moduleApp } from '../module-app.js';
import { VERSION } from '../version.js';
import { isAppServers } from '../worker/app-servers.js';
import {
  CONTROL_COMMANDS,
  mergeConfig,
  parseControlArgs,
  parseRunArgs,
  readConfigFile,
  UsageError,
  type ControlArgs,
  type ControlCommandName,
} from './args.js';
import { formatList, formatStatus, formatTargets } from './format.js';
import { helpText } from './help.js';
import type { Output } from './output.js';
import { followEvents } from './events.js';
import { runTop } from './top.js';

export type { Output } from './output.js';

const stdio: Output = {
  out: (text) => void process.stdout.write(`${text}\n`),
  err: (text) => void process.stderr.write(`${text}\n`),
};

/**
 * The `arbiter` command: `arbiter [options] <module>[:export]` serves an app module; `arbiter
 * <command> …` talks to running masters. A thin client of the library: it parses arguments and
 * calls what a library user would call (`new Arbiter(moduleApp(…))`, `run()`; the control client).
 * Resolves with the master's exit status when it served (in a worker, `run()` never returns);
 * any other command exits the process itself with its status.
 */
export async function main(argv: readonly string[], io: Output = stdio): Promise<number> {
  let status: number;
  try {
    const first = argv[0];
    if (first !== undefined && (CONTROL_COMMANDS as readonly string[]).includes(first)) {
      status = await control(parseControlArgs(first as ControlCommandName, argv.slice(1)), io);
    } else {
      status = await serve(argv, io);
    }
  } catch (err) {
    if (!(err instanceof UsageError || err instanceof ArbiterError)) throw err;
    io.err(`arbiter: ${err.message}${err instanceof UsageError && err.seeHelp ? ' (see arbiter --help)' : ''}`);
    status = 1;
  }
  // Unless a master ran (it winds down by itself), the command is over: exit now, even if code it
  // loaded (the app module for --check-config, a -c config file) keeps the event loop alive — a
  // database pool, a timer, an app.listen() — or `arbiter --check-config && …` would never return.
  if (!masterRan) process.exit(status);
  return status;
}

/** Set when the command starts a master (or runs as one of its workers). */
let masterRan = false;

/** The resolved config as plain JSON (functions and streams by name). */
function printable(config: ResolvedConfig): string {
  return JSON.stringify(
    config,
    (key, value: unknown) => {
      if (key === 'logger') return value === false ? false : value === process.stderr ? 'stderr' : 'custom';
      if (key === 'workerClass') return modelName(value as ResolvedConfig['workerClass']);
      if (typeof value === 'function') return `[function ${value.name || 'anonymous'}]`;
      return value;
    },
    2,
  );
}

async function serve(argv: readonly string[], io: Output): Promise<number> {
  const args = parseRunArgs(argv);
  if (args.help) {
    io.out(helpText());
    return 0;
  }
  if (args.version) {
    io.out(`arbiter ${VERSION}`);
    return 0;
  }
  const file = args.configFile === undefined ? undefined : await readConfigFile(args.configFile);
  const config = mergeConfig(file, args.flags);
  if (args.printConfig) {
    io.out(printable(resolveConfig(config, checkWorkerClass)));
    return 0;
  }
  if (args.module === undefined) throw new UsageError('missing the app module: arbiter [options] <module>[:export]');
  let app;
  try {
    app = moduleApp(args.module, config);
  } catch (err) {
    // `arbiter stauts` is more likely a mistyped command than a module
    if (err instanceof ArbiterError && !/[./:]/.test(args.module)) {
      throw new ArbiterError(err.code, `${err.message}; nor is it a command (${CONTROL_COMMANDS.join(', ')})`);
    }
    throw err;
  }
  const arbiter = new Arbiter(app); // validates the whole config
  if (args.checkConfig) {
    // imports the module and checks its export, as a worker would (a listen() binds nothing here)
    let loaded: unknown;
    try {
      loaded = await app.load();
    } catch (err) {
      if (err instanceof ArbiterError) throw err;
      io.err(`arbiter: the app module ${args.module} failed to load:\n${appStack(err)}`);
      return 1;
    }
    if (isAppServers(loaded)) {
      await loaded.settled(50, arbiter.config.bootTimeout, true);
      io.out(`arbiter: config OK, ${args.module} listens itself on ${loaded.requests.join(', ')}`);
    } else io.out(`arbiter: config OK, ${args.module} serves a request listener`);
    return 0;
  }
  masterRan = true;
  return arbiter.run();
}

const TIMEOUT = 15_000;

/** Commands that accept `all` as their target: each master gets the command. */
const FOR_ALL: ReadonlySet<ControlCommandName> = new Set(['reload', 'stop', 'reopen']);

/**
 * The master a command without a target means. `ls`/`status` (which change nothing): the only
 * master of this user. A command that changes something: only the one master started from the
 * current directory — never another app's master because it happens to be the only one running.
 */
async function implicitTarget(command: ControlCommandName): Promise<MasterEntry> {
  if (command === 'status' || command === 'events' || command === 'top') return findMaster(undefined);
  const all = await listMasters();
  if (all.length === 0) return findMaster(undefined); // "no arbiter master is running (…)"
  const cwd = process.cwd();
  const here = startedIn(all, cwd);
  if (here.length === 1) return here[0]!;
  const name = FOR_ALL.has(command) ? 'a pid, a name, a pidfile, or all' : 'a pid, a name or a pidfile';
  const why = here.length === 0 ? `no arbiter master was started from ${cwd}` : `${here.length} arbiter masters were started from ${cwd}`;
  throw new ArbiterError(
    'ARBITER_ERR_CONTROL',
    `${command} without a target acts only on the master started from this directory, and ${why}; name the master (${name}):\n${formatTargets((here.length ? here : all).map((m) => m.summary))}`,
  );
}

/** The line a command prints for one master. */
async function runOne(args: ControlArgs, path: string, who: string): Promise<{ data: unknown; text: string }> {
  switch (args.command) {
    case 'status': {
      const stats = await controlRequest(path, 'status', {}, TIMEOUT);
      return { data: stats, text: formatStatus(stats) };
    }
    case 'reload': {
      // waits for the outcome: the new generation ready, or the reason it failed (an error, exit 1)
      const done = await controlRequest(path, 'reload', {}, 0);
      return { data: done, text: `${who}: reloaded, generation ${done.generation} (${done.workers} workers)` };
    }
    case 'scale': {
      const amount = args.amount!;
      const delta = /^[+-]/.test(amount) ? Number(amount) : undefined;
      const done = await controlRequest(path, 'scale', delta === undefined ? { n: Number(amount) } : { delta }, TIMEOUT);
      const stays = `${done.target} worker${done.target === 1 ? '' : 's'}`;
      const text =
        done.previous !== done.target
          ? `${who}: ${done.previous} -> ${done.target} workers`
          : `${who}: stays at ${stays}${delta !== undefined && delta < 0 ? ' (the minimum; as TTOU, scaling down from one worker does nothing)' : ''}`;
      return { data: done, text };
    }
    case 'stop': {
      const done = await controlRequest(path, 'stop', { graceful: !args.quick }, 0);
      return { data: done, text: `${who}: stopped (exit status ${done.status})` };
    }
    case 'upgrade':
      return { data: await controlRequest(path, 'upgrade', {}, TIMEOUT), text: `${who}: starting a new master (USR2)` };
    case 'reopen':
      return { data: await controlRequest(path, 'reopen', {}, TIMEOUT), text: `${who}: reopening log files` };
    case 'ls':
    case 'events':
    case 'top':
      throw new Error('unreachable');
  }
}

const masterName = (m: { pid: number; name: string | null }): string => `master ${m.pid}${m.name ? ` [${m.name}]` : ''}`;

async function control(args: ControlArgs, io: Output): Promise<number> {
  if (args.help) {
    io.out(helpText());
    return 0;
  }
  const print = (data: unknown, text: string): void => io.out(args.json ? JSON.stringify(data, null, 2) : text);
  if (args.command === 'ls') {
    const masters = (await listMasters()).map((m) => m.summary);
    print(masters, formatList(masters));
    return 0;
  }
  if (args.target === 'all' && FOR_ALL.has(args.command)) {
    const masters = await listMasters();
    if (masters.length === 0) await findMaster(undefined); // throws "no arbiter master is running (…)"
    const results = await Promise.all(
      masters.map(async ({ path, summary }) => {
        const who = masterName(summary);
        try {
          return { pid: summary.pid, name: summary.name, ok: true as const, ...(await runOne(args, path, who)) };
        } catch (err) {
          if (!(err instanceof ArbiterError)) throw err;
          return { pid: summary.pid, name: summary.name, ok: false as const, error: err.message, text: `${who}: ${err.message}` };
        }
      }),
    );
    if (args.json) io.out(JSON.stringify(results.map(({ text: _text, ...r }) => r), null, 2));
    else for (const r of results) (r.ok ? io.out : io.err)(r.ok ? r.text : `arbiter: ${r.text}`);
    return results.every((r) => r.ok) ? 0 : 1;
  }
  const { path, summary } = args.target === undefined ? await implicitTarget(args.command) : await findMaster(args.target);
  if (args.command === 'events') return followEvents(path, args.json, io);
  if (args.command === 'top') return runTop(path, args, io);
  const { data, text } = await runOne(args, path, masterName(summary));
  print(data, text);
  return 0;
}
