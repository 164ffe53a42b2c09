// The command's flags. Those that set options come from the option table (config/options.ts: the
// flag's name, alias, help line and default are in the option's row); this file only says in which
// section of --help each is listed, and in what order (also the order they are checked in).
import type { ParseArgsConfig } from 'node:util';
import { OPTIONS, type FlagKind } from '../config/options.js';
import type { ResolvedConfig } from '../config/types.js';

/** A section of `arbiter --help`. */
export type Section = 'Serving' | 'Workers' | 'Timeouts' | 'Process' | 'Logging';

/** The options that have a flag, by section of the help, in the order it lists them. */
const SECTIONS: Readonly<Record<Section, readonly (keyof ResolvedConfig)[]>> = {
  Serving: ['bind', 'backlog', 'certfile', 'keyfile', 'caCerts', 'certReqs', 'http2', 'limitRequestLine', 'limitRequestFields', 'limitRequestFieldSize', 'forwardedAllowIps', 'proxyProtocol'],
  Workers: ['workers', 'scaleUpAt', 'scaleDownAt', 'scaleDownAfter', 'workerClass', 'threads', 'workerConnections', 'maxRequests', 'maxRequestsJitter', 'maxWorkerMemory', 'spareWorkers'],
  Timeouts: ['timeout', 'gracefulTimeout', 'bootTimeout', 'keepAlive', 'maxQueueTime', 'maxEventLoopDelay'],
  Process: ['pidfile', 'procName', 'env', 'user', 'group', 'umask', 'controlSocket', 'statusBind', 'reload', 'reloadExtraFiles'],
  Logging: ['logLevel', 'logFormat', 'accesslog', 'accessLogFormat'],
};

/** One command-line flag that sets a config option. */
export interface OptionFlag {
  /** One-letter alias. */
  readonly short?: string;
  /** The config option it sets. */
  readonly key: string;
  /** How its text is read. */
  readonly kind: FlagKind;
  /** Placeholder in the help. */
  readonly value: string;
  /** One line of help, ending with the default (`[30s]`) when there is one to show. */
  readonly help: string;
  /** The gunicorn flag it corresponds to (docs/cli.md's table), when there is one. */
  readonly gunicorn?: string;
  /** Help section. */
  readonly section: Section;
}

/** The default a flag's help shows: the row's `shownDefault`, else its default (`[30s]`, `[2048]`); none for `null`. */
function shownDefault(key: keyof ResolvedConfig): string | undefined {
  const spec = OPTIONS[key];
  if (spec.flag?.shownDefault !== undefined) return spec.flag.shownDefault;
  const value: unknown = spec.default;
  if (value === undefined || value === null || typeof value === 'object') return undefined;
  return spec.unit === 'ms' ? `${(value as number) / 1000}s` : String(value);
}

/** The flags that set config options, gunicorn's names (SPEC §9), by flag name, in the help's order. */
export const OPTION_FLAGS: Readonly<Record<string, OptionFlag>> = Object.fromEntries(
  Object.entries(SECTIONS).flatMap(([section, keys]) =>
    keys.map((key) => {
      const { name, short, kind, value, help, gunicorn } = OPTIONS[key].flag!;
      const shown = shownDefault(key);
      const flag: OptionFlag = {
        ...(short ? { short } : {}),
        key,
        kind,
        value,
        section: section as Section,
        ...(gunicorn ? { gunicorn } : {}),
        help: shown === undefined ? help : `${help} [${shown}]`,
      };
      return [name, flag];
    }),
  ),
);

const unlisted = Object.keys(OPTIONS).filter((key) => OPTIONS[key as keyof ResolvedConfig].flag && !Object.values(OPTION_FLAGS).some((f) => f.key === key));
if (unlisted.length > 0) throw new Error(`cli/flags.ts: the flags of ${unlisted.join(', ')} are in no section of the help`);

/** Flags that are not config options. */
export const OTHER_FLAGS = {
  'no-control-socket': { type: 'boolean' },
  config: { type: 'string', short: 'c' },
  'check-config': { type: 'boolean' },
  'print-config': { type: 'boolean' },
  version: { type: 'boolean', short: 'v' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

/** What parseArgs() is told about run mode's flags. */
export const PARSE_OPTIONS: ParseArgsConfig['options'] = {
  ...Object.fromEntries(
    Object.entries(OPTION_FLAGS).map(([name, f]) => [
      name,
      { type: f.kind === 'boolean' ? 'boolean' : 'string', ...(f.short ? { short: f.short } : {}), ...(f.kind === 'list' || f.kind === 'env' ? { multiple: true } : {}) },
    ]),
  ),
  ...OTHER_FLAGS,
};

/** Every long flag of run mode, for "did you mean". */
export const LONG_FLAGS = (): string[] => [...Object.keys(OPTION_FLAGS), ...Object.keys(OTHER_FLAGS)];

/** `-t/--timeout` */
export function flagName(name: string): string {
  const short = OPTION_FLAGS[name]?.short ?? (OTHER_FLAGS as Record<string, { short?: string }>)[name]?.short;
  return short ? `-${short}/--${name}` : `--${name}`;
}
