// --reload (SPEC §14, development): the master watches the files the workers loaded and reloads
// (HUP, gated) when one changes: a save that breaks the code is reported with its file and line
// and the old workers keep serving; the next good save reloads.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { serve } from './cli-helpers.mjs';
import { freePort, isAlive, request, waitFor } from './helpers.mjs';

function tempDir(t, prefix) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Saves as editors do: a new file renamed over the old one (a new inode). */
function save(file, text) {
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
}

/** Waits until every one of a few requests answers `body`; returns how long that took. */
async function servesOnly(port, body, what, seen = new Set()) {
  const start = Date.now();
  await waitFor(async () => {
    for (let i = 0; i < 4; i++) {
      const got = (await request(port, '/').catch((err) => ({ body: err.message }))).body;
      if (got !== body) {
        seen.add(got);
        return false;
      }
    }
    return true;
  }, what, 30_000, 50);
  return Date.now() - start;
}

async function stop(m) {
  const pids = [m.pid, ...m.workers()];
  m.signal('SIGTERM');
  assert.equal((await m.exited).code, 0, m.stderr);
  await waitFor(() => pids.every((p) => !isAlive(p)), 'every process gone');
}

for (const kind of ['esm', 'cjs']) {
  test(`--reload (${kind}): a saved dependency reloads; a broken save keeps the old workers serving and says where; the next good save reloads`, async (t) => {
    const dir = tempDir(t, 'arbiter-reload-');
    const ext = kind === 'esm' ? 'mjs' : 'cjs';
    const lib = join(dir, `lib.${ext}`);
    const version = (v) => (kind === 'esm' ? `export const msg = '${v}';\n` : `exports.msg = '${v}';\n`);
    writeFileSync(lib, version('v1'));
    writeFileSync(
      join(dir, `app.${ext}`),
      kind === 'esm'
        ? `import { msg } from './lib.mjs';\nexport default (req, res) => res.end(msg);\n`
        : `const { msg } = require('./lib.cjs');\nmodule.exports = (req, res) => res.end(msg);\n`,
    );
    const port = await freePort();
    const m = serve(t, ['--reload', '-w', '2', '-b', `127.0.0.1:${port}`, join(dir, `app.${ext}`)], { XDG_RUNTIME_DIR: tempDir(t, 'arbiter-xdg-'), DEBUG: 'arbiter:master' }, { cwd: dir });
    await m.until(2);
    assert.equal((await request(port, '/')).body, 'v1');
    // the workers report what they loaded a moment after they are ready (traced by the master)
    await m.waitForLog(new RegExp(`reload: watching \\d+ more files`));

    save(lib, version('v2'));
    await m.waitForLog(new RegExp(`Worker reloading: lib\\.${ext} modified`));
    const ms = await servesOnly(port, 'v2', `v2 served\n${m.stderr}`);
    t.diagnostic(`save to serving (the reload's workers all answer): ${ms} ms`);
    await m.waitForLog(/Generation 1 ready/);

    // a broken save: the reload fails with the file and line, generation 1 keeps serving
    save(lib, kind === 'esm' ? `export const msg = 'v3;\n` : `exports.msg = 'v3;\n`);
    await m.waitForLog(/Reload failed/, 30_000);
    assert.match(m.stderr, new RegExp(`lib\\.${ext}:1`), 'the error says where');
    const seen = new Set();
    await servesOnly(port, 'v2', 'v2 still served', seen);
    assert.deepEqual([...seen], [], 'no request ever saw anything else');

    save(lib, version('v4'));
    await servesOnly(port, 'v4', `v4 served after the fix\n${m.stderr}`);
    await stop(m);
  });
}

test('--reload-extra-file: a watched file outside the module graph reloads too; without --reload nothing is watched', async (t) => {
  const dir = tempDir(t, 'arbiter-reload-');
  writeFileSync(join(dir, 'greeting.txt'), 'hello');
  writeFileSync(join(dir, 'app.mjs'), `import { readFileSync } from 'node:fs';\nconst text = readFileSync(new URL('./greeting.txt', import.meta.url), 'utf8');\nexport default (req, res) => res.end(text);\n`);
  const port = await freePort();
  const m = serve(t, ['--reload', '--reload-extra-file', 'greeting.txt', '-w', '1', '-b', `127.0.0.1:${port}`, 'app.mjs'], { XDG_RUNTIME_DIR: tempDir(t, 'arbiter-xdg-') }, { cwd: dir });
  await m.until(1);
  save(join(dir, 'greeting.txt'), 'bonjour');
  await m.waitForLog(/Worker reloading: greeting\.txt modified/);
  await servesOnly(port, 'bonjour', 'the new text');
  await stop(m);

  // the same app without --reload: a save changes nothing
  const port2 = await freePort();
  const plain = serve(t, ['-w', '1', '-b', `127.0.0.1:${port2}`, 'app.mjs'], { XDG_RUNTIME_DIR: tempDir(t, 'arbiter-xdg-') }, { cwd: dir });
  await plain.until(1);
  save(join(dir, 'app.mjs'), `export default (req, res) => res.end('changed');\n`);
  await new Promise((r) => setTimeout(r, 500)); // a reload would start at once (debounce 100 ms): none must
  assert.equal((await request(port2, '/')).body, 'bonjour');
  assert.doesNotMatch(plain.stderr, /reloading|Hang up/);
  await stop(plain);
});

test('--reload is a boolean; a bad reloadExtraFiles names the option', async (t) => {
  const { cli } = await import('./cli-helpers.mjs');
  const r = await cli(['--print-config', '--reload', '--reload-extra-file', 'a.txt', 'x.mjs']);
  assert.equal(r.code, 0, r.stderr);
  const printed = JSON.parse(r.stdout);
  assert.equal(printed.reload, true);
  assert.equal(printed.reloadExtraFiles.length, 1);
  assert.match(printed.reloadExtraFiles[0], /\/a\.txt$/);
  const { Arbiter } = await import('arbiter');
  assert.throws(() => new Arbiter({ config: { reload: 'yes' }, load: () => (req, res) => res.end() }), /reload.*true or false/);
  assert.throws(() => new Arbiter({ config: { reloadExtraFiles: [3] }, load: () => (req, res) => res.end() }), /reloadExtraFiles/);
});
