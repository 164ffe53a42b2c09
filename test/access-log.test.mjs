// The access log (accesslog, accessLogFormat): gunicorn's atoms, JSON lines, written by the
// workers, reopened on USR1; a bad format is a config error naming the option.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { resolveConfig } from '../dist/esm/config.js';
import { cli } from './cli-helpers.mjs';
import { Master, fixture, freePort, waitFor } from './helpers.mjs';

function tmp(t) {
  const dir = mkdtempSync(join(tmpdir(), 'arbiter-access-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A GET with headers, no keep-alive: `{ status, body }`. */
function get(port, path, headers = {}) {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, headers, agent: false }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode, body }));
      })
      .on('error', reject);
  });
}

const lines = (file) => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : []);
const waitLines = (file, n) => waitFor(() => lines(file).length >= n && lines(file), `${n} lines in ${file}`, 15_000);

async function serve(t, config, env) {
  const port = await freePort();
  const m = Master.start(t, 'app.mjs', { bind: `127.0.0.1:${port}`, workers: 1, ...config }, { env });
  await m.ready(config.workers ?? 1);
  return { m, port };
}

test('the default format is gunicorn\'s (combined), one line per request, written by the worker', async (t) => {
  const file = join(tmp(t), 'access.log');
  const { m, port } = await serve(t, { accesslog: file });
  const auth = `Basic ${Buffer.from('alice:secret').toString('base64')}`;
  const r = await get(port, '/version?x=1', { 'user-agent': 'probe/1.0', referer: 'http://ref.example/', authorization: auth });
  assert.equal(r.status, 200);
  await get(port, '/nothing-here');
  const [one, two] = await waitLines(file, 2);
  assert.match(one, /^127\.0\.0\.1 - alice \[\d\d\/[A-Z][a-z]{2}\/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] "GET \/version\?x=1 HTTP\/1\.1" 200 2 "http:\/\/ref\.example\/" "probe\/1\.0"$/);
  assert.match(two, /^127\.0\.0\.1 - - \[.*\] "GET \/nothing-here HTTP\/1\.1" 200 2 "-" "-"$/);
  assert.ok(!m.stderr.includes('GET /version'), 'access lines do not go to the operator log');
});

test('every atom of a custom format; {header}i, {header}o and {variable}e', async (t) => {
  const file = join(tmp(t), 'access.log');
  const format = 'h=%(h)s l=%(l)s u=%(u)s m=%(m)s U=%(U)s q=%(q)s H=%(H)s s=%(s)s B=%(B)s b=%(b)s T=%(T)s M=%(M)s D=%(D)s L=%(L)s p=%(p)s ua=%({User-Agent}i)s ct=%({content-type}o)s port=%({REMOTE_PORT}e)s env=%({FIXTURE_MARK}e)s 100%%';
  const { m, port } = await serve(t, { accesslog: file, accessLogFormat: format }, { FIXTURE_MARK: 'marked' });
  await get(port, '/slow?ms=120&y=2', { 'user-agent': 'x' });
  const [line] = await waitLines(file, 1);
  const worker = m.readyWorkers()[0];
  const f = Object.fromEntries(line.split(' ').filter((p) => p.includes('=')).map((p) => p.split(/=(.*)/s).slice(0, 2)));
  assert.equal(f.h, '127.0.0.1');
  assert.equal(f.l, '-');
  assert.equal(f.u, '-');
  assert.equal(f.m, 'GET');
  assert.equal(f.U, '/slow');
  assert.equal(f.q, 'ms=120&y=2');
  assert.equal(f.H, 'HTTP/1.1');
  assert.equal(f.s, '200');
  assert.equal(f.B, String(`slow ${worker}`.length));
  assert.equal(f.b, f.B);
  assert.equal(f.T, '0');
  assert.ok(Number(f.M) >= 100 && Number(f.M) < 10_000, `M=${f.M}`);
  assert.ok(Math.abs(Number(f.D) / 1000 - Number(f.M)) <= 1, `D=${f.D} M=${f.M}`);
  assert.match(f.L, /^0\.\d{6}$/);
  assert.equal(f.p, `<${worker}>`);
  assert.equal(f.ua, 'x');
  assert.equal(f.ct, '-', 'a header the response does not have');
  assert.match(f.port, /^\d+$/);
  assert.equal(f.env, 'marked');
  assert.ok(line.endsWith(' 100%'), line);
});

test("logFormat 'json': one object per line with the format's atoms by name", async (t) => {
  const file = join(tmp(t), 'access.log');
  const { port } = await serve(t, { accesslog: file, logFormat: 'json', accessLogFormat: '%(h)s "%(r)s" %(s)s %(b)s %(M)s %({x-request-id}i)s %(f)s' });
  await get(port, '/version', { 'x-request-id': 'abc' });
  const [line] = await waitLines(file, 1);
  const o = JSON.parse(line);
  assert.ok(!Number.isNaN(Date.parse(o.time)));
  assert.equal(typeof o.pid, 'number');
  assert.equal(o.remote_addr, '127.0.0.1');
  assert.equal(o.request, 'GET /version HTTP/1.1');
  assert.equal(o.status, 200);
  assert.equal(o.bytes, 2);
  assert.equal(typeof o.duration_ms, 'number');
  assert.equal(o['req_x-request-id'], 'abc');
  assert.equal(o.referer, null);
});

test("accesslog '-' writes to stdout; threaded workers log too", async (t) => {
  const { m, port } = await serve(t, { accesslog: '-', workerClass: 'threaded', threads: 2 });
  await get(port, '/version?from=threads');
  await waitFor(() => /"GET \/version\?from=threads HTTP\/1\.1" 200 2/.test(m.stdout), `the line on stdout\n${m.stdout}`);
});

test('USR1 reopens the file (logrotate): later lines go to the new file', async (t) => {
  const dir = tmp(t);
  const file = join(dir, 'access.log');
  const { m, port } = await serve(t, { accesslog: file, workers: 2 });
  await get(port, '/before');
  await waitLines(file, 1);
  renameSync(file, join(dir, 'access.log.1'));
  m.signal('SIGUSR1');
  await waitFor(() => (m.stderr.match(/Worker reopening logs\./g) ?? []).length >= 2, `both workers reopen\n${m.stderr}`);
  await get(port, '/after');
  const [line] = await waitLines(file, 1);
  assert.match(line, /GET \/after /);
  assert.deepEqual(lines(join(dir, 'access.log.1')).map((l) => /GET (\S+)/.exec(l)[1]), ['/before']);
});

test('a bad format is a config error naming the option; the flag names the flag', async () => {
  const check = (accessLogFormat) => () => resolveConfig({ accessLogFormat }, (v) => v, {});
  assert.throws(check('%(h)s %(zz)s'), (e) => e.code === 'ARBITER_ERR_CONFIG' && /`accessLogFormat`/.test(e.message) && /unknown atom "zz"/.test(e.message));
  assert.throws(check('%(h)s %(r'), /`accessLogFormat`.*starts no %\(name\)s/s);
  assert.throws(check('50% %(h)s'), /`accessLogFormat`/);
  assert.throws(check('%(h)x'), /needs "s"/);
  assert.throws(check(''), /`accessLogFormat`/);
  assert.throws(() => resolveConfig({ accesslog: 42 }, (v) => v, {}), /`accesslog`/);
  assert.doesNotThrow(check('%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(m)s %(U)s %(q)s %(H)s %(B)s %(T)s %(M)s %(D)s %(L)s %(p)s %({a}i)s %({b}o)s %({c}e)s 100%%'));
  const r = await cli(['--access-logformat', '%(h)s %(nope)s', '--check-config', fixture('cli/app.mjs')]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /--access-logformat %\(h\)s %\(nope\)s: .*unknown atom "nope"/);
});

test('an access log that cannot be opened fails the boot with a clear error', async (t) => {
  const port = await freePort();
  const m = Master.start(t, 'app.mjs', { bind: `127.0.0.1:${port}`, workers: 1, accesslog: '/nonexistent-dir/access.log', maxRestarts: 1 });
  await m.waitForLog(/Cannot open the access log \(accesslog\) \/nonexistent-dir\/access\.log: ENOENT/);
  m.signal('SIGKILL');
});
