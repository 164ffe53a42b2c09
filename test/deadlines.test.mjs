// Unit tests for the pure parts of the workers' deadlines (deadlines.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRequire } from 'node:module';

const { nextDeadline, isHung, timeoutMessage } = createRequire(import.meta.url)('../dist/cjs/master/deadlines.js');

test('the next deadline: the earliest SIGKILL not sent yet or ready-by', () => {
  assert.equal(nextDeadline([]), Infinity);
  assert.equal(nextDeadline([{ killAt: 50, killSent: false }, { readyBy: 70, killSent: false }]), 50);
  assert.equal(nextDeadline([{ killAt: 50, killSent: true }, { readyBy: 70, killSent: false }]), 70, 'a SIGKILL sent is no deadline');
});

test('a worker that missed run() hangs without a watchdog or a recent beat; else it never called run()', () => {
  assert.equal(isHung(undefined, 30_000), true);
  assert.equal(isHung({ heartbeatAge: 15_000 }, 30_000), true);
  assert.equal(isHung({ heartbeatAge: 200 }, 30_000), false);
  assert.equal(isHung({ heartbeatAge: 999 }, 1000), false, 'at least a second without a beat');
  assert.equal(isHung({ heartbeatAge: 60_000 }, 0), false, 'timeout 0: heartbeats are not checked');
});

test('WORKER TIMEOUT names the stalled thread and carries its stack, or why there is none', () => {
  assert.equal(timeoutMessage(9, undefined), 'WORKER TIMEOUT (pid:9)');
  assert.equal(timeoutMessage(9, { t: 'stalled', slot: 0, ms: 1, stack: 'at spin (app.js:1)' }), 'WORKER TIMEOUT (pid:9)\nJavaScript stack of the stalled thread:\nat spin (app.js:1)');
  assert.equal(timeoutMessage(9, { t: 'stalled', slot: 2, ms: 1, noStack: 'inspector busy' }), 'WORKER TIMEOUT (pid:9)\nNo JavaScript stack (serving thread 2): inspector busy');
});

test('a worker that never reaches run(): halt before any worker was ready, else retry once', () => {
  const { BootFailures } = createRequire(import.meta.url)('../dist/cjs/master/deadlines.js');
  const b = new BootFailures();
  assert.equal(b.failed(), true, 'nothing ever served: halt');
  const c = new BootFailures();
  c.ready();
  assert.equal(c.failed(), false, 'a passing failure: one retry');
  assert.equal(c.failed(), true, 'twice in a row: halt');
  const d = new BootFailures();
  d.ready();
  d.failed();
  d.ran();
  assert.equal(d.failed(), false, 'a worker reached run() in between');
});
