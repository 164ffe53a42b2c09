// Unit tests for restart backoff (backoff.ts): pure decisions per slot, times given.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRequire } from 'node:module';

const { RestartBackoff, backoffDelay, QUICK_DEATH } = createRequire(import.meta.url)('../dist/cjs/master/backoff.js');

test('backoff: none for the first quick death, then 100 ms doubling up to 10 s', () => {
  assert.deepEqual([1, 2, 3, 4, 8, 9, 30].map(backoffDelay), [0, 100, 200, 400, 6400, 10_000, 10_000]);
});

test('backoff per slot: quick deaths wait, a long life resets the slot', () => {
  const b = new RestartBackoff();
  assert.deepEqual(b.noteDeath(0, 10, 1000), { quick: true, deaths: 1, delay: 0 });
  assert.equal(b.waiting(0, 1000), false);
  assert.deepEqual(b.noteDeath(0, 10, 2000), { quick: true, deaths: 2, delay: 100 });
  assert.equal(b.waiting(0, 2050), true);
  assert.equal(b.waiting(1, 2050), false, 'another slot is not held back');
  assert.equal(b.waitingCount(2050), 1);
  assert.equal(b.nextDue(2050), 2100);
  assert.equal(b.waiting(0, 2100), false);
  assert.equal(b.nextDue(2100), Infinity);
  assert.deepEqual(b.noteDeath(0, 10, 3000), { quick: true, deaths: 3, delay: 200 });
  assert.deepEqual(b.noteDeath(0, QUICK_DEATH, 4000), { quick: false, reset: true });
  assert.deepEqual(b.noteDeath(0, 10, 5000), { quick: true, deaths: 1, delay: 0 });
  assert.deepEqual(b.noteDeath(2, QUICK_DEATH + 1, 5000), { quick: false, reset: false });
});
