/**
 * The command line that re-runs this program's entry script with the same `execArgv` (loaders,
 * `--require`, `--import` keep working) and arguments: how workers, config probes and a USR2
 * master are started.
 */
export function entryArgs(): string[] {
  const entry = process.argv[1];
  return [...process.execArgv, ...(entry ? [entry] : []), ...process.argv.slice(2)];
}
