import type * as Inspector from 'node:inspector';

/**
 * The JavaScript stack of a stalled thread, taken by the worker's watchdog thread just before it
 * reports the stall (see docs/design.md, "The stack of a hung worker").
 *
 * How: an in-process inspector session (`Session.connectToMainThread()`, available to worker
 * threads) sends one `Runtime.evaluate` of `new Error().stack`. V8 serves inspector messages
 * through an interrupt that it checks even inside a tight `for(;;)` loop, so the expression runs
 * *on top of* the spinning code and its stack trace shows the spinning frames — formatted by V8
 * (and by the app's `Error.prepareStackTrace`, so source maps apply), with no `Debugger.enable`
 * (which costs tens to hundreds of ms in a big app). Measured on Node 20.20: 2–30 ms on a loaded
 * 2-core machine. On a thread whose event loop is idle the expression runs from the loop itself
 * and finds no frame: that tells an idle loop (a `sync` request waiting for I/O) from a blocked one. A thread blocked in a
 * system call or native code does not answer. A stalled serving thread of a `threaded` worker is
 * reached the same way through the `NodeWorker` domain of that session (the process's main thread
 * is free in that case).
 *
 * Why this way: an in-process session opens nothing — no port, no socket, no URL — so no other
 * local user can ever reach the debugger. The alternatives (Node's SIGUSR1 inspector, or
 * `inspector.open()`) listen on a TCP port of the loopback interface that any local user can
 * connect to while it is open.
 */

/** What {@link captureStack} found. */
export interface StackCapture {
  /** `    at fn (file:line:col)` lines, innermost frame first; absent when none was taken. */
  stack?: string;
  /** Why there is no stack. */
  noStack?: string;
  /** The thread answered with an empty stack: its event loop was idle, not blocked. */
  idle?: boolean;
  /** How long the capture took (ms). */
  ms: number;
}

/** The `name` of serving thread `index` of a `threaded` worker, by which the watchdog finds it. */
export function servingThreadName(index: number): string {
  return `arbiter serving thread ${index}`;
}

/** Longest time (ms) the watchdog spends on a stack before it reports the stall without one. */
export const CAPTURE_DEADLINE = 150;

/** Most frames kept. */
export const MAX_FRAMES = 40;

/**
 * Takes the JavaScript stack of thread `slot` (0: the main thread; i: serving thread i). Gives up
 * after `deadline` ms: a thread blocked in a system call or native code cannot run the expression.
 *
 * It runs inside the watchdog thread, whose source is a string: this function is embedded in that
 * string with `toString()`, so it must stay self-contained (no imports, no helpers; only its
 * arguments and globals).
 */
export function captureStack(inspector: typeof Inspector, slot: number, deadline: number, maxFrames: number, threadName: string): Promise<StackCapture> {
  const started = performance.now();
  const marker = 'arbiter-stack-capture';
  // Runs in the stalled thread, nested in whatever it is running. Restores everything it touches.
  const expression =
    `(() => { const limit = Error.stackTraceLimit; Error.stackTraceLimit = ${maxFrames + 2};` +
    ` try { return String(new Error().stack); } finally { Error.stackTraceLimit = limit; } })()\n//# sourceURL=${marker}`;
  return new Promise((resolve) => {
    let session: Inspector.Session | undefined;
    let done = false;
    const finish = (result: Omit<StackCapture, 'ms'>): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      try {
        session?.disconnect();
      } catch {
        // already gone
      }
      resolve({ ...result, ms: Math.round(performance.now() - started) });
    };
    const timer = setTimeout(
      () => finish({ noStack: `the thread did not run JavaScript within ${deadline} ms (blocked in a system call or native code)` }),
      deadline,
    );
    const answer = (response: any): void => {
      const value = response?.result?.value;
      if (typeof value !== 'string') {
        const why = response?.exceptionDetails?.exception?.description ?? response?.exceptionDetails?.text ?? 'no answer';
        return finish({ noStack: `its stack could not be formatted (${String(why).split('\n')[0]})` });
      }
      const frames = value.split('\n').slice(1).filter((line) => !line.includes(marker)).slice(0, maxFrames);
      finish(frames.length > 0 ? { stack: frames.join('\n') } : { idle: true, noStack: 'no JavaScript was running (its event loop was idle, waiting for I/O or timers)' });
    };
    const params = { expression, returnByValue: true, silent: true };
    try {
      const s = (session = new inspector.Session());
      s.connectToMainThread();
      if (slot === 0) {
        s.post('Runtime.evaluate', params, (err, response) => (err ? finish({ noStack: `the inspector refused (${err.message})` }) : answer(response)));
        return;
      }
      s.on('NodeWorker.attachedToWorker', (m: any) => {
        const { sessionId, workerInfo } = m.params;
        if (!String(workerInfo.title).endsWith(threadName)) return;
        s.on('NodeWorker.receivedMessageFromWorker', (r: any) => {
          if (r.params.sessionId !== sessionId) return;
          const msg = JSON.parse(r.params.message);
          if (msg.id === 1) answer(msg.result);
        });
        s.post('NodeWorker.sendMessageToWorker', { sessionId, message: JSON.stringify({ id: 1, method: 'Runtime.evaluate', params }) });
      });
      s.post('NodeWorker.enable', { waitForDebuggerOnStart: false });
    } catch (err) {
      finish({ noStack: `the inspector is not available (${(err as Error).message})` });
    }
  });
}
