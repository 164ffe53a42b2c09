// Unit tests for the supervisor's startup, spawn options and stop decisions (startup.ts,
// spawn-options.ts, shutdown.ts), and the pure parts of a worker's exit (exit-reason.ts bootExit,
// backoff.ts deathLine).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { startupLines, FirstSpawnHold } = require('../dist/cjs/master/startup.js');
const { spawnOptions } = require('../dist/cjs/master/spawn-options.js');
const { stopStep, stopWorker, stopWorkers } = require('../dist/cjs/master/shutdown.js');
const { bootExit } = require('../dist/cjs/master/exit-reason.js');
const { deathLine } = require('../dist/cjs/master/backoff.js');
const { APP_LOAD_ERROR, WORKER_BOOT_ERROR } = require('../dist/cjs/protocol.js');

const facts = { nothingBound: false, bind: ['127.0.0.1:8000'], workerClass: 'async', auto: undefined, identity: undefined, warnings: [] };

test('startup lines: the model always; auto count, identity, warnings and "No bind given" when they apply', () => {
  assert.deepEqual(startupLines(facts), [{ level: 'info', message: 'Using worker: async', fields: { workerClass: 'async' } }]);
  const all = startupLines({ ...facts, nothingBound: true, auto: { count: 1, how: '1 CPU' }, identity: 'user nobody (uid 65534), group nogroup (gid 65534)', warnings: ['threads is ignored'] });
  assert.deepEqual(
    all.map((l) => `${l.level}: ${l.message}`),
    [
      "info: No bind given: the app's own listen() calls choose the addresses (an exported handler is served on 127.0.0.1:8000)",
      'info: Using worker: async',
      "info: Using 1 worker (workers: 'auto': 1 CPU)",
      'info: Workers run as user nobody (uid 65534), group nogroup (gid 65534)',
      'warning: threads is ignored',
    ],
  );
  assert.equal(startupLines({ ...facts, auto: { count: 4, how: '4 CPUs' } })[1].message, "Using 4 workers (workers: 'auto': 4 CPUs)");
});

test('the first spawn waits for every hold, a failed one included', async () => {
  const hold = new FirstSpawnHold();
  assert.equal(hold.pending, false);
  let release;
  hold.add(new Promise((r) => (release = r)));
  hold.add(Promise.reject(new Error('status server failed'))); // its owner reports it
  assert.equal(hold.pending, true);
  const waited = hold.wait();
  assert.equal(hold.holding, true);
  let done = false;
  void waited.then(() => (done = true));
  await new Promise((r) => setImmediate(r));
  assert.equal(done, false, 'still waiting for the first hold');
  release();
  await waited;
  assert.equal(hold.holding, false);
  assert.equal(hold.pending, false);
});

const config = { env: { A: '1' }, timeout: 30_000, bootTimeout: 0, maxWorkerMemory: 0, umask: null };
const input = { age: 3, slot: 1, generation: 2, spare: false, config, listeners: [{ fd: 10 }, { fd: 11 }], threads: 0, identity: { uid: undefined, gid: undefined, description: undefined }, balance: undefined, bindOnDemand: false };

test('spawn options: one copy of the fds and one heartbeat slot when the main thread serves', () => {
  assert.deepEqual(spawnOptions(input), {
    age: 3, slot: 1, generation: 2, fds: [10, 11], copies: 1, slots: 1, env: { A: '1' }, timeout: 30_000, bootTimeout: 0,
    maxMemory: 0, uid: undefined, gid: undefined, umask: undefined, balance: undefined, spare: false, bindOnDemand: false,
  });
});

test('spawn options: a copy of the fds per serving thread, identity, umask, on-demand only while nothing is bound', () => {
  const o = spawnOptions({ ...input, threads: 4, identity: { uid: 65534, gid: 65534, description: 'x' }, config: { ...config, umask: 0o22 }, spare: true, bindOnDemand: true });
  assert.deepEqual([o.copies, o.slots, o.uid, o.gid, o.umask, o.spare, o.bindOnDemand], [4, 5, 65534, 65534, 0o22, true, false]);
  assert.equal(spawnOptions({ ...input, listeners: [], bindOnDemand: true }).bindOnDemand, true);
});

test('a stop by phase: halt before run(), nothing once halted, escalate one under way', () => {
  assert.deepEqual(['new', 'starting', 'running', 'stopping', 'halted'].map(stopStep), ['halt', 'begin', 'begin', 'escalate', 'none']);
});

test('a stop per worker: TERM or QUIT with gracefulTimeout; an escalation keeps the earlier deadline; gone or killed ones are left', () => {
  assert.deepEqual(stopWorker({ state: 'ready', killAt: undefined }, true, false, 100.3, 1500), { signal: 'SIGTERM', killAt: 1600.3, grace: 1500 });
  assert.deepEqual(stopWorker({ state: 'retiring', killAt: 500 }, false, false, 100, 30_000), { signal: 'SIGQUIT', killAt: 30_100, grace: 30_000 }, 'a first stop resets a retiring worker\'s deadline');
  assert.deepEqual(stopWorker({ state: 'retiring', killAt: 500.9 }, false, true, 100, 30_000), { signal: 'SIGQUIT', killAt: 500.9, grace: 400 });
  assert.deepEqual(stopWorker({ state: 'retiring', killAt: 50 }, false, true, 100, 30_000), { signal: 'SIGQUIT', killAt: 50, grace: 0 });
  assert.deepEqual(stopWorker({ state: 'retiring', killAt: undefined }, false, true, 100, 30_000), { signal: 'SIGQUIT', killAt: 30_100, grace: 30_000 });
  assert.equal(stopWorker({ state: 'ready', killAt: 500 }, true, true, 100, 30_000), undefined, 'a second graceful stop changes nothing');
  assert.equal(stopWorker({ state: 'timed_out', killAt: 500 }, false, false, 100, 30_000), undefined);
  assert.equal(stopWorker({ state: 'exited', killAt: undefined }, true, false, 100, 30_000), undefined);
});

test('stopWorkers: each retires with reason shutdown unless it had one, is told its grace, then gets its signal', () => {
  const sent = [];
  const w = (pid, state, reason, killAt) => ({ pid, state, reason, killAt, killSent: false, handle: { kill: (s) => sent.push([pid, s]), send: (msg) => sent.push([pid, msg]) } });
  const workers = [w(1, 'ready'), w(2, 'retiring', 'reload'), w(3, 'timed_out'), w(4, 'booting')];
  stopWorkers(workers, true, false, 0, 1000);
  const grace = { cmd: 'grace', ms: 1000 };
  assert.deepEqual(sent, [[1, grace], [1, 'SIGTERM'], [2, grace], [2, 'SIGTERM'], [4, grace], [4, 'SIGTERM']]);
  assert.deepEqual(workers.map((x) => [x.state, x.reason, x.killAt]), [['retiring', 'shutdown', 1000], ['retiring', 'reload', 1000], ['timed_out', undefined, undefined], ['retiring', 'shutdown', 1000]]);
  sent.length = 0;
  stopWorkers([w(5, 'retiring', 'shutdown', 700)], false, true, 500, 1000); // an escalation: what is left of the first deadline
  assert.deepEqual(sent, [[5, { cmd: 'grace', ms: 200 }], [5, 'SIGQUIT']]);
});

test('a worker that failed before it was ready: what may roll back, and the halt otherwise', () => {
  assert.deepEqual(bootExit('app_load_error', 'SyntaxError at app.js:3'), { rollback: 'app_load_error', halt: { code: APP_LOAD_ERROR, why: 'App failed to load: SyntaxError at app.js:3.' } });
  assert.deepEqual(bootExit('app_load_error', undefined).halt.why, 'App failed to load.');
  assert.deepEqual(bootExit('boot_error', undefined), { rollback: 'boot_error', halt: { code: WORKER_BOOT_ERROR, why: 'Worker failed to boot.' } });
  assert.deepEqual(bootExit('crash', undefined), { rollback: 'crash', halt: undefined }, 'a crash is replaced');
  assert.deepEqual(bootExit('exit', undefined), { rollback: undefined, halt: undefined });
});

test('restart backoff lines: a warning only once a respawn waits', () => {
  assert.deepEqual(deathLine({ quick: false, reset: true }, 2, 9000), { level: 'debug', message: 'Slot 2: its worker lived 9000 ms: respawning at once (restart backoff reset)' });
  assert.equal(deathLine({ quick: true, deaths: 1, delay: 0 }, 2, 30).level, 'debug');
  assert.deepEqual(deathLine({ quick: true, deaths: 3, delay: 200 }, 2, 30), { level: 'warning', message: 'Worker in slot 2 died 3 times in a row within 5000 ms of starting: respawning in 200 ms' });
});
