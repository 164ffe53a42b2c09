// Adaptive workers (SPEC §12): the decision as a pure function (hysteresis, no flapping, bounds,
// the memory guard), the config's checks, and real masters scaling under CPU-bound load.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { decide, INITIAL_STATE, median, SCALE_UP_AFTER, BACKLOG_AFTER, SETTLE_AFTER } = require('../dist/cjs/master/scale-policy.js');
const { settledPool, clampToRange } = require('../dist/cjs/master/autoscale.js');
const { Arbiter, ArbiterError } = require('../dist/cjs/index.js');
const { resolveConfig, workerRange } = require('../dist/cjs/config.js'); // the bundle's copy is internal: the tree's module, as the bundle does
const { parseWorkersFlag } = require('../dist/cjs/config/adaptive.js');

const policy = { min: 1, max: 3, scaleUpAt: 0.75, scaleDownAt: 0.25, scaleDownAfter: 10_000 };
const sample = (over) => ({ saturation: 0.5, backlog: 0, target: 1, settled: true, headroom: null, medianRss: null, ...over });

/** Feeds one sample a second from t=`from` for `seconds`; returns every non-'none' decision with its time. */
function run(samples, { state = INITIAL_STATE, from = 100_000, p = policy } = {}) {
  const out = [];
  let t = from;
  for (const s of samples) {
    const r = decide(state, s, t, p);
    state = r.state;
    if (r.decision.action !== 'none') out.push({ t: t - from, ...r.decision });
    t += 1000;
  }
  return { out, state };
}
const repeat = (n, s) => Array.from({ length: n }, () => s);

test('scale up after saturation stays at or above scaleUpAt for 3 s, with the reason', () => {
  const { out } = run(repeat(6, sample({ saturation: 0.8 })));
  assert.equal(out.length, 1);
  assert.equal(out[0].action, 'up');
  assert.equal(out[0].reason, 'saturation');
  assert.equal(out[0].t, SCALE_UP_AFTER);
  assert.match(out[0].detail, /saturation 80% >= 75% for 3s/);
});

test('one sample below the threshold starts the window again (no decision on a load that dips)', () => {
  const wobble = [0.8, 0.8, 0.8, 0.7, 0.8, 0.8, 0.8, 0.7, 0.8, 0.8].map((saturation) => sample({ saturation }));
  assert.deepEqual(run(wobble).out, []);
});

test('a load right at a threshold does not flap: between the thresholds nothing happens, at one only that direction', () => {
  assert.deepEqual(run(repeat(120, sample({ saturation: 0.5, target: 2 }))).out, []);
  // exactly at scaleUpAt: up once (then the pool is unsettled while the worker boots, then quiet)
  const seq = [...repeat(4, sample({ saturation: 0.75, target: 2 })), ...repeat(2, sample({ target: 3, settled: false })), ...repeat(60, sample({ saturation: 0.5, target: 3 }))];
  const { out } = run(seq);
  assert.deepEqual(out.map((d) => d.action), ['up']);
});

test('after a change: no decision until the pool settles and SETTLE_AFTER has passed, then a fresh window', () => {
  const seq = [...repeat(4, sample({ saturation: 0.9, target: 1 })), ...repeat(3, sample({ saturation: 0.9, target: 2, settled: false })), ...repeat(9, sample({ saturation: 0.9, target: 2 }))];
  const { out } = run(seq);
  assert.deepEqual(out.map((d) => [d.action, d.t]), [
    ['up', 3000],
    // unsettled until t=6000, quiet for SETTLE_AFTER, then a whole new window of saturation
    ['up', 6000 + SETTLE_AFTER + SCALE_UP_AFTER],
  ]);
});

test('never beyond max, never below min', () => {
  assert.deepEqual(run(repeat(20, sample({ saturation: 1, target: 3 }))).out, []);
  assert.deepEqual(run(repeat(60, sample({ saturation: 0, target: 1 }))).out, []);
});

test('backlog above 0 for 2 s scales up, reason backlog, even with low saturation', () => {
  const { out } = run(repeat(4, sample({ saturation: 0.1, backlog: 3 })));
  assert.deepEqual(out.map((d) => [d.action, d.reason, d.t]), [['up', 'backlog', BACKLOG_AFTER]]);
  assert.match(out[0].detail, /3 connections waiting in the accept queue for 2s/);
  assert.deepEqual(run(repeat(4, sample({ saturation: 0.1, backlog: null }))).out, [], 'an unreadable backlog is not pressure');
});

test('scale down after scaleDownAfter of saturation at or below scaleDownAt (not while connections queue)', () => {
  const { out } = run(repeat(12, sample({ saturation: 0.1, target: 3 })));
  assert.deepEqual(out.map((d) => [d.action, d.reason, d.t]), [['down', 'idle', 10_000]]);
  assert.deepEqual(run([...repeat(6, sample({ saturation: 0.1, target: 3 })), sample({ saturation: 0.3, target: 3 }), ...repeat(6, sample({ saturation: 0.1, target: 3 }))]).out, [], 'a busier second restarts the quiet period');
  assert.deepEqual(run(repeat(4, sample({ saturation: 0.1, target: 2, backlog: 1 }))).out.map((d) => d.reason), ['backlog']);
});

test('memory guard: no scale-up while headroom < 1.5 × median RSS; reported once per episode', () => {
  const mb = 2 ** 20;
  const tight = sample({ saturation: 0.9, headroom: 140 * mb, medianRss: 100 * mb });
  const { out, state } = run(repeat(10, tight));
  assert.deepEqual(out.map((d) => [d.action, d.first]), [['blocked', true], ...repeat(6, ['blocked', false])]);
  // the pressure ends, then comes back: a new episode, reported again
  const again = run([sample({ saturation: 0.5 }), ...repeat(5, tight)], { state });
  assert.deepEqual(again.out.map((d) => [d.action, d.first]), [['blocked', true], ['blocked', false]]);
  // enough headroom: up
  assert.equal(run(repeat(4, sample({ saturation: 0.9, headroom: 151 * mb, medianRss: 100 * mb }))).out[0].action, 'up');
});

test('settledPool and clampToRange', () => {
  const w = (state, generation = 0, extra = {}) => ({ state, generation, ...extra });
  assert.equal(settledPool([w('ready'), w('ready')], 2, 0), true);
  assert.equal(settledPool([w('ready'), w('booting')], 2, 0), false);
  assert.equal(settledPool([w('ready'), w('ready'), w('retiring', 0, { reason: 'scale_down' })], 2, 0), false);
  assert.equal(settledPool([w('ready', 1), w('ready', 1), w('retiring', 0, { reason: 'reload' })], 2, 1), true);
  assert.equal(settledPool([w('ready'), w('spare', 0, { spare: true })], 1, 0), true);
  assert.equal(clampToRange(5, { min: 1, max: 3 }), 3);
  assert.equal(clampToRange(0, { min: 2, max: 3 }), 2);
  assert.equal(clampToRange(7, undefined), 7);
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 2, 3]), 2.5);
  assert.equal(median([]), null);
});

const make = (config) => new Arbiter({ config, load: () => () => {} });
const rejects = (config, re) => assert.throws(() => make(config), (err) => err instanceof ArbiterError && re.test(err.message), JSON.stringify(config));

test('config: workers { min, max } resolves to min with the range kept; thresholds validated with clear errors', () => {
  const a = make({ workers: { min: 2, max: 5 } });
  assert.equal(a.config.workers, 2);
  const resolved = resolveConfig({ workers: { min: 2, max: 5 } }, (v) => v);
  assert.deepEqual({ ...workerRange(resolved) }, { min: 2, max: 5 });
  assert.equal(workerRange(resolveConfig({ workers: 3 }, (v) => v)), undefined, 'a fixed number: no range');
  assert.deepEqual([a.config.scaleUpAt, a.config.scaleDownAt, a.config.scaleDownAfter], [0.75, 0.25, 30_000]);
  assert.ok(workerRange(resolveConfig({ workers: { min: 1, max: 'auto' } }, (v) => v)).max >= 1);
  assert.equal(make({ workers: { min: 1, max: 2 }, scaleDownAfter: '5s' }).config.scaleDownAfter, 5000);
  rejects({ workers: { min: 0, max: 3 } }, /^Expected `workers\.min` to be a positive integer, got 0 \(number\)$/);
  rejects({ workers: { min: 4, max: 3 } }, /^Expected `workers\.max` to be at least workers\.min \(4\), got 3 \(number\)$/);
  rejects({ workers: { min: 1, max: 2000 } }, /`workers\.max` to be at most 1024 \(the limit on workers per master\), got 2000/);
  rejects({ workers: { min: 1 } }, /`workers\.max` to be a positive integer or "auto", got undefined/);
  rejects({ workers: { min: 1, max: 2, step: 1 } }, /`workers` to be a number, "auto" or \{ min, max \}/);
  rejects({ scaleUpAt: 1.5 }, /^Expected `scaleUpAt` to be a number from 0 to 1, got 1\.5 \(number\)$/);
  rejects({ scaleDownAt: 'x' }, /`scaleDownAt` to be a number from 0 to 1, got "x"/);
  rejects({ scaleUpAt: 0.5, scaleDownAt: 0.5 }, /^Expected `scaleDownAt` to be below scaleUpAt \(0\.5\), so that a steady load cannot make the count flap, got 0\.5 \(number\)$/);
  rejects({ scaleDownAfter: 0 }, /`scaleDownAfter` to be a positive integer \(milliseconds\)/);
});

test('CLI -w MIN:MAX', () => {
  assert.deepEqual(parseWorkersFlag('2:8'), { min: 2, max: 8 });
  assert.deepEqual(parseWorkersFlag('1:auto'), { min: 1, max: 'auto' });
  assert.equal(parseWorkersFlag('4'), 4);
  assert.equal(parseWorkersFlag('auto'), 'auto');
  assert.equal(parseWorkersFlag('2:'), '2:');
});
