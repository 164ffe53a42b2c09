// Overload shedding (SPEC §12): maxQueueTime (X-Request-Start) and maxEventLoopDelay answer 503 +
// Retry-After before the app runs, in every HTTP model and for apps that listen themselves;
// counted in arbiter_shed_total{reason}; arbiter_request_queue_seconds when the header is there.
import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';
import { createRequire } from 'node:module';
import { Arbiter, ArbiterError } from 'arbiter';
import { BIN } from './cli-helpers.mjs';
import { fixture, freePort, Master, request, waitFor } from './helpers.mjs';
import { parsePrometheus, sample } from './prometheus.mjs';

const { requestStart } = createRequire(import.meta.url)('../dist/cjs/models/shed.js');

/** GET with headers; resolves with status, headers and body. */
function get(port, path, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, headers, agent: false, timeout: 15_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    req.on('timeout', () => req.destroy(new Error('request timeout')));
    req.on('error', reject);
  });
}

/** A histogram's sample: `suffix` is `_bucket`, `_sum` or `_count`. */
const hist = (page, suffix, labels = {}) => {
  const f = page.get('arbiter_request_queue_seconds');
  const hits = f.samples.filter((s) => s.name.endsWith(suffix) && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  assert.equal(hits.length, 1, `one ${suffix} ${JSON.stringify(labels)}`);
  return hits[0].value;
};

const started = (m) => (m.stdout.match(/^STARTED /gm) ?? []).length;

test('X-Request-Start: seconds (nginx), milliseconds (Heroku, Render), microseconds', () => {
  assert.equal(requestStart('t=1712345678.123'), 1712345678123);
  assert.equal(requestStart('t=1712345678'), 1712345678000);
  assert.equal(requestStart('t=1712345678123'), 1712345678123);
  assert.equal(requestStart('1712345678123'), 1712345678123);
  assert.equal(requestStart('t=1712345678123456'), 1712345678123.456);
  for (const bad of ['', 't=', 'abc', 't=12x', 't=-5']) assert.equal(requestStart(bad), undefined, bad);
});

test('maxQueueTime and maxEventLoopDelay are validated like durations', () => {
  for (const name of ['maxQueueTime', 'maxEventLoopDelay']) {
    assert.throws(() => new Arbiter({ config: { [name]: 'soon' }, load: () => () => {} }), (err) => err instanceof ArbiterError && err.message.includes(`\`${name}\``) && err.message.includes('"soon"'));
    assert.equal(new Arbiter({ config: {}, load: () => () => {} }).config[name], 0, 'off by default');
    assert.equal(new Arbiter({ config: { [name]: 250 }, load: () => () => {} }).config[name], 250, 'a bare number below 1000 is milliseconds');
  }
});

for (const workerClass of ['async', 'sync', 'threaded']) {
  test(`maxQueueTime (${workerClass}): a request that waited too long gets 503 + Retry-After before the app runs`, async (t) => {
    const [port, statusPort] = [await freePort(), await freePort()];
    const m = Master.start(t, 'app.mjs', { bind: `127.0.0.1:${port}`, workers: 1, workerClass, threads: 2, maxQueueTime: 500, statusBind: `127.0.0.1:${statusPort}` });
    await m.ready(1);
    await m.waitForLog(/Status server listening at/);
    const now = Date.now();
    const old = [`t=${((now - 3000) / 1000).toFixed(3)}`, `t=${now - 3000}`, `t=${(now - 3000) * 1000}`];
    for (const header of old) {
      const r = await get(port, '/slow?ms=1', { 'x-request-start': header });
      assert.equal(r.status, 503, header);
      assert.equal(r.headers['retry-after'], '1');
      assert.equal(r.body, 'Service Unavailable\n');
    }
    // a keep-alive client: the sync model (one connection at a time) closes, the others keep it
    const ka = await get(port, '/slow?ms=1', { 'x-request-start': old[1], connection: 'keep-alive' });
    assert.equal(ka.status, 503);
    assert.equal(ka.headers.connection, workerClass === 'sync' ? 'close' : 'keep-alive');
    assert.equal(started(m), 0, 'the app never saw them');
    assert.equal((await get(port, '/slow?ms=1', { 'x-request-start': `t=${Date.now()}` })).status, 200, 'a fresh one is served');
    assert.equal((await get(port, '/slow?ms=1')).status, 200, 'so is one without the header');
    await waitFor(() => started(m) === 2, 'the app ran the two served requests');
    const page = await waitFor(async () => {
      const p = parsePrometheus((await request(statusPort, '/metrics')).body);
      return p.has('arbiter_request_queue_seconds') && hist(p, '_count') === 5 && p;
    }, 'five queue times recorded', 20_000, 100);
    assert.equal(page.get('arbiter_shed_total').type, 'counter');
    assert.equal(sample(page, 'arbiter_shed_total', { reason: 'queue_time' }), 4);
    assert.equal(sample(page, 'arbiter_shed_total', { reason: 'event_loop_delay' }), 0);
    assert.equal(page.get('arbiter_request_queue_seconds').type, 'histogram');
    assert.equal(hist(page, '_bucket', { le: '+Inf' }), 5);
    assert.equal(hist(page, '_bucket', { le: '2.5' }), 1, 'the fresh one; the four old ones waited ~3 s');
    assert.equal(hist(page, '_bucket', { le: '5' }), 5);
    const sum = hist(page, '_sum');
    assert.ok(sum >= 12 && sum < 25, `sum ${sum}`);
  });
}

test('maxEventLoopDelay: new requests get 503 while the loop lags, and are served again once it recovers; the status server never sheds', async (t) => {
  const [port, statusPort] = [await freePort(), await freePort()];
  const m = Master.start(t, 'app.mjs', { bind: `127.0.0.1:${port}`, workers: 1, timeout: 60_000, maxEventLoopDelay: 100, statusBind: `127.0.0.1:${statusPort}` });
  await m.ready(1);
  await m.waitForLog(/Status server listening at/);
  assert.equal((await get(port, '/')).status, 200, 'a calm loop serves');
  // back-to-back 300 ms blocks: the loop's delay p99 goes to ~300 ms, and then requests are shed
  let shed;
  const deadline = Date.now() + 30_000;
  let blocks = 0;
  while (!shed && Date.now() < deadline) {
    const r = await get(port, '/block?ms=300');
    if (r.status === 503) shed = r;
    else blocks++;
  }
  assert.ok(shed, `a request was shed after ${blocks} blocking ones`);
  assert.equal(shed.headers['retry-after'], '1');
  assert.equal((await request(statusPort, '/healthz')).status, 200, 'the status server answers');
  const page = parsePrometheus((await request(statusPort, '/metrics')).body);
  assert.ok(sample(page, 'arbiter_shed_total', { reason: 'event_loop_delay' }) >= 1);
  // calm again: within a couple of seconds the last second's p99 is low and requests are served
  await waitFor(async () => (await get(port, '/')).status === 200, 'served again once the loop is calm', 20_000, 200);
});

test('maxQueueTime for an app that calls listen() itself (arbiter CLI)', async (t) => {
  const port = await freePort();
  const m = Master.start(t, null, {}, { command: process.execPath, args: [BIN, '-w', '1', '--max-queue-time', '500ms', fixture('listen/http.mjs')], env: { APP_PORT: String(port) } });
  await waitFor(() => /LISTENING/.test(m.stdout), 'the app listens', 30_000);
  await waitFor(async () => (await get(port, '/').catch(() => ({}))).status === 200, 'served', 30_000, 100);
  const r = await get(port, '/slow?ms=1', { 'x-request-start': `t=${Date.now() - 5000}` });
  assert.equal(r.status, 503);
  assert.equal(r.headers['retry-after'], '1');
  assert.doesNotMatch(m.stdout, /STARTED \/slow/, 'the app never saw it');
  assert.equal((await get(port, '/', { 'x-request-start': `t=${Date.now()}` })).status, 200);
});
