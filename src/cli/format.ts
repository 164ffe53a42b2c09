import type { ArbiterStats, MasterSummary } from '../master/stats.js';

/** `120ms`, `12s`, `3m12s`, `5h03m`, `2d04h`; `-` for unknown. */
export function formatDuration(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms)) return '-';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const pad = (n: number): string => String(n).padStart(2, '0');
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${pad(s % 60)}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h${pad(m % 60)}m`;
  return `${Math.floor(h / 24)}d${pad(h % 24)}h`;
}

/** `512 B`, `12.0 KB`, `48.2 MB`, `1.5 GB` (1024-based); `-` for unknown. */
export function formatBytes(bytes: number | null): string {
  if (bytes === null || !Number.isFinite(bytes)) return '-';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}

/** `0.4%`; `-` for unknown. */
export function formatPercent(p: number | null): string {
  return p === null || !Number.isFinite(p) ? '-' : `${p.toFixed(1)}%`;
}

/** `0.42` (two decimals); `-` for unknown. */
export function formatRatio(r: number | null): string {
  return r === null || !Number.isFinite(r) ? '-' : r.toFixed(2);
}

/** Columns padded to their widest cell; numbers (`align: 'right'`) right-aligned. */
export function table(header: readonly string[], rows: readonly (readonly string[])[], right: ReadonlySet<number> = new Set()): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const render = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (right.has(i) ? c.padStart(widths[i]!) : i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [render(header), ...rows.map(render)].join('\n');
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

/** `arbiter ls`: one line per master. */
export function formatList(masters: readonly MasterSummary[]): string {
  if (masters.length === 0) return 'no arbiter master is running';
  return table(
    ['PID', 'NAME', 'WORKERS', 'GEN', 'UPTIME', 'BINDS', 'CWD'],
    masters.map((m) => [String(m.pid), m.name ?? '-', `${m.ready}/${m.workers}`, String(m.generation), formatDuration(m.uptime), m.binds.join(' '), m.cwd || '-']),
    new Set([0, 2, 3, 4]),
  );
}

/** The masters a command without a target could mean (pid, name, where it was started, binds), indented. */
export function formatTargets(masters: readonly MasterSummary[]): string {
  const rows = masters.map((m) => [String(m.pid), m.name ?? '-', m.cwd || '-', m.binds.join(' ')]);
  return table(['PID', 'NAME', 'CWD', 'BINDS'], rows, new Set([0]))
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');
}

/** `arbiter status`: the master in two lines, then a table of its workers. */
export function formatStatus(s: ArbiterStats): string {
  const head = [
    `master ${s.pid}${s.name ? ` [${s.name}]` : ''}  arbiter ${s.version}  ${s.workerClass}  ${s.binds.join(' ') || '(not listening)'}`,
    `workers ${s.ready}/${s.target} ready${s.min !== null && s.max !== null ? ` (adaptive ${s.min}:${s.max})` : ''}  generation ${s.generation}  up ${formatDuration(s.uptime)}  ${plural(s.reloads, 'reload')}  ${plural(s.restarts, 'restart')}`,
    `saturation ${formatRatio(s.saturation)}  backlog ${s.backlog ?? '-'}`,
  ];
  const rows = s.workers.map((w) => [
    String(w.pid),
    w.slot < 0 ? '-' : String(w.slot), // a spare has no slot yet
    String(w.generation),
    w.state,
    formatDuration(w.uptime),
    w.requests === null ? '-' : String(w.requests),
    w.inflight === null ? '-' : String(w.inflight),
    formatBytes(w.rss),
    formatPercent(w.cpu),
    formatDuration(w.heartbeatAge),
    w.reqRate === null ? '-' : String(w.reqRate),
    formatRatio(w.elu),
    w.loopDelayP99 === null ? '-' : `${w.loopDelayP99.toFixed(1)}ms`,
    w.heapUsed === null ? '-' : `${formatBytes(w.heapUsed)}${w.heapLimit ? ` ${Math.round((w.heapUsed / w.heapLimit) * 100)}%` : ''}`,
  ]);
  const workers = table(
    ['PID', 'SLOT', 'GEN', 'STATE', 'UPTIME', 'REQUESTS', 'INFLIGHT', 'RSS', 'CPU', 'HEARTBEAT', 'REQ/S', 'ELU', 'DELAY P99', 'HEAP'],
    rows,
    new Set([0, 1, 2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]),
  );
  return `${head.join('\n')}\n\n${workers}`;
}
