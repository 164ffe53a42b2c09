// The framework recipes in examples/ run as written, under real async workers: one master per
// framework, one request each, a graceful stop (Fastify's app.close() runs in an awaited workerExit).
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { Master, freePort, request, waitFor } from './helpers.mjs';

const example = (name) => fileURLToPath(new URL(`../examples/${name}`, import.meta.url));

for (const framework of ['express', 'fastify', 'koa', 'hono']) {
  test(`examples/${framework}.mjs serves under arbiter and stops cleanly`, async (t) => {
    const port = await freePort();
    const m = Master.start(t, null, {}, {
      command: process.execPath,
      args: [example(`${framework}.mjs`)],
      env: { BIND: `127.0.0.1:${port}`, WORKERS: '1' },
    });
    await waitFor(() => m.stdout.includes(`${framework} at http://127.0.0.1:${port}`), `the banner\n${m.stdout}\n${m.stderr}`);
    await waitFor(() => /Booting worker with pid: \d+/.test(m.stderr), 'a worker');
    const res = await waitFor(async () => request(port, '/hello/you').catch(() => undefined), 'an answer');
    assert.equal(res.status, 200, res.body);
    const pid = Number(/Booting worker with pid: (\d+)/.exec(m.stderr)[1]);
    assert.equal(res.body, `hello you from ${framework}, worker ${pid}\n`);
    assert.equal((await request(port, '/nope')).status, 404, 'the framework routes (404 for an unknown path)');
    m.signal('SIGTERM');
    assert.equal((await m.exited).code, 0, m.stderr);
    if (framework === 'fastify') assert.match(m.stdout, new RegExp(`^fastify closed \\(worker ${pid}\\)$`, 'm'), 'app.close() ran in the awaited workerExit');
    assert.doesNotMatch(m.stderr, /WARNING|ERROR/);
  });
}

test('an app that calls listen() itself in a worker gets a warning in the log', async (t) => {
  const port = await freePort();
  const m = Master.start(t, 'self-listen.mjs', { bind: `127.0.0.1:${port}`, workers: 1 });
  await m.ready(1);
  const [pid] = m.readyWorkers();
  const warning = `\\[${pid}\\] \\[WARNING\\] The app called listen\\(\\) itself \\(127\\.0\\.0\\.1:0\\) in worker \\(pid: ${pid}\\): arbiter's workers already serve the master's sockets`;
  await m.waitForLog(new RegExp(`${warning}[\\s\\S]*${warning}`)); // top level, then in load()
  assert.equal((await request(port, '/')).body, 'ok');
  m.signal('SIGTERM');
  assert.equal((await m.exited).code, 0, m.stderr);
});
