import { BroadcastChannel } from 'node:worker_threads';
import { envelope, unwrap, type MasterMessage, type WorkerMessage } from '../protocol.js';
import { appPromClient } from '../prom.js';
import { trace } from '../trace.js';

/** The channel between a `threaded` worker's main thread and its serving threads. */
const CHANNEL = 'arbiter:app_metrics';

type ThreadQuery = { t: 'query'; id: number } | { t: 'answer'; id: number; metrics: unknown[] | null };

/** This event loop's prom-client registry as JSON; `null` when the app has not loaded prom-client. */
async function ownMetrics(): Promise<unknown[] | null> {
  const prom = appPromClient(true);
  return prom ? await prom.register.getMetricsAsJSON() : null;
}

/**
 * In a worker process: answers the master's `app_metrics` requests (a `/metrics` scrape) with the
 * app's prom-client metrics — this thread's registry when it runs the app, and each serving
 * thread's (`threads` of them, asked over a BroadcastChannel) for the `threaded` model. A thread
 * that does not answer within the master's deadline is left out. Nothing runs between requests.
 */
export function answerAppMetrics(mainServes: boolean, threads: number): void {
  let channel: BroadcastChannel | undefined;
  let seq = 0;
  const waiting = new Map<number, (metrics: unknown[] | null) => void>();
  process.on('message', (payload: unknown) => {
    const msg = unwrap<MasterMessage>(payload);
    if (msg?.cmd !== 'app_metrics') return;
    void gather(msg.deadline).then(
      (metrics) => reply({ cmd: 'app_metrics', id: msg.id, metrics }),
      (err: unknown) => reply({ cmd: 'app_metrics', id: msg.id, metrics: null, error: err instanceof Error ? err.message : String(err) }),
    );
  });

  async function gather(deadline: number): Promise<unknown[][] | null> {
    const [own, fromEach] = await Promise.all([mainServes ? ownMetrics() : null, threads > 0 ? fromThreads(deadline) : []]);
    const found = [own, ...fromEach].filter((p): p is unknown[] => Array.isArray(p));
    return found.length > 0 ? found : null;
  }

  /** Every serving thread's registry that arrives within most of `deadline` ms. */
  function fromThreads(deadline: number): Promise<(unknown[] | null)[]> {
    if (!channel) {
      channel = new BroadcastChannel(CHANNEL);
      channel.unref();
      channel.onmessage = (event) => {
        const data = (event as { data?: ThreadQuery }).data;
        if (data?.t === 'answer') waiting.get(data.id)?.(data.metrics);
      };
    }
    const id = ++seq;
    const answers: (unknown[] | null)[] = [];
    const done = new Promise<(unknown[] | null)[]>((resolve) => {
      const finish = (): void => {
        waiting.delete(id);
        resolve(answers);
      };
      const timer = setTimeout(finish, Math.max(0, deadline * 0.8)); // leave time for the answer to reach the master
      waiting.set(id, (metrics) => {
        answers.push(metrics);
        if (answers.length < threads) return;
        clearTimeout(timer);
        finish();
      });
    });
    channel.postMessage({ t: 'query', id } satisfies ThreadQuery);
    return done;
  }
}

function reply(msg: WorkerMessage): void {
  if (!process.connected) return;
  process.send?.(envelope(msg), undefined, undefined, (err: Error | null) => {
    if (err) trace.worker('cannot answer app_metrics: %s', err.message);
  });
}

/** In a serving thread of a `threaded` worker: answers its process's main thread with this thread's registry. */
export function answerThreadAppMetrics(): void {
  const channel = new BroadcastChannel(CHANNEL);
  channel.unref();
  channel.onmessage = (event) => {
    const data = (event as { data?: ThreadQuery }).data;
    if (data?.t !== 'query') return;
    void ownMetrics().then(
      (metrics) => channel.postMessage({ t: 'answer', id: data.id, metrics } satisfies ThreadQuery),
      () => channel.postMessage({ t: 'answer', id: data.id, metrics: null } satisfies ThreadQuery),
    );
  };
}
