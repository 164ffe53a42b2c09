import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { trace } from './trace.js';

/**
 * Where a `SyntaxError` thrown by `import()` is (see docs/design.md, "Errors point at the user's
 * code").
 *
 * V8 keeps the position of a parse error of an ES module in the error's message object, not in its
 * `.stack`; Node copies it into a private symbol of the error (the "arrow message") and prints it
 * only when the error reaches the top level uncaught (`node app.mjs`). An `import()` that fails
 * hands back an error whose stack holds Node's loader frames and nothing else, on Node 20 to 26.
 * CommonJS is different: `require()` decorates the stack itself (`/app/x.cjs:2`, the line, a caret).
 *
 * So, on the failure path only, a short-lived `node` walks the module graph from the entry (static
 * `import`/`export … from`, `import('…')` and `require('…')` with a literal specifier) and compiles
 * every ES module of it with `vm.SourceTextModule`, without linking or running anything. The file
 * that fails with the same message is rethrown there,
 * uncaught, and Node prints it as `node app.mjs` would: the file and line, the source line and a
 * caret. Nothing of the app runs in that process. The same holds for a module that Node 20.19+
 * loads through `require()` of an ES module: its parse error has only the `require()` call's frame.
 */

/** Most files the walk compiles. */
const MAX_FILES = 5000;
/** Longest time (ms) the walk may take before it is given up. */
const LOCATE_DEADLINE = 10_000;

/**
 * A SyntaxError that Node's module loader threw while compiling a file, and whose stack says
 * nothing of where the error is: no location in front of it (`require()` puts one there), and its
 * innermost frame is Node's own (`node:internal/…`). A SyntaxError thrown while the app runs
 * (`JSON.parse`, `new Function`, `new RegExp`) starts with a native frame and comes from the app's code.
 */
export function lacksLocation(err: unknown): err is SyntaxError {
  if (!(err instanceof Error) || err.name !== 'SyntaxError' || typeof err.stack !== 'string') return false;
  if (!err.stack.startsWith(err.name)) return false; // decorated: "/app/x.cjs:2\n  source\n  ^\n\nSyntaxError…"
  const top = err.stack.split('\n').find((line) => /^\s+at /.test(line));
  return top === undefined || /\(node:|^\s+at (?:async )?node:/.test(top);
}

/** The location, source line and caret Node printed for an uncaught SyntaxError, from its stderr. */
export interface SyntaxLocation {
  /** Path (or URL when it is not a file) and line: `/app/helper.mjs:2`. */
  where: string;
  /** Up to two lines: the source line and the caret under the error. */
  excerpt: string[];
}

/**
 * Reads Node's print of an uncaught error (`file:///app/x.mjs:2`, the source line, the caret, an
 * empty line, `SyntaxError: …`): the location and the excerpt, or `undefined` when it does not
 * start with a location.
 */
export function parseFatalHeader(stderr: string): SyntaxLocation | undefined {
  const lines = stderr.split('\n');
  const at = /^(.+):(\d+)$/.exec(lines[0] ?? '');
  if (!at) return undefined;
  const end = lines.findIndex((l, i) => i > 0 && /^[A-Za-z$_][\w$]*(?:Error|Exception)?\b.*?:/.test(l) && lines[i - 1] === '');
  const excerpt = lines.slice(1, end > 0 ? end - 1 : 3).slice(0, 2);
  let file = at[1]!;
  if (file.startsWith('file://')) {
    try {
      file = fileURLToPath(file);
    } catch {
      // keep the URL
    }
  }
  return { where: `${file}:${at[2]}`, excerpt };
}

/**
 * Finds which file of the graph under `entry` fails to compile with `err`'s message and puts its
 * location in front of `err.stack`, as `require()` does for CommonJS (`/app/helper.mjs:2`, the
 * source line, a caret, an empty line, then the stack). Does nothing to an error that already says
 * where it is, or when no file of the graph fails to compile (the error came from somewhere the
 * walk cannot see: a computed `import()`, a `.ts` file). Never throws.
 * @returns the location found, if any
 */
export async function locateSyntaxError(err: unknown, entry: string): Promise<SyntaxLocation | undefined> {
  if (!lacksLocation(err)) return undefined;
  const started = performance.now();
  try {
    let found = await runLocator(entry, err.message, true);
    if (found === 'no-vm-modules') found = await runLocator(entry, err.message, false);
    trace.worker('syntax error located in %d ms: %s', Math.round(performance.now() - started), typeof found === 'object' ? found.where : 'not found');
    if (typeof found !== 'object') return undefined;
    err.stack = [found.where, ...found.excerpt, '', err.stack].join('\n');
    return found;
  } catch (e) {
    trace.worker('cannot locate the syntax error: %s', (e as Error).message);
    return undefined;
  }
}

function runLocator(entry: string, expected: string, vmModules: boolean): Promise<SyntaxLocation | 'no-vm-modules' | undefined> {
  const source = `(${findSyntaxError.toString()})(JSON.parse(process.argv[1]));`;
  const flags = vmModules ? ['--experimental-vm-modules', '--no-warnings'] : ['--no-warnings'];
  // NODE_OPTIONS may preload app code (--require, --import): this process must run none.
  const { NODE_OPTIONS: _, ...env } = process.env;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...flags, '-e', source, JSON.stringify({ entry, expected, maxFiles: MAX_FILES })], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env,
      timeout: LOCATE_DEADLINE,
      killSignal: 'SIGKILL',
    });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => (stderr.length < 65_536 ? (stderr += d) : undefined));
    child.on('error', () => resolve(undefined));
    child.on('close', (code) => {
      // a Node without the flag (should it be dropped one day) refuses to start: walk with `node --check`
      if (vmModules && code === 9 && /bad option/.test(stderr)) return resolve('no-vm-modules');
      resolve(code === 1 ? parseFatalHeader(stderr) : undefined);
    });
  });
}

/**
 * Runs in the locator process, from its source text (`toString()`): self-contained, no imports.
 * Walks the static imports and requires from `entry` (the app's own files depth first, in source
 * order, then those under node_modules), compiles each ES module among them without running it
 * and rethrows, uncaught, the first error with the `expected` message, so that Node prints where
 * it is. Exits 0 when no file fails with that message.
 */
function findSyntaxError({ entry, expected, maxFiles }: { entry: string; expected: string; maxFiles: number }): void {
  const fs = require('node:fs') as typeof import('node:fs');
  const path = require('node:path') as typeof import('node:path');
  const vm = require('node:vm') as typeof import('node:vm') & { SourceTextModule?: new (source: string, options: { identifier: string }) => unknown };
  const url = require('node:url') as typeof import('node:url');
  const mod = require('node:module') as typeof import('node:module');
  const childProcess = require('node:child_process') as typeof import('node:child_process');

  const typeOfDir = new Map<string, string>();
  const packageType = (dir: string): string => {
    let type = typeOfDir.get(dir);
    if (type !== undefined) return type;
    try {
      type = String(JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')).type ?? 'none');
    } catch (e) {
      const parent = path.dirname(dir);
      type = (e as NodeJS.ErrnoException).code === 'ENOENT' && parent !== dir ? packageType(parent) : 'none';
    }
    typeOfDir.set(dir, type);
    return type;
  };
  const formatOf = (file: string): 'module' | 'commonjs' | 'either' => {
    if (file.endsWith('.mjs')) return 'module';
    if (file.endsWith('.cjs')) return 'commonjs';
    const type = packageType(path.dirname(file));
    return type === 'module' ? 'module' : type === 'commonjs' ? 'commonjs' : 'either';
  };
  const compileModule = (source: string, file: string): void => {
    if (vm.SourceTextModule) {
      new vm.SourceTextModule(source, { identifier: url.pathToFileURL(file).href });
      return;
    }
    // no vm.SourceTextModule: `node --check` of the source as an ES module, printed under the file's name
    const check = childProcess.spawnSync(process.execPath, ['--input-type=module', '--check'], { input: source, encoding: 'utf8' });
    if (check.status === 0) return;
    const printed = String(check.stderr).replace(/^\[stdin\]/, file);
    throw Object.assign(new SyntaxError(printed.split('\n').find((l) => /^SyntaxError: /.test(l))?.slice(13) ?? ''), { printed });
  };
  // Only ES modules: Node puts the location in front of a CommonJS file's parse error itself.
  // A .js file of no declared type is one when it has ES module syntax (Node's syntax detection).
  const compile = (file: string, source: string): Error | undefined => {
    const format = formatOf(file);
    if (format === 'commonjs' || (format === 'either' && !/^\s*(?:import|export)\b/m.test(source))) return undefined;
    try {
      compileModule(source.startsWith('#!') ? `//${source.slice(2)}` : source, file); // same length, same lines
      return undefined;
    } catch (e) {
      return e instanceof SyntaxError ? e : undefined;
    }
  };
  const SPECIFIER = /\b(?:import|export)\s*(?:[\w$*{}\s,]*?\bfrom\s*)?(['"])([^'"\r\n]+)\1|\b(?:import|require)\s*\(\s*(['"])([^'"\r\n]+)\3\s*[,)]/g;
  const dependencies = (file: string, source: string): string[] => {
    const require_ = mod.createRequire(file);
    const out: string[] = [];
    for (const m of source.matchAll(SPECIFIER)) {
      const spec = (m[2] ?? m[4])!;
      if (spec.startsWith('node:') || mod.isBuiltin(spec)) continue;
      try {
        const resolved = spec.startsWith('file:') ? url.fileURLToPath(spec) : require_.resolve(spec.replace(/[?#].*$/, ''));
        if (/\.[cm]?js$/.test(resolved)) out.push(resolved);
      } catch {
        // not resolvable as a file (an ESM-only package, a computed path): not walked
      }
    }
    return out;
  };

  const seen = new Set<string>([entry]);
  const own = [entry]; // a stack: the app's files, depth first
  const vendor: string[] = []; // a queue: files under node_modules, once the app's are done
  const report = (e: Error): never => {
    const printed = (e as { printed?: string }).printed;
    if (printed) {
      fs.writeSync(2, printed);
      process.exit(1);
    }
    throw e; // uncaught: Node prints the file, the line, the source line and a caret
  };
  while ((own.length > 0 || vendor.length > 0) && seen.size <= maxFiles) {
    const file = own.length > 0 ? own.pop()! : vendor.shift()!;
    let source: string;
    try {
      source = fs.readFileSync(file, 'utf8');
    } catch {
      continue; // unreadable
    }
    const error = compile(file, source);
    if (error && error.message === expected) report(error);
    const next = dependencies(file, source).filter((f) => !seen.has(f));
    for (const f of next) seen.add(f);
    own.push(...next.filter((f) => !/[\\/]node_modules[\\/]/.test(f)).reverse());
    vendor.push(...next.filter((f) => /[\\/]node_modules[\\/]/.test(f)));
  }
  process.exit(0); // no file fails with that message: it is not a compile error of this graph
}
