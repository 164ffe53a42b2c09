// What load() returns: recognised (src/models/handler.ts, also used by the CLI) and checked at
// boot by the HTTP models — a wrong value halts the master once with status 3 and a recipe.
import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';
import express from 'express';
import fastify from 'fastify';
import { Hono } from 'hono';
import Koa from 'koa';
import { ArbiterError } from 'arbiter';
import { checkRequestListener, describeHandler, handlerKind, isRequestListener } from '../dist/esm/models/handler.js';
import { Master, freePort } from './helpers.mjs';

test('handlerKind recognises real framework objects', () => {
  const koa = new Koa();
  const cases = [
    [express(), 'express'],
    [(req, res) => res.end(), 'request-listener'],
    [async function named() {}, 'request-listener'],
    [fastify(), 'fastify'],
    [koa, 'koa'],
    [koa.callback(), 'request-listener'],
    [new Hono(), 'hono'],
    [http.createServer(), 'server'],
    [{ load() {} }, 'application'],
    [class App {}, 'class'],
    [{ a: 1 }, 'other'],
    [undefined, 'other'],
    ['text', 'other'],
  ];
  for (const [value, kind] of cases) assert.equal(handlerKind(value), kind, describeHandler(value));
  assert.ok(isRequestListener(express()) && isRequestListener(koa.callback()));
  assert.ok(!isRequestListener(fastify()) && !isRequestListener(koa) && !isRequestListener(null));
});

test('checkRequestListener says what was found, what is expected, and how to serve a framework', () => {
  const message = (value) => {
    try {
      checkRequestListener(value, 'async');
    } catch (err) {
      assert.ok(err instanceof ArbiterError);
      assert.equal(err.code, 'ARBITER_ERR_HANDLER');
      return err.message;
    }
    assert.fail('no error');
  };
  assert.match(message(fastify()), /^Expected load\(\) to return a request listener, \(req, res\) => void, for the `async` worker, got a Fastify instance; .*await app\.ready\(\); return app\.routing;/);
  assert.match(message(new Koa()), /got a Koa app; .*app\.callback\(\)/);
  assert.match(message(new Hono()), /getRequestListener\(app\.fetch\)/);
  assert.match(message(http.createServer()), /got a Server .*not a server/);
  assert.match(message(undefined), /got undefined$/);
  assert.match(message({ hello: 'world' }), /got \{"hello":"world"\} \(object\)$/);
  checkRequestListener(express(), 'sync');
});

for (const [workerClass, extra] of [['async', {}], ['threaded', { threads: 2 }]]) {
  test(`${workerClass}: load() returning a Fastify instance fails the boot once, with status 3 and the recipe`, async (t) => {
    const port = await freePort();
    const m = Master.start(t, 'bad-handler.mjs', { bind: `127.0.0.1:${port}`, workers: 2, workerClass, ...extra }, { env: { FIXTURE_HANDLER: 'fastify' } });
    const { code } = await m.exited;
    assert.equal(code, 3, m.stderr);
    assert.match(m.stderr, new RegExp(`Expected load\\(\\) to return a request listener, \\(req, res\\) => void, for the \`${workerClass}\` worker, got a Fastify instance; serve a Fastify instance with \`load: async \\(\\) => \\{ await app\\.ready\\(\\); return app\\.routing; \\}\``));
    assert.match(m.stderr, /Reason: Worker failed to boot\./);
    assert.equal((m.stderr.match(/Booting worker with pid/g) ?? []).length, 2, 'no respawn loop: the two first workers only');
    assert.equal(m.all('worker_ready').length, 0, 'never reported ready');
    assert.doesNotMatch(m.stderr, /at .*handler\.js/, 'a message, not a stack trace');
  });
}

test('load() returning a plain object names it', async (t) => {
  const port = await freePort();
  const m = Master.start(t, 'bad-handler.mjs', { bind: `127.0.0.1:${port}`, workers: 1, workerClass: 'sync' }, { env: { FIXTURE_HANDLER: 'object' } });
  assert.equal((await m.exited).code, 3, m.stderr);
  assert.match(m.stderr, /for the `sync` worker, got \{"hello":"world"\} \(object\) \(pid: \d+\)/);
});
