// Seeing it live (SPEC §13): `arbiter events` over the control socket's `subscribe`, against real masters.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { test } from 'node:test';
import { createRequire } from 'node:module';
import { APP, BIN, cli, json, runtimeDir, serve } from './cli-helpers.mjs';
import { freePort, isAlive, Master, request, waitFor } from './helpers.mjs';

const { formatEvent } = createRequire(import.meta.url)('../dist/cjs/control/feed.js');

/** Starts a long-running `arbiter <args>`: `c.lines` (stdout), `c.stderr`, `c.exited` ({ code, signal }); killed at the test's end. */
function follow(t, args, env) {
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const c = { child, stdout: '', stderr: '', get lines() { return c.stdout.split('\n').filter(Boolean); } };
  child.stdout.on('data', (d) => (c.stdout += d));
  child.stderr.on('data', (d) => (c.stderr += d));
  c.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  t.after(() => {
    if (isAlive(child.pid)) child.kill('SIGKILL');
  });
  return c;
}

/** GET `path` with an x-request-id, never awaited (its worker hangs); destroyed at the test's end. */
function hangingRequest(t, port, path, id) {
  const req = http.get({ host: '127.0.0.1', port, path, headers: { 'x-request-id': id }, agent: false });
  req.on('error', () => {});
  t.after(() => req.destroy());
}

test('arbiter events: one line per lifecycle event (scale, timeout with its frame and request, reload, control actions, stop), JSON lines with --json; exit 0 when the master stops', async (t) => {
  const env = { XDG_RUNTIME_DIR: runtimeDir(t) };
  const port = await freePort();
  const m = serve(t, ['-w', '1', '-t', '2', '-b', `127.0.0.1:${port}`, APP], env);
  await m.until(1);
  const text = follow(t, ['events'], env);
  const json = follow(t, ['events', '--json'], env);
  await waitFor(() => /^Following master \d+ \(http:\/\/127\.0\.0\.1:\d+\); Ctrl-C to stop$/m.test(text.stderr), () => `the header: ${text.stderr}`, 20_000);
  const events = () => json.lines.map((l) => JSON.parse(l));
  const seen = (pred, what) => waitFor(() => events().find(pred), () => `${what} in ${json.stdout}\n${json.stderr}`, 30_000);
  // --json subscribes too: its first event is the control line of the first action below.
  let r = await cli(['scale', '2'], { env });
  assert.equal(r.code, 0, r.stderr);
  const scaled = await seen((e) => e.type === 'scale', 'scale');
  assert.deepEqual([scaled.previous, scaled.target], [1, 2]);
  const control = events().find((e) => e.type === 'control');
  assert.equal(control.action, 'scale 1 -> 2');
  assert.match(control.client, /^pid \d+/);
  await m.until(2);
  await seen((e) => e.type === 'ready' && e.worker.slot === 1, 'the second worker ready');

  hangingRequest(t, port, '/block?ms=60000&token=x', 'trace-9');
  const timeout = await seen((e) => e.type === 'timeout', 'a timeout');
  assert.equal(timeout.kind, 'heartbeat');
  assert.match(timeout.frame, /^at (AsyncWorker\.)?handler \(file:\/\/\S+\/cli\/app\.mjs:\d+:\d+\)$/);
  assert.deepEqual(timeout.requests.map(({ ageMs, ...x }) => x), [{ method: 'GET', path: '/block', requestId: 'trace-9' }]);
  const died = await seen((e) => e.type === 'exit' && e.worker.pid === timeout.worker.pid, 'the timed-out worker exit');
  assert.deepEqual([died.reason, died.signal], ['timeout', 'SIGKILL']);
  await m.until(2);

  r = await cli(['reload'], { env });
  assert.equal(r.code, 0, r.stderr);
  await seen((e) => e.type === 'reloaded' && e.generation === 1, 'reloaded');
  await seen((e) => e.type === 'exit' && e.reason === 'reload', 'an old worker replaced');
  r = await cli(['stop'], { env });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(await json.exited, { code: 0, signal: null }, json.stderr);
  assert.deepEqual(await text.exited, { code: 0, signal: null }, text.stderr);

  const all = events();
  assert.deepEqual(all.map((e) => e.seq), [...all.map((e) => e.seq)].sort((a, b) => a - b), 'in order');
  const types = new Set(all.map((e) => e.type));
  for (const type of ['control', 'scale', 'spawn', 'ready', 'timeout', 'exit', 'reload', 'generation_ready', 'reloaded', 'stopping', 'halt']) assert.ok(types.has(type), `a ${type} event`);
  assert.deepEqual(all.at(-1), { ...all.at(-1), type: 'halt', status: 0 });
  assert.deepEqual(all.filter((e) => e.type === 'control').map((e) => e.action), ['scale 1 -> 2', 'reload', 'stop (graceful)']);
  // the text feed says the same, one line per event
  assert.equal(text.lines.length, all.length, text.stdout);
  assert.deepEqual(text.lines.map((l) => l.slice(10)), all.map((e) => formatEvent(e).slice(10)));
  const line = (type) => text.lines[all.findIndex((e) => e.type === type)];
  assert.match(line('timeout'), /^\d\d:\d\d:\d\d {2}TIMEOUT {3}worker \d+ \(slot \d, gen 0\): GET \/block \(\d+ ms, x-request-id trace-9\); at (AsyncWorker\.)?handler \(\S+app\.mjs:\d+:\d+\)$/);
  assert.match(line('scale'), /^\d\d:\d\d:\d\d {2}scale {5}1 -> 2 workers$/);
  assert.match(line('halt'), /^\d\d:\d\d:\d\d {2}halt {6}exit status 0$/);
  assert.doesNotMatch(text.stdout, /token/);
});

test('arbiter events: a master that is killed ends the feed with an error (exit 1); no master is a clear error', async (t) => {
  const env = { XDG_RUNTIME_DIR: runtimeDir(t) };
  const none = await cli(['events'], { env });
  assert.equal(none.code, 1);
  assert.match(none.stderr, /^arbiter: no arbiter master is running/);
  const m = serve(t, ['-w', '1', '-b', `127.0.0.1:${await freePort()}`, APP], env);
  await m.until(1);
  const c = follow(t, ['events'], env);
  await waitFor(() => c.stderr.includes('Following master'), () => c.stderr, 20_000);
  m.signal('SIGKILL');
  assert.equal((await c.exited).code, 1);
  assert.match(c.stderr, /arbiter: the master at \S+ went away without stopping \(killed\?\)\n$/);
});

test('formatEvent: exits, reload failures, budget', () => {
  const at = new Date(2026, 0, 1, 14, 2, 11).getTime();
  const w = { pid: 42, slot: 0, age: 3, generation: 1 };
  assert.equal(formatEvent({ seq: 1, time: at, type: 'exit', worker: w, reason: 'memory', code: 0, signal: null }), '14:02:11  exit      worker 42 (slot 0, gen 1): recycled: RSS over maxWorkerMemory, code 0');
  assert.equal(
    formatEvent({ seq: 2, time: at, type: 'reload_failed', generation: 2, reason: 'app_load_error', error: 'SyntaxError: x (/a.mjs:3)', keptWorkers: 2 }),
    '14:02:11  RELOAD FAILED generation 2: app_load_error: SyntaxError: x (/a.mjs:3); 2 workers of the previous generation keep serving',
  );
  assert.equal(formatEvent({ seq: 3, time: at, type: 'halt', status: 5, budget: true }), '14:02:11  halt      exit status 5 (restart budget exhausted)');
  assert.equal(formatEvent({ seq: 4, time: at, type: 'timeout', worker: { ...w, slot: -1 }, kind: 'boot' }), '14:02:11  TIMEOUT   worker 42 (spare, gen 1) while booting');
});

/** A raw control connection: `c.frames` (parsed), `c.closed`, `c.send(obj)`, destroyed at the test's end. */
function rawConnection(t, socketPath) {
  const s = net.connect(socketPath);
  const c = { frames: [], closed: false, send: (o) => { const b = Buffer.from(JSON.stringify(o)); const h = Buffer.alloc(4); h.writeUInt32BE(b.length); s.write(Buffer.concat([h, b])); } };
  let buf = Buffer.alloc(0);
  s.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
      c.frames.push(JSON.parse(buf.subarray(4, 4 + buf.readUInt32BE(0)).toString('utf8')));
      buf = buf.subarray(4 + buf.readUInt32BE(0));
    }
  });
  s.on('error', () => {});
  s.on('close', () => (c.closed = true));
  t.after(() => s.destroy());
  return c;
}

test('subscribe: the recent past on request, nothing else on that connection, at most 16 subscribers; status still answers', async (t) => {
  const env = { XDG_RUNTIME_DIR: runtimeDir(t) };
  const m = serve(t, ['-w', '1', '-b', `127.0.0.1:${await freePort()}`, APP], env);
  await m.until(1);
  const first = rawConnection(t, m.socket);
  first.send({ v: 1, id: 3, command: 'subscribe', args: { backlog: 5 } });
  await waitFor(() => first.frames.length >= 3, () => JSON.stringify(first.frames));
  assert.deepEqual([first.frames[0].id, first.frames[0].status, first.frames[0].data.master.pid], [3, 'ok', m.pid]);
  assert.deepEqual(first.frames.slice(1, 3).map((f) => [f.id, f.status, f.data.type]), [[3, 'event', 'spawn'], [3, 'event', 'ready']], 'the boot, replayed');
  first.send({ v: 1, id: 4, command: 'status' });
  await waitFor(() => first.closed, 'refused');
  assert.match(first.frames.at(-1).error, /^a subscribed connection carries events only/);

  const subs = Array.from({ length: 16 }, () => rawConnection(t, m.socket));
  for (const s of subs) s.send({ v: 1, id: 1, command: 'subscribe' });
  await waitFor(() => subs.every((s) => s.frames.length === 1), 'sixteen subscribed');
  const extra = rawConnection(t, m.socket);
  extra.send({ v: 1, id: 2, command: 'subscribe' });
  await waitFor(() => extra.closed, 'the 17th refused');
  assert.match(extra.frames[0].error, /^too many subscribers \(16 /);
  assert.equal((await json(['status'], env)).workers.length, 1, 'other commands still get through');
  const r = await cli(['scale', '2'], { env });
  assert.equal(r.code, 0);
  await waitFor(() => subs.every((s) => s.frames.some((f) => f.data?.type === 'scale')), 'every subscriber hears it');
});

test('top view: the saturation figures of a newer master are shown when present, `-` otherwise; it fits the terminal', () => {
  const { renderTop } = createRequire(import.meta.url)('../dist/cjs/cli/top-view.js');
  const worker = { pid: 11, slot: 0, generation: 0, state: 'ready', uptime: 5000, requests: 10, inflight: 1, rss: 50 * 2 ** 20, cpu: 3, heartbeatAge: 20 };
  const stats = { pid: 10, version: '0.1.0', name: null, binds: ['http://127.0.0.1:8000'], workerClass: 'async', target: 1, ready: 1, generation: 0, uptime: 9000, reloads: 0, restarts: 0, workers: [worker] };
  const base = { rates: new Map([[11, 2.5]]), events: [], columns: 140, rows: 14, color: false, now: Date.now() };
  const without = renderTop({ ...base, stats });
  assert.match(without.join('\n'), /req\/s 2\.5 {2}saturation - {2}backlog -/);
  assert.match(without.find((l) => l.includes(' 11 ')), /^\s*11\s+0\s+ready\s+5s\s+2\.5\s+1\s+-\s+-\s+50\.0 MB\s+-\s+3\.0%\s+20ms$/);
  const vitals = { ...worker, elu: 0.42, loopDelayP99: 35, heapUsed: 20 * 2 ** 20, heapLimit: 2 ** 31, reqRate: 7 };
  const withVitals = renderTop({ ...base, stats: { ...stats, saturation: 0.5, backlog: 3, workers: [vitals] } });
  assert.match(withVitals.join('\n'), /req\/s 7\.0 {2}saturation 50\.0% {2}backlog 3/);
  assert.match(withVitals.find((l) => l.includes(' 11 ')), /^\s*11\s+0\s+ready\s+5s\s+7\.0\s+1\s+42\.0%\s+35ms\s+50\.0 MB\s+20\.0 MB \/ 2 GB\s+3\.0%\s+20ms$/);
  assert.equal(withVitals.length, 14, 'as many lines as rows, the keys on the last');
  assert.match(withVitals.at(-1), /^q quit/);
  const narrow = renderTop({ ...base, stats, columns: 40 });
  assert.ok(narrow.every((l) => l.length <= 40), 'cut to the width');
});

/** Reads `/events` as a browser's EventSource would: `s.events` (parsed `data:` of each message, with its id), `s.ended`. */
function eventStream(t, port, path, headers = {}) {
  const s = { events: [], raw: '', status: 0, headers: {} };
  s.ended = new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, headers, agent: false }, (res) => {
      s.status = res.statusCode;
      s.headers = res.headers;
      res.setEncoding('utf8');
      res.on('data', (d) => {
        s.raw += d;
        let end;
        while ((end = s.raw.indexOf('\n\n')) >= 0) {
          const block = s.raw.slice(0, end);
          s.raw = s.raw.slice(end + 2);
          const id = /^id: (\d+)$/m.exec(block);
          const data = /^data: (.*)$/m.exec(block);
          if (data) s.events.push({ id: Number(id?.[1]), ...JSON.parse(data[1]) });
        }
      });
      res.on('end', resolve);
      res.on('error', reject);
    });
    req.on('error', reject);
    t.after(() => req.destroy());
  });
  s.ended.catch(() => {});
  return s;
}

test('dashboard: GET / is one self-contained page; GET /events streams the lifecycle events (a timeout with its stack and request), resumes after Last-Event-ID, ends when the master halts', async (t) => {
  const [port, statusPort] = [await freePort(), await freePort()];
  const m = Master.start(t, 'faults.mjs', { bind: `127.0.0.1:${port}`, workers: 1, timeout: 2000, statusBind: `127.0.0.1:${statusPort}` });
  await m.ready(1);
  await m.waitForLog(/Status server listening at/);
  const page = await request(statusPort, '/');
  assert.equal(page.status, 200);
  assert.match(page.headers['content-type'], /^text\/html/);
  assert.match(page.headers['content-security-policy'], /default-src 'none'/, 'the page may load nothing from elsewhere');
  assert.doesNotMatch(page.body, /<script[^>]+src=|<link[^>]+href=|https?:\/\//, 'no CDN, no external file: works offline');
  assert.match(page.body, /new EventSource\("events\?backlog=50"\)/);
  assert.match(page.body, /fetch\("status"/);
  const weight = Buffer.byteLength(page.body);
  assert.ok(weight < 16 * 1024, `page weight ${weight} bytes`);
  t.diagnostic(`dashboard page: ${weight} bytes`);

  const stream = eventStream(t, statusPort, '/events?backlog=10');
  await waitFor(() => stream.events.some((e) => e.type === 'ready'), () => `the boot replayed: ${JSON.stringify(stream.events)}`);
  assert.equal(stream.status, 200);
  assert.match(stream.headers['content-type'], /^text\/event-stream/);
  const hung = http.get({ host: '127.0.0.1', port, path: '/spin?x=1', headers: { 'x-request-id': 'dash-1' }, agent: false });
  hung.on('error', () => {});
  t.after(() => hung.destroy());
  const timeout = await waitFor(() => stream.events.find((e) => e.type === 'timeout'), 'a timeout on the stream', 20_000);
  assert.match(timeout.stack, /at spinForever \(/);
  assert.deepEqual(timeout.requests.map(({ ageMs, ...r }) => r), [{ method: 'GET', path: '/spin', requestId: 'dash-1' }]);
  assert.equal(timeout.id, timeout.seq);
  await waitFor(() => stream.events.some((e) => e.type === 'ready' && e.seq > timeout.seq), 'the replacement ready');

  // a browser reconnecting says what it saw last: only what came after
  const resumed = eventStream(t, statusPort, '/events', { 'last-event-id': String(timeout.seq) });
  await waitFor(() => resumed.events.length > 0, 'the events after the timeout');
  assert.ok(resumed.events.every((e) => e.seq > timeout.seq), JSON.stringify(resumed.events.map((e) => e.seq)));

  m.signal('SIGTERM');
  await stream.ended;
  await resumed.ended;
  assert.deepEqual(stream.events.at(-1), { ...stream.events.at(-1), type: 'halt', status: 0 });
  assert.equal((await m.exited).code, 0);
});
