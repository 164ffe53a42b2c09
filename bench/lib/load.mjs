// Load generation: wrk when it is on PATH (apt-get install -y wrk), else bench/lib/loadgen.mjs
// (Node http clients in a child process; far more CPU per request than wrk, so lower numbers).
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { onCleanup } from './proc.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

export function which(cmd) {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const p = path.join(dir, cmd);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return null;
}

/** Picks the load generator: `'auto' | 'wrk' | 'node'` -> { kind, bin, describe }. */
export function loadGenerator(choice = 'auto') {
  const wrk = which('wrk');
  if (choice === 'wrk' && !wrk) throw new Error('--loadgen wrk: wrk is not on PATH (Debian/Ubuntu: apt-get install -y wrk; macOS: brew install wrk)');
  if (choice === 'node' || !wrk) {
    return { kind: 'node', bin: process.execPath, describe: 'bench/lib/loadgen.mjs (Node http clients; install wrk for better numbers)' };
  }
  const v = (spawnSync(wrk, ['-v'], { encoding: 'utf8' }).stdout || 'wrk').split('\n')[0].split(' [')[0].trim();
  return { kind: 'wrk', bin: wrk, describe: v };
}

function wrkMs(s) {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(s ?? '');
  if (!m) return NaN;
  return { us: 1e-3, ms: 1, s: 1e3, m: 6e4 }[m[2]] * Number(m[1]);
}

function parseWrk(out) {
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  const lat = /^\s+Latency\s+(\S+)\s+(\S+)\s+(\S+)/m.exec(out);
  return {
    requests: Number(/(\d+) requests in/.exec(out)?.[1]),
    rps: Number(/Requests\/sec:\s*([\d.]+)/.exec(out)?.[1]),
    p50Ms: wrkMs(/^\s+50%\s+(\S+)/m.exec(out)?.[1]),
    p99Ms: wrkMs(/^\s+99%\s+(\S+)/m.exec(out)?.[1]),
    maxMs: wrkMs(lat?.[3]),
    errors: (sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0) + non2xx,
    errorDetail: [sock?.[0], non2xx ? `non-2xx ${non2xx}` : ''].filter(Boolean).join(', '),
  };
}

/**
 * Starts load against `url` for `seconds`: `mode` 'keepalive' or 'close' (a new connection per
 * request). wrk opens all `connections` at once when it starts (one burst).
 * Returns { child, done: Promise<{ requests, rps, p50Ms, p99Ms, maxMs, errors, errorDetail }> }.
 */
export function startLoad(gen, { url, connections, seconds, mode = 'keepalive', threads = 1 }) {
  let args;
  if (gen.kind === 'wrk') {
    args = ['-t', String(Math.min(threads, connections)), '-c', String(connections), '-d', `${seconds}s`, '--latency', '--timeout', '5s'];
    if (mode === 'close') args.push('-H', 'Connection: close');
    args.push(url);
  } else {
    args = [path.join(here, 'loadgen.mjs'), url, String(connections), String(seconds), mode];
  }
  const child = spawn(gen.bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const off = onCleanup(() => child.kill('SIGKILL'));
  const done = new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), (seconds + 20) * 1000);
    child.on('error', (err) => {
      clearTimeout(timer);
      off();
      reject(err);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      off();
      if (code !== 0) return reject(new Error(`load generator exited ${signal ?? code}:\n${out}`));
      try {
        const r = gen.kind === 'wrk' ? parseWrk(out) : JSON.parse(out.trim().split('\n').pop());
        if (!Number.isFinite(r.rps)) throw new Error('no Requests/sec');
        resolve(r);
      } catch (err) {
        reject(new Error(`cannot read the load generator's output (${err.message}):\n${out}`));
      }
    });
  });
  return { child, done };
}

/** Runs load to completion. */
export const runLoad = (gen, opts) => startLoad(gen, opts).done;
