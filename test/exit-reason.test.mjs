// Unit tests for classifying a reaped worker (exit-reason.ts): its ExitReason and the log lines.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { classifyExit } = require('../dist/cjs/master/exit-reason.js');
const { APP_LOAD_ERROR, WORKER_BOOT_ERROR } = require('../dist/cjs/protocol.js');

const exit = (over) => classifyExit({ pid: 7, code: 0, signal: null, asked: undefined, wasBooting: false, killSent: false, ...over });

test('the worker\'s own load and boot statuses come first, whatever the master asked', () => {
  assert.equal(exit({ code: APP_LOAD_ERROR, asked: 'reload' }).reason, 'app_load_error');
  assert.equal(exit({ code: WORKER_BOOT_ERROR, asked: 'shutdown' }).reason, 'boot_error');
});

test('an exit the master asked for keeps its reason and logs nothing', () => {
  assert.deepEqual(exit({ asked: 'scale_down' }), { reason: 'scale_down', lines: [] });
  assert.deepEqual(exit({ asked: 'shutdown', code: null, signal: 'SIGTERM' }), { reason: 'shutdown', lines: [] });
});

test('on its own: exit, crash, or boot_error before it booted', () => {
  assert.deepEqual(exit({}), { reason: 'exit', lines: [] });
  const crash = exit({ code: 1 });
  assert.equal(crash.reason, 'crash');
  assert.deepEqual(crash.lines, [{ message: 'Worker (pid:7) exited with code 1', fields: { worker: 7, code: 1, signal: null, reason: 'crash' } }]);
  const early = exit({ wasBooting: true });
  assert.equal(early.reason, 'boot_error');
  assert.match(early.lines[0].message, /exited before it booted: does the entry script call run\(\) in every process\?/);
  assert.equal(exit({ wasBooting: true, code: null, signal: 'SIGSEGV' }).reason, 'crash', 'a signal while booting is a crash');
});

test('signals: SIGKILL nobody sent is "out of memory?", others are named', () => {
  assert.equal(exit({ code: null, signal: 'SIGKILL' }).lines[0].message, 'Worker (pid:7) was sent SIGKILL! Perhaps out of memory?');
  assert.deepEqual(exit({ code: null, signal: 'SIGKILL', killSent: true, asked: 'memory' }).lines, []);
  assert.deepEqual(exit({ code: null, signal: 'SIGKILL', asked: 'timeout' }).lines, [], 'a timeout was logged when it happened');
  assert.equal(exit({ code: null, signal: 'SIGSEGV' }).lines[0].message, 'Worker (pid:7) was sent SIGSEGV!');
  assert.deepEqual(exit({ code: 1, asked: 'timeout' }).lines, []);
});
