// The packed tarball works when installed elsewhere: as ESM and as CJS with real masters, and
// its declarations compile in strict TypeScript consumers (skipLibCheck: false) under
// moduleResolution nodenext and bundler, with TypeScript 5 and 7 — with only what a user gets from
// `npm install arbiter` plus @types/node (the optional peer dependency the README asks TS users for).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { Master, freePort, request, waitFor } from './helpers.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const dir = join(tmpdir(), `arbiter-pack-${process.pid}-${Date.now()}`);
mkdirSync(dir);
test.after(() => rmSync(dir, { recursive: true, force: true }));
const app = join(dir, 'app');

let installed;
/** Packs the package once and installs the tarball (plus @types/node, as any TS user has) into `app`. */
function packAndInstall() {
  installed ??= (() => {
    execFileSync('npm', ['pack', '--ignore-scripts', '--pack-destination', dir], { cwd: root, stdio: 'pipe' });
    const tarball = readdirSync(dir).find((f) => f.endsWith('.tgz'));
    assert.ok(tarball, 'npm pack produced a tarball');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer', private: true }));
    const typesNode = JSON.parse(readFileSync(join(root, 'node_modules/@types/node/package.json'), 'utf8')).version;
    const args = ['install', '--no-audit', '--no-fund', '--prefer-offline', join(dir, tarball), `@types/node@${typesNode}`];
    execFileSync('npm', args, { cwd: app, stdio: 'pipe' });
    return join(dir, tarball);
  })();
  return installed;
}

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
  const tarball = packAndInstall();
  const files = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' });
  assert.match(files, /package\/dist\/esm\/index\.js/);
  assert.match(files, /package\/dist\/cjs\/index\.js/);
  assert.match(files, /package\/dist\/esm\/index\.d\.ts/);
  assert.doesNotMatch(files, /package\/(src|test)\//);

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

test('the packed manifest: no install-time scripts, links to the repository, README links that work from the npm page', () => {
  packAndInstall();
  const manifest = JSON.parse(readFileSync(join(app, 'node_modules/arbiter/package.json'), 'utf8'));
  const installScripts = ['preinstall', 'install', 'postinstall', 'prepare'].filter((s) => manifest.scripts?.[s] !== undefined);
  assert.deepEqual(installScripts, [], 'npm would run (or warn about) these when installing the tarball');
  assert.ok(manifest.scripts?.prepack, 'the build runs on pack');
  assert.equal(manifest.repository?.url, 'git+https://github.com/arbiter-js/arbiter.git');
  assert.equal(manifest.homepage, 'https://github.com/arbiter-js/arbiter#readme');
  assert.equal(manifest.bugs?.url, 'https://github.com/arbiter-js/arbiter/issues');
  // The declarations import node:http: TypeScript users need @types/node, JavaScript users do not.
  assert.equal(manifest.peerDependencies?.['@types/node'], '>=20');
  assert.equal(manifest.peerDependenciesMeta?.['@types/node']?.optional, true);
  assert.ok(Array.isArray(manifest.keywords) && manifest.keywords.includes('gunicorn'));
  // The docs are not in the tarball: every link of the shipped README must be absolute (or an anchor).
  const readme = readFileSync(join(app, 'node_modules/arbiter/README.md'), 'utf8');
  assert.match(readme, /^## Install\n\n```sh\nnpm install arbiter\n```/m);
  assert.match(readme, /npm install --save-dev @types\/node/);
  const relative = [...readme.matchAll(/\]\(([^)]+)\)/g)].map((m) => m[1]).filter((href) => !/^(https:\/\/|#)/.test(href));
  assert.deepEqual(relative, [], 'relative links break on the npm page');
});

/** The ```ts blocks of the docs: each must compile as written, as a module of a consumer. */
function docBlocks() {
  const docs = [join(root, 'README.md'), ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => join(root, 'docs', f))];
  const blocks = [];
  for (const file of docs) {
    const text = readFileSync(file, 'utf8');
    for (const [i, m] of [...text.matchAll(/^```ts\n([\s\S]*?)^```/gm)].entries()) {
      blocks.push({ name: `doc-${file.split('/').pop().replace(/\.md$/, '')}-${i + 1}.ts`, code: `${m[1]}\nexport {};\n` });
    }
  }
  return blocks;
}

test('the packed declarations compile in strict consumers (TypeScript 5 and 7; nodenext and bundler; skipLibCheck: false)', { timeout: 180_000 }, () => {
  packAndInstall();
  // Sources: the type tests of test/types (each `@ts-expect-error` must still be an error, or
  // tsc fails with TS2578) and every ```ts block of the docs.
  const consumer = join(app, 'types');
  mkdirSync(consumer);
  writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'types-consumer', private: true, type: 'module' }));
  const typesDir = join(root, 'test/types');
  for (const f of readdirSync(typesDir).filter((f) => /\.test-d\.c?ts$/.test(f))) {
    writeFileSync(join(consumer, f), readFileSync(join(typesDir, f)));
  }
  const blocks = docBlocks();
  assert.ok(blocks.some((b) => b.name.startsWith('doc-worker-models')), 'the custom-worker example of docs/worker-models.md is TypeScript');
  for (const b of blocks) writeFileSync(join(consumer, b.name), b.code);

  const strict = { target: 'ES2022', strict: true, noEmit: true, skipLibCheck: false, types: ['node'], noUncheckedIndexedAccess: true, exactOptionalPropertyTypes: true };
  const configs = {
    'tsconfig.nodenext.json': { compilerOptions: { ...strict, module: 'nodenext', moduleResolution: 'nodenext' }, include: ['*.ts', '*.cts'] },
    // `import x = require()` (the .cts test) does not exist for bundlers.
    'tsconfig.bundler.json': { compilerOptions: { ...strict, module: 'esnext', moduleResolution: 'bundler' }, include: ['*.ts'] },
  };
  // The same consumer under both compilers: TypeScript 5 (`typescript`, whose bin/tsc is a
  // JavaScript program) and 7 (`typescript-7`, an alias of typescript@7, whose bin/tsc runs the
  // native compiler of the @typescript/typescript-<platform> package).
  const require = createRequire(import.meta.url);
  for (const [pkg, major] of [['typescript', '5'], ['typescript-7', '7']]) {
    let tsDir;
    try {
      tsDir = dirname(require.resolve(`${pkg}/package.json`));
    } catch {
      assert.fail(`${pkg} (a devDependency) is not installed: run npm install`);
    }
    const version = JSON.parse(readFileSync(join(tsDir, 'package.json'), 'utf8')).version;
    assert.equal(version.split('.')[0], major, `${pkg} is TypeScript ${major}`);
    for (const [name, config] of Object.entries(configs)) {
      writeFileSync(join(consumer, name), JSON.stringify(config, null, 2));
      try {
        execFileSync(process.execPath, [join(tsDir, 'bin/tsc'), '-p', name], { cwd: consumer, encoding: 'utf8', stdio: 'pipe' });
      } catch (err) {
        assert.fail(`TypeScript ${version}: tsc -p ${name} failed:\n${err.stdout}${err.stderr}`);
      }
    }
  }
  // The declarations need nothing the user does not get: no @types/* but node's was installed.
  const types = readdirSync(join(app, 'node_modules/@types'));
  assert.deepEqual(types, ['node']);
});
