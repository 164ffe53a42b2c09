import { readdirSync, readFileSync, realpathSync, statSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { ArbiterError } from '../errors.js';
import { isAlive } from '../master/pidfile.js';
import type { MasterSummary } from '../master/stats.js';
import { controlDir, currentUid } from './paths.js';
import type { LiveEvent } from './feed.js';
import {
  CONTROL_PROTOCOL,
  encodeFrame,
  FrameDecoder,
  type ControlClient,
  type ControlCommand,
  type ControlCommands,
  type ControlResponse,
  type SubscribeArgs,
  type SubscribeResult,
} from './protocol.js';

/** An `ARBITER_ERR_CONTROL` error. */
function controlError(message: string, cause?: unknown): ArbiterError {
  return new ArbiterError('ARBITER_ERR_CONTROL', message, cause === undefined ? undefined : { cause });
}

/** The user name of `uid` (from /etc/passwd), or `uid <n>`. */
function userName(uid: number): string {
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const [name, , id] = line.split(':');
      if (name && Number(id) === uid) return `${name} (uid ${uid})`;
    }
  } catch {
    // no passwd file
  }
  return `uid ${uid}`;
}

/** The effective uid of process `pid` (Linux /proc), or `undefined`. */
function processUid(pid: number): number | undefined {
  try {
    const m = /^Uid:\s+\d+\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Who owns `file` (or the nearest directory above it we may look at). */
function ownerOf(file: string): string {
  for (let p = file; ; p = path.dirname(p)) {
    try {
      return userName(statSync(p).uid);
    } catch {
      if (path.dirname(p) === p) return 'another user';
    }
  }
}

/** Turns a connection error into a message an operator can act on. */
function connectError(err: NodeJS.ErrnoException, socketPath: string): ArbiterError {
  switch (err.code) {
    case 'EACCES':
    case 'EPERM':
      return controlError(`permission denied on the control socket ${socketPath}: it belongs to ${ownerOf(socketPath)}; run the command as that user`, err);
    case 'ENOENT':
      return controlError(`no control socket at ${socketPath}`, err);
    case 'ECONNREFUSED':
      return controlError(`the control socket ${socketPath} is stale: its master is gone`, err);
    default:
      return controlError(`cannot reach the control socket ${socketPath}: ${err.message}`, err);
  }
}

/** True when something accepts connections at `socketPath`. */
export function connectable(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(socketPath);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

/**
 * Sends one command to the master listening at `socketPath` and resolves with its answer's data.
 * The request says who sends it (this process's pid and uid), for the master's `Control:` log line.
 * `timeout` (ms, 0 = none) bounds the whole exchange; `reload` and `stop` answer only once the
 * reload settled or the master halted, which the master itself bounds (`bootTimeout`, `gracefulTimeout`).
 * @throws {@link ArbiterError} `ARBITER_ERR_CONTROL`: unreachable, permission denied, or the master answered with an error.
 */
export function controlRequest<C extends ControlCommand>(
  socketPath: string,
  command: C,
  args: ControlCommands[C]['args'],
  timeout = 10_000,
): Promise<ControlCommands[C]['data']> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath);
    const decoder = new FrameDecoder();
    let done = false;
    const finish = (err: Error | undefined, data?: unknown): void => {
      if (done) return;
      done = true;
      if (timer) clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(data as ControlCommands[C]['data']);
    };
    const timer = timeout > 0 ? setTimeout(() => finish(controlError(`the master at ${socketPath} did not answer \`${command}\` within ${timeout} ms`)), timeout) : undefined;
    const client: ControlClient = { pid: process.pid, ...(process.geteuid ? { uid: process.geteuid() } : {}) };
    socket.once('connect', () => socket.write(encodeFrame({ v: CONTROL_PROTOCOL, id: 1, command, args, client })));
    socket.on('data', (chunk: Buffer) => {
      let messages: unknown[];
      try {
        messages = decoder.push(chunk);
      } catch (err) {
        finish(controlError(`bad answer from ${socketPath}: ${(err as Error).message}`));
        return;
      }
      for (const m of messages as ControlResponse[]) {
        if (m.id !== 1) continue;
        if (m.status === 'ok') finish(undefined, m.data);
        else finish(controlError(String(m.error)));
      }
    });
    socket.on('error', (err) => finish(connectError(err, socketPath)));
    socket.on('close', () => finish(controlError(`the master at ${socketPath} closed the connection without answering \`${command}\``)));
  });
}

/** A subscription to a master's events ({@link controlSubscribe}). */
export interface Subscription {
  /** Resolves with the master's answer once subscribed; rejects when it could not subscribe. */
  readonly ready: Promise<SubscribeResult>;
  /** Resolves when the master ends the feed (it halted) or {@link Subscription.close} was called; rejects on a broken connection. */
  readonly ended: Promise<void>;
  /** Stops following. */
  close(): void;
}

/**
 * Follows the lifecycle events of the master at `socketPath` (`subscribe`): `onEvent` is called
 * once per event, in order, until the master halts (then `ended` resolves) or `close()`.
 */
export function controlSubscribe(socketPath: string, args: SubscribeArgs, onEvent: (e: LiveEvent) => void): Subscription {
  const socket = net.connect(socketPath);
  const decoder = new FrameDecoder();
  let subscribed = false;
  let closing = false;
  let resolveReady!: (r: SubscribeResult) => void;
  let rejectReady!: (err: Error) => void;
  let resolveEnded!: () => void;
  let rejectEnded!: (err: Error) => void;
  const ready = new Promise<SubscribeResult>((res, rej) => ((resolveReady = res), (rejectReady = rej)));
  const ended = new Promise<void>((res, rej) => ((resolveEnded = res), (rejectEnded = rej)));
  ended.catch(() => {}); // a caller may only await `ready`
  const fail = (err: Error): void => {
    if (!subscribed) rejectReady(err);
    rejectEnded(err);
    socket.destroy();
  };
  const client: ControlClient = { pid: process.pid, ...(process.geteuid ? { uid: process.geteuid() } : {}) };
  socket.once('connect', () => socket.write(encodeFrame({ v: CONTROL_PROTOCOL, id: 1, command: 'subscribe', args, client })));
  socket.on('data', (chunk: Buffer) => {
    let messages: unknown[];
    try {
      messages = decoder.push(chunk);
    } catch (err) {
      return fail(controlError(`bad frame from ${socketPath}: ${(err as Error).message}`));
    }
    for (const m of messages as (ControlResponse | { id: number; status: 'event'; data: LiveEvent })[]) {
      if (m.status === 'event') {
        if (subscribed && !closing) onEvent(m.data);
      } else if (m.status === 'ok' && !subscribed) {
        subscribed = true;
        resolveReady(m.data as SubscribeResult);
      } else if (m.status === 'error') {
        return fail(controlError(String(m.error)));
      }
    }
  });
  socket.on('error', (err) => fail(subscribed ? controlError(`lost the master at ${socketPath}: ${err.message}`, err) : connectError(err, socketPath)));
  socket.on('close', () => {
    if (!subscribed) rejectReady(controlError(`the master at ${socketPath} closed the connection without answering \`subscribe\``));
    resolveEnded();
  });
  return {
    ready,
    ended,
    close: () => {
      closing = true;
      socket.destroy();
    },
  };
}

/** A running master found through its control socket. */
export interface MasterEntry {
  /** Its control socket. */
  path: string;
  /** Its `info` answer (one `arbiter ls` row). */
  summary: MasterSummary;
}

const SOCKET_NAME = /^(\d+)\.sock$/;

/**
 * Every master of this user (`arbiter ls`): each `<pid>.sock` in {@link controlDir} that answers
 * `info`, by pid. Sockets left by masters that died without cleaning up (SIGKILL) are removed.
 * @throws {@link ArbiterError} `ARBITER_ERR_CONTROL` when the directory cannot be read.
 */
export async function listMasters(env: NodeJS.ProcessEnv = process.env): Promise<MasterEntry[]> {
  const dir = controlDir(env);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT') return [];
    if (e.code === 'EACCES') throw controlError(`permission denied on ${dir}: it belongs to ${ownerOf(dir)}`, e);
    throw controlError(`cannot read ${dir}: ${e.message}`, e);
  }
  const found = await Promise.all(
    names
      .filter((n) => SOCKET_NAME.test(n))
      .map(async (name): Promise<MasterEntry | undefined> => {
        const file = path.join(dir, name);
        try {
          return { path: file, summary: await controlRequest(file, 'info', {}, 5000) };
        } catch (err) {
          const code = ((err as ArbiterError).cause as NodeJS.ErrnoException | undefined)?.code;
          // Nobody listens there and its master is dead: a leftover. (A live master may be moving
          // its socket — a USR2 promotion re-points its link — so its entry is never removed here.)
          if ((code === 'ECONNREFUSED' || code === 'ENOENT') && !isAlive(Number(SOCKET_NAME.exec(name)![1]))) {
            try {
              unlinkSync(file);
            } catch {
              // already gone
            }
          }
          return undefined;
        }
      }),
  );
  return found.filter((m): m is MasterEntry => m !== undefined).sort((a, b) => a.summary.pid - b.summary.pid);
}

/** `pid 123 (web)`. */
function describe(m: MasterSummary): string {
  return `pid ${m.pid}${m.name ? ` (${m.name})` : ''}`;
}

/** The control socket of master `pid`: ours, or where the master's own user has it (to say whose it is). */
async function byPid(pid: number, env: NodeJS.ProcessEnv): Promise<MasterEntry> {
  const mine = path.join(controlDir(env), `${pid}.sock`);
  const uid = processUid(pid);
  const candidates = [mine];
  if (uid !== undefined && uid !== currentUid()) {
    candidates.push(path.join('/run/user', String(uid), 'arbiter', `${pid}.sock`), path.join(os.tmpdir(), `arbiter-${uid}`, `${pid}.sock`));
  }
  let denied: ArbiterError | undefined;
  for (const file of candidates) {
    try {
      return { path: file, summary: await controlRequest(file, 'info', {}, 5000) };
    } catch (err) {
      const code = ((err as ArbiterError).cause as NodeJS.ErrnoException | undefined)?.code;
      if (code === 'EACCES' || code === 'EPERM') denied = err as ArbiterError;
      else if (code !== 'ENOENT' && code !== 'ECONNREFUSED') throw err;
    }
  }
  const owner = uid === undefined ? 'another user' : userName(uid);
  if (denied) {
    throw controlError(`permission denied: the master with pid ${pid} runs as ${owner}, and its control socket is open to that user only; run the command as that user`, denied);
  }
  if (uid !== undefined && uid !== currentUid() && currentUid() !== 0) {
    throw controlError(`process ${pid} runs as ${owner}: if it is an arbiter master, its control socket is open to that user only; run the command as that user`);
  }
  if (!isAlive(pid)) throw controlError(`no process with pid ${pid} is running`);
  throw controlError(`process ${pid} has no control socket in ${controlDir(env)}: is it an arbiter master of this user, with controlSocket enabled?`);
}

/**
 * Finds the master a control command means (`arbiter status [target]`): `target` is a master's
 * pid, its `procName`, a pidfile path or a control socket path; omitted, the only master of this
 * user is meant.
 * @throws {@link ArbiterError} `ARBITER_ERR_CONTROL` when none matches (saying what runs), or several do (listing them).
 */
export async function findMaster(target: string | undefined, env: NodeJS.ProcessEnv = process.env): Promise<MasterEntry> {
  if (target !== undefined && /^\d+$/.test(target)) return byPid(Number(target), env);
  if (target !== undefined && (target.includes('/') || target.endsWith('.pid') || target.endsWith('.sock'))) {
    let st;
    try {
      st = statSync(target);
    } catch (err) {
      throw controlError(`${target}: no such pidfile or control socket`, err);
    }
    if (st.isSocket()) return { path: target, summary: await controlRequest(target, 'info', {}, 5000) };
    const pid = Number.parseInt(readFileSync(target, 'utf8').trim(), 10);
    if (!(pid > 0)) throw controlError(`${target} holds no pid`);
    return byPid(pid, env);
  }
  const all = await listMasters(env);
  const matching = target === undefined ? all : all.filter((m) => m.summary.name === target);
  const list = (ms: MasterEntry[]): string => ms.map((m) => `  ${describe(m.summary)}  ${m.summary.binds.join(' ')}`).join('\n');
  if (matching.length === 1) return matching[0]!;
  if (matching.length === 0) {
    if (target === undefined) throw controlError(`no arbiter master is running (no control socket in ${controlDir(env)})`);
    throw controlError(`no arbiter master named ${JSON.stringify(target)} is running${all.length ? `; running:\n${list(all)}` : ''}`);
  }
  throw controlError(`${matching.length} arbiter masters are running${target ? ` named ${JSON.stringify(target)}` : ''}; name one by pid${target ? '' : ' or name'}:\n${list(matching)}`);
}

/** `dir` with symlinks resolved (as given when it cannot be resolved). */
function realDir(dir: string): string {
  try {
    return realpathSync(dir);
  } catch {
    return dir;
  }
}

/**
 * The masters of `masters` started from directory `cwd` (their `summary.cwd`; symlinks resolved on
 * both sides). A control command that changes something acts without a target only on the one
 * master started from the directory it runs in.
 */
export function startedIn(masters: readonly MasterEntry[], cwd: string = process.cwd()): MasterEntry[] {
  const here = realDir(cwd);
  return masters.filter((m) => typeof m.summary.cwd === 'string' && m.summary.cwd !== '' && realDir(m.summary.cwd) === here);
}
