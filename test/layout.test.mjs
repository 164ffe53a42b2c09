// The source layout stays readable: no import cycles between modules (type imports included),
// and the config knows no worker model (models depend on the config, never the reverse).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

const src = fileURLToPath(new URL('../src/', import.meta.url));

/** Every module of src/ and the local modules it imports (`import`, `import type`, `export … from`). */
function graph() {
  const files = readdirSync(src, { recursive: true }).filter((f) => f.endsWith('.ts')).map((f) => join(src, f));
  const edges = new Map();
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    const deps = [...text.matchAll(/^\s*(?:import|export)\b[^'"]*?from\s+['"](\.[^'"]+)['"]/gm)].map((m) =>
      relative(src, resolve(dirname(file), m[1].replace(/\.js$/, '.ts'))),
    );
    edges.set(relative(src, file), [...new Set(deps)]);
  }
  return edges;
}

function cycles(edges) {
  const found = [];
  const state = new Map(); // 1 visiting, 2 done
  const stack = [];
  const visit = (n) => {
    state.set(n, 1);
    stack.push(n);
    for (const d of edges.get(n) ?? []) {
      if (state.get(d) === 1) found.push([...stack.slice(stack.indexOf(d)), d].join(' > '));
      else if (!state.has(d)) visit(d);
    }
    stack.pop();
    state.set(n, 2);
  };
  for (const n of edges.keys()) if (!state.has(n)) visit(n);
  return found;
}

test('src/ has no import cycles, type imports included', () => {
  const edges = graph();
  assert.ok(edges.size > 20, 'the scan found the modules');
  assert.deepEqual(cycles(edges), []);
});

test('config.ts and config/ import nothing from the worker models or the runtime', () => {
  const edges = graph();
  const config = [...edges.keys()].filter((f) => f === 'config.ts' || f.startsWith('config/'));
  assert.ok(config.length > 1, 'the scan found config/');
  for (const file of config) {
    const deps = edges.get(file);
    assert.deepEqual(deps.filter((d) => d.startsWith('models/') || d.startsWith('worker/') || d.startsWith('master/')), [], file);
  }
});

test('loading the package does not load what only a master or a trace needs (a worker loads it on its way to accepting)', () => {
  // scripts/build.mjs makes the master's modules and `debug` load on first use. Seen from outside:
  // node:dns/promises is required by master/listeners.ts only, and `debug` sits in require.cache.
  const probe = `
    require(${JSON.stringify(fileURLToPath(new URL('../dist/cjs/index.js', import.meta.url)))});
    const loaded = (name) => Object.keys(require.cache).some((k) => k.includes('/node_modules/' + name + '/'));
    console.log(JSON.stringify({ dns: process.moduleLoadList.includes('NativeModule dns/promises'), debug: loaded('debug'), ee: loaded('eventemitter3') }));`;
  const env = { ...process.env };
  delete env.DEBUG;
  const r = spawnSync(process.execPath, ['-e', probe], { env, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { dns: false, debug: false, ee: true });
  // ...and the probe sees them when they are loaded (tsc's unbundled tree requires eagerly).
  const eager = spawnSync(process.execPath, ['-e', probe.replace('dist/cjs/index.js', 'dist/cjs/arbiter.js')], { env, encoding: 'utf8' });
  assert.equal(eager.status, 0, eager.stderr);
  assert.deepEqual(JSON.parse(eager.stdout), { dns: true, debug: true, ee: true });
});
