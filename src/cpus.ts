import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';

/** How many CPUs this process may use, and how that was decided (for the log). */
export interface CpuBudget {
  /** Whole CPUs, at least 1. */
  readonly count: number;
  /** One sentence saying where `count` comes from. */
  readonly how: string;
}

/**
 * Test-only: a directory that stands in for the cgroup v2 mount (`/sys/fs/cgroup`), so a test can
 * hand the master a fake `cpu.max`. Not a user setting: production reads the real mount.
 */
export const CGROUP_ROOT_ENV = 'ARBITER_CGROUP_ROOT';

const CGROUP_ROOT = '/sys/fs/cgroup';

/** This process's cgroup v2 path (`/` inside a container with its own cgroup namespace), or undefined without cgroup v2. */
function ownCgroup(file: string): string | undefined {
  try {
    const line = readFileSync(file, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('0::'));
    return line?.slice(3) || undefined;
  } catch {
    return undefined; // not Linux
  }
}

/** `cpu.max` ("<quota> <period>" or "max <period>") as CPUs; Infinity when unlimited or unreadable. */
function quotaAt(file: string): number {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return Infinity;
  }
  const [quota, period] = text.trim().split(/\s+/);
  const q = Number(quota);
  const p = Number(period);
  return quota !== 'max' && q > 0 && p > 0 ? q / p : Infinity;
}

/**
 * The CPUs this process may use, for `workers: 'auto'`: the cgroup v2 CPU quota (`cpu.max` of
 * this process's cgroup and each of its ancestors, the tightest wins — what a container's or a
 * Kubernetes pod's CPU limit becomes), rounded down, at least 1, and never more than
 * `os.availableParallelism()` (which already honours the CPU affinity mask but not the quota:
 * Node 20's libuv does not read cgroups). Without a quota, `os.availableParallelism()`.
 * Only cgroup v2 is read.
 *
 * @param env - where the test-only {@link CGROUP_ROOT_ENV} override is looked up
 * @param cgroupFile - the file naming this process's cgroups (tests pass a fake one)
 */
export function cpuBudget(env: NodeJS.ProcessEnv = process.env, cgroupFile = '/proc/self/cgroup'): CpuBudget {
  const cpus = availableParallelism();
  const root = env[CGROUP_ROOT_ENV] || CGROUP_ROOT;
  const own = ownCgroup(cgroupFile);
  let quota = Infinity;
  let where = '';
  if (own !== undefined) {
    // from the process's own cgroup up to the root of the mount (files that do not exist are skipped)
    for (let dir = join(root, own); ; dir = dirname(dir)) {
      const file = join(dir, 'cpu.max');
      const q = quotaAt(file);
      if (q < quota) {
        quota = q;
        where = file;
      }
      if (dir === root || dir.length <= root.length || dir === dirname(dir)) break;
    }
  }
  if (quota === Infinity) return { count: cpus, how: `os.availableParallelism() is ${cpus} (no cgroup v2 CPU quota)` };
  const count = Math.min(cpus, Math.max(1, Math.floor(quota)));
  const shown = Number(quota.toFixed(3));
  const capped = Math.floor(quota) > cpus ? `, capped at os.availableParallelism() ${cpus}` : '';
  return { count, how: `cgroup CPU quota ${shown} CPU${shown === 1 ? '' : 's'} in ${where}, rounded down, at least 1${capped}` };
}
