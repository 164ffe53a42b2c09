import { controlSubscribe } from '../control/client.js';
import { formatEvent } from '../control/feed.js';
import { ArbiterError } from '../errors.js';
import type { Output } from './output.js';

/**
 * `arbiter events [target] [--json]`: one line per lifecycle event of the master (a JSON object
 * per line with `--json`) until the master halts (exit 0 after its `halt` event) or Ctrl-C (exit 0).
 * A master that goes away without halting (killed) is an error (exit 1).
 */
export async function followEvents(socketPath: string, json: boolean, io: Output): Promise<number> {
  let halted = false;
  let interrupted = false;
  const sub = controlSubscribe(socketPath, {}, (e) => {
    io.out(json ? JSON.stringify(e) : formatEvent(e));
    if (e.type === 'halt') halted = true;
  });
  const stop = (): void => {
    interrupted = true;
    sub.close();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    const { master } = await sub.ready;
    if (!json) io.err(`Following master ${master.pid}${master.name ? ` [${master.name}]` : ''} (${master.binds.join(' ') || 'not listening'}); Ctrl-C to stop`);
    await sub.ended;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
  if (halted || interrupted) return 0;
  throw new ArbiterError('ARBITER_ERR_CONTROL', `the master at ${socketPath} went away without stopping (killed?)`);
}
