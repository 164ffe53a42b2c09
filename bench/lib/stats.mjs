// Medians, spreads and number formatting for the report.

const finite = (xs) => xs.filter((x) => Number.isFinite(x));

export function median(xs) {
  const s = finite(xs).sort((a, b) => a - b);
  if (!s.length) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export const min = (xs) => (finite(xs).length ? Math.min(...finite(xs)) : NaN);
export const max = (xs) => (finite(xs).length ? Math.max(...finite(xs)) : NaN);

/** Half the max-min range relative to the median (±x%), NaN with fewer than two values. */
export function spread(xs) {
  const f = finite(xs);
  if (f.length < 2) return NaN;
  return (Math.max(...f) - Math.min(...f)) / 2 / median(f);
}

/** Summary of repeated measurements: median, min, max, spread, n. */
export function summary(xs) {
  return { median: median(xs), min: min(xs), max: max(xs), spread: spread(xs), n: finite(xs).length };
}

export const fmt = {
  int: (v) => (Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : '—'),
  ms: (v) => (Number.isFinite(v) ? (v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : Math.round(v).toString()) : '—'),
  x: (v) => (Number.isFinite(v) ? `${v.toFixed(2)}×` : '—'),
  pct: (v, digits = 0) => (Number.isFinite(v) ? `${v.toFixed(digits)}%` : '—'),
  spread: (v) => (Number.isFinite(v) ? `±${(v * 100).toFixed(0)}%` : '—'),
  mb: (v) => (Number.isFinite(v) ? `${(v / 1024 / 1024).toFixed(0)} MB` : '—'),
  /** "median (min–max)" in ms */
  range: (s, f = fmt.ms) => (Number.isFinite(s.median) ? (s.n > 1 ? `${f(s.median)} (${f(s.min)}–${f(s.max)})` : f(s.median)) : '—'),
};

/** A markdown table from a header row and rows of cells. */
export function table(header, rows, align) {
  const a = align ?? header.map((_, i) => (i === 0 ? '---' : '---:'));
  return [`| ${header.join(' | ')} |`, `|${a.join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}
