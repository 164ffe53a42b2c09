// The environment variables that set option defaults, as platforms (Heroku, Cloud Run, Render…)
// and gunicorn use them: PORT for `bind`, WEB_CONCURRENCY for `workers`. An error names the variable.
import { ArbiterError } from '../errors.js';
import { MAX_WORKERS } from './checks.js';

/** Parses an integer from an environment variable, naming the variable on error. */
export function envInteger(name: string, raw: string, min: number): number {
  const n = /^\s*\d+\s*$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n) || n < min) {
    throw new ArbiterError('ARBITER_ERR_CONFIG', `Expected environment variable ${name} to be an integer >= ${min}, got ${JSON.stringify(raw)}`);
  }
  return n;
}

/** `bind` when none is given: every interface on `$PORT` when it is set, else 127.0.0.1:8000. */
export function defaultBind(env: NodeJS.ProcessEnv): string[] {
  if (env.PORT === undefined) return ['127.0.0.1:8000'];
  const port = /^\s*\d+\s*$/.test(env.PORT) ? Number(env.PORT) : NaN;
  if (!(port >= 0 && port <= 65535)) {
    throw new ArbiterError(
      'ARBITER_ERR_CONFIG',
      `Expected environment variable PORT (it sets the default \`bind\`, 0.0.0.0:$PORT) to be a port from 0 to 65535, got ${JSON.stringify(env.PORT)}: fix or unset PORT, or set \`bind\` (-b), which takes precedence over it`,
    );
  }
  return [`0.0.0.0:${port}`];
}

/** `workers` when none is given: `$WEB_CONCURRENCY` (1 to {@link MAX_WORKERS}) when it is set, else 1. */
export function defaultWorkers(env: NodeJS.ProcessEnv): number {
  if (env.WEB_CONCURRENCY === undefined) return 1;
  const n = envInteger('WEB_CONCURRENCY', env.WEB_CONCURRENCY, 1);
  if (n > MAX_WORKERS) throw new ArbiterError('ARBITER_ERR_CONFIG', `Expected environment variable WEB_CONCURRENCY to be at most ${MAX_WORKERS} (the limit on workers per master), got ${JSON.stringify(env.WEB_CONCURRENCY)}`);
  return n;
}
