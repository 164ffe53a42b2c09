#!/usr/bin/env node
// What a worker's boot costs in CPU instructions, counted by valgrind's callgrind: the same count
// for the same binary and inputs whatever else the machine is doing, so it compares Node versions,
// entry kinds and the compile cache on a shared machine where times are noise.
//
//   node bench/boot-cost.mjs                          Node 20, 22, 24 and 26 (official binaries, scripts/node-versions.mjs)
//   node bench/boot-cost.mjs --node 24 --runs 3       one Node, 3 runs per case (median)
//
// Cases, each the process that serves (every thread of it), from exec until it listens and is then
// stopped by SIGTERM (valgrind writes its counts at exit):
//   bare CJS / bare ESM         `node plain.cjs` / `node plain.mjs` (bench/servers/): http.createServer, listen
//   arbiter CJS / arbiter ESM   the worker of bench/servers/arbiter.cjs / arbiter.mjs (1 `async` worker),
//                               with Node's compile cache warm (22.8+), and without it
//                               (NODE_DISABLE_COMPILE_CACHE=1); the master stops it gracefully
// Needs valgrind (apt-get install -y valgrind). A run takes 10-40 s under valgrind: the whole
// table about 10 minutes on 2 cores. Prints a markdown table (millions of instructions).
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { install } from '../scripts/node-versions.mjs';
import { freePort } from './lib/servers.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const servers = path.join(here, 'servers');

function parseArgs(argv) {
  const opts = { node: '20,22,24,26', runs: 3 };
  for (let i = 0; i < argv.length; i++) {
    const m = /^--(node|runs)(?:=(.*))?$/.exec(argv[i]);
    if (!m) {
      console.error('usage: node bench/boot-cost.mjs [--node 20,22,24,26] [--runs 3]');
      process.exit(2);
    }
    opts[m[1]] = m[2] ?? argv[++i];
  }
  return { majors: String(opts.node).split(','), runs: Number(opts.runs) };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Total instructions (every thread) in one callgrind output file, and the command it ran. */
function readCallgrind(file) {
  const text = readFileSync(file, 'utf8');
  return { cmd: /^cmd:\s*(.*)$/m.exec(text)?.[1] ?? '', ir: Number(/^(?:summary|totals):\s*(\d+)/m.exec(text)?.[1]) };
}

/**
 * Runs `node args` under callgrind (children traced) with `env`, until `ready(dir)` says so, then
 * SIGTERMs it; resolves the instruction count of the process `pick(files, rootPid)` selects.
 */
async function counted(node, args, env, readyDir, pick) {
  const out = mkdtempSync(path.join(os.tmpdir(), 'arbiter-boot-cost-'));
  try {
    const child = spawn('valgrind', ['--tool=callgrind', '--trace-children=yes', `--callgrind-out-file=${out}/cg.%p`, node, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d) => (err = (err + d).slice(-4000)));
    const exited = new Promise((resolve) => child.on('exit', resolve));
    const deadline = Date.now() + 180_000;
    while (!(existsSync(readyDir) && readdirSync(readyDir).length > 0)) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`not ready: ${node} ${args.join(' ')}\n${err}`);
      await sleep(100);
    }
    child.kill('SIGTERM');
    await exited;
    const files = readdirSync(out).map((f) => ({ pid: Number(f.split('.')[1]), ...readCallgrind(path.join(out, f)) }));
    return pick(files, child.pid);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

async function measureNode(spec, runs) {
  const { version, bin } = install(spec);
  const node = path.join(bin, 'node');
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'arbiter-boot-cost-tmp-'));
  const hasCache = Number(version.split('.')[0]) > 22 || (Number(version.split('.')[0]) === 22 && Number(version.split('.')[1]) >= 8);
  const row = { version };
  try {
    const bare = async (file) => {
      const readyDir = mkdtempSync(path.join(tmp, 'ready-'));
      const env = { BENCH_PORT: String(await freePort()), BENCH_READY_DIR: readyDir };
      return counted(node, [path.join(servers, file)], env, readyDir, (files, root) => files.find((f) => f.pid === root).ir);
    };
    const arbiter = async (file, cache) => {
      const readyDir = mkdtempSync(path.join(tmp, 'ready-'));
      const env = {
        BENCH_PORT: String(await freePort()),
        BENCH_READY_DIR: readyDir,
        BENCH_CONFIG: JSON.stringify({ workers: 1, controlSocket: false, bootTimeout: 120_000, timeout: 120_000 }),
        TMPDIR: tmp, // a compile cache of this run's own
        ...(cache ? {} : { NODE_DISABLE_COMPILE_CACHE: '1' }),
      };
      // the worker: neither the master (the root) nor its listen(2) helper (`node -e`)
      return counted(node, [path.join(servers, file)], env, readyDir, (files, root) => files.find((f) => f.pid !== root && !/ -e /.test(f.cmd)).ir);
    };
    const cases = [
      ['bare CJS', () => bare('plain.cjs')],
      ['bare ESM', () => bare('plain.mjs')],
      ['arbiter CJS', () => arbiter('arbiter.cjs', true)],
      ['arbiter ESM', () => arbiter('arbiter.mjs', true)],
      ...(hasCache
        ? [
            ['arbiter CJS, no compile cache', () => arbiter('arbiter.cjs', false)],
            ['arbiter ESM, no compile cache', () => arbiter('arbiter.mjs', false)],
          ]
        : []),
    ];
    for (const [name, fn] of cases) {
      if (/^arbiter/.test(name) && !/no compile cache/.test(name) && hasCache) await fn(); // fills the cache
      const irs = [];
      for (let i = 0; i < runs; i++) irs.push(await fn());
      row[name] = median(irs);
      process.stderr.write(`[boot-cost] Node ${version} ${name}: ${(row[name] / 1e6).toFixed(0)} M instructions (${irs.map((x) => (x / 1e6).toFixed(0)).join(', ')})\n`);
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return row;
}

const { majors, runs } = parseArgs(process.argv.slice(2));
const rows = [];
for (const m of majors) rows.push(await measureNode(m, runs));
const cols = ['bare CJS', 'bare ESM', 'arbiter CJS', 'arbiter ESM', 'arbiter CJS, no compile cache', 'arbiter ESM, no compile cache'];
const cell = (v) => (v ? (v / 1e6).toFixed(0) : '—');
console.log(`| Node | ${cols.join(' | ')} | arbiter / bare (CJS, ESM) |`);
console.log(`|---|${cols.map(() => '---:').join('|')}|---:|`);
for (const r of rows) {
  console.log(`| ${r.version} | ${cols.map((c) => cell(r[c])).join(' | ')} | ${(r['arbiter CJS'] / r['bare CJS']).toFixed(2)}×, ${(r['arbiter ESM'] / r['bare ESM']).toFixed(2)}× |`);
}
