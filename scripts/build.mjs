// Builds the dual package: dist/cjs (the code, CommonJS, with declarations) and dist/esm (an ESM
// entry point and the declarations ESM consumers see).
//
// Every worker process loads the package on its way to accepting, so loading it is on the
// critical path of a respawn. Hence:
// - dist/cjs/index.js is the whole library in one file (esbuild; dependencies stay external):
//   requiring ~40 modules one by one cost a worker about 20 ms more than one file (respawn after
//   SIGKILL, median of 7: 216 vs 197 ms on the 2-core dev VM, bare node 157 ms). The rest of
//   dist/cjs is tsc's tree, kept for its declarations and for tests that reach internals (which
//   then take ArbiterError from that same tree, dist/cjs/errors.js).
// - The ESM entry (dist/esm/index.js) re-exports the CommonJS build instead of loading a tree of
//   ESM modules: Node's ESM loader costs far more per module than require() (importing the ESM
//   tree cost about 3x the CPU of requiring the CommonJS one, on top of a bare `node` start). So
//   there is one copy of the code, whichever way the package is loaded.
import { execFileSync } from 'node:child_process';
import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import { buildSync } from 'esbuild';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const tsc = require.resolve('typescript/bin/tsc');
rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true });
for (const project of ['tsconfig.json', 'tsconfig.cjs.json']) {
  execFileSync(process.execPath, [tsc, '-p', project], { stdio: 'inherit', cwd: new URL('..', import.meta.url) });
}
writeFileSync(new URL('../dist/cjs/package.json', import.meta.url), '{ "type": "commonjs" }\n');
writeFileSync(new URL('../dist/esm/package.json', import.meta.url), '{ "type": "module" }\n');

buildSync({
  entryPoints: [new URL('../dist/cjs/index.js', import.meta.url).pathname],
  outfile: new URL('../dist/cjs/index.js', import.meta.url).pathname,
  allowOverwrite: true,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  packages: 'external',
  logLevel: 'warning',
});
// dist/esm keeps tsc's declarations only; its code is the entry below.
for (const entry of readdirSync(new URL('../dist/esm', import.meta.url), { recursive: true })) {
  if (String(entry).endsWith('.js')) rmSync(new URL(`../dist/esm/${entry}`, import.meta.url));
}
// The names to re-export are what the CommonJS build exports at run time (types need no code).
const names = Object.keys(require('../dist/cjs/index.js')).sort();
writeFileSync(
  new URL('../dist/esm/index.js', import.meta.url),
  `// ESM entry: the CommonJS build, re-exported (see scripts/build.mjs for why).\n` +
    `import cjs from '../cjs/index.js';\n\nexport const { ${names.join(', ')} } = cjs;\n`,
);
