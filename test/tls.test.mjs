// TLS and HTTP/2 on the binds (SPEC §14): certificates the test makes with openssl, a real TLS
// handshake (node:https, node:tls), real HTTP/2 frames (node:http2) and HTTP/1.1 on the same port;
// certificates re-read on reload, a bad one failing the reload while the old workers serve.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import http2 from 'node:http2';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { test } from 'node:test';
import { cli, serve } from './cli-helpers.mjs';
import { canConnect, fixture, freePort, isAlive, request, waitFor } from './helpers.mjs';

const APP = fixture('tls/app.mjs');

function tempDir(t, prefix) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const openssl = (args, cwd) => execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });

/** A CA, and certificates it signed: `name.pem` / `name.key` for each of `names` (CN = name, SAN 127.0.0.1 and localhost). */
function makeCerts(dir, names) {
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=arbiter test CA'], dir);
  for (const name of names) {
    openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`], dir);
    writeFileSync(join(dir, `${name}.ext`), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
    openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`], dir);
  }
  return (file) => join(dir, file);
}

/** An HTTPS/1.1 request: `{ status, body, cn }` (cn: the CN of the server's certificate). */
function get(port, path, { ca, cert, key, agent = false } = {}) {
  return new Promise((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', port, path, ca, cert, key, agent, ALPNProtocols: ['http/1.1'] }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, body, cn: res.socket.getPeerCertificate?.()?.subject?.CN }));
    });
    req.on('error', reject);
  });
}

/** Stops the master gracefully and checks nothing is left. */
async function stop(m, port) {
  const pids = [m.pid, ...m.workers()];
  m.signal('SIGTERM');
  assert.equal((await m.exited).code, 0, m.stderr);
  await waitFor(() => pids.every((p) => !isAlive(p)), 'every process gone');
  assert.equal(await canConnect(port), false);
}

const env = (t) => ({ XDG_RUNTIME_DIR: tempDir(t, 'arbiter-xdg-') });

test('--certfile/--keyfile: HTTPS on the bind, announced as https://; plain HTTP on it is refused and the worker lives on', async (t) => {
  const f = makeCerts(tempDir(t, 'arbiter-tls-'), ['server']);
  const port = await freePort();
  const m = serve(t, ['-w', '2', '-b', `127.0.0.1:${port}`, '--certfile', f('server.pem'), '--keyfile', f('server.key'), APP], env(t));
  await m.until(2);
  assert.match(m.stderr, new RegExp(`Listening at: https://127\\.0\\.0\\.1:${port} `));
  const ca = readFileSync(f('ca.pem'));
  const r = await get(port, '/', { ca });
  assert.equal(r.status, 200);
  assert.match(r.body, /^HTTP\/1\.1 \d+$/);
  assert.equal(r.cn, 'server');
  // a client that does not trust the CA refuses the handshake
  await assert.rejects(get(port, '/', {}), /self[- ]signed|unable to verify|UNABLE_TO_GET_ISSUER/i);
  const workers = m.workers();
  await assert.rejects(request(port, '/'), /socket hang up|ECONNRESET|Parse Error/);
  assert.equal((await get(port, '/', { ca })).status, 200);
  assert.deepEqual(m.workers(), workers, 'no worker died');
  await stop(m, port);
});

test('--http2: HTTP/2 (ALPN h2) and HTTP/1.1 on the same TLS port; a graceful stop lets an HTTP/2 stream in flight finish', async (t) => {
  const f = makeCerts(tempDir(t, 'arbiter-tls-'), ['server']);
  const ca = readFileSync(f('ca.pem'));
  const port = await freePort();
  const m = serve(t, ['-w', '1', '-b', `127.0.0.1:${port}`, '--certfile', f('server.pem'), '--keyfile', f('server.key'), '--http2', APP], env(t));
  await m.until(1);
  const session = http2.connect(`https://127.0.0.1:${port}`, { ca });
  t.after(() => session.destroy());
  const h2get = (path) =>
    new Promise((resolve, reject) => {
      const stream = session.request({ ':path': path });
      let body = '';
      let status;
      stream.setEncoding('utf8');
      stream.on('response', (h) => (status = h[':status']));
      stream.on('data', (d) => (body += d));
      stream.on('end', () => resolve({ status, body }));
      stream.on('error', reject);
    });
  const r = await h2get('/');
  assert.equal(r.status, 200);
  assert.match(r.body, /^HTTP\/2\.0 \d+$/);
  assert.equal(session.alpnProtocol, 'h2');
  const h1 = await get(port, '/', { ca });
  assert.match(h1.body, /^HTTP\/1\.1 \d+$/, 'HTTP/1.1 clients on the same port');

  // a stream in flight when TERM arrives completes; the session gets GOAWAY; the master exits 0
  const slow = h2get('/slow?ms=1500');
  await m.started('/slow');
  const goaway = new Promise((resolve) => session.once('goaway', resolve));
  const pids = [m.pid, ...m.workers()];
  m.signal('SIGTERM');
  assert.deepEqual(await slow, { status: 200, body: 'slow done' });
  await goaway;
  assert.equal((await m.exited).code, 0, m.stderr);
  await waitFor(() => pids.every((p) => !isAlive(p)), 'every process gone');
});

test('a missing certificate, a key of another certificate, http2 without TLS: clear errors at start, exit 1, nothing left behind', async (t) => {
  const f = makeCerts(tempDir(t, 'arbiter-tls-'), ['server', 'other']);
  const port = await freePort();
  const cases = [
    [['--certfile', f('nope.pem'), '--keyfile', f('server.key')], /Cannot read `certfile` .*nope\.pem: ENOENT/],
    [['--certfile', f('server.pem'), '--keyfile', f('other.key')], /TLS: the key in `keyfile` .*other\.key does not belong to the certificate in `certfile` .*server\.pem/],
    [['--certfile', f('server.pem')], /`certfile` is given without `keyfile`: TLS needs both/],
    [['--http2'], /`http2` needs TLS: give `certfile` and `keyfile`/],
    [['--certfile', f('server.key'), '--keyfile', f('server.key')], /TLS: `certfile` .*server\.key is not a PEM certificate/],
    [['--certfile', f('server.pem'), '--keyfile', f('server.key'), '--cert-reqs', 'always'], /certReqs.*"none", "optional", "required"/],
  ];
  for (const [flags, expected] of cases) {
    const r = await cli(['-w', '1', '-b', `127.0.0.1:${port}`, ...flags, APP], { env: env(t) });
    assert.equal(r.code, 1, `${flags.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, expected);
    assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
    assert.equal(await canConnect(port), false);
  }
});

test('reload re-reads the certificate; one that does not load fails the reload and the old workers keep serving', async (t) => {
  const f = makeCerts(tempDir(t, 'arbiter-tls-'), ['first', 'second']);
  const dir = tempDir(t, 'arbiter-tls-live-');
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  copyFileSync(f('first.pem'), cert);
  copyFileSync(f('first.key'), key);
  const ca = readFileSync(f('ca.pem'));
  const port = await freePort();
  const e = env(t);
  const m = serve(t, ['-w', '2', '-b', `127.0.0.1:${port}`, '--certfile', cert, '--keyfile', key, APP], e);
  await m.until(2);
  assert.equal((await get(port, '/', { ca })).cn, 'first');

  copyFileSync(f('second.pem'), cert);
  copyFileSync(f('second.key'), key);
  const r = await cli(['reload', String(m.pid)], { env: e });
  assert.equal(r.code, 0, r.stderr);
  await waitFor(async () => (await get(port, '/', { ca })).cn === 'second', 'the renewed certificate served');
  for (let i = 0; i < 6; i++) assert.equal((await get(port, '/', { ca })).cn, 'second', 'every worker serves it');

  writeFileSync(cert, 'not a certificate\n');
  const failed = await cli(['reload', String(m.pid)], { env: e });
  assert.equal(failed.code, 1);
  assert.match(failed.stderr, /reload failed: .*certfile/);
  for (let i = 0; i < 6; i++) assert.equal((await get(port, '/', { ca })).cn, 'second', 'the old workers keep serving');
  await stop(m, port);
});

test('--cert-reqs required with --ca-certs: a client without a certificate is refused in the handshake, one with a certificate signed by the CA is served', async (t) => {
  const f = makeCerts(tempDir(t, 'arbiter-tls-'), ['server', 'client']);
  const ca = readFileSync(f('ca.pem'));
  const port = await freePort();
  const m = serve(t, ['-w', '1', '-b', `127.0.0.1:${port}`, '--certfile', f('server.pem'), '--keyfile', f('server.key'), '--ca-certs', f('ca.pem'), '--cert-reqs', 'required', APP], env(t));
  await m.until(1);
  const withCert = await get(port, '/peer', { ca, cert: readFileSync(f('client.pem')), key: readFileSync(f('client.key')) });
  assert.equal(withCert.body, 'authorized client');
  await assert.rejects(
    new Promise((resolve, reject) => {
      // TLS 1.3: the server's refusal arrives after the handshake, as an alert on the first read
      const s = tls.connect({ host: '127.0.0.1', port, ca }, () => s.write('GET /peer HTTP/1.1\r\nHost: x\r\n\r\n'));
      s.on('data', (d) => resolve(d.toString()));
      s.on('error', reject);
      s.on('end', () => reject(new Error('closed without an answer')));
    }),
    /certificate required|alert|closed without an answer|ECONNRESET/i,
  );
  await stop(m, port);
});
