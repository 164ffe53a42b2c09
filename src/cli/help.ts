// `arbiter --help`: every flag from the flag table (cli/flags.ts), then the other flags and the
// control commands.
import { OPTION_FLAGS } from './flags.js';

/** The help text: every flag, from the one table. */
export function helpText(): string {
  const sections = new Map<string, string[]>();
  const line = (left: string, help: string): string => {
    // help wrapped at 100 columns, continuation lines under the help column
    const words = help.split(' ');
    const lines: string[] = [];
    let current = '';
    for (const w of words) {
      if (current && current.length + 1 + w.length > 100 - 37) {
        lines.push(current);
        current = w;
      } else current = current ? `${current} ${w}` : w;
    }
    lines.push(current);
    return `  ${left.padEnd(34)} ${lines.join(`\n${' '.repeat(37)}`)}`;
  };
  for (const [name, f] of Object.entries(OPTION_FLAGS)) {
    const left = `${f.short ? `-${f.short}, ` : '    '}--${name}${f.value ? ` ${f.value}` : ''}`;
    const list = sections.get(f.section) ?? [];
    list.push(line(left, f.help));
    sections.set(f.section, list);
  }
  sections.get('Process')!.push(line('    --no-control-socket', 'open no control socket'));
  const body = [...sections].map(([title, lines]) => `${title}:\n${lines.join('\n')}`).join('\n\n');
  return `Usage: arbiter [options] <module>[:export]
       arbiter <command> [target] [--json]

Serves an app module with a gunicorn-style master: it binds the listeners, runs the workers
(each imports <module> and serves its export), restarts the dead and the hung, and answers
signals and the control commands below. The export (default: default) is a request listener
(express app, koa.callback()), a Koa app, a Fastify instance, an object with load(), or a
function returning one of these.

Durations take units (30s, 500ms, 2m, 1h); a bare number is seconds, as in gunicorn. In a -c
file a bare number is milliseconds, as in the API, so write "30s" there (30 alone is refused).
<module> is resolved as Node would: app finds app.js, app.mjs, app.cjs or app/index.js.

${body}

Config:
${line('-c, --config FILE', 'read options from a JS/JSON file (the flags override it)')}
${line('    --check-config', 'validate the config and the app module, then exit 0 (or 1)')}
${line('    --print-config', 'print the resolved config as JSON and exit')}
${line('-v, --version', 'print the version and exit')}
${line('-h, --help', 'print this help and exit')}

Commands (to running masters of this user, over their control sockets):
${line('ls [--json]', 'every master: pid, name, binds, workers ready/target, generation, uptime')}
${line('status [target] [--json]', 'the master and each worker: requests, in flight, RSS, CPU, heartbeat')}
${line('reload [target|all]', 'new workers with fresh code (HUP); waits for the outcome, and says why it failed')}
${line('scale <n|+k|-k> [target]', 'set the number of workers (1 to 1024), or change it by k')}
${line('stop [--quick] [target|all]', 'graceful stop (TERM), or quick (QUIT); waits for the master to halt')}
${line('upgrade [target]', 'start a new master from the same command (USR2)')}
${line('reopen [target|all]', 'reopen log files (USR1)')}
${line('events [target] [--json]', 'follow lifecycle events live, one line each (JSON lines with --json)')}
${line('top [target]', 'full-screen live view; --interval 1s, --no-color; keys q, r, +, -')}
  target: a master's pid, its --name, or its pidfile. Omitted: for ls, status, events and top, the only master
  running; for a command that changes something, the master started from this directory.
  Exit status 0 on success, 1 otherwise.
`;
}
