// Type tests (run by `npm test` through `tsc -p test/types`): every `@ts-expect-error` line
// must be an error, so this file fails to compile if the event map stops checking anything.
import http from 'node:http';
import { Arbiter, Application, ArbiterError, WorkerClass, type ArbiterStats, type ExitReason, type MasterSummary, type ScaleChangeReason, type WorkerExit, type WorkerInfo, type WorkerStats } from 'arbiter';

const arbiter = new Arbiter({ config: { workers: 2, workerClass: 'async' }, load: () => (_req: http.IncomingMessage, res: http.ServerResponse) => res.end() });

arbiter.on('spawn', (w: WorkerInfo) => void w.pid);
arbiter.on('worker_exit', (w, exit) => {
  const code: number | null = exit.code;
  const signal: NodeJS.Signals | null = exit.signal;
  const reason: ExitReason = exit.reason;
  const age: number = w.age;
  void [code, signal, reason, age];
});
arbiter.on('child_exit', (_w: WorkerInfo, _e: WorkerExit) => {});
arbiter.on('nworkers_changed', (next: number, previous: number) => void (next + previous));
arbiter.on('nworkers_changed', (_next, _previous, reason: ScaleChangeReason) => void (reason === 'saturation' || reason === 'idle'));
// @ts-expect-error a reason is one of ScaleChangeReason
arbiter.on('nworkers_changed', (_next, _previous, reason) => void (reason === 'bored'));
arbiter.on('ready', (addresses: string[]) => void addresses);
arbiter.on('worker_timeout', (_w, detail) => void detail.timeout);
arbiter.on('worker_timeout', (_w, detail) => {
  const stack: string | undefined = detail.stack; // the stalled thread's JavaScript stack, when taken
  void stack;
});
arbiter.on('worker_exit', (_w, exit) => {
  if (exit.reason === 'memory') void exit.code; // maxWorkerMemory
});
arbiter.on('exit', (code: number) => void code);
arbiter.on('reload_failed', (detail) => {
  const reason: 'config_error' | 'app_load_error' | 'boot_error' | 'crash' | 'boot_timeout' = detail.reason;
  const kept: number = detail.keptWorkers;
  const why: string | undefined = detail.error; // the error's first line and where it is, when known
  void [reason, kept, why];
});
arbiter.on('generation_ready', (detail) => {
  const generation: number = detail.generation;
  const workers: number = detail.workers;
  void [generation, workers];
});
arbiter.on('reloaded', (detail) => {
  const generation: number = detail.generation;
  const workers: number = detail.workers;
  void [generation, workers];
});
arbiter.on('pre_exec', () => {});
void arbiter.stats().then((s: ArbiterStats) => {
  const w: WorkerStats | undefined = s.workers[0];
  const cpu: number | null = w?.cpu ?? null;
  const name: string | null = s.name;
  void [cpu, name, s.reloads, s.restarts];
  // SPEC §12 vitals: ratios, ms and bytes, null where unknown
  const saturation: number | null = s.saturation;
  const backlog: number | null = s.backlog;
  const vitals: (number | null)[] = w ? [w.elu, w.loopDelayP99, w.heapUsed, w.heapLimit, w.reqRate] : [];
  // @ts-expect-error saturation may be null (no ready worker reports)
  const sure: number = s.saturation;
  void [saturation, backlog, vitals, sure];
});
const row: MasterSummary = arbiter.summary();
void row.workers;
arbiter.reexec();
const status: Promise<number> = arbiter.run();
void status;

// @ts-expect-error unknown event name
arbiter.on('spawned', () => {});
// @ts-expect-error reloaded gives one detail object
arbiter.on('reloaded', (generation: number) => void generation);
// @ts-expect-error generation_ready gives one detail object
arbiter.on('generation_ready', (generation: number) => void generation);
// @ts-expect-error reload_failed gives one detail object, not a string
arbiter.on('reload_failed', (why: string) => void why);
// @ts-expect-error wrong listener signature: spawn gives a WorkerInfo
arbiter.on('spawn', (w: string) => void w);
// @ts-expect-error nworkers_changed gives numbers
arbiter.on('nworkers_changed', (next: string) => void next);
// @ts-expect-error exit.reason is not any string
arbiter.on('worker_exit', (_w, exit) => { const r: 'oops' = exit.reason; void r; });
// @ts-expect-error emit checks arguments too
arbiter.emit('nworkers_changed', 'two', 1);

// @ts-expect-error unknown config option
new Arbiter({ config: { wrokers: 2 }, load: () => () => {} });
// durations are milliseconds or unit strings, sizes bytes or unit strings; resolved to numbers
const units = new Arbiter({ config: { timeout: '30s', gracefulTimeout: 5000, keepAlive: '500ms', bootTimeout: '2m', restartWindow: '1h', maxWorkerMemory: '512mb' }, load: () => () => {} });
const resolvedTimeout: number = units.config.timeout;
const resolvedMemory: number = units.config.maxWorkerMemory;
void resolvedTimeout;
void resolvedMemory;
new Arbiter({ config: { maxWorkerMemory: '1GB', timeout: '1.5s' }, load: () => () => {} });
// @ts-expect-error a duration string needs a unit: ms, s, m or h
new Arbiter({ config: { timeout: '30 seconds' }, load: () => () => {} });
// @ts-expect-error a duration string needs a unit (a bare number is a number)
new Arbiter({ config: { timeout: '30' }, load: () => () => {} });
// @ts-expect-error sizes take b, kb, mb, gb (or k, m, g)
new Arbiter({ config: { maxWorkerMemory: '512 megs' }, load: () => () => {} });
// @ts-expect-error load is required
new Arbiter({ config: {} });
// production options (issue 10): workers 'auto' resolves to a number; statusBind; logFormat
const prod = new Arbiter({ config: { workers: 'auto', statusBind: '127.0.0.1:9000', logFormat: 'json' }, load: () => () => {} });
const resolvedWorkers: number = prod.config.workers;
const statusBind: string | null = prod.config.statusBind;
void resolvedWorkers;
void statusBind;
// @ts-expect-error workers is a number or 'auto'
new Arbiter({ config: { workers: 'many' }, load: () => () => {} });
// @ts-expect-error logFormat is 'text' or 'json'
new Arbiter({ config: { logFormat: 'yaml' }, load: () => () => {} });
// @ts-expect-error master-only events never reach the host
arbiter.on('stopping', () => {});

class MyApp extends Application {
  override config = { workers: 2 };
  load() {
    return (_req: http.IncomingMessage, res: http.ServerResponse) => res.end('hi');
  }
}
void new Arbiter(new MyApp());

class LineWorker extends WorkerClass<(line: string) => string> {
  async run(): Promise<void> {
    const out: string = this.handler('x');
    void out;
  }
}
void new Arbiter({ config: { workerClass: LineWorker }, load: () => (line: string) => line });

const e = new ArbiterError('ARBITER_ERR_CONFIG', 'x');
// @ts-expect-error codes are a closed union
e.code === 'ARBITER_ERR_NOPE';

// USR1 (reopen logs) in the master: no arguments.
arbiter.on('reopen_logs', () => {});
// @ts-expect-error reopen_logs gives no arguments
arbiter.on('reopen_logs', (file: string) => void file);
new Arbiter({ config: { onReopenLogs: async (w) => void w.pid }, load: () => () => {} });
// @ts-expect-error onReopenLogs is a function
new Arbiter({ config: { onReopenLogs: true }, load: () => () => {} });
