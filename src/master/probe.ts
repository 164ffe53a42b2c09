import { spawn } from 'node:child_process';
import { summarizeFatal } from '../app-errors.js';
import type { ResolvedConfig } from '../config.js';
import { modelName } from '../models/registry.js';
import { ENV, envelope, unwrap, type WorkerMessage } from '../protocol.js';
import { entryArgs } from './entry.js';

/** The config fields the master itself uses, as re-read on reload (plain data, no functions). */
export type MasterConfig = Pick<
  ResolvedConfig,
  'bind' | 'backlog' | 'workers' | 'threads' | 'timeout' | 'gracefulTimeout' | 'bootTimeout' | 'spareWorkers' | 'env' | 'procName' | 'maxWorkerMemory'
> & { workerClass: string; inThreads: boolean };

/** Extracts the master's part of a resolved config. */
export function masterConfig(config: ResolvedConfig, inThreads: boolean): MasterConfig {
  const { bind, backlog, workers, threads, timeout, gracefulTimeout, bootTimeout, spareWorkers, env, procName, maxWorkerMemory } = config;
  const workerClass = modelName(config.workerClass);
  return { bind, backlog, workers, threads, timeout, gracefulTimeout, bootTimeout, spareWorkers, env, procName, maxWorkerMemory, workerClass, inThreads };
}

/** True in a process started by {@link probeConfig}. */
export function isProbe(): boolean {
  return process.env[ENV.probe] === '1' && typeof process.send === 'function';
}

/** In a probe process: report the freshly evaluated config to the master. */
export function answerProbe(config: MasterConfig): Promise<never> {
  return new Promise(() => {
    process.send!(envelope({ cmd: 'config', config } satisfies WorkerMessage), () => process.exit(0));
  });
}

/**
 * Re-reads the config the way a worker would see it: runs the entry script (same `execArgv`) in
 * a short-lived process whose `run()` reports its validated config instead of serving. Rejects
 * with the process's stderr when the script throws or the config is invalid. An abort of
 * `cancel` (the master stops) kills the process at once; the promise then rejects.
 */
export function probeConfig(env: Readonly<Record<string, string>>, timeoutMs = 30_000, cancel?: AbortSignal): Promise<MasterConfig> {
  return new Promise((resolve, reject) => {
    if (cancel?.aborted) return reject(new Error('the master is stopping'));
    const child = spawn(process.execPath, entryArgs(), {
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      env: { ...process.env, ...env, [ENV.probe]: '1' },
      serialization: 'json',
    });
    let stderr = '';
    let answer: MasterConfig | undefined;
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (d: string) => (stderr = (stderr + d).slice(-4000)));
    child.on('message', (payload) => {
      const msg = unwrap(payload);
      if (msg?.cmd === 'config') answer = msg.config as MasterConfig;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    const abort = (): void => void child.kill('SIGKILL');
    cancel?.addEventListener('abort', abort, { once: true });
    child.on('error', (err) => reject(err));
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      cancel?.removeEventListener('abort', abort);
      if (cancel?.aborted) return reject(new Error('the master is stopping'));
      if (answer) return resolve(answer);
      // Node prints an uncaught error as "<file>:<line>\n<source line>\n<caret>\n\nSyntaxError: message\n    at ...":
      // keep the message and where it is in the app's code.
      reject(new Error(summarizeFatal(stderr) ?? `the config probe exited with ${signal ?? `code ${code}`}`));
    });
  });
}
