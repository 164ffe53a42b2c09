#!/usr/bin/env node
// The benchmark: every scenario side by side with node:cluster and PM2 (where they have an
// equivalent), in one run, on this machine, and one report.
//
//   npm run bench                     full run; writes docs/benchmarks.md (generated part) and docs/bench-chart.svg
//   npm run bench -- --quick          short runs (a couple of minutes), report to .tmp/bench-quick.md
//   node bench/run.mjs --only respawn,balance --no-write
//   npm run bench -- --node 22 --only respawn,boot --no-write    under the official Node 22 binary
//   node bench/run.mjs --help
//
// Scenarios live in bench/scenarios/ (one module each), the shared harness in bench/lib/.
// Every process started here is stopped on the way out: on success, on error, on SIGINT/SIGTERM/SIGHUP
// and at a global deadline.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadGenerator } from './lib/load.mjs';
import { machineBusyPct, waitQuiet } from './lib/noise.mjs';
import { ensurePm2 } from './lib/pm2.mjs';
import { cleanup, onCleanup } from './lib/proc.mjs';
import { markdown, svgChart, writeDocs } from './lib/report.mjs';
import { repo } from './lib/servers.mjs';
import { SCENARIOS } from './scenarios/index.mjs';
import { envFor, install } from '../scripts/node-versions.mjs';

const OPTIONS = {
  quick: [false, 'short runs for checking the harness (about 2-3 minutes); report to .tmp/bench-quick.md'],
  only: ['', `comma-separated scenarios: ${Object.keys(SCENARIOS).join(', ')}`],
  'no-pm2': [false, 'leave PM2 out (no npm install)'],
  'no-write': [false, 'print the report only (a full run otherwise rewrites docs/benchmarks.md and docs/bench-chart.svg)'],
  out: ['', 'write the markdown report to this file as well'],
  json: ['', 'write every raw result to this JSON file'],
  loadgen: ['auto', 'auto | wrk | node'],
  'max-other': ['25', 'a measurement during which processes outside the bench used more than this % of a core is noisy'],
  'pm2-dir': [path.join(os.tmpdir(), 'arbiter-bench-pm2'), 'where PM2 is installed on first use'],
  'pm2-version': ['latest', 'PM2 version to install'],
  'under-load': ['', 'a note printed in the report, e.g. "taken while other jobs loaded the machine"'],
  node: ['', 'run under this Node: a major (24), a version (24.22.3; the official binary from the npm registry, installed by scripts/node-versions.mjs) or the path of a node binary'],
};

function usage() {
  console.error('usage: node bench/run.mjs [options]   (npm run bench builds first)\n');
  for (const [name, [def, what]] of Object.entries(OPTIONS)) console.error(`  --${name.padEnd(12)} ${what}${def && def !== true ? ` (default ${def})` : ''}`);
}

function parseArgs(argv) {
  const opts = Object.fromEntries(Object.entries(OPTIONS).map(([k, [d]]) => [k, d]));
  for (let i = 0; i < argv.length; i++) {
    const m = /^--([a-z0-9-]+)(?:=(.*))?$/.exec(argv[i]);
    if (argv[i] === '-h' || argv[i] === '--help') {
      usage();
      process.exit(0);
    }
    if (!m || !(m[1] in OPTIONS)) {
      console.error(`unknown argument: ${argv[i]}\n`);
      usage();
      process.exit(2);
    }
    if (typeof OPTIONS[m[1]][0] === 'boolean') opts[m[1]] = true;
    else opts[m[1]] = m[2] ?? argv[++i];
  }
  const only = opts.only ? opts.only.split(',').map((s) => s.trim()).filter(Boolean) : Object.keys(SCENARIOS);
  const bad = only.filter((s) => !(s in SCENARIOS));
  if (bad.length) {
    console.error(`--only: unknown scenario ${bad.join(', ')}; known: ${Object.keys(SCENARIOS).join(', ')}`);
    process.exit(2);
  }
  opts.only = only;
  opts.maxOther = Number(opts['max-other']);
  return opts;
}

const log = (msg) => process.stderr.write(`[bench] ${msg}\n`);

/**
 * `--node X`: runs this same command again under that Node (first on PATH, so every contender, PM2
 * and the load generator use it too) and exits with its status. Resolves when there is nothing to do.
 */
async function underNode(spec, argv) {
  let bin;
  if (/^\d+(\.\d+\.\d+)?$/.test(spec)) bin = install(spec).bin;
  else if (existsSync(spec)) bin = path.dirname(path.resolve(spec));
  else {
    console.error(`--node: expected a major (24), a version (24.22.3) or the path of a node binary, got ${JSON.stringify(spec)}`);
    process.exit(2);
  }
  if (path.join(bin, 'node') === process.execPath) return;
  const rest = argv.filter((a, i) => !(a === '--node' || a.startsWith('--node=') || (i > 0 && argv[i - 1] === '--node')));
  log(`running under ${path.join(bin, 'node')}`);
  const child = spawn(path.join(bin, 'node'), [process.argv[1], ...rest], { stdio: 'inherit', env: envFor(bin) });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => child.kill(sig));
  const [code, signal] = await new Promise((resolve) => child.on('exit', (...a) => resolve(a)));
  process.exit(code ?? (signal ? 128 + os.constants.signals[signal] : 1));
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.node) await underNode(opts.node, process.argv.slice(2));
  if (!existsSync(path.join(repo, 'dist', 'esm', 'index.js'))) {
    console.error('dist/ is missing: run `npm run build` first (npm run bench does)');
    process.exit(2);
  }
  const gen = loadGenerator(opts.loadgen);
  if (gen.kind === 'node') log('wrk not found: using the Node load generator; install wrk for numbers worth quoting (apt-get install -y wrk)');
  const tempRoot = mkdtempSync(path.join(os.tmpdir(), 'arbiter-bench-'));
  onCleanup(() => rmSync(tempRoot, { recursive: true, force: true }));
  const pm2 = opts['no-pm2'] ? null : await ensurePm2({ dir: opts['pm2-dir'], version: opts['pm2-version'], log });

  const git = (args) => spawnSync('git', args, { cwd: repo, encoding: 'utf8' }).stdout?.trim() ?? '';
  const env = {
    date: new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC',
    machine: `${os.cpus().length} × ${os.cpus()[0]?.model?.replace(/\s+/g, ' ').trim() ?? 'unknown CPU'}, ${Math.round(os.totalmem() / 2 ** 30)} GB, ${os.type()} ${os.release()}`,
    node: process.version,
    loadgen: gen.describe,
    pm2: pm2?.version ?? null,
    version: JSON.parse(readFileSync(path.join(repo, 'package.json'), 'utf8')).version,
    commit: `${git(['rev-parse', '--short', 'HEAD'])}${git(['status', '--porcelain', '--', 'src']) ? '+changes' : ''}`,
    quick: opts.quick,
    maxOther: opts.maxOther,
    underLoad: opts['under-load'],
    noisy: 0,
    measurements: 0,
  };
  env.busyBefore = await machineBusyPct(1000);
  if (env.busyBefore > opts.maxOther) log(`warning: the machine is ${env.busyBefore.toFixed(0)}% busy (of one core) before the start; numbers will be noisy`);

  const ctx = {
    quick: opts.quick,
    gen,
    pm2,
    pm2Dir: opts['pm2-dir'],
    tempRoot,
    log,
    maxOther: opts.maxOther,
    waitQuiet: () => waitQuiet(opts.maxOther, log, opts.quick ? 1000 : 15_000),
    /** Counts a kept measurement for the report's noise line. */
    count(noisy) {
      env.measurements += 1;
      if (noisy) env.noisy += 1;
    },
  };

  const results = [];
  const t0 = Date.now();
  for (const id of opts.only) {
    const started = Date.now();
    log(`--- ${id}`);
    results.push({ id, ...(await SCENARIOS[id].run(ctx)) });
    log(`${id} done in ${Math.round((Date.now() - started) / 1000)} s`);
  }
  log(`all done in ${Math.round((Date.now() - t0) / 1000)} s`);

  const chartPanels = results.flatMap((r) => r.chart ?? []);
  const write = !opts.quick && !opts['no-write'];
  const chartName = 'bench-chart.svg';
  const md = markdown(env, results, chartPanels.length && write ? chartName : undefined);
  process.stdout.write(`\n${md}\n`);
  if (write) {
    writeDocs(path.join(repo, 'docs', 'benchmarks.md'), md);
    if (chartPanels.length) writeFileSync(path.join(repo, 'docs', chartName), svgChart(chartPanels, `arbiter ${env.version} at ${env.commit}, ${env.date}, ${env.machine}, Node ${env.node}`));
    log('wrote docs/benchmarks.md and docs/bench-chart.svg');
  }
  const outFile = opts.out || (opts.quick ? path.join(repo, '.tmp', 'bench-quick.md') : '');
  if (outFile) {
    mkdirSync(path.dirname(outFile), { recursive: true });
    writeFileSync(outFile, `${md}\n`);
    if (chartPanels.length) writeFileSync(outFile.replace(/\.md$/, '') + '.svg', svgChart(chartPanels, `quick run, ${env.date}`));
    log(`report written to ${path.relative(repo, outFile)}`);
  }
  if (opts.json) writeFileSync(opts.json, JSON.stringify({ env, results }, (k, v) => (typeof v === 'bigint' ? String(v) : v), 2));
}

process.on('exit', cleanup);
let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    if (interrupted) return;
    interrupted = true;
    log(`${sig}: stopping every process started by the bench`);
    process.exit(130); // 'exit' runs the cleanup
  });
}
// Hard deadline: nothing a bench run does takes this long.
setTimeout(() => {
  log('global deadline (60 min) reached: stopping everything');
  process.exit(1);
}, 60 * 60_000).unref();

main().then(
  () => process.exit(0),
  (err) => {
    log(`failed: ${err?.stack ?? err}`);
    process.exit(1);
  },
);
