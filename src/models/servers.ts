// The server an HTTP worker model hands its connections to: plain HTTP, HTTPS, or HTTP/2 with
// HTTP/1.1 fallback (ALPN) — from the config's TLS settings (src/tls.ts), read when the worker boots.
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { ResolvedConfig } from '../config.js';
import { loadTls } from '../tls.js';

/** A server the model emits `connection` on (a TLS one wraps the raw socket itself). */
export type ModelServer = http.Server | https.Server | http2.Http2SecureServer;

/** Creates the model's server for `listener`. */
export function createModelServer(config: ResolvedConfig, options: { ServerResponse?: unknown }, listener: http.RequestListener): ModelServer {
  const tls = loadTls(config);
  if (!tls) return http.createServer({ keepAliveTimeout: config.keepAlive, ...(options as http.ServerOptions) }, listener);
  if (config.http2) {
    const server = http2.createSecureServer({ ...tls, allowHTTP1: true }, listener as unknown as (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void);
    const sessions = new Set<http2.ServerHttp2Session>();
    SESSIONS.set(server, sessions);
    server.on('session', (session) => {
      sessions.add(session);
      session.once('close', () => sessions.delete(session));
      // accepted while draining: its first request is served, then GOAWAY (as HTTP/1.1's Connection: close)
      if (DRAINING.has(server)) session.once('stream', () => setImmediate(() => session.close()));
    });
    return server;
  }
  return https.createServer({ ...tls, keepAliveTimeout: config.keepAlive, ...(options as https.ServerOptions) }, listener);
}

/** The accepted TCP (or unix) socket under a request's socket: a TLS socket's `_parent`, HTTP/2's session socket's. */
export function rawSocket(socket: Socket): Socket {
  return (socket as Socket & { _parent?: Socket | null })._parent ?? socket;
}

const SESSIONS = new WeakMap<ModelServer, Set<http2.ServerHttp2Session>>();
const DRAINING = new WeakSet<ModelServer>();

/**
 * Draining, HTTP/2: every session gets GOAWAY (`session.close()`: the streams in flight finish,
 * the client opens no new ones here), and so does a session accepted from now on, after its first
 * request. Nothing to do for HTTP/1.1 (its requests are answered with `Connection: close`).
 */
export function goAway(server: ModelServer): void {
  const sessions = SESSIONS.get(server);
  if (!sessions) return;
  DRAINING.add(server);
  for (const session of sessions) session.close();
}
