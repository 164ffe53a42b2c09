// A stop always wins (issue 22): TERM, INT/QUIT or `arbiter stop` arriving during a reload's config
// probe, a USR2 hand-over, a spawn wave or a worker's boot ends what was under way, drains, and the
// master exits within gracefulTimeout (+ the kill margin), leaving no process, socket or pidfile.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { controlRequest } from 'arbiter';
import { Master, canConnect, childrenOf, freePort, isAlive, request, waitFor } from './helpers.mjs';

const GRACE = 3000;
/** How long after gracefulTimeout a stop may take: the kill, the reaping, a loaded machine. */
const MARGIN = 2500;

function scratch(t) {
  const dir = mkdtempSync(join(tmpdir(), 'arbiter-stop-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * Waits for the master to exit after `stop()`; asserts the time it took and that none of its
 * processes (but `except`), `pids`, the port or `files` is left.
 */
async function stopsInTime(m, stop, { pids = () => [], port, files = [], except = [] }) {
  const before = new Set([m.pid, ...m.pids, ...childrenOf(m.pid), ...pids()]);
  for (const pid of except) before.delete(pid);
  const t0 = Date.now();
  await stop();
  const { code, signal } = await m.exited;
  const took = Date.now() - t0;
  assert.equal(signal, null, m.stderr);
  assert.ok(took < GRACE + MARGIN, `the master exited ${took} ms after the stop (gracefulTimeout ${GRACE} ms)\n${m.stderr}`);
  for (const pid of before) await waitFor(() => !isAlive(pid), `pid ${pid} to be gone`, 2000);
  if (port) assert.equal(await canConnect(port), false, 'the port is closed');
  for (const f of files) assert.equal(existsSync(f), false, `${f} was removed`);
  return { code, took };
}

for (const how of ['SIGTERM', 'arbiter stop']) {
  test(`${how} during a reload's config probe (an entry script that became 20 s slow) kills the probe and stops at once`, async (t) => {
    const dir = scratch(t);
    const port = await freePort();
    const slow = join(dir, 'slow');
    const pidfile = join(dir, 'pid');
    const socket = join(dir, 'control.sock');
    const m = Master.start(t, 'app.mjs', { bind: `127.0.0.1:${port}`, workers: 2, gracefulTimeout: GRACE, pidfile, controlSocket: socket }, { env: { FIXTURE_SLOW_ENTRY_FILE: slow } });
    await m.ready(2);
    writeFileSync(slow, ''); // from now on the entry script takes 20 s
    m.signal('SIGHUP');
    await m.waitForLog(/Hang up: Master/);
    let probe;
    await waitFor(() => (probe = childrenOf(m.pid).find((pid) => !m.pids.has(pid))), 'the config probe process');
    t.after(() => {
      try {
        process.kill(probe, 'SIGKILL');
      } catch {
        // gone
      }
    });
    await new Promise((r) => setTimeout(r, 700)); // the probe is well into its slow top-level code
    assert.ok(isAlive(probe), 'the probe still runs');
    const { code } = await stopsInTime(m, () => (how === 'SIGTERM' ? m.signal('SIGTERM') : controlRequest(socket, 'stop', { graceful: true })), {
      pids: () => [probe],
      port,
      files: [pidfile, socket],
    });
    assert.equal(code, 0);
    assert.equal(m.all('reload_failed').length, 0, 'a reload ended by a stop is no failure');
    assert.doesNotMatch(m.stderr, /Reload failed/);
  });
}

test('SIGTERM to the old master during a USR2 hand-over (the new master still in its slow entry script) completes it: the old one drains and exits in time, the new one serves', async (t) => {
  const dir = scratch(t);
  const port = await freePort();
  const slow = join(dir, 'slow');
  const pidfile = join(dir, 'pid');
  const m = Master.start(t, 'app.mjs', { bind: `127.0.0.1:${port}`, workers: 2, gracefulTimeout: GRACE, pidfile, controlSocket: false }, {
    env: { FIXTURE_SLOW_ENTRY_FILE: slow, FIXTURE_SLOW_ENTRY_MS: '4000' },
  });
  await m.ready(2);
  const old = m.readyWorkers();
  writeFileSync(slow, '');
  m.signal('SIGUSR2');
  const next = await m.newMaster();
  await new Promise((r) => setTimeout(r, 700));
  await stopsInTime(m, () => m.signal('SIGTERM'), { pids: () => old, except: [next] });
  assert.ok(isAlive(next), 'the new master lives on');
  rmSync(slow); // its workers boot at normal speed
  // Connections wait in the kernel's queue of the sockets the new master holds, until its workers accept.
  assert.equal((await request(port, '/pid')).status, 200);
  await waitFor(() => existsSync(pidfile) && !existsSync(`${pidfile}.2`), 'the new master to take the pidfile over', 15_000);
  const workers = childrenOf(next);
  process.kill(next, 'SIGTERM');
  await waitFor(() => !isAlive(next), 'the new master to exit', GRACE + MARGIN);
  for (const pid of workers) await waitFor(() => !isAlive(pid), `its worker ${pid} to be gone`, 2000);
  assert.equal(await canConnect(port), false, 'the port is closed');
  assert.equal(existsSync(pidfile), false, 'the pidfile is removed');
});

for (const sig of ['SIGTERM', 'SIGQUIT']) {
  test(`${sig} during a spawn wave (8 workers whose entry scripts take 20 s before run()) stops at once`, async (t) => {
    const port = await freePort();
    const m = Master.start(t, 'app.mjs', { bind: `127.0.0.1:${port}`, workers: 8, gracefulTimeout: GRACE, controlSocket: false }, { env: { FIXTURE_ENTRY_DELAY: '20000' } });
    await m.waitForEvents('spawn', 2);
    await new Promise((r) => setTimeout(r, 700));
    assert.equal(m.readyWorkers().length, 0, 'no worker is ready yet');
    await stopsInTime(m, () => m.signal(sig), { port });
    assert.equal(m.all('worker_ready').length, 0);
  });
}

test('SIGINT during a worker\'s boot (load() takes 20 s) stops at once', async (t) => {
  const port = await freePort();
  const m = Master.start(t, 'app.mjs', { bind: `127.0.0.1:${port}`, workers: 2, gracefulTimeout: GRACE, controlSocket: false }, { env: { FIXTURE_LOAD_DELAY: '20000' } });
  await m.waitForEvents('spawn', 2);
  await m.waitForLog(/Booting worker with pid: \d+[\s\S]*Booting worker with pid: \d+/);
  await new Promise((r) => setTimeout(r, 1500)); // in load() by now
  await stopsInTime(m, () => m.signal('SIGINT'), { port });
});

test('SIGTERM during a worker\'s boot (load() takes 20 s) stops at once', async (t) => {
  const port = await freePort();
  const m = Master.start(t, 'app.mjs', { bind: `127.0.0.1:${port}`, workers: 2, gracefulTimeout: GRACE, controlSocket: false }, { env: { FIXTURE_LOAD_DELAY: '20000' } });
  await m.waitForEvents('spawn', 2);
  await new Promise((r) => setTimeout(r, 1500));
  await stopsInTime(m, () => m.signal('SIGTERM'), { port });
});
