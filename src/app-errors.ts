import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { importModule } from './import.js';
import { locateSyntaxError } from './syntax-locator.js';

// Errors point at the user's code (SPEC §11): where an app's error is logged, printed by
// `--check-config` or reported by a failed reload, it says the app's file and line first.

/**
 * Imports the app module at `file` (a path) as a worker would. When it fails with a SyntaxError
 * that says nothing of where it is (an ES module graph: see `syntax-locator.ts`), the file and line
 * are found and put in front of the error's stack, as `node app.mjs` would print them, before it
 * is rethrown. That search runs on the failure path only.
 */
export async function importApp(file: string): Promise<Record<string, unknown>> {
  try {
    return await importModule(pathToFileURL(file).href);
  } catch (err) {
    await locateSyntaxError(err, file);
    throw err;
  }
}

/** The directory of arbiter's own code (`…/dist/`, or this file's directory when run from source). */
const OWN_DIR = ((): string | undefined => {
  const frame = new Error().stack?.split('\n')[1] ?? '';
  const file = /\((.+?):\d+:\d+\)$|at (.+?):\d+:\d+$/.exec(frame);
  let where = file?.[1] ?? file?.[2];
  if (!where) return undefined;
  if (where.startsWith('file://')) where = fileURLToPath(where);
  const dist = where.lastIndexOf(`${path.sep}dist${path.sep}`);
  return dist >= 0 ? where.slice(0, dist + 6) : path.dirname(where) + path.sep;
})();

const FRAME = /^\s+at /;

/** True for a path or `file:` URL inside arbiter's own code. */
function isOwn(text: string): boolean {
  return OWN_DIR !== undefined && (text.includes(OWN_DIR) || text.includes(pathToFileURL(OWN_DIR).href));
}

/** Who a stack frame belongs to: Node itself (`node:…`, native code), arbiter, or the app (its dependencies included). */
export function frameOwner(line: string): 'node' | 'arbiter' | 'app' {
  if (/\(node:|^\s+at (?:async )?node:|\((?:<anonymous>|native|index \d+)\)$/.test(line)) return 'node';
  return isOwn(line) ? 'arbiter' : 'app';
}

/** `/app/x.mjs:3:7` of the first frame of the app's code among `lines`, if any. */
function appLocation(lines: readonly string[]): string | undefined {
  const frame = lines.find((l) => FRAME.test(l) && frameOwner(l) === 'app');
  const m = frame && (/\((.+:\d+:\d+)\)$/.exec(frame) ?? /at (?:async )?(.+:\d+:\d+)$/.exec(frame));
  return m ? toPath(m[1]!) : undefined;
}

/** The location a stack starts with when Node (or {@link importApp}) decorated it: `/app/x.mjs:2`, before the source line, the caret and the message. */
function decoration(stack: string, err: Error): string | undefined {
  const [first = '', ...next] = stack.split('\n', 6);
  // "<file>:<line>", the source line, a caret, (an empty line,) then "<Name>: <message>"
  if (!/^.+:\d+$/.test(first) || first.startsWith(err.name) || !next.some((l) => l.startsWith(err.name))) return undefined;
  return toPath(first);
}

function toPath(location: string): string {
  if (!location.startsWith('file://')) return location;
  const m = /^(.*?)((?::\d+){1,2})$/.exec(location);
  try {
    return m ? `${fileURLToPath(m[1]!)}${m[2]}` : fileURLToPath(location);
  } catch {
    return location;
  }
}

/**
 * An error's stack with the app's frames first: the message (and the location Node puts in front
 * of a SyntaxError) stays on top, then the frames of the app's code (its dependencies included),
 * in their order; the frames of Node itself and of arbiter are left out and counted on one last
 * line, `    (3 Node and 2 arbiter frames not shown)`. A stack with no frame of the app (an error
 * of arbiter or of Node, not of the app's code) is returned whole. Anything that is not an Error
 * is returned as its string form.
 */
export function appStack(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const stack = typeof err.stack === 'string' && err.stack ? err.stack : String(err);
  const lines = stack.split('\n');
  const start = lines.findIndex((l) => FRAME.test(l));
  if (start < 0) return stack;
  const frames = lines.slice(start).filter((l) => FRAME.test(l));
  const owners = frames.map(frameOwner);
  const app = frames.filter((_, i) => owners[i] === 'app');
  if (app.length === 0 && !decoration(stack, err)) return stack;
  const node = owners.filter((o) => o === 'node').length;
  const own = owners.filter((o) => o === 'arbiter').length;
  const hidden = [node ? `${node} Node` : '', own ? `${own} arbiter` : ''].filter(Boolean).join(' and ');
  const tail = hidden ? [`    (${hidden} frame${node + own === 1 ? '' : 's'} not shown)`] : [];
  return [...lines.slice(0, start), ...app, ...tail].join('\n');
}

/**
 * One line saying what went wrong and where: the error's first line, then the app's file and
 * line when the stack knows it — the location Node (or {@link importApp}) put in front of a
 * SyntaxError, else the first frame of the app's code:
 * `SyntaxError: Unexpected token ';' (/app/helper.mjs:2)`. How a failed reload reports a worker
 * that could not load the app.
 */
export function errorSummary(err: unknown): string {
  if (!(err instanceof Error)) return firstLine(String(err));
  let head: string;
  try {
    head = firstLine(String(err)); // "Name: message"
  } catch {
    head = err.name;
  }
  const stack = typeof err.stack === 'string' ? err.stack : '';
  const where = decoration(stack, err) ?? appLocation(stack.split('\n'));
  return where ? `${head} (${where})` : head;
}

function firstLine(text: string): string {
  const line = text.split('\n', 1)[0]!;
  return line.length > 500 ? `${line.slice(0, 500)}…` : line;
}

/**
 * Summarizes what Node printed on stderr for an uncaught error (the location line, the source line
 * and caret, `Name: message`, the frames) in the words of {@link errorSummary}: how a failed
 * config probe (a reload) says why. The location Node prints first counts only when it is the
 * app's (an error thrown by arbiter's own code is located by the app frame below it, if any).
 */
export function summarizeFatal(stderr: string): string | undefined {
  const lines = stderr.split('\n');
  const at = lines.findIndex((l) => /^[A-Za-z$_\d]*(?:Error|Exception)\b/.test(l));
  const message = at >= 0 ? lines[at]! : lines.filter((l) => l.trim()).pop();
  if (!message) return undefined;
  const first = lines[0]!;
  const header = at > 0 && /^.+:\d+$/.test(first) && !first.startsWith('node:') && !isOwn(first) ? toPath(first) : undefined;
  const where = header ?? appLocation(lines.slice(Math.max(at, 0)));
  return where ? `${firstLine(message)} (${where})` : firstLine(message);
}

/** How a module declares its exports: `'module'` (ESM, `export`) or `'commonjs'` (`module.exports`). */
function moduleFormat(file: string, ns: Record<string, unknown>): 'module' | 'commonjs' {
  if (file.endsWith('.mjs') || file.endsWith('.mts')) return 'module';
  if (file.endsWith('.cjs') || file.endsWith('.cts') || 'module.exports' in ns) return 'commonjs';
  for (let dir = path.dirname(file); ; dir = path.dirname(dir)) {
    try {
      const type = (JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { type?: unknown }).type;
      if (type === 'module') return 'module';
      if (type === 'commonjs') return 'commonjs';
      break;
    } catch {
      if (path.dirname(dir) === dir) break;
    }
  }
  // No declared type: Node ran it as CommonJS unless it has ES module syntax, and the namespace of
  // a CommonJS module always has `default` (its module.exports); one of an ES module, only if it says so.
  return 'default' in ns ? 'commonjs' : 'module';
}

function isEmptyObject(value: unknown): boolean {
  return typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype && Reflect.ownKeys(value).length === 0;
}

/**
 * The error message for an app module that does not export what is to be served, or `undefined`
 * when it does. `ns` is the module's namespace (what `import()` gave), `exportName` the export
 * asked for (`default` unless `module:export` named one), `shown` how to name the module. An ES
 * module with nothing to serve is told to `export default app`; a CommonJS one whose
 * `module.exports` was never set, to `module.exports = app`. Only for a module that neither
 * exports a handler nor starts its own server.
 *
 * @example
 * ```ts
 * const missing = missingExportMessage('/srv/app.mjs', {}, 'default', 'app.mjs');
 * // "The app module app.mjs exports nothing: add `export default app` (app being your request listener, or your Express, Koa or Fastify app)"
 * ```
 */
export function missingExportMessage(file: string, ns: Record<string, unknown>, exportName: string, shown = file): string | undefined {
  const names = Object.keys(ns).filter((n) => n !== 'module.exports' && n !== 'default');
  const format = moduleFormat(file, ns);
  const what = 'app being your request listener, or your Express, Koa or Fastify app';
  if (exportName === 'default') {
    if (format === 'commonjs') {
      if (!isEmptyObject(ns.default) && ns.default !== undefined) return undefined;
      return `The app module ${shown} exports nothing (its module.exports is empty): add \`module.exports = app\` (${what})`;
    }
    if ('default' in ns && ns.default !== undefined) return undefined;
    if (names.length === 0) return `The app module ${shown} exports nothing: add \`export default app\` (${what})`;
    return `The app module ${shown} has no default export (it exports: ${names.join(', ')}): add \`export default app\`, or name the export to serve as ${shown}:<export>`;
  }
  if (exportName in ns && ns[exportName] !== undefined) return undefined;
  const exported = Object.keys(ns).filter((n) => n !== 'module.exports' && ns[n] !== undefined).join(', ');
  const fix = format === 'commonjs' ? `\`module.exports.${exportName} = app\`` : `\`export { app as ${exportName} }\``;
  return `The app module ${shown} has no export \`${exportName}\` (it exports: ${exported || 'nothing'}): add ${fix}, or name one of its exports as ${shown}:<export>`;
}
