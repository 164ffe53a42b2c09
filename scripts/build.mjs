// Builds the dual package: dist/cjs (the code, CommonJS, with declarations) and dist/esm (an ESM
// entry point and the declarations ESM consumers see).
//
// Every worker process loads the package on its way to accepting, so loading it is on the
// critical path of a respawn. Hence:
// - dist/cjs/index.js is the whole library, and the `arbiter` command's main(), in one file
//   (esbuild; dependencies stay external): requiring ~40 modules one by one cost a worker about
//   20 ms more than one file (respawn after SIGKILL, median of 7: 216 vs 197 ms on the 2-core dev
//   VM, bare node 157 ms). The bin (dist/cjs/cli/arbiter.js) is a shim that runs main() from that
//   file, so workers the command starts load it too, and an app that imports 'arbiter' shares it.
// - The ESM entry (dist/esm/index.js) re-exports the CommonJS build instead of loading a tree of
//   ESM modules: Node's ESM loader costs far more per module than require() (importing the ESM
//   tree cost about 3x the CPU of requiring the CommonJS one, on top of a bare `node` start). So
//   there is one copy of the code, whichever way the package is loaded. It require()s the bundle
//   (createRequire) rather than importing it: see below.
// The rest of dist/cjs and dist/esm is what tsc emits: the declarations, and modules that tests
// reach directly (an internal's error class is then that tree's, not the package's).
import { execFileSync } from 'node:child_process';
import { chmodSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { build } from 'esbuild';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const tsc = require.resolve('typescript/bin/tsc');
rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true });
for (const project of ['tsconfig.json', 'tsconfig.cjs.json']) {
  execFileSync(process.execPath, [tsc, '-p', project], { stdio: 'inherit', cwd: new URL('..', import.meta.url) });
}
writeFileSync(new URL('../dist/cjs/package.json', import.meta.url), '{ "type": "commonjs" }\n');
writeFileSync(new URL('../dist/esm/package.json', import.meta.url), '{ "type": "module" }\n');

const dist = (file) => new URL(`../dist/${file}`, import.meta.url);

// Modules only a master runs, required by modules a worker runs too, and `debug` (only needed
// once something is traced): in the bundle they are loaded on first use, so a worker never
// compiles or evaluates them (about 15 ms of CPU per worker boot on the 2-core dev VM: requiring
// the bundle took 26-33 ms, now 15-17).
// tsc emits `const x_js_1 = require("./x.js");` and reads `x_js_1.name` where the name is used,
// so the module object can be a getter that requires the module the first time it is read.
const LAZY = {
  'trace.js': ['debug'],
  'arbiter.js': ['./master/listeners.js', './control/server.js', './master/stats.js', './master/supervisor.js', './master/metrics.js', './master/status-server.js', './master/systemd.js'],
};
const lazyModules = {
  name: 'lazy-master-modules',
  setup(build) {
    build.onLoad({ filter: /[\\/]dist[\\/]cjs[\\/][^\\/]+\.js$/ }, (args) => {
      const specs = LAZY[args.path.split(/[\\/]/).pop()];
      if (!specs) return undefined;
      let code = readFileSync(args.path, 'utf8');
      for (const spec of specs) {
        const re = new RegExp(`^(const|var) (\\w+) = ((?:__import\\w+\\()?require\\("${spec.replace(/[.]/g, '\\.')}"\\)\\)?);$`, 'm');
        if (!re.test(code)) throw new Error(`build: no \`require("${spec}")\` to make lazy in ${args.path}`);
        code = code.replace(re, (_, kind, name, load) => `${kind} ${name} = lazyModule(() => ${load});`);
      }
      code += '\nfunction lazyModule(load) {\n  let m;\n  return new Proxy({}, { get: (_, key) => (m ??= load())[key] });\n}\n';
      return { contents: code, loader: 'js' };
    });
  },
};

await build({
  stdin: {
    // cliMain is a getter: only the command's process loads the CLI.
    contents:
      "module.exports = require('./index.js');\n" +
      "Object.defineProperty(module.exports, 'cliMain', { enumerable: false, get: () => require('./cli/main.js').main });",
    resolveDir: dist('cjs').pathname,
    sourcefile: 'bundle-entry.cjs',
  },
  plugins: [lazyModules],
  outfile: dist('cjs/index.js').pathname,
  allowOverwrite: true,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  packages: 'external',
  logLevel: 'warning',
});
writeFileSync(
  dist('cjs/cli/arbiter.js'),
  `#!/usr/bin/env node\n'use strict';\n// The \`arbiter\` command: main() from the bundled package (see scripts/build.mjs).\n` +
    `// First the Node.js version (a small module of its own: an older Node might not load the bundle).\n` +
    `const unsupported = require('../node-support.js').unsupportedNode();\n` +
    `if (unsupported) {\n  process.stderr.write(\`arbiter: \${unsupported}\\n\`);\n  process.exit(1);\n}\n` +
    `require('../index.js').cliMain(process.argv.slice(2)).then(\n` +
    `  (status) => {\n    process.exitCode = status;\n  },\n` +
    `  (err) => {\n    process.stderr.write(\`arbiter: \${err instanceof Error ? (err.stack ?? err.message) : String(err)}\\n\`);\n    process.exit(1); // whatever the loaded code left running\n  },\n);\n`,
);
chmodSync(dist('cjs/cli/arbiter.js'), 0o755);
// The names to re-export are what the CommonJS build exports at run time (types need no code).
const names = Object.keys(require('../dist/cjs/index.js')).sort(); // cliMain is not enumerable
// Loaded with require(), not `import cjs from '../cjs/index.js'`: importing a CommonJS module makes
// Node's ESM loader scan its source for export names (cjs-module-lexer, over the whole ~290 KB
// bundle) — on Node 20 that alone cost a worker with an ESM entry 350 M instructions (956 M vs
// 605 M to load the package; Node 24: 176 M vs 169 M; callgrind). Same module instance either way.
writeFileSync(
  new URL('../dist/esm/index.js', import.meta.url),
  `// ESM entry: the CommonJS build, re-exported (see scripts/build.mjs for why).\n` +
    `import { createRequire } from 'node:module';\n\n` +
    `const cjs = createRequire(import.meta.url)('../cjs/index.js');\n\nexport const { ${names.join(', ')} } = cjs;\n`,
);
