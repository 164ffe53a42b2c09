// Every example in examples/ runs as written.
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { Master, freePort, request, waitFor, isAlive } from './helpers.mjs';

const example = (name) => fileURLToPath(new URL(`../examples/${name}`, import.meta.url));

test('examples/demo.mjs (npm start) serves, prints how to signal it, scales and stops on TERM', async (t) => {
  const port = await freePort();
  const m = Master.start(t, null, {}, {
    command: process.execPath,
    args: [example('demo.mjs')],
    env: { DEMO_BIND: `127.0.0.1:${port}`, DEMO_WORKERS: '2' },
  });
  await waitFor(() => /kill -TERM \d+/.test(m.stdout), `the demo banner\n${m.stdout}\n${m.stderr}`);
  assert.match(m.stdout, new RegExp(`listening at http://127\\.0\\.0\\.1:${port}`));
  assert.match(m.stdout, new RegExp(`kill -HUP ${m.pid}`));
  await waitFor(() => (m.stderr.match(/Booting worker with pid: \d+/g) ?? []).length === 2, 'two workers');
  await waitFor(async () => /^hello from worker \d+\n$/.test((await request(port, '/').catch(() => ({}))).body ?? ''), 'an answer');
  const workers = m.workers();
  assert.equal(workers.length, 2);
  m.signal('SIGTTIN');
  await waitFor(() => m.workers().length === 3, 'a third worker');
  m.signal('SIGTERM');
  assert.equal((await m.exited).code, 0);
  assert.match(m.stdout, /exited: shutdown/);
  assert.ok(workers.every((p) => !isAlive(p)));
});

test('examples/app.mjs served by the arbiter command, as the README shows', async (t) => {
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { spawnSync } = await import('node:child_process');
  const bin = fileURLToPath(new URL('../dist/cjs/cli/arbiter.js', import.meta.url)); // the package's bin (npx arbiter)
  const env = { XDG_RUNTIME_DIR: mkdtempSync(join(tmpdir(), 'arbiter-example-')) };
  t.after(() => rmSync(env.XDG_RUNTIME_DIR, { recursive: true, force: true }));
  const port = await freePort();
  const m = Master.start(t, null, {}, { command: process.execPath, args: [bin, '-w', '2', '-b', `127.0.0.1:${port}`, example('app.mjs')], env });
  await waitFor(async () => /^hello from worker \d+\n$/.test((await request(port, '/').catch(() => ({}))).body ?? ''), `an answer\n${m.stderr}`);
  const status = await waitFor(() => {
    const r = spawnSync(process.execPath, [bin, 'status', '--json'], { env: { ...process.env, ...env }, encoding: 'utf8' });
    const s = r.status === 0 && JSON.parse(r.stdout);
    return s && s.ready === 2 && s;
  }, 'two ready workers in arbiter status');
  assert.equal(status.pid, m.pid);
  const stop = spawnSync(process.execPath, [bin, 'stop'], { env: { ...process.env, ...env }, encoding: 'utf8' });
  assert.equal(stop.status, 0, stop.stderr);
  assert.equal((await m.exited).code, 0);
});

test('examples/server.mjs (an app that calls listen() itself) served unchanged by the arbiter command', async (t) => {
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const bin = fileURLToPath(new URL('../dist/cjs/cli/arbiter.js', import.meta.url));
  const port = await freePort();
  const env = { XDG_RUNTIME_DIR: mkdtempSync(join(tmpdir(), 'arbiter-example-')), PORT: String(port) };
  t.after(() => rmSync(env.XDG_RUNTIME_DIR, { recursive: true, force: true }));
  const m = Master.start(t, null, {}, { command: process.execPath, args: [bin, '-w', '2', example('server.mjs')], env });
  await waitFor(() => (m.stdout.match(/^listening on /gm) ?? []).length === 2, `both workers listening\n${m.stdout}\n${m.stderr}`);
  const res = await request(port, '/hello/you');
  assert.match(res.body, /^hello you from worker \d+\n$/);
  assert.ok(m.workers().includes(Number(/worker (\d+)/.exec(res.body)[1])));
  m.signal('SIGTERM');
  assert.equal((await m.exited).code, 0, m.stderr);
});
