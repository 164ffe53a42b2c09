// Proxies: forwardedAllowIps (whose X-Forwarded-* reach the app) and proxyProtocol (PROXY v1 text
// and v2 binary headers, so the app sees the client's address). Real bytes over raw sockets.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { resolveConfig } from '../dist/esm/config.js';
import { BIN, cli } from './cli-helpers.mjs';
import { Master, fixture, freePort, waitFor } from './helpers.mjs';

async function serve(t, config) {
  const port = await freePort();
  const m = Master.start(t, 'peer-echo.mjs', { bind: `127.0.0.1:${port}`, workers: 1, ...config });
  await m.ready(1);
  await waitFor(() => m.readyWorkers().length === 1, 'a ready worker');
  return { m, port };
}

/** Opens a connection, writes each of `chunks` (a turn apart), collects what comes back until the server closes it. */
function exchange(port, chunks) {
  return new Promise((resolve, reject) => {
    const c = net.connect(port, '127.0.0.1');
    const got = [];
    c.on('data', (d) => got.push(d));
    const finish = () => resolve(Buffer.concat(got).toString('latin1'));
    c.on('close', finish);
    c.on('error', (err) => (err.code === 'ECONNRESET' ? finish() : reject(err)));
    c.setTimeout(20_000, () => c.destroy(new Error('no close within 20 s')));
    c.once('connect', async () => {
      for (const chunk of chunks) {
        c.write(chunk);
        await new Promise((r) => setImmediate(r));
      }
    });
  });
}
/** The JSON bodies of the responses in `text` (each `Content-Length` long). */
function bodies(text) {
  const out = [];
  for (const m of text.matchAll(/HTTP\/1\.1 200 OK\r\n([\s\S]*?)\r\n\r\n/g)) {
    const len = Number(/content-length: (\d+)/i.exec(m[1])[1]);
    const start = m.index + m[0].length;
    out.push(JSON.parse(text.slice(start, start + len)));
  }
  return out;
}
const get = (path, headers = [], close = true) => `GET ${path} HTTP/1.1\r\nHost: x\r\n${headers.map((h) => `${h}\r\n`).join('')}${close ? 'Connection: close\r\n' : ''}\r\n`;
const FORWARDING = ['X-Forwarded-For: 203.0.113.9', 'X-Forwarded-Proto: https', 'Forwarded: for=203.0.113.9;proto=https', 'X-Real-IP: 203.0.113.9', 'X-Forwarded-Host: evil.example'];

/** A PROXY v2 header: `cmd` 1 PROXY / 0 LOCAL; `fam` 0x11 TCP4, 0x21 TCP6; then addresses, ports, TLVs. */
function v2(cmd, fam, body) {
  const head = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, 0x20 | cmd, fam, 0, 0]);
  head.writeUInt16BE(body.length, 14);
  return Buffer.concat([head, body]);
}
function v2tcp4(src, dst, sport, dport, tlv = Buffer.alloc(0)) {
  const b = Buffer.alloc(12);
  src.split('.').forEach((o, i) => (b[i] = Number(o)));
  dst.split('.').forEach((o, i) => (b[4 + i] = Number(o)));
  b.writeUInt16BE(sport, 8);
  b.writeUInt16BE(dport, 10);
  return v2(1, 0x11, Buffer.concat([b, tlv]));
}
function v2tcp6(srcGroups, sport) {
  const b = Buffer.alloc(36);
  srcGroups.forEach((g, i) => b.writeUInt16BE(g, i * 2));
  b.writeUInt16BE(1, 30); // dst ::1
  b.writeUInt16BE(sport, 32);
  b.writeUInt16BE(443, 34);
  return v2(1, 0x21, b);
}

test('forwardedAllowIps default (127.0.0.1,::1): a local peer\'s X-Forwarded-* reach the app as sent', async (t) => {
  const { port } = await serve(t, {});
  const [seen] = bodies(await exchange(port, [get('/', FORWARDING)]));
  assert.equal(seen.headers['x-forwarded-for'], '203.0.113.9');
  assert.equal(seen.headers['x-forwarded-proto'], 'https');
  assert.equal(seen.headers.forwarded, 'for=203.0.113.9;proto=https');
  assert.equal(seen.remoteAddress, '127.0.0.1', 'nothing is rewritten');
});

test('an untrusted peer\'s forwarding headers are removed (headers and rawHeaders); the rest is untouched', async (t) => {
  const { port } = await serve(t, { forwardedAllowIps: '10.0.0.0/8, 192.0.2.7' });
  const [seen] = bodies(await exchange(port, [get('/', [...FORWARDING, 'X-Other: kept', 'x-forwarded-for: second'])]));
  for (const name of ['x-forwarded-for', 'x-forwarded-proto', 'forwarded', 'x-real-ip', 'x-forwarded-host']) assert.ok(!(name in seen.headers), `${name} removed`);
  assert.ok(!seen.rawHeaders.some((h) => /forward|real-ip/i.test(h)), seen.rawHeaders.join(' '));
  assert.equal(seen.headers['x-other'], 'kept');
  assert.equal(seen.headers.host, 'x');
});

test("forwardedAllowIps '*' trusts every peer", async (t) => {
  const { port } = await serve(t, { forwardedAllowIps: '*', proxyProtocol: true });
  const [seen] = bodies(await exchange(port, ['PROXY TCP4 198.51.100.4 10.0.0.1 50000 80\r\n' + get('/', FORWARDING)]));
  assert.equal(seen.remoteAddress, '198.51.100.4');
  assert.equal(seen.headers['x-forwarded-proto'], 'https');
});

test('PROXY v1: TCP4, TCP6 and UNKNOWN; header and request in one write or split; keep-alive requests after it', async (t) => {
  const { m, port } = await serve(t, { proxyProtocol: true, forwardedAllowIps: '10.0.0.0/8' });
  const [a] = bodies(await exchange(port, ['PROXY TCP4 10.1.2.3 10.0.0.1 51234 8000\r\n' + get('/a', FORWARDING)]));
  assert.deepEqual([a.remoteAddress, a.remotePort, a.remoteFamily], ['10.1.2.3', 51234, 'IPv4']);
  assert.equal(a.headers['x-forwarded-for'], '203.0.113.9', 'the client the header names (10.1.2.3) is the one trusted');
  const [b] = bodies(await exchange(port, ['PROXY TCP6 2001:db8::7 2001:db8::1 40000 443\r\n', get('/b', FORWARDING)]));
  assert.deepEqual([b.remoteAddress, b.remotePort, b.remoteFamily], ['2001:db8::7', 40000, 'IPv6']);
  assert.ok(!('x-forwarded-for' in b.headers), '2001:db8::7 is not trusted');
  const [c] = bodies(await exchange(port, ['PROXY UNKNOWN\r\n' + get('/c')]));
  assert.equal(c.remoteAddress, '127.0.0.1', 'UNKNOWN keeps the peer');
  // split in odd places, then two requests on the same connection
  const text = 'PROXY TCP4 192.0.2.55 10.0.0.1 1024 80\r\n' + get('/one', [], false) + get('/two');
  const keep = bodies(await exchange(port, [text.slice(0, 3), text.slice(3, 20), text.slice(20, 45), text.slice(45)]));
  assert.deepEqual(keep.map((r) => [r.url, r.remoteAddress, r.remotePort]), [['/one', '192.0.2.55', 1024], ['/two', '192.0.2.55', 1024]]);
  assert.equal(new Set([a, b, c, ...keep].map((r) => r.pid)).size, 1, 'one worker served all');
  assert.equal(m.all('worker_exit').length, 0);
});

test('PROXY v2: TCP4 (with TLVs), TCP6, LOCAL; sent byte by byte too', async (t) => {
  const { port } = await serve(t, { proxyProtocol: true });
  const tlv = Buffer.from([0x04, 0x00, 0x03, 0x61, 0x62, 0x63]); // PP2_TYPE_NOOP, 3 bytes
  const [a] = bodies(await exchange(port, [Buffer.concat([v2tcp4('203.0.113.77', '10.0.0.1', 61000, 80, tlv), Buffer.from(get('/a'))])]));
  assert.deepEqual([a.remoteAddress, a.remotePort, a.remoteFamily], ['203.0.113.77', 61000, 'IPv4']);
  const six = v2tcp6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x42], 5555);
  const [b] = bodies(await exchange(port, [...six].map((byte) => Buffer.from([byte])).concat([Buffer.from(get('/b'))])));
  assert.deepEqual([b.remoteAddress, b.remotePort, b.remoteFamily], ['2001:db8::42', 5555, 'IPv6']);
  const [c] = bodies(await exchange(port, [Buffer.concat([v2(0, 0x00, Buffer.alloc(0)), Buffer.from(get('/c'))])]));
  assert.equal(c.remoteAddress, '127.0.0.1', 'LOCAL (a health check of the proxy) keeps the peer');
});

test('a missing or malformed PROXY header closes the connection with no answer, logged at debug; the worker lives on', async (t) => {
  const { m, port } = await serve(t, { proxyProtocol: true, logLevel: 'debug' });
  const worker = m.readyWorkers()[0];
  const bad = [
    [get('/plain'), /no PROXY header/],
    ['PROXY TCP4 10.1.2.3 nope 1 2\r\n' + get('/x'), /v1 protocol or addresses not valid/],
    ['PROXY TCP4 10.1.2.3 10.0.0.1 99999 80\r\n' + get('/x'), /v1 port not valid/],
    ['PROXY TCP4 10.1.2.3 10.0.0.1 1\r\n' + get('/x'), /v1 line without 6 fields/],
    [`PROXY TCP4 ${'1'.repeat(120)}`, /v1 line longer than 107 bytes/],
    [Buffer.concat([v2(1, 0x11, Buffer.alloc(12))]).fill(0x31, 12, 13), /v2 version 3/],
    [v2(1, 0x11, Buffer.alloc(4)), /v2 IPv4 addresses truncated/],
    [v2(1, 0x51, Buffer.alloc(12)), /v2 address family 5/],
  ];
  for (const [bytes, why] of bad) {
    const answer = await exchange(port, [bytes]);
    assert.equal(answer, '', `no answer to ${JSON.stringify(bytes.toString().slice(0, 30))}`);
    await m.waitForLog(new RegExp(`\\[DEBUG\\] Invalid PROXY header from 127\\.0\\.0\\.1:\\d+: ${why.source}`));
  }
  // a client that connects, sends half a header and goes away
  const c = net.connect(port, '127.0.0.1');
  await new Promise((r) => c.once('connect', r));
  c.write('PROXY TCP4 10.');
  await new Promise((r) => setTimeout(r, 50));
  c.destroy();
  const [ok] = bodies(await exchange(port, ['PROXY TCP4 10.9.9.9 10.0.0.1 1000 80\r\n' + get('/after')]));
  assert.equal(ok.remoteAddress, '10.9.9.9');
  assert.equal(ok.pid, worker, 'the same worker serves on');
  assert.equal(m.all('worker_exit').length, 0);
});

test('options are checked and named; --proxy-protocol and --forwarded-allow-ips are flags', async () => {
  const check = (config) => () => resolveConfig(config, (v) => v, {});
  assert.throws(check({ forwardedAllowIps: 'localhost' }), (e) => e.code === 'ARBITER_ERR_CONFIG' && /`forwardedAllowIps`.*"localhost" is not an address/.test(e.message));
  assert.throws(check({ forwardedAllowIps: '10.0.0.0/33' }), /`forwardedAllowIps`.*bad prefix length/);
  assert.throws(check({ forwardedAllowIps: 7 }), /`forwardedAllowIps`/);
  assert.throws(check({ proxyProtocol: 'yes' }), /`proxyProtocol`.*true or false/);
  assert.deepEqual(resolveConfig({ forwardedAllowIps: ['10.0.0.0/8', 'fd00::/8'] }, (v) => v, {}).forwardedAllowIps, ['10.0.0.0/8', 'fd00::/8']);
  const r = await cli(['--proxy-protocol', '--forwarded-allow-ips', '*', '--print-config']);
  assert.equal(r.code, 0, r.stderr);
  const printed = JSON.parse(r.stdout);
  assert.equal(printed.proxyProtocol, true);
  assert.equal(printed.forwardedAllowIps, '*');
  assert.equal(JSON.parse((await cli(['--print-config'])).stdout).proxyProtocol, false);
});

test('an app that listens itself: PROXY headers and forwardedAllowIps apply to its server too', async (t) => {
  const port = await freePort();
  const runtime = mkdtempSync(join(tmpdir(), 'arbiter-xdg-'));
  t.after(() => rmSync(runtime, { recursive: true, force: true }));
  const m = Master.start(t, null, {}, {
    command: process.execPath,
    args: [BIN, '-w', '1', '--proxy-protocol', '--forwarded-allow-ips', '10.0.0.0/8', fixture('listen/peer.mjs')],
    env: { XDG_RUNTIME_DIR: runtime, APP_PORT: String(port) },
  });
  await m.waitForLog(/Booting worker/);
  await waitFor(async () => (await exchange(port, ['PROXY TCP4 10.0.0.9 10.0.0.1 4242 80\r\n' + get('/', FORWARDING)]).catch(() => '')).includes('10.0.0.9 4242 203.0.113.9'), `the app's answer\n${m.stderr}`, 30_000, 200);
  const untrusted = await exchange(port, ['PROXY TCP4 198.51.100.1 10.0.0.1 4343 80\r\n' + get('/', FORWARDING)]);
  assert.match(untrusted, /198\.51\.100\.1 4343 -\n/);
  assert.equal(await exchange(port, [get('/')]), '', 'no PROXY header: closed');
});

test('FORWARDED_ALLOW_IPS sets the default, as in gunicorn; a bad one names the variable', async () => {
  const { resolveConfig: resolve } = await import('../dist/esm/config.js');
  assert.equal(resolve({}, (v) => v, { FORWARDED_ALLOW_IPS: '*' }).forwardedAllowIps, '*');
  assert.equal(resolve({ forwardedAllowIps: '10.0.0.1' }, (v) => v, { FORWARDED_ALLOW_IPS: '*' }).forwardedAllowIps, '10.0.0.1', 'the option wins');
  assert.equal(resolve({}, (v) => v, {}).forwardedAllowIps, '127.0.0.1,::1');
  assert.throws(() => resolve({}, (v) => v, { FORWARDED_ALLOW_IPS: 'nope' }), /`forwardedAllowIps \(from FORWARDED_ALLOW_IPS\)`/);
});
