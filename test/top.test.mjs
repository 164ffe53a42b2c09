// `arbiter top` (SPEC §13), driven in a real terminal: tmux on a private server socket, keys sent
// with send-keys, the screen read with capture-pane. A real master behind it.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import http from 'node:http';
import { join } from 'node:path';
import { test } from 'node:test';
import { APP, BIN, cli, runtimeDir, serve } from './cli-helpers.mjs';
import { freePort, isAlive, waitFor } from './helpers.mjs';

const hasTmux = spawnSync('tmux', ['-V']).status === 0;
if (!hasTmux) process.stderr.write('\n*** SKIPPING the arbiter top tests: tmux is not installed (apt-get install -y tmux) ***\n\n');
const skip = !hasTmux && 'tmux is not installed: apt-get install -y tmux';

/**
 * Runs `arbiter top <args>` in a fresh tmux server (its own socket), `columns` x `rows`. The shell
 * prints BEFORE first and writes top's exit status to a file. `s.screen()`, `s.keys(...)`,
 * `s.status()` (the exit status, or undefined while it runs), `s.flag(name)` (a tmux format).
 */
function terminal(t, args, env, { columns = 120, rows = 32 } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'arbiter-top-')); // removed after the tmux server is gone
  const socket = join(dir, 'tmux.sock');
  const statusFile = join(dir, 'status');
  const tmux = (...a) => execFileSync('tmux', ['-S', socket, ...a], { encoding: 'utf8' });
  const envs = Object.entries(env).map(([k, v]) => `${k}='${v}'`).join(' ');
  const command = `printf 'BEFORE\\n'; env ${envs} '${process.execPath}' '${BIN}' top ${args.join(' ')}; echo $? > '${statusFile}'; sleep 600`;
  tmux('-f', '/dev/null', 'new-session', '-d', '-x', String(columns), '-y', String(rows), 'sh', '-c', command);
  const shell = Number(tmux('display-message', '-p', '#{pane_pid}').trim());
  t.after(() => {
    try {
      tmux('kill-server');
    } catch {
      // already gone
    }
    return waitFor(() => !isAlive(shell), 'the pane shell to go').finally(() => rmSync(dir, { recursive: true, force: true }));
  });
  return {
    screen: (escapes = false) => tmux('capture-pane', '-p', ...(escapes ? ['-e'] : [])),
    keys: (...keys) => tmux('send-keys', ...keys),
    status: () => (existsSync(statusFile) && readFileSync(statusFile, 'utf8').trim() !== '' ? Number(readFileSync(statusFile, 'utf8')) : undefined),
    flag: (name) => tmux('display-message', '-p', `#{${name}}`).trim(),
    /** Waits until the screen matches `pattern`; returns the screen. */
    until: async (pattern, what = String(pattern)) => {
      let last = '';
      await waitFor(() => pattern.test((last = tmux('capture-pane', '-p'))), () => `${what} on the screen:\n${last}`, 30_000, 100);
      return last;
    },
  };
}

/** The worker rows on the screen: [pid, slot, state]. */
const rowsOf = (screen) => [...screen.matchAll(/^\s*(\d+)\s+(\d+|-)\s+(ready|booting|retiring|timed_out|spare)\s/gm)].map((m) => [Number(m[1]), m[2], m[3]]);

test('arbiter top in tmux: master header, a row per worker, events; + and - scale, r asks before reloading, q restores the terminal', { skip }, async (t) => {
  const env = { XDG_RUNTIME_DIR: runtimeDir(t) };
  const port = await freePort();
  const m = serve(t, ['-w', '2', '-t', '2', '-b', `127.0.0.1:${port}`, APP], env);
  await m.until(2);
  const term = terminal(t, [], env);
  let screen = await term.until(new RegExp(`^master ${m.pid} {2}arbiter \\S+ {2}async {2}http://127\\.0\\.0\\.1:${port} `, 'm'), 'the header');
  screen = await term.until(/^\s*PID\s+SLOT\s+STATE\s+AGE\s+REQ\/S\s+INFLIGHT\s+ELU\s+LOOP P99\s+RSS\s+HEAP\s+CPU\s+HEARTBEAT$/m, 'the table header');
  assert.deepEqual(rowsOf(screen).map((r) => r[0]).sort(), m.workers().sort(), 'one row per worker');
  assert.match(screen, /workers 2\/2 ready/);
  assert.match(screen, /^\d\d:\d\d:\d\d {2}gen ready generation 0 \(2 workers\)$/m, 'the boot, from the recent past');
  assert.match(screen, /q quit {3}r reload {3}\+ add a worker {3}- remove a worker\s*$/);
  assert.equal(term.flag('alternate_on'), '1', 'on the alternate screen');
  assert.equal(term.flag('cursor_flag'), '0', 'cursor hidden');
  assert.match(term.screen(true), /\x1b\[/, 'in colour');

  term.keys('+');
  screen = await term.until(/scale 2 -> 3 workers\s*$/, 'the outcome of +');
  screen = await term.until(/workers 3\/3 ready/);
  await waitFor(async () => rowsOf((screen = term.screen())).length === 3, () => screen);
  assert.match(screen, /^\d\d:\d\d:\d\d {2}control {3}scale 2 -> 3 \(pid \d+/m);
  term.keys('-');
  await term.until(/scale 3 -> 2 workers\s*$/, 'the outcome of -');
  await term.until(/workers 2\/2 ready/);

  term.keys('r');
  await term.until(new RegExp(`Reload master ${m.pid}: new workers with fresh code\\? \\(y/n\\)\\s*$`), 'the question');
  term.keys('n');
  await term.until(/reload cancelled\s*$/);
  assert.match(term.screen(), /generation 0 /, 'nothing reloaded');
  term.keys('r');
  await term.until(/\(y\/n\)\s*$/);
  term.keys('y');
  await term.until(/reloaded: generation 1 \(2 workers\)\s*$/, 'the reload outcome');

  // a hung request: the timeout shows in the events, with the frame and the request it cut
  const req = http.get({ host: '127.0.0.1', port, path: '/block?ms=60000', headers: { 'x-request-id': 'top-1' }, agent: false });
  req.on('error', () => {});
  t.after(() => req.destroy());
  await term.until(/^\d\d:\d\d:\d\d {2}TIMEOUT {3}worker \d+ \(slot \d, gen 1\): GET \/block \(\d+ ms, x-request-id top-1\); at \S*handler \(/m, 'the timeout');

  term.keys('q');
  await waitFor(() => term.status() !== undefined, 'top to exit');
  assert.equal(term.status(), 0);
  assert.equal(term.flag('alternate_on'), '0', 'back on the normal screen');
  assert.equal(term.flag('cursor_flag'), '1', 'cursor shown again');
  screen = term.screen();
  assert.match(screen, /^BEFORE$/m, 'what was there before is back');
  assert.doesNotMatch(screen, /HEARTBEAT|Events/, 'nothing of top left on the normal screen');
  assert.ok(isAlive(m.pid), 'the master runs on');
});

test('arbiter top: Ctrl-C restores the terminal; --no-color draws no colour; the master stopping ends it with exit 0', { skip }, async (t) => {
  const env = { XDG_RUNTIME_DIR: runtimeDir(t) };
  const m = serve(t, ['-w', '1', '-b', `127.0.0.1:${await freePort()}`, APP], env);
  await m.until(1);
  const plain = terminal(t, ['--no-color', '--interval', '300ms'], env, { columns: 80, rows: 20 });
  await plain.until(/^\s*PID\s+SLOT\s+STATE/m);
  assert.doesNotMatch(plain.screen(true), /\x1b\[/, 'no escape sequences in the cells');
  const ctrlC = terminal(t, [], env, { columns: 100, rows: 24 });
  await ctrlC.until(/HEARTBEAT/);
  ctrlC.keys('C-c');
  await waitFor(() => ctrlC.status() !== undefined, 'top to exit on Ctrl-C');
  assert.equal(ctrlC.status(), 0);
  assert.equal(ctrlC.flag('alternate_on'), '0');
  assert.equal(ctrlC.flag('cursor_flag'), '1');
  assert.match(ctrlC.screen(), /^BEFORE$/m);

  const r = await cli(['stop'], { env });
  assert.equal(r.code, 0, r.stderr);
  await waitFor(() => plain.status() !== undefined, 'top to end with the master');
  assert.equal(plain.status(), 0);
  assert.equal(plain.flag('alternate_on'), '0');
  assert.match(plain.screen(), new RegExp(`^arbiter top: master ${m.pid} stopped \\(exit status 0\\)$`, 'm'));
});

test('arbiter top without a terminal: refuses politely, pointing at status --json; exit 1', async (t) => {
  const env = { XDG_RUNTIME_DIR: runtimeDir(t) };
  const m = serve(t, ['-w', '1', '-b', `127.0.0.1:${await freePort()}`, APP], env);
  await m.until(1);
  const r = await cli(['top'], { env });
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^arbiter: top draws a full-screen view and needs a terminal \(stdout is not one\); for scripts and pipes use `arbiter status --json` \(a snapshot\) or `arbiter events --json` \(a feed\)\n$/);
});
