import type { ControlArgs } from './args.js';
import type { Output } from './main.js';

/** `arbiter top [target]`: a full-screen live view of one master. */
export async function runTop(_socketPath: string, _args: ControlArgs, io: Output): Promise<number> {
  io.err('arbiter: top is not built yet');
  return 1;
}
