// Leftovers of the reviews (issue 22), master side: each fails without its fix.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Master, freePort, request, waitFor } from './helpers.mjs';

const MiB = 1024 * 1024;

test('after a HUP that shortens gracefulTimeout, an old worker\'s hook is cut off by the new one, with the "cut off" warning, and it exits by itself', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'arbiter-grace-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const port = await freePort();
  const file = join(dir, 'config.json');
  const config = { bind: `127.0.0.1:${port}`, workers: 1, gracefulTimeout: 30_000 };
  writeFileSync(file, JSON.stringify(config));
  const m = Master.start(t, 'async-hooks.mjs', config, { env: { FIXTURE_CONFIG_FILE: file, FIXTURE_EXIT: 'never' } });
  await m.ready(1);
  const [old] = m.readyWorkers();
  writeFileSync(file, JSON.stringify({ ...config, gracefulTimeout: 1500 }));
  m.signal('SIGHUP');
  const [exit] = await m.waitForEvents('worker_exit', 1, (w) => w.pid === old, 20_000);
  // (stderr and the events' stdout are two pipes: the line may be read after the event)
  await m.waitForLog(new RegExp(`\\[${old}\\] \\[WARNING\\] workerExit hook cut off: still running when this worker had to exit \\(gracefulTimeout 1500 ms\\)`), 5000);
  assert.deepEqual([exit.args[1].code, exit.args[1].signal, exit.args[1].reason], [0, null, 'reload'], 'it exited by itself before the SIGKILL');
});

test('a worker killed for memory while it drains for a shutdown keeps the exit reason shutdown', async (t) => {
  const port = await freePort();
  const m = Master.start(t, 'faults.mjs', { bind: `127.0.0.1:${port}`, workers: 1, maxWorkerMemory: 128 * MiB, gracefulTimeout: 30_000 });
  await m.ready(1);
  const [pid] = m.readyWorkers();
  const held = request(port, '/grow-on-stop').catch(() => undefined);
  await waitFor(() => /STARTED \/grow-on-stop/.test(m.stdout), 'the held request');
  m.signal('SIGTERM');
  await m.waitForLog(new RegExp(`Worker \\(pid:${pid}\\) kept growing to [\\d.]+ MiB .* killing it`), 30_000);
  const [exit] = await m.waitForEvents('worker_exit', 1, (w) => w.pid === pid);
  assert.deepEqual(exit.args[1], { code: null, signal: 'SIGKILL', reason: 'shutdown' });
  await held;
  await m.exited;
});

test('run() a second time rejects (ARBITER_ERR_STATE), it does not throw', async (t) => {
  const port = await freePort();
  const m = Master.start(t, 'run-twice.mjs', { bind: `127.0.0.1:${port}`, workers: 1, controlSocket: false });
  const { code } = await m.exited;
  assert.match(m.stdout, /^SECOND rejected ARBITER_ERR_STATE$/m, m.stdout + m.stderr);
  assert.equal(code, 0, m.stderr);
});
