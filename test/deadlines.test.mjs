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

test('WORKER TIMEOUT lists the requests in flight (at most 10, then how many more), none, or leaves them to the JSON field', () => {
  const r = (i) => ({ method: 'GET', path: `/r${i}`, ageMs: 100 - i });
  const stall = { t: 'stalled', slot: 0, ms: 1, stack: 'at spin (app.js:1)', requests: [{ method: 'POST', path: '/orders', ageMs: 31012, requestId: '7f3a' }] };
  assert.equal(timeoutMessage(9, stall), 'WORKER TIMEOUT (pid:9)\nRequests in flight:\n  POST /orders (31012 ms, x-request-id 7f3a)\nJavaScript stack of the stalled thread:\nat spin (app.js:1)');
  assert.equal(timeoutMessage(9, stall, false), 'WORKER TIMEOUT (pid:9)\nJavaScript stack of the stalled thread:\nat spin (app.js:1)');
  assert.equal(timeoutMessage(9, { t: 'stalled', slot: 1, ms: 1, requests: [] }), 'WORKER TIMEOUT (pid:9)\nNo request in flight (serving thread 1)');
  const many = timeoutMessage(9, { t: 'stalled', slot: 0, ms: 1, requests: Array.from({ length: 12 }, (_, i) => r(i)), more: 3 });
  assert.equal(many.split('\n').filter((l) => l.startsWith('  GET ')).length, 10);
  assert.match(many, /\n  GET \/r9 \(91 ms\)\n  … and 5 more$/);
});

test('the in-flight table: a request is listed from begin to end, without its query; a full table counts the rest', () => {
  const { inflightBuffer, InflightWriter, readInflight, ENTRIES, TEXT_BYTES } = createRequire(import.meta.url)('../dist/cjs/worker/inflight.js');
  const buf = inflightBuffer(2);
  const main = new InflightWriter(buf, 0);
  const thread = new InflightWriter(buf, 1);
  const read = (slot) => readInflight(buf, slot, Date.now(), ENTRIES, TEXT_BYTES);
  const a = main.begin({ method: 'GET', url: '/a?token=x', headers: { 'x-request-id': 'id-1' } });
  const b = thread.begin({ method: 'PUT', url: '/b/ü', headers: {} });
  assert.deepEqual(read(0).requests.map(({ ageMs, ...x }) => x), [{ method: 'GET', path: '/a', requestId: 'id-1' }]);
  assert.deepEqual(read(1).requests.map(({ ageMs, ...x }) => x), [{ method: 'PUT', path: '/b/ü' }]);
  main.end(a);
  thread.end(b);
  assert.deepEqual([read(0), read(1)], [{ requests: [], more: 0 }, { requests: [], more: 0 }]);
  const long = main.begin({ method: 'GET', url: `/${'x'.repeat(1000)}`, headers: {} });
  assert.equal(read(0).requests[0].path.length, TEXT_BYTES - 4, 'cut to the entry');
  main.end(long);
  const entries = Array.from({ length: ENTRIES + 2 }, (_, i) => main.begin({ method: 'GET', url: `/${i}`, headers: {} }));
  assert.equal(read(0).requests.length, ENTRIES);
  assert.equal(read(0).more, 2);
  for (const e of entries) main.end(e);
  assert.deepEqual(read(0), { requests: [], more: 0 });
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
