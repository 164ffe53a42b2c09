// The source layout stays readable: no import cycles between modules (type imports included),
// and the config knows no worker model (models depend on the config, never the reverse).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
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

test('config.ts imports nothing from the worker models or the runtime', () => {
  const deps = graph().get('config.ts');
  assert.deepEqual(deps.filter((d) => d.startsWith('models/') || d.startsWith('worker/') || d.startsWith('master/')), []);
});
