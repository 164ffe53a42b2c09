// Builds the dual package: dist/cjs (the code, CommonJS, with declarations) and dist/esm (an ESM
// entry point and the declarations ESM consumers see).
//
// The ESM entry (dist/esm/index.js) loads the CommonJS build instead of a tree of ESM modules:
// every worker process loads the package on its way to accepting, and Node's ESM loader costs far
// more per module than require() (measured with a trivial app: importing the ESM tree cost about
// 3x the CPU of requiring the CommonJS one, on top of a bare `node` start). So there is one copy
// of the code, whichever way the package is loaded; tests that reach internals require them from
// dist/cjs (an internal imported from another copy would bring its own ArbiterError class).
import { execFileSync } from 'node:child_process';
import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const tsc = require.resolve('typescript/bin/tsc');
rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true });
for (const project of ['tsconfig.json', 'tsconfig.cjs.json']) {
  execFileSync(process.execPath, [tsc, '-p', project], { stdio: 'inherit', cwd: new URL('..', import.meta.url) });
}
writeFileSync(new URL('../dist/cjs/package.json', import.meta.url), '{ "type": "commonjs" }\n');
writeFileSync(new URL('../dist/esm/package.json', import.meta.url), '{ "type": "module" }\n');

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
