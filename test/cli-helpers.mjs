// Helpers for tests of the `arbiter` command: run it, start masters with it, each test with its own
// XDG_RUNTIME_DIR (other masters run on this machine at the same time).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { controlRequest } from 'arbiter';
import { fixture, Master, waitFor } from './helpers.mjs';

export const BIN = fileURLToPath(new URL('../dist/cjs/cli/arbiter.js', import.meta.url)); // the package's bin
export const APP = fixture('cli/app.mjs');

/** A fresh directory (an XDG_RUNTIME_DIR, an app's directory), removed after the test. */
export function runtimeDir(t, prefix = 'arbiter-cli-') {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Runs the command (`bin`: its script) to completion: `{ code, stdout, stderr, pid }`. */
export function cli(args, { env = {}, uid, cwd, bin = BIN } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(uid === undefined ? {} : { uid, gid: uid }),
      ...(cwd ? { cwd } : {}),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr, pid: child.pid }));
  });
}

/** `arbiter <args> --json` that must succeed; its parsed output. */
export async function json(args, env, options = {}) {
  const r = await cli([...args, '--json'], { env, ...options });
  assert.equal(r.code, 0, `arbiter ${args.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/**
 * Starts a master with the command (in `cwd`, default this process's). `m.until(n)` waits until it
 * has n ready workers (and no other), through its control socket.
 */
export function serve(t, args, env, { cwd } = {}) {
  const m = Master.start(t, null, {}, { command: process.execPath, args: [BIN, ...args], env, cwd });
  m.env = env;
  m.socket = join(env.XDG_RUNTIME_DIR, 'arbiter', `${m.pid}.sock`);
  m.info = () => controlRequest(m.socket, 'info', {}).catch(() => undefined);
  m.until = (n, what = `${n} ready workers`) =>
    waitFor(async () => {
      const info = await m.info();
      return info && info.ready === n && info.workers === n ? info : undefined;
    }, `${what}\n${m.stderr}`, 30_000, 50);
  return m;
}
