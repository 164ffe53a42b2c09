import http from 'node:http';
import { trace } from '../trace.js';
import { ownListener } from './app-listen.js';

/**
 * Warms a spare's HTTP stack before it waits for a slot: two requests through a throwaway
 * `http.Server` (not the app's handler: nothing of the app runs) on a Linux abstract unix socket
 * (no file, nothing to clean up, even if the spare is killed meanwhile). Node compiles its HTTP
 * parser and response code lazily, on the first request a process serves; a spare that has
 * already done so answers its first real request sooner once it takes a slot over. Elsewhere
 * (no abstract sockets), or if anything fails, there is no warm-up.
 */
export async function warmHttp(): Promise<void> {
  if (process.platform !== 'linux') return;
  const socketPath = `\0arbiter-warm-${process.pid}`;
  ownListener(socketPath);
  const server = http.createServer((_req, res) => res.end('warm'));
  try {
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
  }
}
