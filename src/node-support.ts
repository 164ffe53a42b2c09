/**
 * The Node.js versions arbiter runs on: package.json `engines` (`>=20`, kept equal by a test),
 * checked when a master starts (`run()`, the `arbiter` command) so that an older Node gets one
 * clear line instead of whatever breaks first. The README ("Install") says which majors are tested.
 */
export const MIN_NODE_MAJOR = 20;

/**
 * `undefined` when `version` (default: this process's) is supported, else the one-line message
 * the master logs before it exits with status 1.
 */
export function unsupportedNode(version: string = process.versions.node, execPath: string = process.execPath): string | undefined {
  const major = Number(version.split('.')[0]);
  if (major >= MIN_NODE_MAJOR) return undefined;
  return `Node.js v${version} (${execPath}) is not supported: arbiter needs Node.js ${MIN_NODE_MAJOR} or newer (22 or 24 LTS recommended)`;
}
