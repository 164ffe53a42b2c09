import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { configError } from './errors.js';

/**
 * The `user`, `group` and `umask` options: validation and the user and group databases (the
 * master applies them in `master/privileges.ts`). Names are looked up in `/etc/passwd` and
 * `/etc/group`, then with `getent` (which also asks NSS: LDAP, sssd, systemd-userdb…) when the
 * file does not have them. Numeric ids are taken as they are, known to the system or not.
 */

/** One entry of the user or group database. */
export interface Entry {
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
export function lookup(db: 'passwd' | 'group', key: string | number): Entry | undefined {
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

/** Validates `user` or `group`: a name that exists on this system, or an id. Returns the id. */
function checkAccount(option: 'user' | 'group', v: unknown): number {
  const id = asId(v);
  if (id !== undefined) return id;
  const [db, idName] = option === 'user' ? (['passwd', 'uid'] as const) : (['group', 'gid'] as const);
  const found = typeof v === 'string' && v.length > 0 ? lookup(db, v) : undefined;
  if (!found) throw configError(option, `the name of an existing ${option} (looked up in /etc/${db}, then with getent) or a ${idName} (integer >= 0)`, v);
  return found.id;
}

/**
 * Validates the `user` option: a user name that exists on this system, or a uid. Returns the uid.
 * @throws {@link ArbiterError} `ARBITER_ERR_CONFIG` naming the user when it does not exist.
 */
export function checkUser(v: unknown): number {
  return checkAccount('user', v);
}

/**
 * Validates the `group` option: a group name that exists on this system, or a gid. Returns the gid.
 * @throws {@link ArbiterError} `ARBITER_ERR_CONFIG` naming the group when it does not exist.
 */
export function checkGroup(v: unknown): number {
  return checkAccount('group', v);
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

