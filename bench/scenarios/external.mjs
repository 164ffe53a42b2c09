// Scenarios that live in their own scripts (written with the feature they measure) and print a
// markdown report: run as a child of the harness, their report becomes a section. Each script
// cleans up after itself; the harness's process-group cleanup is the backstop.
import path from 'node:path';
import { Proc } from '../lib/proc.mjs';
import { repo } from '../lib/servers.mjs';

/** Runs `script` with `args`; resolves its stdout (the report), or throws with its output. */
async function runScript(ctx, script, args, env = {}) {
  ctx.log(`running ${script} ${args.join(' ')}`);
  const p = new Proc(script, process.execPath, [path.join(repo, script), ...args], { cwd: repo, env });
  const exit = await p.exited;
  const out = p.lines.map((l) => l.line).join('\n');
  if (exit.code !== 0) throw new Error(`${script} exited ${exit.signal ?? exit.code}:\n${p.output()}`);
  await p.stop();
  return out;
}

/** Headings of an embedded report go under the scenario's own heading. */
const demote = (md) => md.replace(/^(#+) /gm, (_, h) => `${'#'.repeat(Math.min(6, h.length + 3))} `);

/** A scenario that embeds `script`'s report; `args(ctx)` gives its options (short in quick mode). */
export function external(title, script, args, summary = () => []) {
  return {
    async run(ctx) {
      const report = await runScript(ctx, script, args(ctx), { BENCH_PM2_DIR: ctx.pm2Dir });
      return { title, summary: summary(report), section: `\`node ${script} ${args(ctx).join(' ')}\`\n\n${demote(report)}`, raw: report };
    },
  };
}

export const faults = external(
  'Faults: hang to kill with stack capture, memory limits (bench/faults.mjs)',
  'bench/faults.mjs',
  (ctx) => (ctx.quick ? ['--trials', '1', '--timeouts', '1000', '--memory-trials', '1', '--pm2-trials', '0'] : ctx.pm2 ? [] : ['--no-pm2']),
);

export const status = external(
  'Status server: /metrics scrapes with 16 workers (bench/status.mjs)',
  'bench/status.mjs',
  (ctx) => (ctx.quick ? ['--scrapes', '10', '--apps', 'none', '--settle-seconds', '3', '--idle-seconds', '5'] : []),
);
