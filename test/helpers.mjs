// Test helpers: start real masters in child processes, wait for their events, read /proc, clean up every pid.
import { spawn } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const fixture = (name) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

/** A port nobody listens on right now. */
export async function freePort() {
  const s = net.createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

/** Polls `predicate` until it returns a truthy value; fails with `what` (or what `what()` says then) after `timeout` ms. */
export async function waitFor(predicate, what, timeout = 10_000, every = 20) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const v = await predicate();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${typeof what === 'function' ? what() : what}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

/** True while `pid` exists and is not a zombie. */
export function isAlive(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Direct children of `pid`, from /proc. */
export function childrenOf(pid) {
  const out = [];
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const text = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
      if (text) out.push(...text.split(/\s+/).map(Number));
    }
  } catch {
    // gone
  }
  return out.filter(isAlive);
}

/** One HTTP request without keep-alive: `{ status, body, headers }`; rejects on a network error. */
export function request(target, path = '/', options = {}) {
  return new Promise((resolve, reject) => {
    const where = typeof target === 'number' ? { host: '127.0.0.1', port: target } : { socketPath: target };
    const req = http.get({ ...where, path, agent: options.agent ?? false, timeout: options.timeout ?? 15_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode, body, headers: res.headers }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('request timeout')));
    req.on('error', reject);
  });
}

/** True when something accepts TCP connections on 127.0.0.1:port. */
export function canConnect(port) {
  return new Promise((resolve) => {
    const c = net.connect(port, '127.0.0.1');
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

/** Every master a test file started: cleaned up when the file's process exits, even after a test was cut off by --test-timeout (its after-hooks do not run then). */
const started = new Set();
process.on('exit', () => {
  for (const m of started) m.cleanup();
});

/**
 * A master started from a fixture in its own process. Its event listeners print
 * `EVENT {"name":..., "args":[...]}` lines on stdout, which we collect.
 */
export class Master {
  constructor(child) {
    this.child = child;
    this.pid = child.pid;
    this.events = [];
    this.stdout = '';
    this.stderr = '';
    this.pids = new Set([child.pid]);
    // Resolves once the master has exited *and* its output has been read ('close'), so a test can
    // assert on every line it printed; a new master started by USR2 shares our pipes and may keep
    // them open, so 'exit' alone also resolves, 2 s later.
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        const done = () => resolve({ code, signal });
        child.once('close', done);
        setTimeout(done, 2000).unref();
      });
    });
    let buf = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      this.stdout += chunk;
      buf += chunk;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (line.startsWith('EVENT ')) {
          const ev = JSON.parse(line.slice(6));
          this.events.push(ev);
          if (ev.name === 'spawn') this.pids.add(ev.args[0].pid);
        }
      }
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk) => (this.stderr += chunk));
  }

  /**
   * Starts `node <fixture>` (or `command` with `args`, in `cwd`) with `config` (JSON) in
   * ARBITER_TEST_CONFIG (as user and group `uid` when given: see {@link worldReadableCopy} for what
   * that user can load). `t` (the test context) gets an after-hook that kills every pid this master ever had.
   */
  static start(t, name, config = {}, { env = {}, stdio = [], args = [], command, uid, cwd } = {}) {
    const child = spawn(command ?? process.execPath, command ? args : [fixture(name), ...args], {
      env: { ...process.env, ARBITER_TEST_CONFIG: JSON.stringify(config), ...env },
      stdio: ['ignore', 'pipe', 'pipe', ...stdio],
      ...(uid === undefined ? {} : { uid, gid: uid, cwd: '/' }),
      ...(cwd ? { cwd } : {}),
    });
    const m = new Master(child);
    started.add(m);
    t?.after(() => m.cleanup());
    return m;
  }

  /** Events named `name` seen so far, optionally filtered. */
  all(name, filter = () => true) {
    return this.events.filter((e) => e.name === name && filter(...e.args));
  }

  /** Waits until `count` events named `name` (matching `filter`) were seen; returns them. */
  async waitForEvents(name, count = 1, filter = () => true, timeout = 15_000) {
    await waitFor(() => this.all(name, filter).length >= count, `${count} x '${name}' (seen: ${this.events.map((e) => e.name).join(',')})\n${this.stderr}`, timeout);
    return this.all(name, filter);
  }

  /** Waits for one more event named `name` after the ones already seen. */
  async nextEvent(name, filter = () => true, timeout = 15_000) {
    const before = this.all(name, filter).length;
    const evs = await this.waitForEvents(name, before + 1, filter, timeout);
    return evs[before];
  }

  /** Waits until a worker has started handling `/block` or `/slow` (n-th time); returns that worker's pid. */
  async started(path, n = 1) {
    const re = new RegExp(`^STARTED ${path} (\\d+)$`, 'gm');
    await waitFor(() => [...this.stdout.matchAll(re)].length >= n, `a worker to start ${path}`);
    return Number([...this.stdout.matchAll(re)][n - 1][1]);
  }

  /** After USR2: waits for the new master's start line; its pid, added to the pids cleaned up after the test. */
  async newMaster() {
    await this.waitForLog(/Started new master with pid: \d+/);
    const pid = Number(/Started new master with pid: (\d+)/.exec(this.stderr)[1]);
    this.pids.add(pid);
    return pid;
  }

  /** Waits for `pattern` on stderr (the operator log). */
  async waitForLog(pattern, timeout = 15_000) {
    await waitFor(() => pattern.test(this.stderr), () => `log ${pattern}\n${this.stderr}`, timeout); // the log as it is by then
  }

  /** The master's live worker pids, from /proc. */
  workers() {
    return childrenOf(this.pid);
  }

  /** Waits for the master to be up with `n` ready workers; returns the port-less ready addresses. */
  async ready(n) {
    const [ready] = await this.waitForEvents('ready');
    if (n) await waitFor(() => this.readyWorkers().length >= n, `${n} ready workers\n${this.stderr}`);
    return ready.args[0];
  }

  /** Pids of workers that reported ready and have not exited. */
  readyWorkers() {
    const gone = new Set(this.all('worker_exit').map((e) => e.args[0].pid));
    return this.all('worker_ready').map((e) => e.args[0].pid).filter((p) => !gone.has(p));
  }

  signal(sig) {
    process.kill(this.pid, sig);
  }

  /** `arbiter.stats()` of a master started with `{ stdio: ['ipc'] }` (app.mjs answers the message 'stats'). */
  stats() {
    return new Promise((resolve) => {
      const onMessage = (msg) => {
        if (!msg?.stats) return;
        this.child.off('message', onMessage);
        resolve(msg.stats);
      };
      this.child.on('message', onMessage);
      this.child.send('stats');
    });
  }

  /** SIGKILLs the master, every worker it ever had and every descendant (a USR2 master and its workers). */
  cleanup() {
    const all = new Set(this.pids);
    for (const pid of all) for (const child of childrenOf(pid)) all.add(child);
    for (const pid of all) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}

/**
 * A bounded load generator: `clients` concurrent loops of requests to `path` until stop() (or
 * `maxSeconds`, or `maxRequests`). Records every outcome with its start time, so a test can say
 * which requests started before an operator action.
 */
export function loadGenerator(target, { clients = 6, path = '/version', keepAlive = true, maxSeconds = 60, maxRequests = 50_000 } = {}) {
  const agent = keepAlive ? new http.Agent({ keepAlive: true, maxSockets: clients }) : false;
  const results = []; // { start, ok, body?, error? }
  const deadline = Date.now() + maxSeconds * 1000;
  let running = true;
  const loops = Array.from({ length: clients }, async () => {
    while (running && Date.now() < deadline && results.length < maxRequests) {
      const start = Date.now();
      try {
        const r = await request(target, path, { agent, timeout: 20_000 });
        results.push({ start, ok: r.status === 200, body: r.body, error: r.status === 200 ? undefined : `HTTP ${r.status}` });
      } catch (err) {
        results.push({ start, ok: false, error: err.code ?? err.message });
      }
    }
  });
  return {
    results,
    /** Requests completed so far. */
    get count() {
      return results.length;
    },
    /** Waits until `n` more requests have completed. */
    async progress(n) {
      const target = results.length + n;
      await waitFor(() => results.length >= target, `${n} more requests`, 30_000, 5);
    },
    async stop() {
      running = false;
      await Promise.all(loops);
      if (agent) agent.destroy();
      return results;
    },
  };
}

/** Counts of each distinct value. */
export function tally(values) {
  const out = {};
  for (const v of values) out[v] = (out[v] ?? 0) + 1;
  return out;
}

/** Whether every user may enter `path`'s directory and every directory above it (o+x on each). */
function enterableByAll(path) {
  for (let dir = path; ; dir = dirname(dir)) {
    if ((statSync(dir).mode & 0o001) === 0) return false;
    if (dir === dirname(dir)) return true;
  }
}

/**
 * For tests that run node as another user (`nobody`): the built package (package.json, dist/,
 * the runtime dependencies) and the `fixtures` (names under test/fixtures/), copied into a fresh
 * directory under /tmp that every user can read — the clone itself may lie in a directory only
 * its owner can enter (root's home, any `mktemp -d`), where that user cannot load a file.
 * Removed after the test. Returns `{ dir, bin, fixture(name) }` (`bin`: the `arbiter` command's
 * script), or, when no such copy can help (node itself is out of that user's reach), the reason
 * to skip.
 */
export function worldReadableCopy(t, fixtures = []) {
  for (const path of [dirname(process.execPath), '/tmp']) {
    if (!enterableByAll(path)) return `${path} is a directory not every user can enter`;
  }
  const root = fileURLToPath(new URL('..', import.meta.url));
  const dir = mkdtempSync('/tmp/arbiter-world-readable-');
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  for (const f of ['package.json', 'dist', ...fixtures.map((name) => `test/fixtures/${name}`)]) {
    cpSync(join(root, f), join(dir, f), { recursive: true });
  }
  // The runtime dependencies and theirs, from the (flat) node_modules of the clone.
  const pending = Object.keys(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).dependencies ?? {});
  for (let name; (name = pending.pop()) !== undefined; ) {
    const to = join(dir, 'node_modules', name);
    if (existsSync(to)) continue;
    cpSync(join(root, 'node_modules', name), to, { recursive: true });
    pending.push(...Object.keys(JSON.parse(readFileSync(join(to, 'package.json'), 'utf8')).dependencies ?? {}));
  }
  // Whatever the umask of the clone was: directories 0755, files readable by all.
  const open = (path) => {
    const st = statSync(path);
    if (st.isDirectory()) {
      chmodSync(path, 0o755);
      for (const entry of readdirSync(path)) open(join(path, entry));
    } else {
      chmodSync(path, st.mode & 0o111 ? 0o755 : 0o644);
    }
  };
  open(dir);
  return { dir, bin: join(dir, 'dist/cjs/cli/arbiter.js'), fixture: (name) => join(dir, 'test/fixtures', name) };
}

/** Connections accepted from a listener (TCP `port` or unix socket `path`) that process `pid` holds (from /proc). */
export function held(pid, where) {
  const inodes = new Set();
  if (typeof where === 'number') {
    const hex = `:${where.toString(16).toUpperCase().padStart(4, '0')}`;
    for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length > 9 && f[1].endsWith(hex) && f[3] === '01') inodes.add(f[9]);
    }
  } else {
    // accepted server-side unix sockets carry the listener's path; state 03 = connected
    for (const line of readFileSync('/proc/net/unix', 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length > 7 && f[7] === where && f[5] === '03') inodes.add(f[6]);
    }
  }
  let n = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m && inodes.has(m[1])) n++;
    } catch {
      // closed meanwhile
    }
  }
  return n;
}
