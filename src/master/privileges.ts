import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, readFileSync } from 'node:fs';
import { ArbiterError, configError } from '../errors.js';
import type { MasterListener } from './listeners.js';

/**
 * Privileges of the workers: the `user`, `group` and `umask` options (gunicorn's semantics).
 * The master keeps its own user and the sockets it bound; workers are spawned with the given uid
 * and gid (the kernel switches them before the worker runs any code; libuv also drops the
 * supplementary groups, as gunicorn does without `initgroups`), and apply the umask first thing.
 *
 * Names are looked up in `/etc/passwd` and `/etc/group`, then with `getent` (which also asks NSS:
 * LDAP, sssd, systemd-userdb…) when the file does not have them.
 */

/** One entry of the user or group database. */
interface Entry {
  name: string;
  id: number;
  /** A user's primary group. */
  gid?: number;
}

function parse(line: string): Entry | undefined {
  const [name, , id, gid] = line.split(':');
  if (!name || id === undefined || !/^\d+$/.test(id)) return undefined;
  return { name, id: Number(id), ...(gid && /^\d+$/.test(gid) ? { gid: Number(gid) } : {}) };
}

/** Finds a user or group by name or id: `/etc/<db>` first, then `getent <db> <key>`. */
function lookup(db: 'passwd' | 'group', key: string | number): Entry | undefined {
  const matches = (e: Entry | undefined): e is Entry => e !== undefined && (typeof key === 'number' ? e.id === key : e.name === key);
  try {
    const found = readFileSync(`/etc/${db}`, 'utf8').split('\n').map(parse).find(matches);
    if (found) return found;
  } catch {
    // no such file (not Linux, or a minimal container): ask getent
  }
  const r = spawnSync('getent', [db, String(key)], { encoding: 'utf8', timeout: 5000 });
  if (r.status !== 0 || typeof r.stdout !== 'string') return undefined;
  return r.stdout.split('\n').map(parse).find(matches);
}

/** An id option's value: an integer id, or a string of digits. */
function asId(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xfffffffe) return v;
  if (typeof v === 'string' && /^\d{1,10}$/.test(v) && Number(v) <= 0xfffffffe) return Number(v);
  return undefined;
}

/**
 * Validates the `user` option: a user name that exists on this system, or a uid. Returns the uid.
 * @throws {@link ArbiterError} `ARBITER_ERR_CONFIG` naming the user when it does not exist.
 */
export function checkUser(v: unknown): number {
  const id = asId(v);
  if (id !== undefined) return id;
  const found = typeof v === 'string' && v.length > 0 ? lookup('passwd', v) : undefined;
  if (!found) throw configError('user', 'the name of an existing user (looked up in /etc/passwd, then with getent) or a uid (integer >= 0)', v);
  return found.id;
}

/**
 * Validates the `group` option: a group name that exists on this system, or a gid. Returns the gid.
 * @throws {@link ArbiterError} `ARBITER_ERR_CONFIG` naming the group when it does not exist.
 */
export function checkGroup(v: unknown): number {
  const id = asId(v);
  if (id !== undefined) return id;
  const found = typeof v === 'string' && v.length > 0 ? lookup('group', v) : undefined;
  if (!found) throw configError('group', 'the name of an existing group (looked up in /etc/group, then with getent) or a gid (integer >= 0)', v);
  return found.id;
}

/**
 * Validates the `umask` option: an integer 0–0o777, or octal digits as a string (`'022'`, `'0o027'`).
 * @throws {@link ArbiterError} `ARBITER_ERR_CONFIG`
 */
export function checkUmask(v: unknown): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^(0o)?[0-7]{1,4}$/i.test(v) ? Number.parseInt(v.replace(/^0o/i, ''), 8) : NaN;
  if (!Number.isInteger(n) || n < 0 || n > 0o777) throw configError('umask', 'an integer from 0 to 0o777 (511), or octal digits as a string such as "022"', v);
  return n;
}

/** Who the workers run as. */
export interface WorkerIdentity {
  /** uid/gid to spawn with; `undefined`: the master's own. */
  uid: number | undefined;
  gid: number | undefined;
  /** For the log: `user nobody (uid 65534), group nogroup (gid 65534)`. */
  description: string | undefined;
}

/**
 * Resolves the workers' identity from the resolved `user`/`group` (ids): the group defaults to the
 * user's primary group (or, for a uid unknown to the system, the master's group, as gunicorn).
 * @throws {@link ArbiterError} `ARBITER_ERR_CONFIG` when the master cannot switch to them (not root).
 */
export function workerIdentity(user: number | null, group: number | null): WorkerIdentity {
  if (user === null && group === null) return { uid: undefined, gid: undefined, description: undefined };
  const uid = user ?? process.getuid!();
  const gid = group ?? (user !== null ? lookup('passwd', user)?.gid : undefined) ?? process.getgid!();
  const userName = lookup('passwd', uid)?.name;
  const groupName = lookup('group', gid)?.name;
  const description = `user ${userName ?? uid} (uid ${uid}), group ${groupName ?? gid} (gid ${gid})`;
  if (process.geteuid!() !== 0 && (uid !== process.geteuid!() || gid !== process.getegid!())) {
    throw new ArbiterError(
      'ARBITER_ERR_CONFIG',
      `Cannot run workers as ${description}: the master runs as uid ${process.geteuid!()}, and only root can start processes as another user or group`,
    );
  }
  return { uid, gid, description };
}

/**
 * Gives the unix sockets the master bound to the workers' user and group, and the mode the
 * `umask` allows (`0o777 & ~umask`), so that the workers (and the clients the umask admits) can
 * use them. TCP listeners need nothing: the workers inherit them already listening.
 */
export function shareUnixSockets(listeners: readonly MasterListener[], identity: WorkerIdentity, umask: number | null): void {
  for (const l of listeners) {
    if (!l.spec.startsWith('unix:')) continue;
    const path = l.spec.slice(5);
    try {
      if (identity.uid !== undefined && identity.gid !== undefined) chownSync(path, identity.uid, identity.gid);
      if (umask !== null) chmodSync(path, 0o777 & ~umask);
    } catch (err) {
      throw new ArbiterError('ARBITER_ERR_BIND', `Cannot hand ${l.spec} to the workers: ${(err as Error).message}`, { cause: err });
    }
  }
}
