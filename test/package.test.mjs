// The packed tarball works when installed elsewhere, as ESM and as CJS, with real masters.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { Master, freePort, request, waitFor } from './helpers.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'arbiter-pack-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

const server = (syntax) => `
${syntax === 'esm' ? "import { Arbiter, ArbiterError } from 'arbiter';" : "const { Arbiter, ArbiterError } = require('arbiter');"}
const arbiter = new Arbiter({
  config: { bind: process.env.BIND, workers: 2, workerClass: 'async' },
  load: () => (req, res) => res.end('${syntax} ' + (typeof ArbiterError) + ' ' + process.pid),
});
arbiter.on('ready', (a) => process.stdout.write('EVENT ' + JSON.stringify({ name: 'ready', args: [a] }) + '\\n'));
arbiter.on('worker_ready', (w) => process.stdout.write('EVENT ' + JSON.stringify({ name: 'worker_ready', args: [w] }) + '\\n'));
arbiter.run();
`;

test('npm pack → install elsewhere → ESM import and CJS require both run a master', { timeout: 180_000 }, async (t) => {
  execFileSync('npm', ['pack', '--ignore-scripts', '--pack-destination', dir], { cwd: root, stdio: 'pipe' });
  const tarball = readdirSync(dir).find((f) => f.endsWith('.tgz'));
  assert.ok(tarball, 'npm pack produced a tarball');
  const files = execFileSync('tar', ['-tzf', join(dir, tarball)], { encoding: 'utf8' });
  assert.match(files, /package\/dist\/esm\/index\.js/);
  assert.match(files, /package\/dist\/cjs\/index\.js/);
  assert.match(files, /package\/dist\/esm\/index\.d\.ts/);
  assert.doesNotMatch(files, /package\/(src|test)\//);

  const app = join(dir, 'app');
  execFileSync('mkdir', ['-p', app]);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer', private: true }));
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', join(dir, tarball)], { cwd: app, stdio: 'pipe' });
  writeFileSync(join(app, 'server.mjs'), server('esm'));
  writeFileSync(join(app, 'server.cjs'), server('cjs'));

  for (const syntax of ['esm', 'cjs']) {
    const port = await freePort();
    const m = Master.start(t, null, {}, {
      command: process.execPath,
      args: [join(app, syntax === 'esm' ? 'server.mjs' : 'server.cjs')],
      env: { BIND: `127.0.0.1:${port}` },
    });
    await m.ready(2);
    const res = await request(port, '/');
    assert.match(res.body, new RegExp(`^${syntax} function \\d+$`));
    m.signal('SIGTERM');
    assert.equal((await m.exited).code, 0, m.stderr);
  }

  // The installed `arbiter` command serves a CJS module; the CJS build's moduleApp() imports an ESM one.
  writeFileSync(join(app, 'handler.cjs'), "module.exports = (req, res) => res.end('cjs module ' + process.pid);\n");
  writeFileSync(join(app, 'handler.mjs'), "export const app = (req, res) => res.end('esm module ' + process.pid);\n");
  writeFileSync(join(app, 'via-require.cjs'), "const { Arbiter, moduleApp } = require('arbiter');\nnew Arbiter(moduleApp(require('node:path').join(__dirname, 'handler.mjs') + ':app', { bind: process.env.BIND, workers: 1, controlSocket: false })).run();\n");
  const bin = join(app, 'node_modules', '.bin', 'arbiter');
  assert.match(execFileSync(bin, ['--version'], { encoding: 'utf8' }), /^arbiter \d+\.\d+\.\d+\n$/);
  for (const [args, body] of [
    [[bin, '-w', '1', '--no-control-socket', join(app, 'handler.cjs')], /^cjs module \d+$/],
    [[join(app, 'via-require.cjs')], /^esm module \d+$/],
  ]) {
    const port = await freePort();
    const m = Master.start(t, null, {}, { command: process.execPath, args: args[0] === bin ? [bin, '-b', `127.0.0.1:${port}`, ...args.slice(1)] : args, env: { BIND: `127.0.0.1:${port}` } });
    const res = await waitFor(() => request(port, '/').catch(() => undefined), `an answer\n${m.stderr}`, 30_000);
    assert.match(res.body, body);
    m.signal('SIGTERM');
    assert.equal((await m.exited).code, 0, m.stderr);
  }
});
