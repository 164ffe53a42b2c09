import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { trace } from '../trace.js';
import { ownListener } from './app-listen.js';

/**
 * Warms a spare's HTTP stack before it waits for a slot: two requests through a throwaway
 * `http.Server` (not the app's handler: nothing of the app runs) on a unix socket in a private
 * temporary directory, removed at once. Node compiles its HTTP parser and response code lazily,
 * on the first request a process serves; a spare that has already done so answers its first real
 * request sooner once it takes a slot over. Any failure (no writable temporary directory) only
 * skips the warm-up.
 */
export async function warmHttp(): Promise<void> {
  let dir: string | undefined;
  const server = http.createServer((_req, res) => res.end('warm'));
  try {
    dir = mkdtempSync(join(tmpdir(), 'arbiter-warm-'));
    const socketPath = join(dir, 'http.sock');
    ownListener(socketPath);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, resolve);
    });
    for (let i = 0; i < 2; i++) {
      await new Promise<void>((resolve, reject) => {
        http
          .get({ socketPath, path: '/', agent: false }, (res) => {
            res.resume();
            res.once('end', resolve);
          })
          .once('error', reject);
      });
    }
  } catch (err) {
    trace.worker('spare warm-up skipped: %s', (err as Error).message);
  } finally {
    server.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}
