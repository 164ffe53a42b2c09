import { controlRequest, controlSubscribe } from '../control/client.js';
import type { LiveEvent } from '../control/feed.js';
import { ArbiterError } from '../errors.js';
import type { ArbiterStats } from '../master/stats.js';
import type { ControlArgs } from './args.js';
import type { Output } from './output.js';
import { renderTop, type TopState } from './top-view.js';

/** Events kept for the screen. */
const KEPT_EVENTS = 200;
/** How long `status` may take before the view says the master does not answer. */
const STATUS_TIMEOUT = 5000;

/** Switches to the alternate screen and back (the terminal is left as it was found). */
const ENTER = '\x1b[?1049h\x1b[?25l\x1b[H\x1b[2J';
const LEAVE = '\x1b[?25h\x1b[?1049l';

/**
 * `arbiter top [target]`: a full-screen live view of one master — the master, a row per worker,
 * the last lifecycle events — refreshed every `--interval` (a `status` each time; the events come
 * through `subscribe`). Keys: `q` (or Ctrl-C) quits, `r` reloads after a y/n question, `+`/`-`
 * scale by one. It needs a terminal: without one it says to use `status --json` and exits 1.
 * The terminal is restored on every way out (quit, Ctrl-C, SIGTERM, SIGHUP, the master halting).
 */
export async function runTop(socketPath: string, args: ControlArgs, io: Output): Promise<number> {
  const stdin = process.stdin;
  const stdout = process.stdout;
  if (!stdout.isTTY || !stdin.isTTY) {
    throw new ArbiterError(
      'ARBITER_ERR_CONTROL',
      `top draws a full-screen view and needs a terminal (${stdout.isTTY ? 'stdin' : 'stdout'} is not one); for scripts and pipes use \`arbiter status --json\` (a snapshot) or \`arbiter events --json\` (a feed)`,
    );
  }
  const color = !args.noColor && !process.env.NO_COLOR && process.env.TERM !== 'dumb';
  const state: TopState & { rates: Map<number, number> } = { rates: new Map(), events: [], columns: stdout.columns || 80, rows: stdout.rows || 24, color, now: Date.now() };
  const events: LiveEvent[] = [];
  state.events = events;
  let previous: { at: number; requests: Map<number, number> } | undefined;
  let asking: ((key: string) => void) | undefined;
  let halted: LiveEvent | undefined;
  let entered = false; // on the alternate screen: nothing is drawn before, nor after leaving it

  const draw = (): void => {
    if (!entered) return;
    state.now = Date.now();
    state.columns = stdout.columns || 80;
    state.rows = stdout.rows || 24;
    const lines = renderTop(state);
    stdout.write(`\x1b[H${lines.map((l) => `${l}\x1b[K`).join('\r\n')}\x1b[J`);
  };

  const poll = async (): Promise<void> => {
    try {
      const stats: ArbiterStats = await controlRequest(socketPath, 'status', {}, STATUS_TIMEOUT);
      const at = performance.now();
      const requests = new Map(stats.workers.filter((w) => w.requests !== null).map((w) => [w.pid, w.requests!] as const));
      if (previous) {
        const seconds = (at - previous.at) / 1000;
        state.rates.clear();
        for (const [pid, n] of requests) {
          const before = previous.requests.get(pid);
          if (before !== undefined && seconds > 0) state.rates.set(pid, Math.max(0, n - before) / seconds);
        }
      }
      previous = { at, requests };
      state.stats = stats;
      state.error = undefined;
    } catch (err) {
      state.error = (err as Error).message;
    }
    if (!halted) draw();
  };

  return new Promise<number>((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    let finished = false;
    const sub = controlSubscribe(socketPath, { backlog: 20 }, (e) => {
      events.push(e);
      if (events.length > KEPT_EVENTS) events.shift();
      if (e.type === 'halt') halted = e;
      draw();
    });
    const finish = (status: number, after?: string): void => {
      if (finished) return;
      finished = true;
      if (timer) clearTimeout(timer);
      sub.close();
      stdin.off('data', onKey);
      stdout.off('resize', draw);
      for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.off(sig, onSignal);
      process.off('exit', restore);
      if (entered) restore();
      entered = false;
      if (after) io.err(after);
      resolve(status);
    };
    const restore = (): void => {
      try {
        if (stdin.isTTY) stdin.setRawMode(false);
      } catch {
        // the terminal is gone
      }
      stdin.pause();
      stdout.write(LEAVE);
    };
    const onSignal = (): void => finish(0);
    const say = (message: string | undefined): void => {
      state.message = message;
      draw();
    };
    const act = (what: string, run: () => Promise<string>): void => {
      say(`${what}…`);
      run().then(say, (err: Error) => say(`${what} failed: ${err.message}`));
    };
    const onKey = (chunk: Buffer): void => {
      for (const key of chunk.toString('utf8')) {
        if (key === '\x03') return finish(0); // Ctrl-C (raw mode: no SIGINT)
        if (asking) {
          const answer = asking;
          asking = undefined;
          answer(key);
          continue;
        }
        if (key === 'q' || key === 'Q') return finish(0);
        if (key === 'r') {
          say(`Reload master ${state.stats?.pid ?? ''}: new workers with fresh code? (y/n)`);
          asking = (k) => {
            if (k === 'y' || k === 'Y') {
              act('reloading', async () => {
                const done = await controlRequest(socketPath, 'reload', {}, 0);
                return `reloaded: generation ${done.generation} (${done.workers} workers)`;
              });
            } else say('reload cancelled');
          };
        } else if (key === '+' || key === '-') {
          const delta = key === '+' ? 1 : -1;
          act(`scale ${key}1`, async () => {
            const done = await controlRequest(socketPath, 'scale', { delta }, STATUS_TIMEOUT);
            return done.previous === done.target ? `stays at ${done.target} worker${done.target === 1 ? '' : 's'}` : `scale ${done.previous} -> ${done.target} workers`;
          });
        }
      }
    };
    sub.ready.then(
      () => {
        stdout.write(ENTER);
        entered = true;
        stdin.setRawMode(true);
        stdin.resume();
        stdin.on('data', onKey);
        stdout.on('resize', draw);
        for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, onSignal);
        process.on('exit', restore); // a last resort: even an unexpected exit leaves a usable terminal
        const loop = (): void => {
          void poll().then(() => {
            if (!finished && !halted) timer = setTimeout(loop, args.interval);
          });
        };
        loop();
      },
      (err: Error) => {
        finished = true;
        io.err(`arbiter: ${err.message}`);
        resolve(1);
      },
    );
    sub.ended.then(
      () => {
        if (finished) return;
        if (halted) finish(0, `arbiter top: master ${state.stats?.pid ?? ''} stopped (exit status ${halted.status})`);
        else finish(1, `arbiter: the master at ${socketPath} went away without stopping (killed?)`);
      },
      (err: Error) => finish(1, `arbiter: ${err.message}`),
    );
  });
}
