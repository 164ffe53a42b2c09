// Errors point at the user's code (SPEC §11): a SyntaxError anywhere in the app's import graph
// names its file and line in --check-config, the boot log and a failed reload's reason; stacks show
// the app's frames first; a module with nothing to serve is told what to add. The built command,
// on apps written to a temp dir.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { controlRequest } from 'arbiter';
import { appStack, errorSummary, missingExportMessage, summarizeFatal } from '../dist/esm/app-errors.js';
import { Master, freePort, isAlive, request, waitFor } from './helpers.mjs';

const BIN = fileURLToPath(new URL('../dist/cjs/cli/arbiter.js', import.meta.url));
const BROKEN = 'export function helper(req, res) {\n  const x = ;\n  res.end(x);\n}\n';

/** A fresh directory with `files` (path → text) written in it, removed after the test. */
function appDir(t, files) {
  const dir = mkdtempSync(join(tmpdir(), 'arbiter-app-errors-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

/** Runs the command to completion in `cwd`: `{ code, stdout, stderr }`. */
function cli(args, cwd, env = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

// An ES module app: app.mjs -> lib/routes.js -> lib/util.js (a "type": "module" package), the
// SyntaxError two levels down.
const esmApp = (util) => ({
  'package.json': '{ "type": "module" }\n',
  'app.mjs': "import { helper } from './lib/routes.js';\nexport default helper;\n",
  'lib/routes.js': "import http from 'node:http';\nexport { helper } from './util.js';\n",
  'lib/util.js': util,
});
// The same in CommonJS: app.cjs -> lib/routes.cjs -> lib/util.cjs.
const cjsApp = {
  'app.cjs': "module.exports = require('./lib/routes.cjs').helper;\n",
  'lib/routes.cjs': "module.exports = require('./util.cjs');\n",
  'lib/util.cjs': 'exports.helper = function (req, res) {\n  const x = ;\n};\n',
};

/** What `node file` prints for the syntax error of `file`, line 2 of BROKEN (path, source line, caret). */
const located = (file) => `${file}:2\n  const x = ;\n            ^\n\nSyntaxError: Unexpected token ';'\n`;

test('--check-config: a SyntaxError two imports deep names the file and line, ES module and CommonJS; exit 1', async (t) => {
  const esm = appDir(t, esmApp(BROKEN));
  const r = await cli(['--check-config', 'app.mjs'], esm);
  assert.equal(r.code, 1, r.stderr);
  assert.ok(r.stderr.startsWith(`arbiter: the app module app.mjs failed to load:\n${located(join(esm, 'lib/util.js'))}`), r.stderr);
  assert.doesNotMatch(r.stderr, /node:internal/, "Node's frames are counted, not shown");
  assert.match(r.stderr, / {4}\(\d+ Node frames not shown\)\n$/);

  // a -c config module is located the same way
  writeFileSync(join(esm, 'conf.mjs'), 'export default {\n  workers: ,\n};\n');
  const conf = await cli(['-c', 'conf.mjs', '--check-config', 'app.mjs'], esm);
  assert.equal(conf.code, 1);
  assert.equal(conf.stderr, `arbiter: cannot read the config file conf.mjs: SyntaxError: Unexpected token ',' (${join(esm, 'conf.mjs')}:2) (see arbiter --help)\n`);

  const cjs = appDir(t, cjsApp);
  const c = await cli(['--check-config', 'app.cjs'], cjs);
  assert.equal(c.code, 1, c.stderr);
  assert.ok(c.stderr.startsWith(`arbiter: the app module app.cjs failed to load:\n${located(join(cjs, 'lib/util.cjs'))}`), c.stderr);
  // the app's frames first: the require() call in its own file (the stack holds 10 frames)
  assert.match(c.stderr, /SyntaxError: Unexpected token ';'\n {4}at .*routes\.cjs:1:\d+\)\n {4}\(\d+ Node frames not shown\)\n$/);
});

test('arbiter app.mjs: the worker logs the file and line of the SyntaxError, the master exits 4 saying why; JSON too', async (t) => {
  const dir = appDir(t, esmApp(BROKEN));
  const file = join(dir, 'lib/util.js');
  const r = await cli(['-b', `127.0.0.1:${await freePort()}`, '-w', '1', '--no-control-socket', 'app.mjs'], dir);
  assert.equal(r.code, 4, r.stderr);
  assert.ok(r.stderr.includes(`[ERROR] Exception in worker process: the app failed to load\n${located(file)}    (`), r.stderr);
  assert.ok(r.stderr.includes(`[INFO] Reason: App failed to load: SyntaxError: Unexpected token ';' (${file}:2).\n`), r.stderr);

  const j = await cli(['-b', `127.0.0.1:${await freePort()}`, '-w', '1', '--no-control-socket', '--log-format', 'json', 'app.mjs'], dir);
  assert.equal(j.code, 4, j.stderr);
  const lines = j.stderr.trim().split('\n').map((l) => JSON.parse(l));
  for (const l of lines) assert.doesNotMatch(l.msg, /\n/);
  const failed = lines.find((l) => l.msg === 'Exception in worker process: the app failed to load');
  assert.equal(failed.err.type, 'SyntaxError');
  assert.equal(failed.err.message, "Unexpected token ';'");
  assert.ok(failed.err.stack.startsWith(located(file)), failed.err.stack);
});

test('a reload of code that became broken: the master log and the control answer say file and line; the old workers keep serving', async (t) => {
  const dir = appDir(t, esmApp("export function helper(req, res) {\n  res.end('v1');\n}\n"));
  const file = join(dir, 'lib/util.js');
  const env = { XDG_RUNTIME_DIR: dir };
  const port = await freePort();
  const m = Master.start(t, null, {}, { command: process.execPath, args: [BIN, '-b', `127.0.0.1:${port}`, '-w', '2', join(dir, 'app.mjs')], env });
  const socket = join(dir, 'arbiter', `${m.pid}.sock`);
  await waitFor(() => controlRequest(socket, 'info', {}).then((i) => i.ready === 2, () => false), () => `2 ready workers\n${m.stderr}`, 30_000);
  const old = [...m.stderr.matchAll(/Booting worker with pid: (\d+)/g)].map((x) => Number(x[1]));
  for (const pid of old) m.pids.add(pid);

  writeFileSync(file, BROKEN);
  m.signal('SIGHUP');
  const reason = `SyntaxError: Unexpected token ';' (${file}:2)`;
  await m.waitForLog(new RegExp(`\\[ERROR\\] Reload failed: the app failed to load: ${escape(reason)}\\. Keeping the 2 workers of the previous generation`));
  assert.ok(m.stderr.includes(located(file)), 'each new worker logged where the error is');
  assert.equal((await request(port)).body, 'v1', 'the old code still answers');

  // what `arbiter reload` gets back from the master
  const answer = await controlRequest(socket, 'reload', {}, 0).then(
    () => assert.fail('the reload succeeded'),
    (err) => err,
  );
  assert.match(answer.message, new RegExp(`reload failed: the app failed to load: ${escape(reason)}; the 2 workers of the previous generation keep serving`));
  assert.equal((await request(port)).body, 'v1');
  for (const pid of old) assert.ok(isAlive(pid), `old worker ${pid} still serves`);
  m.signal('SIGTERM');
  assert.equal((await m.exited).code, 0, m.stderr);
});

function escape(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

test('a module that exports nothing: add `export default app` (ESM) or `module.exports = app` (CommonJS)', async (t) => {
  const dir = appDir(t, {
    'esm.mjs': "import http from 'node:http';\nconst app = (req, res) => res.end('x');\n",
    'cjs.cjs': "const app = (req, res) => res.end('x');\n",
    'named.mjs': 'export const app = (req, res) => res.end("x");\n',
  });
  const esm = await cli(['--check-config', 'esm.mjs'], dir);
  assert.equal(esm.code, 1);
  assert.match(esm.stderr, /^arbiter: The app module esm\.mjs exports nothing: add `export default app` \(app being your request listener, or your Express, Koa or Fastify app\); nor did it call listen\(\)\n$/);
  const cjs = await cli(['--check-config', 'cjs.cjs'], dir);
  assert.equal(cjs.code, 1);
  assert.match(cjs.stderr, /^arbiter: The app module cjs\.cjs exports nothing \(its module\.exports is empty\): add `module\.exports = app` /);
  const named = await cli(['--check-config', 'named.mjs'], dir);
  assert.match(named.stderr, /has no default export \(it exports: app\): add `export default app`, or name the export to serve as named\.mjs:<export>/);
  assert.equal((await cli(['--check-config', 'named.mjs:app'], dir)).code, 0);
});

test('missingExportMessage: by the module format and the export asked for', () => {
  assert.match(missingExportMessage('/a/app.mjs', {}, 'default', 'app.mjs'), /exports nothing: add `export default app`/);
  assert.match(missingExportMessage('/a/app.cjs', { default: {} }, 'default', 'app.cjs'), /add `module\.exports = app`/);
  assert.equal(missingExportMessage('/a/app.cjs', { default: () => {} }, 'default'), undefined);
  assert.equal(missingExportMessage('/a/app.mjs', { default: () => {} }, 'default'), undefined);
  assert.match(missingExportMessage('/a/app.cjs', { default: { x: 1 }, x: 1 }, 'api', 'app.cjs'), /no export `api` \(it exports: default, x\): add `module\.exports\.api = app`/);
  assert.match(missingExportMessage('/a/app.mjs', { x: 1 }, 'api', 'app.mjs'), /add `export \{ app as api \}`/);
});

test("appStack and errorSummary: the app's frames first, Node's and arbiter's counted; one line with where", () => {
  const own = fileURLToPath(new URL('../dist/cjs/index.js', import.meta.url));
  const err = new Error('ENOENT: no such file');
  err.stack = [
    'Error: ENOENT: no such file',
    '    at Object.openSync (node:fs:573:3)',
    '    at readConfig (/srv/app/config.mjs:3:10)',
    '    at new Promise (<anonymous>)',
    '    at file:///srv/app/app.mjs:5:1',
    `    at load (${own}:100:5)`,
    '    at async ModuleJob.run (node:internal/modules/esm/module_job:195:25)',
  ].join('\n');
  assert.equal(
    appStack(err),
    ['Error: ENOENT: no such file', '    at readConfig (/srv/app/config.mjs:3:10)', '    at file:///srv/app/app.mjs:5:1', '    (3 Node and 1 arbiter frames not shown)'].join('\n'),
  );
  assert.equal(errorSummary(err), 'Error: ENOENT: no such file (/srv/app/config.mjs:3:10)');
  // no frame of the app: an error of arbiter or Node, shown whole
  const ours = new Error('internal');
  ours.stack = `Error: internal\n    at x (${own}:1:1)\n    at node:internal/main:1:1`;
  assert.equal(appStack(ours), ours.stack);
  assert.equal(errorSummary(ours), 'Error: internal');
  // a location Node put in front (a CommonJS SyntaxError)
  const syntax = new SyntaxError("Unexpected token ';'");
  syntax.stack = "file:///srv/app/x.mjs:2\n  const x = ;\n            ^\n\nSyntaxError: Unexpected token ';'\n    at wrapSafe (node:internal/modules/cjs/loader:1464:18)";
  assert.equal(appStack(syntax), "file:///srv/app/x.mjs:2\n  const x = ;\n            ^\n\nSyntaxError: Unexpected token ';'\n    (1 Node frame not shown)");
  assert.equal(errorSummary(syntax), "SyntaxError: Unexpected token ';' (/srv/app/x.mjs:2)");
  assert.equal(errorSummary('a string'), 'a string');
  // a message that ends in ":<digits>" is not a location
  const coded = Object.assign(new Error('listen EADDRINUSE: 127.0.0.1:8000'), { code: 'EADDRINUSE' });
  coded.stack = 'Error [EADDRINUSE]: listen EADDRINUSE: 127.0.0.1:8000\n    at file:///srv/app/server.mjs:4:8';
  assert.equal(errorSummary(coded), 'Error: listen EADDRINUSE: 127.0.0.1:8000 (/srv/app/server.mjs:4:8)');
  // what Node printed for an uncaught error (a config probe that failed): message and where, in one line
  assert.equal(summarizeFatal("file:///srv/app/helper.mjs:2\n  const x = ;\n            ^\n\nSyntaxError: Unexpected token ';'\n    at compileSourceTextModule (node:internal/modules/esm/utils:346:16)\n\nNode.js v20.20.2\n"), "SyntaxError: Unexpected token ';' (/srv/app/helper.mjs:2)");
  assert.equal(
    summarizeFatal(`${own}:10\n    throw new ArbiterError(x);\n    ^\n\nArbiterError: Expected \`workers\` to be a positive integer, got 0\n    at resolve (${own}:10:11)\n    at file:///srv/app/main.mjs:3:1\n`),
    'ArbiterError: Expected `workers` to be a positive integer, got 0 (/srv/app/main.mjs:3:1)',
    "arbiter's own throw site is not where the error is",
  );
  assert.equal(
    summarizeFatal("node:internal/modules/cjs/loader:1210\n  throw err;\n  ^\n\nError: Cannot find module 'x'\n    at Module._resolveFilename (node:internal/modules/cjs/loader:1207:15)\n    at Object.<anonymous> (/srv/app/main.cjs:1:1)\n"),
    "Error: Cannot find module 'x' (/srv/app/main.cjs:1:1)",
  );
});
