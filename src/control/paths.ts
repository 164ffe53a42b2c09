import { chmodSync, lstatSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ArbiterError } from '../errors.js';

/**
 * The directory where masters put their control sockets (one per master, `<pid>.sock`), which
 * `arbiter ls` lists: `$XDG_RUNTIME_DIR/arbiter`, else `<os.tmpdir()>/arbiter-<uid>`.
 */
export function controlDir(env: NodeJS.ProcessEnv = process.env, uid = currentUid()): string {
  const runtime = env.XDG_RUNTIME_DIR;
  return runtime ? path.join(runtime, 'arbiter') : path.join(os.tmpdir(), `arbiter-${uid}`);
}

/** The automatic control socket path of master `pid`: `<controlDir()>/<pid>.sock`. */
export function defaultControlPath(pid: number, env: NodeJS.ProcessEnv = process.env): string {
  return path.join(controlDir(env), `${pid}.sock`);
}

/** The effective uid (0 where there are no uids). */
export function currentUid(): number {
  return process.geteuid?.() ?? 0;
}

/**
 * Creates `dir` (and missing parents) with mode 0700, or checks an existing one: it must be a
 * directory owned by us; group/other permission bits are removed. A directory in a shared place
 * such as /tmp that someone else made first is refused (they could read or replace our sockets).
 * @throws {@link ArbiterError} `ARBITER_ERR_CONTROL`
 */
export function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = lstatSync(dir);
  if (!st.isDirectory()) throw new ArbiterError('ARBITER_ERR_CONTROL', `${dir} is not a directory`);
  const uid = currentUid();
  if (process.geteuid && st.uid !== uid) {
    throw new ArbiterError('ARBITER_ERR_CONTROL', `${dir} belongs to uid ${st.uid}, not to us (uid ${uid}): refusing to put a control socket there`);
  }
  if ((st.mode & 0o077) !== 0) chmodSync(dir, 0o700);
}
