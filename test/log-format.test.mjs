// logFormat: 'json' — one JSON object per operator line; text stays gunicorn's format.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OperatorLog } from 'arbiter';
import { Master, freePort, request, waitFor } from './helpers.mjs';

function capture(format) {
  const lines = [];
  const log = new OperatorLog({ write: (l) => lines.push(l) }, 'info', format);
  return { log, lines };
}

test('text lines are gunicorn\'s, with or without structured fields', () => {
  const { log, lines } = capture('text');
  log.info('Booting worker with pid: 42', { worker: 42 });
  log.info('Booting worker with pid: 42');
  log.exception('Exception in worker', new Error('boom'), { worker: 42 });
  assert.match(lines[0], /^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}\] \[\d+\] \[INFO\] Booting worker with pid: 42\n$/);
  assert.equal(lines[0].slice(lines[0].indexOf(']')), lines[1].slice(lines[1].indexOf(']')), 'fields change nothing in text');
  assert.match(lines[2], /\[ERROR\] Exception in worker\nError: boom\n {4}at /, 'the stack follows on the next lines');
});

test('json lines: one object each, fields kept, the stack inside err', () => {
  const { log, lines } = capture('json');
  const err = Object.assign(new Error('boom'), { code: 'E_BOOM' });
  log.exception('Exception in worker', err, { worker: 42, msg: 'not overridden' });
  log.warning('multi\nline', { signal: 'SIGHUP', skipped: undefined });
  log.debug('below the level');
  assert.equal(lines.length, 2);
  for (const l of lines) assert.equal(l.indexOf('\n'), l.length - 1, 'exactly one newline, at the end');
  const [a, b] = lines.map((l) => JSON.parse(l));
  assert.deepEqual(Object.keys(a).slice(0, 4), ['time', 'level', 'pid', 'msg']);
  assert.ok(!Number.isNaN(Date.parse(a.time)) && a.time.endsWith('Z'), a.time);
  assert.equal(a.level, 'error');
  assert.equal(a.pid, process.pid);
  assert.equal(a.msg, 'Exception in worker');
  assert.equal(a.worker, 42);
  assert.equal(a.err.type, 'Error');
  assert.equal(a.err.message, 'boom');
  assert.equal(a.err.code, 'E_BOOM');
  assert.match(a.err.stack, /^Error: boom\n {4}at /);
  assert.equal(b.msg, 'multi', 'msg is one line');
  assert.equal(b.detail, 'line', 'the rest of a multi-line message');
  assert.equal(b.level, 'warning');
  assert.equal(b.signal, 'SIGHUP');
  assert.ok(!('skipped' in b));
});

test('json lines: a multi-line message with stack frames puts them in err.stack, never in msg; text keeps the lines', () => {
  const json = capture('json');
  json.log.critical('WORKER TIMEOUT (pid:7)\nJavaScript stack of the stalled thread:\n    at spin (/srv/app.mjs:2:3)', { worker: 7 });
  json.log.exception('Failed\nsecond line', new Error('boom'));
  const [a, b] = json.lines.map((l) => JSON.parse(l));
  assert.equal(a.msg, 'WORKER TIMEOUT (pid:7)');
  assert.deepEqual(a.err, { message: 'JavaScript stack of the stalled thread', stack: 'JavaScript stack of the stalled thread:\n    at spin (/srv/app.mjs:2:3)' });
  assert.ok(!('stack' in a) && !('detail' in a));
  assert.equal(b.msg, 'Failed');
  assert.equal(b.detail, 'second line');
  assert.equal(b.err.message, 'boom');
  const text = capture('text');
  text.log.critical('WORKER TIMEOUT (pid:7)\nJavaScript stack of the stalled thread:\n    at spin (/srv/app.mjs:2:3)');
  assert.match(text.lines[0], /\[CRITICAL\] WORKER TIMEOUT \(pid:7\)\nJavaScript stack of the stalled thread:\n {4}at spin \(\/srv\/app\.mjs:2:3\)\n$/);
});

test('logFormat json: every line of a master parses, through boot, a worker crash, HUP and TERM', async (t) => {
  const port = await freePort();
  const m = Master.start(t, 'app.mjs', { bind: `127.0.0.1:${port}`, workers: 2, logFormat: 'json', timeout: 5000, gracefulTimeout: 5000 });
  await m.ready(2);
  // /uncaught answers, then throws from a timer: the worker logs the stack and exits 1
  await request(port, '/uncaught');
  const [gone] = await m.waitForEvents('worker_exit', 1);
  const victim = gone.args[0].pid;
  await waitFor(() => m.readyWorkers().length === 2, 'a replacement worker');
  m.signal('SIGHUP');
  await m.waitForEvents('worker_ready', 5); // 2 at boot, 1 replacement, 2 of the new generation
  await waitFor(() => m.readyWorkers().length === 2, 'the old generation retired');
  m.signal('SIGTERM');
  const { code } = await m.exited;
  assert.equal(code, 0, m.stderr);

  const lines = m.stderr.split('\n').filter((l) => l !== '');
  const entries = lines.map((l, i) => {
    try {
      return JSON.parse(l);
    } catch {
      assert.fail(`line ${i + 1} is not JSON: ${l}\n--- all of stderr:\n${m.stderr}`);
    }
  });
  for (const e of entries) {
    assert.equal(typeof e.time, 'string');
    assert.ok(['debug', 'info', 'warning', 'error', 'critical'].includes(e.level), e.level);
    assert.equal(typeof e.pid, 'number');
    assert.equal(typeof e.msg, 'string');
  }
  const find = (re) => entries.filter((e) => re.test(e.msg));
  assert.equal(find(/^Starting arbiter /)[0].pid, m.pid);
  const booting = find(/^Booting worker with pid: /);
  assert.ok(booting.length >= 5);
  for (const e of booting) assert.equal(e.msg, `Booting worker with pid: ${e.worker}`);
  const crash = find(/^Uncaught exception in worker/)[0];
  assert.ok(crash, 'the crash is logged');
  assert.equal(crash.pid, victim);
  assert.equal(crash.level, 'error');
  assert.match(crash.err.stack, /uncaught boom\n {4}at /, 'the stack is kept, inside one line');
  const exited = find(new RegExp(`^Worker \\(pid:${victim}\\) exited with code 1$`))[0];
  assert.deepEqual([exited.worker, exited.code, exited.reason], [victim, 1, 'crash']);
  assert.deepEqual(find(/^Handling signal: /).map((e) => e.signal), ['SIGHUP', 'SIGTERM']);
  assert.ok(find(/^Shutting down: Master$/).length === 1);
});

test('logFormat json: WORKER TIMEOUT is one line, the stalled stack in err.stack only', async (t) => {
  const port = await freePort();
  const m = Master.start(t, 'faults.mjs', { bind: `127.0.0.1:${port}`, workers: 1, timeout: 2000, gracefulTimeout: 5000, logFormat: 'json' });
  await m.ready(1);
  await request(port, '/spin').catch(() => {});
  await m.waitForEvents('worker_timeout');
  await waitFor(() => m.readyWorkers().length === 1 && m.all('worker_exit').length === 1, 'a replacement');
  m.signal('SIGTERM');
  await m.exited;
  const entries = m.stderr.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l));
  for (const e of entries) assert.doesNotMatch(e.msg, /\n/, 'every msg is one line');
  const timeout = entries.find((e) => /^WORKER TIMEOUT/.test(e.msg));
  assert.match(timeout.msg, /^WORKER TIMEOUT \(pid:\d+\)$/);
  assert.equal(timeout.level, 'critical');
  assert.equal(timeout.reason, 'timeout');
  assert.match(timeout.err.stack, /^JavaScript stack of the stalled thread:\n {4}at spinForever \(\S*faults\.mjs:\d+:\d+\)/);
  assert.ok(!('stack' in timeout), 'not duplicated at the top level');
  assert.deepEqual(timeout.requests.map((r) => [r.method, r.path]), [['GET', '/spin']], 'the requests it cut, as a field');
  assert.ok(timeout.requests[0].ageMs >= 1000);
  assert.doesNotMatch(timeout.err.stack, /Requests in flight/, 'not in the stack text');
});
