import type http from 'node:http';
import type { ResolvedConfig } from '../config.js';
import { loopSampler, type LoopSampler, type ShedReason } from '../worker/loop-sampler.js';

/**
 * Overload shedding in the HTTP models (SPEC §12): answers `503` + `Retry-After: 1` before the
 * app runs, when the request waited longer than `maxQueueTime` before reaching the worker (its
 * `X-Request-Start`) or while the loop's delay p99 over the last second is above
 * `maxEventLoopDelay`. Also records the queue time of every request that carries the header
 * (`arbiter_request_queue_seconds`). Per request: one header lookup, and one `Date.now()` when the
 * header is there — no timer.
 */
export type Shedder = (req: http.IncomingMessage, res: http.ServerResponse) => boolean;

/**
 * The time (epoch ms) in an `X-Request-Start` header: `t=1712345678.123` (seconds with a
 * fraction: nginx's `${msec}`), `t=1712345678123` (milliseconds: Heroku, Render) or
 * `t=1712345678123456` (microseconds); the `t=` is optional. `undefined` when it is none of these.
 */
export function requestStart(header: string): number | undefined {
  const m = /^\s*(?:t=)?(\d+(?:\.\d+)?)\s*$/.exec(header);
  if (!m) return undefined;
  const v = Number(m[1]);
  if (v < 1e11) return v * 1000; // seconds (1e11 s is the year 5138)
  if (v < 1e14) return v; // milliseconds
  return v / 1000; // microseconds
}

const BODY = 'Service Unavailable\n';

function reject(res: http.ServerResponse, reason: ShedReason, sampler: LoopSampler, keepAlive: boolean): true {
  sampler.shed(reason);
  if (!keepAlive) res.shouldKeepAlive = false; // the sync model serves one connection at a time
  res.writeHead(503, { 'content-type': 'text/plain', 'content-length': BODY.length, 'retry-after': '1' }).end(BODY);
  return true;
}

/**
 * The shedder of this thread's serving loop: `true` when it answered the request (the app must
 * not run). `undefined` when there is no loop sampler (not in a worker). `keepAlive`: whether the
 * model keeps connections open after a response.
 */
export function overloadShedder(config: Pick<ResolvedConfig, 'maxQueueTime' | 'maxEventLoopDelay'>, keepAlive: boolean): Shedder | undefined {
  const sampler = loopSampler();
  if (!sampler) return undefined;
  const { maxQueueTime, maxEventLoopDelay } = config;
  return (req, res) => {
    const header = req.headers['x-request-start'];
    if (typeof header === 'string') {
      const start = requestStart(header);
      if (start !== undefined) {
        const waited = Math.max(0, Date.now() - start); // a proxy's clock ahead of ours: no wait
        sampler.queued(waited / 1000);
        if (maxQueueTime > 0 && waited > maxQueueTime) return reject(res, 'queue_time', sampler, keepAlive);
      }
    }
    if (maxEventLoopDelay > 0 && sampler.lastSecondP99 > maxEventLoopDelay) return reject(res, 'event_loop_delay', sampler, keepAlive);
    return false;
  };
}
