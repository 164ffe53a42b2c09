// Unit tests for spawn waves (spawn-waves.ts): how many processes start at once.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRequire } from 'node:module';

const { MAX_STARTING, startingRoom, usableSlots, nothingLeft, waveMessage } = createRequire(import.meta.url)('../dist/cjs/master/spawn-waves.js');

const w = (state, extra = {}) => ({ state, spare: false, ...extra });

test('at least 2 processes may start at once', () => {
  assert.ok(MAX_STARTING >= 2);
});

test('room: only processes that have not reached run() count', () => {
  assert.equal(startingRoom([w('booting'), w('booting', { ran: true }), w('ready')], 4), 3);
  assert.equal(startingRoom([w('booting'), w('booting'), w('booting')], 2), -1);
});

test('usable slots: the room, plus one per warm spare and per slot in backoff', () => {
  assert.equal(usableSlots([w('spare', { spare: true }), w('booting', { spare: true }), w('ready')], 2, 1), 4);
  assert.equal(usableSlots([], -3, 0), 0, 'over the limit: none');
});

test('after a failed reload, spawning resumes only with nothing left to serve', () => {
  assert.equal(nothingLeft([w('retiring'), w('timed_out')]), true);
  assert.equal(nothingLeft([w('retiring'), w('spare', { spare: true })]), false);
  assert.equal(nothingLeft([w('booting')]), false);
});

test('the wave line says how many wait for the next wave', () => {
  assert.equal(waveMessage(1, 0, 0, 4), 'Spawn wave: 1 worker of generation 0 started');
  assert.equal(waveMessage(4, 2, 60, 4), 'Spawn wave: 4 workers of generation 2 started, 60 more once these reach run() (at most 4 start at once)');
});
