// Workers that never get to run(): no orphan when the master dies (issue 12), no respawn loop (issue 7).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Master, freePort, isAlive, request, waitFor } from './helpers.mjs';

const base = (port, extra = {}) => ({ bind: `127.0.0.1:${port}`, workers: 2, timeout: 60_000, gracefulTimeout: 5000, ...extra });

/** Pids printed on lines `${word} pid` by the fixture's workers. */
async function printed(m, word, n) {
  const re = new RegExp(`^${word} (\\d+)$`, 'gm');
  await waitFor(() => [...m.stdout.matchAll(re)].length >= n, `${n} workers printing ${word}\n${m.stderr}`);
  return [...m.stdout.matchAll(re)].map((x) => Number(x[1]));
}

for (const [mode, word] of [
  ['no-run', 'IDLE'],
  ['spin', 'SPINNING'],
]) {
  test(`no orphan: workers that ${mode === 'spin' ? 'spin in top-level code' : 'never call run()'} die within ~1 s of a SIGKILLed master`, async (t) => {
    const port = await freePort();
    const m = Master.start(t, 'boot-faults.mjs', base(port), { env: { FIXTURE_MODE: mode } });
    const pids = await printed(m, word, 2);
    for (const pid of pids) assert.ok(isAlive(pid), `worker ${pid} runs`);
    m.signal('SIGKILL');
    const killed = Date.now();
    await m.exited;
    await waitFor(() => pids.every((pid) => !isAlive(pid)), `workers ${pids} to die with their master`, 1500, 10);
    t.diagnostic(`orphans gone ${Date.now() - killed} ms after the master's SIGKILL`);
  });
}

test('signals meant for the master (pkill -HUP -f server.js reaches the workers too) neither kill nor stop a worker that has not reached run()', async (t) => {
  const port = await freePort();
  const m = Master.start(t, 'boot-faults.mjs', base(port, { bootTimeout: 60_000 }), { env: { FIXTURE_MODE: 'no-run' } });
  const pids = await printed(m, 'IDLE', 2);
  const status = (pid) => readFileSync(`/proc/${pid}/status`, 'utf8');
  for (const sig of ['SIGHUP', 'SIGUSR2', 'SIGTTIN', 'SIGTTOU', 'SIGWINCH']) {
    for (const pid of pids) process.kill(pid, sig);
    // the signal has been acted on once it is no longer pending (or the process is gone)
    await waitFor(() => pids.every((pid) => !isAlive(pid) || /^ShdPnd:\s+0+$/m.test(status(pid)) && /^SigPnd:\s+0+$/m.test(status(pid))), `${sig} delivered`);
    for (const pid of pids) {
      assert.ok(isAlive(pid), `worker ${pid} survived ${sig}`);
      assert.doesNotMatch(status(pid), /^State:\s+[Tt]/m, `worker ${pid} was not stopped by ${sig}`);
    }
  }
});

test('a load() that blocks longer than timeout but less than bootTimeout boots: timeout applies once the worker serves', async (t) => {
  const port = await freePort();
  const m = Master.start(t, 'app.mjs', base(port, { workers: 1, timeout: 1000, bootTimeout: 10_000 }), { env: { FIXTURE_LOAD_BLOCK: '2500' } });
  await m.ready(1);
  assert.equal(m.all('worker_timeout').length, 0, m.stderr);
  assert.equal(m.all('spawn').length, 1, 'booted at the first attempt');
  assert.equal((await request(port, '/')).status, 200);
});

test('first generation never calls run(): the master halts with status 3 and a hint, no respawn loop', async (t) => {
  const port = await freePort();
  const m = Master.start(t, 'boot-faults.mjs', base(port, { bootTimeout: 1500 }), { env: { FIXTURE_MODE: 'no-run' } });
  await printed(m, 'IDLE', 1);
  const { code } = await m.exited;
  assert.equal(code, 3, m.stderr);
  assert.match(m.stderr, /did not call run\(\) within 1500 ms \(bootTimeout\) of starting: does the entry script call run\(\) in every process\?/);
  assert.match(m.stderr, /Reason: Worker failed to boot\./);
  assert.equal(m.all('spawn').length, 2, 'no worker was respawned');
  for (const pid of m.pids) assert.ok(!isAlive(pid), `${pid} is gone`);
  assert.ok(m.all('worker_timeout').every((e) => e.args[1].kind === 'boot'));
});

test('first generation spins in top-level code: WORKER TIMEOUT, then status 3 instead of a respawn loop', async (t) => {
  const port = await freePort();
  const m = Master.start(t, 'boot-faults.mjs', base(port, { timeout: 1000, bootTimeout: 1500, workers: 1 }), { env: { FIXTURE_MODE: 'spin' } });
  const [pid] = await printed(m, 'SPINNING', 1);
  const { code } = await m.exited;
  assert.equal(code, 3, m.stderr);
  assert.match(m.stderr, new RegExp(`WORKER TIMEOUT \\(pid:${pid}\\)`));
  assert.equal(m.all('spawn').length, 1);
  assert.ok(!isAlive(pid));
});

test('a replacement that never calls run() is retried once, then the master halts with status 3', async (t) => {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'arbiter-norun-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const flag = join(dir, 'skip-run');
  const m = Master.start(t, 'boot-faults.mjs', base(port, { bootTimeout: 1500 }), { env: { FIXTURE_NO_RUN_FILE: flag } });
  await m.ready(2);
  assert.equal((await request(port, '/')).body, 'ok');
  writeFileSync(flag, ''); // from now on, new workers do not call run()
  const [victim] = m.readyWorkers();
  process.kill(victim, 'SIGKILL');
  const { code } = await m.exited;
  assert.equal(code, 3, m.stderr);
  assert.equal((m.stderr.match(/did not call run\(\)/g) ?? []).length, 2, `one retry, then halt:\n${m.stderr}`);
  assert.equal(m.all('spawn').length, 4, 'two initial workers, the replacement and one retry');
  for (const pid of m.pids) if (pid !== m.pid) assert.ok(!isAlive(pid), `worker ${pid} is gone`);
});
