// workers: 'auto' — one worker per CPU the process may use (cgroup v2 cpu.max quota, else
// os.availableParallelism()), against fake cgroup trees.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Arbiter, ArbiterError } from 'arbiter';
import { cpuBudget } from '../dist/esm/cpus.js';
import { Master, freePort } from './helpers.mjs';

const cpus = availableParallelism();

/** A fake cgroup v2 mount: `files` maps paths under it to contents; returns [root, fake /proc/self/cgroup]. */
function fakeCgroup(t, own, files) {
  const root = mkdtempSync(join(tmpdir(), 'arbiter-cgroup-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  const self = join(root, 'self-cgroup');
  writeFileSync(self, `0::${own}\n`);
  return [root, self];
}

const budget = (root, self) => cpuBudget({ ARBITER_CGROUP_ROOT: root }, self);

test('cpu.max quota: rounded down, at least 1, at most availableParallelism()', (t) => {
  for (const [text, expected] of [
    ['100000 100000\n', 1],
    ['150000 100000\n', 1],
    ['50000 100000\n', 1],
    ['1000 100000\n', 1],
    [`${cpus * 100000} 100000\n`, cpus],
    [`${(cpus + 6) * 100000} 100000\n`, cpus],
  ]) {
    const [root, self] = fakeCgroup(t, '/', { 'cpu.max': text });
    const b = budget(root, self);
    assert.equal(b.count, expected, `cpu.max ${text.trim()} -> ${b.count} (${b.how})`);
    assert.match(b.how, /cgroup CPU quota .* in .*cpu\.max/);
  }
});

test('no quota ("max", no file, no cgroup v2): os.availableParallelism()', (t) => {
  const [root, self] = fakeCgroup(t, '/', { 'cpu.max': 'max 100000\n' });
  assert.deepEqual(budget(root, self), { count: cpus, how: `os.availableParallelism() is ${cpus} (no cgroup v2 CPU quota)` });
  const [empty, self2] = fakeCgroup(t, '/', {});
  assert.equal(budget(empty, self2).count, cpus);
  assert.equal(budget(empty, join(empty, 'missing')).count, cpus, 'cgroup v1 only / not Linux');
});

test('nested cgroups: the tightest quota on the way to the root wins', (t) => {
  const [root, self] = fakeCgroup(t, '/kubepods/pod1/ctr', {
    'kubepods/pod1/ctr/cpu.max': 'max 100000\n',
    'kubepods/pod1/cpu.max': '100000 100000\n', // the pod's limit: 1 CPU
    'kubepods/cpu.max': `${(cpus + 2) * 100000} 100000\n`,
  });
  const b = budget(root, self);
  assert.equal(b.count, 1);
  assert.match(b.how, /kubepods\/pod1\/cpu\.max/);
});

test("workers: 'auto' resolves to a number at config time; other strings are refused", (t) => {
  const [root] = fakeCgroup(t, '/', { 'cpu.max': '100000 100000\n' });
  process.env.ARBITER_CGROUP_ROOT = root;
  try {
    const config = new Arbiter({ config: { workers: 'auto' }, load: () => () => {} }).config;
    assert.equal(typeof config.workers, 'number');
    assert.ok(config.workers >= 1 && config.workers <= cpus);
  } finally {
    delete process.env.ARBITER_CGROUP_ROOT;
  }
  assert.throws(
    () => new Arbiter({ config: { workers: 'many' }, load: () => () => {} }),
    (err) => err instanceof ArbiterError && /Expected `workers` to be a positive integer or "auto", got "many" \(string\)/.test(err.message),
  );
});

test("a master with workers: 'auto' under a 1-CPU quota runs 1 worker and logs why", async (t) => {
  const [root] = fakeCgroup(t, '/', { 'cpu.max': '100000 100000\n' });
  const port = await freePort();
  const m = Master.start(t, 'app.mjs', { bind: `127.0.0.1:${port}`, workers: 'auto' }, { env: { ARBITER_CGROUP_ROOT: root } });
  await m.ready(1);
  await m.waitForLog(/Using 1 worker \(workers: 'auto': cgroup CPU quota 1 CPU in .*cpu\.max, rounded down, at least 1\)/);
  assert.equal(m.workers().length, 1);
  m.signal('SIGTERM');
  assert.equal((await m.exited).code, 0);
});
