// systemd notification (sd_notify) against a real AF_UNIX/SOCK_DGRAM socket: a small Python
// receiver stands in for systemd and prints every datagram it gets.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Master, fixture, freePort, isAlive, request, waitFor } from './helpers.mjs';

const missing = ['python3', 'systemd-notify'].filter((cmd) => spawnSync(cmd, ['--version']).error);
const skip = missing.length > 0 ? `needs ${missing.join(' and ')}` : false;

/** Starts the receiver on a fresh socket; `messages` fills as datagrams arrive. */
async function receiver(t) {
  const dir = mkdtempSync(join(tmpdir(), 'arbiter-notify-'));
  const socket = join(dir, 'notify.sock');
  const child = spawn('python3', [fixture('notify-receiver.py'), socket], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  const messages = [];
  let listening = false;
  let buf = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk) => {
    buf += chunk;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (line === 'LISTENING') listening = true;
      else messages.push(JSON.parse(line));
    }
  });
  await waitFor(() => listening, 'the notify receiver to listen');
  return { socket, messages };
}

/** The messages that are not watchdog pings or barriers, as "KEY=value" lists. */
const meaningful = (messages) =>
  messages.map((m) => m.fields).filter((f) => !('BARRIER' in f) && !(Object.keys(f).length === 1 && 'WATCHDOG' in f));

test('READY, STATUS, RELOADING + MONOTONIC_USEC, READY, STOPPING in order across boot, HUP and TERM; WATCHDOG pings while the loop runs', { skip }, async (t) => {
  const { socket, messages } = await receiver(t);
  const port = await freePort();
  const m = Master.start(t, 'app.mjs', { bind: `127.0.0.1:${port}`, workers: 2, timeout: 5000, gracefulTimeout: 5000 }, {
    env: { NOTIFY_SOCKET: socket, WATCHDOG_USEC: '400000' },
  });
  await m.ready(2);
  await waitFor(() => meaningful(messages).some((f) => f.READY === '1'), `READY=1\n${m.stderr}`);
  const ready = meaningful(messages).find((f) => f.READY === '1');
  assert.equal(ready.MAINPID, String(m.pid), 'the first READY names the master as the main process');
  assert.equal(ready.STATUS, '2 workers ready');
  assert.equal(m.readyWorkers().length, 2, 'READY only once the whole first generation is ready');
  await waitFor(() => messages.filter((x) => x.fields.WATCHDOG === '1').length >= 2, 'watchdog pings (every 200 ms)');

  const before = messages.length;
  m.signal('SIGHUP');
  await waitFor(() => meaningful(messages.slice(before)).filter((f) => f.READY === '1').length === 1, `READY=1 after the reload\n${m.stderr}`);
  const reload = messages.slice(before).find((x) => x.fields.RELOADING === '1');
  assert.ok(reload, 'RELOADING=1 was sent');
  const sent = Number(reload.fields.MONOTONIC_USEC);
  assert.ok(Math.abs(reload.monotonic_usec - sent) < 5_000_000, `MONOTONIC_USEC ${sent} is CLOCK_MONOTONIC (received at ${reload.monotonic_usec})`);

  m.signal('SIGTERM');
  assert.equal((await m.exited).code, 0);
  await waitFor(() => meaningful(messages).some((f) => f.STOPPING === '1'), 'STOPPING=1');

  const seq = meaningful(messages);
  const kinds = seq.map((f) => (f.READY ? 'READY' : f.RELOADING ? 'RELOADING' : f.STOPPING ? 'STOPPING' : f.MAINPID ? 'MAINPID' : 'STATUS'));
  const order = kinds.filter((k) => k !== 'STATUS');
  assert.deepEqual(order, ['READY', 'RELOADING', 'READY', 'STOPPING'], JSON.stringify(seq));
  for (const f of seq) if (f.STATUS && !f.STOPPING && !f.RELOADING) assert.match(f.STATUS, /^\d+ workers? ready$/);
  assert.ok(seq.some((f) => !f.READY && /^[34] workers ready$/.test(f.STATUS ?? '')), 'STATUS follows the ready count during the reload');
  // no pings after the master halted
  const count = messages.filter((x) => x.fields.WATCHDOG).length;
  await new Promise((r) => setTimeout(r, 600));
  assert.equal(messages.filter((x) => x.fields.WATCHDOG).length, count);
});

test('USR2: the old master names the new one as MAINPID and never says STOPPING; the promoted master says READY, pings the watchdog (and takes over statusBind)', { skip }, async (t) => {
  const { socket, messages } = await receiver(t);
  const [port, statusPort] = [await freePort(), await freePort()];
  // As systemd starts it: WATCHDOG_PID names the main process (sh execs node, keeping its pid).
  const m = Master.start(t, null, { bind: `127.0.0.1:${port}`, workers: 1, timeout: 5000, gracefulTimeout: 5000, statusBind: `127.0.0.1:${statusPort}` }, {
    command: 'sh',
    args: ['-c', 'WATCHDOG_PID=$$ exec "$0" "$@"', process.execPath, fixture('app.mjs')],
    env: { NOTIFY_SOCKET: socket, WATCHDOG_USEC: '400000' },
  });
  await m.ready(1);
  await waitFor(() => meaningful(messages).some((f) => f.READY === '1'), 'READY=1');
  m.signal('SIGUSR2');
  const next = await m.newMaster();
  await waitFor(() => m.all('worker_ready').length >= 2, 'the new master’s worker');
  const quiet = meaningful(messages).length;
  m.signal('SIGTERM');
  assert.equal((await m.exited).code, 0);
  await waitFor(() => meaningful(messages).filter((f) => f.MAINPID === String(next)).length >= 2, `MAINPID=${next} twice\n${JSON.stringify(meaningful(messages))}`);
  const after = meaningful(messages).slice(quiet);
  assert.ok(after.every((f) => !f.MAINPID || f.MAINPID === String(next)), 'the new master said nothing before its promotion');
  const kinds = after.map((f) => (f.STOPPING ? 'STOPPING' : f.MAINPID && f.READY ? 'PROMOTED' : f.MAINPID ? 'HANDOVER' : 'STATUS'));
  // systemd stops the whole unit on STOPPING=1 from its main process, and ignores MAINPID= once stopping
  assert.deepEqual(kinds.filter((k) => k !== 'STATUS'), ['HANDOVER', 'PROMOTED'], JSON.stringify(after));
  const pings = messages.filter((x) => x.fields.WATCHDOG === '1').length;
  await waitFor(() => messages.filter((x) => x.fields.WATCHDOG === '1').length >= pings + 2, 'watchdog pings from the promoted master');
  // the new master waited for the old one to let go of the status address
  await waitFor(async () => JSON.parse((await request(statusPort, '/status').catch(() => ({ body: '{}' }))).body).pid === next, 'the new master’s /status', 10_000);
  assert.ok(isAlive(next));
  process.kill(next, 'SIGTERM');
  await waitFor(() => !isAlive(next), 'the new master to stop');
  await waitFor(() => meaningful(messages).at(-1)?.STOPPING === '1', 'the new master’s STOPPING=1');
});
