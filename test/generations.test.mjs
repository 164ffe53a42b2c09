// Unit tests for the reload generations (generations.ts): rollback, settle, generation_ready.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRequire } from 'node:module';

const { Generations, fallbackGeneration, reloadFailedMessage, reloadedConfig, reloadedListeners, configErrorDetail } = createRequire(import.meta.url)('../dist/cjs/master/generations.js');

const w = (pid, generation, state = 'ready', extra = {}) => ({ pid, generation, state, spare: false, ...extra });
const proven = (name) => ({ config: { name }, listeners: [name], threads: 0, target: 2 });

test('a failed reload falls back to the newest older generation with a ready worker', () => {
  assert.equal(fallbackGeneration([w(1, 0), w(2, 1), w(3, 2, 'booting')], 2), 1);
  assert.equal(fallbackGeneration([w(1, 0, 'booting'), w(3, 2)], 2), -1, 'nothing ready to fall back to');
});

test('rollback: the previous generation is current again, spawning pauses until the next reload', () => {
  const g = new Generations();
  assert.equal(g.start(proven('old')), 1);
  const workers = [w(1, 0), w(2, 0), w(3, 1, 'booting'), w(4, 1, 'retiring')];
  assert.equal(g.rollback(0, workers), undefined, 'only the current generation rolls back');
  const r = g.rollback(1, workers);
  assert.deepEqual({ ...r, abandon: r.abandon.map((x) => x.pid) }, { failed: 1, fallback: 0, restore: proven('old'), abandon: [3], kept: 2 });
  assert.equal(g.current, 0);
  assert.equal(g.spawnPaused, true);
  assert.deepEqual(g.keptListeners, []);
  assert.equal(g.start(proven('again')), 2, 'numbers are never reused');
  assert.equal(g.spawnPaused, false);
});

test('no rollback without a ready older generation', () => {
  const g = new Generations();
  g.start(proven('old'));
  assert.equal(g.rollback(1, [w(3, 1, 'booting')]), undefined);
  assert.equal(g.current, 1);
  assert.equal(g.spawnPaused, false);
});

test('settle: once no older worker is live, the kept state goes', () => {
  const g = new Generations();
  assert.equal(g.settle([w(1, 0)]), undefined, 'no reload: nothing to settle');
  g.start(proven('old'));
  assert.deepEqual(g.keptListeners, ['old']);
  assert.equal(g.settle([w(1, 0), w(2, 1)]), undefined);
  assert.deepEqual(g.settle([w(1, 0, 'retiring', { reason: 'reload' }), w(2, 1), w(3, 1, 'booting')]), { previous: proven('old'), workers: 2, retired: 1 });
  assert.equal(g.settle([w(2, 1)]), undefined, 'once');
});

test('stacked reloads keep the first proven state; a config error uses a number up', () => {
  const g = new Generations();
  g.start(proven('first'));
  g.start(proven('second'));
  assert.deepEqual(g.keptListeners, ['first']);
  assert.equal(g.skip(), 3);
  assert.equal(g.current, 2);
});

test('generation_ready once per generation, when the target count is ready (spares not counted)', () => {
  const g = new Generations();
  assert.equal(g.whole([w(1, 0), w(2, 0, 'booting')], 2), undefined);
  assert.equal(g.whole([w(1, 0), w(2, 0, 'ready', { spare: true })], 2), undefined);
  assert.equal(g.whole([w(1, 0), w(2, 0)], 2), 2);
  assert.equal(g.whole([w(1, 0), w(2, 0)], 2), undefined, 'once');
  assert.equal(g.whole([], 0), undefined);
});

test('the reload-failed line says why and what keeps serving', () => {
  assert.equal(
    reloadFailedMessage('boot_timeout', undefined, 2, 3000),
    'Reload failed: a worker was not ready within bootTimeout (3000 ms). Keeping the 2 workers of the previous generation; fix the code and send HUP again.',
  );
  assert.match(reloadFailedMessage('app_load_error', "SyntaxError: Unexpected token (app.js:3)", 1, 0), /^Reload failed: the app failed to load: SyntaxError: Unexpected token \(app.js:3\)\. Keeping the 1 workers/);
});

test('a reload applies the options it may change, and keeps the others', () => {
  const current = Object.freeze({ bind: ['a'], workers: 1, threads: 1, user: 'www', pidfile: '/run/x.pid' });
  const fresh = { bind: ['b'], backlog: 64, workers: 3, threads: 2, timeout: 1, gracefulTimeout: 2, bootTimeout: 3, spareWorkers: 0, env: {}, procName: 'p', maxWorkerMemory: 0, user: 'root', inThreads: true };
  const next = reloadedConfig(current, fresh);
  assert.ok(Object.isFrozen(next));
  assert.equal(next.workers, 3);
  assert.deepEqual(next.bind, ['b']);
  assert.equal(next.user, 'www', 'user needs a restart');
  assert.equal(next.pidfile, '/run/x.pid');
  assert.equal('inThreads' in next, false);
});

test('reloaded listeners: in bind order, open ones kept, a host name keeps all its addresses', () => {
  const l = (spec, url) => ({ spec, url });
  const a1 = l('host:80', 'a1'), a2 = l('host:80', 'a2'), b = l(':81', 'b'), c = l(':82', 'c');
  assert.deepEqual(reloadedListeners([':82', 'host:80'], [a1, a2, b], [c, l('host:80', 'new')]), [c, a1, a2]);
});

test('a config error is reported by its first line, without the arbiter: prefix', () => {
  assert.equal(configErrorDetail(new Error('arbiter: Expected `workers` to be a positive integer, got 0\n    at x')), 'Expected `workers` to be a positive integer, got 0');
  assert.equal(configErrorDetail('\nplain'), 'plain');
});
