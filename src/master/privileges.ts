import { chmodSync, chownSync } from 'node:fs';
import { ArbiterError } from '../errors.js';
import { lookup } from '../users.js';
import type { MasterListener } from './listeners.js';

/**
 * Privileges of the workers: the `user`, `group` and `umask` options (gunicorn's semantics).
 * The master keeps its own user and the sockets it bound; workers are spawned with the given uid
 * and gid (the kernel switches them before the worker runs any code; libuv also drops the
 * supplementary groups, as gunicorn does without `initgroups`), and apply the umask first thing.
 *
 * The options are validated in `src/users.ts`.
 */

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
  const [euid, egid] = [process.geteuid!(), process.getegid!()];
  if (euid !== 0 && (uid !== euid || gid !== egid)) {
    // The options that ask for the switch, with their values: the user, and the group when it is another one.
    const asked = [
      ...(user !== null && (uid !== euid || group === null) ? [`\`user\` is ${userName ?? uid} (uid ${uid}${group === null ? `, primary group ${groupName ?? gid}` : ''})`] : []),
      ...(group !== null && (gid !== egid || user === null) ? [`\`group\` is ${groupName ?? gid} (gid ${gid})`] : []),
    ];
    throw new ArbiterError(
      'ARBITER_ERR_CONFIG',
      `Cannot run workers as ${description}: the master runs as uid ${euid}, and only root can start processes as another user or group. ` +
        `${asked.join(' and ')}: start the master as root (it keeps the sockets; the workers run as \`user\`/\`group\`), ` +
        `or leave out \`user\` and \`group\` (-u, -g) to run the workers as the master's own user (uid ${euid}, gid ${egid})`,
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
