// Request limits (limitRequestLine, limitRequestFields, limitRequestFieldSize), answered before
// the app runs as gunicorn answers them: 400 for the request line, 431 for the header fields.
// Raw sockets: the requests are bytes on the wire, not what an HTTP client would agree to send.
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { resolveConfig } from '../dist/esm/config.js';
import { Master, freePort, waitFor } from './helpers.mjs';

/** Sends `head` (and whatever follows) on a fresh connection; resolves everything the server sent until it closed. */
function raw(port, data) {
  return new Promise((resolve, reject) => {
    const c = net.connect(port, '127.0.0.1');
    let out = '';
    c.setEncoding('latin1');
    c.on('data', (d) => (out += d));
    c.on('end', () => resolve(out));
    c.on('close', () => resolve(out));
    c.on('error', (err) => (err.code === 'ECONNRESET' || err.code === 'EPIPE' ? resolve(out) : reject(err)));
    c.setTimeout(15_000, () => c.destroy(new Error(`no answer; got ${JSON.stringify(out)}`)));
    c.write(data);
  });
}
const status = (answer) => Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1]);
const req = (target, headers = []) => `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${headers.map((h) => `${h}\r\n`).join('')}\r\n`;

async function serve(t, config) {
  const port = await freePort();
  // app.mjs prints nothing per request; the access log (stdout) says whether the app saw one
  const m = Master.start(t, 'app.mjs', { bind: `127.0.0.1:${port}`, workers: 1, accesslog: '-', accessLogFormat: 'APP-SAW %(U)s', ...config });
  await m.ready(1);
  return { m, port };
}
const appSaw = (m, path) => m.stdout.includes(`APP-SAW ${path}\n`);

test('defaults (4094 / 100 / 8190): over the limits 400 and 431 before the app runs; within them the app answers, even above Node\'s own 16 KiB head', async (t) => {
  const { m, port } = await serve(t, {});
  const long = `/long-${'a'.repeat(4094)}`;
  const a = await raw(port, req(long));
  assert.equal(status(a), 400, a);
  assert.match(a, /Connection: close/i);
  assert.match(a, /Request Line is too large \(\d+ > 4094\)/);
  // exactly at the limit: "GET " + target + " HTTP/1.1" = 4094
  const fits = `/fits-${'b'.repeat(4094 - 4 - 9 - 6)}`;
  assert.equal(status(await raw(port, req(fits))), 200);
  const many = Array.from({ length: 101 }, (_, i) => `X-Many-${i}: y`);
  const b = await raw(port, req('/many', many));
  assert.equal(status(b), 431, b);
  assert.match(b, /Request Header Fields Too Large/);
  assert.match(b, /limit request headers fields'/);
  const big = await raw(port, req('/big', [`X-Big: ${'c'.repeat(8190)}`]));
  assert.equal(status(big), 431, big);
  assert.match(big, /limit request headers fields size/);
  // 98 fields (with Host and Connection: 100) of ~300 bytes: ~30 KB of head, more than Node's default 16 KiB
  const wide = Array.from({ length: 98 }, (_, i) => `X-Wide-${i}: ${'d'.repeat(300)}`);
  assert.equal(status(await raw(port, req('/wide', wide))), 200);
  // a field of exactly 8190 bytes ("X-Edge: " + value)
  assert.equal(status(await raw(port, req('/edge', [`X-Edge: ${'e'.repeat(8190 - 8)}`]))), 200);
  await waitFor(() => appSaw(m, '/wide') && appSaw(m, '/edge') && appSaw(m, fits), `the app's lines\n${m.stdout}`);
  for (const path of [long, '/many', '/big']) assert.ok(!appSaw(m, path), `the app never saw ${path.slice(0, 20)}`);
  await m.waitForLog(/\[WARNING\] Invalid request from ip=127\.0\.0\.1: Request Line is too large/);
  await m.waitForLog(/Invalid request from ip=127\.0\.0\.1: Error parsing headers: 'limit request headers fields'/);
  // the worker lives on and serves keep-alive as before
  assert.equal(m.all('worker_exit').length, 0);
});

test('configured limits apply; a head beyond even the parser\'s bound gets the same answers', async (t) => {
  const { m, port } = await serve(t, { limitRequestLine: 100, limitRequestFields: 5, limitRequestFieldSize: 50 });
  assert.equal(status(await raw(port, req(`/${'a'.repeat(100)}`))), 400);
  assert.equal(status(await raw(port, req('/ok', ['A: 1', 'B: 2', 'C: 3']))), 200);
  assert.equal(status(await raw(port, req('/six', ['A: 1', 'B: 2', 'C: 3', 'D: 4']))), 431);
  assert.equal(status(await raw(port, req('/wide', [`A: ${'x'.repeat(48)}`]))), 431);
  // parser bound: 100 + 2 + 6 * 52 + 2 = 416 bytes; a 2000-byte line never becomes a request
  const huge = await raw(port, `GET /${'h'.repeat(2000)}`);
  assert.equal(status(huge), 400, huge);
  assert.match(huge, /Request Line is too large/);
  const hugeHeaders = await raw(port, `GET /hh HTTP/1.1\r\nHost: x\r\nX-A: ${'v'.repeat(2000)}`);
  assert.equal(status(hugeHeaders), 431, hugeHeaders);
  await waitFor(() => appSaw(m, '/ok'), 'the app served /ok');
  assert.ok(!appSaw(m, '/six') && !appSaw(m, '/wide') && !appSaw(m, '/hh'));
});

test('limit options are checked: ranges as gunicorn\'s, errors name the option', () => {
  const check = (config) => () => resolveConfig(config, (v) => v, {});
  assert.throws(check({ limitRequestLine: 8191 }), (e) => e.code === 'ARBITER_ERR_CONFIG' && /`limitRequestLine`.*from 0 to 8190/.test(e.message));
  assert.throws(check({ limitRequestLine: -1 }), /`limitRequestLine`/);
  assert.throws(check({ limitRequestFields: 0 }), /`limitRequestFields`/);
  assert.throws(check({ limitRequestFields: 32769 }), /`limitRequestFields`.*32768/);
  assert.throws(check({ limitRequestFieldSize: '8k' }), /`limitRequestFieldSize`/);
  const r = resolveConfig({ limitRequestLine: 0, limitRequestFieldSize: 0 }, (v) => v, {});
  assert.equal(r.limitRequestLine, 0);
  assert.equal(r.limitRequestFields, 100);
});
