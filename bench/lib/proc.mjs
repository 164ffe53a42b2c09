// Processes the bench starts, and what /proc says about them.
//
// Every process is started in its own process group (detached) and recorded with its start time,
// so a recycled pid is never signalled and a tree whose root died can still be killed as a group.
// `cleanup()` runs on exit, on error, on SIGINT/SIGTERM/SIGHUP and at the global deadline.
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/** Monotonic nanoseconds, comparable across processes (CLOCK_MONOTONIC; servers print the same clock). */
export const nowNs = () => process.hrtime.bigint();
export const msSince = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;

export const CLK_TCK = (() => {
  const n = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim());
  return Number.isFinite(n) && n > 0 ? n : 100;
})();

/** `/proc/<pid>/stat`: state, start time and CPU ticks; null when gone or a zombie. */
export function procStat(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    if (f[0] === 'Z') return null;
    return { state: f[0], start: f[19], ticks: Number(f[11]) + Number(f[12]) };
  } catch {
    return null;
  }
}

export const alive = (pid) => procStat(pid) !== null;

/** Direct children (every thread's children file). */
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
  return out.filter(alive);
}

/** `pid` and every live descendant, root first. */
export function tree(pid) {
  const out = [];
  const todo = [pid];
  while (todo.length) {
    const p = todo.shift();
    if (!alive(p)) continue;
    out.push(p);
    todo.push(...childrenOf(p));
  }
  return out;
}

/**
 * CPU time of every thread of `pid` in nanoseconds, from the scheduler's exact accounting
 * (/proc/PID/task/TID/schedstat) rather than utime/stime, which are sampled per 10 ms tick.
 * Threads that exited earlier are not included; NaN when the process is gone.
 */
export function cpuNs(pid) {
  let tids;
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return NaN;
  }
  let sum = 0;
  for (const tid of tids) {
    try {
      sum += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // thread gone
    }
  }
  return sum;
}

/** Resident set size in bytes (VmRSS), NaN when gone. */
export function rssBytes(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** Machine-wide busy CPU time (all cores) in nanoseconds, from /proc/stat. */
export function machineBusyNs() {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest is counted inside user)
    return ((f.slice(0, 8).reduce((a, b) => a + b, 0) - f[3] - f[4]) * 1e9) / CLK_TCK;
  } catch {
    return NaN;
  }
}

/** This process's CPU time and that of its reaped children (a load generator, once it exited), ns. */
export function selfCpuNs() {
  try {
    const st = readFileSync('/proc/self/stat', 'utf8');
    const f = st.slice(st.lastIndexOf(')') + 2).split(' ').map(Number);
    return { self: ((f[11] + f[12]) * 1e9) / CLK_TCK, children: ((f[13] + f[14]) * 1e9) / CLK_TCK };
  } catch {
    return { self: NaN, children: NaN };
  }
}

// ---- processes we start ------------------------------------------------------------------------

const tracked = new Map(); // pid -> starttime
const groups = new Set(); // process group ids we created
const cleanups = new Set(); // extra synchronous cleanups (PM2 daemon, temp dirs)

/** Records `pid` (and later its descendants) as ours. */
export function track(pid) {
  const st = procStat(pid);
  if (st) tracked.set(pid, st.start);
}

/** Records a whole tree as ours (workers that a master spawned, PM2's daemon and apps). */
export function trackTree(root) {
  for (const pid of tree(root)) track(pid);
}

/** Runs `fn` synchronously during cleanup. Returns a function that unregisters it. */
export function onCleanup(fn) {
  cleanups.add(fn);
  return () => cleanups.delete(fn);
}

function killTracked(signal) {
  for (const [pid, start] of tracked) {
    if (procStat(pid)?.start === start) {
      try {
        process.kill(pid, signal);
      } catch {
        // gone
      }
    } else tracked.delete(pid);
  }
}

/** True while any process we recorded is still alive. */
export function anyAlive(pids = [...tracked.keys()]) {
  return pids.some((pid) => tracked.has(pid) && procStat(pid)?.start === tracked.get(pid));
}

/** Kills everything we started, synchronously (also from 'exit'). */
export function cleanup() {
  for (const fn of cleanups) {
    try {
      fn();
    } catch {
      // best effort
    }
  }
  cleanups.clear();
  for (const pgid of groups) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  killTracked('SIGKILL');
}

/**
 * A process the bench started: `lines` collects stdout lines with the monotonic time they arrived,
 * `output()` the tail of stdout+stderr for error messages.
 */
export class Proc {
  /** @param {string} name @param {string} cmd @param {string[]} args @param {object} options */
  constructor(name, cmd, args, { env = {}, cwd, stdio } = {}) {
    this.name = name;
    this.child = spawn(cmd, args, {
      cwd,
      env: { ...process.env, ...env },
      stdio: stdio ?? ['ignore', 'pipe', 'pipe'],
      detached: true, // its own process group: a stuck tree can be killed as a whole
    });
    this.pid = this.child.pid;
    if (this.pid === undefined) throw new Error(`cannot start ${name}: ${cmd}`);
    groups.add(this.pid);
    track(this.pid);
    this.lines = [];
    this.#waiters = new Set();
    let tail = '';
    const keep = (d) => (tail = (tail + d).slice(-6000));
    let buf = '';
    this.child.stdout?.setEncoding('utf8');
    this.child.stdout?.on('data', (d) => {
      keep(d);
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        this.lines.push({ at: nowNs(), line: buf.slice(0, i) });
        buf = buf.slice(i + 1);
      }
      for (const w of this.#waiters) w();
    });
    this.child.stderr?.setEncoding('utf8');
    this.child.stderr?.on('data', keep);
    this.output = () => tail;
    this.exitInfo = null;
    this.exited = new Promise((resolve) =>
      this.child.once('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        groups.delete(this.pid);
        for (const w of this.#waiters) w();
        resolve(this.exitInfo);
      }),
    );
  }

  #waiters;

  /** Waits until `pred(lines)` is truthy (checked on every new line); returns its value. */
  waitFor(pred, what, timeoutMs = 30_000) {
    return new Promise((resolve, reject) => {
      const check = () => {
        const v = pred(this.lines);
        if (v) {
          done();
          resolve(v);
        } else if (this.exitInfo) {
          done();
          reject(new Error(`${this.name} exited (${this.exitInfo.signal ?? this.exitInfo.code}) while waiting for ${what}\n${this.output()}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${this.name}: timed out after ${timeoutMs} ms waiting for ${what}\n${this.output()}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(check);
      };
      this.#waiters.add(check);
      check();
    });
  }

  /**
   * Stops the tree: `signal` to the root, SIGKILL to the whole group after `graceMs`; waits for every
   * descendant. Resolves { ms, forced, leftovers }: how long the root took to exit, whether it had
   * to be killed, and how many of its descendants were still alive when it had exited.
   */
  async stop(signal = 'SIGTERM', graceMs = 10_000) {
    const pids = tree(this.pid);
    for (const p of pids) track(p);
    const t0 = nowNs();
    let forced = false;
    if (!this.exitInfo) {
      try {
        process.kill(this.pid, signal);
      } catch {
        // gone
      }
      const ok = await Promise.race([this.exited.then(() => true), sleep(graceMs).then(() => false)]);
      if (!ok) {
        forced = true;
        process.stderr.write(`[bench] ${this.name} did not stop within ${graceMs} ms of ${signal}; killing its group\n`);
      }
    }
    const ms = msSince(t0);
    await sleep(50); // workers exit right after their master; anything alive after this outlived it
    const leftovers = pids.filter((p) => p !== this.pid && anyAlive([p])).length;
    try {
      process.kill(-this.pid, 'SIGKILL'); // anything left in its group
    } catch {
      // group empty
    }
    for (let i = 0; i < 100 && anyAlive(pids); i++) await sleep(20);
    for (const p of pids) {
      if (anyAlive([p])) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          // gone
        }
      }
    }
    return { ms, forced, leftovers };
  }
}

/** Runs a command to completion (bounded); resolves { code, out }. The child is killed on cleanup. */
export function runCapture(cmd, args, { env = process.env, cwd, timeoutMs = 60_000 } = {}) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const off = onCleanup(() => child.kill('SIGKILL'));
    let out = '';
    child.stdout.on('data', (d) => (out = (out + d).slice(-20_000)));
    child.stderr.on('data', (d) => (out = (out + d).slice(-20_000)));
    const timer = setTimeout(() => {
      out += `\n(killed after ${timeoutMs} ms)`;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      off();
      resolve({ code: -1, out: `${out}\n${err.message}` });
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      off();
      resolve({ code: code ?? (signal ? 128 : -1), out });
    });
  });
}

/**
 * Established TCP connections on local `port` held by each of `pids` (from /proc/net/tcp and each
 * process's fd table). Returns counts in the order of `pids`.
 */
export function connectionsByPid(pids, port) {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  const inodes = new Set();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length > 9 && f[1].endsWith(`:${hexPort}`) && f[3] === '01') inodes.add(f[9]);
    }
  }
  return pids.map((pid) => {
    let n = 0;
    try {
      for (const fd of readdirSync(`/proc/${pid}/fd`)) {
        try {
          const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
          if (m && inodes.has(m[1])) n++;
        } catch {
          // closed meanwhile
        }
      }
    } catch {
      // gone
    }
    return n;
  });
}
