// Unit tests for the loop's decisions (manage_workers as a pure function).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRequire } from 'node:module';

const { planWorkers } = createRequire(import.meta.url)('../dist/cjs/master/plan.js');

const w = (pid, age, slot, generation = 0, state = 'ready') => ({ pid, age, slot, generation, state });

test('spawns up to the target into the lowest free slots', () => {
  assert.deepEqual(planWorkers([], 3, 0), { spawn: [0, 1, 2], retire: [] });
  assert.deepEqual(planWorkers([w(10, 1, 0), w(12, 3, 2)], 3, 0), { spawn: [1], retire: [] });
});

test('retires the oldest surplus', () => {
  const plan = planWorkers([w(12, 3, 2), w(10, 1, 0), w(11, 2, 1)], 1, 0);
  assert.deepEqual(plan, { spawn: [], retire: [{ pid: 10, reason: 'scale_down' }, { pid: 11, reason: 'scale_down' }] });
});

test('workers on their way out are not counted', () => {
  const plan = planWorkers([w(10, 1, 0, 0, 'retiring'), w(11, 2, 1, 0, 'timed_out'), w(12, 3, 2, 0, 'exited')], 2, 0);
  assert.deepEqual(plan.spawn, [0, 1]);
  assert.deepEqual(plan.retire, []);
});

test('reload: old workers retire only once the whole new generation is ready', () => {
  const old = [w(10, 1, 0, 0), w(11, 2, 1, 0)];
  assert.deepEqual(planWorkers(old, 2, 1), { spawn: [0, 1], retire: [] });
  const booting = [...old, w(20, 3, 0, 1, 'booting'), w(21, 4, 1, 1, 'booting')];
  assert.deepEqual(planWorkers(booting, 2, 1).retire, []);
  const oneReady = [...old, w(20, 3, 0, 1, 'ready'), w(21, 4, 1, 1, 'booting')];
  assert.deepEqual(planWorkers(oneReady, 2, 1).retire, [], 'a half-ready generation could still fail');
  const allReady = [...old, w(20, 3, 0, 1), w(21, 4, 1, 1)];
  assert.deepEqual(planWorkers(allReady, 2, 1).retire, [{ pid: 10, reason: 'reload' }, { pid: 11, reason: 'reload' }]);
});

test('a crashed worker is replaced in its own slot', () => {
  assert.deepEqual(planWorkers([w(10, 1, 0), w(12, 3, 2)], 3, 0).spawn, [1]);
});

test('maxWorkerMemory: a worker marked recycle is replaced in its slot first, then retired (memory)', () => {
  const over = { ...w(10, 1, 0), recycle: true };
  assert.deepEqual(planWorkers([over, w(11, 2, 1)], 2, 0), { spawn: [0], retire: [] }, 'the replacement first');
  assert.deepEqual(planWorkers([over, w(11, 2, 1), w(12, 3, 0, 0, 'booting')], 2, 0), { spawn: [], retire: [] }, 'kept while the replacement boots');
  assert.deepEqual(planWorkers([over, w(11, 2, 1), w(12, 3, 0)], 2, 0), { spawn: [], retire: [{ pid: 10, reason: 'memory' }] });
});

test('a huge target costs nothing: the plan lists only the slots the caller can start now', () => {
  const started = performance.now();
  const plan = planWorkers([w(10, 1, 0), w(11, 2, 2)], 1_000_000_000, 0, 4);
  assert.deepEqual(plan, { spawn: [1, 3, 4, 5], retire: [] });
  assert.ok(performance.now() - started < 100, 'not one step per requested worker');
});
