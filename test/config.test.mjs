// Unit tests: config validation (through the public constructor) and bind parsing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Arbiter, ArbiterError, DEFAULTS, VERSION } from 'arbiter';
import { readFileSync } from 'node:fs';

const load = () => () => {};
const make = (config) => new Arbiter({ config, load });

function rejects(config, pattern, code = 'ARBITER_ERR_CONFIG') {
  assert.throws(
    () => make(config),
    (err) => {
      assert.ok(err instanceof ArbiterError, `ArbiterError, got ${err}`);
      assert.equal(err.code, code);
      assert.match(err.message, pattern);
      return true;
    },
  );
}

test('defaults follow the contract', () => {
  const saved = { PORT: process.env.PORT, WEB_CONCURRENCY: process.env.WEB_CONCURRENCY };
  delete process.env.PORT;
  delete process.env.WEB_CONCURRENCY;
  try {
    const c = make(undefined).config;
    assert.deepEqual(c.bind, ['127.0.0.1:8000']);
    assert.equal(c.workers, 1);
    assert.equal(c.workerClass, 'async');
    assert.equal(c.timeout, 30_000);
    assert.equal(c.gracefulTimeout, 30_000);
    assert.equal(c.keepAlive, 2000);
    assert.equal(c.backlog, 2048);
    assert.equal(c.workerConnections, 1000);
    assert.equal(c.maxRequests, 0);
    assert.equal(c.pidfile, null);
    assert.equal(c.logLevel, 'info');
    assert.equal(c.logger, process.stderr);
    assert.ok(Object.isFrozen(c));
    assert.ok(Object.isFrozen(DEFAULTS));
  } finally {
    Object.assign(process.env, Object.fromEntries(Object.entries(saved).filter(([, v]) => v !== undefined)));
  }
});

test('PORT and WEB_CONCURRENCY feed the defaults, and are validated', () => {
  process.env.PORT = '9123';
  process.env.WEB_CONCURRENCY = '5';
  try {
    const c = make({}).config;
    assert.deepEqual(c.bind, ['0.0.0.0:9123']);
    assert.equal(c.workers, 5);
    assert.equal(make({ workers: 2, bind: ':1' }).config.workers, 2, 'explicit options win');
    process.env.WEB_CONCURRENCY = 'lots';
    rejects({}, /WEB_CONCURRENCY.*"lots"/);
  } finally {
    delete process.env.PORT;
    delete process.env.WEB_CONCURRENCY;
  }
});

test('the caller’s object is never mutated', () => {
  const config = { workers: 2, bind: ['127.0.0.1:1'] };
  const copy = structuredClone(config);
  const a = make(config);
  assert.deepEqual(config, copy);
  assert.notEqual(a.config.bind, config.bind);
});

test('bad values name the option, the value and the expectation', () => {
  rejects({ timeout: 'abc' }, /^Expected `timeout` to be a non-negative integer \(milliseconds\) or a duration with a unit such as "30s", "500ms", "2m" or "1h", got "abc" \(string\)$/);
  rejects({ workers: 0 }, /`workers` to be a positive integer or "auto", got 0 \(number\)/);
  rejects({ workers: 1.5 }, /`workers`.*1\.5/);
  rejects({ workers: -1 }, /`workers`.*-1/);
  rejects({ gracefulTimeout: -5 }, /`gracefulTimeout`.*milliseconds.*-5/);
  rejects({ timeout: 2 ** 31 }, /`timeout`.*at most 2147483647/);
  rejects({ backlog: 0 }, /`backlog`/);
  rejects({ keepAlive: null }, /`keepAlive`.*null/);
  rejects({ maxRequests: -1 }, /`maxRequests`/);
  rejects({ maxRequestsJitter: '3' }, /`maxRequestsJitter`.*"3" \(string\)/);
  rejects({ workerConnections: 0 }, /`workerConnections`/);
  rejects({ threads: 0 }, /`threads`/);
  rejects({ workerClass: 'gevent' }, /`workerClass` to be "async", "sync", "threaded" or a WorkerClass subclass, got "gevent"/);
  rejects({ workerClass: class {} }, /`workerClass`/);
  rejects({ pidfile: '' }, /`pidfile`/);
  rejects({ procName: 42 }, /`procName`.*42 \(number\)/);
  rejects({ env: { A: 1 } }, /`env\.A` to be a string, got 1/);
  rejects({ env: 'A=1' }, /`env`/);
  rejects({ logger: 'stderr' }, /`logger` to be false or an object with a write\(line\) method/);
  rejects({ logLevel: 'verbose' }, /`logLevel` to be one of "debug", "info", "warning", "error", "critical", got "verbose"/);
  rejects({ postFork: 'yes' }, /`postFork` to be a function/);
  rejects({ bind: [] }, /`bind`/);
  rejects({ bind: 8000 }, /`bind`.*8000 \(number\)/);
});

test('unknown option names are errors, with a hint', () => {
  rejects({ worker: 2 }, /Unknown option `worker`/);
  rejects({ graceful_timeout: 1 }, /Unknown option `graceful_timeout` \(did you mean `gracefulTimeout`\?\)/);
});

test('a misspelled option gets a "did you mean" from edit distance', () => {
  for (const [typo, meant] of [['timout', 'timeout'], ['wrokers', 'workers'], ['worker', 'workers'], ['threds', 'threads'], ['keepalive', 'keepAlive'], ['maxRequest', 'maxRequests'], ['postfork', 'postFork'], ['bnd', 'bind']]) {
    rejects({ [typo]: 1 }, new RegExp(`^Unknown option \`${typo}\` \\(did you mean \`${meant}\`\\?\\); known options: `));
  }
  rejects({ xyz: 1 }, /^Unknown option `xyz`; known options: /); // nothing close: no guess
});

test('durations and sizes: milliseconds and bytes, or strings with a unit; resolved to numbers', () => {
  const c = make({ timeout: '2s', gracefulTimeout: '500ms', bootTimeout: '2m', keepAlive: '1.5s', restartWindow: '1h', maxWorkerMemory: '512mb' }).config;
  assert.deepEqual(
    [c.timeout, c.gracefulTimeout, c.bootTimeout, c.keepAlive, c.restartWindow, c.maxWorkerMemory],
    [2000, 500, 120_000, 1500, 3_600_000, 512 * 2 ** 20],
  );
  assert.equal(new Arbiter({ config: { timeout: '2s' }, load }).config.timeout, 2000);
  // sizes: 1024-based, any case (as the command's --max-worker-memory)
  assert.deepEqual(['1gb', '1GB', '64mb', '16384kb', '1g'].map((v) => make({ maxWorkerMemory: v }).config.maxWorkerMemory), [2 ** 30, 2 ** 30, 2 ** 26, 2 ** 24, 2 ** 30]);
  // bare numbers stay milliseconds in the library, even small ones (only config files refuse them)
  assert.deepEqual([make({ timeout: 30 }).config.timeout, make({ keepAlive: 500 }).config.keepAlive, make({ timeout: 0 }).config.timeout], [30, 500, 0]);
  rejects({ timeout: '30' }, /^Expected `timeout` to be a non-negative integer \(milliseconds\) or a duration with a unit such as "30s".*got "30" \(string\)$/);
  rejects({ timeout: '30 seconds' }, /`timeout`.*got "30 seconds"/);
  rejects({ timeout: '-1s' }, /`timeout`.*got "-1s"/);
  rejects({ timeout: '30S' }, /`timeout`.*got "30S"/); // duration units are lower case: M would be ambiguous
  rejects({ keepAlive: '25d' }, /`keepAlive`.*"25d"/);
  rejects({ timeout: '600h' }, /^Expected `timeout` to be at most 2147483647 \(milliseconds, about 24\.8 days\), got "600h" \(string\)$/);
  rejects({ restartWindow: '0s' }, /`restartWindow` to be a positive integer \(milliseconds\), got "0s"/);
  rejects({ maxWorkerMemory: '512' }, /^Expected `maxWorkerMemory` to be a non-negative integer \(bytes\) or a size with a unit such as "512mb", "1gb" or "64kb", got "512" \(string\)$/);
  rejects({ maxWorkerMemory: '512 megs' }, /`maxWorkerMemory`.*"512 megs"/);
  rejects({ maxWorkerMemory: '1kb' }, /`maxWorkerMemory` to be 0 \(off\) or at least 16777216 .*got "1kb" \(string\)/);
});

test('bind forms', () => {
  assert.deepEqual(make({ bind: ['127.0.0.1:80', ':81', '[::1]:82', 'unix:/tmp/x.sock', 'fd://3', 'localhost:0', 'tcp://127.0.0.1:83', 'tcp://[::1]:84', 'tcp://:85'] }).config.bind.length, 9);
  for (const bad of ['127.0.0.1', '127.0.0.1:http', '1.2.3.4:70000', 'unix:', 'fd://x', '::1:80', '', 'tcp://', 'tcp://127.0.0.1', 'http://127.0.0.1:80', 'tcp://unix:/x']) {
    rejects({ bind: bad }, /`bind`/);
  }
});

test('the app must have load()', () => {
  assert.throws(() => new Arbiter({}), (err) => err.code === 'ARBITER_ERR_CONFIG' && /load\(\)/.test(err.message));
});

test('threaded is accepted, with threads', () => {
  assert.equal(make({ workerClass: 'threaded', threads: 4 }).config.threads, 4);
});

test('control methods before run() fail clearly', async () => {
  const a = make({});
  assert.throws(() => a.reload(), /not running/);
  assert.throws(() => a.scale(2), /not running/);
  const stopped = a.stop(); // a promise-returning method rejects, it does not throw
  await assert.rejects(stopped, (err) => err.code === 'ARBITER_ERR_STATE' && /before run\(\)/.test(err.message));
  assert.throws(() => a.reexec(), (err) => err.code === 'ARBITER_ERR_STATE');
  assert.equal(a.workers.size, 0);
  assert.equal(a.numWorkers, 1);
});

test('VERSION matches package.json', () => {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  assert.equal(VERSION, pkg.version);
});

test('workers and spareWorkers: at most MAX_WORKERS (1024); 256 and 1024 are fine', async () => {
  const { MAX_WORKERS } = await import('arbiter');
  assert.equal(MAX_WORKERS, 1024);
  assert.equal(make({ workers: 256 }).config.workers, 256);
  assert.equal(make({ workers: 1024, spareWorkers: 1024 }).config.workers, 1024);
  rejects({ workers: 1025 }, /^Expected `workers` to be at most 1024 \(the limit on workers per master\), got 1025 \(number\)$/);
  rejects({ workers: 1_000_000_000 }, /^Expected `workers` to be at most 1024 .*got 1000000000 \(number\)$/);
  rejects({ spareWorkers: 5000 }, /^Expected `spareWorkers` to be at most 1024 \(the limit on workers per master\), got 5000 \(number\)$/);
  const saved = process.env.WEB_CONCURRENCY;
  process.env.WEB_CONCURRENCY = '100000';
  try {
    rejects({}, /^Expected environment variable WEB_CONCURRENCY to be at most 1024 \(the limit on workers per master\), got "100000"$/);
  } finally {
    if (saved === undefined) delete process.env.WEB_CONCURRENCY;
    else process.env.WEB_CONCURRENCY = saved;
  }
});

test("the README's options table lists every option of the option table, with its default", async () => {
  const { OPTIONS } = await import('../dist/esm/config/options.js');
  const { DURATION_OPTIONS, resolveConfig } = await import('../dist/esm/config.js');
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const start = readme.indexOf('| option | default | meaning |');
  assert.ok(start >= 0, "README's options table");
  const rows = readme
    .slice(start)
    .split('\n')
    .slice(2)
    .filter((_, i, all) => all.slice(0, i + 1).every((l) => l.startsWith('|')))
    .map((l) => l.split(' | ').map((c) => c.replace(/^\| ?|`/g, '')));
  // a row names one option, or several with their defaults in the same order (`maxRequests` / `maxRequestsJitter` | 0 / 0) or one for all
  const readmeDefault = new Map();
  for (const [names, defaults] of rows) {
    if (names === 'hooks') continue;
    const list = names.split(' / ');
    const values = defaults.includes(' / ') ? defaults.split(' / ') : list.map(() => defaults);
    assert.equal(values.length, list.length, `README row ${names}: one default per option`);
    list.forEach((name, i) => readmeDefault.set(name, values[i]));
  }
  const hooks = rows.find(([names]) => names === 'hooks')?.[2] ?? '';
  const resolved = resolveConfig({}, (v) => v, {}); // the defaults that depend on the environment, without one
  const shown = (v) => (v === null ? 'none' : v === process.stderr ? 'stderr' : typeof v === 'string' ? `'${v}'` : Array.isArray(v) ? (v.length === 0 ? '[]' : `'${v[0]}'`) : typeof v === 'object' ? JSON.stringify(v) : String(v));
  for (const [name, spec] of Object.entries(OPTIONS)) {
    if (spec === OPTIONS.postFork) { // every hook has the same row
      assert.ok(hooks.includes(name), `README's hooks row names ${name}`);
      continue;
    }
    assert.ok(readmeDefault.has(name), `README's options table has a row for ${name}`);
    const want = shown('default' in spec ? spec.default : resolved[name]);
    const cell = readmeDefault.get(name);
    assert.ok(cell.startsWith(want) || cell.endsWith(` or ${want}`), `README's default of ${name}: ${JSON.stringify(cell)}, the option table's: ${want}`);
  }
  for (const name of readmeDefault.keys()) assert.ok(Object.hasOwn(OPTIONS, name), `README's options table: ${name} is an option`);
  // the duration options (whose bare numbers a config file refuses below 1000) are those in milliseconds
  assert.deepEqual(Object.keys(OPTIONS).filter((name) => OPTIONS[name].unit === 'ms'), [...DURATION_OPTIONS]);
});
